"""``gsf-infer report DIR``: re-render the plots and the report of a fit folder, no refitting."""

from __future__ import annotations

import typer

from gsf_infer.cli import options as opt
from gsf_infer.cli.app import app, report_errors


@app.command(
    help=(
        "Re-render plots/, report.md and the self-contained report.html of a fit folder from "
        "its saved files (posterior.nc, posterior_free.nc, summary.json, checks.json), without "
        "refitting."
    )
)
@report_errors
def report(
    fit_dir: opt.FitFolder,
) -> None:
    """Re-render the report of a fit folder."""
    from gsf_infer.workflow.check import render_folder  # deferred: imports JAX

    written = render_folder(fit_dir)
    typer.echo(f"{len(written)} files written in {fit_dir}/ (report.md, report.html, plots/)")
