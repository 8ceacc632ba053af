"""``gsf-infer fit``: NUTS over the gsf, deviation or chinchilla model; writes the result folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gsf_infer.cli import options as opt
from gsf_infer.cli.app import app, report_errors
from gsf_infer.errors import InputError, NotConvergedError
from gsf_infer.inference import runtime
from gsf_infer.workflow.options import FitOptions


def interactive(quiet: bool) -> bool:
    """Show progress bars: on a terminal and without ``--quiet``."""
    return not quiet and sys.stderr.isatty()


@app.command(
    help=(
        "Fit a model to a records table with NUTS and write the results: posterior.nc (ArviZ "
        "DataTree), summary.json/.csv, checks.json, plots and a report, in --out. Prints the "
        "parameter table (with what the data decide and what the prior decides), sampler "
        "diagnostics and the verdict on chi + gamma = rho, which comes from the deviation "
        "model (gsf plus one parameter per way the invariant can break), fitted too when the "
        "data make the invariant testable."
    )
)
@report_errors
def fit(
    data: Annotated[Path, typer.Argument(
        help="Records table (.csv, .tsv or .parquet); see the README for its columns.",
    )],
    out: Annotated[Path | None, typer.Option(
        "--out",
        help="Result folder [default: gsf-results/<data stem>]; refused if it exists and is not "
        "empty, unless --force.",
    )] = None,
    model: opt.Model = FitOptions.model,
    g: opt.G = FitOptions.g,
    tier: opt.Tier = FitOptions.tier,
    likelihood: opt.Likelihood = FitOptions.likelihood,
    pruning_metric: opt.PruningMetric = FitOptions.pruning_metric,
    discrepancy: opt.Discrepancy = FitOptions.discrepancy,
    priors: opt.Priors = FitOptions.priors,
    holdout: opt.Holdout = FitOptions.holdout,
    chains: opt.Chains = FitOptions.chains,
    warmup: opt.Warmup = FitOptions.warmup,
    draws: opt.Draws = FitOptions.draws,
    seed: opt.Seed = FitOptions.seed,
    target_accept: opt.TargetAccept = FitOptions.target_accept,
    by: Annotated[str | None, typer.Option(
        "--by",
        help="Fit each run (or group) alone: one result folder per subset inside --out, a "
        "combined summary.csv with one row per subset (exponents with their HDIs, convergence, "
        "wall time), a figure of the exponents across subsets (against model size where params "
        "is given) and a count of converged fits. A subset whose fit fails is reported and the "
        "others are kept. Subsets of the same kinds share their compiled programs (records "
        "padded to a few widths, the padding masked out of the likelihood).",
    )] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers",
        help="With --by: run the fits on a local Dask cluster of N worker processes (one thread "
        "each), N fits at a time; each fit's chains still run in parallel inside its worker. A "
        "fit that raises or whose worker dies is run once more, then reported by name; the "
        "others are kept. [default: one fit after the other in this process, without Dask]",
        show_default=False,
    )] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler",
        help="With --by: send the fits to a running Dask cluster at this address "
        "(tcp://host:8786), e.g. one started on SLURM or PBS with dask-jobqueue (see the README). "
        "Its workers need gsf-infer installed and must see --out (and --priors) at the same path.",
        show_default=False,
    )] = None,
    resume: Annotated[bool, typer.Option(
        "--resume",
        help="With --by: continue into an existing --out. A subset folder that is complete "
        "(posterior.nc and summary.json) is kept if its summary.json matches the subset's records "
        "(sha256) and the settings (model, g, tier, likelihood, chains, warmup, draws, seed and "
        "the other options); the others are fitted (again), and each refit says why.",
    )] = False,
    max_draws: opt.MaxDraws = FitOptions.max_draws,
    fix_unidentified: opt.FixUnidentified = FitOptions.fix_unidentified,
    adapt_mass: opt.AdaptMass = FitOptions.adapt_mass,
    ci_prob: opt.CiProb = FitOptions.ci_prob,
    rope: opt.Rope = FitOptions.rope,
    no_check: opt.NoCheck = FitOptions.no_check,
    strict: opt.Strict = False,
    force: opt.Force = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="No progress bars and no table; errors and warnings only.",
    )] = False,
) -> None:
    """Fit a model to a records table.

    Long because typer reads the options from the signature: one parameter per option.
    """
    if by is None and (workers is not None or scheduler is not None or resume):
        raise InputError("--workers, --scheduler and --resume go with --by", path="gsf-infer fit")
    options = FitOptions.pick(locals())  # the parameters carry the fields' names
    out = opt.result_folder(out, data, force or resume)
    runtime.configure(host_devices=max(chains, 1))
    progress = progress_bars() if interactive(quiet) else None
    if by is not None:
        keywords = dict(options.keywords(), progress=progress, command=opt.command_line())
        fit_each(data, by, out, force, quiet, keywords, workers=workers, scheduler=scheduler,
                 resume=resume)
        return
    from gsf_infer import api  # deferred: imports pandas and SciPy
    from gsf_infer.output.console import fit_report  # deferred: imports ArviZ

    fitted = api.fit(data, options, progress=progress, command=opt.command_line())
    result = fitted.result
    fitted.save(out, force=force)
    if not quiet:
        typer.echo(fit_report(result, ci_prob))
        typer.echo(f"\nresults written to {out}/")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if strict and not result.diagnostics["converged"]:
        raise NotConvergedError("the sampler did not converge (--strict): see the warnings above")


def fit_each(
    data: Path,
    by: str,
    out: Path,
    force: bool,
    quiet: bool,
    options: dict,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
) -> None:
    """``fit --by``: :func:`gsf_infer.executor.fit_subsets`, its progress on stderr."""
    from gsf_infer.executor import ExecutorSettings, fit_subsets  # deferred: imports pandas

    def notify(line: str, important: bool) -> None:
        if important or not quiet:
            typer.echo(line, err=True)

    try:
        table = fit_subsets(data, by, out, executor=ExecutorSettings(workers, scheduler),
                            resume=resume, force=force, notify=notify, **options)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished subsets are kept in {out}/; --resume fits the rest",
                   err=True)
        raise typer.Exit(code=130) from None
    converged = int(table["converged"].fillna(False).astype(bool).sum())
    typer.echo(f"{converged} of {len(table)} fits converged; table in {out}/summary.csv")


def progress_bars():
    """Make a ``progress(stage, done, total)`` callback drawing one bar per model on stderr."""
    from tqdm import tqdm  # deferred: needed only on a terminal

    bars: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=f"{stage}: NUTS", unit="it", file=sys.stderr)
        bar = bars[stage]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


# ---- plots, checks and report in the result folder


def report_extra(result, data: Path, failures: list[str], checks: dict | None = None):
    """Make the ``extra`` callback of :func:`gsf_infer.output.artifacts.write_fit`.

    It writes the checks, plots and report.

    A failure here must not cost the user the fit: it is recorded in ``failures`` (printed
    as a warning) and the folder keeps the posterior and summaries. ``checks`` already
    computed (by ``gsf-infer check``) are written as they are.
    """

    def extra(folder: Path) -> None:
        from gsf_infer.data.records import read_records  # deferred: imports pandas
        from gsf_infer.output.report import write_fit_extras  # deferred: imports matplotlib

        try:
            excluded = dict(read_records(data).excluded)
            write_fit_extras(folder, result, excluded=excluded, checks=checks)
        except Exception as err:  # any bug in plotting/reporting: keep the fit, say so
            failures.append(
                f"plots/report not written ({type(err).__name__}: {err}); the fit is saved — "
                "re-render with `gsf-infer report DIR`"
            )

    return extra
