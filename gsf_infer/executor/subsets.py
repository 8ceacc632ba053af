"""``fit --by run|group``: one fit per subset of the records, each into its own folder.

:func:`plan_subsets` makes a :class:`SubsetFit` task of each run (or group) and, with
``resume``, keeps the folders that a previous run completed for the same records and settings
(:func:`verify_folder` compares them with the subset's :func:`fingerprint`);
:func:`fit_subset` fits one subset and writes its folder, in whichever process runs it;
:func:`fit_subsets` runs them all through :func:`gsf_infer.executor.tasks.run_tasks` and writes
the combined table and its figure. Imports the standard library, NumPy and pandas at module
level; the fit, the plots and the report (JAX, ArviZ, matplotlib) only inside the functions
that need them, so that a worker sets JAX up before JAX is imported.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from gsf_infer.data.records import Records, read_records
from gsf_infer.errors import GsfInferError
from gsf_infer.executor.tasks import ExecutorSettings, Outcome, run_tasks
from gsf_infer.inference import runtime
from gsf_infer.output import artifacts
from gsf_infer.workflow.options import FitOptions
from gsf_infer.workflow.resolve import resolve_likelihood, resolve_pruning_metric

__all__ = ["SubsetFit", "fingerprint", "fit_subset", "fit_subsets", "plan_subsets",
           "subset_sha256", "verify_folder"]


@dataclass(frozen=True)
class SubsetFit:
    """One subset's fit: its records, the fit's options and the folder it is written to.

    Attributes
    ----------
    by : str
        ``run`` or ``group``.
    value : str
        The subset's run or group name.
    records : Records
        The subset's records.
    folder : Path
        Its result folder (absolute, so that any worker writes the same place).
    options : dict
        Keyword arguments of :func:`gsf_infer.workflow.fit.fit` (no ``progress`` callback).
    fingerprint : dict
        What ``resume`` compares with a finished folder (:func:`fingerprint`); written into
        its ``summary.json`` under ``subset``.
    """

    by: str
    value: str
    records: Records
    folder: Path
    options: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``"run P1e6"``: how the task is named in messages."""
        return f"{self.by} {self.value}"


def subset_sha256(records: Records) -> str:
    """SHA-256 of a subset's records (their values, not the file's line numbers).

    Two files that hold the same records for a run give the same digest, so appending runs to
    a file does not invalidate the folders of the runs already fitted.
    """
    table = records.table.drop(columns=["line"], errors="ignore")
    text = table.to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(by: str, value: str, records: Records, options: dict[str, Any]) -> dict[str, Any]:
    """Everything that makes a subset's fit what it is, as stored under ``subset``.

    Returns
    -------
    dict
        ``by``, ``name``, ``sha256`` (:func:`subset_sha256`), ``records_params`` (geometric
        mean of the records' parameter counts, for the combined table) and ``settings``: the
        model, ``g``, tier and likelihood (as resolved from the data's header), the sampler's
        chains, warm-up, draws and seed, and the other options that change the numbers.
    """
    opts = {**FitOptions().keywords(), **options}
    settings = {key: opts[key] for key in (
        "model", "g", "tier", "chains", "warmup", "draws", "seed", "holdout", "target_accept",
        "max_draws", "ci_prob", "rope", "check_invariant", "discrepancy", "adapt_mass")}
    settings["likelihood"] = resolve_likelihood(opts["likelihood"], records)
    settings["pruning_metric"] = resolve_pruning_metric(opts["pruning_metric"], records)
    try:  # an unreadable priors file fails the fit itself, with the tool's message
        priors = opts["priors_path"]
        settings["priors_sha256"] = hashlib.sha256(Path(priors).read_bytes()).hexdigest()
    except (OSError, TypeError):
        settings["priors_sha256"] = None
    params = records.table["params"].dropna() if "params" in records.table else []
    return json.loads(json.dumps({
        "by": by,
        "name": value,
        "sha256": subset_sha256(records),
        "records_params": float(np.exp(np.mean(np.log(params)))) if len(params) else None,
        "settings": settings,
    }))


#: Where ``summary.json`` keeps each setting that ``resume`` verifies (the rest: ``subset``).
_SUMMARY_PLACES = {
    "model": ("model", "name"), "g": ("model", "g"), "tier": ("model", "tier"),
    "likelihood": ("model", "likelihood"), "chains": ("sampler", "chains"),
    "warmup": ("sampler", "warmup"), "draws": ("sampler", "draws"), "seed": ("sampler", "seed"),
}


def verify_folder(folder: Path, expected: dict[str, Any]) -> tuple[dict | None, list[str]]:
    """Whether a result folder is a finished fit of this subset with these settings.

    Parameters
    ----------
    folder : Path
        A subset's result folder.
    expected : dict
        The subset's :func:`fingerprint`.

    Returns
    -------
    summary : dict or None
        The folder's ``summary.json`` when it could be read.
    reasons : list of str
        Why the folder cannot be kept (empty when it is complete and matches).
    """
    if not folder.exists():
        return None, ["not fitted yet"]
    missing = [n for n in ("posterior.nc", "summary.json") if not (folder / n).is_file()]
    if missing:
        return None, [f"incomplete ({', '.join(missing)} missing)"]
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return None, [f"summary.json unreadable ({err})"]
    if not isinstance(summary, dict):
        return None, ["summary.json is not a fit's summary"]
    found_subset = summary.get("subset") or {}
    reasons = []
    if found_subset.get("sha256") != expected["sha256"]:
        reasons.append("its records changed (sha256 of the subset differs)"
                       if found_subset.get("sha256") else "summary.json has no subset sha256")
    found_settings = found_subset.get("settings") or {}
    for key, want in expected["settings"].items():
        if key in _SUMMARY_PLACES:
            section, entry = _SUMMARY_PLACES[key]
            have = (summary.get(section) or {}).get(entry)
        else:
            have = found_settings.get(key)
        if have != want:
            reasons.append(f"{key} {have!r} in summary.json, {want!r} asked")
    return summary, reasons


def _unique_folders(out: Path, names: list[str]) -> list[Path]:
    """One folder per subset; names that clean to the same folder name get ``_2``, ``_3``."""
    used: dict[str, int] = {}
    folders = []
    for name in names:
        base = artifacts.safe_name(name)
        used[base] = used.get(base, 0) + 1
        folders.append(out / (base if used[base] == 1 else f"{base}_{used[base]}"))
    return folders


def plan_subsets(
    records: Records,
    by: str,
    out: Path,
    options: dict[str, Any],
    resume: bool = False,
) -> tuple[list[SubsetFit], dict[int, dict], list[str]]:
    """List the fits that ``fit --by`` runs, and the rows of the folders ``resume`` keeps.

    Returns
    -------
    tasks : list of SubsetFit
        The subsets to fit.
    kept : dict of int to dict
        Combined-table rows (:func:`gsf_infer.workflow.batch.by_row`) of the finished, verified
        folders, by the subset's position.
    notes : list of str
        One line per subset that ``resume`` skips or refits, and why.
    """
    from gsf_infer.workflow.batch import by_row, subsets  # deferred: imports JAX

    options = {k: v for k, v in options.items() if k != "progress"}
    if options.get("priors_path"):  # read by the worker, whose folder may differ
        options["priors_path"] = str(Path(options["priors_path"]).absolute())
    parts = subsets(records, by)
    folders = _unique_folders(Path(out).absolute(), [name for name, _ in parts])
    tasks, kept, notes = [], {}, []
    for i, ((name, part), folder) in enumerate(zip(parts, folders, strict=True)):
        task = SubsetFit(by, name, part, folder, options, fingerprint(by, name, part, options))
        if resume:
            summary, reasons = verify_folder(folder, task.fingerprint)
            if not reasons:
                result = SimpleNamespace(summary=summary,
                                         records_params=task.fingerprint["records_params"])
                seconds = summary["sampler"].get("seconds_total", math.nan)
                kept[i] = by_row(name, by, result, seconds)
                notes.append(f"{task.name}: complete and verified in {folder.name}/, kept")
                continue
            if folder.exists():
                notes.append(f"{task.name}: refitted: " + "; ".join(reasons))
        tasks.append(task)
    return tasks, kept, notes


def fit_subset(task: SubsetFit) -> dict[str, Any]:
    """Fit one subset and write its folder: the work of one task, in whichever process.

    Sets JAX up for this process first (a Dask worker inherits nothing from the client), and
    frees compiled programs afterwards once the process holds many (a worker fits many
    subsets).

    Returns
    -------
    dict
        ``row`` (the subset's row of the combined table), ``status`` (``converged``, ``NOT
        CONVERGED`` or ``failed: ...``) and ``warnings``. The tool's own errors (bad input,
        a model that cannot be built) are returned as a failed row, since running them again
        would fail the same way; anything else propagates, to be retried.
    """
    runtime.configure(host_devices=max(int(task.options.get("chains", 4)), 1))
    # deferred: imports JAX, which runtime.configure must precede in a worker process
    from gsf_infer.workflow.batch import by_row
    from gsf_infer.workflow.fit import fit

    tic = time.perf_counter()
    try:
        result = fit(task.records, programs=_programs(), **task.options)
        result.summary["subset"] = task.fingerprint
        failures: list[str] = []
        with _in_memory_writes():
            artifacts.write_fit(result, task.folder, force=True,
                                extra=_extras(result, task.records, failures))
    except GsfInferError as err:
        row = by_row(task.value, task.by, None, time.perf_counter() - tic, error=str(err))
        return {"row": row, "status": f"failed: {err}", "warnings": []}
    finally:
        if runtime.release_compiled():
            _programs().clear()
    row = by_row(task.value, task.by, result, time.perf_counter() - tic)
    status = "converged" if result.diagnostics["converged"] else "NOT CONVERGED"
    return {"row": row, "status": status, "warnings": list(failures)}


@functools.cache
def _programs() -> Any:
    """Return this process's :class:`~gsf_infer.model.padding.ProgramCache` of subset fits.

    The subsets' records are padded to a few shared widths, so that the fits of subsets with
    the same kinds run the same compiled programs instead of tracing and compiling their own
    (this process's, or a Dask worker's: each keeps its own).
    """
    from gsf_infer.model.padding import ProgramCache  # deferred: imports JAX

    return ProgramCache()


def _in_memory_writes() -> contextlib.AbstractContextManager:
    """Keep xarray's netCDF writer off the cluster.

    When Dask is loaded, xarray asks it for the active scheduler before writing; inside a
    worker that is the cluster (a client per worker, a distributed lock per file). A fit's
    arrays are in memory, so the writes need no scheduler. Dask is not imported here.
    """
    dask = sys.modules.get("dask")
    if dask is None or not hasattr(dask, "config"):
        return contextlib.nullcontext()
    return dask.config.set(scheduler="synchronous")


def _extras(result: Any, records: Records, failures: list[str]) -> Callable[[Path], None]:
    """Write checks, plots and report into the folder; note a failure there, keep the fit."""

    def extra(folder: Path) -> None:
        from gsf_infer.output.report import write_fit_extras  # deferred: JAX, matplotlib

        try:
            write_fit_extras(folder, result, excluded=dict(records.excluded))
        except Exception as err:  # any bug in plotting/reporting: keep the fit, say so
            failures.append(f"plots/report not written ({type(err).__name__}: {err}); the fit "
                            "is saved — re-render with `gsf-infer report DIR`")

    return extra


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def fit_subsets(
    data: str | Path | Records,
    by: str,
    out: str | Path,
    *,
    executor: ExecutorSettings | None = None,
    resume: bool = False,
    force: bool = False,
    notify: Callable[[str, bool], None] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Fit each run (or group) of a records table alone: ``gsf-infer fit --by``.

    Every subset is fitted with the same options, including the seed, whichever process runs
    it, so its numbers do not depend on the executor. Each subset's folder is written
    atomically inside ``out``; then ``out/summary.csv`` (one row per subset) and
    ``out/by_<by>.png``.

    Parameters
    ----------
    data : str, Path or Records
        The records table.
    by : str
        ``run`` or ``group``.
    out : str or Path
        The folder of the subsets' folders.
    executor : ExecutorSettings, optional
        Where the fits run (default: in this process).
    resume : bool
        Keep the subsets' folders that are complete and match the subset's records and the
        settings (:func:`verify_folder`); refit the others.
    force : bool
        Accept a non-empty ``out`` and replace its subsets' folders.
    notify : callable, optional
        Called as ``notify(line, important)`` with progress lines (``important=False``) and
        failures and warnings (``important=True``).
    **options
        Keyword arguments of :func:`gsf_infer.workflow.fit.fit`.

    Returns
    -------
    pandas.DataFrame
        The combined table (:func:`gsf_infer.workflow.batch.by_row` rows, subsets in file order).
    """
    from gsf_infer.workflow.batch import by_row  # deferred: imports JAX

    executor = executor or ExecutorSettings()
    executor.check()
    say = notify or (lambda line, important: None)
    out = Path(out)
    artifacts.refuse_existing_output(out, force or resume)
    records = data if isinstance(data, Records) else read_records(data)
    tasks, kept, notes = plan_subsets(records, by, out, options, resume)
    for note in notes:
        say(note, False)
    if tasks:
        say(f"{len(tasks)} fit(s) to run {executor.describe()}", False)
    outcomes = run_tasks(fit_subset, tasks, executor, _progress(say)) if tasks else []
    rows = dict(kept)
    positions = iter(i for i in range(len(tasks) + len(kept)) if i not in kept)
    for task, outcome, i in zip(tasks, outcomes, positions, strict=True):
        rows[i] = (outcome.value["row"] if outcome.value is not None else
                   by_row(task.value, by, None, outcome.seconds, error=outcome.error))
    table = pd.DataFrame([rows[i] for i in sorted(rows)])
    _write_combined(table, by, out)
    return table


def _progress(say: Callable[[str, bool], None]) -> Callable[[Outcome, int, int, float], None]:
    """Make the ``on_done`` of :func:`run_tasks`: a line per finished fit, then its warnings."""

    def on_done(outcome: Outcome, done: int, total: int, elapsed: float) -> None:
        status = outcome.value["status"] if outcome.value else f"failed: {outcome.error}"
        left = (f"about {_duration(elapsed / done * (total - done))} left" if done < total
                else f"all done in {_duration(elapsed)}")
        seconds = outcome.value["row"]["seconds"] if outcome.value else outcome.seconds
        took = "" if math.isnan(seconds) else f" ({_duration(seconds)})"
        line = f"[{done}/{total} fits done, {left}] {outcome.name}: {status}{took}"
        say(line, status.startswith("failed"))
        for warning in (outcome.value or {}).get("warnings", []):
            say(f"warning: {outcome.name}: {warning}", True)

    return on_done


def _write_combined(table: pd.DataFrame, by: str, out: Path) -> None:
    """Write ``out/summary.csv`` and, when there is something to draw, ``out/by_<by>.png``."""
    import matplotlib.pyplot as plt  # deferred: matplotlib, JAX and ArviZ (the plots)

    from gsf_infer.output.plots import plot_by

    out.mkdir(parents=True, exist_ok=True)
    artifacts.write_text(table.to_csv(index=False), out / "summary.csv", force=True)
    figure = plot_by(table, by)
    if figure is not None:
        artifacts.write_figure(figure, out / f"by_{by}.png", force=True)
        plt.close(figure)
