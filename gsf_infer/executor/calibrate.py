"""``calibrate --workers|--scheduler``: simulation-based calibration, batches of fits as tasks.

:func:`calibrate_on` lays the calibration out in this process
(:func:`gsf_infer.analysis.calibrate.prepare_calibration`: both models built, the joint drawn
from the seed), makes one :class:`CalibrationChunk` task of each batch of simulations, runs them
through :func:`gsf_infer.executor.tasks.run_tasks` and assembles the rows. A worker builds the
same run from the same settings (the joint is a function of the seed), so every simulation is
fitted exactly as in process, whichever worker fits it. A batch that still fails after its retry
keeps its simulations' truths with the error as their status; every other batch's rows are
kept. Imports the standard library at module level; the calibration (JAX) inside the functions,
after :func:`gsf_infer.inference.runtime.configure`.
"""

from __future__ import annotations

import hashlib
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gsf_infer.analysis.sbc_settings import CalibrationSettings
from gsf_infer.executor.tasks import ExecutorSettings, Outcome, run_tasks
from gsf_infer.inference import runtime

__all__ = ["CalibrationChunk", "calibrate_chunk", "calibrate_on"]


@dataclass(frozen=True)
class CalibrationChunk:
    """One batch of simulations of a calibration: the work of one task.

    Attributes
    ----------
    indices : tuple of int
        The simulations fitted together.
    design : Records
        The design's records.
    settings : CalibrationSettings
    priors, fit_priors : PriorSet
        Generating and fitting priors.
    model_settings : ModelSettings or None
    """

    indices: tuple[int, ...]
    design: Any
    settings: CalibrationSettings
    priors: Any
    fit_priors: Any
    model_settings: Any

    @property
    def name(self) -> str:
        """``"simulations 8-15"``: how the task is named in messages."""
        return f"simulations {self.indices[0]}-{self.indices[-1]}"

    def run_key(self) -> str:
        """Digest of everything but the indices: tasks of one calibration share a run."""
        whole = (self.design, self.settings, self.priors, self.fit_priors, self.model_settings)
        return hashlib.sha256(pickle.dumps(whole)).hexdigest()


#: The calibration a worker process built last, by :meth:`CalibrationChunk.run_key`: the next
#: batch of the same calibration reuses its models, joint and compiled programs.
_RUNS: dict[str, Any] = {}


def calibrate_chunk(task: CalibrationChunk) -> list[dict[str, Any]]:
    """Fit one batch of simulations: the work of one task, in whichever process runs it.

    Returns
    -------
    list of dict
        The simulations' rows of ``ranks.csv``.
    """
    runtime.configure(host_devices=1)
    # deferred: imports JAX, which runtime.configure must precede in a worker process
    from gsf_infer.analysis.calibrate import prepare_calibration

    key = task.run_key()
    if key not in _RUNS:
        _RUNS.clear()
        _RUNS[key] = prepare_calibration(task.design, task.settings, priors=task.priors,
                                         fit_priors=task.fit_priors,
                                         model_settings=task.model_settings)
    with runtime.one_blas_thread():  # as in process, whatever the worker's environment
        return _RUNS[key].rows(list(task.indices))


def calibrate_on(
    design: Any,
    settings: CalibrationSettings,
    executor: ExecutorSettings,
    *,
    priors: Any = None,
    fit_priors: Any = None,
    model_settings: Any = None,
    on_simulation: Callable[[int, dict[str, Any]], None] | None = None,
    notify: Callable[[str, bool], None] | None = None,
):
    """Run :func:`gsf_infer.analysis.calibrate.calibrate` where ``executor`` says.

    Parameters
    ----------
    design, settings, priors, fit_priors, model_settings
        As for :func:`~gsf_infer.analysis.calibrate.calibrate`; ``settings.batch``
        simulations make one task.
    executor : ExecutorSettings
        In this process (then exactly :func:`~gsf_infer.analysis.calibrate.calibrate`), a
        ``LocalCluster`` or a running scheduler.
    on_simulation : callable, optional
        Called as ``on_simulation(i, row)`` for each simulation as its batch finishes.
    notify : callable, optional
        Called as ``notify(line, important)``: a batch that failed for good (important).

    Returns
    -------
    CalibrationResult
    """
    # deferred: imports JAX (the caller has configured it)
    from gsf_infer.analysis.calibrate import calibrate, prepare_calibration

    executor.check()
    if executor.in_process:
        return calibrate(design, settings, priors=priors, fit_priors=fit_priors,
                         model_settings=model_settings, on_simulation=on_simulation)
    say = notify or (lambda line, important: None)
    tic = time.perf_counter()
    run = prepare_calibration(design, settings, priors=priors, fit_priors=fit_priors,
                              model_settings=model_settings)
    tasks = [CalibrationChunk(tuple(chunk), design, run.settings, priors, fit_priors,
                              model_settings) for chunk in run.chunks()]
    rows: list[dict[str, Any]] = []

    def on_done(outcome: Outcome, done: int, total: int, elapsed: float) -> None:
        if outcome.value is None:
            say(f"{outcome.name} failed: {outcome.error}", True)
            return
        for row in outcome.value:
            if on_simulation is not None:
                on_simulation(row["simulation"], row)

    outcomes = run_tasks(calibrate_chunk, tasks, executor, on_done)
    for task, outcome in zip(tasks, outcomes, strict=True):
        rows += (outcome.value if outcome.value is not None else
                 run.failed_rows(list(task.indices), f"batch lost: {outcome.error}"))
    return run.result(rows, time.perf_counter() - tic)
