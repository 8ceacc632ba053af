"""``gsf-infer predict``: posterior predictive intervals for new records from a fitted folder."""

from __future__ import annotations

from pathlib import Path

import typer

from gsf_infer.cli.app import app, report_errors


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
    fit_dir: Path = typer.Argument(..., help="A folder written by gsf-infer fit."),
    at: list[str] = typer.Option(None, "--at", help="One record as comma-separated column=value pairs; repeatable."),
    points: Path = typer.Option(None, "--points", help="A records table (.csv/.tsv/.parquet) of points to predict."),
    out: Path = typer.Option(None, "--out", help="Output CSV [default: stdout]; refused if it exists, unless --force."),
    ci_prob: float = typer.Option(None, "--ci-prob", help="Interval probability [default: the fit's]."),
    seed: int = typer.Option(0, "--seed", help="Seed of the observation-noise draws."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out."),
) -> None:
    """Predict new records from a fitted folder."""
    from gsf_infer.inference import runtime
    from gsf_infer.output import artifacts

    if out is not None and out.exists() and not force:
        artifacts.refuse_existing_output(out, force)
    runtime.configure(host_devices=1)
    from gsf_infer.workflow.predict import predict as run_predict

    table = run_predict(fit_dir, at=at or [], points=points, ci_prob=ci_prob, seed=seed)
    if out is None:
        typer.echo(table.to_csv(index=False), nl=False)
    else:
        artifacts.write_table(table, out, force=force)
        typer.echo(f"{len(table)} predictions written to {out}")
