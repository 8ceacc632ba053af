r"""Compression of a trained read-out: quantization and pruning, and the loss they add.

This module computes, in expectation over the inputs (no test sample is drawn), how much a
quantized or pruned model's population loss or function moves. It imports NumPy, SciPy and
the sibling :mod:`.system`.

Notes
-----
*Quantization of the features* (the default): each feature ``z_i`` is rounded to ``2^bits``
levels of one mid-rise grid spanning ``+-clip`` standard deviations of the widest feature. With
``e_i = Q(z_i) - z_i``, ``dL = E(v.e)^2 + 2 E[(v.z - y) v.e]``. For a grid fine against every
feature's spread, Bennett's approximation holds (Bennett, "Spectra of Quantized Signals", Bell
System Technical Journal 27, 1948): ``e`` is uncorrelated with everything up to terms
``O(exp(-2 pi^2 sd_i^2 / step^2))``, so

.. math::

    \Delta L \approx \frac{\mathrm{step}^2}{12} |v|^2 = \frac{\mathrm{step}^2}{12} \sum_k
    v_k'^2, \qquad v_k' = \frac{r_k}{\sqrt{s_k}} \phi_k \approx w_k (1 - e^{-g_k}),

the theory's unweighted quantization law with ``sigma^2 = step^2/12 ∝ 4^-bits`` (the feature
noise ``epsilon_k`` of Zhang, "A Generalized Spectral Framework to Explain Neural Scaling and
Compression Dynamics", Theorem 2). :func:`quantization_delta` computes ``dL`` exactly
(Gaussian integrals and Mehler's expansion), not from this approximation. A coarse grid
(4 bits and below) has a gain, ``Q(z) ~ (1 + eps) z``, and the law fails.

Rounding the feature weights ``F`` has the same expectation over rounding errors,
``sigma^2 tr(Lambda) |v|^2``, but one rounding fluctuates about it like a chi-square with
``(tr Lambda)^2 / tr(Lambda^2)`` degrees of freedom and adds a zero-mean cross term
``2 (F^T v - w)^T Lambda E^T v`` that dominates at fine grids; rounding the read-out likewise.
Both are options that do not follow the law.

*Spectral pruning*: removing the read-out components along the kernel eigenvectors
``k > k_cut = round((1 - r) N)`` moves the function by

.. math::

    E_x (f_P - f)^2 = \sum_{k > k_{cut}} s_k v_k'^2 = \sum_{k > k_{cut}} r_k^2 \phi_k^2
    \approx \sum_{k > k_{cut}} p_k (1 - e^{-g_k})^2 ,

the theory paper's eq. (20) evaluated in an orthonormal basis: the ``function`` pruning metric
with ``K = N``. The loss increase is ``sum r_k^2 (2 phi_k - phi_k^2)``, which exceeds the
distance by ``2 sum p_k phi_k (1 - phi_k)``: it matches only once the cut modes are learned.
The paper's unweighted sum ``sum w_k^2 phi_k^2`` over the cut is the squared weight-space norm
of the removed read-out, not a loss. *Magnitude pruning* of read-out coordinates is not
spectral: the ``v_i`` are delocalised over eigenmodes, so removing the smallest acts like
``v -> (1 - e(r)) v`` plus isotropic noise (``e(r)`` the fraction of ``|v|^2`` removed),
``dL ~ e(r)^2 |f|^2 + (tr Sigma / N) e(r)(1 - e(r)) |v|^2``, without plateau or frontier.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr

from gsf_infer.simulate.rf.system import RFSystem

#: Odd Hermite orders of Mehler's expansion of the rounding errors' correlation.
HERMITE_ORDERS = (1, 3, 5, 7)


def quantization_delta(
    system: RFSystem,
    vprime: np.ndarray,
    bits: int | Sequence[int],
    target: str = "features",
    clip: float = 5.0,
) -> np.ndarray:
    r"""Return the population loss of the quantized model minus that of the unquantized one.

    Parameters
    ----------
    system : RFSystem
    vprime : numpy.ndarray, shape (C, N)
        Read-outs (kernel-eigenbasis coordinates) at ``C`` checkpoints.
    bits : int or sequence of int
        ``2^bits`` quantization levels (mid-rise, symmetric).
    target : str
        ``features``: every feature ``z_i`` rounded on one grid spanning ``+-clip * max_i
        sd(z_i)``; ``feature-weights``: the explicit ``F`` rounded on the grid spanning
        ``+-max|F_ij|``; ``readout``: ``v`` rounded on the grid spanning ``+-max|v_i|``.
    clip : float
        See ``target``.

    Returns
    -------
    numpy.ndarray, shape (C,) or (len(bits), C)
        One row per bit width when ``bits`` is a sequence.

    Notes
    -----
    ``features``: with ``e_i = Q(z_i) - z_i`` and ``xi = v.z - y``, exactly

    .. math::

        \Delta L = \sum_i v_i^2 E e_i^2 + 2 \sum_i v_i E[\xi e_i]
        + \sum_{i \ne j} v_i v_j E[e_i e_j] ;

    ``E[xi e_i] = Cov(xi, z_i) a_1^i / sigma_i`` (Gaussian regression on ``z_i``) and Mehler's
    expansion ``E[e_i e_j] = sum_n rho_ij^n / n! a_n^i a_n^j`` with the Hermite coefficients
    ``a_n^i = E[e_i He_n(z_i / sigma_i)]`` (odd ``n`` only, ``e`` being odd), summed to
    ``n = 7``. The expectation is over ``x``; no test sample is drawn.
    """
    single = np.ndim(bits) == 0
    bit_list = [int(bits)] if single else [int(q) for q in bits]
    vprime = np.atleast_2d(vprime)
    if target == "features":
        out = _features_delta(system, system.to_original(vprime), bit_list, clip)
    elif target == "readout":
        out = _readout_delta(system, vprime, bit_list)
    elif target == "feature-weights":
        out = _feature_weights_delta(system, system.to_original(vprime), bit_list)
    else:
        raise ValueError(f"unknown quantization target {target!r}")
    return out[0] if single else out


def _features_delta(system: RFSystem, v: np.ndarray, bit_list: list[int], clip: float):
    """Exact ``dL`` of rounding every feature (see :func:`quantization_delta`), (bits, C)."""
    out = np.empty((len(bit_list), v.shape[0]))
    sigma = np.sqrt(np.diag(system.cov))
    half = clip * float(sigma.max())
    corr = system.cov / np.outer(sigma, sigma)
    np.fill_diagonal(corr, 0.0)
    powers = {1: corr}
    corr2 = corr * corr
    for n in HERMITE_ORDERS[1:]:
        powers[n] = powers[n - 2] * corr2
    del corr2
    resid_cov = v @ system.cov - system.f_lam_w  # Cov(xi, z), (C, N)
    for row, q in enumerate(bit_list):
        e2, coeffs = _feature_quantizer_moments(sigma, half, q, HERMITE_ORDERS)
        delta = (v * v) @ e2
        delta += 2.0 * np.sum(v * resid_cov * (coeffs[1] / sigma), axis=1)
        for n in HERMITE_ORDERS:
            av = v * coeffs[n]
            delta += np.sum((av @ powers[n]) * av, axis=1) / math.factorial(n)
        out[row] = delta
    return out


def _readout_delta(system: RFSystem, vprime: np.ndarray, bit_list: list[int]) -> np.ndarray:
    """Exact ``dL`` of rounding the read-out on its own absmax grid, (bits, C)."""
    v = system.to_original(vprime)
    out = np.empty((len(bit_list), v.shape[0]))
    sq = np.sqrt(system.s)
    u_minus_r = sq * vprime - system.r
    for row, q in enumerate(bit_list):
        for c in range(v.shape[0]):
            half = float(np.abs(v[c]).max())
            if half == 0:
                out[row, c] = 0.0
                continue
            err = system.U.T @ (_round_midrise(v[c], half, q) - v[c])
            out[row, c] = float(np.sum(system.s * err**2) + 2 * np.sum(sq * err * u_minus_r[c]))
    return out


def _feature_weights_delta(system: RFSystem, v: np.ndarray, bit_list: list[int]) -> np.ndarray:
    """Exact ``dL`` of rounding ``F`` on the grid spanning ``+-max|F_ij|``, (bits, C)."""
    out = np.empty((len(bit_list), v.shape[0]))
    out[:] = 0.0
    half = system.max_abs_f
    for start, block in system.feature_blocks():
        stop = start + block.shape[1]
        lam = system.lam[start:stop]
        resid = v @ block - system.w[start:stop]
        for row, q in enumerate(bit_list):
            pert = v @ (_round_midrise(block, half, q) - block)
            out[row] += np.sum(lam * (2 * resid * pert + pert * pert), axis=1)
    return out


def _midrise_levels(half_range: float, bits: int) -> tuple[np.ndarray, float]:
    """Thresholds of a ``2^bits``-level mid-rise quantizer on ``[-half_range, half_range]``."""
    levels = 2**bits
    step = 2.0 * half_range / levels
    thresholds = -half_range + step * np.arange(1, levels)
    return thresholds, step


def _round_midrise(x: np.ndarray, half_range: float, bits: int) -> np.ndarray:
    """Round to the ``2^bits`` mid-rise levels on ``[-half_range, half_range]`` (clipping)."""
    levels = 2**bits
    step = 2.0 * half_range / levels
    idx = np.clip(np.floor((x + half_range) / step), 0, levels - 1)
    return -half_range + (idx + 0.5) * step


def _feature_quantizer_moments(
    sigma: np.ndarray, half_range: float, bits: int, orders: Sequence[int]
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Per-channel ``E e^2`` and Hermite coefficients ``a_n = E[e(sigma u) He_n(u)]``.

    ``e(z) = Q(z) - z`` for the mid-rise quantizer and ``z ~ N(0, sigma_i^2)``; exact closed
    forms through the normal pdf/cdf at the thresholds (summation by parts).
    """
    thresholds, step = _midrise_levels(half_range, bits)
    q_low = -half_range + 0.5 * step
    x = thresholds[None, :] / sigma[:, None]  # (N, L-1)
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    upper = ndtr(-x)  # P(z > threshold)
    q = -half_range + (np.arange(1, thresholds.size + 1) + 0.5) * step  # level above each threshold
    q_prev = q - step
    e_q2 = q_low**2 + np.sum((q * q - q_prev * q_prev)[None, :] * upper, axis=1)
    e_zq = sigma * step * np.sum(pdf, axis=1)
    e2 = e_q2 - 2.0 * e_zq + sigma**2
    coeffs: dict[int, np.ndarray] = {}
    for n in orders:
        # sum_l q_l int_bin He_n phi = step * sum_thresholds He_{n-1}(x) phi(x)
        he = _hermite(n - 1, x)
        a_n = step * np.sum(he * pdf, axis=1)
        if n == 1:
            a_n = a_n - sigma
        coeffs[n] = a_n
    return e2, coeffs


def _hermite(n: int, x: np.ndarray) -> np.ndarray:
    """Probabilists' Hermite polynomial ``He_n(x)``."""
    h0 = np.ones_like(x)
    if n == 0:
        return h0
    h1 = x
    for k in range(1, n):
        h0, h1 = h1, x * h1 - k * h0
    return h1


def pruning_delta(
    system: RFSystem,
    vprime: np.ndarray,
    sparsity: float,
    method: str = "spectral",
    measure: str = "distance",
) -> np.ndarray:
    """Effect of removing a fraction ``sparsity`` of the read-out.

    Parameters
    ----------
    system : RFSystem
    vprime : numpy.ndarray, shape (C, N)
    sparsity : float
        Fraction ``r`` removed.
    method : str
        ``spectral``: drop the components along the kernel eigenvectors ``k > k_cut =
        round((1 - r) N)``; ``magnitude``: zero the ``round(r N)`` read-out coordinates of
        smallest ``|v_i|``.
    measure : str
        ``distance``: ``E_x (f_P(x) - f(x))^2`` (the theory paper's eq. 20); ``loss``:
        ``L(f_P) - L(f)``.

    Returns
    -------
    numpy.ndarray, shape (C,)
    """
    vprime = np.atleast_2d(vprime)
    sq = np.sqrt(system.s)
    n = system.width
    if method == "spectral":
        k_cut = int(round((1.0 - sparsity) * n))
        u = sq[k_cut:] * vprime[:, k_cut:]
        if measure == "distance":
            return np.sum(u * u, axis=1)
        return np.sum(u * (2 * system.r[k_cut:] - u), axis=1)
    if method == "magnitude":
        return _magnitude_delta(system, vprime, sparsity, measure)
    raise ValueError(f"unknown pruning method {method!r}")


def _magnitude_delta(
    system: RFSystem, vprime: np.ndarray, sparsity: float, measure: str
) -> np.ndarray:
    """Zero the ``round(r N)`` smallest read-out coordinates; distance or loss increase."""
    sq = np.sqrt(system.s)
    n = system.width
    v = system.to_original(vprime)
    m = int(round(sparsity * n))
    out = np.empty(v.shape[0])
    for c in range(v.shape[0]):
        removed = np.zeros(n)
        idx = np.argsort(np.abs(v[c]), kind="stable")[:m]
        removed[idx] = v[c, idx]
        rp = system.U.T @ removed
        dist = float(np.sum(system.s * rp**2))
        if measure == "distance":
            out[c] = dist
        else:
            out[c] = dist - 2 * float(np.sum(sq * rp * (sq * vprime[c] - system.r)))
    return out
