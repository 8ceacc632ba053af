"""``gsf-infer check`` and ``gsf-infer report`` on saved results, as library functions.

:func:`run_check` is the ``check`` command: on a records table it fits the ``gsf`` and
``deviation`` models (:func:`gsf_infer.workflow.fit.fit`), unless the records cannot test the
invariant; on a result folder it reads the fit back, fits the ``deviation`` model on the fit's own
input when the folder has none, and recomputes ``checks.json`` and the invariant of
``summary.json`` (:func:`gsf_infer.analysis.checks.build_checks`); the command line writes them.
:func:`read_folder` reads a result folder back and :func:`render_folder` re-renders its plots
and report (``report DIR``, no refitting). Imports JAX (through the model stage): the caller
configures it first (:func:`gsf_infer.inference.runtime.configure`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpyro  # noqa: F401  (before arviz: lazy-loader interplay)

from gsf_infer.analysis.checks import (
    build_checks,
    checks_for_fit,
    complete_checks,
    fit_identification,
    invariant_result,
)
from gsf_infer.analysis.identify import identify
from gsf_infer.analysis.invariant import InvariantSettings, untestable
from gsf_infer.analysis.ppc import CheckThresholds
from gsf_infer.data.records import Records, read_records
from gsf_infer.errors import InputError, Problem
from gsf_infer.inference.config import SamplerConfig
from gsf_infer.inference.datatree import read_attrs
from gsf_infer.inference.predict import settings_from_attrs
from gsf_infer.model.priors import load_priors
from gsf_infer.output.artifacts import read_datatree
from gsf_infer.output.report import write_report_files
from gsf_infer.workflow.fit import Sampler, fit
from gsf_infer.workflow.options import FitOptions
from gsf_infer.workflow.predict import load_fit

#: The keys of a check's invariant result that summary.json keeps.
SUMMARY_INVARIANT_KEYS = (
    "status", "delta", "p_in_rope", "rope", "missing", "trusted", "why_untrusted",
    "delta_over_rho", "deviations", "prior_sensitivity",
)


# ----------------------------------------------------------------------- reading back


@dataclass
class FitFolder:
    """The saved results of a fit, read back (:func:`read_folder`)."""

    folder: Path
    dt: Any
    summary: dict[str, Any]
    checks: dict[str, Any]
    deviation_dt: Any = None
    attrs: dict[str, Any] = field(default_factory=dict)


def _read_json(path: Path, required: bool = True) -> dict[str, Any] | None:
    """Read a JSON file of a result folder; a missing one is refused, or ``None``."""
    if not required and not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            Problem(str(path.parent), f"not a fit folder: no {path.name} inside")
        ) from None
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(Problem(str(path), f"cannot be read as JSON: {err}")) from None


def read_deviation(folder: Path) -> Any:
    """Open a result folder's ``posterior_deviation.nc``; ``None`` when there is none.

    Raises
    ------
    InputError
        If the file is there but cannot be read.
    """
    path = Path(folder) / "posterior_deviation.nc"
    if not path.is_file():
        return None
    try:
        return read_datatree(path)
    except Exception as err:  # netCDF/HDF5 raise many types
        raise InputError(Problem(str(path), f"cannot be read as a DataTree: {err}")) from None


def read_folder(folder: str | Path) -> FitFolder:
    """Read a result folder back: ``posterior.nc``, ``posterior_deviation.nc``, the JSON files.

    Raises
    ------
    InputError
        If a required file is missing or unreadable.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(Problem(str(folder), "no such folder"))
    summary = _read_json(folder / "summary.json")
    checks = _read_json(folder / "checks.json")
    dt = load_fit(folder)
    return FitFolder(folder, dt, summary, checks, read_deviation(folder), read_attrs(dt))


def folder_checks(saved: FitFolder) -> dict[str, Any]:
    """Return a saved folder's checks.json, completed from its fits where sections are missing.

    :func:`gsf_infer.analysis.checks.complete_checks` of the folder's files.
    """
    return complete_checks(
        saved.checks,
        saved.dt,
        deviation_dt=saved.deviation_dt,
        parameters=saved.summary.get("parameters"),
    )


def render_folder(folder: str | Path) -> list[Path]:
    """Re-render ``plots/``, ``report.md`` and ``report.html`` of a result folder (``report DIR``).

    Nothing is refitted; ``checks.json`` is read, not rewritten (sections it lacks are computed
    for the report only, see :func:`folder_checks`).

    Returns
    -------
    list of Path
        Files written.
    """
    saved = read_folder(folder)
    return write_report_files(
        saved.folder,
        saved.dt,
        saved.summary,
        folder_checks(saved),
        deviation_dt=saved.deviation_dt,
        attrs=saved.attrs,
    )


# ---------------------------------------------------------------------------- command


@dataclass
class CheckOutcome:
    """What :func:`run_check` produced.

    Attributes
    ----------
    checks : dict
        The ``checks.json`` object.
    source : str
        ``"dir"`` (a fit folder was checked) or ``"data"`` (a records table).
    dt : xarray.DataTree or None
        The main fit (``None`` when the data could not test the invariant and nothing was
        fitted).
    deviation_dt : xarray.DataTree or None
        The ``deviation``-model fit behind the verdict.
    new_deviation : bool
        Whether ``deviation_dt`` was fitted by this call (to be saved beside the fit).
    fit : FitResult or None
        The fit of a records table (``source == "data"``).
    summary : dict or None
        summary.json (updated ``invariant``).
    """

    checks: dict[str, Any]
    source: str
    dt: Any = None
    deviation_dt: Any = None
    new_deviation: bool = False
    fit: Any = None
    summary: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


def run_check(
    target: str | Path,
    options: FitOptions | None = None,
    *,
    progress: Any = None,
    command: str = "",
    **values: Any,
) -> CheckOutcome:
    """Run the ``gsf-infer check`` command as a library function.

    On a fit folder: the invariant from its ``posterior_deviation.nc`` (or its own posterior
    when the fit is ``deviation``); without one, the ``deviation`` model is fitted on the fit's
    input file (which must be unchanged: same sha256 and records) with the fit's settings and
    sampler.
    On a records table: nothing is fitted if the data cannot test the invariant (the verdict
    names the missing kinds); otherwise the ``gsf`` and ``deviation`` models are fitted
    (:func:`gsf_infer.workflow.fit.fit`).

    Parameters
    ----------
    target : str or Path
        A records table, or a folder written by ``gsf-infer fit``.
    options : FitOptions, optional
        The command's options [default: ``FitOptions()``], ``values`` replacing fields by name
        (``priors_path`` for ``priors``): ``rope`` and ``ci_prob`` of the verdict; the model and
        sampler settings of the fits made here (always the ``gsf`` model and its ``deviation``
        check; for a folder, ``priors`` must be the fit's own).
    progress : callable, optional
        ``progress(stage, done, total)`` while chains iterate.
    command : str
        How the check was asked for, recorded in the provenance of fits made here.

    Raises
    ------
    InputError
        Bad options, an unreadable fit folder, or a fit whose input changed.
    TypeError
        For an option ``check`` does not take (``model``, ``holdout``, ``no_check``).
    """
    fixed = sorted({"model", "holdout", "no_check", "check_invariant"} & set(values))
    if fixed:
        raise TypeError(f"run_check takes no {', '.join(fixed)} option")
    opts = FitOptions.of(options, **values)
    target = Path(target)
    settings = InvariantSettings(rope=opts.rope, ci_prob=opts.ci_prob)
    if target.is_dir():
        return _check_folder(
            target, settings, priors_path=opts.priors, progress=progress, command=command
        )
    records = read_records(target)
    ident = identify(records)
    if not ident.invariant_testable:
        return CheckOutcome(checks=_untestable_checks(records, ident, settings), source="data")
    gsf = replace(opts, model="gsf", holdout=None, no_check=False)
    result = fit(target, progress=progress, command=command, **gsf.keywords())
    checks = checks_for_fit(result, excluded=dict(records.excluded))
    return CheckOutcome(
        checks=checks,
        source="data",
        dt=result.dt,
        deviation_dt=result.deviation_dt,
        new_deviation=result.deviation_dt is not None,
        fit=result,
        summary=result.summary,
    )


def _untestable_checks(
    records: Records, ident: Any, settings: InvariantSettings
) -> dict[str, Any]:
    """Return the ``checks.json`` of records that cannot test the invariant (nothing fitted)."""
    return {
        "invariant": untestable(list(ident.missing), settings),
        "ppc": {},
        "identifiability": [],
        "loo": {},
        "diagnostics": None,
        "data": {
            "records": records.counts(),
            "runs": records.runs().to_dict(orient="records"),
            "excluded": dict(records.excluded),
        },
        "rules": CheckThresholds().rules(),
        "warnings": [],
    }


def _check_folder(
    folder: Path,
    settings: InvariantSettings,
    *,
    priors_path: str | Path | None,
    progress: Any,
    command: str,
) -> CheckOutcome:
    """Check a result folder: its own deviation fit, or one fitted here on the fit's input."""
    dt = load_fit(folder)
    attrs = read_attrs(dt)
    summary = _read_json(folder / "summary.json", required=False)
    old = _read_json(folder / "checks.json", required=False) or {}
    model = attrs.get("model_settings", {}).get("model")
    deviation_dt = read_deviation(folder) if model != "deviation" else None
    new_deviation = False
    ident = fit_identification(dt)
    testable = ident is None or ident.invariant_testable
    if model == "gsf" and deviation_dt is None and testable:
        deviation_dt = _fit_deviation_for(
            dt, attrs, priors_path=priors_path, progress=progress, command=command
        )
        new_deviation = True
    invariant = invariant_result(dt, deviation_dt, settings)
    checks = build_checks(
        dt,
        invariant=invariant,
        deviation_dt=deviation_dt,
        parameters=(summary or {}).get("parameters"),
        excluded=(old.get("data") or {}).get("excluded"),
    )
    if summary is not None:
        kept = {k: invariant[k] for k in SUMMARY_INVARIANT_KEYS if k in invariant}
        summary = dict(summary, invariant=kept)
    return CheckOutcome(
        checks=checks,
        source="dir",
        dt=dt,
        deviation_dt=deviation_dt,
        new_deviation=new_deviation,
        summary=summary,
    )


def _fit_deviation_for(
    dt: Any,
    attrs: dict[str, Any],
    *,
    priors_path: str | Path | None,
    progress: Any,
    command: str,
) -> Any:
    """Fit the ``deviation`` model on a saved fit's own input, settings, priors and sampler."""
    path = attrs.get("input_path", "")
    where = str(path) or "posterior.nc"
    if not path or not Path(path).is_file():
        raise InputError(
            Problem(
                where,
                "the fit has no posterior_deviation.nc and its input file is not here: run "
                "`gsf-infer check DATA` on the records table instead",
            )
        )
    records = read_records(path)
    if attrs.get("input_sha256") and records.sha256 != attrs["input_sha256"]:
        raise InputError(
            Problem(where, "the input file changed since the fit (sha256 differs): refit it")
        )
    if records.counts() != attrs.get("records", records.counts()):
        raise InputError(
            Problem(
                where,
                "the fit used a subset of the file's records (--holdout?): run `gsf-infer check "
                "DATA` or refit",
            )
        )
    priors = load_priors(priors_path)
    if attrs.get("priors") and priors.as_attrs() != attrs["priors"]:
        raise InputError(
            Problem(
                where,
                "the fit used other priors than "
                + (str(priors_path) if priors_path else "the defaults")
                + ": pass the fit's --priors file",
            )
        )
    sampler = attrs.get("sampler", {})
    config = SamplerConfig(
        num_chains=int(sampler.get("chains", 4)),
        num_warmup=int(sampler.get("warmup", 1000)),
        num_samples=int(sampler.get("draws", 1000)),
        seed=int(attrs.get("seed", sampler.get("seed", 0))),
        target_accept_prob=float(sampler.get("target_accept_prob", 0.9)),
        max_tree_depth=int(sampler.get("max_tree_depth", 10)),
        # fits written before the option existed adapted a dense mass matrix
        adapt_mass=bool(sampler.get("adapt_mass", True)),
    )
    settings = replace(settings_from_attrs(attrs), model="gsf")
    run = Sampler(records, settings, priors).run(
        "deviation", config, float(attrs.get("ci_prob", 0.94)), command,
        None if progress is None else (lambda done, total: progress("deviation", done, total)),
    )
    return run.dt
