"""The ``g`` families: values, elasticities, frontier and ``rho(t)`` against independent references.

The references are plain NumPy/SciPy re-implementations of the table of families in
docs/theory.md (written here from the formulas, not from the package), root-finding by
``scipy.optimize.brentq`` for the frontier, and central finite differences for every derivative
(elasticities, ``rho``, the frontier's recession ``-d log lambda_* / d log t``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

from gsf_infer.model.forward.families import FAMILIES, GParams, get_family

NAMES = ("ntk", "feature", "monomial", "logcorr", "ridge")

# parameter sets per family: (c, m, n, tau, kap); unused ones are ignored by the family
PARAMS = {
    "ntk": [GParams(c=0.7), GParams(c=3.0)],
    "feature": [GParams(c=0.7, n=1.0), GParams(c=2.0, n=1.6)],
    "monomial": [GParams(c=0.8, m=0.7, n=1.6), GParams(c=1.3, m=1.4, n=0.6)],
    "logcorr": [GParams(c=0.8, m=0.7, n=1.3, tau=30.0), GParams(c=1.5, m=1.4, n=0.6, tau=2.0)],
    "ridge": [GParams(c=0.9, kap=1e-4), GParams(c=2.0, kap=1e-2), GParams(c=1.0, kap=0.0)],
}
CASES = [(name, i) for name in NAMES for i in range(len(PARAMS[name]))]


def g_ref(name: str, lam: np.ndarray, t: np.ndarray, p: GParams) -> np.ndarray:
    """``g(lambda, t)`` straight from the table of families (docs/theory.md), in NumPy."""
    lam, t = np.asarray(lam, float), np.asarray(t, float)
    if name == "ntk":
        return p.c * lam * t
    if name == "feature":
        return p.c * lam * t**p.n
    if name == "monomial":
        return p.c * lam**p.m * t**p.n
    if name == "logcorr":
        return p.c * lam**p.m * t**p.n * np.log(np.e + t / p.tau)
    # ridge: theta/w = lam/(lam+kap) (1 - exp(-(lam+kap) c t)), g = -log(1 - theta/w), where
    # 1 - theta/w = (kap + lam exp(-(lam+kap) c t)) / (lam+kap), taken in logs (no underflow)
    # (and, where theta/w is small, as -log1p(-theta/w), which keeps g's relative precision)
    rate = lam + p.kap
    phi = lam / rate * -np.expm1(-rate * p.c * t)
    with np.errstate(divide="ignore"):  # log(kap) = -inf for kap = 0 is what logaddexp wants
        log_resid = np.logaddexp(np.log(p.kap), np.log(lam) - rate * p.c * t) - np.log(rate)
    return np.where(phi < 0.5, -np.log1p(-np.minimum(phi, 0.5)), -log_resid)


def log_lambda_star_ref(name: str, t: float, p: GParams) -> float:
    """Root in ``log lambda`` of ``log g(lambda, t) = 0`` by bracketing (brentq)."""

    def f(x: float) -> float:
        return float(np.log(g_ref(name, np.exp(x), t, p)))

    lo, hi = -200.0, 50.0
    if name == "ridge" and p.kap > 0:
        # g(lambda, t) < log(1 + lambda/kap); the root lies above lambda = kap (e - 1)
        lo = float(np.log(p.kap * (np.e - 1.0)))
        if f(lo) >= 0.0:  # the frontier has reached its floor (within rounding)
            return lo
    return brentq(f, lo, hi, xtol=1e-14, rtol=1e-14, maxiter=500)


LAMS = np.geomspace(1e-12, 10.0, 23)
TIMES = np.geomspace(1e-3, 1e9, 19)


@pytest.mark.parametrize(("name", "i"), CASES)
def test_phi_resid_match_reference(name: str, i: int) -> None:
    fam, p = get_family(name), PARAMS[name][i]
    lam, t = np.meshgrid(LAMS, TIMES, indexing="ij")
    phi, resid = fam.phi_resid(jnp.asarray(lam), jnp.asarray(t), p)
    g = g_ref(name, lam, t, p)
    # both computed without cancellation on both sides: relative agreement to a few ulp of the
    # reference's own rounding (1e-12 leaves room for the log/exp round trips of log_g); atol
    # 1e-300 only because XLA flushes subnormals (< 2.2e-308) to zero
    np.testing.assert_allclose(np.asarray(phi), -np.expm1(-g), rtol=1e-12, atol=1e-300)
    # exp(-g) turns g's relative rounding (a few ulp) into |g| times that: scale the tolerance
    err = np.abs(np.asarray(resid) - np.exp(-g))
    assert np.all(err <= 1e-13 * (1.0 + g) * np.exp(-g) + 1e-300)
    # the two halves add up to one (absolute: each is in [0, 1])
    np.testing.assert_allclose(np.asarray(phi + resid), 1.0, rtol=0, atol=4e-16)


@pytest.mark.parametrize(("name", "i"), CASES)
def test_log_g_and_elasticities_against_finite_differences(name: str, i: int) -> None:
    fam, p = get_family(name), PARAMS[name][i]
    lam, t = np.meshgrid(np.geomspace(1e-6, 1.0, 7), np.geomspace(1e-1, 1e6, 8), indexing="ij")
    x, y = np.log(lam), np.log(t)
    log_g = np.asarray(fam.log_g(jnp.asarray(x), jnp.asarray(y), p))
    g = g_ref(name, lam, t, p)
    # ridge evaluates g = -log(1 - theta/w) from the residual, which cancels where g << 1: its
    # log g carries an absolute error of a few eps/g there (harmless: no law uses log g away from
    # the frontier g = 1); the other families are closed forms, good to rounding
    slack = 8 * np.finfo(float).eps / g if name == "ridge" else np.zeros_like(g)
    finite = np.ones_like(g, bool)
    if name == "ridge" and p.kap == 0.0:
        # without decay the residual exp(-g) underflows for g > ~745 and log g becomes inf
        # (again only away from the frontier); compare where it is representable
        finite = g < 700.0
        assert np.all(np.isposinf(log_g[~finite]))
    assert np.all(np.abs(log_g - np.log(g))[finite] <= (1e-12 + slack)[finite])
    e_lam, e_t = fam.elasticities(jnp.asarray(x), jnp.asarray(y), p)
    h = 1e-4  # central differences: truncation ~ h^2 * (third derivative) ~ 1e-8, rounding ~ 1e-12

    def lg(xx, yy):
        return np.log(g_ref(name, np.exp(xx), np.exp(yy), p))

    fd_lam = (lg(x + h, y) - lg(x - h, y)) / (2 * h)
    fd_t = (lg(x, y + h) - lg(x, y - h)) / (2 * h)
    # ridge: the same cancellation (relative eps/g in the elasticities where g << 1)
    ok = (g > 1e-6) & finite if name == "ridge" else np.ones_like(g, bool)
    assert ok.sum() >= 0.5 * ok.size
    np.testing.assert_allclose(np.asarray(e_lam)[ok], fd_lam[ok], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(np.asarray(e_t)[ok], fd_t[ok], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(("name", "i"), CASES)
def test_frontier_solves_g_equal_one(name: str, i: int) -> None:
    fam, p = get_family(name), PARAMS[name][i]
    log_t = np.log(TIMES)
    x = np.asarray(fam.log_lambda_star(jnp.asarray(log_t), p))
    ref = np.array([log_lambda_star_ref(name, t, p) for t in TIMES])
    # brentq to 1e-14 in log lambda; Newton (ridge) to its fixed point: 1e-9 absolute in
    # log lambda is far below anything a fit resolves
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-9)
    g_at = g_ref(name, np.exp(x), TIMES, p)
    exists = ~((name == "ridge") & (x <= np.log(max(p.kap, 1e-300) * (np.e - 1.0)) + 1e-12))
    np.testing.assert_allclose(g_at[exists], 1.0, rtol=1e-9)
    # the frontier recedes: lambda_* non-increasing in t (strictly where it exists)
    assert np.all(np.diff(x) <= 1e-12)


@pytest.mark.parametrize("kap", [1e-6, 1e-4, 1e-2])
@pytest.mark.parametrize("c", [0.1, 1.0, 10.0])
def test_ridge_frontier_and_its_floor(kap: float, c: float) -> None:
    """Weight decay stops the frontier at lambda = kap (e - 1); g(lambda_*, t) = 1 until then."""
    fam, p = get_family("ridge"), GParams(c=c, kap=kap)
    times = np.geomspace(1e-3, 1e14, 70)
    x = np.asarray(fam.log_lambda_star(jnp.log(jnp.asarray(times)), p))
    floor = np.log(kap * (np.e - 1.0))
    assert np.all(np.isfinite(x))
    assert np.all(x >= floor - 1e-12)
    # where the frontier exists g = 1 to Newton precision (the same 1e-9 as above)
    g_at = g_ref("ridge", np.exp(x), times, p)
    np.testing.assert_allclose(g_at, 1.0, rtol=1e-9)
    # early on weight decay is irrelevant: the frontier is the ntk one, lambda_* ~ 1/(c t)
    early = times * c * kap < 1e-6
    np.testing.assert_allclose(x[early], -np.log(c * times[early]), atol=1e-4)
    # late the frontier reaches the documented floor kap (e - 1) (and stays there)
    late = times * c * kap > 1e3
    assert late.any()
    np.testing.assert_allclose(x[late], floor, rtol=0, atol=1e-9)
    # and rho -> 0 there (the frontier has stopped moving); rho = 1 in the early phase
    rho = np.asarray(fam.rho(jnp.log(jnp.asarray(times)), p))
    assert np.all(rho[late] < 1e-6)
    np.testing.assert_allclose(rho[early], 1.0, atol=1e-5)


def test_ridge_without_decay_is_ntk() -> None:
    ridge, ntk = get_family("ridge"), get_family("ntk")
    p = GParams(c=1.7, kap=0.0)
    lam, t = np.meshgrid(np.geomspace(1e-8, 1, 9), np.geomspace(1e-2, 1e7, 10), indexing="ij")
    for a, b in zip(ridge.phi_resid(lam, t, p), ntk.phi_resid(lam, t, p), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-300)
    log_t = jnp.log(jnp.asarray(np.geomspace(1e-2, 1e9, 12)))
    np.testing.assert_allclose(
        np.asarray(ridge.log_lambda_star(log_t, p)),
        np.asarray(ntk.log_lambda_star(log_t, p)),
        atol=1e-9,
    )


@pytest.mark.parametrize(("name", "i"), CASES)
def test_rho_against_finite_differences_along_the_frontier(name: str, i: int) -> None:
    """rho(t) = E_t / E_lambda at lambda_*(t) = -d log lambda_* / d log t, both by FD."""
    fam, p = get_family(name), PARAMS[name][i]
    times = np.geomspace(1e-1, 1e7, 9)
    if name == "ridge" and p.kap > 0:
        # keep to where the frontier still moves (before the floor; rho -> 0 there, see above)
        times = times[times * p.c * p.kap < 30.0]
    rho = np.asarray(fam.rho(jnp.log(jnp.asarray(times)), p))
    h = 1e-4
    e_ratio, recession = [], []
    for t in times:
        x = log_lambda_star_ref(name, t, p)
        y = np.log(t)

        def lg(xx, yy):
            return np.log(g_ref(name, np.exp(xx), np.exp(yy), p))

        e_lam = (lg(x + h, y) - lg(x - h, y)) / (2 * h)
        e_t = (lg(x, y + h) - lg(x, y - h)) / (2 * h)
        e_ratio.append(e_t / e_lam)
        hs = 1e-3  # brentq roots to 1e-14: the recession FD is good to ~1e-10 + h^2 terms
        recession.append(
            -(
                log_lambda_star_ref(name, t * np.exp(hs), p)
                - log_lambda_star_ref(name, t / np.exp(hs), p)
            )
            / (2 * hs)
        )
    # FD of log g in log t with h = 1e-4 has a rounding floor ~1e-12 (log g ~ 0 at the
    # frontier); near the ridge floor rho itself drops to ~1e-9, hence the absolute part
    np.testing.assert_allclose(rho, e_ratio, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rho, recession, rtol=1e-5, atol=1e-8)
    if name in ("ntk", "feature", "monomial"):
        m, n = {"ntk": (1.0, 1.0), "feature": (1.0, p.n), "monomial": (p.m, p.n)}[name]
        np.testing.assert_allclose(rho, n / m, rtol=1e-12)
    if name == "logcorr":
        # the log correction raises the temporal elasticity above n, by less than 1/log(e+t/tau)
        m, n = p.m, p.n
        assert np.all(rho > n / m)
        assert np.all(rho < (n + 1.0 / np.log(np.e + times / p.tau)) / m + 1e-12)


def test_effective_exponents_and_registry() -> None:
    p = GParams(c=2.0, m=0.6, n=1.7, tau=3.0, kap=0.1)
    assert set(FAMILIES) == {*NAMES, "elastic"}  # elastic: tests/test_elastic.py
    expected = {
        "ntk": (1.0, 1.0),
        "feature": (1.0, 1.7),
        "monomial": (0.6, 1.7),
        "logcorr": (0.6, 1.7),
        "ridge": (1.0, 1.0),
    }
    for name, (m, n) in expected.items():
        fam = get_family(name)
        assert fam.name == name
        got = fam.effective(p)
        assert (float(got[0]), float(got[1])) == (m, n)
    assert get_family("monomial").shape == ("m", "n")
    assert get_family("ridge").shape == ("kap",)
    with pytest.raises(KeyError, match="unknown g family 'lazy'.*ntk, feature, monomial"):
        get_family("lazy")


@pytest.mark.parametrize("name", NAMES)
def test_family_functions_jit_vmap_grad(name: str) -> None:
    fam = get_family(name)
    p = PARAMS[name][0]
    log_t = jnp.log(jnp.asarray(np.geomspace(1.0, 1e5, 6)))
    eager = fam.rho(log_t, p)
    rho = jax.jit(lambda x: fam.rho(x, p))
    np.testing.assert_allclose(np.asarray(rho(log_t)), eager, rtol=1e-12)
    # one time at a time (compiled once for a scalar; eager op-by-op costs seconds for ridge)
    looped = np.array([float(rho(x)) for x in log_t])
    np.testing.assert_allclose(
        np.asarray(jax.vmap(lambda x: fam.rho(x, p))(log_t)), looped, rtol=1e-12
    )
    grads = jax.jit(
        jax.grad(lambda q: jnp.sum(fam.rho(log_t, q) + fam.log_lambda_star(log_t, q)))
    )(p)
    assert all(np.all(np.isfinite(np.asarray(v))) for v in grads)
