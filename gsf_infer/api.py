"""The Python interface: every command of the tool as a function, for notebooks and scripts.

>>> import gsf_infer as gsf
>>> records = gsf.read_records("data/example.csv")             # doctest: +SKIP
>>> fit = gsf.fit(records, model="gsf", g="monomial", seed=0)   # doctest: +SKIP
>>> fit.verdict["status"]                                       # doctest: +SKIP
'supported'

:func:`fit` takes the command's options under the same names and defaults and returns a
:class:`Fit`: the ArviZ DataTree, the parameter table, the verdict, predictions, plots, and
:meth:`Fit.save` (which writes exactly the folder ``gsf-infer fit`` writes). :func:`load`
opens a saved folder. The command line is built on these functions.

JAX is configured (float64, one CPU device per chain, the persistent compilation cache) on the
first call that needs it, never at import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gsf_infer import _API
from gsf_infer.data.records import Records, read_records, records_from_frame
from gsf_infer.errors import NotConvergedError
from gsf_infer.executor import ExecutorSettings, fit_subsets
from gsf_infer.inference import runtime
from gsf_infer.output import artifacts
from gsf_infer.simulate.gsf import GsfSimConfig
from gsf_infer.simulate.gsf import simulate_gsf as run_simulate_gsf
from gsf_infer.simulate.rf import RFSettings
from gsf_infer.simulate.rf import simulate_rf as run_simulate_rf
from gsf_infer.sources import ingest as run_ingest
from gsf_infer.workflow.options import FitOptions, shows_fit_options
from gsf_infer.workflow.predict import load_fit

#: The names offered at the package's top level (listed once, in ``gsf_infer``).
__all__ = list(_API)


def _configure(chains: int = FitOptions.chains) -> None:
    runtime.configure(host_devices=max(int(chains), 1))


@dataclass
class Fit:
    """A fitted model: what :func:`fit` returns and :func:`load` reads back.

    Attributes
    ----------
    datatree : xarray.DataTree
        The ArviZ DataTree (``posterior.nc``).
    deviation_datatree : xarray.DataTree or None
        The ``deviation`` model's DataTree behind the verdict (``posterior_deviation.nc``).
    summary_json : dict
        The ``summary.json`` object.
    result : FitResult or None
        Everything the fit produced (``None`` for a fit loaded from a folder).
    excluded : dict or None
        Rows of the input excluded on purpose, by reason (shown in the report).
    """

    datatree: Any
    deviation_datatree: Any
    summary_json: dict[str, Any]
    result: Any = None
    excluded: dict[str, int] | None = None

    def summary(self) -> pd.DataFrame:
        """Return the parameter table: one row per parameter (``null`` ones omitted)."""
        rows = {
            name: entry
            for name, entry in self.summary_json["parameters"].items()
            if entry is not None
        }
        return pd.DataFrame.from_dict(rows, orient="index")

    @property
    def verdict(self) -> dict[str, Any]:
        """The invariant's verdict.

        Its status, ``delta`` and ``delta/rho`` HDIs, P(in ROPE), missing kinds, and whether it
        can be trusted.
        """
        return dict(self.summary_json["invariant"])

    @property
    def converged(self) -> bool:
        """Whether the main model's sampler converged."""
        return bool(self.summary_json["diagnostics"]["converged"])

    def predict(self, frame: pd.DataFrame, ci_prob: float | None = None, seed: int = 0):
        """Posterior predictive summaries of new records (a table in the records format).

        Returns the rows with ``mean``, ``median``, ``hdi_low``, ``hdi_high`` and, where a row
        has an observed value, ``covered`` (see ``gsf-infer predict``).
        """
        from gsf_infer.inference.predict import predict_records  # deferred: imports JAX

        _configure()
        records = records_from_frame(frame, path="<frame>", prediction=True)
        return predict_records(self.datatree, records, ci_prob=ci_prob, seed=seed)

    def plot_ppc(self, kind: str):
        """Plot the posterior predictive figure of one kind (observed points over bands)."""
        from gsf_infer.output.plots import plot_ppc  # deferred: imports matplotlib

        return plot_ppc(self.datatree, kind)

    def save(self, out: str | Path, force: bool = False) -> Path:
        """Write the result folder ``gsf-infer fit`` writes, atomically.

        The folder holds the posterior, summaries, checks, plots and report; an existing
        non-empty folder needs ``force``.

        Raises
        ------
        ValueError
            For a fit loaded from a folder (it is saved already).
        """
        from gsf_infer.output.report import write_fit_extras  # deferred: imports matplotlib

        if self.result is None:
            raise ValueError("this fit was loaded from a folder; copy the folder instead")
        artifacts.refuse_existing_output(out, force)
        failures: list[str] = []

        def extra(folder: Path) -> None:
            try:
                write_fit_extras(folder, self.result, excluded=self.excluded)
            except Exception as err:  # plots or report failing must not cost the fit
                failures.append(f"plots/report not written ({type(err).__name__}: {err})")

        path = artifacts.write_fit(self.result, out, force=force, extra=extra)
        self.result.warnings.extend(failures)
        return path


@shows_fit_options(library=False)
def fit(
    data: str | Path | Records | pd.DataFrame,
    options: FitOptions | None = None,
    *,
    strict: bool = False,
    progress: Any = None,
    command: str = "",
    **values: Any,
) -> Fit:
    """Fit a model to records with NUTS, as ``gsf-infer fit`` does (nothing is written).

    Parameters
    ----------
    data : path, Records or pandas.DataFrame
        The records (a table in the records format).
    options : FitOptions, optional
        The model and sampler settings [default: ``FitOptions()``]; ``values`` replace fields.
    strict : bool
        Raise :class:`~gsf_infer.errors.NotConvergedError` when the sampler did not converge.
    progress : callable, optional
        ``progress(stage, done, total)`` while chains iterate.
    command : str
        How the fit was asked for, recorded in the DataTree's provenance (the command line
        passes its own).
    **values
        :class:`~gsf_infer.workflow.options.FitOptions`' fields: the command's options, same
        names and defaults (``model``, ``g``, ``tier``, ``likelihood``, ``pruning_metric``,
        ``priors``, ``holdout``, ``chains``, ``warmup``, ``draws``, ``seed``,
        ``target_accept``, ``max_draws``, ``fix_unidentified``, ``adapt_mass``, ``ci_prob``,
        ``rope``, ``no_check``; see
        ``gsf-infer fit --help``).

    Returns
    -------
    Fit

    Raises
    ------
    gsf_infer.errors.InputError
        Bad records or options (one problem per line).
    gsf_infer.errors.NotConvergedError
        With ``strict``, when the sampler did not converge.
    """
    from gsf_infer.workflow.fit import fit as run_fit  # deferred: imports JAX

    settings = FitOptions.of(options, **values)
    if isinstance(data, pd.DataFrame):
        records = records_from_frame(data, path="<frame>")
    elif isinstance(data, Records):
        records = data
    else:
        records = read_records(data)
    _configure(settings.chains)
    result = run_fit(records, settings, progress=progress,
                     command=command or "gsf_infer.fit(...)")
    out = Fit(result.dt, result.deviation_dt, result.summary, result, dict(records.excluded))
    if strict and not result.diagnostics["converged"]:
        raise NotConvergedError("the sampler did not converge (strict)")
    return out


def fit_by(
    data: str | Path | Records,
    by: str,
    out: str | Path,
    options: FitOptions | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    force: bool = False,
    notify: Any = None,
    command: str = "",
    **values: Any,
) -> pd.DataFrame:
    """Fit each run (``by="run"``) or group (``by="group"``) alone, as ``gsf-infer fit --by``.

    One result folder per subset inside ``out`` (each written atomically), then the combined
    ``out/summary.csv`` and the figure of the exponents across subsets. A subset whose fit fails
    is reported and the others are kept.

    Parameters
    ----------
    data, by, out
        The records table, ``run`` or ``group``, and the folder of the subsets' folders (as
        for :func:`gsf_infer.executor.fit_subsets`).
    options : FitOptions, optional
        The model and sampler settings of every subset's fit; ``values`` replace fields (as
        for :func:`fit`).
    workers, scheduler : optional
        Run the fits on a local Dask cluster of ``workers`` processes, or send them to a running
        cluster at ``scheduler`` (``gsf-infer fit --workers/--scheduler``) [default: one fit
        after the other in this process].
    resume : bool
        Keep the complete subset folders that match their records and the settings; fit the
        others (``--resume``).
    force : bool
        Replace an existing non-empty ``out``.
    notify : callable, optional
        ``notify(line, important)`` with progress lines, failures and warnings.
    command : str
        How the fits were asked for, recorded in each DataTree's provenance.

    Returns
    -------
    pandas.DataFrame
        The combined table (one row per subset: exponents with their intervals, convergence,
        wall time), as written to ``out/summary.csv``.
    """
    settings = FitOptions.of(options, **values)
    _configure(settings.chains)
    keywords = dict(settings.keywords(), command=command or "gsf_infer.fit_by(...)")
    return fit_subsets(data, by, out, executor=ExecutorSettings(workers, scheduler),
                       resume=resume, force=force, notify=notify, **keywords)


def load(folder: str | Path) -> Fit:
    """Open a result folder written by ``gsf-infer fit`` (or :meth:`Fit.save`)."""
    from gsf_infer.workflow.check import read_deviation  # deferred: imports JAX

    folder = Path(folder)
    dt = load_fit(folder)
    dev_dt = read_deviation(folder)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return Fit(dt, dev_dt, summary)


def compare(data: str | Path, **options: Any) -> dict[str, Any]:
    """Fit several models and rank them by PSIS-LOO, as ``gsf-infer compare`` does.

    ``options`` are :func:`gsf_infer.workflow.compare.compare_models`'s (``models``, ``gs``,
    ``pruning_metrics``, ``tier``, ``likelihood``, ``priors_path``, the sampler's).
    """
    from gsf_infer.workflow.compare import compare_models  # deferred: imports JAX

    _configure(options.get("chains", FitOptions.chains))
    return compare_models(data, **options)


def simulate_gsf(seed: int = 0, **settings: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate records of the exact discrete forward model and their truth (``simulate gsf``).

    ``settings`` are :class:`gsf_infer.simulate.gsf.GsfSimConfig`'s fields.
    """
    return run_simulate_gsf(GsfSimConfig(**settings), np.random.default_rng(seed))


def simulate_rf(seed: int = 0, **settings: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate records of trained random-feature regressions and their truth (``simulate rf``).

    ``settings`` are :class:`gsf_infer.simulate.rf.RFSettings`' fields.
    """
    _configure()
    result = run_simulate_rf(RFSettings(**settings), np.random.default_rng(seed))
    return result.frame, result.truth


def ingest(name_or_path: str | Path, **options: Any):
    """Convert a published table to the records format (``gsf-infer ingest``)."""
    return run_ingest(name_or_path, **options)
