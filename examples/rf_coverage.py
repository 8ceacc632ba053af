"""Coverage of b = 1.5 and rho = 1 over seeds of ``simulate rf``, with and without the discrepancy.

For each seed the script runs the commands a user runs,

    gsf-infer simulate rf --out OUT/seed_S/rf.csv --truth OUT/seed_S/rf_truth.json --seed S
    gsf-infer fit OUT/seed_S/rf.csv --out OUT/seed_S/fit_none --no-check --discrepancy none
    gsf-infer fit OUT/seed_S/rf.csv --out OUT/seed_S/fit_spectral --no-check --discrepancy spectral

then reads each ``summary.json``: whether the 94% HDI of ``b`` covers 1.5 and that of ``rho``
covers 1, the posterior sds, convergence and the fit's wall time (with the load average around
it: the machine may be shared). It writes ``OUT/coverage.md`` (per-seed table and the counts),
``OUT/coverage.json`` and ``OUT/coverage.png`` (each seed's interval of ``b`` and ``rho``
against the truth, side by side for the two likelihoods).

A seed whose fit folder already holds a ``summary.json`` is not fitted again (so the run can be
stopped and continued, or extended with more seeds); ``--force`` refits everything.

Usage::

    .venv/bin/python examples/rf_coverage.py [--seeds 20] [--first 0] [--quick]
                                             [--discrepancies none,spectral] [--priors P]
                                             [--force]
                                             [--out gsf-results/examples/rf_coverage]

``--quick`` samples 2 chains x (300 + 300) instead of the default fit's 4 x (300 + 1000);
``--priors P`` passes a priors file to the discrepancy's fits (``[discrepancy_sd]`` fixed, say).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TRUTH = {"b": 1.5, "rho": 1.0}


def _gsf_infer(args: list[str]) -> None:
    """Run a gsf-infer command (the console script beside this interpreter)."""
    exe = Path(sys.executable).with_name("gsf-infer")
    print("$ gsf-infer " + " ".join(args), flush=True)
    subprocess.run([str(exe), *args], check=True)


def fit_seed(folder: Path, seed: int, discrepancy: str, quick: bool, force: bool,
             priors: Path | None = None) -> dict:
    """Simulate (once per seed) and fit one seed with one discrepancy; return its row."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "rf.csv"
    if force or not data.exists():
        _gsf_infer(["simulate", "rf", "--out", str(data), "--truth", str(folder / "rf_truth.json"),
                    "--seed", str(seed), "--force"])
    fit_dir, timing = folder / f"fit_{discrepancy}", folder / f"fit_{discrepancy}.timing.json"
    if force or not (fit_dir / "summary.json").exists() or not timing.exists():
        args = ["fit", str(data), "--out", str(fit_dir), "--no-check", "--discrepancy",
                discrepancy, "--force", "--quiet"]
        if quick:
            args += ["--chains", "2", "--warmup", "300", "--draws", "300"]
        if priors is not None and discrepancy != "none":
            args += ["--priors", str(priors)]
        load_before = os.getloadavg()[0]
        tic = time.perf_counter()
        _gsf_infer(args)
        seconds = time.perf_counter() - tic
        timing.write_text(json.dumps({"seconds": seconds, "load_before": load_before,
                                      "load_after": os.getloadavg()[0], "quick": quick}))
    summary = json.loads((fit_dir / "summary.json").read_text())
    row = {"seed": seed, "discrepancy": discrepancy, **json.loads(timing.read_text()),
           "converged": summary["diagnostics"]["converged"],
           "divergences": summary["diagnostics"]["divergences"]}
    for name, truth in TRUTH.items():
        entry = summary["parameters"][name]
        row[name] = {k: entry[k] for k in ("mean", "sd", "hdi_low", "hdi_high")}
        row[name]["covered"] = bool(entry["hdi_low"] <= truth <= entry["hdi_high"])
    return row


def counts(rows: list[dict], discrepancy: str) -> dict:
    """Coverage counts, mean posterior sd, scatter of the means and median wall time."""
    mine = [r for r in rows if r["discrepancy"] == discrepancy]
    out = {"fits": len(mine), "converged": sum(r["converged"] for r in mine),
           "median_seconds": float(np.median([r["seconds"] for r in mine])) if mine else None}
    for name in TRUTH:
        means = np.array([r[name]["mean"] for r in mine])
        out[name] = {
            "covered": sum(r[name]["covered"] for r in mine),
            "mean_sd": float(np.mean([r[name]["sd"] for r in mine])) if mine else None,
            "sd_of_means": float(np.std(means, ddof=1)) if len(mine) > 1 else None,
            "mean_error": float(np.mean(means - TRUTH[name])) if mine else None,
        }
    return out


def markdown(rows: list[dict], totals: dict) -> str:
    """Format the per-seed table and the counts."""
    lines = ["| seed | discrepancy | b: mean [94% HDI] | sd | covers 1.5 | rho: mean [94% HDI] | "
             "sd | covers 1 | converged | fit s (load) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(rows, key=lambda r: (r["seed"], r["discrepancy"])):
        cells = []
        for name in TRUTH:
            e = r[name]
            cells += [f"{e['mean']:.3f} [{e['hdi_low']:.3f}, {e['hdi_high']:.3f}]",
                      f"{e['sd']:.4f}", "yes" if e["covered"] else "NO"]
        lines.append(f"| {r['seed']} | {r['discrepancy']} | " + " | ".join(cells)
                     + f" | {'yes' if r['converged'] else 'NO'} | {r['seconds']:.0f} "
                     f"({r['load_before']:.1f}) |")
    lines += ["", "| discrepancy | fits | b covered | rho covered | mean sd b | sd of means b | "
              "mean sd rho | sd of means rho | converged | median fit s |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, t in totals.items():
        def f(x):
            return "-" if x is None else f"{x:.4f}"
        lines.append(f"| {name} | {t['fits']} | {t['b']['covered']} | {t['rho']['covered']} | "
                     f"{f(t['b']['mean_sd'])} | {f(t['b']['sd_of_means'])} | "
                     f"{f(t['rho']['mean_sd'])} | {f(t['rho']['sd_of_means'])} | "
                     f"{t['converged']} | {t['median_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], discrepancies: list[str]):
    """Each seed's 94% HDI of b and rho against the truth, one column per discrepancy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(discrepancies), figsize=(5 * len(discrepancies), 7),
                             squeeze=False, sharey="row")
    for j, disc in enumerate(discrepancies):
        mine = sorted((r for r in rows if r["discrepancy"] == disc), key=lambda r: r["seed"])
        for i, name in enumerate(TRUTH):
            ax = axes[i, j]
            for k, r in enumerate(mine):
                e = r[name]
                color = "tab:blue" if e["covered"] else "tab:red"
                ax.plot([k, k], [e["hdi_low"], e["hdi_high"]], color=color, linewidth=2)
                ax.plot(k, e["mean"], "o", color=color, markersize=3)
            ax.axhline(TRUTH[name], color="black", linewidth=1)
            covered = sum(r[name]["covered"] for r in mine)
            ax.set_title(f"{name}, --discrepancy {disc}: {covered} of {len(mine)} cover",
                         fontsize=10)
            ax.set_xlabel("seed (order)")
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    """Fit the seeds, tabulate and plot; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="number of seeds [20]")
    parser.add_argument("--first", type=int, default=0, help="first seed [0]")
    parser.add_argument("--quick", action="store_true", help="2 chains x (300 + 300)")
    parser.add_argument("--discrepancies", default="none,spectral",
                        help="fitted likelihoods, any of none, spectral, gp [none,spectral]")
    parser.add_argument("--force", action="store_true", help="refit seeds already fitted")
    parser.add_argument("--priors", type=Path, default=None,
                        help="priors file for the discrepancy's fits (e.g. a fixed discrepancy_sd)")
    parser.add_argument("--out", type=Path, default=Path("gsf-results/examples/rf_coverage"))
    args = parser.parse_args(argv)
    discrepancies = [d.strip() for d in args.discrepancies.split(",") if d.strip()]

    from gsf_infer.output import artifacts

    rows = []
    for seed in range(args.first, args.first + args.seeds):
        for disc in discrepancies:
            rows.append(fit_seed(args.out / f"seed_{seed}", seed, disc, args.quick, args.force,
                                 args.priors))
    totals = {d: counts(rows, d) for d in discrepancies}
    text = markdown(rows, totals)
    print(text)
    artifacts.write_text(text, args.out / "coverage.md", force=True)
    artifacts.write_json({"rows": rows, "totals": totals}, args.out / "coverage.json", force=True)
    import matplotlib.pyplot as plt

    fig = plot(rows, discrepancies)
    artifacts.write_figure(fig, args.out / "coverage.png", force=True)
    plt.close(fig)
    print(f"written to {args.out}/ (coverage.md, coverage.json, coverage.png, seed_*/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
