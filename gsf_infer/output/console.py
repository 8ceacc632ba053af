"""Text the CLI prints: the fit's parameter table, diagnostics, verdict and checks.

Pure formatting of already computed results into strings (the CLI prints them). Imports the
analysis stage (and with it ArviZ and JAX): the command line imports this module after
configuring JAX.
"""

from __future__ import annotations

import math
from typing import Any

from gsf_infer.analysis.checks import unidentified
from gsf_infer.analysis.elastic import elasticity_curve
from gsf_infer.analysis.summary import (
    HELD_SHARE,
    NAMED,
    NUISANCE_PREFIX,
    IdentificationThresholds,
)
from gsf_infer.inference.datatree import read_attrs
from gsf_infer.model.priors import fixed_priors


def number(value: Any, digits: int = 4) -> str:
    """Format a number for a table: ``digits`` significant digits, scientific when far from 1.

    ``None`` and non-finite values show as ``-``, booleans as ``yes``/``no``.
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


def percent(value: Any) -> str:
    """Format a share as a whole percentage (``-`` for ``None`` or a non-finite value)."""
    return "-" if value is None or not math.isfinite(float(value)) else f"{float(value):.0%}"


def parameter_lines(
    summary: dict[str, Any],
    ci_prob: float,
    unidentified: frozenset[str] = frozenset(),
    fixed: dict[str, str] | None = None,
) -> list[str]:
    """Format a fixed-width table of the named exponents and the family's shape parameters.

    ``unidentified`` names parameters that no combination of the fit's kinds identifies
    (:func:`gsf_infer.analysis.checks.unidentified`): however narrow, they are labelled
    ``PRIOR``. ``fixed`` (:func:`gsf_infer.model.priors.fixed_priors`) names parameters the priors
    fixed: they have no posterior and are shown as fixed, not as absent from the model.
    """
    fixed = fixed or {}
    params = summary["parameters"]
    labels = IdentificationThresholds()
    pct = f"{ci_prob:.0%}"
    head = f"{'parameter':<16}{'mean':>10}{pct + ' HDI':>24}{'R-hat':>8}{'ESS':>8}  decided by"
    lines = [head, "-" * len(head)]
    order = list(NAMED) + [n for n in params if n not in NAMED]
    for name in order:
        entry = params.get(name)
        if entry is None:
            if name in fixed:
                lines.append(f"{name:<16}{'-':>10}{'(fixed by the priors)':>24}  {fixed[name]}")
            elif name in NAMED and not any(k.startswith(name + "[") for k in params):
                lines.append(f"{name:<16}{'-':>10}{'(not in this model)':>24}")
            continue
        hdi = f"[{number(entry['hdi_low'])}, {number(entry['hdi_high'])}]"
        label = labels.label(entry.get("contraction"))
        contraction = entry.get("contraction")
        how = {"data": "data", "weak": "data (weakly)", "prior": "PRIOR"}.get(label, "-")
        if name in unidentified and label in ("data", "weak"):
            how = "PRIOR, narrowed via identities"
        if (entry.get("held_share") or 0.0) >= HELD_SHARE:
            how = "HELD at the optimum (data silent), not a finding"
        if name.startswith(NUISANCE_PREFIX):
            how = "nuisance (the run's discrepancy), not a finding"
        if contraction is not None:
            how += f" (contraction {contraction:.2f})"
        lines.append(
            f"{name:<16}{number(entry['mean']):>10}{hdi:>24}{number(entry['r_hat'], 3):>8}"
            f"{number(entry['ess_bulk'], 4):>8}  {how}"
        )
    return lines


def diagnostic_lines(diag: dict[str, Any]) -> list[str]:
    """One line of sampler diagnostics."""
    bfmi = diag.get("min_bfmi")
    status = "converged" if diag["converged"] else "NOT CONVERGED"
    return [
        f"sampler: {status}; max R-hat {number(diag['max_r_hat'], 4)}, min ESS bulk "
        f"{number(diag['min_ess_bulk'], 4)} / tail {number(diag.get('min_ess_tail'), 4)}, "
        f"{diag['divergences']} divergences, min E-BFMI {number(bfmi, 3)}"
    ]


def invariant_lines(invariant: dict[str, Any]) -> list[str]:
    """Say the invariant verdict in words."""
    status = invariant["status"]
    if invariant.get("not_run"):
        return [
            "invariant chi + gamma = rho: NOT CHECKED (--no-check); the data make it testable: "
            "run gsf-infer check on the result folder"
        ]
    if status == "untestable":
        return [
            "invariant chi + gamma = rho: UNTESTABLE with these data; missing: "
            + "; ".join(invariant.get("missing", []))
        ]
    d = invariant["delta"]
    ratio = invariant.get("delta_over_rho", {})
    trusted = invariant.get("trusted", True)
    label = status.upper() if trusted else f"UNTRUSTED {status}"
    line = (
        f"invariant chi + gamma = rho: {label} — delta = chi + gamma - rho = "
        f"{number(d['mean'])} (HDI [{number(d['hdi_low'])}, {number(d['hdi_high'])}])"
    )
    out = [line]
    if not trusted:
        out.append(
            "  the deviation-model fit behind it did not converge ("
            + invariant.get("why_untrusted", "")
            + "): this is not a finding"
        )
    if ratio:
        out.append(
            f"  delta/rho HDI [{number(ratio['hdi_low'])}, {number(ratio['hdi_high'])}] against "
            f"the ROPE |delta/rho| <= {invariant['rope']:g}; "
            f"P(in ROPE) = {number(invariant['p_in_rope'], 3)}"
        )
    for name, entry in invariant.get("deviations", {}).items():
        out.append(
            f"  {name:<8} {number(entry['mean'])} (HDI [{number(entry['hdi_low'])}, "
            f"{number(entry['hdi_high'])}])"
        )
    sens = invariant.get("prior_sensitivity")
    if sens:
        note = (
            "" if sens["reliable"]
            else f" (reweighting unreliable: Pareto k {sens['pareto_k']:.2f})"
        )
        out.append(
            f"  with deviation priors {sens['factor']:g}x as wide: {sens['status']}, delta/rho HDI "
            f"[{number(sens['delta_over_rho']['hdi_low'])}, "
            f"{number(sens['delta_over_rho']['hdi_high'])}]{note}"
        )
    if status == "out_of_domain":
        out.append(
            f"  P(1+b-a <= 0) = {number(invariant.get('p_saturated'), 3)}: quantization saturates, "
            "where the theory does not predict chi + gamma = rho"
        )
    return out


def action_lines(summary: dict[str, Any]) -> list[str]:
    """List what the sampler did by itself (``summary.json``'s ``automatic_actions``)."""
    return [
        f"  automatic ({model}): {action}"
        for model, actions in (summary.get("automatic_actions") or {}).items()
        for action in actions
    ]


def identification_lines(summary: dict[str, Any]) -> list[str]:
    """List the directions at the optimum that the data leave to the prior."""
    ident = summary.get("identification", {})
    lines = []
    for key, label in (
        ("weak_directions", "model"),
        ("weak_directions_deviation", "deviation model"),
    ):
        for sentence in ident.get(key, []):
            lines.append(f"  weakly identified ({label}): {sentence}")
    return lines


def fit_report(result: Any, ci_prob: float) -> str:
    """Everything ``gsf-infer fit`` prints on success."""
    s = result.summary
    lines = [
        f"data: {s['data']['path']} — "
        + ", ".join(f"{k} {v}" for k, v in s["data"]["records"].items()),
        f"model: {s['model']['name']} (g = {s['model']['g']}, tier {s['model']['tier']}, "
        f"{s['model']['likelihood']} likelihood); {s['sampler']['chains']} chains x "
        f"({s['sampler']['warmup']} warm-up + {s['sampler']['draws']} draws) in "
        f"{s['sampler']['seconds']:.1f} s",
        "",
    ]
    fixed = fixed_priors(read_attrs(result.dt).get("priors", {}))
    lines += parameter_lines(s, ci_prob, unidentified(result.dt), fixed)
    lines += identification_lines(s)
    lines += [""] + diagnostic_lines(result.diagnostics)
    lines += action_lines(s)
    lines += invariant_lines(result.invariant_detail)
    curve = elasticity_curve(result.dt, ci_prob)
    for name, g in (curve or {}).get("groups", {}).items():
        lines.append(("" if name == "all" else f"{name}: ") + g["sentence"])
    if "holdout" in s:
        h = s["holdout"]
        cov = "-" if h["coverage"] is None else f"{h['coverage']:.0%}"
        lines.append(
            f"holdout {h['expr']!r}: {h['rows']} rows, {cov} inside their {h['ci_prob']:.0%} "
            "predictive intervals"
        )
    return "\n".join(lines)


def format_checks(checks: dict[str, Any]) -> str:
    """Format what ``gsf-infer check`` prints: verdict, predictive checks, gsf vs deviation."""
    lines = list(invariant_lines(checks["invariant"]))
    dev = checks.get("diagnostics_deviation")
    if dev and not dev.get("converged", True):
        lines.append("  the deviation-model fit did NOT converge: the verdict is not trusted")
    ppc = checks.get("ppc") or {}
    if ppc:
        lines += ["", f"{'variable':<18}{'n':>5}{'cov 90%':>9}{'LOO-PIT p':>11}  check"]
        for var, e in ppc.items():
            pit = (e.get("loo_pit") or {}).get("p_value")
            lines.append(
                f"{var:<18}{e['n']:>5}{percent(e['coverage_90']):>9}{number(pit, 2):>11}  "
                + ("FLAGGED (see the warnings)" if e.get("flagged") else "ok")
            )
    loo = (checks.get("loo") or {}).get("gsf_vs_deviation")
    if loo:
        lines += ["", "PSIS-LOO gsf vs deviation: " + loo.get("sentence", "")]
    return "\n".join(lines)
