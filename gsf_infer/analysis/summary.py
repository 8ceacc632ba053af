"""Numbers about a fit: the parameter table, contraction, and convergence diagnostics.

Everything is computed from the DataTree with ArviZ (``summary`` with highest-density
intervals at ``ci_prob``, ``rhat``, ``ess``, ``bfmi``); this module only selects, renames and
adds prior-to-posterior contraction. Returns plain dicts; printing and writing happen elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import arviz as az  # noqa: E402
import numpy as np
import numpyro  # noqa: F401  (before arviz: lazy-loader interplay)
import xarray as xr  # noqa: E402

from gsf_infer.inference.chains import constant_over_draws
from gsf_infer.inference.config import SamplerConfig
from gsf_infer.inference.datatree import read_attrs

#: The named exponents every summary.json carries (null where the fit cannot speak to them).
NAMED = ("a", "b", "rho", "chi", "gamma", "rho_over_b")
#: Further parameters reported when the model has them.
FAMILY = ("m", "n", "tau", "kap")
PHYSICAL = ("k_star", "K", "nu", "E", "s", "alpha")
#: The deviation model's parameters and the invariant's discrepancy it derives.
DEVIATION = ("delta_Q", "eps_F", "delta_L", "delta_over_rho")
CHINCHILLA = ("E", "A", "B", "alpha", "beta")
#: Prefix of the per-run discrepancy's scales (one per kind): nuisance, reported but never a
#: finding.
NUISANCE_PREFIX = "discrepancy_sd"
#: Parameters whose contraction is measured on the log scale (log-normal priors spanning
#: decades: on the natural scale their prior variance is dominated by the far tail).
LOG_SCALE = frozenset({"k_star", "K", "tau", "kap", "s", "A", "B", "A_std", "B_std"})
#: Keys of one parameter entry in summary.json.
ENTRY_KEYS = ("mean", "sd", "hdi_low", "hdi_high", "r_hat", "ess_bulk", "ess_tail", "contraction",
              "held_share")
#: A parameter whose Laplace variance lies at least this much along directions held at the
#: optimum (the data silent there) is labelled HELD: its interval is not a finding.
HELD_SHARE = 0.5


@dataclass(frozen=True)
class ConvergenceThresholds:
    """When a fit counts as converged: R-hat at most 1.01, bulk ESS at least 400, no divergences."""

    max_r_hat: float = 1.01
    min_ess_bulk: float = 400.0
    max_divergences: int = 0


@dataclass(frozen=True)
class IdentificationThresholds:
    """Contraction levels that separate 'the data decide' from 'the prior decides'."""

    data: float = 0.5
    prior: float = 0.1

    def label(self, contraction: float | None) -> str:
        """Label a contraction ``data``, ``weak`` or ``prior`` (``-`` when unknown)."""
        if contraction is None or not math.isfinite(contraction):
            return "-"
        if contraction >= self.data:
            return "data"
        if contraction >= self.prior:
            return "weak"
        return "prior"


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def contraction(prior: np.ndarray, posterior: np.ndarray, log: bool = False) -> float | None:
    """``1 - var(posterior) / var(prior)`` (on the log scale when ``log``); NaN draws ignored."""
    prior = np.asarray(prior, dtype=float).ravel()
    posterior = np.asarray(posterior, dtype=float).ravel()
    if log:
        prior = np.log(prior[prior > 0])
        posterior = np.log(posterior[posterior > 0])
    prior, posterior = prior[np.isfinite(prior)], posterior[np.isfinite(posterior)]
    if prior.size < 2 or posterior.size < 2:
        return None
    var_prior = float(np.var(prior))
    if var_prior <= 0:
        return None
    return 1.0 - float(np.var(posterior)) / var_prior


def _selection(dt: xr.DataTree, model: str) -> list[str]:
    post = dt["posterior"]
    if model == "chinchilla":
        names = list(CHINCHILLA)
    else:
        names = list(NAMED) + list(FAMILY) + list(PHYSICAL) + list(DEVIATION)
        names += sorted(str(n) for n in post.data_vars if str(n).startswith(NUISANCE_PREFIX))
    return [n for n in names if n in post.data_vars]


def parameter_table(dt: xr.DataTree, model: str, ci_prob: float = 0.94) -> dict[str, dict | None]:
    """Build the ``parameters`` object of summary.json.

    Scalar variables appear under their name; variables with a ``group`` dimension appear once per
    coordinate as ``name[coord]``, and their bare names are ``null``. The named exponents are always
    present (``null`` where the model has no such quantity, e.g. ``chinchilla``).
    """
    names = _selection(dt, model)
    table: dict[str, dict | None] = {n: None for n in NAMED}
    if not names:
        return table
    # a parameter constant over draws (gamma where quantization saturates) has no R-hat
    with np.errstate(invalid="ignore", divide="ignore"):
        summ = az.summary(dt, var_names=names, ci_kind="hdi", ci_prob=ci_prob, round_to="none")
    held = read_attrs(dt).get("held", {}).get("quantities", {})
    low_col = next(c for c in summ.columns if c.endswith("_lb"))
    high_col = next(c for c in summ.columns if c.endswith("_ub"))
    post, prior = dt["posterior"], dt["prior"] if "prior" in dt.children else None
    for label, row in summ.iterrows():
        base = label.split("[", 1)[0]
        sel = _coord_selection(post[base], label)
        post_values = post[base].sel(sel).values
        prior_values = (
            prior[base].sel(sel).values if prior is not None and base in prior.data_vars else None
        )
        if np.all(~np.isfinite(post_values)):
            table[label] = None
            continue
        # held at the optimum: no mixing to speak of
        constant = bool(np.all(constant_over_draws(post_values)))
        entry = {
            "mean": _finite(row["mean"]),
            "sd": _finite(row["sd"]),
            "hdi_low": _finite(row[low_col]),
            "hdi_high": _finite(row[high_col]),
            "r_hat": None if constant else _finite(row["r_hat"]),
            "ess_bulk": None if constant else _finite(row["ess_bulk"]),
            "ess_tail": None if constant else _finite(row["ess_tail"]),
            "contraction": (
                contraction(prior_values, post_values, log=base in LOG_SCALE)
                if prior_values is not None
                else None
            ),
            # share of its Laplace variance along directions held at the optimum
            "held_share": _finite(held[base]["share"]) if base in held else None,
        }
        table[label] = entry
        if label != base:
            table.setdefault(base, None)
    return table


def _coord_selection(var: xr.DataArray, label: str) -> dict[str, Any]:
    if "[" not in label:
        return {}
    inner = label[label.index("[") + 1 : -1]
    extra = [d for d in var.dims if d not in ("chain", "draw")]
    if len(extra) == 1:  # the whole label: a coordinate may contain ", " (group names do)
        return {extra[0]: inner}
    coords = inner.split(",")
    return {d: c.strip() for d, c in zip(extra, coords, strict=True)}


def diagnostics(
    dt: xr.DataTree, thresholds: ConvergenceThresholds | None = None
) -> dict[str, Any]:
    """Convergence diagnostics over every posterior variable.

    Returns
    -------
    dict
        ``divergences``, ``max_r_hat``, ``min_ess_bulk``, ``converged`` (the summary.json
        keys), plus ``min_ess_tail``, ``min_bfmi`` and ``worst`` (the variable with the
        largest R-hat) for the console and the report.
    """
    thresholds = thresholds or ConvergenceThresholds()
    post = dt["posterior"]
    # a variable constant over the draws (gamma = 0 where quantization saturates) has no
    # R-hat or ESS: NaN, skipped below, not a warning
    with np.errstate(invalid="ignore", divide="ignore"):
        rhat = az.rhat(dt, group="posterior")
        ess_bulk = az.ess(dt, group="posterior", method="bulk")
        ess_tail = az.ess(dt, group="posterior", method="tail")

    # ... nor one held at the optimum, whose draws vary by rounding only
    ordered = {name: post[name].transpose("chain", "draw", ...) for name in post.data_vars}
    varying = {name: ~constant_over_draws(v.values) for name, v in ordered.items()}

    def extreme(ds, fn):
        vals = {}
        for name in post.data_vars:
            arr = np.asarray(ds[name].transpose(*ordered[name].dims[2:]).values)
            arr = arr[np.broadcast_to(varying[name], arr.shape)].ravel()
            arr = arr[np.isfinite(arr)]
            if arr.size:
                vals[name] = float(fn(arr))
        return vals

    rhats = extreme(rhat, np.max)
    bulks = extreme(ess_bulk, np.min)
    tails = extreme(ess_tail, np.min)
    stats = dt["sample_stats"] if "sample_stats" in dt.children else None
    divergences = int(np.asarray(stats["diverging"]).sum()) if stats is not None else 0
    bfmi = None
    if stats is not None and "energy" in stats.data_vars:
        bfmi_values = np.asarray(az.bfmi(dt)["energy"]).ravel()
        bfmi = float(np.nanmin(bfmi_values)) if bfmi_values.size else None
    max_r_hat = max(rhats.values()) if rhats else float("nan")
    min_bulk = min(bulks.values()) if bulks else float("nan")
    converged = (
        math.isfinite(max_r_hat)
        and max_r_hat <= thresholds.max_r_hat
        and min_bulk >= thresholds.min_ess_bulk
        and divergences <= thresholds.max_divergences
    )
    worst = max(rhats, key=rhats.get) if rhats else None
    return {
        "divergences": divergences,
        "max_r_hat": max_r_hat,
        "min_ess_bulk": min_bulk,
        "converged": bool(converged),
        "min_ess_tail": min(tails.values()) if tails else float("nan"),
        "min_bfmi": bfmi,
        "worst": worst,
        # the target acceptance the draws were made at (after any automatic reruns)
        "target_accept": read_attrs(dt).get("sampler", {}).get("target_accept_prob"),
    }


def convergence_problems(
    diag: dict[str, Any], thresholds: ConvergenceThresholds | None = None
) -> list[str]:
    """Human sentences for every failed convergence criterion (empty when converged)."""
    thresholds = thresholds or ConvergenceThresholds()
    out = []
    if not math.isfinite(diag["max_r_hat"]):
        out.append("R-hat could not be computed (too few draws per chain to compare chains)")
    elif not (diag["max_r_hat"] <= thresholds.max_r_hat):
        out.append(
            f"R-hat up to {diag['max_r_hat']:.3f} (> {thresholds.max_r_hat}) on {diag['worst']}:"
            " the chains disagree"
        )
    if not (diag["min_ess_bulk"] >= thresholds.min_ess_bulk):
        out.append(
            f"bulk ESS down to {diag['min_ess_bulk']:.0f} (< {thresholds.min_ess_bulk:.0f}; "
            "more --draws raise it)"
        )
    if diag["divergences"] > thresholds.max_divergences:
        target, top = diag.get("target_accept"), SamplerConfig.final_target_accept
        if target is not None and target >= top:
            remedy = (f"at target acceptance {target:g} already: a region of the posterior (a "
                      "ridge or a funnel) that small steps do not cross; more informative data, "
                      "or priors or held parameters that remove it, are the remedies")
        else:
            remedy = (f"a --target-accept closer to 1, up to {top:g}, takes smaller steps "
                      "through curved regions")
        out.append(
            f"{diag['divergences']} divergent transitions: the posterior is not trusted "
            f"({remedy})"
        )
    if diag.get("min_bfmi") is not None and diag["min_bfmi"] < 0.3:
        out.append(f"E-BFMI down to {diag['min_bfmi']:.2f} (< 0.3): poor energy exploration")
    return out
