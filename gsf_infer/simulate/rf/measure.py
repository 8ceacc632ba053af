"""Measurements on a trained system: population loss, learned fractions, frontier, spectrum.

Each function maps a :class:`~gsf_infer.simulate.rf.system.RFSystem` and read-outs (in
kernel-eigenbasis coordinates) to the values that become records. It imports NumPy and the
sibling :mod:`.system`.

Notes
-----
*Loss.* ``L(t) = sum_{k<=N} r_k^2 (1 - eta s_k)^(2t) + L_res(N)`` under gradient descent (plus
the SGD excess): the theory's exact loss law with ``p_k -> r_k^2``, ``lambda_k -> s_k``.

*Learned fractions.* Along the ``k``-th kernel eigenmode (basis ``kernel``),
``phi_k = sqrt(s_k) v'_k / r_k`` follows ``1 - (1 - eta s_k)^t`` exactly in expectation, with
``s_k`` the measured eigenvalue; it is noisy wherever a kernel eigenmode carries almost no
target (``r_k^2`` scatters like ``chi^2_1``, so ``r_k ~ 0`` happens and SGD noise is divided by
a small ``r_k``). Projected on input coordinate ``k`` (basis ``input``),
``phi_k = (F^T v)_k / w_k`` picks up cross-talk from the other modes of relative size
``~ sqrt(sum_j w_j^2 (phi_j - phi_k)^2 / N) / |w_k|``.

*Target power.* Every kernel mode picks up target from the others through the random features
(cross-talk of variance ``~ sum_j lambda_j p_j / N``), and beyond the first few modes
neighbouring eigenvalues are closer than their finite-``N`` fluctuations, so the eigenvectors
mix and a single ``r_j^2`` scatters like ``p_j chi^2_1``. :func:`measured_spectrum` therefore
reports single modes only for ``k = 1, 2`` and octave means beyond.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gsf_infer.simulate.rf.system import RFSystem


def population_loss(system: RFSystem, vprime: np.ndarray, label_noise: float = 0.0) -> np.ndarray:
    """Return the population test loss ``E_x (v.Fx - w.x)^2`` (+ label-noise variance).

    Parameters
    ----------
    system : RFSystem
    vprime : numpy.ndarray, shape (..., N)
        Read-outs in kernel-eigenbasis coordinates.
    label_noise : float

    Returns
    -------
    numpy.ndarray, shape (...)
        ``|sqrt(s) v' - r|^2 + residual + label_noise^2`` (equal to
        ``(F^T v - w)^T Lambda (F^T v - w)`` plus the noise; see
        :func:`population_loss_direct`).
    """
    d = np.sqrt(system.s) * vprime - system.r
    return np.sum(d * d, axis=-1) + system.residual + label_noise**2


def population_loss_direct(system: RFSystem, v: np.ndarray) -> float:
    """Return ``(F^T v - w)^T Lambda (F^T v - w)`` (+ tail): the loss evaluated in input space.

    Parameters
    ----------
    system : RFSystem
    v : numpy.ndarray, shape (N,)
        Read-out in the original feature coordinates.

    Returns
    -------
    float
        Including the input tail: ``tail_lambda / N |v|^2 + tail_power``.
    """
    total = system.inputs.tail_lambda / system.width * float(v @ v) + system.inputs.tail_power
    for start, block in system.feature_blocks():
        stop = start + block.shape[1]
        diff = block.T @ v - system.w[start:stop]
        total += float(np.sum(system.lam[start:stop] * diff**2))
    return total


def learned_fraction(
    system: RFSystem, vprime: np.ndarray, ks: Sequence[int], basis: str = "input"
) -> np.ndarray:
    """Learned fraction ``phi_k`` of mode ``k``.

    Parameters
    ----------
    system : RFSystem
        Must hold the columns ``F[:, k-1]`` (``make_system(keep_columns=ks)``) for ``input``.
    vprime : numpy.ndarray, shape (C, N)
    ks : sequence of int
    basis : str
        ``input``: ``(F^T v)_k / w_k``, the learned function projected on input eigenmode
        ``k``; ``kernel``: ``sqrt(s_k) v'_k / r_k``, along the ``k``-th kernel eigenmode.

    Returns
    -------
    numpy.ndarray, shape (C, len(ks))
    """
    vprime = np.atleast_2d(vprime)
    if basis == "input":
        v = system.to_original(vprime)
        cols = np.stack([system.columns[int(k)] for k in ks], axis=1)
        wk = system.w[np.asarray(ks) - 1]
        return (v @ cols) / wk
    if basis == "kernel":
        idx = np.asarray(ks) - 1
        return np.sqrt(system.s[idx]) * vprime[:, idx] / system.r[idx]
    raise ValueError(f"unknown modes basis {basis!r}")


def measured_frontier(system: RFSystem, lr: float, times: np.ndarray) -> np.ndarray:
    """Measured learning frontier ``k_*(t)`` of gradient descent on the kernel spectrum.

    Parameters
    ----------
    system : RFSystem
    lr : float
        Learning rate ``eta``.
    times : numpy.ndarray of int
        Steps.

    Returns
    -------
    numpy.ndarray of int
        The number of kernel modes with ``g_k(t) = -t log(1 - eta s_k) >= 1`` (the modes more
        than ``1 - 1/e`` learned under gradient descent), at each step.
    """
    rate = -np.log1p(-np.minimum(lr * system.s, 1.0 - 1e-12))  # g_k per step, descending
    return np.searchsorted(-rate, -1.0 / np.asarray(times, dtype=float), side="right")


def measured_spectrum(
    system: RFSystem, points: int, k_max: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kernel eigenvalues at log-spaced ``k`` and the target power on octave bins.

    Parameters
    ----------
    system : RFSystem
    points : int
        Wanted number of indices (fewer after rounding duplicates away).
    k_max : int
        Largest index.

    Returns
    -------
    k : numpy.ndarray of int
    eigenvalue : numpy.ndarray
        ``s_k``.
    target_power : numpy.ndarray
        NaN except at ``k = 1, 2`` (``r_k^2`` of one mode) and at the integer geometric centre
        of each octave ``[2^i, 2^(i+1))``, ``i >= 2``, lying inside ``[1, k_max]`` (the mean of
        ``r_j^2`` over the octave; it differs from ``p`` at the centre by a few percent, far
        below the scatter of a single mode).
    """
    ks = np.unique(np.round(np.geomspace(1, k_max, points)).astype(np.int64))
    power_at = {k: float(system.r[k - 1] ** 2) for k in (1, 2) if k <= k_max}
    lo = 4
    while 2 * lo - 1 <= k_max:
        hi = 2 * lo
        centre = int(round(math.sqrt(lo * (hi - 1))))
        power_at[centre] = float(np.mean(system.r[lo - 1 : hi - 1] ** 2))
        lo = hi
    ks = np.union1d(ks, np.array(sorted(power_at), dtype=np.int64))
    power = np.array([power_at.get(int(k), np.nan) for k in ks])
    return ks, system.s[ks - 1], power
