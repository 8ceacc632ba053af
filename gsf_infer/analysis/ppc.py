"""Posterior predictive checks of a fit, per kind of record: interval coverage and LOO-PIT.

For each observed variable (:data:`PPC_VARIABLES`): the share of observations inside their
central 90% posterior predictive interval, tested against the nominal share by an exact
one-sided binomial test, and LOO-PIT values (``az.loo_pit`` with the kind's pointwise
log-likelihood) tested for uniformity with ArviZ's POT-C test (pointwise order tests combined
by the Cauchy method, Tesso & Vehtari 2025 — the test ``az.plot_loo_pit`` draws). The flagging
rules are in :class:`CheckThresholds`.

Pure computation on DataTrees (NumPy, SciPy, ArviZ); returns values, writes nothing.
"""

from __future__ import annotations

import math
import warnings as pywarnings
from dataclasses import dataclass
from typing import Any

import arviz as az  # noqa: E402
import numpy as np
import numpyro  # noqa: F401  (before arviz: lazy-loader interplay)
import xarray as xr  # noqa: E402
from arviz_stats.base import array_stats  # noqa: E402
from scipy.stats import binomtest

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
    if n == 0:
        return False, float("nan")
    p = float(binomtest(covered, n, thresholds.interval_prob, alternative="less").pvalue)
    low = covered / n < thresholds.interval_prob - thresholds.coverage_tolerance
    return bool(p < thresholds.coverage_alpha and low), p


def kind_tree(dt: xr.DataTree, var: str) -> xr.DataTree | None:
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


def relative_efficiency(posterior: xr.Dataset) -> float:
    """Return PSIS's relative efficiency ``r_eff`` of a posterior, as ``az.loo`` computes it.

    The mean over every variable of the ``mean`` ESS divided by the number of draws (1 for a
    single chain). Every kind's tree (:func:`kind_tree`) shares the fit's posterior, so this is
    computed once per fit instead of once per ``az.loo`` and ``az.loo_pit`` call.
    """
    n_samples = posterior.sizes["chain"] * posterior.sizes["draw"]
    if posterior.sizes["chain"] == 1:
        return 1.0
    ess = posterior.azstats.ess(method="mean")
    return float(np.hstack([ess[v].values.flatten() for v in ess.data_vars]).mean() / n_samples)


def loo_pit_values(
    dt: xr.DataTree, var: str, rng: np.random.Generator, r_eff: float | None = None
) -> dict[str, Any] | None:
    """Compute LOO-PIT values of one observed variable and the Pareto k of its PSIS weights.

    Pareto-smoothed PIT (ArviZ's ``pareto_pit=True``): the tails of each weighted predictive
    are refined by a generalized Pareto fit, so no value is exactly 0 or 1 — with ``S`` draws
    an observation beyond every draw has probability ``2/(S+1)``, and a raw PIT of exactly 1
    makes the order-statistic test reject uniformity outright.

    The values are those of ``az.loo_pit(tree, pareto_pit=True, log_weights=..., pareto_k=...)``
    with ``az.loo``'s weights; ``r_eff`` (:func:`relative_efficiency` of the posterior) is
    computed when not given.

    Returns
    -------
    dict or None
        ``pit`` (``(n,)``), ``pit_values`` (the same as a DataArray over the variable's
        observation dimension, as ``az.loo_pit`` returns it), ``ties`` (whether a predictive
        draw equals its observation, where ``rng`` breaks the tie), ``pareto_k_bad`` (records
        with Pareto k above ArviZ's ``good_k``) and ``good_k``; ``None`` without a
        log-likelihood for ``var``.
    """
    tree = kind_tree(dt, var)
    if tree is None:
        return None
    if r_eff is None:
        r_eff = relative_efficiency(tree["posterior"].to_dataset())
    pred = tree["posterior_predictive"][var]
    obs = tree["observed_data"][var]
    with pywarnings.catch_warnings():
        # ArviZ warns about high Pareto k; the count is reported instead
        pywarnings.simplefilter("ignore", UserWarning)
        loo = az.loo(tree, var_name=var, pointwise=True, reff=r_eff)
        # what az.loo_pit does with given weights, without its second r_eff computation
        pit, _ = pred.azstats.loo_pit(
            y_obs=obs,
            log_weights=loo.log_weights,
            pareto_k=loo.pareto_k,
            r_eff=r_eff,
            sample_dims=["chain", "draw"],
            random_state=rng,
            pareto_pit=True,
        )
    k = np.asarray(loo.pareto_k, dtype=float).ravel()
    obs_dims = [d for d in pred.dims if d not in ("chain", "draw")]
    ties = bool(np.any(pred.transpose("chain", "draw", *obs_dims).values == obs.values))
    return {
        "pit": np.asarray(pit.values, dtype=float).ravel(),
        "pit_values": pit,
        "ties": ties,
        "pareto_k_bad": int(np.sum(k > loo.good_k)),
        "good_k": float(loo.good_k),
    }


def loo_pits(dt: xr.DataTree, seed: int = 0) -> dict[str, dict[str, Any] | None]:
    """:func:`loo_pit_values` of every checked variable, as :func:`posterior_predictive_checks`.

    One generator seeded with ``seed`` breaks ties across the variables in
    :func:`ppc_variables` order, so handing the result to :func:`posterior_predictive_checks`
    (and to the LOO-PIT figure) gives the values they would compute themselves.
    """
    variables = ppc_variables(dt)
    if not variables:
        return {}
    rng = np.random.default_rng(seed)
    r_eff = None
    if "log_likelihood" in dt.children:
        first = next((t for t in (kind_tree(dt, v) for v in variables) if t is not None), None)
        r_eff = None if first is None else relative_efficiency(first["posterior"].to_dataset())
    return {var: loo_pit_values(dt, var, rng, r_eff) for var in variables}


def pit_uniformity(pit: np.ndarray) -> float:
    """Return the p-value of ArviZ's POT-C uniformity test of PIT values (NaN for none)."""
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
    dt: xr.DataTree,
    var: str,
    thresholds: CheckThresholds,
    rng: np.random.Generator,
    pit_info: dict[str, Any] | None | str = "compute",
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

    ``pit_info`` is the variable's :func:`loo_pit_values` when already computed (``None``:
    no log-likelihood); by default it is computed with ``rng``.
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
    if isinstance(pit_info, str):
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
    dt: xr.DataTree,
    thresholds: CheckThresholds | None = None,
    seed: int = 0,
    pits: dict[str, dict[str, Any] | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`check_variable` for every observed variable (checks.json ``ppc``).

    ``seed`` drives ArviZ's random tie-breaking of LOO-PIT values (ties only arise when
    predictive draws repeat an observed value). ``pits`` are :func:`loo_pits` of ``dt`` with
    the same ``seed`` when already computed.
    """
    thresholds = thresholds or CheckThresholds()
    pits = loo_pits(dt, seed) if pits is None else pits
    rng = np.random.default_rng(seed)  # for variables missing from ``pits``
    return {
        var: check_variable(dt, var, thresholds, rng, pits.get(var, "compute"))
        for var in ppc_variables(dt)
    }

