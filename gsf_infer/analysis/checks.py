"""What turns a fit into a scientific answer: the ``checks.json`` object.

- **Posterior predictive checks** per kind of record (:mod:`gsf_infer.analysis.ppc`).
- **Identifiability in words**: per parameter from its prior-to-posterior contraction
  (:class:`gsf_infer.analysis.summary.IdentificationThresholds`), and ridges — pairs of parameters
  whose posterior rank correlation reaches ``|r| >= 0.9``, where the data fix a combination, not
  each.
- **The invariant** from a ``deviation``-model posterior, decided by
  :mod:`gsf_infer.analysis.invariant`.
- **PSIS-LOO of gsf against deviation** (:mod:`gsf_infer.analysis.comparison`) when both fits exist.
- :func:`build_checks` assembles the ``checks.json`` object; :func:`complete_checks` fills in the
  sections an older ``checks.json`` lacks.

Pure computation on DataTrees (NumPy, SciPy, ArviZ); returns values, writes nothing. The
``gsf-infer check`` command, which may fit the ``deviation`` model, is
:func:`gsf_infer.workflow.check.run_check`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import xarray as xr
from scipy.stats import rankdata

from gsf_infer.analysis import invariant as inv
from gsf_infer.analysis.comparison import loo_table, preference
from gsf_infer.analysis.elastic import elasticity_curve
from gsf_infer.analysis.identify import identify_kinds
from gsf_infer.analysis.ppc import CheckThresholds, posterior_predictive_checks
from gsf_infer.analysis.summary import (
    NUISANCE_PREFIX,
    IdentificationThresholds,
    convergence_problems,
    parameter_table,
)
from gsf_infer.analysis.summary import diagnostics as sampler_diagnostics
from gsf_infer.data.schema import KINDS
from gsf_infer.inference.datatree import read_attrs
from gsf_infer.model.deviations import DEVIATION_SCALE

#: Parameters whose pairwise posterior correlations are read as ridges. Derived quantities
#: (``chi``, ``gamma``, ``rho_over_b``, ``n`` of monomial = ``rho * m``) are left out: they
#: correlate with their ingredients by definition.
RIDGE_BASIS = ("a", "b", "rho", "m", "tau", "kap", "k_star", "K", "nu", "E", "s")
#: Start of the warning that the deviation-model fit behind the verdict did not converge (the
#: sentence :func:`gsf_infer.workflow.fit.fit` uses too).
DEVIATION_NOT_CONVERGED = "the deviation-model fit behind the invariant verdict did not converge"


# -------------------------------------------------------------------- identifiability


def unidentified(dt: xr.DataTree) -> frozenset[str]:
    """Parameters that no combination of the fit's kinds identifies.

    Their posterior may still be narrower than their prior — a single loss curve fixes
    ``chi = (a-1) rho/b``, which narrows ``a`` through the priors of ``rho`` and ``b`` — but
    that narrowing is the prior's, not a finding. Empty for ``chinchilla`` fits.
    """
    model = read_attrs(dt).get("model_settings", {}).get("model", "gsf")
    ident = fit_identification(dt) if model != "chinchilla" else None
    if ident is None:
        return frozenset()
    through = {**ident.constrained, **ident.others}
    return frozenset(name for name, kinds in through.items() if not kinds)


def fit_identification(dt: xr.DataTree) -> Any:
    """Say what the fit's kinds identify (:func:`gsf_infer.analysis.identify.identify_kinds`)."""
    kinds = [k for k in KINDS if "observed_data" in dt.children and k in dt["observed_data"]]
    if not kinds:
        return None
    loss_sizes = 0
    if "constant_data" in dt.children and "loss_params" in dt["constant_data"]:
        params = np.asarray(dt["constant_data"]["loss_params"].values, dtype=float)
        loss_sizes = int(np.unique(params[np.isfinite(params)]).size)
    target = "spectrum_target" in dt["observed_data"].data_vars
    return identify_kinds(kinds, loss_sizes=loss_sizes, target_power=target)


def _columns(post: xr.Dataset, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Flatten draws of each variable and coordinate, labelled ``name`` or ``name[coord]``."""
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name not in post.data_vars:
            continue
        var = post[name]
        extra = [d for d in var.dims if d not in ("chain", "draw")]
        if not extra:
            out[name] = np.asarray(var.values, dtype=float).ravel()
            continue
        stacked = var.stack(_cell=extra)
        for i in range(stacked.sizes["_cell"]):
            cell = stacked.isel(_cell=i)
            coords = [str(cell.coords[d].values) for d in extra]
            out[f"{name}[{','.join(coords)}]"] = np.asarray(cell.values, dtype=float).ravel()
    return out


def ridges(dt: xr.DataTree, threshold: float = 0.9) -> list[tuple[str, str, float]]:
    """Find pairs of :data:`RIDGE_BASIS` parameters with ``|rank correlation| >= threshold``.

    Constant or non-finite columns are skipped. Sorted by decreasing ``|r|``.
    """
    cols = _columns(dt["posterior"].to_dataset(), RIDGE_BASIS)
    usable = {
        label: values
        for label, values in cols.items()
        if np.all(np.isfinite(values)) and np.ptp(values) > 0
    }
    labels = list(usable)
    if len(labels) < 2:
        return []
    ranks = np.array([rankdata(usable[label]) for label in labels])
    corr = np.corrcoef(ranks)
    out = []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            r = float(corr[i, j])
            if abs(r) >= threshold:
                out.append((labels[i], labels[j], r))
    return sorted(out, key=lambda item: -abs(item[2]))


def identifiability(
    dt: xr.DataTree,
    parameters: dict[str, Any] | None = None,
    thresholds: CheckThresholds | None = None,
    labels: IdentificationThresholds | None = None,
    ci_prob: float = 0.94,
) -> list[str]:
    """Say what the data decide and what the prior decides, in sentences.

    Parameters
    ----------
    dt : xarray.DataTree
        The fit.
    parameters : dict, optional
        summary.json ``parameters`` (computed from ``dt`` when not given).
    thresholds, labels
        Ridge threshold; contraction levels.
    ci_prob : float
        Interval probability, when ``parameters`` must be computed.

    Returns
    -------
    list of str
        One sentence per parameter of the table, then one per ridge (or one saying there is
        none).
    """
    thresholds = thresholds or CheckThresholds()
    labels = labels or IdentificationThresholds()
    attrs = read_attrs(dt)
    model = attrs.get("model_settings", {}).get("model", "gsf")
    if parameters is None:
        parameters = parameter_table(dt, model, ci_prob)
    ident = fit_identification(dt) if model != "chinchilla" else None
    through: dict[str, tuple[str, ...]] = {}
    if ident is not None:
        through = {**ident.constrained, **ident.others}
    sentences = []
    for name, entry in parameters.items():
        if entry is None:
            if not any(k.startswith(name + "[") for k in parameters):
                sentences.append(f"{name}: this model cannot speak to it (not a parameter here).")
            continue
        if name.startswith(NUISANCE_PREFIX):
            sentences.append(f"{name}: the scale of each run's discrepancy, a nuisance parameter "
                             "(not a finding).")
            continue
        c = entry.get("contraction")
        label = labels.label(c)
        kinds = through.get(name)
        via = f", through {', '.join(kinds)}" if kinds else ""
        if label in ("data", "weak") and name in through and not kinds:
            sentences.append(
                f"{name} is narrowed (contraction {c:.2f}) although no combination of these "
                "kinds identifies it: the narrowing comes from the priors of the quantities it "
                "is tied to (e.g. chi = (a-1) rho/b), so its interval is not a finding."
            )
        elif label == "data":
            sentences.append(f"{name} is decided by the data (contraction {c:.2f}{via}).")
        elif label == "weak":
            sentences.append(
                f"{name} is only weakly constrained (contraction {c:.2f}{via}): the prior still "
                "shapes its interval."
            )
        elif label == "prior":
            sentences.append(
                f"{name} is left to the prior (contraction {c:.2f}): its interval restates the "
                "prior and is not a finding."
            )
        else:
            sentences.append(f"{name}: no prior draws to measure contraction against.")
    pairs = ridges(dt, thresholds.ridge)
    for x, y, r in pairs:
        how = "trade off against each other" if r < 0 else "move together"
        sentences.append(
            f"a ridge between {x} and {y} (posterior rank correlation {r:+.2f}: they {how}): "
            "the data fix a combination of the two, not each one."
        )
    if not pairs:
        sentences.append(
            f"No ridge: no two of the sampled parameters have |rank correlation| >= "
            f"{thresholds.ridge:g} in the posterior."
        )
    return sentences


# -------------------------------------------------------------------------- invariant


def invariant_result(
    dt: xr.DataTree, deviation_dt: xr.DataTree | None, settings: inv.InvariantSettings
) -> dict[str, Any]:
    """Return the invariant verdict of a fit (checks.json ``invariant``, summary.json's first).

    The ``deviation`` posterior is ``dt``'s own when the fit is ``deviation``, else
    ``deviation_dt``'s. The verdict is ``untestable`` (naming the missing kinds) when the
    records cannot test it or there is no deviation posterior, and marked untrusted when the
    deviation fit did not converge (:func:`gsf_infer.analysis.invariant.verdict`).
    """
    attrs = read_attrs(dt)
    model = attrs.get("model_settings", {}).get("model")
    ident = fit_identification(dt)
    if ident is not None and not ident.invariant_testable:
        return inv.untestable(list(ident.missing), settings)
    if model == "chinchilla" and deviation_dt is None:
        return inv.untestable(["loss records (chinchilla fits loss only)"], settings)
    source = dt if model == "deviation" else deviation_dt
    if source is None:
        return inv.untestable(["(the deviation-model check was not run)"], settings)
    draws = inv.flat_draws(source["posterior"], inv.VERDICT_VARIABLES)
    if "delta_over_rho" not in draws:
        return inv.untestable(["(the deviation model has no deviation parameters)"], settings)
    problems = convergence_problems(sampler_diagnostics(source))
    out = inv.verdict(draws, settings, problems)
    scale = float(read_attrs(source).get("deviation_scale", DEVIATION_SCALE))
    out["prior_sensitivity"] = inv.prior_sensitivity(draws, scale, settings)
    return out


# ------------------------------------------------------------------------- assembling


def data_summary(dt: xr.DataTree, excluded: dict[str, int] | None = None) -> dict[str, Any]:
    """Count records per kind and per run (``constant_data``), with rows excluded on purpose.

    ``excluded`` is ``None`` when not known (the records table was not read).
    """
    records: dict[str, int] = {}
    runs: list[dict[str, Any]] = []
    observed = dt["observed_data"] if "observed_data" in dt.children else None
    constant = dt["constant_data"] if "constant_data" in dt.children else None
    for kind in KINDS:
        if observed is None or kind not in observed.data_vars:
            continue
        records[kind] = int(observed[kind].size)
        if constant is not None and f"{kind}_run" in constant.data_vars:
            names, counts = np.unique(
                np.asarray(constant[f"{kind}_run"].values).astype(str), return_counts=True
            )
            runs.extend(
                {"kind": kind, "run": str(r), "records": int(c)}
                for r, c in zip(names, counts, strict=True)
            )
    return {
        "records": records,
        "runs": runs,
        "excluded": dict(excluded) if excluded is not None else None,
    }


def build_checks(
    dt: xr.DataTree,
    *,
    invariant: dict[str, Any] | None = None,
    diagnostics: dict[str, Any] | None = None,
    warnings: list[str] | tuple[str, ...] = (),
    deviation_dt: xr.DataTree | None = None,
    parameters: dict[str, Any] | None = None,
    excluded: dict[str, int] | None = None,
    thresholds: CheckThresholds | None = None,
    rope: float = 0.1,
    ci_prob: float | None = None,
    seed: int = 0,
    pits: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the ``checks.json`` object of a fit.

    Parameters
    ----------
    dt : xarray.DataTree
        The fit (``posterior.nc``).
    invariant : dict, optional
        The invariant result; computed by :func:`invariant_result` when not given.
    diagnostics : dict, optional
        :func:`gsf_infer.analysis.summary.diagnostics` of ``dt`` (computed when not given).
    warnings : sequence of str
        Warnings of the fit, kept first.
    deviation_dt : xarray.DataTree, optional
        The ``deviation``-model fit behind the invariant (its diagnostics and the LOO of gsf
        against it).
    parameters : dict, optional
        summary.json ``parameters``.
    excluded : dict, optional
        Rows excluded on purpose, by reason (:attr:`gsf_infer.data.records.Records.excluded`).
    thresholds : CheckThresholds, optional
        Flagging rules.
    rope, ci_prob : float
        For the invariant when it is computed here (``ci_prob`` defaults to the fit's).
    seed : int
        Tie-breaking of LOO-PIT values.
    pits : dict, optional
        :func:`gsf_infer.analysis.ppc.loo_pits` of ``dt`` with ``seed``, when already computed
        (the LOO-PIT figure draws the same values).

    Returns
    -------
    dict
        ``invariant``, ``ppc`` (per observed variable, see
        :func:`gsf_infer.analysis.ppc.check_variable`),
        ``identifiability`` (sentences), ``loo`` (``{"gsf_vs_deviation": ...}`` when both fits
        exist), ``diagnostics`` (with ``problems``), ``diagnostics_deviation`` (with a
        deviation fit), ``data`` (:func:`data_summary`), ``rules`` (the flagging rules in
        words) and ``warnings`` (the fit's, then one per flagged check); for an ``elastic``
        fit also ``elasticity`` (:func:`gsf_infer.analysis.elastic.elasticity_curve`).
    """
    thresholds = thresholds or CheckThresholds()
    attrs = read_attrs(dt)
    ci_prob = float(ci_prob if ci_prob is not None else attrs.get("ci_prob", 0.94))
    if invariant is None:
        settings = inv.InvariantSettings(rope=rope, ci_prob=ci_prob)
        invariant = invariant_result(dt, deviation_dt, settings)
    diag = diagnostics if diagnostics is not None else sampler_diagnostics(dt)
    diag = dict(diag, problems=convergence_problems(diag))
    out_warnings = list(warnings)
    if diag["problems"] and not any(w.startswith("NOT CONVERGED") for w in out_warnings):
        out_warnings.append("NOT CONVERGED: " + "; ".join(diag["problems"]))
    ppc = posterior_predictive_checks(dt, thresholds, seed, pits)
    for var, entry in ppc.items():
        if entry["flagged"]:
            out_warnings.append(f"posterior predictive check of {var} flagged: {entry['reason']}")
    checks: dict[str, Any] = {
        "invariant": invariant,
        "ppc": ppc,
        "identifiability": identifiability(dt, parameters, thresholds, ci_prob=ci_prob),
        "unidentified": sorted(unidentified(dt)),
        "loo": {},
        "diagnostics": diag,
        "data": data_summary(dt, excluded),
        "rules": thresholds.rules() | {"thresholds": asdict(thresholds)},
        "warnings": out_warnings,
    }
    curve = elasticity_curve(dt, ci_prob)
    if curve is not None:
        checks["elasticity"] = curve
    if deviation_dt is not None:
        model = attrs.get("model_settings", {}).get("model", "gsf")
        _add_deviation_checks(checks, dt, deviation_dt, compare_loo=model == "gsf")
    return checks


def _add_deviation_checks(
    checks: dict[str, Any], dt: xr.DataTree, deviation_dt: xr.DataTree, compare_loo: bool
) -> None:
    """Add the deviation fit's diagnostics and PSIS-LOO of gsf against deviation, in place.

    A warning is added when the deviation fit did not converge; the LOO comparison only when
    ``compare_loo`` (the main fit is ``gsf``).
    """
    out_warnings = checks["warnings"]
    deviation_diag = sampler_diagnostics(deviation_dt)
    problems = convergence_problems(deviation_diag)
    checks["diagnostics_deviation"] = dict(deviation_diag, problems=problems)
    if problems and not any(w.startswith(DEVIATION_NOT_CONVERGED) for w in out_warnings):
        out_warnings.append(
            f"{DEVIATION_NOT_CONVERGED}: {'; '.join(problems)}; the verdict is not trusted"
        )
    if compare_loo:
        checks["loo"]["gsf_vs_deviation"] = gsf_vs_deviation(dt, deviation_dt)
        out_warnings.extend(checks["loo"]["gsf_vs_deviation"]["warnings"])


def gsf_vs_deviation(dt: xr.DataTree, deviation_dt: xr.DataTree) -> dict[str, Any]:
    """Compare the theory's model with its deviation model by PSIS-LOO, in a sentence.

    Returns
    -------
    dict
        :func:`gsf_infer.analysis.comparison.loo_table`'s ``models``, ``compared_on`` and
        ``warnings``, plus ``preferred`` (``gsf``, ``deviation`` or ``None``) and ``sentence``.
    """
    table = loo_table({"gsf": dt, "deviation": deviation_dt})
    preferred, sentence = preference(table)
    if preferred == "deviation":
        sentence += (
            ": letting the invariant break predicts the records better than the theory's "
            "shared exponents"
        )
    elif preferred == "gsf":
        sentence += (
            ": the theory's shared exponents predict the records as well as the deviation "
            "model, with fewer parameters"
        )
    return dict(table, preferred=preferred, sentence=sentence)


def checks_for_fit(
    result: Any,
    excluded: dict[str, int] | None = None,
    thresholds: CheckThresholds | None = None,
    pits: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`build_checks` of a :class:`gsf_infer.workflow.fit.FitResult`.

    ``pits``: :func:`gsf_infer.analysis.ppc.loo_pits` of the fit, when already computed.
    """
    return build_checks(
        result.dt,
        invariant=result.invariant_detail,
        diagnostics=result.diagnostics,
        warnings=result.warnings,
        deviation_dt=result.deviation_dt,
        parameters=result.summary.get("parameters"),
        excluded=excluded,
        thresholds=thresholds,
        pits=pits,
    )



def complete_checks(
    checks: dict[str, Any],
    dt: xr.DataTree,
    *,
    deviation_dt: xr.DataTree | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Complete a saved ``checks.json`` with any section it lacks, from the saved fits.

    Older folders (or ``fit`` folders written before the checks ran) may hold only the
    invariant, diagnostics and warnings; the predictive checks, identifiability, data summary
    and gsf-vs-deviation LOO are computed from ``dt`` (and ``deviation_dt``).

    Parameters
    ----------
    checks : dict
        The saved checks.json (not modified).
    dt, deviation_dt : xarray.DataTree
        The fit and the ``deviation``-model fit behind its invariant.
    parameters : dict, optional
        summary.json ``parameters``.
    """
    checks = dict(checks)
    wanted = ("ppc", "identifiability", "data", "rules")
    if all(key in checks for key in wanted):
        return checks
    fresh = build_checks(
        dt,
        invariant=checks.get("invariant"),
        diagnostics=checks.get("diagnostics"),
        warnings=checks.get("warnings", []),
        deviation_dt=deviation_dt,
        parameters=parameters,
    )
    for key, value in fresh.items():
        checks.setdefault(key, value)
    checks["warnings"] = fresh["warnings"]  # the saved ones first, then the new flags
    if not checks.get("loo") and fresh.get("loo"):
        checks["loo"] = fresh["loo"]
    return checks
