"""``gsf-infer fit``: NUTS over the gsf, deviation or chinchilla model; writes the result folder."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from gsf_infer.cli.app import app, report_errors


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
    data: Path = typer.Argument(..., help="Records table (.csv, .tsv or .parquet); see the README for its columns."),
    out: Path = typer.Option(None, "--out", help="Result folder [default: gsf-results/<data stem>]; refused if it exists and is not empty, unless --force."),
    model: str = typer.Option("gsf", "--model", help="gsf (shared spectral parameters), deviation (gsf plus delta_Q, eps_F, delta_L: the ways chi + gamma = rho can break) or chinchilla (E + A/P^alpha + B/D^beta on loss records)."),
    g: str = typer.Option("monomial", "--g", help="Evolution function g: ntk, feature, monomial, logcorr or ridge."),
    tier: str = typer.Option("continuum", "--tier", help="continuum (exact head + quadrature; cost independent of capacity), asymptotic (pure power laws) or exact (discrete sums, capped capacity; slow)."),
    likelihood: str | None = typer.Option(None, "--likelihood", help="lognormal (normal on log values) or student (Student-t, outlier-robust) [default: what the data file declares in its header, '# likelihood: ...' (ingest epoch_chinchilla_svg writes student), else lognormal].", show_default=False),
    pruning_metric: str | None = typer.Option(None, "--pruning-metric", help="seed (the paper's unweighted sum, slope 1+b-a) or function (lambda-weighted, slope 1-a) [default: the metric the data file declares in its header, '# pruning_metric: ...' (simulate rf writes function), else seed].", show_default=False),
    priors: Path = typer.Option(None, "--priors", help="TOML file overriding default priors, one table per parameter (see the README)."),
    holdout: str = typer.Option(None, "--holdout", help="Rows to hold out, as a condition on columns, e.g. \"params>=1e9\": fit the rest, report the coverage of their predictive intervals."),
    chains: int = typer.Option(4, "--chains", help="Number of chains (run in parallel on the CPU cores)."),
    warmup: int = typer.Option(1000, "--warmup", help="Warm-up iterations per chain."),
    draws: int = typer.Option(1000, "--draws", help="Kept draws per chain."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    target_accept: float = typer.Option(0.9, "--target-accept", help="NUTS target acceptance probability, in (0, 1): raise it (0.95, 0.99) when the fit reports divergent transitions; smaller steps, longer trees, slower sampling. The chinchilla model uses at least 0.95."),
    by: str = typer.Option(None, "--by", help="Fit each run (or group) alone: one result folder per subset inside --out, a combined summary.csv with one row per subset (exponents with their HDIs, convergence, wall time), a figure of the exponents across subsets (against model size where params is given) and a count of converged fits. A subset whose fit fails is reported and the others are kept."),
    workers: int = typer.Option(None, "--workers", help="With --by: run the fits on a local Dask cluster of N worker processes (one thread each), N fits at a time; each fit's chains still run in parallel inside its worker. A fit that raises or whose worker dies is run once more, then reported by name; the others are kept. [default: one fit after the other in this process, without Dask]", show_default=False),
    scheduler: str = typer.Option(None, "--scheduler", help="With --by: send the fits to a running Dask cluster at this address (tcp://host:8786), e.g. one started on SLURM or PBS with dask-jobqueue (see the README). Its workers need gsf-infer installed and must see --out (and --priors) at the same path.", show_default=False),
    resume: bool = typer.Option(False, "--resume", help="With --by: continue into an existing --out. A subset folder that is complete (posterior.nc and summary.json) is kept if its summary.json matches the subset's records (sha256) and the settings (model, g, tier, likelihood, chains, warmup, draws, seed and the other options); the others are fitted (again), and each refit says why."),
    max_draws: int = typer.Option(3000, "--max-draws", help="Budget of draws per chain when the fit extends its chains by itself (R-hat in (1.01, 1.05] or bulk ESS under 400, no divergences: the chains go on from where they stopped, same adaptation). Divergences rerun the chains once at target acceptance 0.97. Every such action is printed and recorded in summary.json."),
    ci_prob: float = typer.Option(0.94, "--ci-prob", help="Probability of the highest-density intervals."),
    rope: float = typer.Option(0.1, "--rope", help="Region of practical equivalence for the invariant: |delta/rho| <= ROPE."),
    no_check: bool = typer.Option(False, "--no-check", help="Skip the deviation-model fit behind the invariant verdict (then reported untestable)."),
    strict: bool = typer.Option(False, "--strict", help="Exit with code 3 if the sampler did not converge."),
    force: bool = typer.Option(False, "--force", help="Replace an existing result folder."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars and no table; errors and warnings only."),
) -> None:
    """Fit a model to a records table."""
    from gsf_infer.inference import runtime
    from gsf_infer.output import artifacts

    out = out or Path("gsf-results") / Path(data).stem
    if by is None and (workers is not None or scheduler is not None or resume):
        from gsf_infer.errors import InputError

        raise InputError("--workers, --scheduler and --resume go with --by", path="gsf-infer fit")
    artifacts.refuse_existing_output(out, force or resume)
    runtime.configure(host_devices=max(chains, 1))
    from gsf_infer.errors import NotConvergedError
    from gsf_infer.output.console import fit_report

    command = "gsf-infer " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if by is not None:
        options = dict(
            model=model, g=g, tier=tier, likelihood=likelihood, pruning_metric=pruning_metric,
            priors_path=priors, holdout=holdout, chains=chains, warmup=warmup, draws=draws,
            seed=seed, target_accept=target_accept, max_draws=max_draws, ci_prob=ci_prob,
            rope=rope, check_invariant=not no_check,
            progress=progress_bars() if interactive(quiet) else None, command=command,
        )
        fit_each(data, by, out, force, quiet, options, workers=workers, scheduler=scheduler,
                 resume=resume)
        return
    from gsf_infer import api

    fitted = api.fit(
        data, model=model, g=g, tier=tier, likelihood=likelihood, pruning_metric=pruning_metric,
        priors=priors, holdout=holdout, chains=chains, warmup=warmup, draws=draws, seed=seed,
        target_accept=target_accept, max_draws=max_draws, ci_prob=ci_prob, rope=rope,
        no_check=no_check, progress=progress_bars() if interactive(quiet) else None,
        command=command,
    )
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
    from gsf_infer.executor import ExecutorSettings, fit_subsets

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
    """A ``progress(stage, done, total)`` callback drawing one bar per model on stderr."""
    from tqdm import tqdm

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
    """The ``extra`` callback of :func:`gsf_infer.output.artifacts.write_fit`: checks, plots,
    report.

    A failure here must not cost the user the fit: it is recorded in ``failures`` (printed
    as a warning) and the folder keeps the posterior and summaries. ``checks`` already
    computed (by ``gsf-infer check``) are written as they are.
    """

    def extra(folder: Path) -> None:
        from gsf_infer.data.records import read_records
        from gsf_infer.output.report import write_fit_extras

        try:
            excluded = dict(read_records(data).excluded)
            write_fit_extras(folder, result, excluded=excluded, checks=checks)
        except Exception as err:  # any bug in plotting/reporting: keep the fit, say so
            failures.append(
                f"plots/report not written ({type(err).__name__}: {err}); the fit is saved — "
                "re-render with `gsf-infer report DIR`"
            )

    return extra
