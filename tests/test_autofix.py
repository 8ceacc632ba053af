"""What the data cannot identify, handled before sampling: held directions and a held capacity.

A toy posterior with a closed form checks the held subspace: the data pin ``x + y`` and
``x - y`` (so ``x`` and ``y`` have an exact Gaussian posterior) and say nothing of ``w``. Held at
the optimum, ``w`` is constant and ``x``, ``y`` keep their exact posterior; a quantity the data
are asked about that depends on ``w`` keeps ``w`` free (negative control: held, its spread
collapses). The capacity rule is checked on the tables it must and must not touch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from gsf_infer.analysis.identify import held_sentences
from gsf_infer.data.records import Records
from gsf_infer.inference.chains import max_r_hat, min_ess
from gsf_infer.inference.config import SamplerConfig
from gsf_infer.inference.functions import model_functions
from gsf_infer.inference.sampling import sample
from gsf_infer.model.priors import PriorSet
from gsf_infer.simulate.gsf import GsfSimConfig, simulate_gsf
from gsf_infer.workflow.resolve import HELD_CAPACITY, HELD_FRONTIER, hold_capacity

NOISE = 0.1
OBS = (0.8, -0.3)  # observed x + y and x - y


def toy(inputs, predict=False, likelihood=True):
    """x, y, w ~ N(0, 1); the data see x + y and x - y; q = x + w depends on the silent w."""
    x = numpyro.sample("x", dist.Normal(0.0, 1.0))
    y = numpyro.sample("y", dist.Normal(0.0, 1.0))
    w = numpyro.sample("w", dist.Normal(0.0, 1.0))
    numpyro.deterministic("q", x + w)
    if likelihood:
        numpyro.sample("s", dist.Normal(x + y, NOISE), obs=None if predict else inputs["s"])
        numpyro.sample("d", dist.Normal(x - y, NOISE), obs=None if predict else inputs["d"])


@dataclass
class Built:
    fn: Any
    inputs: dict


def exact_xy() -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and covariance of (x, y): N(0, I) prior, two Gaussian observations."""
    A = np.array([[1.0, 1.0], [1.0, -1.0]])
    precision = np.eye(2) + A.T @ A / NOISE**2
    cov = np.linalg.inv(precision)
    return cov @ A.T @ np.array(OBS) / NOISE**2, cov


CONFIG = SamplerConfig(num_chains=2, num_warmup=400, num_samples=1500, seed=3, num_starts=2,
                       prior_draws=200)


@pytest.fixture(scope="module")
def toy_fns():
    built = Built(toy, {"s": jnp.asarray(OBS[0]), "d": jnp.asarray(OBS[1])})
    return model_functions(built), built.inputs


def test_silent_direction_is_held_and_the_rest_keeps_its_exact_posterior(toy_fns):
    fns, inputs = toy_fns
    result = sample(fns, inputs, CONFIG)
    held = result.fixed
    assert len(held["directions"]) == 1
    direction = held["directions"][0]
    assert [name for name, _ in direction["loadings"]] == ["w"]
    assert direction["likelihood_share"] < 0.2
    assert np.ptp(result.posterior["w"]) == 0.0  # held at the optimum, w = 0
    assert result.posterior["w"].ravel()[0] == pytest.approx(0.0, abs=1e-4)
    mean, cov = exact_xy()
    xy = np.stack([result.posterior["x"].ravel(), result.posterior["y"].ravel()], axis=1)
    n_eff = min_ess(result.unconstrained)
    se = np.sqrt(np.diag(cov) / n_eff)
    assert np.all(np.abs(xy.mean(axis=0) - mean) < 4 * se)
    assert np.allclose(xy.std(axis=0), np.sqrt(np.diag(cov)), rtol=0.1)
    # x carries its whole variance in the free directions; q = x + w is decided by the held w
    assert held["quantities"]["x"]["share"] < 1e-6
    assert held["quantities"]["q"]["share"] > 0.99
    assert max_r_hat(result.unconstrained) < 1.02  # the constant w is left out, not infinite
    sentences = held_sentences(held)
    assert any("w (" in s and "not a finding" in s for s in sentences)
    assert any("decide" in s and "q" in s for s in sentences)


def test_a_reported_quantity_keeps_the_direction_it_depends_on_free(toy_fns):
    fns, inputs = toy_fns
    result = sample(fns, inputs, CONFIG, reported=("q",))
    assert not result.fixed.get("directions")
    coupled = result.fixed["coupled"]
    assert [name for name, _ in coupled[0]["loadings"]] == ["w"]
    assert coupled[0]["carries"]["q"] > 0.9
    # w is sampled from its prior: q's spread is sqrt(var x + 1), not var x's
    _, cov = exact_xy()
    assert np.std(result.posterior["q"]) == pytest.approx(np.sqrt(cov[0, 0] + 1.0), rel=0.1)


def test_switched_off_nothing_is_held(toy_fns):
    fns, inputs = toy_fns
    for config in (replace(CONFIG, fix_unidentified=False), replace(CONFIG, adaptive=False)):
        result = sample(fns, inputs, config)
        assert result.fixed == {}
        assert np.std(result.posterior["w"]) == pytest.approx(1.0, rel=0.15)


def test_held_coordinates_are_left_out_of_r_hat_and_ess():
    rng = np.random.default_rng(0)
    flat = rng.standard_normal((4, 500, 3))
    flat[..., 1] = 2.5  # held
    assert max_r_hat(flat) < 1.02
    assert min_ess(flat) > 1000
    stuck = flat.copy()
    stuck[0, :, 0] = 7.0  # one chain stuck elsewhere: still caught
    assert max_r_hat(stuck) > 1.5


def test_a_quantity_held_at_the_optimum_has_no_r_hat_in_the_convergence_verdict():
    import xarray as xr

    from gsf_infer.analysis.summary import diagnostics, parameter_table

    # a held quantity's draws are its optimum plus rounding noise (z0 + L u, L zero along
    # it); noise that differs between chains gives an arbitrary R-hat (1.014 on a Revisiting
    # curve, reported as "the chains disagree")
    rng = np.random.default_rng(0)
    free = rng.standard_normal((4, 1000))
    held = 1.5 + 1e-15 * (rng.standard_normal((4, 1000)) + np.arange(4)[:, None])

    def tree(a):
        post = xr.Dataset({"a": (("chain", "draw"), a), "b": (("chain", "draw"), free)},
                          coords={"chain": np.arange(4), "draw": np.arange(1000)})
        stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, 1000), bool))})
        return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})

    diag = diagnostics(tree(held))
    assert diag["converged"] and diag["worst"] == "b" and diag["max_r_hat"] < 1.01, diag
    assert parameter_table(tree(held), "gsf")["a"]["r_hat"] is None
    # negative control: the same between-chain offsets at the scale of a real spread
    moved = 1.5 + 0.05 * (rng.standard_normal((4, 1000)) + np.arange(4)[:, None])
    diag = diagnostics(tree(moved))
    assert not diag["converged"] and diag["worst"] == "a" and diag["max_r_hat"] > 1.1, diag


def test_divergences_left_at_the_top_of_the_ladder_are_not_met_with_the_advice_to_raise_it():
    from gsf_infer.analysis.summary import convergence_problems

    diag = {"max_r_hat": 1.0, "min_ess_bulk": 900.0, "divergences": 14, "min_bfmi": 0.9}
    top = SamplerConfig.final_target_accept
    at_top = convergence_problems({**diag, "target_accept": top})
    assert f"at target acceptance {top:g} already" in at_top[0]
    assert "--target-accept" not in at_top[0]
    # below the top of the ladder (or unknown) the advice stands, naming the top
    for target in (0.9, SamplerConfig.retry_target_accept, None):
        below = convergence_problems({**diag, "target_accept": target})
        assert f"a --target-accept closer to 1, up to {top:g}," in below[0], below


def _records(sizes, kinds=("loss",)) -> Records:
    config = GsfSimConfig(sizes=sizes, kinds=kinds, loss_points=6, bits=(3,),
                          quantization_points=3)
    frame, _ = simulate_gsf(config, np.random.default_rng(0))
    return Records.from_frame(frame)


def test_capacity_and_frontier_are_held_for_loss_at_one_size_only():
    priors, said = hold_capacity(_records((1e7,)), PriorSet())
    assert priors["K"].fixed and priors["K"].args["value"] == HELD_CAPACITY
    assert priors["k_star"].fixed and priors["k_star"].args["value"] == HELD_FRONTIER
    assert len(said) == 2 and said[0].startswith("K held") and said[1].startswith("k_star held")
    # several sizes, another kind that sees the capacity, or a K the user chose: untouched
    for records in (_records((1e6, 1e7)), _records((1e7,), ("loss", "quantization"))):
        kept, said = hold_capacity(records, PriorSet())
        assert kept == PriorSet() and said == []
    mine = PriorSet(priors={**PriorSet().priors,
                            "K": replace(PriorSet()["K"], args={"loc": 5.0, "scale": 1.0})})
    kept, said = hold_capacity(_records((1e7,)), mine)
    assert not kept["K"].fixed and kept["k_star"].fixed and len(said) == 1


@pytest.mark.slow
def test_a_single_loss_curve_says_what_it_held(tmp_path):
    """One loss curve at one size: K, k_star and silent directions held, HELD in every output."""
    import gsf_infer as gsf
    from gsf_infer.output.console import fit_report

    frame, _ = gsf.simulate_gsf(seed=4, kinds=("loss",), sizes=(1e7,), loss_points=12)
    fit = gsf.fit(frame, chains=2, warmup=300, draws=300, seed=2)
    summary = fit.summary_json
    actions = summary["automatic_actions"]["gsf"]
    assert any(a.startswith("K held") for a in actions), actions
    assert any(a.startswith("k_star held") for a in actions), actions
    held = summary["identification"]["held"]
    assert held["directions"], held
    assert any("held at the optimum" in a for a in actions)
    labelled = [n for n, e in summary["parameters"].items()
                if e and (e.get("held_share") or 0) >= 0.5]
    # a single curve identifies chi: it is never decided by a held direction
    assert labelled and "chi" not in labelled
    assert summary["parameters"]["chi"]["held_share"] < 0.5
    text = fit_report(fit.result, 0.94)
    for name in labelled:
        line = next(line for line in text.splitlines() if line.startswith(f"{name} "))
        assert "HELD" in line, line
    fit.save(tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "HELD at the optimum" in report and "K held at" in report
    without = gsf.fit(frame, chains=2, warmup=300, draws=300, seed=2, fix_unidentified=False)
    assert not without.summary_json["identification"]["held"]
    assert not any("held" in a for a in without.summary_json["automatic_actions"]["gsf"])


def test_deviation_and_elastic_coordinates_are_never_held():
    """A silent deviation or elastic drift coordinate stays free: its band must be its prior's."""

    def silent(inputs, predict=False, likelihood=True):
        x = numpyro.sample("x", dist.Normal(0.0, 1.0))
        numpyro.sample("deviation_z", dist.Normal(0.0, 1.0))
        numpyro.sample("elastic_z", dist.Normal(0.0, 1.0).expand((2,)).to_event(1))
        numpyro.sample("w", dist.Normal(0.0, 1.0))
        if likelihood:
            numpyro.sample("s", dist.Normal(x, NOISE), obs=None if predict else inputs["s"])

    fns = model_functions(Built(silent, {"s": jnp.asarray(0.3)}))
    result = sample(fns, {"s": jnp.asarray(0.3)}, CONFIG)
    held = [name for d in result.fixed["directions"] for name, _ in d["loadings"]]
    assert held == ["w"]
    for name in ("deviation_z", "elastic_z"):
        assert np.std(result.posterior[name]) == pytest.approx(1.0, rel=0.15), name
