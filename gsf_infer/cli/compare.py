"""``gsf-infer compare DATA``: fit several models and compare them by ELPD-LOO."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gsf_infer.cli import options as opt
from gsf_infer.cli.app import app, report_errors
from gsf_infer.cli.fit import interactive
from gsf_infer.inference import runtime
from gsf_infer.output import artifacts
from gsf_infer.workflow.options import FitOptions, default_out


@app.command(
    help=(
        "Fit every combination of --models, --g and --pruning-metrics to DATA with NUTS and "
        "compare them by PSIS-LOO: ELPD, its standard error, the difference to the best model "
        "and its standard error, stacking weights, effective number of parameters and the "
        "count of records with high Pareto k (unreliable LOO). Models that predict different "
        "kinds (chinchilla models loss only) are compared on the records they all predict, "
        "and the table says so. Writes compare.json into --out and prints the table, best "
        "first."
    )
)
@report_errors
def compare(
    data: Annotated[Path, typer.Argument(help="Records table (.csv, .tsv or .parquet).")],
    g: Annotated[str, typer.Option(
        "--g",
        help="Comma-separated g families to compare (each fitted with every spectral model).",
    )] = "ntk,feature,monomial,logcorr,ridge,elastic",
    models: Annotated[str, typer.Option(
        "--models",
        help="Comma-separated models: gsf, deviation, chinchilla (fitted once: it has no g).",
    )] = "gsf,deviation,chinchilla",
    pruning_metrics: Annotated[str | None, typer.Option(
        "--pruning-metrics",
        help="Comma-separated pruning metrics to compare (seed, function); names then read "
        "e.g. gsf/monomial/seed.",
    )] = None,
    out: Annotated[Path | None, typer.Option(
        "--out",
        help="Folder for compare.json [default: gsf-results/<data stem>]; an existing "
        "compare.json is refused unless --force.",
    )] = None,
    tier: opt.Tier = FitOptions.tier,
    likelihood: opt.Likelihood = FitOptions.likelihood,
    priors: opt.Priors = FitOptions.priors,
    chains: opt.Chains = FitOptions.chains,
    warmup: opt.Warmup = FitOptions.warmup,
    draws: opt.Draws = FitOptions.draws,
    seed: opt.Seed = FitOptions.seed,
    target_accept: opt.TargetAccept = FitOptions.target_accept,
    ci_prob: opt.CiProb = FitOptions.ci_prob,
    holdout: Annotated[str | None, typer.Option(
        "--holdout",
        help="Rows to hold out of every fit, as a condition on columns, e.g. \"t>3e4\" (the "
        "last part of each curve): the models are then also compared by their ELPD on those "
        "rows (leave-future-out), which tests extrapolation where PSIS-LOO tests "
        "interpolation; a second table and sentence follow the first.",
        show_default=False,
    )] = None,
    cv: Annotated[str, typer.Option(
        "--cv",
        help="record: PSIS-LOO leaves out one record at a time. run: also leave out one run at "
        "a time (the records of a run share one realisation, so their neighbours flatter "
        "record-wise LOO): PSIS on each run's joint log-likelihood, and an exact refit without "
        "the run wherever its Pareto k is too high (in this process; one fit per such run and "
        "model); a third table and sentence follow.",
    )] = "record",
    workers: Annotated[int | None, typer.Option(
        "--workers",
        help="Run the fits on a local Dask cluster of N worker processes (one thread each), N "
        "fits at a time. A fit that raises or whose worker dies is run once more, then left out "
        "of the table with a warning. Same seeds, same numbers as in process. [default: one fit "
        "after the other in this process, without Dask]",
        show_default=False,
    )] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler",
        help="Send the fits to a running Dask cluster at this address (tcp://host:8786), e.g. "
        "one started with dask-jobqueue (see the README); its workers need gsf-infer installed "
        "and must see DATA and --priors at the same path.",
        show_default=False,
    )] = None,
    force: opt.Force = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Fit several models and compare them by ELPD-LOO.

    Long because typer reads the options from the signature: one parameter per option.
    """
    from gsf_infer.analysis.comparison import (  # deferred: imports numpy (--help stays fast)
        DEFAULT_FAMILIES,
        DEFAULT_MODELS,
        format_table,
        parse_list,
    )
    from gsf_infer.executor.compare import compare_on  # deferred: imports the executor
    from gsf_infer.executor.tasks import ExecutorSettings

    target = (out or default_out(data)) / "compare.json"
    opt.refuse_existing_file(target, force)
    model_list = parse_list(models, DEFAULT_MODELS, "--models")
    g_list = parse_list(g, DEFAULT_FAMILIES, "--g")
    if "elastic" in g_list:  # the figure of rho(t) goes beside compare.json
        opt.refuse_existing_file(target.with_name("rho_t.png"), force)
    metric_list = (
        parse_list(pruning_metrics, ("seed", "function"), "--pruning-metrics")
        if pruning_metrics is not None
        else None
    )
    executor = ExecutorSettings(workers, scheduler)
    executor.check()
    runtime.configure(host_devices=max(chains, 1))

    def notify(line: str, important: bool) -> None:
        if important or not quiet:
            typer.echo(line, err=True)

    result = compare_on(
        data, executor, notify, models=model_list, gs=g_list, pruning_metrics=metric_list,
        tier=tier, likelihood=likelihood, priors_path=priors, chains=chains, warmup=warmup,
        draws=draws, seed=seed, target_accept=target_accept, ci_prob=ci_prob,
        holdout=holdout, cv=cv, progress=interactive(quiet), command=opt.command_line(),
    )
    artifacts.write_json(result, target, force=force)
    if result.get("elasticity"):
        from gsf_infer.output.elastic_plot import write_rho_t  # deferred: imports matplotlib

        write_rho_t(result["elasticity"], target.with_name("rho_t.png"), force=force)
    typer.echo(format_table(result))
    if result.get("elasticity"):
        typer.echo(f"\nrho(t): {result['elasticity']['sentence']}")
    typer.echo(f"\ncomparison written to {target}")
    for warning in result["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
