"""``gsf_infer.inference.sampling`` without NUTS: the curvature shares at an optimum.

Reference: a two-parameter normal model whose Hessian is known in closed form. With standard
normal priors on ``x`` and ``y`` and ``n`` observations ``Normal(u . (x, y), sigma)``, the
potential's Hessian is ``I + (n / sigma^2) u u'``: along ``u`` the likelihood's share of the
curvature is ``(n/sigma^2 |u|^2) / (1 + n/sigma^2 |u|^2)``, across it zero.
"""

from __future__ import annotations

from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from gsf_infer.inference import sampling as inference
from gsf_infer.inference.functions import model_functions
from gsf_infer.inference.optimize import curvature_shares

SIGMA = 0.01
N_OBS = 5


def _built(u: tuple[float, float]) -> SimpleNamespace:
    """A model-like object (``fn`` and ``inputs``) whose data see only ``u . (x, y)``."""

    def fn(inputs, predict=False, likelihood=True):
        x = numpyro.sample("x", dist.Normal(0.0, 1.0))
        y = numpyro.sample("y", dist.Normal(0.0, 1.0))
        if likelihood:
            numpyro.sample(
                "obs",
                dist.Normal(u[0] * x + u[1] * y, SIGMA).expand((N_OBS,)).to_event(1),
                obs=None if predict else inputs["obs"],
            )

    return SimpleNamespace(fn=fn, inputs={"obs": jnp.full(N_OBS, 0.3)})


def _hessian(u: tuple[float, float]) -> np.ndarray:
    v = np.asarray(u)
    return np.eye(2) + N_OBS / SIGMA**2 * np.outer(v, v)


def test_a_parameter_pinned_by_the_data_and_one_left_to_the_prior():
    u = (1.0, 0.0)
    fns = model_functions(_built(u))
    assert fns.names == ("x", "y") and fns.observed == ("obs",)
    z = np.array([0.3, 0.0])  # the optimum: x at the data (to 1/(1 + n/sigma^2)), y at 0
    shares = curvature_shares(fns, _built(u).inputs, z, _hessian(u))
    assert len(shares) == 2
    soft, stiff = shares  # softest first
    assert soft["curvature"] == pytest.approx(1.0, rel=1e-9)
    assert soft["likelihood_share"] == pytest.approx(0.0, abs=1e-9)
    assert [name for name, _ in soft["loadings"]] == ["y"]
    data_curvature = N_OBS / SIGMA**2
    assert stiff["curvature"] == pytest.approx(1.0 + data_curvature, rel=1e-9)
    assert stiff["likelihood_share"] == pytest.approx(
        data_curvature / (1.0 + data_curvature), rel=1e-9
    )
    assert stiff["likelihood_share"] > 0.9999
    assert [name for name, _ in stiff["loadings"]] == ["x"]


def test_a_combination_pinned_by_the_data_and_the_other_left_to_the_prior():
    # the data see x + y only: the direction (1, 1) is theirs, (1, -1) the prior's
    u = (1.0, 1.0)
    built = _built(u)
    fns = model_functions(built)
    shares = curvature_shares(fns, built.inputs, np.array([0.15, 0.15]), _hessian(u))
    soft, stiff = shares
    assert soft["likelihood_share"] == pytest.approx(0.0, abs=1e-9)
    data_curvature = 2 * N_OBS / SIGMA**2
    assert stiff["likelihood_share"] == pytest.approx(
        data_curvature / (1.0 + data_curvature), rel=1e-9
    )
    for entry, sign in ((soft, -1.0), (stiff, 1.0)):
        weights = dict(entry["loadings"])
        assert set(weights) == {"x", "y"}
        assert abs(weights["x"]) == pytest.approx(np.sqrt(0.5), rel=1e-9)
        assert weights["y"] == pytest.approx(sign * weights["x"], rel=1e-9)


def test_the_hessian_by_differences_of_the_compiled_gradient_matches_the_closed_form():
    # the Hessian the sampler hands to curvature_shares, against the closed form above
    u = (1.0, 1.0)
    built = _built(u)
    fns = model_functions(built)
    compiled = inference.value_and_grad_of(fns)
    hess = inference.hessian(lambda z: compiled(z, built.inputs), np.array([0.15, 0.15]))
    np.testing.assert_allclose(hess, _hessian(u), rtol=1e-6)


# ---- the chains' metric: the Laplace approximation, and the rerun that adapts one


def _gaussian_functions():
    """A standard normal in two coordinates (no data), as the sampler sees a model."""

    def fn(inputs, predict=False, likelihood=True):
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand((2,)).to_event(1))

    return model_functions(SimpleNamespace(fn=fn, inputs={}))


def _chains(factor: np.ndarray):
    import jax

    from gsf_infer.inference.chains import _adaptive_chains
    from gsf_infer.inference.config import SamplerConfig

    config = SamplerConfig(num_chains=2, num_warmup=100, num_samples=200, max_draws=200)
    inits = np.zeros((2, 2)) + np.array([[0.1], [-0.1]])
    return _adaptive_chains(_gaussian_functions(), {}, np.zeros(2), factor, inits,
                            jax.random.key(0), config, None)


def test_a_wrong_laplace_metric_reruns_the_chains_adapting_a_dense_mass_matrix():
    from gsf_infer.inference.chains import ADAPT_WARMUP, min_ess

    # The whitening claims standard deviations 1e3 and 1e-3 where the posterior has 1 and 1:
    # in the chains' coordinates the target's scales differ a million-fold, so NUTS with a
    # step size tuned to the narrow one random-walks along the wide one.
    flat, _, actions, config = _chains(np.diag([1e3, 1e-3]))
    assert len(actions) == 1 and "Laplace approximation as metric" in actions[0], actions
    assert f"over {ADAPT_WARMUP} warm-up" in actions[0]
    assert config.adapt_mass and config.num_warmup == ADAPT_WARMUP
    # with the learned metric the standard normal is sampled well (2 x 200 draws)
    assert min_ess(flat) > 100
    np.testing.assert_allclose(flat.reshape(-1, 2).std(axis=0), 1.0, atol=0.2)


def test_a_right_laplace_metric_keeps_the_chains():
    from gsf_infer.inference.chains import min_ess

    flat, _, actions, config = _chains(np.eye(2))
    assert actions == [] and not config.adapt_mass
    assert min_ess(flat) > 200


def _funnel_functions():
    """Neal's funnel: v ~ N(0, 3), x | v ~ N(0, e^(v/2)) in two coordinates."""

    def fn(inputs, predict=False, likelihood=True):
        v = numpyro.sample("v", dist.Normal(0.0, 3.0))
        numpyro.sample("x", dist.Normal(0.0, jnp.exp(v / 2)).expand((2,)).to_event(1))

    return model_functions(SimpleNamespace(fn=fn, inputs={}))


def test_divergences_that_remain_after_the_rerun_rerun_the_chains_once_more_closer_to_1():
    import jax

    from gsf_infer.inference.chains import _adaptive_chains
    from gsf_infer.inference.config import SamplerConfig

    # the funnel's neck diverges at any acceptance a short run can afford: the chains go up
    # the ladder, recording each step, and stop at its top
    config = SamplerConfig(num_chains=2, num_warmup=100, num_samples=200, max_draws=200,
                           adapt_mass=True, target_accept_prob=0.3, retry_target_accept=0.6,
                           final_target_accept=0.8)
    inits = np.zeros((2, 3)) + np.array([[0.1], [-0.1]])
    _, stats, actions, config = _adaptive_chains(_funnel_functions(), {}, np.zeros(3),
                                                 np.eye(3), inits, jax.random.key(0), config,
                                                 None)
    assert [a.split(": ")[1] for a in actions] == ["chains rerun at 0.6", "chains rerun at 0.8"]
    assert "at target acceptance 0.3" in actions[0] and "at target acceptance 0.6" in actions[1]
    assert config.target_accept_prob == 0.8 and np.asarray(stats["diverging"]).sum() > 0


def test_a_derived_quantity_whose_chains_disagree_extends_the_chains():
    import jax

    from gsf_infer.inference.chains import _adaptive_chains
    from gsf_infer.inference.config import SamplerConfig

    # the coordinates mix well; a "derived quantity" (fixed independent draws, so that its
    # R-hat does not depend on the chains: 1.022 at 500 draws, 1.038 at 1000) disagrees
    # between the two chains by 0.4 standard deviations: the chains are extended, as the
    # convergence verdict on that quantity would ask, until the budget of draws is spent
    config = SamplerConfig(num_chains=2, num_warmup=100, num_samples=500, max_draws=1000,
                           adapt_mass=True)
    inits = np.zeros((2, 2)) + np.array([[0.1], [-0.1]])

    def shifted(flat):
        draws = np.random.default_rng(1).standard_normal((2, flat.shape[1], 1))
        return draws + 0.4 * np.arange(2)[:, None, None]

    def run(derived):
        return _adaptive_chains(_gaussian_functions(), {}, np.zeros(2), np.eye(2), inits,
                                jax.random.key(0), config, None, derived=derived)

    flat, _, actions, _ = run(shifted)
    assert len(actions) == 1 and "chains extended by 500 draws to 1000" in actions[0], actions
    r_hat = float(actions[0].split("R-hat ")[1].split(",")[0])
    assert 1.01 < r_hat <= 1.05 and flat.shape[1] == 1000
    # negative control: the same chains judged on their coordinates alone are kept
    flat, _, actions, _ = run(None)
    assert actions == [] and flat.shape[1] == 500


def test_one_compiled_program_serves_every_target_acceptance_and_each_takes_effect():
    import jax

    from gsf_infer.inference.chains import Chains
    from gsf_infer.inference.config import SamplerConfig

    fns = _gaussian_functions()
    inits = np.zeros((2, 2)) + np.array([[0.1], [-0.1]])

    def step_size(target: float):
        config = SamplerConfig(num_chains=2, num_warmup=200, num_samples=100,
                               target_accept_prob=target)
        chains = Chains(fns, {}, np.zeros(2), np.eye(2), inits, jax.random.key(0), config)
        chains.advance(300)
        _, stats = chains.draws()
        return chains.program, float(np.mean(stats["step_size"])), float(
            np.mean(stats["acceptance_rate"]))

    low, high = step_size(0.6), step_size(0.95)
    assert low[0] is high[0]  # one program for both targets
    # the target is not a constant of that program: dual averaging adapts to each, a longer
    # step and a lower acceptance at the lower one (a standard normal in 2 coordinates; the
    # step after warm-up is the averaged one, so acceptance ends above a low target)
    assert low[1] > 1.3 * high[1], (low, high)
    assert low[2] < high[2] - 0.1 and abs(high[2] - 0.95) < 0.05, (low, high)


def test_optima_found_in_threads_are_those_found_one_start_after_another():
    from gsf_infer.inference.optimize import find_optima

    # a potential with two minima (a double well in x, a bowl in y): starts on both sides
    def value_and_grad(z):
        x, y = float(z[0]), float(z[1])
        value = (x * x - 1.0) ** 2 + 0.3 * x + y * y
        return jnp.asarray(value), jnp.asarray([4 * x * (x * x - 1.0) + 0.3, 2 * y])

    starts = np.array([[-2.0, 1.0], [2.0, -1.0], [0.5, 0.5], [-0.5, 2.0], [1.5, 0.0]])
    serial = find_optima(value_and_grad, starts, threads=1)
    threaded = find_optima(value_and_grad, starts, threads=3)
    assert len(serial) == 2  # the left well (lower, the linear tilt) first
    assert serial[0].z[0] < 0 < serial[1].z[0]
    assert [o.potential for o in threaded] == [o.potential for o in serial]
    for a, b in zip(threaded, serial, strict=True):
        np.testing.assert_array_equal(a.z, b.z)


def test_gradient_mismatch_measures_a_wrong_gradient_against_the_potentials_slope():
    # U(z) = z^T H z / 2 whitened by L = H^(-1/2): along a unit whitened direction v at
    # z = L u the slope is u . v; a gradient scaled by 1.3 is off by 0.3 u . v, the exact one
    # by the central difference's rounding only
    rng = np.random.default_rng(0)
    H = np.array([[4.0, 1.0], [1.0, 0.5]])
    L = np.linalg.cholesky(np.linalg.inv(H))

    def exact(z):
        return 0.5 * z @ H @ z, H @ z

    def wrong(z):
        return 0.5 * z @ H @ z, 1.3 * (H @ z)

    assert inference.gradient_mismatch(exact, np.zeros(2), L, rng) < 1e-6
    worst = inference.gradient_mismatch(wrong, np.zeros(2), L, np.random.default_rng(0))
    assert 0.05 < worst < 0.3 * 4.0  # 0.3 |u . v| with |u| of a few standard normals


def _half_gradient(exact: bool) -> SimpleNamespace:
    """x ~ N(0, 1) with a likelihood x^2 / (2 s^2) whose gradient, unless ``exact``, is half."""
    import jax

    def fn(inputs, predict=False, likelihood=True):
        x = numpyro.sample("x", dist.Normal(0.0, 1.0))
        other = x if exact else jax.lax.stop_gradient(x)
        if likelihood:
            numpyro.factor("curve", -0.5 * x * other / 0.1**2)

    return SimpleNamespace(fn=fn, inputs={})


def test_a_gradient_that_is_not_the_potentials_switches_the_chains_to_the_exact_one():
    from gsf_infer.inference.config import SamplerConfig

    config = SamplerConfig(num_chains=2, num_warmup=100, num_samples=200, max_draws=200,
                           num_starts=2, prior_draws=50)
    cheap = model_functions(_half_gradient(exact=False))
    calls = []

    def exact():
        calls.append(1)
        return model_functions(_half_gradient(exact=True))

    result = inference.sample(cheap, {}, config, exact_gradient=exact)
    assert calls and "exact gradient" in result.actions[0], result.actions
    # the posterior N(0, 1/(1 + 100)): sampled right on the exact gradient
    draws = np.asarray(result.posterior["x"]).reshape(-1)
    np.testing.assert_allclose(draws.std(), (1 / 101) ** 0.5, rtol=0.2)
    # an exact model is not switched
    calls.clear()
    result = inference.sample(model_functions(_half_gradient(exact=True)), {}, config,
                              exact_gradient=exact)
    assert not calls and not any("exact gradient" in a for a in result.actions)


def test_rare_divergences_on_the_laplace_metric_raise_the_target_before_a_dense_adaptation():
    from gsf_infer.inference.chains import _next_rung
    from gsf_infer.inference.config import SamplerConfig

    laplace = SamplerConfig(num_warmup=300, num_samples=1000)
    ok = {"r_hat": 1.002, "ess": 1500.0, "poor_ess": 200.0, "transitions": 4000}
    # 1 and 4 of 4000 transitions: the same metric, the next target acceptance
    for divergences in (1, 4):
        config, action = _next_rung(laplace, divergences, **ok)
        assert not config.adapt_mass and config.num_warmup == 300
        assert config.target_accept_prob == 0.97 and "same metric" in action
    config, action = _next_rung(config, 2, **ok)
    assert not config.adapt_mass and config.target_accept_prob == 0.99
    # at the top of the targets, or with more divergences (5 of 4000), or chains that also
    # disagree or mix badly: the dense adaptation, as before
    for start, divergences, r_hat, ess in ((config, 1, 1.0, 1500.0), (laplace, 5, 1.0, 1500.0),
                                           (laplace, 1, 1.2, 1500.0), (laplace, 1, 1.0, 50.0)):
        dense, action = _next_rung(start, divergences, r_hat, ess, 200.0, transitions=4000)
        assert dense.adapt_mass and dense.num_warmup == 1000, action
        assert dense.target_accept_prob == start.target_accept_prob
        assert "dense mass matrix" in action
    # no divergences and good mixing: no rung at all
    assert _next_rung(laplace, 0, **ok) is None
