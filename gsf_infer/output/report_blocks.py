"""The content of a fit's report: a list of :class:`Block` built from the saved results.

:func:`report_blocks` leads with the answer: the invariant verdict (the ``delta/rho`` posterior
and its figure, the missing kinds when untestable, PSIS-LOO of gsf against deviation), the
parameters (with what the data decide and what the prior decides), each kind's posterior
predictive figure with the coverage table and the hold-out validation, warnings; then the detail:
data (records and runs per kind, the per-run table folded away, rows excluded on purpose), model,
sampler and diagnostics, identifiability, the remaining figures, and provenance last. One
function per section; :mod:`gsf_infer.output.report_render` renders the blocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gsf_infer.analysis.summary import (
    HELD_SHARE,
    NAMED,
    NUISANCE_PREFIX,
    IdentificationThresholds,
    convergence_problems,
)
from gsf_infer.model.priors import fixed_priors
from gsf_infer.output.console import invariant_lines, number, percent


@dataclass(frozen=True)
class Block:
    """One element of the report.

    ``kind`` is h1, h2, p, ul (``text`` leads the ``items``), lead (the same, set off: the
    verdict), table (``text`` leads it), figure (``path`` with ``text`` as caption) or
    details: a table folded away in HTML under the summary ``text`` (in Markdown, ``text``
    then the table).
    """

    kind: str
    text: str = ""
    items: tuple[str, ...] = ()
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    path: str = ""



def report_blocks(
    summary: dict[str, Any],
    checks: dict[str, Any],
    attrs: dict[str, Any],
    figures: list[str],
    captions: dict[str, str] | None = None,
) -> list[Block]:
    """Build the report's content, the answer first.

    The order: the title; the invariant's verdict with the ``delta/rho`` posterior (and its
    figure); the parameter table with what decides each parameter; the posterior predictive
    figures of every kind with their coverage table (and the hold-out validation); warnings;
    the data (records per kind, the per-run table collapsed); model, sampler and diagnostics;
    identifiability; the remaining figures; provenance last.

    Parameters
    ----------
    summary : dict
        summary.json.
    checks : dict
        checks.json (:func:`gsf_infer.analysis.checks.build_checks`).
    attrs : dict
        The DataTree's root attributes (:func:`gsf_infer.inference.datatree.read_attrs`).
    figures : list of str
        Figure paths relative to the report (``plots/<stem>.png``), in display order.
    captions : dict, optional
        Caption per figure path.

    Returns
    -------
    list of Block
    """
    captions = captions or {}
    data = summary.get("data", {})

    def figure(path: str) -> Block:
        return Block("figure", text=captions.get(path, ""), path=path)

    headline = [p for p in figures if Path(p).stem.startswith("ppc_")]
    delta = [p for p in figures if Path(p).stem == "invariant_delta"]
    rho_t = [p for p in figures if Path(p).stem == "rho_t"]
    rest = [p for p in figures if p not in headline and p not in delta and p not in rho_t]

    blocks = [Block("h1", f"gsf-infer report: {data.get('path', attrs.get('input_path', ''))}")]
    blocks += _verdict_blocks(summary, checks)
    blocks += [figure(p) for p in delta]
    blocks += _loo_blocks(checks)
    blocks += _elasticity_blocks(checks, [figure(p) for p in rho_t])
    blocks += _parameter_blocks(summary, checks, attrs)
    blocks += _ppc_blocks(summary, checks, [figure(p) for p in headline])
    warnings = checks.get("warnings") or []
    blocks.append(Block("h2", "Warnings"))
    blocks.append(Block("ul", items=tuple(warnings)) if warnings else Block("p", "None."))
    blocks += _data_blocks(summary, checks)
    blocks += _sampler_blocks(summary, checks, attrs)
    blocks += _identifiability_blocks(summary, checks)
    if rest:
        blocks.append(Block("h2", "More figures"))
        blocks += [figure(p) for p in rest]
    blocks += _provenance_blocks(summary, attrs)
    return blocks


def _verdict_blocks(summary: dict[str, Any], checks: dict[str, Any]) -> list[Block]:
    """Build the invariant's verdict: one sentence, then its numbers as a list."""
    blocks = [Block("h2", "The invariant chi + gamma = rho")]
    invariant = checks.get("invariant") or summary.get("invariant") or {}
    if not invariant:
        return blocks + [Block("p", "Not assessed.")]
    first, *details = [line.strip() for line in invariant_lines(invariant)]
    blocks.append(Block("lead", text=first, items=tuple(details)))
    dev = checks.get("diagnostics_deviation")
    if (
        dev
        and not dev.get("converged", True)
        and invariant.get("trusted", True)  # else the verdict's own lines say it
        and invariant.get("status") != "untestable"
    ):
        blocks.append(
            Block(
                "p",
                "The deviation-model fit behind this verdict did NOT converge (see "
                "Diagnostics): the verdict is not trusted.",
            )
        )
    main = checks.get("diagnostics") or {}
    if main and not main.get("converged", True):
        name = (summary.get("model") or {}).get("name", "main")
        blocks.append(
            Block(
                "p",
                f"The sampler did NOT converge on the {name} model (see Diagnostics): its "
                "parameter table below is not a finding.",
            )
        )
    missing = [m for m in invariant.get("missing") or () if not m.startswith("(")]
    if invariant.get("status") == "untestable" and missing:
        blocks.append(
            Block("ul", text="To make it testable, add records of:", items=tuple(missing))
        )
    elif invariant.get("status") == "untestable" and not invariant.get("not_run"):
        blocks.append(
            Block(
                "p",
                "The data can test it, but the deviation model was not fitted: run "
                "`gsf-infer check DIR` on this folder.",
            )
        )
    return blocks


def _elasticity_blocks(checks: dict[str, Any], figures: list[Block]) -> list[Block]:
    """Which ``g``: the sentence on ``rho(t)`` of an ``elastic`` fit, and its figure."""
    curve = checks.get("elasticity")
    if not curve:
        return []
    groups = curve.get("groups") or {}
    lines = [(f"{name}: " if len(groups) > 1 else "") + g.get("sentence", "")
             for name, g in groups.items()]
    return [Block("h2", "The elasticity rho(t)"), *(Block("p", line) for line in lines),
            *figures]


def _loo_blocks(checks: dict[str, Any]) -> list[Block]:
    loo = (checks.get("loo") or {}).get("gsf_vs_deviation")
    if not loo:
        return []
    blocks = [
        _loo_table(
            loo, "PSIS-LOO of gsf (the theory) against deviation (the invariant may break):"
        ),
        Block("p", loo.get("sentence", "")),
    ]
    if (loo.get("compared_on") or {}).get("note"):
        blocks.append(Block("p", loo["compared_on"]["note"]))
    return blocks


def _parameter_blocks(
    summary: dict[str, Any], checks: dict[str, Any], attrs: dict[str, Any]
) -> list[Block]:
    """Build the parameter table, with what decides each parameter (data or prior)."""
    ci = attrs.get("ci_prob", 0.94)
    labels = IdentificationThresholds()
    unidentified = set(checks.get("unidentified", ()))
    rows = []
    params = summary.get("parameters", {})
    fixed = fixed_priors(attrs.get("priors", {}))
    for name, entry in params.items():
        if entry is None:
            if name in fixed:
                rows.append((name,) + ("-",) * 8 + (f"fixed by the priors: {fixed[name]}",))
            elif name in NAMED and not any(k.startswith(name + "[") for k in params):
                rows.append((name,) + ("-",) * 8 + ("not in this model",))
            continue
        label = labels.label(entry.get("contraction"))
        decided = {"data": "data", "weak": "data (weakly)", "prior": "PRIOR"}.get(label, "-")
        if name in unidentified and label in ("data", "weak"):
            decided = "PRIOR, narrowed via identities"
        if (entry.get("held_share") or 0.0) >= HELD_SHARE:
            decided = "HELD at the optimum (data silent), not a finding"
        if name.startswith(NUISANCE_PREFIX):
            decided = "nuisance (the run's discrepancy), not a finding"
        rows.append(
            (
                name,
                number(entry.get("mean")),
                number(entry.get("sd")),
                number(entry.get("hdi_low")),
                number(entry.get("hdi_high")),
                number(entry.get("r_hat")),
                number(entry.get("ess_bulk")),
                number(entry.get("ess_tail")),
                number(entry.get("contraction"), 3),
                decided,
            )
        )
    return [
        Block("h2", "Parameters"),
        Block(
            "table",
            text=(
                f"Posterior mean, sd and {float(ci):.0%} highest-density interval; 'decided by' "
                f"from the prior-to-posterior contraction (data >= {labels.data:g}, weakly >= "
                f"{labels.prior:g}, else PRIOR: not a finding), except that a parameter no "
                "combination of the data's kinds identifies is PRIOR however narrow."
            ),
            header=(
                "parameter",
                "mean",
                "sd",
                "hdi_low",
                "hdi_high",
                "R-hat",
                "ESS bulk",
                "ESS tail",
                "contraction",
                "decided by",
            ),
            rows=tuple(rows),
        ),
    ]


def _ppc_blocks(
    summary: dict[str, Any], checks: dict[str, Any], figures: list[Block]
) -> list[Block]:
    """Each kind's predictive figure, the coverage table, the hold-out validation."""
    blocks = [Block("h2", "Posterior predictive checks"), *figures]
    ppc = checks.get("ppc") or {}
    if ppc:
        rows = []
        for var, entry in ppc.items():
            pit = entry.get("loo_pit") or {}
            rows.append(
                (
                    var,
                    str(entry.get("n")),
                    percent(entry.get("coverage_90")),
                    number(entry.get("coverage_p"), 2),
                    number(pit.get("p_value"), 2),
                    number(pit.get("mean"), 2),
                    number(pit.get("sd"), 2),
                    number(pit.get("pareto_k_bad")),
                    "FLAGGED" if entry.get("flagged") else "ok",
                    entry.get("reason") or "",
                )
            )
        blocks.append(
            Block(
                "table",
                text="Coverage of the central 90% posterior predictive intervals and LOO-PIT:",
                header=(
                    "variable",
                    "n",
                    "coverage 90%",
                    "binomial p",
                    "LOO-PIT p",
                    "PIT mean",
                    "PIT sd",
                    "Pareto k bad",
                    "check",
                    "reason",
                ),
                rows=tuple(rows),
            )
        )
        rules = checks.get("rules") or {}
        blocks += _item_list(
            "Rules (uniform LOO-PIT has mean 0.5 and sd 0.29):",
            (f"{key}: {rules[key]}" for key in ("coverage", "loo_pit") if key in rules),
        )
    elif not figures:
        blocks.append(Block("p", "No posterior predictive checks (no fit)."))
    if "holdout" in summary:
        h = summary["holdout"]
        blocks.append(Block("h2", "Hold-out validation"))
        blocks.append(
            Block(
                "p",
                f"Held out {h.get('rows')} rows ({h.get('expr')}); {percent(h.get('coverage'))} "
                f"of their observed values inside the {percent(h.get('ci_prob'))} predictive "
                "intervals of a fit that did not see them.",
            )
        )
    return blocks


def _data_blocks(summary: dict[str, Any], checks: dict[str, Any]) -> list[Block]:
    """Build the data section: records and runs per kind, the per-run table, exclusions."""
    data = checks.get("data") or {}
    records = summary.get("data", {}).get("records") or data.get("records", {})
    runs = data.get("runs") or []
    per_kind: dict[str, int] = {}
    for r in runs:
        per_kind[str(r["kind"])] = per_kind.get(str(r["kind"]), 0) + 1
    blocks = [
        Block("h2", "Data"),
        Block(
            "table",
            header=("kind", "records", "runs"),
            rows=tuple((k, str(v), str(per_kind.get(k, "-"))) for k, v in records.items()),
        ),
    ]
    if runs:
        blocks.append(
            Block(
                "details",
                text=f"Records per run (the full table, {len(runs)} runs)",
                header=("run", "kind", "records"),
                rows=tuple((str(r["run"]), str(r["kind"]), str(r["records"])) for r in runs),
            )
        )
    excluded = data.get("excluded")
    if excluded:
        blocks += _item_list(
            "Rows excluded on purpose:", (f"{n} row(s): {r}" for r, n in excluded.items())
        )
    elif excluded is not None:
        blocks.append(Block("p", "Rows excluded on purpose: none."))
    else:
        blocks.append(Block("p", "Rows excluded on purpose: not recorded with this fit."))
    return blocks


def _sampler_blocks(
    summary: dict[str, Any], checks: dict[str, Any], attrs: dict[str, Any]
) -> list[Block]:
    """Build the model and sampler settings, diagnostics, and what the sampler did."""
    model = summary.get("model", {})
    sampler = summary.get("sampler", {})
    settings = attrs.get("model_settings", {})
    blocks = [
        Block("h2", "Model, sampler and diagnostics"),
        Block(
            "p",
            f"Model {model.get('name', settings.get('model', '?'))}, g = "
            f"{model.get('g', settings.get('g', '?'))}, tier {model.get('tier', '?')}, "
            f"{model.get('likelihood', '?')} likelihood, pruning metric "
            f"{settings.get('pruning_metric', '?')}. NUTS: {sampler.get('chains', '?')} chains x "
            f"({sampler.get('warmup', '?')} warm-up + {sampler.get('draws', '?')} draws), seed "
            f"{sampler.get('seed', '?')}, {number(sampler.get('seconds'))} s.",
        ),
    ]
    for label, diag in (
        ("", checks.get("diagnostics")),
        (" (deviation model)", checks.get("diagnostics_deviation")),
    ):
        if not diag:
            continue
        problems = diag.get("problems", convergence_problems(diag))
        status = "converged" if diag.get("converged") else "NOT CONVERGED"
        blocks.append(
            Block(
                "table",
                text=f"Sampler{label}: {status}",
                header=("diagnostic", "value"),
                rows=(
                    ("max R-hat", number(diag.get("max_r_hat"))),
                    ("min bulk ESS", number(diag.get("min_ess_bulk"))),
                    ("min tail ESS", number(diag.get("min_ess_tail"))),
                    ("divergences", number(diag.get("divergences"))),
                    ("min E-BFMI", number(diag.get("min_bfmi"))),
                    ("largest R-hat on", number(diag.get("worst"))),
                ),
            )
        )
        blocks += _item_list(f"Problems{label}:", problems)
    actions = [
        f"{name}: {action}"
        for name, items in (summary.get("automatic_actions") or {}).items()
        for action in items
    ]
    return blocks + _item_list("What the sampler did by itself:", actions)


def _identifiability_blocks(summary: dict[str, Any], checks: dict[str, Any]) -> list[Block]:
    """Build what the kinds identify, and the directions the data barely curve."""
    sentences = checks.get("identifiability") or []
    blocks = [
        Block("h2", "Identifiability"),
        Block("ul", items=tuple(sentences)) if sentences else Block("p", "Not assessed (no fit)."),
    ]
    weak = [
        f"{label}: {sentence}"
        for key, label in (("weak_directions", "model"),
                           ("weak_directions_deviation", "deviation model"))
        for sentence in (summary.get("identification") or {}).get(key, [])
    ]
    return blocks + _item_list(
        "Directions the data barely curve at the optimum (the prior decides them):", weak
    )


def _provenance_blocks(summary: dict[str, Any], attrs: dict[str, Any]) -> list[Block]:
    """Build how the fit was made: version, command line, input hash, the input's header."""
    version = summary.get("version", attrs.get("gsf_infer_version", "?"))
    sha = summary.get("data", {}).get("sha256") or "-"
    made = f"gsf-infer {version}; command `{attrs.get('command') or '-'}`; input sha256 {sha}."
    provenance = attrs.get("provenance") or {}
    return [Block("h2", "Provenance"), Block("p", made)] + _item_list(
        "The input file's header:", (f"{k}: {v}" for k, v in provenance.items())
    )


def _item_list(text: str, items: Iterable[str]) -> list[Block]:
    """Return a list led by ``text``, or nothing when there are no items."""
    items = tuple(items)
    return [Block("ul", text=text, items=items)] if items else []


def _loo_table(loo: dict[str, Any], text: str) -> Block:
    rows = tuple(
        (
            row["name"],
            number(row["elpd_loo"]),
            number(row["se"]),
            number(row["elpd_diff"]),
            number(row["dse"]),
            number(row["weight"], 3),
            number(row["p_loo"]),
            number(row["pareto_k_bad"]),
        )
        for row in loo.get("models", [])
    )
    return Block(
        "table",
        text=text,
        header=("model", "elpd_loo", "se", "elpd_diff", "dse", "weight", "p_loo", "Pareto k bad"),
        rows=rows,
    )

