"""The invariant's verdict on five kinds of synthetic world, several seeds each.

Each world is written with the exact-tier simulator (``gsf-infer simulate gsf``) and fitted as
``gsf-infer fit DATA`` would (the ``gsf`` model and the ``deviation`` model behind the verdict),
in this process, so that the compiled programs are shared across seeds:

- ``consistent``: the default world (a 1.6, b 1.4, monomial g with rho 1.25), all five kinds —
  expected ``supported``, never ``violated``;
- ``quantization``: the same world, except that its quantization records come from a world
  whose target spectrum has a = 2.05: quantization weights the modes by another spectrum, its
  growth exponent is (1 + b - 2.05) rho/b, and delta/rho = (a - 2.05)/b = -0.32 — expected
  ``violated``;
- ``frontier``: the same world, except that its pruning and density records come from a world
  whose g grows as t^1.8 (and whose frontier sits where the consistent world's does at the
  reference time): the frontier moves at rho_F = 1.8 instead of 1.25, delta/rho =
  1.25/1.8 - 1 = -0.31 — expected ``violated``;
- ``loss_only``: the loss curves alone — expected ``untestable``, naming the missing kinds;
- ``out_of_domain``: a = 2.6 > 1 + b = 2.4, where quantization saturates — expected
  ``out_of_domain``.

A fit that did not converge counts as a failure in the table, whatever its verdict.

Usage::

    .venv/bin/python examples/verdicts.py [--quick] [--seeds 10] [--out DIR]

``--quick`` runs one seed per world with 2 chains x (300 + 300). The full run (the default:
10 seeds, the default sampler of ``gsf-infer fit``) writes its table into ``OUT/verdicts.md``
and each fit's row into ``OUT/verdicts.csv`` as soon as it is done; its numbers are copied into
``examples/README.md``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from gsf_infer.data.dataset import compute_scales
from gsf_infer.inference import runtime
from gsf_infer.inference.config import SamplerConfig
from gsf_infer.output import artifacts
from gsf_infer.simulate.gsf import GsfSimConfig, simulate_gsf

EXPECTED = {
    "consistent": "supported",
    "quantization": "violated",
    "frontier": "violated",
    "loss_only": "untestable",
    "out_of_domain": "out_of_domain",
}
#: The other world's target exponent (quantization) and time exponent of g (frontier).
A_QUANTIZATION = 2.05
N_FRONTIER = 1.8


def true_ratio(world: str, base: GsfSimConfig) -> float | None:
    """delta/rho of a world, in closed form (``None`` where it is not defined)."""
    rho = base.n / base.m
    if world == "consistent":
        return 0.0
    if world == "quantization":
        return (base.a - A_QUANTIZATION) / base.b
    if world == "frontier":
        return rho / (N_FRONTIER / base.m) - 1.0
    return None


def worlds(seed: int) -> dict[str, pd.DataFrame]:
    """Simulate the five data sets of one seed."""
    base = GsfSimConfig()
    consistent, _ = simulate_gsf(base, np.random.default_rng(seed))
    other_q, _ = simulate_gsf(replace(base, a=A_QUANTIZATION), np.random.default_rng(seed + 1))
    quantization = pd.concat(
        [consistent[consistent["kind"] != "quantization"],
         other_q[other_q["kind"] == "quantization"]],
        ignore_index=True,
    )
    # the frontier world's g = c' lambda^m t^n' meets the consistent one's at t_ref, so that
    # only the frontier's rate differs, not its position at the reference time
    t_ref = compute_scales(consistent).t_ref
    c_frontier = base.c * t_ref ** (base.n - N_FRONTIER)
    other_f, _ = simulate_gsf(
        replace(base, n=N_FRONTIER, c=c_frontier), np.random.default_rng(seed + 2)
    )
    moved = ("pruning", "density")
    frontier = pd.concat(
        [consistent[~consistent["kind"].isin(moved)], other_f[other_f["kind"].isin(moved)]],
        ignore_index=True,
    )
    saturated, _ = simulate_gsf(replace(base, a=2.6), np.random.default_rng(seed + 3))
    return {
        "consistent": consistent,
        "quantization": quantization,
        "frontier": frontier,
        "loss_only": consistent[consistent["kind"] == "loss"].reset_index(drop=True),
        "out_of_domain": saturated,
    }


def run_one(path: Path, sampler: dict) -> dict:
    """Fit one world as ``gsf-infer fit`` does; the verdict and whether both fits converged."""
    from gsf_infer.analysis.summary import convergence_problems, diagnostics
    from gsf_infer.workflow.fit import fit

    result = fit(path, **sampler)
    # fifty fits in one process: free compiled programs before Linux's limit of memory maps
    runtime.release_compiled()
    inv = result.invariant_detail
    problems = convergence_problems(result.diagnostics)
    if result.deviation_dt is not None:
        deviation = convergence_problems(diagnostics(result.deviation_dt))
        problems += [f"deviation: {p}" for p in deviation]
    return {"invariant": inv, "problems": problems}


def table_rows(rows: list[dict]) -> str:
    """Markdown table: one line per world with counts over seeds."""
    frame = pd.DataFrame(rows)
    lines = [
        "| world | true delta/rho | expected | supported | violated | inconclusive | untestable "
        "| out_of_domain | not converged | as expected (converged) | mean delta/rho HDI | "
        "s per seed |",
        "|" + " --- |" * 12,
    ]
    for world, part in frame.groupby("world", sort=False):
        counts = part["verdict"].value_counts()
        ok = int(((part["verdict"] == EXPECTED[world]) & part["converged"]).sum())
        lows, highs = part["hdi_low"].dropna(), part["hdi_high"].dropna()
        hdi = f"[{lows.mean():+.3f}, {highs.mean():+.3f}]" if len(lows) else "-"
        truth = part["true"].iloc[0]
        lines.append(
            f"| {world} | {'-' if truth is None or pd.isna(truth) else f'{truth:+.2f}'} "
            f"| {EXPECTED[world]} | "
            + " | ".join(str(int(counts.get(s, 0))) for s in
                         ("supported", "violated", "inconclusive", "untestable", "out_of_domain"))
            + f" | {int((~part['converged']).sum())} | {ok}/{len(part)} | {hdi} "
            f"| {part['seconds'].mean():.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Fit every world and seed the command line asks for; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 chains x (300 + 300)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per world [10]")
    parser.add_argument("--first-seed", type=int, default=0, help="first simulation seed [0]")
    parser.add_argument("--out", type=Path, default=Path("gsf-results/examples/verdicts"))
    parser.add_argument("--only", default="", help="comma-separated worlds to run [all]")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out}: exists and is not empty; choose another --out")
    args.out.mkdir(parents=True, exist_ok=True)
    runtime.configure(host_devices=4)
    sampler = {"chains": 2, "warmup": 300, "draws": 300} if args.quick else {}
    seeds = 1 if args.quick else args.seeds
    chosen = [w for w in args.only.split(",") if w] or list(EXPECTED)
    rows = []
    for seed in range(args.first_seed, args.first_seed + seeds):
        for name, frame in worlds(seed).items():
            if name not in chosen:
                continue
            path = artifacts.write_table(frame, args.out / f"{name}_{seed}.csv", force=True)
            start = time.perf_counter()
            out = run_one(path, sampler)
            seconds = time.perf_counter() - start
            inv = out["invariant"]
            ratio = inv.get("delta_over_rho") or {}
            row = {
                "world": name,
                "seed": seed,
                "true": true_ratio(name, GsfSimConfig()),
                "verdict": inv["status"],
                "converged": not out["problems"],
                "hdi_low": ratio.get("hdi_low"),
                "hdi_high": ratio.get("hdi_high"),
                "seconds": seconds,
                "problems": "; ".join(out["problems"]),
            }
            rows.append(row)
            pd.DataFrame(rows).to_csv(args.out / "verdicts.csv", index=False)  # nothing lost
            print(f"seed {seed} {name}: {inv['status']}"
                  f"{'' if row['converged'] else ' (NOT CONVERGED)'} ({seconds:.0f} s)", flush=True)
    default = SamplerConfig()
    settings = "2 chains x (300 + 300)" if args.quick else (
        f"{default.num_chains} chains x ({default.num_warmup} + {default.num_samples})")
    text = (f"{seeds} seed(s) per world from seed {args.first_seed}, default fit, {settings}.\n\n"
            f"{table_rows(rows)}\n")
    (args.out / "verdicts.md").write_text(text)
    print(text)
    failed = [r for r in rows if r["verdict"] != EXPECTED[r["world"]] or not r["converged"]]
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
