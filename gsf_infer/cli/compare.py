"""``gsf-infer compare DATA``: fit several models and compare them by ELPD-LOO."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from gsf_infer.cli.app import app, report_errors


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
    data: Path = typer.Argument(..., help="Records table (.csv, .tsv or .parquet)."),
    g: str = typer.Option(
        "ntk,feature,monomial,logcorr,ridge",
        "--g",
        help="Comma-separated g families to compare (each fitted with every spectral model).",
    ),
    models: str = typer.Option(
        "gsf,deviation,chinchilla",
        "--models",
        help="Comma-separated models: gsf, deviation, chinchilla (fitted once: it has no g).",
    ),
    pruning_metrics: str = typer.Option(
        None,
        "--pruning-metrics",
        help=(
            "Comma-separated pruning metrics to compare (seed, function); names then read "
            "e.g. gsf/monomial/seed."
        ),
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help=(
            "Folder for compare.json [default: gsf-results/<data stem>]; an existing "
            "compare.json is refused unless --force."
        ),
    ),
    tier: str = typer.Option("continuum", "--tier", help="Evaluation tier of every fit."),
    likelihood: str | None = typer.Option(None, "--likelihood", help="lognormal or student [default: what the data file declares in its header, else lognormal].", show_default=False),
    priors: Path = typer.Option(None, "--priors", help="TOML file overriding default priors."),
    chains: int = typer.Option(4, "--chains", help="Number of chains."),
    warmup: int = typer.Option(1000, "--warmup", help="Warm-up iterations per chain."),
    draws: int = typer.Option(1000, "--draws", help="Kept draws per chain."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    target_accept: float = typer.Option(0.9, "--target-accept", help="NUTS target acceptance probability of every fit, in (0, 1) (see fit --help)."),
    ci_prob: float = typer.Option(
        0.94, "--ci-prob", help="Probability of the highest-density intervals."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing compare.json."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Fit several models and compare them by ELPD-LOO."""
    from gsf_infer.analysis.comparison import DEFAULT_FAMILIES, DEFAULT_MODELS, parse_list
    from gsf_infer.inference import runtime
    from gsf_infer.output import artifacts

    out = out or Path("gsf-results") / data.stem
    target = out / "compare.json"
    if target.exists() and not force:
        artifacts.refuse_existing_output(target, force)
    model_list = parse_list(models, DEFAULT_MODELS, "--models")
    g_list = parse_list(g, DEFAULT_FAMILIES, "--g")
    metric_list = (
        parse_list(pruning_metrics, ("seed", "function"), "--pruning-metrics")
        if pruning_metrics is not None
        else None
    )
    runtime.configure(host_devices=max(chains, 1))
    from gsf_infer.analysis.comparison import format_table
    from gsf_infer.workflow.compare import compare_models
    from gsf_infer.cli.fit import interactive

    command = "gsf-infer " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = compare_models(
        data,
        models=model_list,
        gs=g_list,
        pruning_metrics=metric_list,
        tier=tier,
        likelihood=likelihood,
        priors_path=priors,
        chains=chains,
        warmup=warmup,
        draws=draws,
        seed=seed,
        target_accept=target_accept,
        ci_prob=ci_prob,
        progress=interactive(quiet),
        command=command,
    )
    artifacts.write_json(result, target, force=force)
    typer.echo(format_table(result))
    typer.echo(f"\ncomparison written to {target}")
    for warning in result["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
