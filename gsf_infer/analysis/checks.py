"""What turns a fit into a scientific answer: predictive checks, identifiability, ``checks.json``.

- **Posterior predictive checks**, per kind of record: the share of observations inside their
  central 90% posterior predictive interval, and LOO-PIT values (``az.loo_pit`` with the kind's
  pointwise log-likelihood) tested for uniformity with ArviZ's POT-C test (pointwise order
  tests combined by the Cauchy method, Tesso & Vehtari 2025 — the test ``az.plot_loo_pit``
  draws). Rules are in :class:`CheckThresholds`.
- **Identifiability in words**: per parameter from its prior-to-posterior contraction
  (:class:`gsf_infer.analysis.summary.IdentificationThresholds`), and ridges — pairs of parameters
  whose posterior rank correlation reaches ``|r| >= 0.9``, where the data fix a combination, not
  each.
- **The invariant** from a ``deviation``-model posterior, decided by
  :mod:`gsf_infer.analysis.invariant`.
- **PSIS-LOO of gsf against deviation** (:mod:`gsf_infer.analysis.comparison`) when both fits exist.
- :func:`build_checks` assembles the ``checks.json`` object; :func:`run_check` is the
  ``gsf-infer check`` command as a library function (it may fit the ``deviation`` model).

Pure computation on DataTrees (NumPy, SciPy, ArviZ); returns values, writes nothing. The
fitting machinery (:mod:`gsf_infer.workflow`) is imported inside :func:`run_check` only.
"""

from __future__ import annotations

import json
import math
import warnings as pywarnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import arviz as az  # noqa: E402
import numpy as np
import numpyro  # noqa: F401  (before arviz: lazy-loader interplay)
import xarray as xr  # noqa: E402

from gsf_infer.analysis.invariant import (  # noqa: E402
    VERDICT_VARIABLES,
    InvariantSettings,
    flat_draws,
    prior_sensitivity,
    untestable,
    verdict,
)
from gsf_infer.analysis.summary import (  # noqa: E402
    IdentificationThresholds,
    convergence_problems,
    parameter_table,
)
from gsf_infer.analysis.summary import diagnostics as sampler_diagnostics  # noqa: E402
from gsf_infer.data.schema import KINDS  # noqa: E402
from gsf_infer.errors import InputError, Problem  # noqa: E402
from gsf_infer.inference.datatree import read_attrs  # noqa: E402
from gsf_infer.model.deviations import DEVIATION_SCALE  # noqa: E402

#: The observed variables checked, in this order (``spectrum_target`` = target powers).
PPC_VARIABLES = (
    "loss",
    "quantization",
    "pruning",
    "density",
    "spectrum",
    "spectrum_target",
    "modes",
    "data_scaling",
)
#: Parameters whose pairwise posterior correlations are read as ridges. Derived quantities
#: (``chi``, ``gamma``, ``rho_over_b``, ``n`` of monomial = ``rho * m``) are left out: they
#: correlate with their ingredients by definition.
RIDGE_BASIS = ("a", "b", "rho", "m", "tau", "kap", "k_star", "K", "nu", "E", "s")
#: Start of the warning that the deviation-model fit behind the verdict did not converge (the
#: sentence :func:`gsf_infer.workflow.fit.fit` uses too).
DEVIATION_NOT_CONVERGED = "the deviation-model fit behind the invariant verdict did not converge"
#: Uniform PIT values have standard deviation 1/sqrt(12).
UNIFORM_SD = 1.0 / math.sqrt(12.0)


@dataclass(frozen=True)
class CheckThresholds:
    """The flagging rules of the predictive checks and the ridge threshold.

    Attributes
    ----------
    interval_prob : float
        Probability of the central predictive interval whose coverage is counted.
    coverage_alpha : float
        Level of the one-sided exact binomial test of coverage below ``interval_prob``.
    coverage_tolerance : float
        A coverage is flagged only if it is also at least this far below ``interval_prob``.
    pit_alpha : float
        Level of the POT-C uniformity test of the LOO-PIT values.
    ridge : float
        ``|rank correlation|`` from which two parameters are said to form a ridge.
    """

    interval_prob: float = 0.9
    coverage_alpha: float = 0.01
    coverage_tolerance: float = 0.05
    pit_alpha: float = 0.01
    ridge: float = 0.9

    def rules(self) -> dict[str, str]:
        """Return the rules in words (checks.json ``rules`` and the report)."""
        pct = f"{self.interval_prob:.0%}"
        return {
            "coverage": (
                f"flagged when the share of observations inside their central {pct} posterior "
                f"predictive interval is below {pct} by an exact one-sided binomial test at "
                f"level {self.coverage_alpha:g} and by more than {self.coverage_tolerance:g}. "
                "Only under-coverage is flagged: in-sample intervals of a correct model cover "
                "slightly more than nominal (they include the observation they were fitted "
                "to); intervals that are too wide show in the LOO-PIT instead."
            ),
            "loo_pit": (
                "flagged when ArviZ's POT-C test (pointwise beta order-statistic tests "
                "combined by the Cauchy method; the test of az.plot_loo_pit) rejects uniform "
                f"LOO-PIT values at level {self.pit_alpha:g}."
            ),
            "ridge": (
                f"two parameters form a ridge when their posterior rank (Spearman) correlation "
                f"reaches |r| >= {self.ridge:g}."
            ),
        }


# ------------------------------------------------------------------------------ PPC


def ppc_variables(dt: xr.DataTree) -> list[str]:
    """List observed variables with predictive draws, in :data:`PPC_VARIABLES` order."""
    if "observed_data" not in dt.children or "posterior_predictive" not in dt.children:
        return []
    obs, pred = set(dt["observed_data"].data_vars), set(dt["posterior_predictive"].data_vars)
    return [v for v in PPC_VARIABLES if v in obs and v in pred]


def _flat_draws(var: xr.DataArray) -> np.ndarray:
    """Return the ``(S, n)`` draws of a ``(chain, draw, obs)`` variable."""
    values = np.asarray(var.transpose("chain", "draw", ...).values, dtype=float)
    return values.reshape(values.shape[0] * values.shape[1], -1)


def interval_coverage(draws: np.ndarray, observed: np.ndarray, prob: float) -> np.ndarray:
    """Tell whether each observation lies in its central ``prob`` predictive interval.

    Parameters
    ----------
    draws : numpy.ndarray
        ``(S, n)`` predictive draws.
    observed : numpy.ndarray
        ``(n,)`` observations (non-finite ones count as not covered and should be removed).
    prob : float
        Interval probability.

    Returns
    -------
    numpy.ndarray of bool
        ``(n,)``.
    """
    tail = (1.0 - prob) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    return (observed >= low) & (observed <= high)


def coverage_flag(covered: int, n: int, thresholds: CheckThresholds) -> tuple[bool, float]:
    """Apply the coverage rule to ``covered`` of ``n`` observations: ``(flagged, p)``.

    ``p`` is the exact one-sided binomial p-value of coverage below ``interval_prob``; the
    coverage is flagged when ``p < coverage_alpha`` and it is more than ``coverage_tolerance``
    below ``interval_prob``.
    """
    from scipy.stats import binomtest

    if n == 0:
        return False, float("nan")
    p = float(binomtest(covered, n, thresholds.interval_prob, alternative="less").pvalue)
    low = covered / n < thresholds.interval_prob - thresholds.coverage_tolerance
    return bool(p < thresholds.coverage_alpha and low), p


def _kind_tree(dt: xr.DataTree, var: str) -> xr.DataTree | None:
    """Gather posterior (finite variables), predictive, data and log-likelihood of one variable.

    ``spectrum_target`` has no log-likelihood of its own: a spectrum record's target power is
    part of its eigenvalue's term, so the records' spectrum log-likelihood is used (leaving out
    the record leaves out both values).
    """
    if "log_likelihood" not in dt.children:
        return None
    ll_group = dt["log_likelihood"]
    if var in ll_group.data_vars:
        ll = ll_group[var]
    elif var == "spectrum_target" and "spectrum" in ll_group.data_vars:
        rows = np.asarray(dt["observed_data"]["spectrum_target"].coords["spectrum_target_obs"])
        ll = ll_group["spectrum"].isel(spectrum_obs=rows.astype(int))
        ll = ll.rename(spectrum_obs="spectrum_target_obs").assign_coords(spectrum_target_obs=rows)
    else:
        return None
    post = dt["posterior"].to_dataset()
    finite = [
        n
        for n, v in post.data_vars.items()
        if np.issubdtype(v.dtype, np.number) and np.all(np.isfinite(v.values))
    ]
    return xr.DataTree.from_dict(
        {
            "posterior": post[finite],
            "posterior_predictive": xr.Dataset({var: dt["posterior_predictive"][var]}),
            "observed_data": xr.Dataset({var: dt["observed_data"][var]}),
            "log_likelihood": xr.Dataset({var: ll}),
        }
    )


def loo_pit_values(dt: xr.DataTree, var: str, rng: np.random.Generator) -> dict[str, Any] | None:
    """Compute LOO-PIT values of one observed variable and the Pareto k of its PSIS weights.

    Pareto-smoothed PIT (ArviZ's ``pareto_pit=True``): the tails of each weighted predictive
    are refined by a generalized Pareto fit, so no value is exactly 0 or 1 — with ``S`` draws
    an observation beyond every draw has probability ``2/(S+1)``, and a raw PIT of exactly 1
    makes the order-statistic test reject uniformity outright.

    Returns
    -------
    dict or None
        ``pit`` (``(n,)``), ``pareto_k_bad`` (records with Pareto k above ArviZ's ``good_k``)
        and ``good_k``; ``None`` without a log-likelihood for ``var``.
    """
    tree = _kind_tree(dt, var)
    if tree is None:
        return None
    with pywarnings.catch_warnings():
        # ArviZ warns about high Pareto k; the count is reported instead
        pywarnings.simplefilter("ignore", UserWarning)
        loo = az.loo(tree, var_name=var, pointwise=True)
        pit = az.loo_pit(
            tree,
            var_names=[var],
            log_weights=xr.Dataset({var: loo.log_weights}),
            pareto_k=xr.Dataset({var: loo.pareto_k}),
            random_state=rng,
            pareto_pit=True,
        )
    k = np.asarray(loo.pareto_k, dtype=float).ravel()
    return {
        "pit": np.asarray(pit[var].values, dtype=float).ravel(),
        "pareto_k_bad": int(np.sum(k > loo.good_k)),
        "good_k": float(loo.good_k),
    }


def pit_uniformity(pit: np.ndarray) -> float:
    """Return the p-value of ArviZ's POT-C uniformity test of PIT values (NaN for none)."""
    from arviz_stats.base import array_stats

    pit = np.asarray(pit, dtype=float)
    pit = pit[np.isfinite(pit)]
    if pit.size == 0:
        return float("nan")
    p_value, _, _ = array_stats.uniformity_test(pit, method="pot_c")
    return float(p_value)


def _describe_pit(pit: np.ndarray) -> str:
    """Say in words what a non-uniform LOO-PIT means for the predictive.

    Location from the mean (uniform: 0.5, standard error ``0.289/sqrt(n)``), spread from the
    standard deviation (uniform: 0.289, standard error ``sqrt(1/80 - 1/144) / (2 * 0.289 *
    sqrt(n))``); departures beyond two standard errors are named.
    """
    n = pit.size
    words = []
    mean_se = UNIFORM_SD / math.sqrt(n)
    if pit.mean() > 0.5 + 2 * mean_se:
        words.append(
            "the observations sit high in their predictive distributions (predictions too low)"
        )
    elif pit.mean() < 0.5 - 2 * mean_se:
        words.append(
            "the observations sit low in their predictive distributions (predictions too high)"
        )
    sd_se = math.sqrt(1 / 80 - 1 / 144) / (2 * UNIFORM_SD * math.sqrt(n))
    sd = float(pit.std())
    if sd > UNIFORM_SD + 2 * sd_se:
        words.append(
            f"too many observations in the tails of their predictive (PIT sd {sd:.2f} > 0.29): "
            "intervals too narrow"
        )
    elif sd < UNIFORM_SD - 2 * sd_se:
        words.append(
            f"observations crowd the middle of their predictive (PIT sd {sd:.2f} < 0.29): "
            "intervals too wide"
        )
    return "; ".join(words) or "the LOO-PIT values are not uniform"


def check_variable(
    dt: xr.DataTree, var: str, thresholds: CheckThresholds, rng: np.random.Generator
) -> dict[str, Any]:
    """Check the predictive of one observed variable (one entry of checks.json ``ppc``).

    Returns
    -------
    dict
        ``n``, ``coverage_90`` (share inside the central ``interval_prob`` interval),
        ``coverage_p`` (one-sided binomial p-value of under-coverage), ``loo_pit``
        (``p_value``, ``test``, ``mean``, ``sd``, ``pareto_k_bad``; ``None`` without a
        log-likelihood), ``degenerate`` (the predictive draws do not vary), ``flagged`` and
        ``reason`` (a sentence, ``None`` when not flagged).
    """
    draws = _flat_draws(dt["posterior_predictive"][var])
    observed = np.asarray(dt["observed_data"][var].values, dtype=float).ravel()
    keep = np.isfinite(observed)
    draws, observed = draws[:, keep], observed[keep]
    n = int(observed.size)
    covered = interval_coverage(draws, observed, thresholds.interval_prob)
    k = int(covered.sum())
    coverage = k / n if n else float("nan")
    under, p_cov = coverage_flag(k, n, thresholds)
    degenerate = bool(n and np.all(np.ptp(draws, axis=0) == 0))
    pit_info = loo_pit_values(dt, var, rng)
    reasons = []
    if degenerate:
        reasons.append(
            "the posterior predictive draws do not vary (they repeat one value per record): "
            "the predictive was not sampled, so coverage and LOO-PIT say nothing"
        )
    if under and not degenerate:
        reasons.append(
            f"only {coverage:.0%} of {n} observations inside their central "
            f"{thresholds.interval_prob:.0%} predictive interval (binomial p = {p_cov:.2g})"
        )
    pit_entry = None
    if pit_info is not None:
        pit = pit_info["pit"][np.isfinite(pit_info["pit"])]
        p_pit = pit_uniformity(pit)
        pit_entry = {
            "p_value": p_pit,
            "test": "pot_c",
            "mean": float(pit.mean()) if pit.size else None,
            "sd": float(pit.std()) if pit.size else None,
            "pareto_k_bad": pit_info["pareto_k_bad"],
        }
        if pit.size and p_pit < thresholds.pit_alpha and not degenerate:
            reasons.append(f"LOO-PIT not uniform (POT-C p = {p_pit:.2g}): {_describe_pit(pit)}")
    return {
        "n": n,
        "coverage_90": coverage,
        "coverage_p": p_cov,
        "loo_pit": pit_entry,
        "degenerate": degenerate,
        "flagged": bool(reasons),
        "reason": "; ".join(reasons) if reasons else None,
    }


def posterior_predictive_checks(
    dt: xr.DataTree, thresholds: CheckThresholds | None = None, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """:func:`check_variable` for every observed variable (checks.json ``ppc``).

    ``seed`` drives ArviZ's random tie-breaking of LOO-PIT values (ties only arise when
    predictive draws repeat an observed value).
    """
    thresholds = thresholds or CheckThresholds()
    rng = np.random.default_rng(seed)
    return {var: check_variable(dt, var, thresholds, rng) for var in ppc_variables(dt)}


# -------------------------------------------------------------------- identifiability


def unidentified(dt: xr.DataTree) -> frozenset[str]:
    """Parameters that no combination of the fit's kinds identifies.

    Their posterior may still be narrower than their prior — a single loss curve fixes
    ``chi = (a-1) rho/b``, which narrows ``a`` through the priors of ``rho`` and ``b`` — but
    that narrowing is the prior's, not a finding. Empty for ``chinchilla`` fits.
    """
    model = read_attrs(dt).get("model_settings", {}).get("model", "gsf")
    ident = _identification(dt) if model != "chinchilla" else None
    if ident is None:
        return frozenset()
    through = {**ident.constrained, **ident.others}
    return frozenset(name for name, kinds in through.items() if not kinds)


def _identification(dt: xr.DataTree):
    """Say what the fit's kinds identify (:func:`gsf_infer.analysis.identify.identify_kinds`)."""
    from gsf_infer.analysis.identify import identify_kinds

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
    from scipy.stats import rankdata

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
    ident = _identification(dt) if model != "chinchilla" else None
    through: dict[str, tuple[str, ...]] = {}
    if ident is not None:
        through = {**ident.constrained, **ident.others}
    sentences = []
    for name, entry in parameters.items():
        if entry is None:
            if not any(k.startswith(name + "[") for k in parameters):
                sentences.append(f"{name}: this model cannot speak to it (not a parameter here).")
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
    dt: xr.DataTree, deviation_dt: xr.DataTree | None, settings: InvariantSettings
) -> dict[str, Any]:
    """Return the invariant verdict of a fit (checks.json ``invariant``, summary.json's first).

    The ``deviation`` posterior is ``dt``'s own when the fit is ``deviation``, else
    ``deviation_dt``'s. The verdict is ``untestable`` (naming the missing kinds) when the
    records cannot test it or there is no deviation posterior, and marked untrusted when the
    deviation fit did not converge (:func:`gsf_infer.analysis.invariant.verdict`).
    """
    attrs = read_attrs(dt)
    model = attrs.get("model_settings", {}).get("model")
    ident = _identification(dt)
    if ident is not None and not ident.invariant_testable:
        return untestable(list(ident.missing), settings)
    if model == "chinchilla" and deviation_dt is None:
        return untestable(["loss records (chinchilla fits loss only)"], settings)
    source = dt if model == "deviation" else deviation_dt
    if source is None:
        return untestable(["(the deviation-model check was not run)"], settings)
    draws = flat_draws(source["posterior"], VERDICT_VARIABLES)
    if "delta_over_rho" not in draws:
        return untestable(["(the deviation model has no deviation parameters)"], settings)
    problems = convergence_problems(sampler_diagnostics(source))
    out = verdict(draws, settings, problems)
    scale = float(read_attrs(source).get("deviation_scale", DEVIATION_SCALE))
    out["prior_sensitivity"] = prior_sensitivity(draws, scale, settings)
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

    Returns
    -------
    dict
        ``invariant``, ``ppc`` (per observed variable, see :func:`check_variable`),
        ``identifiability`` (sentences), ``loo`` (``{"gsf_vs_deviation": ...}`` when both fits
        exist), ``diagnostics`` (with ``problems``), ``diagnostics_deviation`` (with a deviation fit),
        ``data`` (:func:`data_summary`), ``rules`` (the flagging rules in words) and
        ``warnings`` (the fit's, then one per flagged check).
    """
    diag = diagnostics
    fit_warnings = list(warnings)
    thresholds = thresholds or CheckThresholds()
    attrs = read_attrs(dt)
    ci_prob = float(ci_prob if ci_prob is not None else attrs.get("ci_prob", 0.94))
    model = attrs.get("model_settings", {}).get("model", "gsf")
    if invariant is None:
        invariant = invariant_result(dt, deviation_dt, InvariantSettings(rope=rope, ci_prob=ci_prob))
    if diag is None:
        diag = sampler_diagnostics(dt)
    diag = dict(diag, problems=convergence_problems(diag))
    out_warnings = list(fit_warnings)
    if diag["problems"] and not any(w.startswith("NOT CONVERGED") for w in out_warnings):
        out_warnings.append("NOT CONVERGED: " + "; ".join(diag["problems"]))
    ppc = posterior_predictive_checks(dt, thresholds, seed)
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
    if deviation_dt is not None:
        deviation_diag = sampler_diagnostics(deviation_dt)
        deviation_problems = convergence_problems(deviation_diag)
        checks["diagnostics_deviation"] = dict(deviation_diag, problems=deviation_problems)
        if deviation_problems and not any(w.startswith(DEVIATION_NOT_CONVERGED) for w in out_warnings):
            out_warnings.append(
                f"{DEVIATION_NOT_CONVERGED}: {'; '.join(deviation_problems)}; the verdict is not trusted"
            )
        if model == "gsf":
            checks["loo"]["gsf_vs_deviation"] = gsf_vs_deviation(dt, deviation_dt)
            out_warnings.extend(checks["loo"]["gsf_vs_deviation"]["warnings"])
    return checks


def gsf_vs_deviation(dt: xr.DataTree, deviation_dt: xr.DataTree) -> dict[str, Any]:
    """Compare the theory's model with its deviation model by PSIS-LOO, in a sentence.

    Returns
    -------
    dict
        :func:`gsf_infer.analysis.comparison.loo_table`'s ``models``, ``compared_on`` and
        ``warnings``, plus ``preferred`` (``gsf``, ``deviation`` or ``None``) and ``sentence``.
    """
    from gsf_infer.analysis.comparison import loo_table, preference

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
    result: Any, excluded: dict[str, int] | None = None, thresholds: CheckThresholds | None = None
) -> dict[str, Any]:
    """:func:`build_checks` of a :class:`gsf_infer.workflow.fit.FitResult`."""
    return build_checks(
        result.dt,
        invariant=result.invariant_detail,
        diagnostics=result.diagnostics,
        warnings=result.warnings,
        deviation_dt=result.deviation_dt,
        parameters=result.summary.get("parameters"),
        excluded=excluded,
        thresholds=thresholds,
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


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(Problem(str(path), f"cannot be read as JSON: {err}")) from None


def run_check(
    target: str | Path,
    *,
    rope: float = 0.1,
    g: str = "monomial",
    tier: str = "continuum",
    likelihood: str | None = None,
    pruning_metric: str | None = None,
    priors_path: str | Path | None = None,
    chains: int = 4,
    warmup: int = 1000,
    draws: int = 1000,
    seed: int = 0,
    ci_prob: float = 0.94,
    progress: Any = None,
    command: str = "",
) -> CheckOutcome:
    """Run the ``gsf-infer check`` command as a library function.

    On a fit folder: the invariant from its ``posterior_deviation.nc`` (or its own posterior when
    the fit is ``deviation``); without one, the ``deviation`` model is fitted on the fit's input file
    (which must be unchanged: same sha256 and records) with the fit's settings and sampler.
    On a records table: nothing is fitted if the data cannot test the invariant (the verdict
    names the missing kinds); otherwise the ``gsf`` and ``deviation`` models are fitted
    (:func:`gsf_infer.workflow.fit.fit`). The sampler and model options apply to fits made here.

    Raises
    ------
    InputError
        Bad options, an unreadable fit folder, or a fit whose input changed.
    """
    from gsf_infer.workflow.resolve import _check_numbers

    _check_numbers(chains=chains, warmup=warmup, draws=draws, ci_prob=ci_prob, rope=rope)
    target = Path(target)
    settings = InvariantSettings(rope=rope, ci_prob=ci_prob)
    if target.is_dir():
        return _check_folder(
            target, settings, priors_path=priors_path, progress=progress, command=command
        )
    from gsf_infer.analysis.identify import identify
    from gsf_infer.data.records import read_records
    from gsf_infer.workflow.fit import fit

    records = read_records(target)
    ident = identify(records)
    if not ident.invariant_testable:
        checks = {
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
        return CheckOutcome(checks=checks, source="data")
    result = fit(
        target,
        model="gsf",
        g=g,
        tier=tier,
        likelihood=likelihood,
        pruning_metric=pruning_metric,
        priors_path=priors_path,
        chains=chains,
        warmup=warmup,
        draws=draws,
        seed=seed,
        ci_prob=ci_prob,
        rope=rope,
        check_invariant=True,
        progress=progress,
        command=command,
    )
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


def _check_folder(
    folder: Path,
    settings: InvariantSettings,
    *,
    priors_path: str | Path | None,
    progress: Any,
    command: str,
) -> CheckOutcome:
    from gsf_infer.workflow.predict import load_fit

    dt = load_fit(folder)
    attrs = read_attrs(dt)
    summary = _read_json(folder / "summary.json")
    old = _read_json(folder / "checks.json") or {}
    model = attrs.get("model_settings", {}).get("model")
    deviation_dt, new_deviation = None, False
    deviation_path = folder / "posterior_deviation.nc"
    if model != "deviation" and deviation_path.is_file():
        try:
            deviation_dt = az.from_netcdf(deviation_path)
        except Exception as err:  # netCDF/HDF5 raise many types
            raise InputError(
                Problem(str(deviation_path), f"cannot be read as a DataTree: {err}")
            ) from None
    ident = _identification(dt)
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
        summary = dict(
            summary,
            invariant={
                k: invariant[k]
                for k in ("status", "delta", "p_in_rope", "rope", "missing", "trusted",
                          "why_untrusted", "delta_over_rho", "deviations", "prior_sensitivity")
                if k in invariant
            },
        )
    return CheckOutcome(
        checks=checks, source="dir", dt=dt, deviation_dt=deviation_dt, new_deviation=new_deviation, summary=summary
    )


def _fit_deviation_for(
    dt: xr.DataTree,
    attrs: dict[str, Any],
    *,
    priors_path: str | Path | None,
    progress: Any,
    command: str,
) -> xr.DataTree:
    """Fit the ``deviation`` model on a saved fit's own input, settings, priors and sampler."""
    from dataclasses import replace

    from gsf_infer.data.records import read_records
    from gsf_infer.inference.predict import settings_from_attrs
    from gsf_infer.inference.sampling import SamplerConfig
    from gsf_infer.model.priors import load_priors
    from gsf_infer.workflow.fit import Sampler

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
    )
    settings = replace(settings_from_attrs(attrs), model="gsf")
    run = Sampler(records, settings, priors).run(
        "deviation", config, float(attrs.get("ci_prob", 0.94)), command,
        None if progress is None else (lambda done, total: progress("deviation", done, total)),
    )
    return run.dt
