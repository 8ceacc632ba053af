"""Expected values of every record kind (the forward laws of [GSF]_), in three tiers.

Notation (as in ``docs/theory.md``): eigenvalues ``lambda_k = Lam k^-b``, target power
``p_k = lambda_k w_k^2 = A k^-a``, so ``w_k^2 = (A/Lam) k^(b-a)``; a model of capacity ``K``
learns ``theta_k = w_k phi_k(t)`` for ``k <= K``, with ``phi_k = 1 - exp(-g(lambda_k, t))`` from
a family of :mod:`gsf_infer.model.forward.families`.

Tiers (``tier=``):

- ``"exact"``: the discrete sums up to ``K`` (static bound ``k_max`` required); the reference.
- ``"continuum"``: exact head + Gauss–Legendre tail in ``log k`` (:mod:`.sums`); cost per
  record independent of ``K``. The default for fitting.
- ``"asymptotic"``: the hard-frontier approximation of [GSF]_ — modes below the frontier
  ``k_*(t)`` fully learned, modes above it not learned at all — which turns every law into a
  pure power law (``L - floor ∝ t^-chi``, ``dL_Q ∝ t^gamma``, pruning slope ``1+b-a`` in
  ``k_cut``). Fastest; wrong before the asymptote.

Every function broadcasts over records (arrays of equal or broadcastable shapes) and is
jit/vmap/grad-safe. Only JAX is imported.

References
----------
.. [GSF] Yizhou Zhang, "A Generalized Spectral Framework to Explain Neural Scaling and
   Compression Dynamics".
.. [RED] Vince D. Calhoun and Yuda Bi, "Scaling Laws are Redundancy Laws", arXiv:2509.20721.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import zeta

from gsf_infer.model.forward.families import Family, GParams
from gsf_infer.model.forward.sums import continuum_sum, exact_sum

Array = jax.Array
TIERS = ("exact", "continuum", "asymptotic")
PRUNING_METRICS = ("seed", "function")


class Spectrum(NamedTuple):
    """Power-law spectrum and target.

    Attributes
    ----------
    a : float
        Target-power exponent, ``p_k = A k^-a`` (``a > 1``).
    b : float
        Eigenvalue exponent, ``lambda_k = Lam k^-b`` (``b > 1``).
    A : float
        Target-power amplitude (loss units).
    Lam : float
        Eigenvalue amplitude.
    """

    a: Array | float
    b: Array | float
    A: Array | float = 1.0
    Lam: Array | float = 1.0


def _check_tier(tier: str, k_max: int | None) -> None:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; known: {', '.join(TIERS)}")
    if tier == "exact" and k_max is None:
        raise ValueError("the exact tier needs a static k_max (largest capacity)")


def eigenvalue(k: Array, spec: Spectrum) -> Array:
    """``lambda_k = Lam k^-b``."""
    return spec.Lam * jnp.asarray(k, dtype=float) ** (-spec.b)


def target_power(k: Array, spec: Spectrum) -> Array:
    """``p_k = A k^-a``."""
    return spec.A * jnp.asarray(k, dtype=float) ** (-spec.a)


def log_k_star(t: Array, spec: Spectrum, g: GParams, family: Family) -> Array:
    """``log k_*(t)``: the mode index of the learning frontier ``g(lambda_k, t) = 1``.

    ``k_*(t) = (Lam / lambda_*(t))^(1/b) ∝ t^(rho/b)`` ([GSF]_ eq. 18).
    """
    log_lam = family.log_lambda_star(jnp.log(jnp.asarray(t, dtype=float)), g)
    return (jnp.log(spec.Lam) - log_lam) / spec.b


def _hint(t: Array, spec: Spectrum, g: GParams, family: Family) -> tuple[Array, Array]:
    m, _ = family.effective(g)
    return log_k_star(t, spec, g, family), 3.0 / (spec.b * m)


def _mode_sum(term, k_lo, k_hi, t, spec, g, family, tier, k_max, split_gradient=False):
    # the sums take their batch shape from the bounds: give the bounds the records' shape
    shape = jnp.broadcast_shapes(jnp.shape(k_lo), jnp.shape(k_hi), jnp.shape(t))
    k_lo, k_hi = jnp.broadcast_to(k_lo, shape), jnp.broadcast_to(k_hi, shape)
    if tier == "exact":
        return exact_sum(term, k_lo, k_hi, int(k_max))
    hint, width = _hint(t, spec, g, family)
    return continuum_sum(term, k_lo, k_hi, hint, width, split_gradient=split_gradient)


def _power_integral(q: Array, lo: Array, hi: Array) -> Array:
    """``∫_{lo+1/2}^{hi+1/2} k^(q-1) dk`` (``hi >= lo``), smooth through ``q = 0``."""
    l1 = jnp.log(lo + 0.5)
    l2 = jnp.log(jnp.maximum(hi, lo) + 0.5)
    small = jnp.abs(q) < 1e-8
    q_safe = jnp.where(small, 1.0, q)
    val = jnp.exp(q_safe * l1) * jnp.expm1(q_safe * (l2 - l1)) / q_safe
    return jnp.where(small, l2 - l1, val)


def _tail_beyond(a: Array, K: Array, tier: str) -> Array:
    """``sum_{k > K} k^-a`` (fractional ``K`` by mode overlap)."""
    if tier == "exact":
        j0 = jnp.floor(K) + 1.0
        return (j0 - K) * j0 ** (-a) + zeta(a, j0 + 1.0)
    # continuum and asymptotic: the integral beyond K + 1/2 (error O(K^-(a+2)))
    return (K + 0.5) ** (1.0 - a) / (a - 1.0)


def loss(
    t: Array,
    K: Array,
    spec: Spectrum,
    g: GParams,
    E: Array,
    family: Family,
    tier: str = "continuum",
    k_max: int | None = None,
    split_gradient: bool = False,
) -> Array:
    r"""Test loss ``L(t; K)``.

    Parameters
    ----------
    t : array
        Training time (> 0).
    K : array
        Capacity in modes (``K = kappa P^nu``); ``inf`` is not allowed, use a large number.
    spec, g : Spectrum, GParams
        Spectrum and evolution-function parameters.
    E : array
        Irreducible loss.
    family : Family
        The ``g`` family.
    tier : str
        ``exact``, ``continuum`` or ``asymptotic``.
    k_max : int, optional
        Static bound on ``K`` (``exact`` tier only).
    split_gradient : bool
        ``continuum`` tier: the gradient through the quadrature's split points too
        (:func:`~gsf_infer.model.forward.sums.continuum_sum`); the same for the other laws.

    Returns
    -------
    array
        Expected loss.

    Notes
    -----
    The loss of [GSF]_ eq. 6 with a capacity cut and an irreducible loss:

    .. math::

        L(t; K) = E + \sum_{k \le K} p_k\, e^{-2 g(\lambda_k, t)} + \sum_{k > K} p_k .

    Asymptotically :math:`L - L_\infty \propto t^{-\chi}` with :math:`\chi = (a-1)\rho/b`.
    """
    _check_tier(tier, k_max)
    t = jnp.asarray(t, dtype=float)
    K = jnp.asarray(K, dtype=float)
    a = spec.a
    if tier == "asymptotic":
        M = jnp.minimum(jnp.exp(log_k_star(t, spec, g, family)), K)
        return E + spec.A * _tail_beyond(a, M, tier)
    log_t = jnp.log(t)[..., None]
    log_lam0 = jnp.log(spec.Lam)

    def term(k, log_k):
        log_resid = family.log_resid(log_lam0 - spec.b * log_k, log_t, g)
        return jnp.exp(2.0 * log_resid - a * log_k)

    learned = _mode_sum(term, jnp.zeros_like(K), K, t, spec, g, family, tier, k_max,
                        split_gradient)
    return E + spec.A * (learned + _tail_beyond(a, K, tier))


def _weighted_learned_sum(q, t, k_lo, k_hi, spec, g, family, tier, k_max,
                          split_gradient=False):
    """``sum_{k_lo<k<=k_hi} k^(q-1) phi_k(t)^2`` (asymptotic: ``phi = 1`` up to ``k_*``)."""
    if tier == "asymptotic":
        M = jnp.minimum(jnp.exp(log_k_star(t, spec, g, family)), k_hi)
        return _power_integral(q, k_lo, jnp.maximum(M, k_lo))
    log_t = jnp.log(t)[..., None]
    log_lam0 = jnp.log(spec.Lam)

    def term(k, log_k):
        phi = family.phi_from_log(log_lam0 - spec.b * log_k, log_t, g)
        return jnp.exp((q - 1.0) * log_k) * phi**2

    return _mode_sum(term, k_lo, k_hi, t, spec, g, family, tier, k_max, split_gradient)


def quantization(
    t: Array,
    K: Array,
    sigma2: Array,
    spec: Spectrum,
    g: GParams,
    family: Family,
    tier: str = "continuum",
    k_max: int | None = None,
    split_gradient: bool = False,
) -> Array:
    r"""Quantization-induced loss ``dL_Q(t)``.

    Parameters
    ----------
    sigma2 : array
        Feature-noise variance ``sigma^2`` (``sigma0^2 4^-bits`` with a ``bits`` column; see
        :func:`sigma2_of_bits`).

    Notes
    -----
    Quantization read as noise of variance :math:`\sigma^2` on the features ([GSF]_ Theorem 2):

    .. math::

        \Delta L_Q(t) = \sigma^2 \sum_{k \le K} w_k^2 \big(1 - e^{-g(\lambda_k, t)}\big)^2,
        \qquad w_k^2 = \frac{A}{Lam} k^{b-a} .

    :math:`\Delta L_Q \propto t^{\gamma}` with :math:`\gamma = (1+b-a)\rho/b` when
    :math:`1+b-a > 0`; saturates (:math:`\gamma = 0`) otherwise.
    """
    _check_tier(tier, k_max)
    t = jnp.asarray(t, dtype=float)
    K = jnp.asarray(K, dtype=float)
    q = 1.0 + spec.b - spec.a
    s = _weighted_learned_sum(q, t, jnp.zeros_like(K), K, spec, g, family, tier, k_max,
                              split_gradient)
    return sigma2 * spec.A / spec.Lam * s


def sigma2_of_bits(bits: Array, sigma0_sq: Array) -> Array:
    """Rounding-noise variance ``sigma0^2 * 4^-bits`` (variance ∝ step², step ∝ 2^-bits)."""
    return sigma0_sq * 4.0 ** (-jnp.asarray(bits, dtype=float))


def pruning(
    t: Array,
    K: Array,
    sparsity: Array,
    spec: Spectrum,
    g: GParams,
    family: Family,
    tier: str = "continuum",
    metric: str = "seed",
    k_max: int | None = None,
    split_gradient: bool = False,
) -> Array:
    r"""Pruning-induced loss ``dL_P(t, r)`` after removing the top fraction ``r`` of modes.

    Parameters
    ----------
    sparsity : array
        Fraction pruned ``r`` in ``[0, 1)``; modes ``k > k_cut = (1 - r) K`` are removed.
    metric : str
        ``"seed"`` (default): the unweighted ``sum w_k^2 phi_k^2`` of [GSF]_ eq. 20, slope
        ``1+b-a``; ``"function"``: the lambda-weighted ``sum p_k phi_k^2``, slope ``1-a``.

    Notes
    -----
    .. math::

        \Delta L_P(t, r) = \sum_{k_{cut} < k \le K} v_k\, \phi_k(t)^2, \qquad
        v_k = w_k^2 \ (\texttt{seed}, \text{[GSF] eq. 20}) \quad\text{or}\quad
        v_k = p_k \ (\texttt{function}).

    A plateau while ``k_cut >> k_*``, a power law in ``theta = k_cut/k_*`` beyond, and a
    critical rate ``r_* = 1 - k_*(t)/K`` ([GSF]_ eqs. 21–24).
    """
    _check_tier(tier, k_max)
    if metric not in PRUNING_METRICS:
        raise ValueError(f"unknown pruning metric {metric!r}; known: {', '.join(PRUNING_METRICS)}")
    t = jnp.asarray(t, dtype=float)
    K = jnp.asarray(K, dtype=float)
    k_cut = (1.0 - jnp.asarray(sparsity, dtype=float)) * K
    if metric == "seed":
        q, amp = 1.0 + spec.b - spec.a, spec.A / spec.Lam
    else:
        q, amp = 1.0 - spec.a, spec.A
    return amp * _weighted_learned_sum(q, t, k_cut, K, spec, g, family, tier, k_max,
                                       split_gradient)


def density(
    compute: Array,
    params: Array,
    K: Array,
    spec: Spectrum,
    g: GParams,
    family: Family,
) -> Array:
    r"""Learned modes per parameter ``delta(C, P) = min(k_*(C/P), K) / P`` ([GSF]_ Section 5).

    The same in every tier, with ``t = C/P``:

    .. math::

        \delta(C, P) = \frac{\min(k_*(C/P), K)}{P} \propto C^{\rho/b} P^{-(1+\rho/b)}
        \quad (k_* < K).
    """
    t = jnp.asarray(compute, dtype=float) / jnp.asarray(params, dtype=float)
    k_star = jnp.exp(log_k_star(t, spec, g, family))
    return jnp.minimum(k_star, K) / params


def learned_fraction(k: Array, t: Array, spec: Spectrum, g: GParams, family: Family) -> Array:
    """``phi_k(t) = 1 - exp(-g(lambda_k, t))`` (``modes`` records; same in every tier)."""
    phi, _ = family.phi_resid(eigenvalue(k, spec), jnp.asarray(t, dtype=float), g)
    return phi


def redundancy_alpha(b: Array, s: Array) -> Array:
    """Redundancy-law exponent ``alpha = 2s / (2s + 1/b)`` ([RED]_).

    ``s`` is the source smoothness and ``b`` the spectral decay exponent ([RED]_ derives it with
    the data covariance's exponent; the joint model identifies that with the kernel's ``b``).
    """
    return 2.0 * s / (2.0 * s + 1.0 / b)


def data_scaling(samples: Array, E: Array, B: Array, alpha: Array) -> Array:
    """Excess risk against sample count ``R(n) = E + B n^-alpha`` ([RED]_)."""
    return E + B * jnp.asarray(samples, dtype=float) ** (-alpha)
