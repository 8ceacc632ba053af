"""``gsf-infer calibrate``: simulation-based calibration of the fit (Talts et al. 2018)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from gsf_infer.analysis.sbc_settings import CalibrationSettings
from gsf_infer.cli import options as opt
from gsf_infer.cli.app import app, report_errors
from gsf_infer.inference import runtime
from gsf_infer.output import artifacts


@app.command(
    help=(
        "Simulation-based calibration (Talts et al. 2018) of the deviation model's fit (the gsf "
        "model where the design cannot test the invariant): draw parameters and records from "
        "the model's prior and likelihood on a fixed design, fit each simulated data set with "
        "the tool's sampler (MAP starts, whitened NUTS), rank the true a, b, rho and delta/rho "
        "among thinned posterior draws and test the ranks for uniformity "
        "(chi-square on equal-probability rank bins, the decision test; Kolmogorov-Smirnov "
        "also reported). Writes ranks.csv, calibration.json and ranks.png in --out. Fits with "
        "divergences, high R-hat or low ESS are flagged and counted, never dropped."
    )
)
@report_errors
def calibrate(
    out: Annotated[Path, typer.Option(
        "--out", help="Result folder; refused if it exists and is not empty, unless --force.",
    )] = Path("gsf-results") / "calibration",
    simulations: Annotated[int, typer.Option(
        "--simulations", help="Number of simulated data sets (each fitted once).",
    )] = CalibrationSettings.simulations,
    design: Annotated[str, typer.Option(
        "--design",
        help="Layout of the simulated records: small (simulate gsf with five kinds, ~50 "
        "records), tiny (spectrum and modes, ~20 records) or a records file (its covariates "
        "are used, its values only centre the priors).",
    )] = "small",
    chains: Annotated[int, typer.Option(
        "--chains", help="NUTS chains per fit (vectorized).",
    )] = CalibrationSettings.chains,
    warmup: opt.Warmup = CalibrationSettings.warmup,
    draws: opt.Draws = CalibrationSettings.draws,
    ranks: Annotated[int, typer.Option(
        "--ranks",
        help="Posterior draws kept (evenly thinned) to rank each truth among; ranks run "
        "0..RANKS (at most chains x draws).",
    )] = CalibrationSettings.ranks,
    bins: Annotated[int | None, typer.Option(
        "--bins",
        help="Bins of the chi-square test; must divide RANKS + 1 [default: the largest of "
        "2..20 leaving at least 5 expected ranks per bin].",
        show_default=False,
    )] = None,
    starts: Annotated[int, typer.Option(
        "--starts", help="Starts of the multi-start MAP before NUTS.",
    )] = CalibrationSettings.num_starts,
    seed: Annotated[int, typer.Option(
        "--seed", help="Random seed (simulations, starts, NUTS).",
    )] = CalibrationSettings.seed,
    priors: Annotated[Path | None, typer.Option(
        "--priors",
        help="TOML file overriding default priors (see the README), used to simulate and to "
        "fit; restricting the prior here keeps the calibration exact [default: built-in priors].",
        show_default=False,
    )] = None,
    fit_priors: Annotated[Path | None, typer.Option(
        "--fit-priors",
        help="TOML priors for the fits only [default: those of --priors]. Different priors "
        "make a deliberately mis-specified fit (a negative control): its ranks need not be "
        "uniform.",
        show_default=False,
    )] = None,
    discrepancy: opt.Discrepancy = "none",
    batch: Annotated[int, typer.Option(
        "--batch",
        help="Simulations fitted together: their optimisers run side by side with the "
        "gradients evaluated in one vectorised call, then their chains run (a simulation per "
        "core at a time, the next one queued taken as soon as a core is free) while the next "
        "batch is optimised. 1 fits one simulation after the other.",
    )] = CalibrationSettings.batch,
    workers: Annotated[int | None, typer.Option(
        "--workers",
        help="Fit the batches on a local Dask cluster of N worker processes (one thread each), "
        "N batches at a time. A batch that raises or whose worker dies is run once more, then "
        "reported; its simulations stay in ranks.csv as errors and every other batch is kept. "
        "Same seeds, same numbers as in process. [default: in this process, without Dask]",
        show_default=False,
    )] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler",
        help="Send the batches to a running Dask cluster at this address (tcp://host:8786), "
        "e.g. one started with dask-jobqueue (see the README); its workers need gsf-infer "
        "installed.",
        show_default=False,
    )] = None,
    force: opt.Force = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="No progress bar and no table; errors and warnings only.",
    )] = False,
) -> None:
    """Run simulation-based calibration and write its ranks, tests and plot.

    Long because typer reads the options from the signature: one parameter per option.
    """
    artifacts.refuse_existing_output(out, force)

    settings = CalibrationSettings(
        simulations=simulations,
        chains=chains,
        warmup=warmup,
        draws=draws,
        ranks=ranks,
        bins=bins,
        num_starts=starts,
        seed=seed,
        batch=batch,
    )
    settings.check()
    from gsf_infer.executor.tasks import ExecutorSettings  # deferred: keeps --help fast

    executor = ExecutorSettings(workers, scheduler)
    executor.check()
    runtime.configure(host_devices=1)
    # deferred, after the JAX settings: these import JAX
    from gsf_infer.analysis.calibrate import design_records
    from gsf_infer.executor.calibrate import calibrate_on
    from gsf_infer.model.priors import load_priors
    from gsf_infer.model.settings import ModelSettings
    from gsf_infer.output.calibration import write_calibration

    gen_priors = load_priors(priors)
    fitting = load_priors(fit_priors) if fit_priors is not None else gen_priors
    records = design_records(design)
    bar = None
    if not quiet and sys.stderr.isatty():
        from tqdm import tqdm  # deferred: needed only on a terminal

        bar = tqdm(total=simulations, desc="calibrate", unit="fit", file=sys.stderr)

    done, every, start = [0], max(1, simulations // 10), time.perf_counter()

    def progress(i: int, row: dict) -> None:
        done[0] += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(str(row.get("status", ""))[:30])
        elif not quiet and (done[0] % every == 0 or done[0] == simulations):
            # a log, not a terminal: a line per tenth of the simulations
            typer.echo(f"calibrate: {done[0]}/{simulations} simulations fitted "
                       f"({time.perf_counter() - start:.0f} s)", err=True)

    try:
        result = calibrate_on(
            records, settings, executor, priors=gen_priors, fit_priors=fitting,
            model_settings=ModelSettings(model="deviation", discrepancy=discrepancy),
            on_simulation=progress, notify=lambda line, important: typer.echo(line, err=True),
        )
    finally:
        if bar is not None:
            bar.close()
    write_calibration(result, out, force=force)
    if not quiet:
        typer.echo(_table(result))
        typer.echo(f"\nresults written to {out}/")
    summary = result.summary
    if summary["errors"] or summary["flagged"]:
        typer.echo(
            f"warning: {summary['errors']} fit(s) failed (not ranked) and {summary['flagged']} "
            "ranked fit(s) were flagged (divergences, R-hat or ESS); see ranks.csv",
            err=True,
        )


def _table(result) -> str:
    s = result.summary
    lines = [
        f"simulations {s['simulations']}, ranked {s['ranked']}, flagged {s['flagged']} "
        f"(divergent {s['divergent_fits']}, R-hat {s['r_hat_flagged']}, ESS {s['ess_flagged']}), "
        f"errors {s['errors']}, out of domain (1+b-a <= 0) {s['out_of_domain']}; "
        f"{s['seconds']['total']:.0f} s",
        f"{'parameter':<10}{'chi2 p':>10}{'bins':>6}{'KS p':>10}{'chi2 p unflagged':>18}",
    ]
    fmt = lambda v: "-" if v is None else f"{v:.3g}"  # noqa: E731
    for p, t in result.tests.items():
        lines.append(
            f"{p:<10}{fmt(t['chi2']['p_value']):>10}{t['bins']:>6}{fmt(t['ks']['p_value']):>10}"
            f"{fmt(t['unflagged_only']['chi2']['p_value']):>18}"
        )
    return "\n".join(lines)
