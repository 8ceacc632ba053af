"""The ``gsf`` and ``deviation`` fits of one data set, run side by side.

``gsf_infer.workflow.fit._gsf_and_deviation`` runs the ``gsf`` fit in a thread and the
``deviation`` fit, once the first's optima are found, alongside it. Reference: the same two
fits one after the other. Each fit's draws come from its seed alone, so running them side by
side must not change a single draw; and the order of the stages is the one documented (the
``gsf`` chains wait for the ``deviation`` optimiser).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from gsf_infer.inference.config import SamplerConfig
from gsf_infer.inference.functions import model_functions
from gsf_infer.inference.sampling import sample
from gsf_infer.workflow.fit import _gsf_and_deviation

CONFIG = SamplerConfig(num_chains=2, num_warmup=100, num_samples=200, num_starts=3,
                       prior_draws=50, max_draws=200)


def _functions(centre: float):
    """A normal model with 5 observations of its mean (a data set a fit can be run on)."""

    def fn(inputs, predict=False, likelihood=True):
        mu = numpyro.sample("mu", dist.Normal(0.0, 2.0))
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        if likelihood:
            numpyro.sample("obs", dist.Normal(mu, sigma).expand((5,)).to_event(1),
                           obs=None if predict else inputs["obs"])

    inputs = {"obs": centre + np.array([-0.3, -0.1, 0.0, 0.2, 0.25])}
    return model_functions(SimpleNamespace(fn=fn, inputs=inputs)), inputs


class ToySampler:
    """Stands for :class:`gsf_infer.workflow.fit.Sampler`: ``run`` samples a toy model.

    The ``gsf`` and ``deviation`` "models" are two data sets with their own seeds. Every stage
    is logged in order; ``fail`` makes a model's run raise before or after its optima.
    """

    def __init__(self, fail: dict[str, str] | None = None):
        self.models = {"gsf": _functions(0.5), "deviation": _functions(-1.0)}
        self.log: list[tuple[str, str]] = []
        self.fail = fail or {}
        self.lock = threading.Lock()

    def note(self, model: str, what: str) -> None:
        with self.lock:
            self.log.append((model, what))

    def run(self, model, config, ci_prob, command, progress=None, on_prepared=None):
        fns, inputs = self.models[model]
        if self.fail.get(model) == "before":
            raise RuntimeError(f"{model} failed before its optima")

        def prepared(prep):
            self.note(model, "prepared")
            if on_prepared is not None:
                on_prepared()

        def chains(done, total):
            self.note(model, "chains")

        seed = {"gsf": 1, "deviation": 2}[model]
        result = sample(fns, inputs, replace(config, seed=seed), chains, on_prepared=prepared)
        if self.fail.get(model) == "after":
            raise RuntimeError(f"{model} failed after its chains")
        self.note(model, "done")
        return result


def _stage(name):
    return None


def test_side_by_side_fits_give_the_draws_of_fits_one_after_the_other():
    toy = ToySampler()
    main, dev = _gsf_and_deviation(toy, CONFIG, 0.94, "", _stage)
    sequential = ToySampler()
    ref_main = sequential.run("gsf", CONFIG, 0.94, "")
    ref_dev = sequential.run("deviation", CONFIG, 0.94, "")
    for got, ref in ((main, ref_main), (dev, ref_dev)):
        for name in ("mu", "sigma"):
            np.testing.assert_array_equal(got.posterior[name], ref.posterior[name])
    # negative control: the two data sets' posteriors differ (the comparison can fail)
    assert abs(float(main.posterior["mu"].mean()) - float(dev.posterior["mu"].mean())) > 1.0

    # the order: gsf's optima, then the deviation's, and only then gsf's chains
    log = toy.log
    assert log[:2] == [("gsf", "prepared"), ("deviation", "prepared")], log
    first_gsf_chains = log.index(("gsf", "chains"))
    assert first_gsf_chains > log.index(("deviation", "prepared"))
    assert ("gsf", "done") in log and ("deviation", "done") in log


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_failing_gsf_fit_raises_its_error_and_leaves_no_thread(when):
    toy = ToySampler(fail={"gsf": when})
    with pytest.raises(RuntimeError, match="gsf failed"):
        _gsf_and_deviation(toy, CONFIG, 0.94, "", _stage)
    # before its optima the deviation fit never starts; after them it runs to its end
    assert (("deviation", "done") in toy.log) == (when == "after"), toy.log
    assert not any(t.name == "gsf-fit" for t in threading.enumerate())


def test_a_failing_deviation_fit_raises_its_error_and_releases_the_gsf_chains():
    toy = ToySampler(fail={"deviation": "before"})
    with pytest.raises(RuntimeError, match="deviation failed"):
        _gsf_and_deviation(toy, CONFIG, 0.94, "", _stage)
    # the gsf thread was not left waiting for the deviation's optima: it finishes
    for thread in threading.enumerate():
        if thread.name == "gsf-fit":
            thread.join(timeout=60)
    assert ("gsf", "done") in toy.log


def _compiled_programs(fns, inputs, config, caplog) -> set[str]:
    """The programs a fit's calls after its prior draws compile: value and gradient, chain
    init and one segment, the map to posterior quantities, the prior's Hessian."""
    import jax
    import jax.numpy as jnp

    from gsf_infer.inference.chains import SEGMENT, Chains
    from gsf_infer.inference.functions import value_and_grad_of
    from gsf_infer.inference.optimize import prior_hessian_program
    from gsf_infer.inference.sampling import _constrain_program

    dim, chains = fns.dim, config.num_chains
    caplog.clear()
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level("WARNING", logger="jax"):
            value_and_grad_of(fns)(np.full(dim, 0.1), inputs)
            run = Chains(fns, inputs, np.zeros(dim), np.eye(dim), np.zeros((chains, dim)),
                         jax.random.key(1), config)
            run.advance(SEGMENT)
            _constrain_program(fns)(jnp.zeros((chains * config.num_samples, dim)), inputs)
            prior_hessian_program(fns)(jnp.zeros(dim), inputs)
    finally:
        jax.config.update("jax_log_compiles", False)
    done = [r.getMessage() for r in caplog.records if "Finished XLA compilation" in r.getMessage()]
    return {m.split(" of ")[1].split(" in ")[0] for m in done}


def test_programs_compiled_ahead_are_not_compiled_again(caplog):
    from gsf_infer.inference.sampling import compile_ahead

    fns, inputs = _functions(0.5)
    thread = compile_ahead(fns, inputs, CONFIG)
    assert thread is not None
    assert compile_ahead(fns, inputs, CONFIG) is None  # once per model and settings
    thread.join()
    after = _compiled_programs(fns, inputs, CONFIG, caplog)
    # negative control: the same calls on the same model, not compiled ahead, compile them
    fresh, fresh_inputs = _functions(0.5)
    cold = _compiled_programs(fresh, fresh_inputs, CONFIG, caplog)
    programs = {"jit(potential)", "jit(constrain)", "jit(prior_potential)"}
    assert programs <= cold, cold
    assert not (programs & after), after
    # the chain programs (init and segment, both named jit(_fun) under pmap): compiled cold,
    # not after
    assert any("fun" in name for name in cold), cold
    assert not any("fun" in name for name in after), after
