"""The ``elastic`` family: ``g = c lambda^m exp(int_0^tau n)``, ``rho(tau) = n(tau)/m`` on a grid.

References: the closed form of ``monomial`` (``n`` constant: ``H = n tau`` exactly, the
trapezoid rule and the Hermite interpolant being exact for linear functions), the closed-form
integral of ``n_0 e^{k s}`` with the trapezoid rule's error bound ``h^2/12 |tau| max|n''|``,
SciPy's adaptive quadrature, and central finite differences of ``log g`` for the elasticities.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from gsf_infer.model.forward import laws
from gsf_infer.model.forward.families import GParams, elastic_integral, get_family, hermite

ELASTIC, MONOMIAL = get_family("elastic"), get_family("monomial")
GRID = np.linspace(-4.3, 5.1, 48)


def elastic_params(c, m, n0, f, grid=GRID) -> GParams:
    """``GParams`` of ``elastic`` with ``n(tau_j) = n0 exp(f(tau_j))``."""
    ngrid = n0 * np.exp(f(grid))
    return GParams(c=c, m=m, n=n0, tgrid=jnp.asarray(grid), ngrid=jnp.asarray(ngrid),
                   hgrid=elastic_integral(jnp.asarray(grid), jnp.asarray(ngrid)))


def test_constant_elasticity_is_the_monomial_family_exactly():
    c, m, n0 = 2.5, 0.8, 1.3
    el = elastic_params(c, m, n0, lambda s: 0.0 * s)
    mono = GParams(c=c, m=m, n=n0)
    log_lam = jnp.linspace(-6.0, 2.0, 9)[:, None]
    # inside the grid, on its nodes, and beyond both ends (linear continuation)
    log_t = jnp.asarray(np.concatenate([np.linspace(-8.0, 9.0, 41), GRID]))
    np.testing.assert_allclose(ELASTIC.log_g(log_lam, log_t, el),
                               MONOMIAL.log_g(log_lam, log_t, mono), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ELASTIC.log_lambda_star(log_t, el),
                               MONOMIAL.log_lambda_star(log_t, mono), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ELASTIC.rho(log_t, el), n0 / m, rtol=1e-12)
    # every kind's sum through the same laws
    spec = laws.Spectrum(1.7, 1.35, 0.8, 1.3)
    t = jnp.asarray(np.geomspace(0.05, 50.0, 7))
    for law in (
        lambda g, fam: laws.loss(t, 300.0, spec, g, 0.4, fam),
        lambda g, fam: laws.quantization(t, 300.0, 0.01, spec, g, fam),
        lambda g, fam: laws.pruning(t, 300.0, 0.7, spec, g, fam),
        lambda g, fam: laws.log_k_star(t, spec, g, fam),
    ):
        np.testing.assert_allclose(law(el, ELASTIC), law(mono, MONOMIAL), rtol=1e-11)


def test_cumulative_quadrature_against_the_exact_integral():
    n0, k = 1.2, 0.3
    errors = []
    for points in (24, 48, 96):
        grid = np.linspace(-4.3, 5.1, points)
        h = grid[1] - grid[0]
        H = np.asarray(elastic_integral(jnp.asarray(grid), jnp.asarray(n0 * np.exp(k * grid))))
        exact = n0 * np.expm1(k * grid) / k
        # trapezoid error <= h^2/12 |tau| max|n''| (and the anchoring at 0 is of higher order)
        bound = h**2 / 12 * np.abs(grid) * n0 * k**2 * np.exp(k * np.maximum(grid, 0)) + 1e-12
        err = np.abs(H - exact)
        assert np.all(err <= 1.05 * bound + h**4), (points, np.max(err / bound))
        errors.append(np.max(err))
    # second order: halving h quarters the error
    assert 3.5 < errors[0] / errors[1] < 4.5 and 3.5 < errors[1] / errors[2] < 4.5
    # a drift that is not exponential, against adaptive quadrature; H(0) = 0 exactly
    f = lambda s: 0.25 * np.sin(0.9 * s) - 0.1 * s  # noqa: E731
    p = elastic_params(1.0, 1.0, n0, f)
    taus = np.array([-3.7, -1.0, 0.0, 0.37, 2.2, 4.9])
    want = [quad(lambda s: n0 * np.exp(f(s)), 0.0, x)[0] for x in taus]
    got = np.asarray(hermite(jnp.asarray(taus), p.tgrid, p.hgrid, p.ngrid))
    fine = np.linspace(GRID[0], GRID[-1], 20001)
    n2 = np.max(np.abs(np.gradient(np.gradient(n0 * np.exp(f(fine)), fine), fine)))
    h = GRID[1] - GRID[0]
    assert np.all(np.abs(got - want) <= h**2 / 12 * np.abs(taus) * n2 + h**4)
    assert float(hermite(0.0, p.tgrid, p.hgrid, p.ngrid)) == pytest.approx(0.0, abs=1e-14)


def test_rho_from_finite_differences_of_log_g():
    m, n0 = 0.8, 1.1
    f = lambda s: 0.3 * np.tanh(s - 1.0) + 0.05 * s  # noqa: E731
    p = elastic_params(1.7, m, n0, f)
    h = 1e-5

    def log_g(ll, lt):
        return np.asarray(ELASTIC.log_g(jnp.asarray(ll), jnp.asarray(lt), p))

    for log_t in (GRID[5:-5:7], np.array([-2.33, 0.41, 3.07])):
        log_lam = np.asarray(ELASTIC.log_lambda_star(jnp.asarray(log_t), p))
        e_t = (log_g(log_lam, log_t + h) - log_g(log_lam, log_t - h)) / (2 * h)
        e_lam = (log_g(log_lam + h, log_t) - log_g(log_lam - h, log_t)) / (2 * h)
        np.testing.assert_allclose(e_lam, m, rtol=1e-8)
        # at the nodes E_t is n(tau_j) up to the FD error; between them, up to O(h_grid^2)
        on_nodes = np.isin(log_t, GRID)
        tol = 1e-6 if on_nodes.all() else 5e-3
        np.testing.assert_allclose(e_t / e_lam, n0 * np.exp(f(log_t)) / m, rtol=tol)
        np.testing.assert_allclose(np.asarray(ELASTIC.rho(jnp.asarray(log_t), p)), e_t / e_lam,
                                   rtol=1e-6)
    # g increases in lambda and t where n, m > 0
    ll, lt = np.meshgrid(np.linspace(-5, 2, 15), np.linspace(-8, 9, 40))
    g = log_g(ll, lt)
    assert np.all(np.diff(g, axis=0) > 0) and np.all(np.diff(g, axis=1) > 0)


def test_elastic_model_without_drift_is_the_monomial_model_plus_its_own_prior():
    """Log joint of ``elastic`` at zero HSGP weights (``f = 0``): ``monomial``'s + their prior.

    Independent reference: SciPy's standard normal density of the weights; everything else must
    cancel exactly against the ``monomial`` model. With a freed amplitude (priors table) its
    half-normal density joins, and any weights with a positive amplitude change the likelihood.
    """
    from dataclasses import replace

    from numpyro.infer.util import log_density
    from scipy import stats

    from gsf_infer.data.dataset import build_model_data
    from gsf_infer.data.records import records_from_frame
    from gsf_infer.model.build import build_model
    from gsf_infer.model.elastic import BASIS
    from gsf_infer.model.priors import PriorSet
    from gsf_infer.model.settings import ModelSettings
    from gsf_infer.simulate.gsf import GsfSimConfig, simulate_gsf

    config = GsfSimConfig(family="logcorr", tau=100.0, n=1.0, sizes=(1e6, 1e7), loss_points=6,
                          quantization_points=4, bits=(3, 5), pruning_times=(1e2, 1e4),
                          sparsity_points=4, density_points=4, spectrum_points=6)
    frame, _ = simulate_gsf(config, np.random.default_rng(3))
    data = build_model_data(records_from_frame(frame, path="simulated.csv"))
    priors = PriorSet()
    mono = build_model(data, ModelSettings(model="gsf"), priors)
    elastic = build_model(data, ModelSettings(model="gsf", g="elastic"), priors)
    values = {"a": 1.6, "b": 1.4, "bm": 1.5, "n": 1.2, "k_star": 40.0, "K": 900.0,
              "E_frac": 0.5, "loss_level": 3.0, "quant_scale": 0.01, "pruning_scale": 1e-3,
              "density_scale": 1e-4, "spectrum_scale": 0.3, "target_scale": 0.2,
              "sigma_loss": 0.05, "sigma_quantization": 0.05, "sigma_pruning": 0.05,
              "sigma_density": 0.05, "sigma_spectrum": 0.05,
              "deviation_z": jnp.zeros(len(mono.deviations))}
    values = {k: jnp.asarray(v) for k, v in values.items()}
    base, _ = log_density(mono.fn, (mono.inputs,), {}, values)
    got, trace = log_density(elastic.fn, (elastic.inputs,), {},
                             {**values, "elastic_z": jnp.zeros(BASIS)})
    assert float(got) - float(base) == pytest.approx(BASIS * stats.norm.logpdf(0.0), abs=1e-8)
    assert trace["rho_t"]["value"].shape == (elastic.inputs["consts"]["elastic_grid"].size,)
    np.testing.assert_allclose(trace["rho_t"]["value"], 1.2 / (1.5 / 1.4), rtol=1e-12)
    # weights drawn at random: a drift of rho(t) the records see
    z = np.random.default_rng(0).standard_normal(BASIS)
    drifted, _ = log_density(elastic.fn, (elastic.inputs,), {},
                             {**values, "elastic_z": jnp.asarray(z)})
    assert abs(float(drifted) - float(got)) > 1.0
    # a freed amplitude: at amp -> 0 the weights leave the likelihood alone (f = 0 exactly)
    free = PriorSet(priors={**priors.priors, "elastic_amp": replace(
        priors["elastic_amp"], dist="HalfNormal", args={"scale": 0.2})})
    freed = build_model(data, ModelSettings(model="gsf", g="elastic"), free)
    tiny, _ = log_density(freed.fn, (freed.inputs,), {},
                          {**values, "elastic_z": jnp.asarray(z),
                           "elastic_amp": jnp.asarray(1e-200)})
    want = stats.norm.logpdf(z).sum() + stats.halfnorm.logpdf(1e-200, scale=0.2)
    assert float(tiny) - float(base) == pytest.approx(want, abs=1e-8)


def _curve_tree(rho_draws, prior_draws, t_ref=100.0, t_range=(10.0, 1000.0)):
    """A DataTree shaped like an elastic fit's: rho_t on a grid, rho at t_ref, records' times."""
    import json

    import xarray as xr

    tau = np.linspace(np.log(t_range[0] / t_ref) - 1.0, np.log(t_range[1] / t_ref) + 1.0, 48)

    def group(draws):
        draws = np.asarray(draws, float)
        at_ref = np.array([np.interp(0.0, tau, d) for d in draws.reshape(-1, tau.size)])
        return xr.Dataset(
            {"rho_t": (("chain", "draw", "tau"), draws),
             "rho": (("chain", "draw"), at_ref.reshape(draws.shape[:2]))},
            coords={"tau": tau},
        )

    const = xr.Dataset({"loss_t": ("loss_obs", np.geomspace(*t_range, 30))})
    dt = xr.DataTree.from_dict({"posterior": group(rho_draws), "prior": group(prior_draws),
                                "constant_data": const})
    dt.attrs["scales"] = json.dumps({"t_ref": t_ref})
    return dt, t_ref * np.exp(tau)


def test_elasticity_curve_constant_drifting_and_prior_range():
    """Known bands: a constant, a 30% drift, and a band that returns to the prior's width."""
    from gsf_infer.analysis.elastic import elasticity_curve
    from gsf_infer.output.elastic_plot import plot_rho_t

    rng = np.random.default_rng(1)
    noise = rng.standard_normal((2, 500, 1))
    wide = 1.2 * np.exp(0.3 * rng.standard_normal((2, 500, 48)))  # the prior: +-30% everywhere
    # a constant 1.2 known to +-1%: one value (1.2) lies in every band
    dt, t = _curve_tree(1.2 * (1 + 0.01 * noise) * np.ones((1, 1, 48)), wide)
    curve = elasticity_curve(dt)
    g = curve["groups"]["all"]
    inside = (t >= 10.0) & (t <= 1000.0)
    assert np.array_equal(np.asarray(g["identified"]), inside)
    assert g["constant"] is True and "constant within" in g["sentence"]
    assert np.all(np.asarray(g["low"]) < 1.2) and np.all(np.asarray(g["high"]) > 1.2)
    # rho rising linearly in log t by 30% over the records' range, known to +-1%: no constant
    ramp = 1.0 + 0.3 * np.clip(np.log(t / 10.0) / np.log(100.0), 0, 1)
    dt, t = _curve_tree(ramp * (1 + 0.01 * rng.standard_normal((2, 500, 48))), wide)
    g = elasticity_curve(dt)["groups"]["all"]
    assert g["constant"] is False and "drifts" in g["sentence"]
    assert g["drift"] == pytest.approx(0.3, abs=0.02)
    # the band as wide as the prior's above t = 300: those nodes are left to the prior
    draws = 1.2 * (1 + 0.01 * rng.standard_normal((2, 500, 48)))
    late = t > 300.0
    draws[:, :, late] = wide[:, :, late]
    dt, t = _curve_tree(draws, wide)
    g = elasticity_curve(dt)["groups"]["all"]
    assert np.array_equal(np.asarray(g["identified"]), inside & ~late)
    fig = plot_rho_t(elasticity_curve(dt), {"monomial": {"t": t, "median": np.full(t.size, 1.2)}})
    assert len(fig.axes[0].patches) >= 2  # the two prior-only spans
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_parametric_rho_curves_for_the_overlay():
    """``rho(t)`` of monomial and logcorr fits from their draws, against the closed forms."""
    import json

    import xarray as xr

    from gsf_infer.analysis.elastic import elasticity_comparison, family_rho_curve

    rng = np.random.default_rng(2)
    shape = (2, 300)
    m = 1.0 + 0.05 * rng.standard_normal(shape)
    n = 1.1 + 0.05 * rng.standard_normal(shape)
    tau = np.exp(0.1 * rng.standard_normal(shape))  # in units of t_ref
    b = 1.4 + 0.01 * rng.standard_normal(shape)
    post = xr.Dataset({k: (("chain", "draw"), v) for k, v in
                       {"m": m, "n": n, "tau": tau, "b": b, "k_star": np.full(shape, 30.0),
                        "rho": n / m}.items()})
    t_ref = 100.0
    t = np.geomspace(1.0, 1e5, 25)
    trees = {}
    for g in ("monomial", "logcorr"):
        dt = xr.DataTree.from_dict({"posterior": post})
        dt.attrs.update(scales=json.dumps({"t_ref": t_ref}),
                        model_settings=json.dumps({"g": g}))
        trees[g] = dt
    mono = family_rho_curve(trees["monomial"], t)
    np.testing.assert_allclose(mono["median"], np.median(n / m), rtol=5e-3)  # thinned draws
    assert np.ptp(mono["median"]) == 0.0  # constant in t
    lc = family_rho_curve(trees["logcorr"], t)
    x = t[None, :] / (t_ref * tau.reshape(-1)[:, None])
    ref = (n.reshape(-1)[:, None] + x / ((np.e + x) * np.log(np.e + x))) / m.reshape(-1)[:, None]
    # the overlay thins to 400 of the 600 draws: medians agree to the thinning's noise
    np.testing.assert_allclose(lc["median"], np.median(ref, axis=0), rtol=5e-3)
    assert np.all(np.asarray(lc["low"]) < np.asarray(lc["median"]))
    # compare's bundle: the elastic curve on its grid with both overlays on the same times
    elastic, grid_t = _curve_tree(1.2 * np.ones((2, 50, 48)), 1.2 * np.ones((2, 50, 48)))
    bundle = elasticity_comparison(elastic, trees)
    assert set(bundle["families"]) == {"monomial", "logcorr"}
    np.testing.assert_allclose(bundle["families"]["logcorr"]["t"], grid_t)
