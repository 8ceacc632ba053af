"""Simulation-based calibration of the fit (Talts et al. 2018): ``gsf-infer calibrate``.

Draws pairs ``(theta, y)`` from the joint distribution of the ``deviation`` model (the ``gsf``
model where the design cannot test the invariant) on a fixed design
— every latent site from its prior and every record from the likelihood, in one call of
numpyro's ``Predictive`` on the model with its observed sites left free — fits each ``y`` with
the sampler of :mod:`gsf_infer.inference.sampling` (multi-start MAP, Laplace whitening, NUTS from
overdispersed starts), and ranks each true ``a``, ``b``, ``rho`` and ``delta_over_rho`` (the
invariant's relative discrepancy, where the model has deviation parameters) among ``L``
thinned posterior draws. The ranks and their uniformity tests are
:mod:`gsf_infer.analysis.sbc`'s; :mod:`gsf_infer.output.calibration` writes the files.

Choices, and why:

- *The model's own joint, on a design laid out by* ``simulate gsf``. The design (which ``t``,
  ``params``, ``bits``, ``sparsity``, ``k`` the records have) comes from a small ``simulate
  gsf`` run (or any records file); the values are drawn from the model. ``simulate gsf``
  itself cannot generate from the model's prior: its parametrisation ties amplitudes the
  model keeps free (the eigenvalue, target-power and loss amplitudes share ``Lam`` and ``A``)
  and it has one noise level where the model has one per kind, so data drawn from it are not
  draws from the model's joint distribution, and ranks would test that mismatch, not the
  posterior. (The model's ``continuum`` tier and the simulator's ``exact`` sums differ far
  less than any noise level does.)
- *Fixed priors.* The model centres its amplitude priors and bounds ``E`` on the data it is
  given (:mod:`gsf_infer.model.build`). Here both the generating and the fitting model are built
  once, on the design's records, so the prior is the same for every simulation and does not
  depend on the simulated values: the joint distribution SBC needs. Each fit conditions that
  model on the simulated values (they replace the observations in the model's inputs).
- *The full prior.* Nothing is restricted or redrawn: worlds where a kind is uninformative
  (frontier outside the time range, capacity below a mode) or ``1 + b - a <= 0`` (saturated
  quantization; counted as ``out_of_domain``) are part of the prior, and SBC stays exact there.
- *One compilation.* The data enter every compiled program as arguments
  (:func:`gsf_infer.inference.sampling.sample`), so the optimiser's gradient and the NUTS program
  are compiled once for all simulations; each fit is the tool's own sampler, step for step,
  without its automatic reruns and extensions (every simulation costs the same, and flags
  say where a fit would have needed them).
- *Batches.* With ``batch > 1`` the simulations of a batch are optimised side by side, their
  gradients evaluated together, and their chains run several at once while the next batch is
  optimised (:mod:`gsf_infer.inference.batch`); each gets the procedure it would get alone,
  from the same keys. :class:`CalibrationRun` fits any batch in any process, so
  :mod:`gsf_infer.executor.calibrate` can send batches to a Dask cluster.
- *Failures are kept.* A fit with divergences, ``R-hat > max_r_hat`` or a bulk ESS of ``a``,
  ``b`` or ``rho`` below the number of ranked draws is *flagged* but still ranked; the test
  is run on all ranked simulations and, separately, on the unflagged ones (conditioning on
  diagnostics can itself bias ranks, so the first is the test). A simulation whose fit raised
  an error has no rank; errors are counted and listed.

Imports NumPy, pandas, JAX, numpyro and ArviZ (for R-hat and ESS); writes nothing.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import arviz as az  # noqa: E402
import jax
import jax.numpy as jnp
import numpy as np
import numpyro  # noqa: F401  (before arviz: lazy-loader interplay)
import pandas as pd
from numpyro.infer import Predictive

from gsf_infer.analysis.sbc import (
    PARAMETERS,
    CalibrationResult,
    rank_of,
    rank_tests,
)
from gsf_infer.analysis.sbc_settings import CalibrationSettings
from gsf_infer.data.dataset import build_model_data
from gsf_infer.data.records import Records, read_records, records_from_frame
from gsf_infer.errors import InputError, Problem
from gsf_infer.inference import runtime
from gsf_infer.inference.batch import (
    prepare_batch,
    sample_prepared,
    submit_prepared,
    with_observations,
)
from gsf_infer.inference.config import SamplerConfig
from gsf_infer.inference.functions import model_functions
from gsf_infer.inference.runtime import one_blas_thread, release_compiled
from gsf_infer.inference.sampling import sample
from gsf_infer.model.build import build_model
from gsf_infer.model.priors import PriorSet
from gsf_infer.model.settings import ModelSettings
from gsf_infer.simulate.gsf import GsfSimConfig, simulate_gsf

#: Designs built in (``simulate gsf`` settings); any records file serves as well.
DESIGNS: tuple[str, ...] = ("small", "tiny")

#: The columns of ``ranks.csv`` after the per-parameter ones.
_DIAGNOSTIC_COLUMNS = ["out_of_domain", "divergences", "max_r_hat", "min_ess_bulk", "optima",
                       "flagged", "status", "seconds", "optimize_seconds", "sampling_seconds"]

# ----------------------------------------------------------------------------------- design


def design_config(name: str) -> GsfSimConfig:
    """Return the ``simulate gsf`` settings of a built-in design (:data:`DESIGNS`).

    ``small``: five kinds, about 50 records (two sizes); ``tiny``: spectrum and modes, about
    20 records, no spectral sums (for the test suite).
    """
    if name == "small":
        return GsfSimConfig(
            sizes=(1e6, 1e7),
            kinds=("loss", "quantization", "pruning", "spectrum", "modes"),
            loss_points=8,
            bits=(3, 5),
            quantization_points=5,
            pruning_times=(1e3, 1e5),
            sparsity_points=5,
            spectrum_points=8,
            modes_k=(1, 4, 16, 64, 256),
            modes_points=4,
        )
    if name == "tiny":
        return GsfSimConfig(
            kinds=("spectrum", "modes"),
            spectrum_points=6,
            modes_k=(1, 4, 16, 64, 256),
            modes_points=4,
        )
    raise InputError(
        Problem("gsf-infer calibrate", f"--design must be one of {', '.join(DESIGNS)} or a "
                "records file", value=name)
    )


def design_records(design: str | Path) -> Records:
    """Read or simulate the records whose covariates lay out the simulations.

    Their values centre the model's data-dependent priors.

    Parameters
    ----------
    design : str or Path
        A built-in design (:data:`DESIGNS`, simulated with seed 0) or a records file.

    Returns
    -------
    Records
    """
    if str(design) in DESIGNS:
        frame, _ = simulate_gsf(design_config(str(design)), np.random.default_rng(0))
        return records_from_frame(frame, path=f"design:{design}")
    return read_records(design)


def misspecified_priors(priors: PriorSet, **fixed: float) -> PriorSet:
    """Copy ``priors`` with some parameters fixed (``Fixed(value)``): a negative control.

    Parameters
    ----------
    priors : PriorSet
    **fixed : float
        Parameter name to value, e.g. ``sigma=0.005`` (every kind's noise scale).

    Returns
    -------
    PriorSet
    """
    table = dict(priors.priors)
    for name, value in fixed.items():
        table[name] = replace(table[name], dist="Fixed", args={"value": float(value)}, shift=0.0)
    return PriorSet(priors=table, source=f"{priors.source} with {fixed} fixed")


# ----------------------------------------------------------------------------------- fitting


class _Fitter:
    """:func:`gsf_infer.inference.sampling.sample` on simulated values, its programs compiled once.

    The data enter every compiled program as arguments, so one compilation serves all
    simulations; each fit replaces the observations in the model's inputs.
    """

    def __init__(self, built, settings: CalibrationSettings):
        self.built = built
        self.settings = settings
        self.fns = model_functions(built)
        self.parameters = PARAMETERS + (("delta_over_rho",) if built.deviations else ())

    def config(self, seed: int) -> SamplerConfig:
        """Return the sampler's settings for one simulation."""
        s = self.settings
        return SamplerConfig(
            num_chains=s.chains, num_warmup=s.warmup, num_samples=s.draws, seed=seed,
            target_accept_prob=s.target_accept_prob, max_tree_depth=s.max_tree_depth,
            num_starts=s.num_starts, prior_draws=s.prior_draws, overdispersion=s.overdispersion,
            max_iter=s.max_iter, adaptive=False,
        )

    def fit(self, ys: dict[str, Any], seed: int) -> dict[str, Any]:
        """Posterior draws of the ranked parameters (``(chain, draw)``) and diagnostics."""
        ys = {name: jnp.asarray(value) for name, value in ys.items()}
        result = sample(self.fns, with_observations(self.built.inputs, ys), self.config(seed))
        return self._outcome(result)

    def prepare_batch(self, ys: list[dict[str, Any]], seeds: list[int]) -> list[Any]:
        """Optimise several simulations together (:func:`prepare_batch`): their states."""
        return prepare_batch(self.fns, self.built.inputs, ys, [self.config(s) for s in seeds])

    def sample_prepared(self, ys: list[dict[str, Any]], seeds: list[int], prepared: list[Any],
                        threads: int = 1) -> list[dict[str, Any] | BaseException]:
        """Run the chains of prepared simulations (:func:`sample_prepared`); their fits."""
        results = sample_prepared(self.fns, self.built.inputs, ys, prepared,
                                  [self.config(s) for s in seeds], threads=threads)
        return [r if isinstance(r, BaseException) else self._outcome(r) for r in results]

    def submit_prepared(self, pool: Executor, ys: list[dict[str, Any]], seeds: list[int],
                        prepared: list[Any]) -> list[Future]:
        """Queue the chains of prepared simulations on ``pool`` (:meth:`outcomes` waits)."""
        return submit_prepared(pool, self.fns, self.built.inputs, ys, prepared,
                               [self.config(s) for s in seeds])

    def outcomes(self, futures: list[Future]) -> list[dict[str, Any] | BaseException]:
        """Wait for :meth:`submit_prepared`'s futures; the fits (an exception passes)."""
        results = [f.result() for f in futures]
        return [r if isinstance(r, BaseException) else self._outcome(r) for r in results]

    def fit_batch(self, ys: list[dict[str, Any]], seeds: list[int],
                  threads: int = 1) -> list[dict[str, Any] | BaseException]:
        """:meth:`fit` of several simulations, optimised together, chains ``threads`` at once."""
        return self.sample_prepared(ys, seeds, self.prepare_batch(ys, seeds), threads)

    def _outcome(self, result) -> dict[str, Any]:
        stats = result.sample_stats
        return {
            "posterior": {p: result.posterior[p] for p in self.parameters},
            "u": result.unconstrained,
            "divergences": int(np.asarray(stats["diverging"]).sum()),
            "optima": len(result.optima),
            "optimize_seconds": result.seconds["optimize"],
            "sampling_seconds": result.seconds["sampling"],
        }


def _diagnostics(fit: dict[str, Any]) -> dict[str, float]:
    """Compute the largest R-hat (unconstrained coordinates) and the smallest bulk ESS ranked."""
    u = fit["u"]
    # a chain stuck at one point has zero within-chain variance: ArviZ divides by it (numpy
    # warns); its R-hat is then infinite or NaN, and such a fit is flagged, not an error
    with np.errstate(divide="ignore", invalid="ignore"):
        if u.shape[0] > 1:
            r_hat = np.asarray(az.rhat(u), dtype=float)
            max_r_hat = float(np.max(np.where(np.isnan(r_hat), np.inf, r_hat)))
        else:
            max_r_hat = float("nan")
        ess = [float(np.asarray(az.ess(v, method="bulk"))) for v in fit["posterior"].values()]
    return {"max_r_hat": max_r_hat, "min_ess_bulk": float(min(ess)) if ess else float("nan")}


def _ranked_row(fit: dict[str, Any], truth: dict[str, float], parameters: tuple[str, ...],
                settings: CalibrationSettings) -> dict[str, Any]:
    """Ranks, posterior means, diagnostics and flags of one simulation's fit."""
    diag = _diagnostics(fit)
    row: dict[str, Any] = {}
    for p in parameters:
        row[f"rank_{p}"] = rank_of(truth[p], fit["posterior"][p], settings.ranks)
        row[f"mean_{p}"] = float(np.mean(fit["posterior"][p]))
    row["divergences"] = fit["divergences"]
    row["max_r_hat"] = diag["max_r_hat"]
    row["min_ess_bulk"] = diag["min_ess_bulk"]
    for key in ("optima", "optimize_seconds", "sampling_seconds"):
        row[key] = fit[key]
    flags = []
    if fit["divergences"] > 0:
        flags.append("divergences")
    if not math.isnan(diag["max_r_hat"]) and diag["max_r_hat"] > settings.max_r_hat:
        flags.append("r_hat")
    if not diag["min_ess_bulk"] >= settings.ranks:
        flags.append("ess")
    row["flagged"] = bool(flags)
    row["status"] = "ok" if not flags else "flagged: " + ", ".join(flags)
    return row


def _truth_row(i: int, joint: dict[str, np.ndarray], parameters: tuple[str, ...]):
    """Return the start of simulation ``i``'s row (its truths) and the truths."""
    truth = {p: float(joint[p][i]) for p in parameters}
    row: dict[str, Any] = {"simulation": i}
    row.update({f"true_{p}": truth[p] for p in parameters})
    row["out_of_domain"] = bool(1.0 + truth["b"] - truth["a"] <= 0)
    return row, truth


@dataclass
class _Batch:
    """Simulations fitted together: their rows so far, truths and what is left to fit."""

    indices: list[int]
    rows: dict[int, dict[str, Any]]
    truths: dict[int, dict[str, float]]
    ys: list[dict[str, Any]]
    seeds: list[int]
    tic: float


def _start(indices: list[int], joint: dict[str, np.ndarray], observed: list[str],
           fitter: _Fitter, settings: CalibrationSettings) -> _Batch:
    """Lay out a batch: truths, and the simulated values of those that can be fitted."""
    batch = _Batch(list(indices), {}, {}, [], [], time.perf_counter())
    for i in indices:
        batch.rows[i], batch.truths[i] = _truth_row(i, joint, fitter.parameters)
        ys = {name: joint[name][i] for name in observed}
        if all(np.all(np.isfinite(v)) for v in ys.values()):
            batch.ys.append(ys)
            batch.seeds.append(settings.seed * 100_003 + i)
        else:
            batch.rows[i].update(status="error: non-finite simulated values", flagged=True)
    return batch


def _finish(batch: _Batch, fits: list[Any], fitter: _Fitter,
            settings: CalibrationSettings) -> list[dict[str, Any]]:
    """Rank each fit of a batch (an exception becomes its error status): the batch's rows."""
    fitted = [i for i in batch.indices if "status" not in batch.rows[i]]
    for i, fit in zip(fitted, fits, strict=True):
        if isinstance(fit, BaseException):
            batch.rows[i].update(status=f"error: {type(fit).__name__}: {fit}", flagged=True)
            continue
        try:
            batch.rows[i].update(_ranked_row(fit, batch.truths[i], fitter.parameters, settings))
        except Exception as err:  # one bad world must not cost the others; it is counted
            batch.rows[i].update(status=f"error: {type(err).__name__}: {err}", flagged=True)
    seconds = (time.perf_counter() - batch.tic) / max(len(batch.indices), 1)
    for row in batch.rows.values():
        row["seconds"] = seconds
    return [batch.rows[i] for i in batch.indices]


def _fit_one(fitter: _Fitter, ys: dict[str, Any], seed: int) -> Any:
    """:meth:`_Fitter.fit`, an exception returned rather than raised."""
    try:
        return fitter.fit(ys, seed)
    except Exception as err:  # one bad world must not cost the others; it is counted
        return err


# ----------------------------------------------------------------------------------- driver


def _rank_table(rows: list[dict[str, Any]], parameters: tuple[str, ...]) -> pd.DataFrame:
    """Lay out the rows of ``ranks.csv`` in their columns, counts as nullable integers."""
    columns = (
        ["simulation"]
        + [f"{kind}_{p}" for kind in ("true", "rank", "mean") for p in parameters]
        + _DIAGNOSTIC_COLUMNS
    )
    table = pd.DataFrame(rows).reindex(columns=columns)
    for column in [f"rank_{p}" for p in parameters] + ["divergences", "optima"]:
        table[column] = table[column].astype("Int64")
    return table


def _context(design: Records, model_settings: ModelSettings, priors: PriorSet,
             fit_priors: PriorSet, settings: CalibrationSettings) -> dict[str, Any]:
    """Describe the design, the model, both priors and the settings for ``calibration.json``."""
    return {
        "design": {"path": design.path,
                   "records": {k: int(v) for k, v in design.counts().items()}},
        "model": model_settings.as_attrs(),
        "priors": priors.as_attrs(),
        "fit_priors": fit_priors.as_attrs(),
        "misspecified": fit_priors.as_attrs() != priors.as_attrs(),
        "settings": asdict(settings),
    }


def _summary(table: pd.DataFrame, ranked: pd.DataFrame, tests: dict[str, Any],
             context: dict[str, Any]) -> dict[str, Any]:
    """Assemble the ``calibration.json`` object.

    It holds ``context`` (design, model, priors, settings), the counts of ranked, flagged and
    failed simulations, and the tests.
    """
    statuses = table["status"].astype(str)
    errors = statuses.str.startswith("error")
    return {
        "method": "simulation-based calibration (Talts et al. 2018): (theta, y) from the gsf "
        "model's prior and likelihood on a fixed design; rank of each truth among thinned "
        "posterior draws; uniformity by Pearson's chi-square on equal-probability rank bins "
        "(decision) and Kolmogorov-Smirnov on (rank + 1/2)/(L + 1)",
        **context,
        "simulations": int(len(table)),
        "ranked": int(len(ranked)),
        "flagged": int(ranked["flagged"].astype(bool).sum()),
        "errors": int(errors.sum()),
        "error_messages": sorted(set(statuses[errors])),
        "divergent_fits": int((ranked["divergences"] > 0).sum()),
        "r_hat_flagged": int(statuses.str.contains("r_hat").sum()),
        "ess_flagged": int(statuses.str.contains("ess").sum()),
        "out_of_domain": int(table["out_of_domain"].sum()),
        "tests": tests,
    }


def _draw_joint(generator, settings: CalibrationSettings) -> dict[str, np.ndarray]:
    """``settings.simulations`` draws of every site of the generating model's joint."""
    key = jax.random.key(settings.seed)
    joint = Predictive(generator.fn, num_samples=settings.simulations)(
        key, generator.inputs, predict=True
    )
    return {k: np.asarray(v) for k, v in joint.items()}


@dataclass
class CalibrationRun:
    """A calibration laid out: the models built, the joint drawn, the fits to run.

    :func:`prepare_calibration` builds it; :meth:`rows` fits some simulations (in any process
    that built the same run: the joint is drawn from ``settings.seed``), :meth:`result`
    assembles the rows of every simulation.
    """

    design: Records
    settings: CalibrationSettings
    context: dict[str, Any]
    fitter: _Fitter
    joint: dict[str, np.ndarray]
    observed: list[str]
    setup_seconds: float

    def chunks(self) -> list[list[int]]:
        """List the simulations in batches of ``settings.batch``, in order."""
        n, size = self.settings.simulations, self.settings.batch
        return [list(range(i, min(i + size, n))) for i in range(0, n, size)]

    def rows(self, indices: list[int], threads: int = 1) -> list[dict[str, Any]]:
        """Fit simulations ``indices`` together; their rows of ``ranks.csv``.

        One simulation with ``settings.batch == 1`` is fitted by
        :func:`~gsf_infer.inference.sampling.sample`; otherwise the batch's optimisers share
        their gradient evaluations (:func:`~gsf_infer.inference.batch.prepare_batch`) and
        their chains run ``threads`` simulations at a time.
        """
        batch = _start(indices, self.joint, self.observed, self.fitter, self.settings)
        if self.settings.batch == 1 and len(batch.ys) == 1:
            fits = [_fit_one(self.fitter, batch.ys[0], batch.seeds[0])]
        else:
            fits = self.fitter.fit_batch(batch.ys, batch.seeds, threads) if batch.ys else []
        return self._done(batch, fits)

    def rows_overlapped(self, threads: int = 1) -> Iterator[list[dict[str, Any]]]:
        """Every batch's rows, each batch optimised while earlier ones sample.

        The optimisers of batch ``k + 1`` run in a thread while the chains of batches ``k``
        and ``k - 1`` run on one pool of ``threads`` threads, one simulation per task: a thread
        that finishes a simulation takes the next one queued, whichever batch it belongs to,
        so no core waits for the slowest simulation of a batch. Batches are yielded in order
        as their last simulation finishes; the numbers are those of :meth:`rows` batch by
        batch. A row's ``seconds`` is its batch's wall time, from the start of its
        optimisation to the end of its last chains, over the batch's size (batches overlap,
        so these do not add up to the run's).
        """
        chunks = [_start(c, self.joint, self.observed, self.fitter, self.settings)
                  for c in self.chunks()]
        running: list[tuple[_Batch, list[Future]]] = []
        with (ThreadPoolExecutor(max_workers=1) as ahead,
              ThreadPoolExecutor(max_workers=max(int(threads), 1)) as pool):
            chunks[0].tic = time.perf_counter()  # a batch's time runs from its optimisation
            future = ahead.submit(self.fitter.prepare_batch, chunks[0].ys, chunks[0].seeds)
            for k, batch in enumerate(chunks):
                prepared = future.result()
                if runtime.memory_maps() > runtime.MAP_BUDGET:  # drain, then free compiled programs
                    while running:
                        yield self._finished(running.pop(0))
                    self._release()  # nothing else runs now
                running.append((batch, self.fitter.submit_prepared(pool, batch.ys, batch.seeds,
                                                                   prepared)))
                if k + 1 < len(chunks):
                    nxt = chunks[k + 1]
                    nxt.tic = time.perf_counter()
                    future = ahead.submit(self.fitter.prepare_batch, nxt.ys, nxt.seeds)
                # at most two batches' chains queued: the optimiser runs one batch ahead
                while len(running) > 1 or (running and k + 1 == len(chunks)):
                    yield self._finished(running.pop(0))

    def _finished(self, queued: tuple[_Batch, list[Future]]) -> list[dict[str, Any]]:
        batch, futures = queued
        return _finish(batch, self.fitter.outcomes(futures), self.fitter, self.settings)

    def _done(self, batch: _Batch, fits: list[Any]) -> list[dict[str, Any]]:
        rows = _finish(batch, fits, self.fitter, self.settings)
        self._release()
        return rows

    def _release(self) -> None:
        """Free compiled programs before Linux's limit of memory maps (a long run)."""
        if release_compiled():
            self.fitter.fns.programs.clear()

    def failed_rows(self, indices: list[int], error: str) -> list[dict[str, Any]]:
        """Rows of simulations whose batch was lost (``error`` says why): truths, no ranks."""
        rows = []
        for i in indices:
            row, _ = _truth_row(i, self.joint, self.fitter.parameters)
            rows.append({**row, "status": f"error: {error}", "flagged": True})
        return rows

    def result(self, rows: list[dict[str, Any]], seconds: float) -> CalibrationResult:
        """Rank table, uniformity tests and ``calibration.json`` summary of every row."""
        table = _rank_table(sorted(rows, key=lambda r: r["simulation"]), self.fitter.parameters)
        ranked, tests = rank_tests(table, self.fitter.parameters, self.settings)
        summary = _summary(table, ranked, tests, self.context)
        summary["seconds"] = {
            "total": seconds,
            "setup": self.setup_seconds,
            "per_simulation_median": float(table["seconds"].median()),
        }
        return CalibrationResult(ranks=table, tests=tests, summary=summary)


def prepare_calibration(
    design: Records,
    settings: CalibrationSettings | None = None,
    *,
    priors: PriorSet | None = None,
    fit_priors: PriorSet | None = None,
    model_settings: ModelSettings | None = None,
) -> CalibrationRun:
    """Check the settings, build both models and draw the joint: :func:`calibrate`'s set-up.

    Parameters are those of :func:`calibrate`.
    """
    settings = settings or CalibrationSettings()
    settings.check()
    model_settings = model_settings or ModelSettings(model="deviation")
    if model_settings.model not in ("gsf", "deviation"):
        raise InputError(Problem("gsf-infer calibrate", "calibrates the gsf or deviation model",
                                 value=model_settings.model))
    priors = priors or PriorSet()
    fit_priors = fit_priors or priors
    data = build_model_data(design)
    generator = build_model(data, model_settings, priors)
    fitted = build_model(data, model_settings, fit_priors)
    gen_fns = model_functions(generator)
    joint = _draw_joint(generator, settings)
    tic = time.perf_counter()
    fitter = _Fitter(fitted, settings)
    missing = [p for p in fitter.parameters if p not in joint]
    if missing:
        raise InputError(Problem("gsf-infer calibrate", "the model has no site(s) "
                                 + ", ".join(missing) + " to calibrate"))
    observed = [name for name in gen_fns.observed if name in joint]
    context = _context(design, model_settings, priors, fit_priors, settings)
    return CalibrationRun(design=design, settings=settings, context=context, fitter=fitter,
                          joint=joint, observed=observed,
                          setup_seconds=time.perf_counter() - tic)


def calibrate(
    design: Records,
    settings: CalibrationSettings | None = None,
    *,
    priors: PriorSet | None = None,
    fit_priors: PriorSet | None = None,
    model_settings: ModelSettings | None = None,
    on_simulation: Callable[[int, dict[str, Any]], None] | None = None,
    threads: int | None = None,
) -> CalibrationResult:
    """Run simulation-based calibration of the ``gsf`` model's fit on a design.

    Parameters
    ----------
    design : Records
        Covariates of the simulated records, and the values that centre the model's
        data-dependent priors (:func:`design_records`).
    settings : CalibrationSettings, optional
        Among them ``batch``: how many simulations are fitted together
        (:func:`gsf_infer.inference.batch.sample_batch`; 1 fits one after the other).
    priors : PriorSet, optional
        Priors of the generating model (default: the default priors).
    fit_priors : PriorSet, optional
        Priors of the fitting model; by default the generating ones. Anything else is a
        deliberately mis-specified fit (a negative control): its ranks need not be uniform.
    model_settings : ModelSettings, optional
        The model (``gsf`` or ``deviation``, with a family whose ``rho`` exists); default
        ``ModelSettings(model="deviation")``.
    on_simulation : callable, optional
        Called as ``on_simulation(i, row)`` after each simulation (progress display).
    threads : int, optional
        With ``batch > 1``: simulations whose chains run at once, while the next batch is
        optimised (:meth:`CalibrationRun.rows_overlapped`); default: the machine's cores. The
        numbers do not depend on it.

    Returns
    -------
    CalibrationResult

    Notes
    -----
    JAX must have been configured (:func:`gsf_infer.inference.runtime.configure`); float64 is
    expected. :mod:`gsf_infer.executor.calibrate` runs the batches on a Dask cluster.
    """
    tic_total = time.perf_counter()
    run = prepare_calibration(design, settings, priors=priors, fit_priors=fit_priors,
                              model_settings=model_settings)
    rows: list[dict[str, Any]] = []
    threads = threads or os.cpu_count() or 1
    batches = (run.rows_overlapped(threads) if run.settings.batch > 1
               else (run.rows(chunk) for chunk in run.chunks()))
    with one_blas_thread():
        for batch in batches:
            for row in batch:
                rows.append(row)
                if on_simulation is not None:
                    on_simulation(row["simulation"], row)
    return run.result(rows, time.perf_counter() - tic_total)
