"""Forward laws of every kind and tier against independent references.

- the ``exact`` tier against a plain NumPy/SciPy loop over modes (fractional bounds read as the
  linear interpolation between integer bounds, the tail beyond ``K`` by SciPy's Hurwitz zeta);
- the ``continuum`` tier against the ``exact`` tier over a grid that spans pre-asymptotic times
  (frontier below ``k0 = 24``), the power-law regime and capacity saturation (frontier beyond
  ``K``), for every family and every kind that sums, with fractional ``K`` and ``k_cut``;
- the ``asymptotic`` tier's own log-log slopes against the theory's exponents;
- gradients with respect to every parameter against central finite differences;
- hypothesis property tests over the default priors' support: finite gradients, ``jit`` and
  ``vmap`` invariance, monotonicity in ``t``, sparsity and ``k``.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import zeta

from gsf_infer.model.forward import derived, laws
from gsf_infer.model.forward.families import FAMILIES, GParams, get_family
from gsf_infer.model.forward.laws import Spectrum
from gsf_infer.model.forward.sums import K0

# elastic needs its grid of n(tau): tests/test_elastic.py checks it against monomial's laws
FAMILY_NAMES = tuple(name for name in FAMILIES if name != "elastic")

# --------------------------------------------------------------------------- exact tier vs NumPy


def _phi_ref(name: str, lam: np.ndarray, t: float, p: GParams) -> np.ndarray:
    """Learned fraction from the forward laws (NumPy)."""
    if name == "ridge":
        rate = lam + p.kap
        return lam / rate * -np.expm1(-rate * p.c * t)
    m = 1.0 if name in ("ntk", "feature") else p.m
    n = 1.0 if name == "ntk" else p.n
    g = p.c * lam**m * t**n
    if name == "logcorr":
        g = g * np.log(np.e + t / p.tau)
    return -np.expm1(-g)


def _interp_sum(values: np.ndarray, lo: float, hi: float) -> float:
    """``sum_{lo < k <= hi} values[k-1]`` with fractional bounds by linear interpolation.

    ``S(x) = sum_{k <= floor x} v_k + frac(x) v_{floor x + 1} = sum_k v_k clip(x - k + 1, 0, 1)``,
    so the range sum is ``sum_k v_k [clip(hi - k + 1) - clip(lo - k + 1)]`` (no cancellation).
    """
    k = np.arange(1, values.size + 1, dtype=float)
    weight = np.clip(hi - k + 1.0, 0.0, 1.0) - np.clip(lo - k + 1.0, 0.0, 1.0)
    return float(np.sum(weight * values))


def _laws_ref(name, a, b, A, Lam, p, E, t, K, sigma2, r):
    k = np.arange(1, int(np.ceil(K)) + 2, dtype=float)
    lam = Lam * k**-b
    phi = _phi_ref(name, lam, t, p)
    w2 = A / Lam * k ** (b - a)
    pk = A * k**-a
    j0 = np.floor(K) + 1.0
    beyond = (j0 - K) * j0**-a + zeta(a, j0 + 1.0)
    loss = E + _interp_sum(pk * (1 - phi) ** 2, 0.0, K) + A * beyond
    quant = sigma2 * _interp_sum(w2 * phi**2, 0.0, K)
    k_cut = (1 - r) * K
    prune = _interp_sum(w2 * phi**2, k_cut, K)
    prune_f = _interp_sum(pk * phi**2, k_cut, K)
    return loss, quant, prune, prune_f


@functools.cache
def _four_laws(name: str, tier: str, k_max: int | None):
    """jit of (loss, quantization, pruning seed, pruning function) at fixed parameters."""
    fam = get_family(name)
    spec = Spectrum(1.7, 1.35, 0.8, 1.3)
    p = GParams(c=0.9, m=0.8, n=1.2, tau=5.0, kap=1e-3)
    kw = {"tier": tier, "k_max": k_max}

    def f(t, K, r):
        return (
            laws.loss(t, K, spec, p, 0.4, fam, **kw),
            laws.quantization(t, K, 0.01, spec, p, fam, **kw),
            laws.pruning(t, K, r, spec, p, fam, **kw),
            laws.pruning(t, K, r, spec, p, fam, metric="function", **kw),
        )

    return jax.jit(f), spec, p


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_exact_tier_equals_a_plain_loop(name: str) -> None:
    f, spec, p = _four_laws(name, "exact", 256)
    for K, r in [(40.0, 0.5), (57.3, 0.31), (200.75, 0.9)]:
        ts = np.array([0.3, 20.0, 3e3])
        got = np.stack([np.asarray(x) for x in f(jnp.asarray(ts), K, r)], axis=1)
        for t, row in zip(ts, got, strict=True):
            ref = _laws_ref(name, *spec, p, 0.4, t, K, 0.01, r)
            # same terms, different summation order: agreement to rounding of ~200 terms
            np.testing.assert_allclose(row, ref, rtol=1e-12)


def test_exact_tier_respects_k_max_chunks_and_fractional_bounds() -> None:
    """Crossing chunk boundaries (4096 modes) and interpolating between integer capacities."""
    fam, spec, p = get_family("monomial"), Spectrum(1.5, 1.3), GParams(c=1.0, m=1.0, n=1.0)
    Ks = jnp.asarray([4095.0, 4096.0, 4096.4, 4097.0, 9000.0])
    got = np.asarray(laws.quantization(50.0, Ks, 1.0, spec, p, fam, tier="exact", k_max=9000))
    k = np.arange(1, 9001, dtype=float)
    lam = k**-1.3
    terms = k ** (1.3 - 1.5) * (-np.expm1(-lam * 50.0)) ** 2
    want = [_interp_sum(terms, 0.0, float(K)) for K in np.asarray(Ks)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # 4096.4 lies 40% of the way from the integer capacities on either side
    np.testing.assert_allclose(got[2], 0.6 * got[1] + 0.4 * got[3], rtol=1e-13)


@pytest.mark.parametrize("tier", ["exact", "continuum"])
def test_records_broadcast_against_each_other(tier: str) -> None:
    """Arrays of t with a scalar K (and the reverse) give the record-wise values."""
    f, _, _ = _four_laws("monomial", tier, 300)
    ts = np.array([1.0, 10.0, 100.0])
    Ks, rs = np.array([100.0, 300.0]), np.array([0.97, 0.99])
    one = [[float(x) for x in f(t, K, r)] for t, K, r in [(t, Ks[0], rs[0]) for t in ts]]
    batch = np.stack([np.asarray(x) for x in f(ts, Ks[0], rs[0])], axis=1)
    np.testing.assert_allclose(batch, one, rtol=1e-12)
    one = [[float(x) for x in f(ts[2], K, r)] for K, r in zip(Ks, rs, strict=True)]
    batch = np.stack([np.asarray(x) for x in f(ts[2], Ks, rs)], axis=1)
    np.testing.assert_allclose(batch, one, rtol=1e-12)


# --------------------------------------------------------------------------- continuum vs exact

AB = list(itertools.product([1.2, 1.6, 2.5], [1.1, 1.5, 2.5]))
MN = list(itertools.product([0.7, 1.0, 1.4], [0.6, 1.0, 1.6]))
# shape parameters per family: (m, n, kap); tau = 30 for logcorr
SHAPES = {
    "ntk": [(1.0, 1.0, 0.0)],
    "feature": [(1.0, n, 0.0) for n in (1.0, 1.3, 1.6)],
    "monomial": [(m, n, 0.0) for m, n in MN],
    "logcorr": [(0.7, 1.6, 0.0), (1.0, 1.0, 0.0), (1.4, 0.6, 0.0)],
    "ridge": [(1.0, 1.0, 1e-9), (1.0, 1.0, 1e-3)],
}
GRID_T = np.geomspace(0.1, 1e7, 10)
GRID_K = np.array([50.5, 1000.0, 7777.3])  # fractional capacities included
GRID_R = np.array([0.1, 0.5, 0.93])  # k_cut fractional, in the exact head and in the tail
GRID_KMAX = 7778


def _grid(name: str, tier: str):
    fam = get_family(name)
    points = np.array([(a, b, m, n, kap) for a, b in AB for m, n, kap in SHAPES[name]])

    def one(a, b, m, n, kap):
        spec = Spectrum(a, b, 0.7, 1.3)
        p = GParams(c=0.8, m=m, n=n, tau=30.0, kap=kap)
        t, K, r = GRID_T[:, None, None], GRID_K[None, :, None], GRID_R[None, None, :]
        kw = {"tier": tier, "k_max": GRID_KMAX}
        out = (
            laws.loss(t, K, spec, p, 0.0, fam, **kw),
            laws.quantization(t, K, 1.0, spec, p, fam, **kw),
            laws.pruning(t, K, r, spec, p, fam, **kw),
            laws.pruning(t, K, r, spec, p, fam, metric="function", **kw),
        )
        shape = out[2].shape
        return tuple(jnp.broadcast_to(x, shape) for x in out) + (
            derived.k_star(GRID_T, spec, p, fam),
        )

    res = jax.jit(jax.vmap(one))(*(jnp.asarray(c) for c in points.T))
    return points, [np.asarray(x) for x in res]


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_continuum_matches_exact_over_the_grid(name: str) -> None:
    points, exact = _grid(name, "exact")
    _, cont = _grid(name, "continuum")
    # the grid does reach the regimes it is meant to cover
    k_star = exact[4]
    assert (k_star < K0).any(), "no pre-asymptotic time (frontier below k0) in the grid"
    if name != "ridge" or (points[:, 4] < 1e-6).any():
        assert (k_star > GRID_K.max()).any(), "no capacity-saturated time in the grid"
    assert ((k_star > K0) & (k_star < 1000.0)).any(), "no time with the frontier inside (k0, K)"

    # loss: the exact head covers k <= 24 and beyond the frontier the tail summand is k^-a; the
    # midpoint rule errs by a(a+1)/(24 (k0+1/2)^2) <= 6e-4 relative to the tail, and the tail is a
    # part of the total: measured max 2.2e-4 over this grid (all families); 4e-4 leaves 1.8x
    a, b = points[:, 0, None, None, None], points[:, 1, None, None, None]
    m_eff = np.array(
        [float(get_family(name).effective(GParams(m=m, n=n))[0]) for m, n in points[:, 2:4]]
    )
    m_eff = m_eff[:, None, None, None]
    rel = np.abs(cont[0] / exact[0] - 1.0)
    assert rel.max() < 4e-4, f"loss: max relative error {rel.max():.2e}"
    # quantization: the tail beyond an early frontier is the steep k^-p, p = a - b + 2 b m, and
    # the midpoint rule's error is p(p+1)/(24 (k0+1/2)^2) relative to it: tolerance 3e-4 plus
    # that (measured at most 0.17 of it; 3.7e-4 at worst, with the frontier at k = 15)
    p_q = a - b + 2 * b * m_eff
    rel = np.abs(cont[1] / exact[1] - 1.0)
    tol = 3e-4 + p_q * (p_q + 1.0) / (24.0 * (K0 + 0.5) ** 2)
    assert np.all(rel < tol), f"quantization: worst rel/tol {np.max(rel / tol):.2f}"

    # pruning sums start at k_cut; when k_cut lies just above k0 the whole sum is quadrature.
    # In the plateau (modes beyond the frontier) the summand is a steep power law k^-p with
    # p = a - b + 2 b m (seed metric) or a + 2 b m (function metric), for which the midpoint
    # rule errs by p(p+1)/(24 u^2) at the lower end u = max(k_cut, k0) + 1/2, and a fractional
    # k_cut adds a first-order term up to 3x that: tolerance 3e-4 + p(p+1)/(6 u^2) (measured up
    # to 0.73 of it; 5.6e-3 at worst, for k_cut = 25.25 and p = 7, where dL_P ~ 1e-16)
    k_cut = ((1.0 - GRID_R[None, :]) * GRID_K[:, None])[None, None]
    u = np.maximum(k_cut, K0) + 0.5
    for kind, i, p in (("seed", 2, a - b + 2 * b * m_eff), ("function", 3, a + 2 * b * m_eff)):
        rel = np.abs(cont[i] / exact[i] - 1.0)
        tol = 3e-4 + p * (p + 1.0) / (6.0 * u**2)
        assert np.all(rel < tol), f"pruning/{kind}: worst rel/tol {np.max(rel / tol):.2f}"
        away = np.broadcast_to(k_cut >= 100, rel.shape)  # cut far above k0: 3e-4 flat
        assert rel[away].max() < 3e-4


# --------------------------------------------------------------------------- asymptotic tier


def _t_for_k_star(k_star: float, b: float, m: float, n: float, c: float, Lam: float) -> float:
    """Monomial frontier inverted by hand: c (Lam k^-b)^m t^n = 1."""
    return float((c * Lam**m * k_star ** (-b * m)) ** (-1.0 / n))


ASYM_POINTS = [(a, b, m, n) for a, b in AB for m, n in ((0.7, 1.6), (1.4, 0.6), (1.0, 1.0))]


def test_asymptotic_tier_slopes_are_the_theory_exponents() -> None:
    fam = get_family("monomial")
    c, Lam, A, h = 0.8, 1.3, 0.7, 0.05
    for a, b, m, n in ASYM_POINTS:
        spec, p = Spectrum(a, b, A, Lam), GParams(c=c, m=m, n=n)
        rho_over_b = n / (m * b)
        q = 1.0 + b - a
        t0 = _t_for_k_star(1e4, b, m, n, c, Lam)
        ts = t0 * np.exp(h * np.arange(-2, 3))
        L = np.asarray(laws.loss(ts, 1e9, spec, p, 0.3, fam, tier="asymptotic"))
        Q = np.asarray(laws.quantization(ts, 1e9, 1.0, spec, p, fam, tier="asymptotic"))
        # d L / d log t and d Q / d log t by FD (drop the additive floors), then their slopes;
        # the tier is a law of k_* + 1/2: the half-mode shift moves the slopes by a relative
        # a / (2 (a-1) k_*) <= 3e-4 (loss) and 1 / (2 q k_*) <= 1e-4 (quantization) at k_* = 1e4;
        # FD of power laws in log t adds ~h^2 * (that curvature), nothing: tolerance 1e-3
        dL = -(L[2:] - L[:-2]) / (2 * h)
        dQ = (Q[2:] - Q[:-2]) / (2 * h)
        chi = -np.log(dL[2] / dL[0]) / (2 * h)
        np.testing.assert_allclose(chi, (a - 1) * rho_over_b, rtol=1e-3)
        if q > 0:
            gamma = np.log(dQ[2] / dQ[0]) / (2 * h)
            np.testing.assert_allclose(gamma, q * rho_over_b, rtol=1e-3)
        elif q < 0:
            # saturated: the quantization loss itself stops growing
            slope = np.log(Q[3] / Q[1]) / (2 * h)
            assert 0.0 <= slope < 0.05 * rho_over_b
        else:
            # marginal q = 0: sum_{k <= k_*} 1/k grows like log k_*, a local slope that falls off
            # as (rho/b) / log(2 k_* + 1) -- zero as a power law, never constant
            slope = np.log(Q[3] / Q[1]) / (2 * h)
            np.testing.assert_allclose(slope, rho_over_b / np.log(2e4 + 1), rtol=1e-3)
        # the hard-frontier pruning curve: -d dL_P / d k_cut = w_{k_cut}^2 for k_cut < k_*,
        # log-log slope b - a (seed) and -a (function) in k_cut (up to the 1/2-mode shift)
        K = 1e6
        cuts = np.array([1000.0, 1000.0 * np.exp(0.1)])
        for metric, want in (("seed", b - a), ("function", -a)):
            # central differences in k_cut (step 1e-3 k_cut; the curve is smooth there)
            kc = np.concatenate([cuts * (1 - 1e-3), cuts * (1 + 1e-3)])
            vals = np.asarray(
                laws.pruning(ts[2], K, 1.0 - kc / K, spec, p, fam, tier="asymptotic", metric=metric)
            )
            deriv = -(vals[2:] - vals[:2]) / (2e-3 * cuts)
            slope = np.log(deriv[1] / deriv[0]) / 0.1
            np.testing.assert_allclose(slope, want, rtol=1e-3, atol=1e-3)
        # seed eq. 23: at a fixed theta = k_cut / k_*, dL_P ∝ k_*^(1+b-a) ∝ t^((1+b-a) rho/b)
        theta = 0.3
        vals = []
        for t in ts[[1, 3]]:
            ks = float(derived.k_star(t, spec, p, fam))
            vals.append(
                float(laws.pruning(t, K, 1.0 - theta * ks / K, spec, p, fam, tier="asymptotic"))
            )
        np.testing.assert_allclose(
            np.log(vals[1] / vals[0]) / (2 * h), q * rho_over_b, rtol=2e-3, atol=2e-3
        )


def test_asymptotic_tier_is_the_hard_frontier() -> None:
    """Below the frontier every mode learned, above it none (and pruning there costs nothing)."""
    fam, spec, p = (
        get_family("monomial"),
        Spectrum(1.6, 1.4, 0.9, 1.1),
        GParams(c=1.2, m=0.9, n=1.1),
    )
    t, K = 300.0, 5e4
    ks = float(derived.k_star(t, spec, p, fam))
    L = float(laws.loss(t, K, spec, p, 0.2, fam, tier="asymptotic"))
    np.testing.assert_allclose(L, 0.2 + 0.9 * (ks + 0.5) ** -0.6 / 0.6, rtol=1e-12)
    Q = float(laws.quantization(t, K, 2.0, spec, p, fam, tier="asymptotic"))
    q = 1 + 1.4 - 1.6
    np.testing.assert_allclose(Q, 2.0 * 0.9 / 1.1 * ((ks + 0.5) ** q - 0.5**q) / q, rtol=1e-12)
    beyond = laws.pruning(t, K, 1.0 - 2 * ks / K, spec, p, fam, tier="asymptotic")
    assert float(beyond) == 0.0
    # capacity below the frontier: the capacity takes its place
    L_cap = float(laws.loss(t, 0.5 * ks, spec, p, 0.2, fam, tier="asymptotic"))
    np.testing.assert_allclose(L_cap, 0.2 + 0.9 * (0.5 * ks + 0.5) ** -0.6 / 0.6, rtol=1e-12)


# --------------------------------------------------------------------------- other laws


def test_closed_form_laws() -> None:
    fam, spec, p = (
        get_family("monomial"),
        Spectrum(1.7, 1.3, 0.6, 2.0),
        GParams(c=0.5, m=0.8, n=1.3),
    )
    k = jnp.asarray([1.0, 2.0, 10.0, 1e3])
    np.testing.assert_allclose(
        np.asarray(laws.eigenvalue(k, spec)), 2.0 * np.asarray(k) ** -1.3, rtol=1e-14
    )
    np.testing.assert_allclose(
        np.asarray(laws.target_power(k, spec)), 0.6 * np.asarray(k) ** -1.7, rtol=1e-14
    )
    phi = np.asarray(laws.learned_fraction(k, 7.0, spec, p, fam))
    np.testing.assert_allclose(
        phi, _phi_ref("monomial", 2.0 * np.asarray(k) ** -1.3, 7.0, p), rtol=1e-13
    )
    np.testing.assert_allclose(float(laws.sigma2_of_bits(4, 0.01)), 0.01 / 256, rtol=1e-15)
    np.testing.assert_allclose(
        float(laws.redundancy_alpha(1.5, 1.0)), 2 / (2 + 1 / 1.5), rtol=1e-15
    )
    np.testing.assert_allclose(
        float(laws.data_scaling(1e4, 0.5, 5.0, 0.75)), 0.5 + 5e-3, rtol=1e-14
    )
    # density: min(k_*(C/P), K) / P, with the frontier from the family
    C, P, K = 1e9, 1e6, 1e5
    ks = float(derived.k_star(C / P, spec, p, fam))
    np.testing.assert_allclose(
        float(laws.density(C, P, K, spec, p, fam)), min(ks, K) / P, rtol=1e-14
    )
    np.testing.assert_allclose(
        float(laws.density(C, P, 0.5 * ks, spec, p, fam)), 0.5 * ks / P, rtol=1e-14
    )


@pytest.mark.parametrize("tier", laws.TIERS)
def test_pruning_ends(tier: str) -> None:
    """Nothing pruned costs nothing; pruning everything (k_cut = 0) removes sum w_k^2 phi_k^2."""
    fam, spec, p = get_family("monomial"), Spectrum(1.6, 1.4), GParams(m=0.9, n=1.1)
    kw = {"tier": tier, "k_max": 600}
    assert float(laws.pruning(30.0, 600.0, 0.0, spec, p, fam, **kw)) == 0.0
    np.testing.assert_allclose(
        float(laws.pruning(30.0, 600.0, 1.0, spec, p, fam, **kw)),
        float(laws.quantization(30.0, 600.0, 1.0, spec, p, fam, **kw)),
        rtol=1e-12,
    )


def test_bad_tier_metric_and_missing_k_max() -> None:
    fam, spec, p = get_family("ntk"), Spectrum(1.5, 1.5), GParams()
    with pytest.raises(ValueError, match="unknown tier 'fast'"):
        laws.loss(1.0, 10.0, spec, p, 0.0, fam, tier="fast")
    with pytest.raises(ValueError, match="static k_max"):
        laws.quantization(1.0, 10.0, 1.0, spec, p, fam, tier="exact")
    with pytest.raises(ValueError, match="unknown pruning metric 'weights'"):
        laws.pruning(1.0, 10.0, 0.5, spec, p, fam, metric="weights")


# --------------------------------------------------------------------------- gradients

PARAM_NAMES = (
    "a", "b", "A", "Lam", "c", "m", "n", "tau", "kap", "E", "K", "t", "sigma2", "sparsity",
)  # fmt: skip
OUTPUTS = ("loss", "quantization", "pruning", "pruning_function", "density", "learned_fraction")
# parameters each family ignores (their derivatives must be exactly zero)
UNUSED = {
    "ntk": {"tau", "kap", "m", "n"},
    "feature": {"tau", "kap", "m"},
    "monomial": {"tau", "kap"},
    "logcorr": {"kap"},
    "ridge": {"tau", "m", "n"},
}


@functools.cache
def _values_and_grads(name: str, tier: str, split_gradient: bool = False):
    """One record of every summing kind plus density and a mode: f, jit(f), jit(jacfwd(f))."""
    fam = get_family(name)
    kmax = 3000 if tier == "exact" else None

    def f(x):
        a, b, A, Lam, c, m, n, tau, kap, E, K, t, sigma2, r = x
        spec, p = Spectrum(a, b, A, Lam), GParams(c, m, n, tau, kap)
        kw = {"tier": tier, "k_max": kmax, "split_gradient": split_gradient}
        return jnp.stack(
            [
                laws.loss(t, K, spec, p, E, fam, **kw),
                laws.quantization(t, K, sigma2, spec, p, fam, **kw),
                laws.pruning(t, K, r, spec, p, fam, **kw),
                laws.pruning(t, K, r, spec, p, fam, metric="function", **kw),
                laws.density(t * 1e3, 1e3, K, spec, p, fam),
                laws.learned_fraction(3.0, t, spec, p, fam),
            ]
        )

    return f, jax.jit(f), jax.jit(jax.jacfwd(f))


# records away from the kinks of the exact tier (integer bounds) and of the asymptotic tier
# (min(k_*, K)): k_* ~ 130 at t = 200, k_* ~ 10 at t = 5 for these parameters
GRAD_POINTS = [
    dict(a=1.7, b=1.45, A=0.8, Lam=1.2, c=0.9, m=0.9, n=1.2, tau=50.0, kap=3e-4, E=1.5,
         K=2900.3, t=200.0, sigma2=0.01, sparsity=0.99),
    dict(a=2.3, b=1.2, A=1.4, Lam=0.7, c=1.6, m=1.3, n=0.7, tau=3.0, kap=2e-2, E=0.2,
         K=57.3, t=5.0, sigma2=0.3, sparsity=0.61),
]  # fmt: skip


# The continuum tier splits its quadrature panels at the frontier but passes no gradient through
# the split (sums.continuum_sum: the split moves only the quadrature error). A finite difference
# of the value does see the split move, so for the parameters that move the frontier the two
# differ by the derivative of the quadrature error: measured up to 3.5e-5 relative (logcorr).
MOVES_THE_SPLIT = {"b", "Lam", "c", "m", "n", "tau", "kap", "t"}
CONTINUUM_SPLIT_RTOL = 1e-4


@pytest.mark.parametrize("tier", laws.TIERS)
@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_gradients_match_central_differences(name: str, tier: str) -> None:
    _, f, jac = _values_and_grads(name, tier)
    for point in GRAD_POINTS:
        x0 = np.array([point[k] for k in PARAM_NAMES])
        vals = np.asarray(f(jnp.asarray(x0)))
        J = np.asarray(jac(jnp.asarray(x0)))
        assert np.all(np.isfinite(J))
        fd = np.zeros_like(J)
        for j in range(x0.size):
            # relative step 1e-6: truncation ~1e-12, rounding ~1e-16/1e-6 = 1e-10 (relative)
            step = np.zeros_like(x0)
            step[j] = 1e-6 * abs(x0[j])
            fd[:, j] = (np.asarray(f(x0 + step)) - np.asarray(f(x0 - step))) / (2 * step[j])
        # compare elasticities x_j d log f_i / d x_j (dimensionless): rtol 1e-5, and 1e-8
        # absolute for the ones that vanish (FD rounding ~1e-10 relative); outputs that are
        # exactly 0 (the hard-frontier pruning beyond k_*) compare raw
        scale = np.abs(x0)[None, :] / np.where(vals == 0.0, 1.0, vals)[:, None]
        for j, pname in enumerate(PARAM_NAMES):
            if pname in UNUSED[name]:
                assert np.all(J[:, j] == 0.0), f"{pname} is not used by {name}"
            rtol = 1e-5
            if tier == "continuum" and pname in MOVES_THE_SPLIT:
                rtol = CONTINUUM_SPLIT_RTOL
            np.testing.assert_allclose(
                J[:, j] * scale[:, j], fd[:, j] * scale[:, j], rtol=rtol, atol=1e-8, err_msg=pname
            )


def _split_errors(name: str, split_gradient: bool) -> float:
    """Largest relative gap between the continuum tier's gradient and central differences."""
    _, f, jac = _values_and_grads(name, "continuum", split_gradient)
    worst = 0.0
    for point in GRAD_POINTS:
        x0 = np.array([point[k] for k in PARAM_NAMES])
        vals = np.asarray(f(jnp.asarray(x0)))
        J = np.asarray(jac(jnp.asarray(x0)))
        for j, pname in enumerate(PARAM_NAMES):
            if pname not in MOVES_THE_SPLIT:
                continue
            step = np.zeros_like(x0)
            step[j] = 1e-6 * abs(x0[j])
            fd = (np.asarray(f(x0 + step)) - np.asarray(f(x0 - step))) / (2 * step[j])
            scale = abs(x0[j]) / np.where(vals == 0.0, 1.0, np.abs(vals))
            worst = max(worst, float(np.max(np.abs(J[:4, j] - fd[:4]) * scale[:4])))
    return worst


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_split_gradient_is_the_continuum_sums_exact_gradient(name: str) -> None:
    # differentiating the split points too, the gradient is the value's own (central
    # differences, elasticities to 1e-7)
    assert _split_errors(name, split_gradient=True) < 1e-7


def test_without_split_gradient_the_gradient_misses_the_quadrature_errors_derivative() -> None:
    # the negative control of the test above: the default gradient is off by the derivative of
    # the quadrature error where the frontier moves the split (monomial, logcorr at these points)
    for name in ("monomial", "logcorr"):
        assert _split_errors(name, split_gradient=False) > 1e-6


# --------------------------------------------------------------------------- property tests


def _prior_point(z_a, z_b, z_m, z_n):
    """Map standard-normal scores to the default prior."""
    a = 1.0 + 0.5 * np.exp(0.8 * z_a)
    b = 1.0 + 0.5 * np.exp(0.8 * z_b)
    return a, b, float(np.exp(0.3 * z_m)), float(np.exp(0.5 * z_n))


# +-2.5 sd of each prior: a-1, b-1 in [0.07, 3.7], m in [0.47, 2.1], n in [0.29, 3.5]
Z = st.floats(-2.5, 2.5)
PRIOR = st.tuples(Z, Z, Z, Z).map(lambda z: _prior_point(*z))
LOG_C = st.floats(np.log(0.1), np.log(10.0))
TIME = st.floats(np.log(0.1), np.log(1e6)).map(np.exp)
CAP = st.floats(np.log(30.0), np.log(3e5)).map(np.exp)
PROPS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _vector(prior, log_c, t, K, r=0.6, kap=1e-4):
    a, b, m, n = prior
    return jnp.asarray([a, b, 0.9, 1.1, np.exp(log_c), m, n, 20.0, kap, 0.5, K, t, 0.01, r])


@pytest.mark.parametrize("tier", ["continuum", "asymptotic"])
@pytest.mark.parametrize("name", FAMILY_NAMES)
@PROPS
@given(prior=PRIOR, log_c=LOG_C, t=TIME, K=CAP, r=st.floats(0.01, 0.99))
def test_gradients_finite_over_the_prior(name, tier, prior, log_c, t, K, r) -> None:
    _, f_jit, jac = _values_and_grads(name, tier)
    x = _vector(prior, log_c, t, K, r)
    vals = np.asarray(f_jit(x))
    assert np.all(np.isfinite(vals)) and np.all(vals >= 0)
    assert np.all(np.isfinite(np.asarray(jac(x))))


@pytest.mark.parametrize("tier", laws.TIERS)
# eager evaluation retraces the exact tier's loop at every call (~1 s each): few examples
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(FAMILY_NAMES),
    prior=PRIOR,
    log_c=LOG_C,
    t=TIME,
    K=st.floats(np.log(30.0), np.log(3e3)).map(np.exp),
)
def test_jit_equals_eager(tier, name, prior, log_c, t, K) -> None:
    f, f_jit, _ = _values_and_grads(name, tier)
    x = _vector(prior, log_c, t, K)
    # XLA may fuse and reorder: equal to a few ulp of the sums' rounding
    np.testing.assert_allclose(np.asarray(f_jit(x)), np.asarray(f(x)), rtol=1e-12, atol=1e-300)


@functools.cache
def _batched(name: str, tier: str):
    """``jit(vmap(f))`` of :func:`_values_and_grads`'s ``f``, compiled once per family and tier."""
    return jax.jit(jax.vmap(_values_and_grads(name, tier)[0]))


@pytest.mark.parametrize("tier", laws.TIERS)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prior=PRIOR, log_c=LOG_C)
def test_vmap_equals_a_loop(tier, prior, log_c) -> None:
    _, f_jit, _ = _values_and_grads("logcorr", tier)
    xs = jnp.stack(
        [_vector(prior, log_c, t, K) for t, K in [(0.5, 40.0), (30.0, 700.0), (4e4, 2500.0)]]
    )
    batched = np.asarray(_batched("logcorr", tier)(xs))
    looped = np.stack([np.asarray(f_jit(x)) for x in xs])
    np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=1e-300)


@functools.cache
def _curves(name: str, tier: str):
    fam = get_family(name)
    ts = jnp.asarray(np.geomspace(0.1, 1e6, 40))
    rs = jnp.asarray(np.sort(1.0 - np.geomspace(1e-3, 0.99, 30)))  # increasing sparsity
    ks = jnp.arange(1.0, 200.0)

    def f(a, b, m, n, c, K):
        spec, p = Spectrum(a, b, 0.9, 1.1), GParams(c, m, n, 20.0, 1e-4)
        kw = {"tier": tier, "k_max": 3000}
        return (
            laws.loss(ts, K, spec, p, 0.5, fam, **kw),
            laws.quantization(ts, K, 0.01, spec, p, fam, **kw),
            laws.pruning(100.0, K, rs, spec, p, fam, **kw),
            laws.pruning(100.0, K, rs, spec, p, fam, metric="function", **kw),
            laws.learned_fraction(5.0, ts, spec, p, fam),
            laws.learned_fraction(ks, 100.0, spec, p, fam),
        )

    return jax.jit(f)


@pytest.mark.parametrize("tier", ["continuum", "exact"])
@pytest.mark.parametrize("name", FAMILY_NAMES)
@PROPS
@given(prior=PRIOR, log_c=LOG_C, K=st.floats(np.log(10.0), np.log(3e3)).map(np.exp))
def test_monotone(name, tier, prior, log_c, K) -> None:
    a, b, m, n = prior
    loss, quant, prune, prune_f, phi_t, phi_k = (
        np.asarray(x) for x in _curves(name, tier)(a, b, m, n, np.exp(log_c), K)
    )
    # every summand is monotone, so the sums are; the continuum tier's quadrature moves its
    # panels with t, which may cost a few ulp: 1e-14 relative
    eps = 1e-14
    assert np.all(np.diff(loss) <= eps * loss[:-1]), "loss must not increase with t"
    assert np.all(np.diff(quant) >= -eps * quant[:-1]), "quantization must not decrease with t"
    assert np.all(np.diff(prune) >= -eps * prune[:-1]), "pruning must not decrease with sparsity"
    assert np.all(np.diff(prune_f) >= -eps * prune_f[:-1])
    assert np.all(np.diff(phi_t) >= 0), "learned fraction must not decrease with t"
    assert np.all(np.diff(phi_k) <= 0), "learned fraction must not increase with k"
    # and they do move: the grid spans orders of magnitude in t
    assert loss[0] > loss[-1] and quant[-1] > quant[0] and phi_t[-1] > phi_t[0]
