"""``gsf-infer compare`` as a library function: fit every requested model, rank them by PSIS-LOO.

:func:`compare_models` fits every combination of model, ``g`` family and pruning metric through
:func:`gsf_infer.workflow.fit.run_model` (the sampler's defaults are ``fit``'s) and hands the
DataTrees to :func:`gsf_infer.analysis.comparison.loo_table`, which computes the ELPD table and
:func:`~gsf_infer.analysis.comparison.preference` the sentence. Imports JAX (through the model
stage): the caller configures it first (:func:`gsf_infer.inference.runtime.configure`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import logsumexp

from gsf_infer.analysis.comparison import (
    DEFAULT_FAMILIES,
    DEFAULT_MODELS,
    Candidate,
    candidates,
    leave_run_out,
    lfo_table,
    loo_table,
    parse_list,
    pointwise_comparison,
    preference,
)
from gsf_infer.analysis.elastic import elasticity_comparison
from gsf_infer.analysis.identify import identify
from gsf_infer.analysis.summary import convergence_problems, diagnostics
from gsf_infer.data.records import Records, read_records
from gsf_infer.errors import InputError, Problem
from gsf_infer.inference.config import SamplerConfig
from gsf_infer.inference.predict import log_density_draws, log_predictive_density
from gsf_infer.inference.runtime import release_compiled
from gsf_infer.model.forward import FAMILIES, PRUNING_METRICS
from gsf_infer.model.priors import load_priors
from gsf_infer.model.settings import MODELS, ModelSettings
from gsf_infer.workflow.fit import run_model
from gsf_infer.workflow.options import FitOptions, check_numbers
from gsf_infer.workflow.resolve import (
    declared_notes,
    resolve_likelihood,
    resolve_pruning_metric,
    split_holdout,
)


def compare_models(
    data_path: str | Path,
    *,
    models: list[str] | None = None,
    gs: list[str] | None = None,
    pruning_metrics: list[str] | None = None,
    tier: str = FitOptions.tier,
    likelihood: str | None = None,
    priors_path: str | Path | None = None,
    chains: int = FitOptions.chains,
    warmup: int = FitOptions.warmup,
    draws: int = FitOptions.draws,
    seed: int = FitOptions.seed,
    target_accept: float = FitOptions.target_accept,
    ci_prob: float = FitOptions.ci_prob,
    holdout: str | None = None,
    cv: str = "record",
    progress: bool = False,
    command: str = "",
    runner: Callable[[Sequence[CandidateFit]], list[tuple[Any, float, str]]] | None = None,
) -> dict[str, Any]:
    """Fit every combination and compare them by ELPD-LOO (``gsf-infer compare``).

    Parameters
    ----------
    data_path : str or Path
        Records table.
    models, gs, pruning_metrics : list of str, optional
        Models (default :data:`~gsf_infer.analysis.comparison.DEFAULT_MODELS`), ``g``
        families (default :data:`~gsf_infer.analysis.comparison.DEFAULT_FAMILIES`: every
        family), pruning metrics (default: the one the data declare, else ``seed``; when
        given, names carry the metric: ``gsf/monomial/seed``).
    tier, likelihood, priors_path, chains, warmup, draws, seed, target_accept, ci_prob,
    progress, command
        As for ``gsf-infer fit`` (same defaults; ``likelihood=None`` takes what the data
        declare).
    holdout : str, optional
        Records to hold out of every fit (a pandas condition on the table, as ``fit
        --holdout``; e.g. ``t > 3e4`` for the last part of each curve): the models are then
        also compared by their ELPD on those records (leave-future-out,
        :func:`gsf_infer.analysis.comparison.lfo_table`), next to PSIS-LOO on the rest.
    cv : str
        ``record`` (PSIS-LOO, one record at a time) or ``run``: also leave one run out at a
        time (:func:`leave_runs_out`: PSIS on each run's joint log-likelihood, with an exact
        refit, in this process, for each run whose Pareto k is too high).
    runner : callable, optional
        Fits the candidates: called with the list of :class:`CandidateFit`, returns per
        candidate ``(dt, seconds, error)`` (``dt`` ``None`` and the error's text when its fit
        failed; the candidate is then left out with a warning). By default
        :func:`fit_in_process`; :mod:`gsf_infer.executor.compare` runs them on a Dask cluster.

    Returns
    -------
    dict
        The ``compare.json`` object: ``models`` (rows of
        :data:`~gsf_infer.analysis.comparison.ROW_KEYS` plus ``converged`` and ``seconds``,
        best first), ``compared_on``, ``preferred`` and ``preference`` (a sentence),
        ``warnings``; with a ``gsf`` fit of the ``elastic`` family also ``elasticity``: its
        ``rho(t)`` band and the other ``gsf`` fits' ``rho(t)`` on its grid
        (:func:`gsf_infer.analysis.elastic.elasticity_comparison`); with ``holdout`` also
        ``holdout`` (:func:`~gsf_infer.analysis.comparison.lfo_table`); with ``cv="run"`` also
        ``cv_run`` (:func:`leave_runs_out`).

    Raises
    ------
    InputError
        For bad options, or pruning metrics to compare on data without pruning records.
    """
    show_metric = pruning_metrics is not None
    if cv not in ("record", "run"):
        raise InputError(Problem("gsf-infer", f"--cv must be record or run, not {cv!r}"))
    models = models or list(DEFAULT_MODELS)
    gs = gs or list(DEFAULT_FAMILIES)
    metrics = pruning_metrics or ["seed"]
    for values, allowed, option in (
        (models, MODELS, "--models"),
        (gs, tuple(FAMILIES), "--g"),
        (metrics, tuple(PRUNING_METRICS), "--pruning-metrics"),
    ):
        parse_list(",".join(values), allowed, option)
    check_numbers(chains=chains, warmup=warmup, draws=draws, ci_prob=ci_prob, rope=1.0,
                  target_accept=target_accept)
    records, held = split_holdout(read_records(data_path), holdout)
    if pruning_metrics is None:
        metrics = [resolve_pruning_metric(None, records)]
    todo, skipped = _plan(records, str(data_path), models, gs, metrics, show_metric)
    priors = load_priors(priors_path)
    config = SamplerConfig(
        num_chains=chains, num_warmup=warmup, num_samples=draws, seed=seed,
        target_accept_prob=target_accept,
    )
    used_likelihood = resolve_likelihood(likelihood, records)
    base = ModelSettings(tier=tier, likelihood=used_likelihood)
    settings = {
        c.name: replace(base, model=c.model, g=c.g, pruning_metric=c.pruning_metric) for c in todo
    }
    for s in settings.values():
        s.check()
    notes = declared_notes(
        records, likelihood=(likelihood, used_likelihood),
        pruning_metric=None if show_metric else (None, metrics[0]),
    ) + skipped
    fits = [CandidateFit(c.name, records, settings[c.name], priors, config, ci_prob, command)
            for c in todo]
    dts, rows = _collect(fits, (runner or fit_in_process)(fits), notes)
    if len(dts) < 2:
        raise InputError(Problem("gsf-infer compare", "fewer than two models could be fitted: "
                                 + "; ".join(notes)))
    table = loo_table(dts)
    for row in table["models"]:
        row.update(rows[row["name"]])
    preferred, sentence = preference(table)
    out = {
        "models": table["models"],
        "compared_on": table["compared_on"],
        "preferred": preferred,
        "preference": sentence,
        "warnings": notes + table["warnings"],
    }
    if held is not None:
        out["holdout"] = _held_out(dts, held, str(holdout), out["warnings"])
    if cv == "run":
        tasks = {task.name: task for task in fits}
        out["cv_run"] = leave_runs_out(dts, tasks, table["compared_on"]["kinds"],
                                       out["warnings"])
    spectral = {n: dt for n, dt in dts.items() if settings[n].model == "gsf"}
    elastic = [n for n in spectral if settings[n].g == "elastic"]
    if elastic:
        others = {n: dt for n, dt in spectral.items() if n not in elastic}
        out["elasticity"] = elasticity_comparison(spectral[elastic[0]], others, ci_prob)
    return out


def _held_out(dts: dict[str, Any], held: Records, expr: str, notes: list[str]) -> dict[str, Any]:
    """Each fit's log predictive density of the held-out records, compared (``lfo_table``)."""
    lpds = {}
    for name, dt in dts.items():
        try:
            lpds[name] = log_predictive_density(dt, held)
        except (InputError, KeyError, ValueError) as err:  # e.g. a run the fit has not seen
            notes.append(f"{name}: no held-out ELPD ({err})")
    if not lpds:
        return {"expr": expr, "kinds": [], "records": 0, "models": {}, "preferred": None,
                "sentence": f"holdout {expr!r}: no model could predict the held-out records"}
    return lfo_table(lpds, expr)


def leave_runs_out(
    dts: dict[str, Any], tasks: dict[str, CandidateFit], kinds: list[str], notes: list[str]
) -> dict[str, Any]:
    """Compare the models by leaving one run out at a time.

    Each run's ELPD contribution is PSIS's (:func:`gsf_infer.analysis.comparison.leave_run_out`)
    where its Pareto k is below ArviZ's threshold, else exact: the model refitted without the
    run, and ``log (1/S) sum_s prod_i p(y_i | theta_s)`` of the run's records under the refit
    (:func:`gsf_infer.inference.predict.log_density_draws`). A run whose refit cannot predict
    it (it held every record of a kind, or its own parameters) keeps the PSIS value, with a
    note.

    Returns
    -------
    dict
        ``runs``; ``models`` name to ``elpd_logo``, ``se``, ``elpd_diff``, ``dse``,
        ``pareto_k_bad`` and ``refitted`` (the runs refitted exactly); ``preferred``,
        ``sentence``.
    """
    pointwise, extra, runs = {}, {}, []
    for name, dt in dts.items():
        psis = leave_run_out(dt, kinds)
        runs, elpd_i = psis["runs"], psis["elpd_i"].copy()
        bad = [i for i, k in enumerate(psis["pareto_k"]) if k > psis["good_k"]]
        refitted = []
        for i in bad:
            try:
                elpd_i[i] = _exact_run(tasks[name], runs[i], kinds)
                refitted.append(runs[i])
            except (InputError, KeyError, ValueError, FloatingPointError) as err:
                notes.append(f"{name}: run {runs[i]!r} has Pareto k "
                             f"{psis['pareto_k'][i]:.2f} and could not be refitted without "
                             f"it ({err}): its PSIS estimate is kept and not reliable")
        pointwise[name] = elpd_i
        extra[name] = {"pareto_k_bad": len(bad), "refitted": refitted}
    models, preferred, sentence = pointwise_comparison(pointwise)
    return {
        "runs": runs,
        "models": {name: {"elpd_logo": row["elpd"], "se": row["se"],
                          "elpd_diff": row["elpd_diff"], "dse": row["dse"], **extra[name]}
                   for name, row in models.items()},
        "preferred": preferred,
        "sentence": f"leave-one-run-out ({len(runs)} runs, one left out at a time): "
                    + sentence.replace("ELPD-LOO", "leave-one-run-out ELPD"),
    }


def _exact_run(task: CandidateFit, run: str, kinds: list[str]) -> float:
    """Refit without the run; return the log of its records' joint predictive density."""
    table = task.records.table
    mine = table["run"].astype(str) == run
    rest = replace(task.records, table=table[~mine].reset_index(drop=True))
    held = replace(task.records, table=table[mine & table["kind"].isin(kinds)]
                   .reset_index(drop=True))
    missing = set(table.loc[mine, "kind"]) - set(rest.table["kind"])
    if missing:
        raise ValueError(f"every {', '.join(sorted(missing))} record is in this run")
    dt, _ = run_model(rest, settings=task.settings, priors=task.priors, config=task.config,
                      ci_prob=task.ci_prob, command=task.command)
    release_compiled()
    logp = log_density_draws(dt, held)
    joint = sum(v.sum(axis=1) for v in logp.values())
    return float(logsumexp(joint) - np.log(joint.shape[0]))


@dataclass(frozen=True)
class CandidateFit:
    """One candidate's fit: what :func:`fit_candidate` needs, picklable for a cluster."""

    name: str
    records: Records
    settings: ModelSettings
    priors: Any
    config: SamplerConfig
    ci_prob: float
    command: str = ""


def fit_candidate(task: CandidateFit) -> tuple[Any, float]:
    """Fit one candidate (:func:`gsf_infer.workflow.fit.run_model`); its DataTree and seconds."""
    tic = time.perf_counter()
    dt, _ = run_model(task.records, settings=task.settings, priors=task.priors,
                      config=task.config, ci_prob=task.ci_prob, command=task.command)
    # many fits in one process: keep XLA's memory maps below the kernel's limit
    release_compiled()
    return dt, round(time.perf_counter() - tic, 2)


def fit_in_process(fits: Sequence[CandidateFit]) -> list[tuple[Any, float, str]]:
    """Fit the candidates one after the other in this process (an error propagates)."""
    return [(*fit_candidate(task), "") for task in fits]


def _collect(fits, results, notes):
    """DataTrees and table rows of the fitted candidates; a note for each failed or unconverged."""
    dts, rows = {}, {}
    for task, (dt, seconds, error) in zip(fits, results, strict=True):
        if dt is None:
            notes.append(f"{task.name} failed ({error}): left out of the comparison")
            continue
        dts[task.name] = dt
        diag = diagnostics(dt)
        rows[task.name] = {"converged": bool(diag["converged"]), "seconds": seconds}
        problems = convergence_problems(diag)
        if problems:
            notes.append(
                f"{task.name} did not converge ({'; '.join(problems)}): its ELPD is not trusted"
            )
    return dts, rows


def _plan(
    records: Records,
    where: str,
    models: list[str],
    gs: list[str],
    metrics: list[str],
    show_metric: bool,
) -> tuple[list[Candidate], list[str]]:
    """List the candidates to fit, refusing what the records cannot support.

    Returns
    -------
    tuple
        ``(candidates, notes)``: the ``deviation`` model is left out, with a note, where the
        records cannot test the invariant (without those kinds it has no deviation parameters:
        it is the gsf model again).

    Raises
    ------
    InputError
        Several pruning metrics without pruning records, ``chinchilla`` without loss records,
        or fewer than two candidates.
    """
    present = records.counts()
    if len(metrics) > 1 and "pruning" not in present:
        raise InputError(
            Problem(
                where,
                "--pruning-metrics: the metrics differ only on pruning records, and the data "
                "have none",
            )
        )
    if "chinchilla" in models and "loss" not in present:
        raise InputError(Problem(where, "--models chinchilla needs loss records"))
    skipped = []
    if "deviation" in models and not identify(records).invariant_testable:
        models = [m for m in models if m != "deviation"]
        skipped.append("deviation skipped: the records cannot test the invariant, so it "
                       "would be the gsf model again")
    todo = candidates(models, gs, metrics, show_metric)
    if len(todo) < 2:
        raise InputError(Problem("gsf-infer compare", "give at least two models to compare"))
    return todo, skipped
