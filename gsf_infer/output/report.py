"""The report of a fit: ``report.md`` and a self-contained ``report.html``.

The report is built once as a list of blocks (headings, paragraphs, lists, tables, figures)
from the saved results — ``summary.json``, ``checks.json``, the DataTree's attributes and the
PNGs of ``plots/`` — and rendered twice: Markdown (figures linked as ``plots/<name>.png``) and
HTML (figures embedded as base64 ``data:`` URIs, inline CSS, no script and no external
resource, so the file opens offline and can be mailed alone). It leads with the answer: the
invariant verdict (the ``delta/rho`` posterior and its figure, the missing kinds when
untestable, PSIS-LOO of gsf against deviation), the parameters (with what the data decide and
what the prior decides), each kind's posterior predictive figure with the coverage table and
the hold-out validation, warnings; then the detail: data (records and runs per kind, the
per-run table folded in a ``<details>`` element, rows excluded on purpose), model, sampler and
diagnostics, identifiability, the remaining figures, and provenance last.

:func:`write_fit_extras` (called by ``gsf-infer fit`` while its folder is assembled) and
:func:`render_folder` (``gsf-infer report DIR``, no refitting) compute what is missing and hand
every file to :mod:`gsf_infer.output.artifacts`. Imports the standard library; NumPy, ArviZ and
matplotlib through :mod:`gsf_infer.analysis.checks` and :mod:`gsf_infer.output.plots` inside
functions.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gsf_infer.analysis.summary import NAMED, IdentificationThresholds
from gsf_infer.errors import InputError, Problem
from gsf_infer.model.priors import fixed_priors

#: Figures in the order the report shows them (stems; ``ppc_*`` and ``pair*`` by prefix).
FIGURE_ORDER = ("ppc_", "loo_pit", "invariant_delta", "pair", "trace", "rank")


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


@dataclass
class FitFolder:
    """The saved results of a fit, read back (:func:`read_folder`)."""

    folder: Path
    dt: Any
    summary: dict[str, Any]
    checks: dict[str, Any]
    deviation_dt: Any = None
    attrs: dict[str, Any] = field(default_factory=dict)


# -------------------------------------------------------------------------- numbers


def _num(value: Any, digits: int = 4) -> str:
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


def _pct(value: Any) -> str:
    return "-" if value is None or not math.isfinite(float(value)) else f"{float(value):.0%}"


# ---------------------------------------------------------------------------- blocks


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
    rest = [p for p in figures if p not in headline and p not in delta]

    blocks = [Block("h1", f"gsf-infer report: {data.get('path', attrs.get('input_path', ''))}")]
    blocks += _verdict_blocks(summary, checks)
    blocks += [figure(p) for p in delta]
    blocks += _loo_blocks(checks)
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
    """The invariant's verdict: one sentence, then its numbers as a list."""
    from gsf_infer.output.console import invariant_lines

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
    """The parameter table, with what decides each parameter (data or prior)."""
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
        rows.append(
            (
                name,
                _num(entry.get("mean")),
                _num(entry.get("sd")),
                _num(entry.get("hdi_low")),
                _num(entry.get("hdi_high")),
                _num(entry.get("r_hat")),
                _num(entry.get("ess_bulk")),
                _num(entry.get("ess_tail")),
                _num(entry.get("contraction"), 3),
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
                    _pct(entry.get("coverage_90")),
                    _num(entry.get("coverage_p"), 2),
                    _num(pit.get("p_value"), 2),
                    _num(pit.get("mean"), 2),
                    _num(pit.get("sd"), 2),
                    _num(pit.get("pareto_k_bad")),
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
        items = tuple(f"{key}: {rules[key]}" for key in ("coverage", "loo_pit") if key in rules)
        if items:
            blocks.append(
                Block("ul", text="Rules (uniform LOO-PIT has mean 0.5 and sd 0.29):", items=items)
            )
    elif not figures:
        blocks.append(Block("p", "No posterior predictive checks (no fit)."))
    if "holdout" in summary:
        h = summary["holdout"]
        blocks.append(Block("h2", "Hold-out validation"))
        blocks.append(
            Block(
                "p",
                f"Held out {h.get('rows')} rows ({h.get('expr')}); {_pct(h.get('coverage'))} of "
                f"their observed values inside the {_pct(h.get('ci_prob'))} predictive intervals "
                "of a fit that did not see them.",
            )
        )
    return blocks


def _data_blocks(summary: dict[str, Any], checks: dict[str, Any]) -> list[Block]:
    """Records and runs per kind; the per-run table collapsed; rows excluded on purpose."""
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
        blocks.append(
            Block(
                "ul",
                text="Rows excluded on purpose:",
                items=tuple(f"{n} row(s): {reason}" for reason, n in excluded.items()),
            )
        )
    elif excluded is not None:
        blocks.append(Block("p", "Rows excluded on purpose: none."))
    else:
        blocks.append(Block("p", "Rows excluded on purpose: not recorded with this fit."))
    return blocks


def _sampler_blocks(
    summary: dict[str, Any], checks: dict[str, Any], attrs: dict[str, Any]
) -> list[Block]:
    """The model and sampler settings, the convergence diagnostics, what the sampler did."""
    from gsf_infer.analysis.summary import convergence_problems

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
            f"{sampler.get('seed', '?')}, {_num(sampler.get('seconds'))} s.",
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
                    ("max R-hat", _num(diag.get("max_r_hat"))),
                    ("min bulk ESS", _num(diag.get("min_ess_bulk"))),
                    ("min tail ESS", _num(diag.get("min_ess_tail"))),
                    ("divergences", _num(diag.get("divergences"))),
                    ("min E-BFMI", _num(diag.get("min_bfmi"))),
                    ("largest R-hat on", _num(diag.get("worst"))),
                ),
            )
        )
        if problems:
            blocks.append(Block("ul", text=f"Problems{label}:", items=tuple(problems)))
    actions = [
        f"{name}: {action}"
        for name, items in (summary.get("automatic_actions") or {}).items()
        for action in items
    ]
    if actions:
        blocks.append(Block("ul", text="What the sampler did by itself:", items=tuple(actions)))
    return blocks


def _identifiability_blocks(summary: dict[str, Any], checks: dict[str, Any]) -> list[Block]:
    """What the kinds identify, and the directions the data barely curve."""
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
    if weak:
        blocks.append(Block(
            "ul", text="Directions the data barely curve at the optimum (the prior decides them):",
            items=tuple(weak),
        ))
    return blocks


def _provenance_blocks(summary: dict[str, Any], attrs: dict[str, Any]) -> list[Block]:
    """How the fit was made: version, command line, input hash, library versions."""
    data = summary.get("data", {})
    blocks = [
        Block("h2", "Provenance"),
        Block(
            "p",
            f"gsf-infer {summary.get('version', attrs.get('gsf_infer_version', '?'))}; command "
            f"`{attrs.get('command') or '-'}`; input sha256 {data.get('sha256') or '-'}.",
        ),
    ]
    provenance = attrs.get("provenance") or {}
    if provenance:
        blocks.append(
            Block(
                "ul",
                text="The input file's header:",
                items=tuple(f"{k}: {v}" for k, v in provenance.items()),
            )
        )
    return blocks


def _loo_table(loo: dict[str, Any], text: str) -> Block:
    rows = tuple(
        (
            row["name"],
            _num(row["elpd_loo"]),
            _num(row["se"]),
            _num(row["elpd_diff"]),
            _num(row["dse"]),
            _num(row["weight"], 3),
            _num(row["p_loo"]),
            _num(row["pareto_k_bad"]),
        )
        for row in loo.get("models", [])
    )
    return Block(
        "table",
        text=text,
        header=("model", "elpd_loo", "se", "elpd_diff", "dse", "weight", "p_loo", "Pareto k bad"),
        rows=rows,
    )


# ------------------------------------------------------------------------- rendering


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block]) -> str:
    """Render the blocks as Markdown (figures linked by relative path)."""
    out: list[str] = []
    for b in blocks:
        if b.kind == "h1":
            out += [f"# {b.text}", ""]
        elif b.kind == "h2":
            out += [f"## {b.text}", ""]
        elif b.kind == "p":
            out += [b.text, ""]
        elif b.kind == "lead":
            out += [f"**{b.text}**", ""]
            out += [f"- {item}" for item in b.items] + ([""] if b.items else [])
        elif b.kind == "ul":
            if b.text:
                out += [b.text, ""]
            out += [f"- {item}" for item in b.items] + [""]
        elif b.kind in ("table", "details"):
            if b.text:
                out += [f"{b.text}:" if b.kind == "details" else b.text, ""]
            out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            out.append("|" + "|".join("---" for _ in b.header) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif b.kind == "figure":
            out += [f"![{Path(b.path).stem}]({b.path})", "", f"*{b.text}*" if b.text else "", ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #444; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
figure { margin: 1.2em 0; }
img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.88em; color: #444; }
code { background: #f4f4f4; padding: 0 0.2em; }
details { margin: 0.4em 0 1.2em; }
.lead { background: #f3f6fa; border-left: 4px solid #345; padding: 0.5em 1em; margin: 0.8em 0; }
.lead p { font-weight: 600; font-size: 1.08em; margin: 0.3em 0; }
.lead ul { margin: 0.3em 0; }
summary { cursor: pointer; color: #245; }
"""


def _inline(text: str) -> str:
    """Escape text; `code` spans become <code>."""
    parts = html.escape(str(text)).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html_table(b: Block) -> str:
    head = "".join(f"<th>{_inline(h)}</th>" for h in b.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in b.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(
    blocks: list[Block], images: dict[str, bytes], title: str = "gsf-infer report"
) -> str:
    """Render the blocks as one self-contained HTML page (PNGs as base64 ``data:`` URIs).

    Parameters
    ----------
    blocks : list of Block
        The report.
    images : dict
        PNG bytes per figure path; figures without bytes are left out.
    title : str
        The page title.
    """
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    for b in blocks:
        if b.kind == "h1":
            out.append(f"<h1>{_inline(b.text)}</h1>")
        elif b.kind == "h2":
            out.append(f"<h2>{_inline(b.text)}</h2>")
        elif b.kind == "p":
            out.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "lead":
            items = "".join(f"<li>{_inline(i)}</li>" for i in b.items)
            out.append(
                f'<div class="lead"><p>{_inline(b.text)}</p>'
                + (f"<ul>{items}</ul>" if items else "")
                + "</div>"
            )
        elif b.kind == "ul":
            if b.text:
                out.append(f"<p>{_inline(b.text)}</p>")
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            if b.text:
                out.append(f"<p>{_inline(b.text)}</p>")
            out.append(_html_table(b))
        elif b.kind == "details":
            out.append(
                f"<details><summary>{_inline(b.text)}</summary>{_html_table(b)}</details>"
            )
        elif b.kind == "figure":
            data = images.get(b.path)
            if data is None:
                continue
            uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            out.append(
                f'<figure><img src="{uri}" alt="{html.escape(Path(b.path).stem)}">'
                f"<figcaption>{_inline(b.text)}</figcaption></figure>"
            )
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------- assembling


def order_figures(paths: list[Path]) -> list[Path]:
    """Sort figures by :data:`FIGURE_ORDER`, predictive checks in the kinds' order."""
    from gsf_infer.analysis.checks import PPC_VARIABLES

    def rank(path: Path) -> tuple[int, int, str]:
        for i, prefix in enumerate(FIGURE_ORDER):
            if path.stem.startswith(prefix):
                var = path.stem[len(prefix) :]
                sub = PPC_VARIABLES.index(var) if prefix == "ppc_" and var in PPC_VARIABLES else 0
                return i, sub, path.stem
        return len(FIGURE_ORDER), 0, path.stem

    return sorted(paths, key=rank)


def render_report(
    folder: Path,
    summary: dict[str, Any],
    checks: dict[str, Any],
    attrs: dict[str, Any],
    figures: list[Path],
) -> tuple[str, str]:
    """Render ``(markdown, html)`` of a folder's report; figure files are read for the HTML."""
    from gsf_infer.output.plots import caption

    folder = Path(folder)
    figures = order_figures([Path(f) for f in figures])
    rel = [f.relative_to(folder).as_posix() if f.is_absolute() else f.as_posix() for f in figures]
    ci = float(attrs.get("ci_prob", 0.94))
    invariant = checks.get("invariant")
    captions = {r: caption(Path(r).stem, invariant, ci) for r in rel}
    blocks = report_blocks(summary, checks, attrs, rel, captions)
    images = {r: (folder / r).read_bytes() for r in rel if (folder / r).is_file()}
    title = f"gsf-infer report: {summary.get('data', {}).get('path', '')}"
    return render_markdown(blocks), render_html(blocks, images, title)


def write_fit_extras(
    folder: str | Path,
    result: Any,
    excluded: dict[str, int] | None = None,
    checks: dict[str, Any] | None = None,
) -> list[Path]:
    """Complete a fit's result folder: full ``checks.json``, ``plots/``, the report.

    Called with the temporary folder :func:`gsf_infer.output.artifacts.write_fit` is assembling
    (its ``extra`` callback). ``checks`` are computed
    (:func:`gsf_infer.analysis.checks.checks_for_fit`) unless given.

    Returns
    -------
    list of Path
        Files written.
    """
    from gsf_infer.analysis.checks import checks_for_fit
    from gsf_infer.inference.datatree import read_attrs
    from gsf_infer.output import artifacts
    from gsf_infer.output.plots import write_plots

    folder = Path(folder)
    if checks is None:
        checks = checks_for_fit(result, excluded=excluded)
    written = [artifacts.write_checks(checks, folder)]
    figures = write_plots(result.dt, folder / "plots", result.deviation_dt, checks["invariant"])
    md, page = render_report(folder, result.summary, checks, read_attrs(result.dt), figures)
    return written + figures + artifacts.write_report(md, page, folder)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            Problem(str(path.parent), f"not a fit folder: no {path.name} inside")
        ) from None
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(Problem(str(path), f"cannot be read as JSON: {err}")) from None


def read_folder(folder: str | Path) -> FitFolder:
    """Read a result folder back: ``posterior.nc``, ``posterior_deviation.nc``, the JSON files.

    Raises
    ------
    InputError
        If a required file is missing or unreadable.
    """
    import arviz as az
    import numpyro  # noqa: F401  (before arviz)

    from gsf_infer.inference.datatree import read_attrs
    from gsf_infer.workflow.predict import load_fit

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(Problem(str(folder), "no such folder"))
    summary = _read_json(folder / "summary.json")
    checks = _read_json(folder / "checks.json")
    dt = load_fit(folder)
    deviation_dt = None
    deviation_path = folder / "posterior_deviation.nc"
    if deviation_path.is_file():
        try:
            deviation_dt = az.from_netcdf(deviation_path)
        except Exception as err:  # netCDF/HDF5 raise many types
            raise InputError(
                Problem(str(deviation_path), f"cannot be read as a DataTree: {err}")
            ) from None
    return FitFolder(folder, dt, summary, checks, deviation_dt, read_attrs(dt))


def complete_checks(saved: FitFolder) -> dict[str, Any]:
    """Complete a folder's checks.json with any section it lacks, from the saved fits.

    Older folders (or ``fit`` folders written before the checks ran) may hold only the
    invariant, diagnostics and warnings; the predictive checks, identifiability, data summary
    and gsf-vs-deviation LOO are computed from ``posterior.nc`` (and ``posterior_deviation.nc``).
    """
    from gsf_infer.analysis.checks import build_checks

    checks = dict(saved.checks)
    wanted = ("ppc", "identifiability", "data", "rules")
    if all(key in checks for key in wanted):
        return checks
    fresh = build_checks(
        saved.dt,
        invariant=checks.get("invariant"),
        diagnostics=checks.get("diagnostics"),
        warnings=checks.get("warnings", []),
        deviation_dt=saved.deviation_dt,
        parameters=saved.summary.get("parameters"),
    )
    for key, value in fresh.items():
        checks.setdefault(key, value)
    checks["warnings"] = fresh["warnings"]  # the saved ones first, then the new flags
    if not checks.get("loo") and fresh.get("loo"):
        checks["loo"] = fresh["loo"]
    return checks


def render_folder(folder: str | Path) -> list[Path]:
    """Re-render ``plots/``, ``report.md`` and ``report.html`` of a result folder (``report DIR``).

    Nothing is refitted; ``checks.json`` is read, not rewritten (sections it lacks are computed
    for the report only, see :func:`complete_checks`).

    Returns
    -------
    list of Path
        Files written.
    """
    from gsf_infer.output import artifacts
    from gsf_infer.output.plots import write_plots

    saved = read_folder(folder)
    checks = complete_checks(saved)
    figures = write_plots(
        saved.dt, saved.folder / "plots", saved.deviation_dt, checks.get("invariant")
    )
    md, page = render_report(saved.folder, saved.summary, checks, saved.attrs, figures)
    return figures + artifacts.write_report(md, page, saved.folder)


# ---------------------------------------------------------------------- console text


def format_checks(checks: dict[str, Any]) -> str:
    """Format what ``gsf-infer check`` prints: verdict, predictive checks, gsf vs deviation."""
    from gsf_infer.output.console import invariant_lines

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
                f"{var:<18}{e['n']:>5}{_pct(e['coverage_90']):>9}{_num(pit, 2):>11}  "
                + ("FLAGGED (see the warnings)" if e.get("flagged") else "ok")
            )
    loo = (checks.get("loo") or {}).get("gsf_vs_deviation")
    if loo:
        lines += ["", "PSIS-LOO gsf vs deviation: " + loo.get("sentence", "")]
    return "\n".join(lines)
