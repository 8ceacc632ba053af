r"""The random-feature system: power-law inputs, a linear target, random features, its kernel.

This module draws the shared input distribution (:func:`input_distribution`) and, per width,
the feature matrix and the measured kernel spectrum of the features (:func:`make_system`),
which every other part of the simulator works in. It imports NumPy, SciPy and the sibling
:mod:`.settings`, and :mod:`gsf_infer.errors`.

Notes
-----
Inputs ``x`` have independent Gaussian coordinates of variance ``lambda_j = j^-b``, so the
coordinate basis is the eigenbasis of the data; the target is ``f*(x) = w.x`` with
``lambda_j w_j^2 = p_j = j^-a`` (random signs). ``D`` coordinates are explicit; the power law
continues beyond ``D`` through its exact mean effect: a feature covariance
``sum_{j>D} lambda_j / N`` per feature and a target power ``sum_{j>D} p_j`` that no feature
sees. (The tail's fluctuation about that mean, and its covariance with the target, of
variance ``sum_{j>D} lambda_j p_j / N``, are left out.) Features are ``z = F x`` with
``F_ij ~ N(0, 1/N)``; the model is the read-out ``v``, prediction ``v.z``.

The kernel of the model is the feature covariance

.. math::

    \Sigma = F \Lambda F^T + \frac{1}{N} \sum_{j>D} \lambda_j \, I
    = U \operatorname{diag}(s) U^T ,

with eigenvalues ``s_k`` (descending) playing the theory's ``lambda_k``. In whitened kernel
coordinates ``u = sqrt(s) v'`` (``v' = U^T v``) the population loss is

.. math::

    L(v) = (F^T v - w)^T \Lambda (F^T v - w) + \text{tail} = |u - r|^2 + L_{res}(N),
    \qquad r = \operatorname{diag}(s)^{-1/2} U^T F \Lambda w ,

so ``r_k^2`` is the target power of kernel mode ``k`` (the theory's ``p_k``) and
``L_res = sum_j p_j - |r|^2`` the loss of the best read-out. This is the power-law
random-feature model studied by Maloney, Roberts and Sully, "A Solvable Model of Neural
Scaling Laws" (2022), by Bordelon, Atanasov and Pehlevan, "A Dynamical Model of Neural Scaling
Laws" (ICML 2024), and by Paquette, Paquette, Xiao and Pennington, "4+3 Phases of
Compute-Optimal Neural Scaling Laws" (NeurIPS 2024).

For ``k << N`` the kernel eigenmodes are the input coordinates and ``s_k ~ lambda_k``,
``r_k^2 ~ p_k``, but not exactly: to second order in ``F`` every other mode shifts ``s_k`` by
``N^-1 sum_{j != k} lambda_k lambda_j / (lambda_k - lambda_j)``, which makes
``s_k ~ lambda_k (1 + c k / N)`` with ``c ~ 1``: the finite-width spectrum is shallower than
``k^-b`` near ``k ~ N``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.special import zeta

from gsf_infer.errors import InputError, Problem
from gsf_infer.simulate.rf.settings import RFSettings

#: Columns of ``F`` generated (and regenerated) at a time.
BLOCK = 2048


@dataclass(frozen=True)
class InputModel:
    """The shared input distribution and target.

    Attributes
    ----------
    lam : numpy.ndarray, shape (D,)
        Eigenvalues ``lambda_j = j^-b`` of the explicit inputs (the coordinate basis is the
        eigenbasis).
    w : numpy.ndarray, shape (D,)
        Target coefficients with ``lambda_j w_j^2 = j^-a`` and random signs.
    tail_lambda : float
        ``sum_{j>D} j^-b``: input variance beyond the explicit coordinates (0 without tail).
    tail_power : float
        ``sum_{j>D} j^-a``: target power beyond them (0 without tail).
    """

    lam: np.ndarray
    w: np.ndarray
    tail_lambda: float = 0.0
    tail_power: float = 0.0

    @property
    def dim(self) -> int:
        """Number of explicit input coordinates ``D``."""
        return int(self.lam.size)


@dataclass
class RFSystem:
    """One random-feature model of width ``N`` on the shared power-law input distribution.

    Attributes
    ----------
    inputs : InputModel
        The shared input distribution and target.
    feature_seed : int
        Seed from which the columns of ``F`` are (re)generated block by block.
    width : int
        ``N``.
    cov : numpy.ndarray, shape (N, N)
        Feature covariance ``Sigma = F Lambda F^T + (tail_lambda / N) I`` (original feature
        basis).
    s : numpy.ndarray, shape (N,)
        Its eigenvalues, descending: the measured kernel spectrum.
    U : numpy.ndarray, shape (N, N)
        Its eigenvectors (columns, same order).
    r : numpy.ndarray, shape (N,)
        Target amplitude along each whitened kernel eigenmode: ``r_k = u_k^T F Lambda w /
        sqrt(s_k)``; ``r_k^2`` is the measured target power of mode ``k``.
    residual : float
        ``w^T Lambda w + tail_power - |r|^2``: the population loss of the best read-out (no
        label noise).
    f_lam_w : numpy.ndarray, shape (N,)
        ``F Lambda w`` (covariance of the features with the target).
    columns : dict of int to numpy.ndarray
        Columns ``F[:, k-1]`` kept for the mode records.
    max_abs_f : float
        ``max |F_ij|`` (the absmax scale of ``feature-weights`` quantization).
    features : numpy.ndarray or None
        The full ``F`` (N, D), kept only when asked (direct sampler).
    """

    inputs: InputModel
    feature_seed: int
    width: int
    cov: np.ndarray
    s: np.ndarray
    U: np.ndarray
    r: np.ndarray
    residual: float
    f_lam_w: np.ndarray
    columns: dict[int, np.ndarray]
    max_abs_f: float
    features: np.ndarray | None = None

    @property
    def dim(self) -> int:
        """Number of explicit input coordinates ``D``."""
        return self.inputs.dim

    @property
    def lam(self) -> np.ndarray:
        """Input eigenvalues ``lambda_j`` of the explicit coordinates."""
        return self.inputs.lam

    @property
    def w(self) -> np.ndarray:
        """Target coefficients of the explicit coordinates."""
        return self.inputs.w

    def feature_blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, F[:, start:stop])`` blocks, regenerated from :attr:`feature_seed`."""
        if self.features is not None:
            yield 0, self.features
            return
        yield from feature_blocks(self.feature_seed, self.width, self.dim)

    def to_original(self, vprime: np.ndarray) -> np.ndarray:
        """Map read-outs from kernel-eigenbasis coordinates ``v'`` to feature coordinates ``v``.

        Parameters
        ----------
        vprime : numpy.ndarray, shape (..., N)

        Returns
        -------
        numpy.ndarray, shape (..., N)
        """
        return vprime @ self.U.T


def feature_blocks(seed: int, width: int, dim: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, F[:, start:stop])``: the feature matrix in blocks of :data:`BLOCK` columns.

    Block ``i`` is drawn from its own generator ``default_rng([seed, i])``, so any block can be
    regenerated without keeping ``F`` (``N x D``) in memory.

    Parameters
    ----------
    seed : int
    width : int
        ``N``.
    dim : int
        ``D``.
    """
    for i, start in enumerate(range(0, dim, BLOCK)):
        stop = min(dim, start + BLOCK)
        gen = np.random.default_rng([seed, i])
        yield start, gen.standard_normal((width, stop - start)) / math.sqrt(width)


def input_distribution(settings: RFSettings, rng: np.random.Generator) -> InputModel:
    """Draw the shared input spectrum and target.

    Parameters
    ----------
    settings : RFSettings
        ``a``, ``b``, ``dim`` and ``input_tail``.
    rng : numpy.random.Generator
        Draws the signs of ``w``.

    Returns
    -------
    InputModel
        ``lambda_j = j^-b``, ``w_j = +- sqrt(j^-a / lambda_j)``, and with the tail the Hurwitz
        zeta sums ``zeta(b, D+1)``, ``zeta(a, D+1)``.
    """
    dim = settings.input_dim
    j = np.arange(1, dim + 1, dtype=float)
    lam = j ** (-settings.b)
    w = np.sqrt(j ** (-settings.a) / lam) * rng.choice(np.array([-1.0, 1.0]), size=j.size)
    if not settings.input_tail:
        return InputModel(lam=lam, w=w)
    return InputModel(
        lam=lam,
        w=w,
        tail_lambda=float(zeta(settings.b, dim + 1)),
        tail_power=float(zeta(settings.a, dim + 1)),
    )


def make_system(
    inputs: InputModel,
    width: int,
    rng: np.random.Generator,
    *,
    keep_columns: Sequence[int] = (),
    keep_features: bool = False,
) -> RFSystem:
    """Draw ``F`` (entries ``N(0, 1/N)``) and measure the kernel spectrum of the features.

    Parameters
    ----------
    inputs : InputModel
        From :func:`input_distribution`.
    width : int
        ``N``.
    rng : numpy.random.Generator
        Draws the seed of ``F``.
    keep_columns : sequence of int
        Mode indices ``k`` whose columns ``F[:, k-1]`` are kept.
    keep_features : bool
        Keep the whole ``F`` in memory (needed by the direct sampler).

    Returns
    -------
    RFSystem

    Raises
    ------
    InputError
        If the feature covariance is singular (too few input coordinates for the width).

    Notes
    -----
    ``Sigma = F Lambda F^T + (tail_lambda / N) I``: the inputs beyond ``D`` reach the features
    through their exact mean covariance (their fluctuation about it and their covariance with
    the target are neglected; ``docs/decisions.md`` has the measured effect).
    """
    lam, w = inputs.lam, inputs.w
    seed = int(rng.integers(0, 2**63 - 1))
    cov = np.zeros((width, width))
    f_lam_w = np.zeros(width)
    columns: dict[int, np.ndarray] = {}
    max_abs = 0.0
    parts = []
    for start, block in feature_blocks(seed, width, inputs.dim):
        stop = start + block.shape[1]
        scaled = block * np.sqrt(lam[start:stop])
        cov += scaled @ scaled.T
        f_lam_w += block @ (lam[start:stop] * w[start:stop])
        max_abs = max(max_abs, float(np.abs(block).max()))
        for k in keep_columns:
            if start < k <= stop:
                columns[int(k)] = block[:, k - 1 - start].copy()
        if keep_features:
            parts.append(block)
    cov = 0.5 * (cov + cov.T)
    cov[np.diag_indices(width)] += inputs.tail_lambda / width
    s, U = scipy.linalg.eigh(cov, driver="evd")
    s, U = s[::-1].copy(), U[:, ::-1].copy()
    if s[-1] <= 0:
        raise InputError(Problem("simulate rf", "feature covariance is singular; increase --dim"))
    r = (U.T @ f_lam_w) / np.sqrt(s)
    residual = float(np.sum(lam * w**2) + inputs.tail_power - np.sum(r**2))
    return RFSystem(
        inputs=inputs,
        feature_seed=seed,
        width=int(width),
        cov=cov,
        s=s,
        U=U,
        r=r,
        residual=residual,
        f_lam_w=f_lam_w,
        columns=columns,
        max_abs_f=max_abs,
        features=np.concatenate(parts, axis=1) if keep_features else None,
    )
