"""Model comparison by PSIS-LOO: the ELPD table of ``compare`` and of gsf against deviation.

Each fit's pointwise log-likelihoods (one variable per kind in the DataTree) are concatenated
into one variable — the records of all kinds are one data set — and ArviZ computes PSIS-LOO
(``az.loo``) and the comparison with stacking weights (``az.compare``). Models are comparable
only on the same records: when their kinds differ (``chinchilla`` models ``loss`` only), the
comparison is made on the kinds every model has, and says so (``compared_on``). Pareto-k values
above ArviZ's threshold (``good_k``, 0.7 or less for few draws) are counted per model: those
records' LOO estimates are unreliable.

:func:`gsf_infer.workflow.compare.compare_models` fits the models to compare and hands them
here. Pure computation on DataTrees (NumPy, ArviZ); returns values, writes nothing.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import arviz as az  # noqa: E402
import numpy as np
import numpyro  # noqa: F401  (before arviz: lazy-loader interplay)
import xarray as xr  # noqa: E402

from gsf_infer.data.schema import KINDS
from gsf_infer.errors import InputError, Problem

#: Keys of one row of ``compare.json``, in order.
ROW_KEYS = ("name", "elpd_loo", "se", "elpd_diff", "dse", "weight", "p_loo", "pareto_k_bad")
#: What ``compare`` fits without options: every model and every ``g`` family.
DEFAULT_MODELS = ("gsf", "deviation", "chinchilla")
DEFAULT_FAMILIES = ("ntk", "feature", "monomial", "logcorr", "ridge", "elastic")
#: ``|elpd_diff|`` must exceed both this and ``DSE_FACTOR * dse`` for a preference to be stated.
MIN_ELPD_DIFF = 4.0
DSE_FACTOR = 2.0


@dataclass(frozen=True)
class Candidate:
    """One model to fit: ``model``, ``g`` family, pruning metric, and its display name."""

    model: str
    g: str
    pruning_metric: str
    name: str


def parse_list(text: str | None, allowed: tuple[str, ...], option: str) -> list[str]:
    """Parse a comma-separated option into allowed values (order kept, repeats dropped).

    Raises
    ------
    InputError
        For an empty list or an unknown value.
    """
    values = [v.strip() for v in (text or "").split(",") if v.strip()]
    if not values:
        raise InputError(Problem("gsf-infer", f"{option} needs at least one value"))
    bad = [v for v in values if v not in allowed]
    if bad:
        raise InputError(
            [
                Problem(
                    "gsf-infer",
                    f"{option}: unknown value; choose from {', '.join(allowed)}",
                    value=v,
                )
                for v in bad
            ]
        )
    return list(dict.fromkeys(values))


def candidates(
    models: list[str], gs: list[str], metrics: list[str], show_metric: bool
) -> list[Candidate]:
    """List every combination to fit, named ``model/g`` (``model/g/metric`` if ``show_metric``).

    ``chinchilla`` has neither ``g`` nor pruning: it appears once, named ``chinchilla``.
    """
    out: list[Candidate] = []
    for model in models:
        if model == "chinchilla":
            out.append(Candidate("chinchilla", gs[0], metrics[0], "chinchilla"))
            continue
        for g in gs:
            for metric in metrics:
                name = f"{model}/{g}/{metric}" if show_metric else f"{model}/{g}"
                out.append(Candidate(model, g, metric, name))
    return out


def loglik_kinds(dt: Any) -> list[str]:
    """List the kinds with a pointwise log-likelihood in a DataTree, in schema order."""
    if "log_likelihood" not in dt.children:
        return []
    present = set(dt["log_likelihood"].data_vars)
    return [k for k in KINDS if k in present]


def common_records(dts: dict[str, Any]) -> dict[str, Any]:
    """Find the records every model of ``dts`` has a log-likelihood for.

    Returns
    -------
    dict
        ``kinds`` (common, schema order), ``records`` (their number), ``left_out`` (per kind
        dropped from some model's records: its count) and ``note`` (a sentence, empty when
        nothing was left out).

    Raises
    ------
    InputError
        If the models share no kind, or a kind's record count differs between models (they
        were fitted on different data).
    """
    per_model = {name: loglik_kinds(dt) for name, dt in dts.items()}
    common = [k for k in KINDS if all(k in kinds for kinds in per_model.values())]
    if not common:
        raise InputError(
            Problem("gsf-infer compare", "the models share no kind of record: not comparable")
        )
    counts: dict[str, dict[str, int]] = {}
    for name, dt in dts.items():
        for kind in per_model[name]:
            counts.setdefault(kind, {})[name] = int(dt["log_likelihood"][kind].shape[-1])
    problems = []
    for kind in common:
        if len(set(counts[kind].values())) > 1:
            problems.append(
                Problem(
                    "gsf-infer compare",
                    f"the models saw different numbers of '{kind}' records ({counts[kind]}): "
                    "they were fitted on different data and are not comparable",
                )
            )
    if problems:
        raise InputError(problems)
    n_common = sum(next(iter(counts[k].values())) for k in common)
    left_out = {k: max(counts[k].values()) for k in KINDS if k in counts and k not in common}
    note = ""
    if left_out:
        narrow = [n for n, kinds in per_model.items() if set(kinds) == set(common)]
        total = n_common + sum(left_out.values())
        note = (
            f"compared on the {', '.join(common)} records only ({n_common} of {total}): "
            f"{', '.join(narrow)} predict{'s' if len(narrow) == 1 else ''} nothing else; "
            "left out: "
            + ", ".join(f"{k} ({n})" for k, n in left_out.items())
            + ". Models fitted on more kinds still learned from them."
        )
    return {
        "kinds": common,
        "records": int(n_common),
        "left_out": left_out,
        "note": note,
    }


def pointwise_tree(dt: Any, kinds: list[str], by_run: bool = False) -> Any:
    """Build a DataTree with the posterior and one log-likelihood variable ``records``.

    The per-kind variables are concatenated along one ``record`` dimension (kinds in the
    given order); with ``by_run`` each run's records are summed into one joint value
    (:func:`run_loglik`). Posterior variables with non-finite draws (the ``free`` model's
    copies are NaN where a kind has no such parameter) are left out: ArviZ's relative
    efficiency averages the ESS of every posterior variable.
    """
    if by_run:
        values = run_loglik(dt, kinds)[1]
    else:
        ll = dt["log_likelihood"]
        values = np.concatenate([np.asarray(ll[k].values, dtype=float) for k in kinds], axis=-1)
    chains, draws = values.shape[:2]
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    loglik = xr.Dataset({"records": (("chain", "draw", "record"), values)}, coords=coords)
    post = dt["posterior"].to_dataset()
    finite = [
        name
        for name, var in post.data_vars.items()
        if np.issubdtype(var.dtype, np.number) and np.all(np.isfinite(var.values))
    ]
    post = post[finite].assign_coords(coords)
    return xr.DataTree.from_dict({"posterior": post, "log_likelihood": loglik})


def elpd(dt: Any, kinds: list[str]) -> tuple[Any, list[str]]:
    """Compute PSIS-LOO of the records of ``kinds`` (``az.loo``), with ArviZ's warnings.

    Returns
    -------
    tuple
        ``(ELPDData, warnings)``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = az.loo(pointwise_tree(dt, kinds), pointwise=True)
    return result, [str(w.message) for w in caught]


def pareto_k_bad(result: Any) -> int:
    """Count the records whose Pareto k exceeds ArviZ's threshold ``good_k``."""
    k = np.asarray(result.pareto_k, dtype=float).ravel()
    return int(np.sum(k > result.good_k))


def loo_table(dts: dict[str, Any]) -> dict[str, Any]:
    """Compare fitted models by ELPD-LOO (``az.compare``, stacking weights).

    Parameters
    ----------
    dts : dict
        Model name to its DataTree (with ``log_likelihood``); compared on the kinds every
        model has (:func:`common_records`).

    Returns
    -------
    dict
        ``models``: one row per model, best first, with :data:`ROW_KEYS` (``elpd_diff`` is
        ``elpd - elpd_best``, so zero or negative; ``pareto_k_bad`` counts records with
        Pareto k above ``good_k``); ``compared_on`` (:func:`common_records`); ``warnings``:
        sentences about unreliable estimates.
    """
    if not dts:
        raise InputError(Problem("gsf-infer compare", "no model to compare"))
    basis = common_records(dts)
    results, notes = {}, []
    for name, dt in dts.items():
        results[name], caught = elpd(dt, basis["kinds"])
        bad = pareto_k_bad(results[name])
        if bad:
            notes.append(
                f"{name}: {bad} record(s) with Pareto k > {results[name].good_k:.2f}: their "
                "PSIS-LOO estimates are unreliable (the ELPD may favour this model unduly)"
            )
        elif caught:
            notes.extend(f"{name}: {message}" for message in dict.fromkeys(caught))
    if len(results) == 1:
        name, res = next(iter(results.items()))
        rows = [_row(name, res, 0.0, 0.0, 1.0)]
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = az.compare(results, method="stacking", round_to="none")
        notes.extend(str(w.message) for w in caught)
        rows = [
            _row(name, results[name], row["elpd_diff"], row["dse"], row["weight"])
            for name, row in table.iterrows()
        ]
    return {"models": rows, "compared_on": basis, "warnings": notes}


def _row(name: str, res: Any, diff: float, dse: float, weight: float) -> dict[str, Any]:
    return {
        "name": name,
        "elpd_loo": float(res.elpd),
        "se": float(res.se),
        "elpd_diff": float(diff),
        "dse": float(dse),
        "weight": float(weight),
        "p_loo": float(res.p),
        "pareto_k_bad": pareto_k_bad(res),
    }


def preference(table: dict[str, Any]) -> tuple[str | None, str]:
    """Say which model the data prefer, if the difference is clear, in a sentence.

    A preference is stated when the runner-up's ``|elpd_diff|`` exceeds both
    :data:`MIN_ELPD_DIFF` and :data:`DSE_FACTOR` times its ``dse`` (Sivula et al.'s guidance:
    smaller differences are within the noise of the LOO estimate).
    """
    rows = table["models"]
    if len(rows) < 2:
        return None, "only one model: nothing to compare"
    best, second = rows[0], rows[1]
    diff, dse = -second["elpd_diff"], second["dse"]
    if diff > MIN_ELPD_DIFF and diff > DSE_FACTOR * dse:
        return best["name"], (
            f"the data prefer {best['name']}: its ELPD-LOO is higher than {second['name']}'s by "
            f"{diff:.1f} (standard error {dse:.1f})"
        )
    return None, (
        f"no clear preference: {best['name']} leads {second['name']} by {diff:.1f} ELPD "
        f"(standard error {dse:.1f}), within {DSE_FACTOR:g} standard errors or below "
        f"{MIN_ELPD_DIFF:g}"
    )


def lfo_table(lpds: dict[str, dict[str, np.ndarray]], expr: str) -> dict[str, Any]:
    """Compare fitted models by their ELPD on records held out of every fit (leave-future-out).

    Parameters
    ----------
    lpds : dict
        Model name to its pointwise log predictive densities of the held-out records, per kind
        (:func:`gsf_infer.inference.predict.log_predictive_density`).
    expr : str
        The holdout condition (reported).

    Returns
    -------
    dict
        ``expr``; ``kinds`` the held-out kinds every model predicts and ``records`` their
        count; ``models`` name to ``elpd_lfo``, its standard error ``se_lfo``
        (``sqrt(n) sd(lpd_i)``), ``elpd_lfo_diff`` (``elpd - elpd_best``, zero or negative)
        and ``dse_lfo`` (the standard error of the paired difference to the best,
        ``sqrt(n) sd(lpd_i - lpd_best,i)``); ``preferred`` and ``sentence`` by the rule of
        :func:`preference`.
    """
    kinds = sorted(set.intersection(*(set(v) for v in lpds.values())), key=KINDS.index)
    pointwise = {name: np.concatenate([v[k] for k in kinds]) if kinds else np.zeros(0)
                 for name, v in lpds.items()}
    n = len(next(iter(pointwise.values())))
    out: dict[str, Any] = {"expr": expr, "kinds": kinds, "records": n, "models": {}}
    if n == 0:
        out.update(preferred=None, sentence=f"holdout {expr!r}: no held-out record every model "
                   "predicts")
        return out
    models, preferred, sentence = pointwise_comparison(pointwise)
    out["models"] = {name: {"elpd_lfo": row["elpd"], "se_lfo": row["se"],
                            "elpd_lfo_diff": row["elpd_diff"], "dse_lfo": row["dse"]}
                     for name, row in models.items()}
    out["preferred"] = preferred
    out["sentence"] = (f"on the {n} records held out by {expr!r} (leave-future-out): "
                       + sentence.replace("ELPD-LOO", "held-out ELPD"))
    return out


def pointwise_comparison(
    pointwise: dict[str, np.ndarray],
) -> tuple[dict[str, dict[str, float]], str | None, str]:
    """Rank models by the sum of pointwise ELPD contributions on the same units.

    Returns
    -------
    tuple
        ``(models, preferred, sentence)``: ``models`` name to ``elpd`` (the sum), ``se``
        (``sqrt(n) sd_i``), ``elpd_diff`` (``elpd - elpd_best``) and ``dse`` (``sqrt(n)`` times
        the standard deviation of the paired differences to the best), best first;
        ``preferred`` and ``sentence`` by the rule of :func:`preference`.
    """
    n = len(next(iter(pointwise.values())))
    total = {name: float(v.sum()) for name, v in pointwise.items()}
    order = sorted(total, key=total.get, reverse=True)
    best = pointwise[order[0]]
    models = {}
    for name in order:
        v = pointwise[name]
        models[name] = {
            "elpd": total[name],
            "se": float(np.sqrt(n) * v.std(ddof=1)) if n > 1 else float("nan"),
            "elpd_diff": total[name] - total[order[0]],
            "dse": float(np.sqrt(n) * (v - best).std(ddof=1)) if n > 1 else float("nan"),
        }
    rows = [{"name": name, **models[name]} for name in order]
    preferred, sentence = preference({"models": rows})
    return models, preferred, sentence


def run_loglik(dt: Any, kinds: list[str]) -> tuple[list[str], np.ndarray]:
    """Each run's joint log-likelihood, ``(chain, draw, run)``: the sum over its records.

    Runs in order of first appearance over ``kinds`` (each record's run from the DataTree's
    ``constant_data``).
    """
    ll = dt["log_likelihood"]
    values = np.concatenate([np.asarray(ll[k].values, dtype=float) for k in kinds], axis=-1)
    runs = _record_runs(dt, kinds)
    names = run_names(dt, kinds)
    summed = np.stack([values[..., runs == r].sum(axis=-1) for r in names], axis=-1)
    return names, summed


def _record_runs(dt: Any, kinds: list[str]) -> np.ndarray:
    const = dt["constant_data"]
    return np.concatenate([np.asarray(const[f"{k}_run"].values).astype(str) for k in kinds])


def run_names(dt: Any, kinds: list[str]) -> list[str]:
    """List the runs of the records of ``kinds``, in order of first appearance."""
    return list(dict.fromkeys(_record_runs(dt, kinds).tolist()))


def leave_run_out(dt: Any, kinds: list[str]) -> dict[str, Any]:
    """PSIS leave-one-run-out: ``az.loo`` on each run's joint log-likelihood.

    Records of one run share one realisation (one feature draw, one training trajectory), so
    leaving out one record at a time leaves its neighbours in and flatters the model; leaving
    out a run at a time asks how well the model predicts a run it has not seen (Vehtari,
    Gelman and Gabry 2017, Section 4 on leave-one-group-out). A run is influential, so its
    Pareto k is often high: those runs' estimates are not reliable, and the caller refits
    them exactly.

    Returns
    -------
    dict
        ``runs``, ``elpd_i`` (per run), ``pareto_k`` (per run), ``good_k``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # high k is expected here, and handled by refits
        result = az.loo(pointwise_tree(dt, kinds, by_run=True), pointwise=True)
    return {"runs": run_names(dt, kinds), "elpd_i": np.asarray(result.elpd_i, float).ravel(),
            "pareto_k": np.asarray(result.pareto_k, float).ravel(),
            "good_k": float(result.good_k)}


def format_table(result: dict[str, Any]) -> str:
    """Format the comparison as a text table with its notes (what ``compare`` prints)."""

    def num(x: Any, fmt: str) -> str:
        return (
            "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)
        )

    head = (
        f"{'model':<28}{'elpd_loo':>11}{'se':>8}{'elpd_diff':>11}{'dse':>8}{'weight':>8}"
        f"{'p_loo':>8}{'k>thr':>7}"
    )
    lines = [head, "-" * len(head)]
    for row in result["models"]:
        flag = "" if row.get("converged", True) else "  NOT CONVERGED"
        lines.append(
            f"{row['name']:<28}{num(row['elpd_loo'], '.1f'):>11}{num(row['se'], '.1f'):>8}"
            f"{num(row['elpd_diff'], '.1f'):>11}{num(row['dse'], '.1f'):>8}"
            f"{num(row['weight'], '.2f'):>8}{num(row['p_loo'], '.1f'):>8}"
            f"{row['pareto_k_bad']:>7}{flag}"
        )
    basis = result.get("compared_on", {})
    if basis.get("note"):
        lines.append(basis["note"])
    if result.get("preference"):
        lines.append(result["preference"])
    lfo = result.get("holdout")
    if lfo and lfo["models"]:
        lines += ["", f"{'model':<28}{'elpd_lfo':>11}{'se':>8}{'elpd_diff':>11}{'dse':>8}"]
        for name, row in lfo["models"].items():
            lines.append(f"{name:<28}{num(row['elpd_lfo'], '.1f'):>11}"
                         f"{num(row['se_lfo'], '.1f'):>8}{num(row['elpd_lfo_diff'], '.1f'):>11}"
                         f"{num(row['dse_lfo'], '.1f'):>8}")
    if lfo:
        lines.append(lfo["sentence"])
    logo = result.get("cv_run")
    if logo:
        lines += ["", f"{'model':<28}{'elpd_logo':>11}{'se':>8}{'elpd_diff':>11}{'dse':>8}"
                  f"{'refit':>7}"]
        for name, row in logo["models"].items():
            lines.append(f"{name:<28}{num(row['elpd_logo'], '.1f'):>11}"
                         f"{num(row['se'], '.1f'):>8}{num(row['elpd_diff'], '.1f'):>11}"
                         f"{num(row['dse'], '.1f'):>8}{len(row['refitted']):>7}")
        lines.append(logo["sentence"])
    return "\n".join(lines)
