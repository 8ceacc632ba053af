"""Defects found by reading the code, each pinned by a test that fails on the defect.

- a non-finite Hessian gave an identity Laplace factor silently;
- at a saddle the Laplace factor's spread along the negative direction was unbounded (its
  eigenvalue floored at 1e-8 of the largest), a metric NUTS follows with tiny steps;
- an overdispersed start with an infinite potential was handed to NUTS;
- the posterior predictive drew with one fixed key whatever the seed;
- a very short fit printed "R-hat up to nan (> 1.01) on None";
- ``fit --out`` in a place that cannot be written ran the whole fit, then ended in a traceback.

References: the Laplace factor against the closed-form inverse of a Hessian; the others against
what the code must not do (a fixed key, an infinite start, a ``nan`` in a sentence, exit 1).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from gsf_infer.analysis.summary import convergence_problems
from gsf_infer.inference.functions import model_functions
from gsf_infer.inference.optimize import finite_start, laplace_factor
from gsf_infer.inference.sampling import pointwise

ROOT = Path(__file__).resolve().parents[1]


def test_laplace_factor_inverts_the_hessian_and_refuses_a_non_finite_one():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    hess = a @ a.T + 4 * np.eye(4)
    factor = laplace_factor(hess)
    np.testing.assert_allclose(factor @ factor.T, np.linalg.inv(hess), rtol=1e-10, atol=1e-12)
    bad = hess.copy()
    bad[1, 2] = bad[2, 1] = np.nan
    with pytest.raises(FloatingPointError):
        laplace_factor(bad)


def test_laplace_spread_is_bounded_by_the_prior_at_a_saddle():
    # curvature 1e4 and 1 along two axes, -0.1 along a third (a saddle); prior variance 4
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    hess = (q * np.array([1e4, 1.0, -0.1])) @ q.T
    prior_cov = 4.0 * np.eye(3)
    cov = (lambda f: f @ f.T)(laplace_factor(hess, prior_cov))
    spread = np.einsum("ij,ik,kj->j", q, cov, q)
    # the identified directions keep their curvature; the saddle's takes the prior's
    np.testing.assert_allclose(spread, [1e-4, 1.0, 4.0], rtol=1e-8)
    # negative control: without the prior the floor is 1e-8 of the largest curvature
    unbounded = (lambda f: f @ f.T)(laplace_factor(hess))
    assert q[:, 2] @ unbounded @ q[:, 2] == pytest.approx(1e4, rel=1e-6)


def test_an_infinite_start_is_pulled_towards_the_optimum_until_finite():
    # the potential is finite only inside the unit ball around the optimum at 1
    def value_and_grad(z):
        inside = np.sum((z - 1.0) ** 2) < 1.0
        return (0.0 if inside else np.inf), np.zeros_like(z)

    u = finite_start(value_and_grad, np.ones(3), np.eye(3), np.array([8.0, -6.0, 4.0]))
    assert np.sum(u**2) < 1.0
    # a finite start is kept as it is
    kept = np.array([0.1, 0.2, -0.3])
    np.testing.assert_array_equal(finite_start(value_and_grad, np.ones(3), np.eye(3), kept), kept)


def _normal_model():
    def fn(inputs, predict=False, likelihood=True):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        if likelihood:
            numpyro.sample("obs", dist.Normal(mu, 1.0).expand((5,)).to_event(1),
                           obs=None if predict else inputs["obs"])

    return SimpleNamespace(fn=fn, inputs={"obs": jnp.zeros(5)})


def test_the_posterior_predictive_draws_with_the_key_it_is_given():
    built = _normal_model()
    fns = model_functions(built)
    posterior = {"mu": np.linspace(-1, 1, 2 * 50).reshape(2, 50)}
    _, one = pointwise(fns, built.inputs, posterior, jax.random.key(1))
    _, again = pointwise(fns, built.inputs, posterior, jax.random.key(1))
    _, other = pointwise(fns, built.inputs, posterior, jax.random.key(2))
    np.testing.assert_array_equal(one["obs"], again["obs"])
    assert not np.allclose(one["obs"], other["obs"])


def test_an_r_hat_that_cannot_be_computed_is_said_in_words():
    diag = {"max_r_hat": float("nan"), "worst": None, "min_ess_bulk": 2.0, "divergences": 0,
            "worst_ess": None}
    lines = convergence_problems(diag)
    assert any("R-hat could not be computed" in line for line in lines), lines
    assert not any("nan" in line or "None" in line for line in lines), lines


def test_an_output_folder_that_cannot_be_written_is_refused_before_the_fit(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a folder")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("gsf-infer")), "fit",
         str(ROOT / "data" / "example.csv"), "--out", str(blocked / "out"), "--quiet"],
        capture_output=True, text=True,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot write there" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
