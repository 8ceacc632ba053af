"""``gsf-infer check DATA|DIR``: the invariant's verdict, predictive checks, gsf vs deviation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gsf_infer.cli import options as opt
from gsf_infer.cli.app import app, report_errors
from gsf_infer.cli.fit import interactive, progress_bars, report_extra
from gsf_infer.inference import runtime
from gsf_infer.output import artifacts
from gsf_infer.workflow.options import FitOptions


@app.command(
    help=(
        "Check the invariant chi + gamma = rho and the fit's predictive adequacy. "
        "On a fit folder DIR: uses its posterior_deviation.nc (or its own posterior if the model "
        "was deviation), fitting the deviation model on the fit's input file if there is none "
        "(with the fit's settings and --priors, by default the fit's own); updates "
        "DIR/checks.json, the invariant of DIR/summary.json and the report (or writes "
        "checks.json to --out). On a records table DATA: says at once which kinds are missing "
        "if the data cannot test the invariant; otherwise fits the gsf and deviation models (the "
        "model and sampler options apply to the fits made here) and writes a full result folder "
        "to --out. Prints the verdict (naming the missing kinds when untestable), the posterior "
        "predictive checks and PSIS-LOO of gsf against deviation."
    )
)
@report_errors
def check(
    target: Annotated[Path, typer.Argument(
        metavar="DATA|DIR", help="A records table, or a folder written by gsf-infer fit.",
    )],
    rope: opt.Rope = FitOptions.rope,
    out: Annotated[Path | None, typer.Option(
        "--out",
        help="Output folder [DIR: DIR itself; DATA: gsf-results/<data stem>]; a new folder is "
        "refused if it exists and is not empty, unless --force.",
    )] = None,
    force: opt.Force = False,
    g: opt.G = FitOptions.g,
    tier: opt.Tier = FitOptions.tier,
    likelihood: opt.Likelihood = FitOptions.likelihood,
    pruning_metric: opt.PruningMetric = FitOptions.pruning_metric,
    priors: opt.Priors = FitOptions.priors,
    chains: opt.Chains = FitOptions.chains,
    warmup: opt.Warmup = FitOptions.warmup,
    draws: opt.Draws = FitOptions.draws,
    seed: opt.Seed = FitOptions.seed,
    ci_prob: opt.CiProb = FitOptions.ci_prob,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="No progress bars; the verdict and warnings only.",
    )] = False,
) -> None:
    """Check the invariant chi + gamma = rho and the predictive checks."""
    from gsf_infer.output.console import format_checks  # deferred: imports JAX
    from gsf_infer.workflow.check import render_folder, run_check  # deferred: imports JAX

    options = FitOptions.pick(locals())  # the parameters carry the fields' names
    is_dir = target.is_dir()
    if not is_dir:
        out = opt.result_folder(out, target, force)
    elif out is not None and out.resolve() != target.resolve():
        artifacts.refuse_existing_output(out, force)
    runtime.configure(host_devices=max(chains, 1))
    outcome = run_check(target, options, command=opt.command_line(),
                        progress=progress_bars() if interactive(quiet) else None)
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
