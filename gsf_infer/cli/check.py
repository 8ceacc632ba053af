"""``gsf-infer check DATA|DIR``: the invariant verdict, predictive checks and gsf against deviation."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from gsf_infer.cli.app import app, report_errors


@app.command(
    help=(
        "Check the invariant chi + gamma = rho and the fit's predictive adequacy. "
        "On a fit folder DIR: uses its posterior_deviation.nc (or its own posterior if the model "
        "was deviation), fitting the deviation model on the fit's input file if there is none; updates "
        "DIR/checks.json, the invariant of DIR/summary.json and the report (or writes "
        "checks.json to --out). On a records table DATA: says at once which kinds are missing "
        "if the data cannot test the invariant; otherwise fits the gsf and deviation models (the "
        "sampler options apply) and writes a full result folder to --out. Prints the verdict "
        "(naming the missing kinds when untestable), the posterior predictive checks and "
        "PSIS-LOO of gsf against deviation."
    )
)
@report_errors
def check(
    target: Path = typer.Argument(
        ..., metavar="DATA|DIR", help="A records table, or a folder written by gsf-infer fit."
    ),
    rope: float = typer.Option(
        0.1, "--rope", help="Region of practical equivalence: |delta/rho| <= ROPE."
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help=(
            "Output folder [DIR: DIR itself; DATA: gsf-results/<data stem>]; a new folder is "
            "refused if it exists and is not empty, unless --force."
        ),
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
    g: str = typer.Option("monomial", "--g", help="Fits made here: evolution function g."),
    tier: str = typer.Option("continuum", "--tier", help="Fits made here: evaluation tier."),
    likelihood: str | None = typer.Option(
        None,
        "--likelihood",
        help="Fits made here: lognormal or student [default: as the data file declares, else "
        "lognormal].",
        show_default=False,
    ),
    pruning_metric: str | None = typer.Option(
        None,
        "--pruning-metric",
        help="Fits made here: seed or function [default: as the data file declares, else seed].",
        show_default=False,
    ),
    priors: Path = typer.Option(
        None, "--priors", help="Fits made here: TOML file of priors (for DIR: the fit's own)."
    ),
    chains: int = typer.Option(4, "--chains", help="Fits made here: number of chains."),
    warmup: int = typer.Option(
        1000, "--warmup", help="Fits made here: warm-up iterations per chain."
    ),
    draws: int = typer.Option(1000, "--draws", help="Fits made here: kept draws per chain."),
    seed: int = typer.Option(0, "--seed", help="Fits made here: random seed."),
    ci_prob: float = typer.Option(
        0.94, "--ci-prob", help="Probability of the highest-density intervals."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", help="No progress bars; the verdict and warnings only."
    ),
) -> None:
    """Check the invariant chi + gamma = rho and the predictive checks."""
    from gsf_infer.inference import runtime
    from gsf_infer.output import artifacts

    is_dir = target.is_dir()
    if not is_dir:
        out = out or Path("gsf-results") / target.stem
        artifacts.refuse_existing_output(out, force)
    elif out is not None and out.resolve() != target.resolve():
        artifacts.refuse_existing_output(out, force)
    runtime.configure(host_devices=max(chains, 1))
    from gsf_infer.cli.fit import interactive, progress_bars, report_extra
    from gsf_infer.output.console import format_checks
    from gsf_infer.workflow.check import render_folder, run_check

    command = "gsf-infer " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    outcome = run_check(
        target,
        rope=rope,
        g=g,
        tier=tier,
        likelihood=likelihood,
        pruning_metric=pruning_metric,
        priors_path=priors,
        chains=chains,
        warmup=warmup,
        draws=draws,
        seed=seed,
        ci_prob=ci_prob,
        progress=progress_bars() if interactive(quiet) else None,
        command=command,
    )
    failures: list[str] = []
    if outcome.fit is not None:
        extra = report_extra(outcome.fit, target, failures, checks=outcome.checks)
        artifacts.write_fit(outcome.fit, out, force=force, extra=extra)
        where = out
    elif is_dir and (out is None or out.resolve() == target.resolve()):
        artifacts.update_fit_folder(outcome, target)
        if (target / "report.html").exists() or (target / "report.md").exists():
            render_folder(target)
        where = target
    else:
        artifacts.write_check_folder(outcome, out, force=force)
        where = out
    typer.echo(format_checks(outcome.checks))
    typer.echo(f"\nchecks written to {where}/checks.json")
    for warning in outcome.checks.get("warnings", []) + failures:
        typer.echo(f"warning: {warning}", err=True)
