"""``gsf-infer predict``: posterior predictive intervals for new records from a fitted folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gsf_infer.cli import options as opt
from gsf_infer.cli.app import app, report_errors
from gsf_infer.inference import runtime
from gsf_infer.output import artifacts


@app.command(
    help=(
        "Predict new records from a fit: for each row, the predictive mean, median and "
        "highest-density interval of a new measurement (noise included) and, where the row "
        "carries an observed value, whether the interval covers it. Rows come from --at "
        "(repeatable, e.g. --at \"kind=loss,t=1e6,params=1e9\") or --points FILE (a records "
        "table whose observed columns may be empty). Writes CSV to --out, or to stdout."
    )
)
@report_errors
def predict(
    fit_dir: opt.FitFolder,
    at: Annotated[list[str] | None, typer.Option(
        "--at", help="One record as comma-separated column=value pairs; repeatable.",
    )] = None,
    points: Annotated[Path | None, typer.Option(
        "--points", help="A records table (.csv/.tsv/.parquet) of points to predict.",
    )] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output CSV [default: stdout]; refused if it exists, unless --force.",
    )] = None,
    ci_prob: Annotated[float | None, typer.Option(
        "--ci-prob", help="Interval probability [default: the fit's].",
    )] = None,
    seed: Annotated[int, typer.Option(
        "--seed", help="Seed of the observation-noise draws.",
    )] = 0,
    force: opt.Force = False,
) -> None:
    """Predict new records from a fitted folder."""
    from gsf_infer.workflow.predict import predict as run_predict  # deferred: imports pandas

    opt.refuse_existing_file(out, force)
    runtime.configure(host_devices=1)

    table = run_predict(fit_dir, at=at or [], points=points, ci_prob=ci_prob, seed=seed)
    if out is None:
        typer.echo(table.to_csv(index=False), nl=False)
    else:
        artifacts.write_table(table, out, force=force)
        typer.echo(f"{len(table)} predictions written to {out}")
