"""Derived exponents against LOCAL LOG-LOG SLOPES measured on the exact discrete sums.

Nothing here takes an exponent from a formula of :mod:`gsf_infer.model.forward.derived` as the
reference: every reference is a finite difference of the ``exact`` tier of
:mod:`gsf_infer.model.forward.laws` at late times (frontier well inside ``(k0, K)``), or the
parameters put in (``rho = n/m`` for a monomial ``g``). The frontier time is found by inverting
``c (Lam k^-b)^m t^n = 1`` by hand.

Where the finite-``K`` and finite-``k_*`` corrections come from (they set the tolerances):

- ``L - floor`` (floor ``E + A sum_{k>K} p_k``) equals ``C k_*^(1-a) - A K^(1-a)/(a-1) + ...``:
  the unlearned modes between ``k_*`` and ``K`` leave a constant that is only small when
  ``(k_*/K)^(a-1)`` is, hopeless for ``a`` near 1. Its derivative in ``log t`` drops the
  constant; what is left is the truncation of the sum at ``K``, relative
  ``(k_*/K)^(a-1+bm) / ((a-1) I)`` with ``I ~ 0.5``: <= 5e-3 on this grid.
- ``dL_Q`` likewise carries the constant ``zeta(1-q)`` of the learned head
  (``sum_{k<=M} k^(q-1) = M^q/q + zeta(1-q) + ...``), 7% of the slope at ``q = 0.5``,
  ``k_* = 100``; its derivative in ``log t`` drops it and keeps a truncation
  ``(k_*/K)^(2bm-q)``.
- So the exponents are measured on ``d L / d log t`` and ``d dL_Q / d log t`` (finite
  differences in ``log t`` of the exact sums) at ``k_* = 100``, ``K = 2^18``, where the
  truncation terms are small and discreteness corrections (``O(k_*^-2)``) negligible; the
  slopes of ``L - floor`` and ``dL_Q`` themselves are checked too, where their constants are small.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import zeta

from gsf_infer.model.forward import derived, laws
from gsf_infer.model.forward.families import FAMILIES, GParams, elastic_integral, get_family
from gsf_infer.model.forward.laws import Spectrum

C, LAM, AMP = 0.8, 1.3, 0.7
AB = list(itertools.product([1.2, 1.6, 2.5], [1.1, 1.5, 2.5]))
POINTS = np.array([(a, b, m, n) for a, b in AB for m, n in ((0.7, 1.6), (1.4, 0.6))])
MONOMIAL = get_family("monomial")

K_SLOPES = 2.0**18  # capacity for loss/quantization slopes (k_*/K = 4e-4)
K_PRUNE = 3.0e4  # capacity for pruning (its truncation falls off as (k_*/K)^(2bm-q))
H = 0.1  # step in log t of the finite differences


def t_for_k_star(k_star, b, m, n):
    """Time at which mode ``k_star`` sits on the frontier: ``c (Lam k^-b)^m t^n = 1``."""
    return (C * LAM**m * np.asarray(k_star, float) ** (-b * m)) ** (-1.0 / n)


def theory(a, b, m, n):
    """The exponents the parameters put in imply (rho = n/m for a monomial g)."""
    return derived.exponents(Spectrum(a, b, AMP, LAM), GParams(C, m, n), MONOMIAL)


# --------------------------------------------------------------------------- measured slopes


@functools.cache
def _loss_quant_exact():
    def one(a, b, m, n, t):
        spec, p = Spectrum(a, b, AMP, LAM), GParams(C, m, n)
        kw = {"tier": "exact", "k_max": int(K_SLOPES)}
        return (
            laws.loss(t, K_SLOPES, spec, p, 0.0, MONOMIAL, **kw),
            laws.quantization(t, K_SLOPES, 1.0, spec, p, MONOMIAL, **kw),
        )

    return jax.jit(jax.vmap(one))


@pytest.fixture(scope="module")
def measured():
    """Local slopes of the exact sums at k_* = 100 and 1000 for every point.

    Times ``t_0 e^(-2H)``, ``t_0``, ``t_0 e^(2H)``; derivatives at ``t_0 e^(-+H)`` by central
    differences, their slope at ``t_0`` between them.
    """
    k_stars = np.array([100.0, 1000.0])
    offsets = np.array([-2.0, 0.0, 2.0]) * H
    rows = [(pt, ks, off) for pt in POINTS for ks in k_stars for off in offsets]
    pts = np.array([r[0] for r in rows])
    ts = np.array([t_for_k_star(ks, pt[1], pt[2], pt[3]) * np.exp(off) for pt, ks, off in rows])
    L, Q = _loss_quant_exact()(*(jnp.asarray(c) for c in (*pts.T, ts)))
    shape = (len(POINTS), len(k_stars), len(offsets))
    L, Q = np.asarray(L).reshape(shape), np.asarray(Q).reshape(shape)
    floor = AMP * zeta(POINTS[:, 0], K_SLOPES + 1.0)  # E + A sum_{k>K} k^-a, E = 0
    L_minus_floor = L - floor[:, None, None]
    dL = -(L[..., 1:] - L[..., :-1]) / (2 * H)  # -dL/dlog t at t0 e^-H, t0 e^H
    dQ = (Q[..., 1:] - Q[..., :-1]) / (2 * H)
    return {
        "chi_deriv": np.log(dL[..., 1] / dL[..., 0]) / -(2 * H),
        "gamma_deriv": np.log(dQ[..., 1] / dQ[..., 0]) / (2 * H),
        "chi_direct": np.log(L_minus_floor[..., 2] / L_minus_floor[..., 0]) / -(4 * H),
        "gamma_direct": np.log(Q[..., 2] / Q[..., 0]) / (4 * H),
    }


def _exp(points=POINTS):
    ex = [theory(*pt) for pt in points]
    return {f: np.array([float(getattr(e, f)) for e in ex]) for f in ex[0]._fields}


def test_chi_equals_the_loss_slope(measured) -> None:
    th = _exp()
    # k_* = 100: worst predicted truncation (a, b, m) = (1.2, 1.1, 0.7): 5e-3; measured 5e-3
    np.testing.assert_allclose(measured["chi_deriv"][:, 0], th["chi"], rtol=1.5e-2)
    # the slope of L - floor itself, where the constant A K^(1-a)/(a-1) is small next to
    # the signal: a >= 1.6 ((k_*/K)^0.6 / (0.6 I) ~ 1.7% measured at a = 1.6; 3% tolerance)
    big_a = POINTS[:, 0] >= 1.6
    np.testing.assert_allclose(measured["chi_direct"][big_a, 0], th["chi"][big_a], rtol=3e-2)
    # the finite-K constant is what spoils a ~ 1: it grows with k_*/K, as predicted
    small_a = ~big_a
    err_100 = np.abs(measured["chi_direct"][small_a, 0] / th["chi"][small_a] - 1)
    err_1000 = np.abs(measured["chi_direct"][small_a, 1] / th["chi"][small_a] - 1)
    assert np.all(err_1000 > err_100)


def test_gamma_equals_the_quantization_slope(measured) -> None:
    th = _exp()
    growing = ~th["saturated"].astype(bool)
    assert growing.sum() == 14
    # derivative slopes at k_* = 100: worst predicted truncation (k_*/K)^(2bm-q) at
    # (a, b, m) = (1.2, 1.1, 0.7); measured 6.8e-3
    np.testing.assert_allclose(
        measured["gamma_deriv"][growing, 0], th["gamma"][growing], rtol=1.5e-2
    )
    # dL_Q itself, where the head constant zeta(1-q) q / k_*^q is small (q >= 0.9; 0.85%
    # measured, 2% tolerance)
    q = 1 + POINTS[:, 1] - POINTS[:, 0]
    clean = q >= 0.9 - 1e-12
    np.testing.assert_allclose(measured["gamma_direct"][clean, 0], th["gamma"][clean], rtol=2e-2)


def test_chi_plus_gamma_equals_rho_from_measured_slopes(measured) -> None:
    """The invariant from MEASURED slopes, against rho = n/m put into g, where 1+b-a > 0."""
    q = 1 + POINTS[:, 1] - POINTS[:, 0]
    rho = POINTS[:, 3] / POINTS[:, 2]
    ok = q > 0
    total = measured["chi_deriv"][ok, 0] + measured["gamma_deriv"][ok, 0]
    # each slope within 1.5e-2 of its exponent and chi, gamma < rho: 1.5e-2 of rho for the sum
    # (measured 4.7e-3 at worst)
    np.testing.assert_allclose(total, rho[ok], rtol=1.5e-2)


def test_quantization_saturates_when_1_plus_b_minus_a_is_negative(measured) -> None:
    th = _exp()
    q = 1 + POINTS[:, 1] - POINTS[:, 0]
    sat = q < 0
    assert sat.sum() == 2
    assert np.all(th["saturated"][sat]) and np.all(th["gamma"][sat] == 0.0)
    assert not np.any(th["saturated"][q > 0])
    rho_over_b = POINTS[:, 3] / (POINTS[:, 2] * POINTS[:, 1])
    slope_100, slope_1000 = measured["gamma_direct"][sat, 0], measured["gamma_direct"][sat, 1]
    # the measured slope falls towards 0 as the frontier moves out ...
    assert np.all(slope_1000 < 0.5 * slope_100)
    assert np.all((slope_1000 >= 0) & (slope_1000 < 0.1 * np.abs(q[sat]) * rho_over_b[sat]))
    # ... because dL_Q approaches a finite limit, by a power law: d dL_Q / d log t ∝
    # t^((1+b-a) rho/b), with the same 1.5e-2 as the growing case
    np.testing.assert_allclose(
        measured["gamma_deriv"][sat, 0], q[sat] * rho_over_b[sat], rtol=1.5e-2
    )
    # the marginal q = 0: derived says saturated (gamma = 0); the measured slope is the
    # logarithmic (rho/b) / log(k_*)-like one, smaller at the larger k_*
    marginal = np.abs(q) < 1e-12
    assert np.all(th["saturated"][marginal]) and np.all(th["gamma"][marginal] == 0.0)
    assert np.all(measured["gamma_direct"][marginal, 1] < measured["gamma_direct"][marginal, 0])


# --------------------------------------------------------------------------- pruning


@functools.cache
def _pruning_exact(metric: str):
    """dL_P over (record, cut) pairs: vmap over records of a vmap over cuts."""

    def one(a, b, m, n, t, k_cut):
        spec, p = Spectrum(a, b, AMP, LAM), GParams(C, m, n)
        return laws.pruning(
            t,
            K_PRUNE,
            1.0 - k_cut / K_PRUNE,
            spec,
            p,
            MONOMIAL,
            tier="exact",
            metric=metric,
            k_max=int(K_PRUNE),
        )

    inner = jax.vmap(one, in_axes=(None, None, None, None, None, 0))
    return jax.jit(jax.vmap(inner))


# points for pruning: the truncation of the sums at K falls off as (k_*/K)^(2bm - q), so keep
# 2bm - q >= 1.3 (m = 1.4 and m = 1.0) with k_* = 100, K = 3e4
PRUNE_POINTS = np.array([(a, b, m, n) for a, b in AB for m, n in ((1.4, 0.6), (1.0, 1.6))])


def _run_pruning(points, ts, cuts, metric="seed"):
    cols = [jnp.asarray(c) for c in points.T]
    return np.asarray(_pruning_exact(metric)(*cols, jnp.asarray(ts), jnp.asarray(cuts)))


def test_pruning_slope_below_the_frontier() -> None:
    """-d dL_P / d k_cut = w_{k_cut}^2 phi^2 ∝ k_cut^(b-a) for k_cut << k_*: slope b - a."""
    pts = PRUNE_POINTS
    ts = t_for_k_star(1e4, pts[:, 1], pts[:, 2], pts[:, 3])
    # unit steps between integer cuts isolate single modes: k = 201 and k = 401
    cuts = np.broadcast_to(np.array([200.0, 201.0, 400.0, 401.0]), (len(pts), 4))
    th = _exp(pts)
    for metric, want in (("seed", th["pruning_slope"] - 1.0), ("function", -pts[:, 0])):
        d = _run_pruning(pts, ts, cuts, metric)
        removed_201, removed_401 = d[:, 0] - d[:, 1], d[:, 2] - d[:, 3]
        slope = np.log(removed_401 / removed_201) / np.log(401.0 / 201.0)
        # phi_k = 1 - exp(-(k_*/k)^(bm)) with k_*/k >= 25 is 1 to ~1e-12; the two pruned sums
        # differ by one mode (relative rounding ~1e-13 of the sums): 1e-6 absolute
        np.testing.assert_allclose(slope, want, rtol=0, atol=1e-6)


def test_pruning_curve_collapses_on_theta() -> None:
    """Seed eq. 23: at fixed theta = k_cut/k_*, dL_P ∝ k_*^(1+b-a) ∝ t^((1+b-a) rho/b)."""
    pts, h = PRUNE_POINTS, 0.5
    th = _exp(pts)
    ks = np.array(
        [
            100.0 * np.exp(-h * pts[:, 3] / (pts[:, 2] * pts[:, 1])),
            100.0 * np.exp(h * pts[:, 3] / (pts[:, 2] * pts[:, 1])),
        ]
    ).T
    ts = t_for_k_star(100.0, pts[:, 1], pts[:, 2], pts[:, 3])[:, None] * np.exp([-h, h])
    np.testing.assert_allclose(
        ks,
        [
            [
                float(derived.k_star(t, Spectrum(*pt[:2], AMP, LAM), GParams(C, *pt[2:]), MONOMIAL))
                for t in row
            ]
            for pt, row in zip(pts, ts, strict=True)
        ],
        rtol=1e-10,
    )
    for theta in (0.3, 0.6):
        # sum over k > k_cut ~ integral from k_cut + 1/2: the cut at theta k_* - 1/2
        cuts = theta * ks - 0.5
        d = np.array([_run_pruning(pts, ts[:, j], cuts[:, j : j + 1])[:, 0] for j in range(2)]).T
        slope = np.log(d[:, 1] / d[:, 0]) / (2 * h)
        want = th["pruning_slope"] * th["rho_over_b"]
        # discreteness O((theta k_*)^-2) ~ 1e-3 of the value, i.e. ~1e-4 on a slope over 2h = 1,
        # and truncation (k_*/K)^(2bm-q): measured <= 3.3e-3 relative and 1.1e-4 absolute (the
        # marginal q = 0, whose exponent is 0): 5e-3 relative plus 3e-4 absolute
        np.testing.assert_allclose(slope, want, rtol=5e-3, atol=3e-4)


def test_rho_over_b_from_the_pruning_critical_point() -> None:
    """The critical cut k_c(t) of the exact pruning curve moves as t^(rho/b).

    ``k_c`` is where the pruned energy equals that of ``k_c`` modes at the cut's level:
    ``dL_P(k_c - 1/2) = k_c w^2(k_c)``. In the continuum ``dL_P(theta k_*) / (theta k_* w^2)``
    is a decreasing function of ``theta`` alone, so ``k_c ∝ k_*`` with no reference to the
    frontier formula; here it is located on the exact sums by a coarse then a fine grid.
    """
    pts, h = PRUNE_POINTS, 0.5
    th = _exp(pts)
    rows = np.repeat(pts, 2, axis=0)
    ts = t_for_k_star(100.0, rows[:, 1], rows[:, 2], rows[:, 3]) * np.exp(
        np.tile([-h, h], len(pts))
    )
    a, b = rows[:, 0], rows[:, 1]
    k_guess = 100.0 * np.exp(np.tile([-h, h], len(pts)) * rows[:, 3] / (rows[:, 2] * rows[:, 1]))

    def criterion(u):  # log dL_P(u - 1/2) - log(u w^2(u)), decreasing in u
        d = _run_pruning(rows, ts, u - 0.5)
        return np.log(d) - np.log(u * AMP / LAM * u ** (b - a)[:, None])

    grid = np.exp(np.linspace(np.log(k_guess / 50), np.log(3 * k_guess), 24).T)
    crit = criterion(grid)
    j = np.argmax(np.diff(np.sign(crit), axis=1) < 0, axis=1)
    assert np.all(crit[np.arange(len(j)), j] > 0) and np.all(crit[np.arange(len(j)), j + 1] < 0)
    fine = np.exp(
        np.linspace(
            np.log(grid[np.arange(len(j)), j]), np.log(grid[np.arange(len(j)), j + 1]), 16
        ).T
    )
    crit = criterion(fine)
    j = np.argmax(np.diff(np.sign(crit), axis=1) < 0, axis=1)
    i = np.arange(len(j))
    x0, x1 = np.log(fine[i, j]), np.log(fine[i, j + 1])
    k_c = np.exp(x0 - crit[i, j] * (x1 - x0) / (crit[i, j + 1] - crit[i, j])).reshape(len(pts), 2)
    slope = np.log(k_c[:, 1] / k_c[:, 0]) / (2 * h)
    # discreteness and truncation: measured <= 1.1e-3 relative; 5e-3 tolerance
    np.testing.assert_allclose(slope, th["rho_over_b"], rtol=5e-3)
    # and the critical cut sits at a fixed fraction of the frontier, inside it
    assert np.all(
        (k_c / k_guess.reshape(len(pts), 2) > 0.1) & (k_c / k_guess.reshape(len(pts), 2) < 1.0)
    )


# --------------------------------------------------------------------------- frontier, density

FAMILY_PARAMS = {
    "ntk": GParams(c=0.8),
    "feature": GParams(c=0.8, n=1.5),
    "monomial": GParams(c=0.8, m=0.8, n=1.3),
    "logcorr": GParams(c=0.8, m=0.8, n=1.3, tau=100.0),
    "ridge": GParams(c=0.8, kap=1e-5),
}
_TGRID = jnp.linspace(-2.0, 30.0, 64)
_NGRID = 1.3 * jnp.exp(0.2 * jnp.sin(0.4 * _TGRID))
FAMILY_PARAMS["elastic"] = GParams(
    c=0.8, m=0.8, n=1.3, tgrid=_TGRID, ngrid=_NGRID, hgrid=elastic_integral(_TGRID, _NGRID)
)


@pytest.mark.parametrize("name", tuple(FAMILIES))
def test_k_star_moves_as_t_to_the_rho_over_b(name: str) -> None:
    fam, p, spec = get_family(name), FAMILY_PARAMS[name], Spectrum(1.7, 1.4, AMP, LAM)
    ts = np.geomspace(1.0, 1e4, 9)
    h = 1e-3
    ks = np.asarray(derived.k_star(jnp.asarray(ts), spec, p, fam))
    slope = np.log(
        np.asarray(derived.k_star(jnp.asarray(ts * np.exp(h)), spec, p, fam))
        / np.asarray(derived.k_star(jnp.asarray(ts * np.exp(-h)), spec, p, fam))
    ) / (2 * h)
    ex = derived.exponents(spec, p, fam, jnp.asarray(ts))
    # FD of a smooth function, h = 1e-3: truncation ~1e-7 relative (ridge: Newton to 1e-12)
    np.testing.assert_allclose(slope, np.asarray(ex.rho_over_b), rtol=1e-6)
    # k_* is where g(lambda_k, t) = 1 with lambda_k = Lam k^-b read at real k
    phi = np.asarray(laws.learned_fraction(jnp.asarray(ks), jnp.asarray(ts), spec, p, fam))
    np.testing.assert_allclose(phi, 1.0 - np.exp(-1.0), rtol=1e-9)
    if name in ("ntk", "feature", "monomial"):
        m, n = (float(v) for v in fam.effective(p))
        np.testing.assert_allclose(np.asarray(ex.rho_over_b), n / (m * 1.4), rtol=1e-12)


def test_critical_pruning_rate() -> None:
    spec, p = Spectrum(1.7, 1.4, AMP, LAM), GParams(c=0.8, m=0.8, n=1.3)
    ts = jnp.asarray(np.geomspace(1.0, 1e6, 25))
    K = 3e3
    ks = np.asarray(derived.k_star(ts, spec, p, MONOMIAL))
    r = np.asarray(derived.critical_pruning_rate(ts, K, spec, p, MONOMIAL))
    np.testing.assert_allclose(r, np.clip(1.0 - ks / K, 0.0, 1.0), rtol=1e-14, atol=0)
    # the plateau narrows as training goes on, and is gone once the frontier reaches K
    assert np.all(np.diff(r) <= 0) and r[0] > 0.9 and np.all(r[ks >= K] == 0.0)
    inside = ks < K
    slope = np.diff(np.log(1.0 - r[inside])) / np.diff(np.log(np.asarray(ts)[inside]))
    np.testing.assert_allclose(slope, 1.3 / (0.8 * 1.4), rtol=1e-10)


@pytest.mark.parametrize("name", tuple(FAMILIES))
def test_density_exponents_from_finite_differences(name: str) -> None:
    fam, p, spec = get_family(name), FAMILY_PARAMS[name], Spectrum(1.7, 1.4, AMP, LAM)
    kappa, nu, h = 1e-3, 1.0, 1e-4

    # compiled once for scalars: op-by-op evaluation of ridge's Newton solve costs seconds
    density = jax.jit(lambda C, P: laws.density(C, P, kappa * P**nu, spec, p, fam))

    def delta(C, P):
        return float(density(C, P))

    regimes = []
    for C, P in ((1e9, 1e7), (1e11, 1e8), (1e14, 1e5), (1e16, 1e6)):
        t = C / P
        below = float(derived.k_star(t, spec, p, fam)) < kappa * P**nu
        regimes.append(below)
        d_logC = (np.log(delta(C * np.exp(h), P)) - np.log(delta(C * np.exp(-h), P))) / (2 * h)
        d_logP = (np.log(delta(C, P * np.exp(h))) - np.log(delta(C, P * np.exp(-h)))) / (2 * h)
        rho_over_b = float(derived.exponents(spec, p, fam, t).rho_over_b)
        if below:
            # FD with h = 1e-4 of a smooth function: ~1e-8 relative (ridge/logcorr: rho(t)
            # varies with t, but at the point the local exponents are still rho/b and -(1+rho/b))
            x, y = derived.density_exponents(rho_over_b)
            np.testing.assert_allclose([d_logC, d_logP], [x, y], rtol=1e-6)
        else:  # capacity-limited: delta = kappa P^(nu-1), flat in C
            np.testing.assert_allclose([d_logC, d_logP], [0.0, nu - 1.0], atol=1e-9)
    assert regimes == [True, True, False, False]


def test_exponents_follow_rho_of_t_for_logcorr_and_ridge() -> None:
    spec = Spectrum(1.9, 1.6, AMP, LAM)
    ts = jnp.asarray(np.geomspace(1.0, 1e6, 7))
    for name in ("logcorr", "ridge"):
        fam, p = get_family(name), FAMILY_PARAMS[name]
        ex = derived.exponents(spec, p, fam, ts)
        rho = np.asarray(fam.rho(jnp.log(ts), p))
        np.testing.assert_allclose(np.asarray(ex.rho), rho, rtol=1e-14)
        np.testing.assert_allclose(np.asarray(ex.chi) + np.asarray(ex.gamma), rho, rtol=1e-12)
        assert np.ptp(rho) > 1e-3  # it does vary with t
        assert not bool(ex.saturated)
