"""Many fits: batched sampling (``gsf_infer.inference.batch``) and ``calibrate`` / ``compare``
on the executor (``gsf_infer.executor.calibrate``, ``gsf_infer.executor.compare``).

References: the unbatched compiled potential and gradient (the pool must return each member's
own values); the sequential sampler's draws, which the prepared simulations' chains, run in
threads, reproduce exactly from the same optimum; and the in-process calibration, whose rows a
two-worker ``LocalCluster`` must reproduce, batch for batch, with a killed batch reported and
the others kept.
"""

from __future__ import annotations

import os
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from gsf_infer.analysis import calibrate as cal
from gsf_infer.analysis import sbc
from gsf_infer.executor import calibrate as exe_cal
from gsf_infer.executor.tasks import ExecutorSettings
from gsf_infer.inference.batch import (
    GradientPool,
    prepare,
    sample_batch,
    sample_prepared,
    with_observations,
)
from gsf_infer.inference.functions import value_and_grad_of
from gsf_infer.inference.sampling import sample

#: one worker builds the module's expensive fixtures once (pytest-xdist's loadgroup)
pytestmark = pytest.mark.xdist_group("test_many_fits")

#: Short chains on the tiny design: machinery, not calibration.
SHORT = dict(chains=2, warmup=100, draws=100, ranks=19, num_starts=2, prior_draws=200,
             max_iter=300)


@pytest.fixture(scope="module")
def tiny_run():
    """The tiny design's calibration laid out: models built, eight simulations drawn."""
    settings = sbc.CalibrationSettings(simulations=8, seed=2, batch=2, **SHORT)
    return cal.prepare_calibration(cal.design_records("tiny"), settings)


def _ys(run, i):
    return {name: jnp.asarray(run.joint[name][i]) for name in run.observed}


def test_the_pool_gives_every_member_its_own_potential_and_gradient(tiny_run):
    fns, inputs = tiny_run.fitter.fns, tiny_run.fitter.built.inputs
    single = value_and_grad_of(fns)
    rng = np.random.default_rng(0)
    members = 3
    points = [rng.normal(0.0, 0.3, (4, fns.dim)) for _ in range(members)]
    pool = GradientPool(fns, inputs, members)
    got: dict[int, list] = {}

    def work(m):
        f = pool.function(m, _ys(tiny_run, m))
        got[m] = [f(z) for z in points[m][: 2 + m]]  # members leave after different counts
        pool.leave()

    threads = [threading.Thread(target=work, args=(m,)) for m in range(members)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert pool.rounds == 4  # every active member's request in one call: 2 + 3 + 4 -> 4
    for m in range(members):
        own = with_observations(inputs, _ys(tiny_run, m))
        other = with_observations(inputs, _ys(tiny_run, (m + 1) % members))
        for z, (value, grad) in zip(points[m], got[m], strict=False):
            ref_value, ref_grad = single(jnp.asarray(z), own)
            np.testing.assert_allclose(value, float(ref_value), rtol=1e-12)
            np.testing.assert_allclose(grad, np.asarray(ref_grad), rtol=1e-9, atol=1e-9)
            # negative control: another member's data give another value
            assert abs(value - float(single(jnp.asarray(z), other)[0])) > 1e-6


def test_a_failing_evaluation_reaches_every_member_instead_of_hanging(tiny_run):
    fns, inputs = tiny_run.fitter.fns, tiny_run.fitter.built.inputs
    pool = GradientPool(fns, inputs, 1)
    with pytest.raises(Exception):  # noqa: B017  (a wrong shape: whatever JAX raises)
        pool.function(0, _ys(tiny_run, 0))(np.zeros(fns.dim + 1))


@pytest.mark.slow
def test_threaded_chains_reproduce_the_sequential_draws_exactly(tiny_run):
    fitter = tiny_run.fitter
    fns, inputs = fitter.fns, fitter.built.inputs
    config = fitter.config(7)
    single = value_and_grad_of(fns)
    seq, prepared, ys = [], [], []
    for i in (0, 1):
        ys.append(_ys(tiny_run, i))
        data = with_observations(inputs, ys[-1])
        seq.append(sample(fns, data, config))
        prepared.append(prepare(fns, data, config, lambda z, d=data: single(z, d)))
        assert prepared[-1].optima[0].potential == seq[-1].optima[0].potential
    both = sample_prepared(fns, inputs, ys, prepared, [config, config], threads=2)
    for fit, ref in zip(both, seq, strict=True):
        np.testing.assert_array_equal(fit.unconstrained, ref.unconstrained)
        np.testing.assert_array_equal(fit.sample_stats["n_steps"], ref.sample_stats["n_steps"])
    # negative control: the data swapped between the members change the draws
    swapped = sample_prepared(fns, inputs, ys[::-1], prepared, [config, config], threads=2)
    assert not np.array_equal(swapped[0].unconstrained, seq[0].unconstrained)


@pytest.mark.slow
def test_batched_and_sequential_fits_agree_within_mcse(tiny_run):
    import arviz as az

    fitter = tiny_run.fitter
    seeds = [11, 12, 13, 14]
    ys = [_ys(tiny_run, i) for i in range(4)]
    batched = fitter.fit_batch(ys, seeds)
    for y, seed, fit in zip(ys, seeds, batched, strict=True):
        ref = fitter.fit(y, seed)
        assert not isinstance(fit, BaseException), fit
        for p in ("a", "b"):
            x, r = fit["posterior"][p], ref["posterior"][p]
            se = np.hypot(float(az.mcse(x)), float(az.mcse(r)))
            assert abs(x.mean() - r.mean()) < 5 * se + 1e-9, (p, x.mean(), r.mean(), se)


# ------------------------------------------------------------------ calibrate on the executor


def _dies_on_the_second_batch(task):
    """``calibrate_chunk``, except that simulations 2-3 kill their worker on every attempt."""
    if task.indices[0] == 2:
        os._exit(1)
    return exe_cal.calibrate_chunk(task)


@pytest.mark.slow
def test_calibrate_on_two_workers_matches_in_process_and_keeps_other_batches(monkeypatch):
    settings = sbc.CalibrationSettings(simulations=6, seed=2, batch=2, **SHORT)
    design = cal.design_records("tiny")
    here = exe_cal.calibrate_on(design, settings, ExecutorSettings())
    monkeypatch.setattr(exe_cal, "calibrate_chunk", _dies_on_the_second_batch)
    lines = []
    there = exe_cal.calibrate_on(design, settings, ExecutorSettings(workers=2),
                                 notify=lambda line, important: lines.append(line))
    a, b = here.ranks.set_index("simulation"), there.ranks.set_index("simulation")
    assert list(b.index) == list(range(6))
    for i in (0, 1, 4, 5):  # same batches, same seeds: the same numbers
        for column in ("rank_a", "rank_b", "rank_rho", "mean_a", "mean_rho", "divergences"):
            assert a.loc[i, column] == b.loc[i, column], (i, column)
    for i in (2, 3):  # the lost batch: truths kept, no ranks, the error as status
        assert b.loc[i, "status"].startswith("error: batch lost: KilledWorker")
        assert pd.isna(b.loc[i, "rank_a"])
        assert b.loc[i, "true_a"] == a.loc[i, "true_a"]
    assert there.summary["errors"] == 2 and there.summary["ranked"] == 4
    assert any("simulations 2-3 failed" in line for line in lines)


# ------------------------------------------------------------------ compare on the executor


@pytest.mark.slow
def test_compare_on_two_workers_gives_the_in_process_table(tmp_path):
    from gsf_infer.executor.compare import compare_on
    from gsf_infer.output import artifacts
    from gsf_infer.simulate.gsf import GsfSimConfig, simulate_gsf

    frame, _ = simulate_gsf(GsfSimConfig(kinds=("loss",), sizes=(1e6, 1e7), loss_points=8),
                            np.random.default_rng(5))
    data = artifacts.write_table(frame, tmp_path / "loss.csv")
    options = dict(models=["gsf", "chinchilla"], gs=["ntk"], chains=1, warmup=50, draws=50,
                   seed=3)
    here = compare_on(data, ExecutorSettings(), **options)
    lines = []
    there = compare_on(data, ExecutorSettings(workers=2),
                       lambda line, important: lines.append(line), **options)
    assert [r["name"] for r in there["models"]] == [r["name"] for r in here["models"]]
    for a, b in zip(here["models"], there["models"], strict=True):
        # same seeds, same programs: the same ELPD on one machine
        np.testing.assert_allclose(b["elpd_loo"], a["elpd_loo"], rtol=1e-9)
    assert sum("fits done" in line for line in lines) == 2


def test_calibrate_refuses_a_bad_batch_and_workers_with_a_scheduler():
    with pytest.raises(Exception, match="--batch"):
        sbc.CalibrationSettings(batch=0).check()
    with pytest.raises(Exception, match="not both"):
        ExecutorSettings(workers=2, scheduler="tcp://x:1").check()


def test_sample_batch_of_nothing_is_nothing(tiny_run):
    assert sample_batch(tiny_run.fitter.fns, tiny_run.fitter.built.inputs, [], []) == []
    assert jax.numpy.asarray(0.0).dtype == jnp.float64


@pytest.mark.slow
def test_pipelined_batches_give_the_rows_of_batch_by_batch_fits(tiny_run):
    """The pipeline (optimiser a batch ahead, one pool of chain threads across batches) must
    give each simulation exactly the fit it gets when its batch is fitted on its own."""
    chunks = tiny_run.chunks()[:3]
    alone = [row for chunk in chunks for row in tiny_run.rows(chunk)]
    piped = [row for rows in tiny_run.rows_overlapped(threads=2) for row in rows]
    assert [r["simulation"] for r in piped] == list(range(8))  # in order, all of them
    for ref, got in zip(alone, piped, strict=False):
        assert ref["simulation"] == got["simulation"]
        for column in ("rank_a", "rank_b", "mean_a", "mean_rho", "divergences"):
            assert ref[column] == got[column], (ref["simulation"], column)
        assert got["sampling_seconds"] > 0



@pytest.mark.slow
def test_calibration_on_a_worker_gives_the_numbers_of_this_process():
    """OpenBLAS's last bits depend on its thread count, which Dask sets to 1 in its workers:
    without one thread in process too, 8 of 16 fits of the small design differed (measured).
    Same batch, same seeds: the same ranks, means and divergences."""
    settings = sbc.CalibrationSettings(simulations=4, seed=0, batch=4, **SHORT)
    design = cal.design_records("small")
    here = exe_cal.calibrate_on(design, settings, ExecutorSettings())
    there = exe_cal.calibrate_on(design, settings, ExecutorSettings(workers=1))
    a, b = here.ranks.set_index("simulation"), there.ranks.set_index("simulation")
    for column in ("rank_a", "rank_b", "rank_rho", "mean_a", "mean_rho", "divergences"):
        assert list(a[column]) == list(b[column]), column
