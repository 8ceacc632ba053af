"""The realisation effect (``--discrepancy spectral``): its covariance and its density.

References, each independent of the code under test:

- the joint density against SciPy's multivariate normal with the dense covariance, and the
  leave-one-out values against the conditional normal from partitioning that covariance;
- the draws' covariance against ``diag(d) + F F^T`` (Monte Carlo);
- the bins' terms, added up, against the law's own value (continuum sums);
- the covariance of the log loss when every mode's target power is drawn as ``p_k chi^2_1``
  (the exact discrete sum, NumPy, 4000 realisations) against ``F F^T`` for ``tau = 1``;
- the variance the first-order form leaves out against the Monte Carlo variance of
  ``log(1 + x) - x``, and, on a random-feature run, the posterior's curvature at its optimum
  with and without it (negative control).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from gsf_infer.model.expected import expected, realisation_factor
from gsf_infer.model.realisation import (
    FACTOR_ERROR,
    RANK,
    RealisationNormal,
    mode_grid,
    omitted_variance,
)
from gsf_infer.model.settings import ModelSettings

LAW = {"a": 1.75, "b": 1.5, "k_star": 8.0, "m": 1.0, "n": 1.0}


def dense_case(seed: int = 0):
    """Two runs (5 and 3 records), rank 4, and the block-diagonal dense covariance."""
    rng = np.random.default_rng(seed)
    run = np.array([0, 0, 1, 0, 1, 0, 1, 0])
    n, r = run.size, 4
    loc, e = rng.normal(size=n), rng.normal(size=n)
    diag = rng.uniform(0.05, 0.3, size=n)
    factor = rng.normal(scale=0.4, size=(n, r))
    cov = np.diag(diag) + (factor @ factor.T) * (run[:, None] == run[None, :])
    return run, loc, loc + e, diag, factor, cov


def test_joint_density_equals_the_dense_normal():
    run, loc, y, diag, factor, cov = dense_case()
    d = RealisationNormal(jnp.asarray(loc), jnp.asarray(diag), jnp.asarray(factor),
                          jnp.asarray(run), 2)
    got = np.asarray(d.log_prob(jnp.asarray(y)))
    want = 0.0
    for r in (0, 1):
        mine = run == r
        want += multivariate_normal(loc[mine], cov[np.ix_(mine, mine)]).logpdf(y[mine])
        # each run's records carry that run's joint density
        assert got[mine].sum() == pytest.approx(
            multivariate_normal(loc[mine], cov[np.ix_(mine, mine)]).logpdf(y[mine]), rel=1e-10)
    assert got.sum() == pytest.approx(want, rel=1e-10)


def test_leave_one_out_values_are_the_conditional_normals():
    run, loc, y, diag, factor, cov = dense_case(1)
    d = RealisationNormal(jnp.asarray(loc), jnp.asarray(diag), jnp.asarray(factor),
                          jnp.asarray(run), 2, loo=True)
    got = np.asarray(d.log_prob(jnp.asarray(y)))
    for i in range(run.size):
        rest = np.flatnonzero((run == run[i]) & (np.arange(run.size) != i))
        w = np.linalg.solve(cov[np.ix_(rest, rest)], cov[rest, i])
        mean = loc[i] + w @ (y[rest] - loc[rest])
        var = cov[i, i] - cov[i, rest] @ w
        want = -0.5 * np.log(2 * np.pi * var) - 0.5 * (y[i] - mean) ** 2 / var
        assert got[i] == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_draws_have_the_low_rank_covariance():
    run, loc, _, diag, factor, cov = dense_case(2)
    d = RealisationNormal(jnp.asarray(loc), jnp.asarray(diag), jnp.asarray(factor),
                          jnp.asarray(run), 2)
    draws = np.asarray(d.sample(jax.random.PRNGKey(0), (40_000,)))
    assert np.abs(draws.mean(0) - loc).max() < 0.02
    emp = np.cov(draws.T)
    assert np.abs(emp - cov).max() < 0.03 * np.abs(cov).max()
    # records of different runs are independent
    assert np.abs(emp[0, 2]) < 0.02


def inputs(kind: str, t, K: float, sparsity=None):
    """Standardized inputs of one run's records of ``kind`` (one group, ``P = P_ref``)."""
    t = jnp.asarray(t, dtype=float)
    n = t.size
    x = {"t": t, "params": jnp.ones(n), "group": jnp.zeros(n, int), "run": jnp.zeros(n, int)}
    if kind == "quantization":
        x.update(unit=jnp.zeros(n, int), bits=jnp.zeros(n), has_bits=jnp.zeros(n))
    if kind == "pruning":
        x["sparsity"] = jnp.asarray(sparsity, dtype=float)
    P = {**LAW, "K": K, "nu": 0.0, "E": 0.0, "loss_scale": 1.0, "quant_scale": jnp.ones(1),
         "pruning_scale": 1.0}
    return P, x


@pytest.mark.parametrize("kind", ["loss", "quantization", "pruning"])
def test_bins_add_up_to_the_law(kind):
    """``sum_j n_j c_i(k_j) / mu_i = 1``: the bins are a midpoint rule for the law's own sum."""
    settings = ModelSettings(pruning_metric="seed")
    t = np.geomspace(0.05, 20.0, 6)
    P, x = inputs(kind, t, 3000.0, sparsity=np.linspace(0.5, 0.99, 6))
    log_mu = expected(kind, P, x, settings, 1)[kind]
    F = np.asarray(realisation_factor(kind, P, x, log_mu, settings, 1))
    assert F.shape == (6, RANK)
    k, lo, hi = (np.asarray(v) for v in mode_grid(jnp.asarray(30.0 * 3000.0)))
    total = (F * np.sqrt((hi - lo) / 2.0)).sum(axis=1)
    # the loss's modes beyond the grid (30 K) are left out: sum_{k > 9e4} k^-1.75 / mu
    np.testing.assert_allclose(total, 1.0, rtol=0.05)


def test_covariance_matches_chi_square_modes():
    """The first-order covariance against realisations of the exact discrete sum."""
    settings = ModelSettings()
    K = 2000.0
    t = np.array([2.0, 5.0, 12.0, 30.0])
    P, x = inputs("loss", t, K)
    log_mu = expected("loss", P, x, settings, 1)["loss"]
    F = np.asarray(realisation_factor("loss", P, x, log_mu, settings, 1))
    model = F @ F.T
    # exact sum: p_k chi^2_1 e^{-2 g} for k <= K, p_k chi^2_1 beyond, to 60 000 modes
    k = np.arange(1, 60_001, dtype=float)
    a, b, ks = LAW["a"], LAW["b"], LAW["k_star"]
    g = (ks ** b) * k ** (-b) * t[:, None]  # c lambda t with c = k_star^b (m = n = 1)
    weight = np.where(k <= K, np.exp(-2 * g), 1.0) * k ** (-a)
    rng = np.random.default_rng(0)
    logs = np.empty((4000, t.size))
    for i in range(4000):
        chi2 = rng.standard_normal(k.size) ** 2
        logs[i] = np.log(weight @ chi2) - np.log(weight.sum(axis=1))
    emp = np.cov(logs.T)
    # relative sd of the log loss 5-20 %: the first order holds to a few per cent there
    np.testing.assert_allclose(np.sqrt(np.diag(model)), np.sqrt(np.diag(emp)), rtol=0.12)
    corr_model = model / np.sqrt(np.outer(np.diag(model), np.diag(model)))
    corr_emp = emp / np.sqrt(np.outer(np.diag(emp), np.diag(emp)))
    np.testing.assert_allclose(corr_model, corr_emp, atol=0.08)


def test_modes_sensitivity_is_the_closed_form():
    """``d logit phi / d log lambda = m g e^g / (e^g - 1)`` for ``g = c lambda^m t^n``."""
    from gsf_infer.model.expected import modes_sensitivity

    k = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    t = np.array([0.1, 0.5, 1.0, 2.0, 8.0, 30.0])
    P = {**LAW, "m": 0.8, "n": 1.2, "K": 1e4, "nu": 0.0}
    x = {"k": jnp.asarray(k), "t": jnp.asarray(t), "params": jnp.ones(6),
         "group": jnp.zeros(6, int), "run": jnp.zeros(6, int)}
    got = np.asarray(modes_sensitivity(P, x, ModelSettings(), 1))
    b, m, n = P["b"], P["m"], P["n"]
    g = P["k_star"] ** (b * m) * k ** (-b * m) * t**n  # g = 1 at (k_star, t_ref = 1)
    np.testing.assert_allclose(got, m * g * np.exp(g) / np.expm1(g), rtol=1e-8)



@pytest.mark.slow
def test_pointwise_values_are_leave_one_out_and_the_joint_sums_to_the_density():
    """On the bundled example's spectral model, at prior draws: the sampler's per-record values
    sum to the model's joint log density of each kind (against numpyro's own ``log_density``
    of the same kind's site), and the pointwise stage returns different, leave-one-out values.
    """
    from numpyro import handlers
    from numpyro.infer import util as infer_util

    from gsf_infer.data.dataset import build_model_data
    from gsf_infer.data.records import read_records
    from gsf_infer.inference.functions import draw_prior, model_functions
    from gsf_infer.inference.sampling import pointwise
    from gsf_infer.model.build import build_model
    from gsf_infer.model.priors import PriorSet

    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    data = build_model_data(read_records(root / "data" / "example.csv"))
    built = build_model(data, ModelSettings(discrepancy="spectral"), PriorSet())
    fns = model_functions(built)
    prior, _ = draw_prior(fns, built.inputs, jax.random.key(0), 2)
    posterior = {k: np.asarray(v)[None] for k, v in prior.items() if k in fns.supports}
    loo, _ = pointwise(fns, built.inputs, posterior, jax.random.key(1))
    draw = {k: jnp.asarray(v[0, 0]) for k, v in posterior.items()}
    joint = infer_util.log_likelihood(built.fn, {k: v[None] for k, v in draw.items()},
                                      built.inputs)
    tr = handlers.trace(handlers.substitute(built.fn, draw)).get_trace(built.inputs)
    for kind in ("loss", "quantization", "pruning"):
        site = tr[kind]
        assert isinstance(site["fn"], RealisationNormal)
        r = np.asarray(site["fn"].run)
        d = np.asarray(site["fn"].diag)
        f = np.asarray(site["fn"].factor)
        cov = np.diag(d) + (f @ f.T) * (r[:, None] == r[None, :])
        e = np.asarray(site["value"])
        dense = multivariate_normal(np.asarray(site["fn"].loc), cov).logpdf(e)
        assert np.asarray(joint[kind])[0].sum() == pytest.approx(dense, rel=1e-8)
        assert not np.allclose(loo[kind][0, 0], np.asarray(joint[kind])[0])


@pytest.mark.parametrize("s", [0.02, 0.05, 0.1])
def test_omitted_variance_is_the_second_order_term_and_the_bins_error(s):
    """For a relative shift ``x ~ N(0, s^2)``, the variance of ``log(1 + x) - x`` (what the
    first-order form leaves out; Monte Carlo, 10^6 draws) is the omitted variance less the bins'
    share ``(FACTOR_ERROR s)^2``, up to the next order (``s^4/2 (1 + 9.3 s^2)`` for a normal
    ``x``)."""
    rng = np.random.default_rng(0)
    x = s * rng.standard_normal(1_000_000)
    remainder = np.var(np.log1p(x) - x)
    factor = jnp.full((1, 4), s / 2.0)  # |F|^2 = s^2
    second = float(omitted_variance(factor)[0]) - (FACTOR_ERROR * s) ** 2
    assert second == pytest.approx(remainder, rel=0.005 + 10 * s**2)


@pytest.mark.slow
def test_without_the_omitted_variance_the_optimum_of_a_random_feature_run_is_no_minimum(
        monkeypatch, tmp_path):
    """``simulate rf --seed 4`` (noise-free records of a trained learner; runs of 5-20 records
    against a factor of 24 columns): with the omitted variance the best optimum is a minimum
    and draws of its Laplace approximation stay within tens of nats of it; without it
    (negative control) the independent noise falls to zero, the Hessian there is indefinite
    and Laplace draws reach potentials of millions."""
    import gsf_infer as gsf
    from gsf_infer.data.records import read_records
    from gsf_infer.inference.config import SamplerConfig
    from gsf_infer.inference.functions import value_and_grad_of
    from gsf_infer.inference.sampling import prepare
    from gsf_infer.model import build
    from gsf_infer.model.priors import load_priors
    from gsf_infer.workflow.fit import Sampler

    frame, _ = gsf.simulate_rf(seed=4)
    path = tmp_path / "rf.csv"
    frame.to_csv(path, index=False)
    records = read_records(path)
    settings = ModelSettings(likelihood="lognormal", pruning_metric="function",
                             discrepancy="spectral")

    def geometry():
        sampler = Sampler(records, settings, load_priors(None))
        inputs = dict(sampler.built.inputs, deviation_mask=jnp.asarray(0.0))
        prep = prepare(sampler.fns, inputs, SamplerConfig(num_chains=4, seed=0))
        compiled = value_and_grad_of(sampler.fns)
        rng = np.random.default_rng(0)
        z = prep.z_best
        draws = [float(compiled(z + prep.factor @ rng.standard_normal(z.size), inputs)[0])
                 for _ in range(20)]
        return np.linalg.eigvalsh(prep.hessian)[0], np.array(draws) - prep.optima[0].potential

    smallest, excess = geometry()
    assert smallest > 0.0
    assert np.all(np.isfinite(excess)) and np.max(excess) < 100.0
    monkeypatch.setattr(build, "omitted_variance", lambda factor, second_order=True: 0.0)
    smallest, excess = geometry()
    assert smallest < 0.0 or not np.all(np.nanmax(excess) < 1e4)
