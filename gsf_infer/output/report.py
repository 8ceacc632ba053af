"""The report of a fit: ``report.md`` and a self-contained ``report.html``, with ``plots/``.

The report is built once as a list of blocks (:mod:`gsf_infer.output.report_blocks`) from the
saved results — ``summary.json``, ``checks.json``, the DataTree's attributes and the PNGs of
``plots/`` — and rendered twice (:mod:`gsf_infer.output.report_render`): Markdown, figures linked
as ``plots/<name>.png``, and HTML, figures embedded, no external resource.

:func:`write_fit_extras` (called by ``gsf-infer fit`` while its folder is assembled) computes the
full ``checks.json`` of a fit and writes it, the plots and the report;
:func:`write_report_files` writes the plots and the report of results handed to it (``gsf-infer
report DIR`` reads them back through :func:`gsf_infer.workflow.check.render_folder`). Every file
goes through :mod:`gsf_infer.output.artifacts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gsf_infer.analysis.checks import checks_for_fit
from gsf_infer.analysis.ppc import PPC_VARIABLES, loo_pits
from gsf_infer.inference.datatree import read_attrs
from gsf_infer.output import artifacts
from gsf_infer.output.plots import caption, write_plots
from gsf_infer.output.report_blocks import report_blocks
from gsf_infer.output.report_render import render_html, render_markdown

#: Figures in the order the report shows them (stems; ``ppc_*`` and ``pair*`` by prefix).
FIGURE_ORDER = ("ppc_", "loo_pit", "invariant_delta", "pair", "trace", "rank")


def order_figures(paths: list[Path]) -> list[Path]:
    """Sort figures by :data:`FIGURE_ORDER`, predictive checks in the kinds' order."""

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


def write_report_files(
    folder: str | Path,
    dt: Any,
    summary: dict[str, Any],
    checks: dict[str, Any],
    *,
    deviation_dt: Any = None,
    attrs: dict[str, Any] | None = None,
    pits: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``plots/``, ``report.md`` and ``report.html`` of a fit into its folder.

    Parameters
    ----------
    folder : str or Path
        The result folder.
    dt, deviation_dt : xarray.DataTree
        The fit and the ``deviation``-model fit behind its invariant (for the figures).
    summary, checks : dict
        summary.json and the full checks.json.
    attrs : dict, optional
        The DataTree's root attributes (read from ``dt`` when not given).
    pits : dict, optional
        :func:`gsf_infer.analysis.ppc.loo_pits` of ``dt`` (computed for the checks), which the
        LOO-PIT figure draws.

    Returns
    -------
    list of Path
        Files written.
    """
    folder = Path(folder)
    attrs = read_attrs(dt) if attrs is None else attrs
    figures = write_plots(dt, folder / "plots", deviation_dt, checks.get("invariant"), pits)
    md, page = render_report(folder, summary, checks, attrs, figures)
    return figures + artifacts.write_report(md, page, folder)


def write_fit_extras(
    folder: str | Path,
    result: Any,
    excluded: dict[str, int] | None = None,
    checks: dict[str, Any] | None = None,
) -> list[Path]:
    """Complete a fit's result folder: full ``checks.json``, ``plots/``, the report.

    Called with the temporary folder :func:`gsf_infer.output.artifacts.write_fit` is assembling
    (its ``extra`` callback). ``checks`` are computed
    (:func:`gsf_infer.analysis.checks.checks_for_fit`) unless given; the LOO-PIT values they
    compute are drawn by the LOO-PIT figure rather than computed a second time.

    Returns
    -------
    list of Path
        Files written.
    """
    folder = Path(folder)
    pits = None
    if checks is None:
        pits = loo_pits(result.dt)
        checks = checks_for_fit(result, excluded=excluded, pits=pits)
    written = [artifacts.write_checks(checks, folder)]
    return written + write_report_files(
        folder, result.dt, result.summary, checks, deviation_dt=result.deviation_dt, pits=pits
    )
