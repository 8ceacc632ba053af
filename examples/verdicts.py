"""The invariant verdicts on four synthetic worlds, generated here, independently of the tests.

Each world is written with the library's exact-tier simulator (``gsf-infer simulate gsf``) and
checked with the command a user runs, ``gsf-infer check DATA``, which fits the ``gsf`` and the
``free`` models and reads ``chi + gamma = rho`` off the ``free`` posterior (SPEC §4):

- ``consistent``: the default world (a 1.6, b 1.4, monomial g with rho 1.25), all five kinds —
  expected ``supported`` (or ``inconclusive``), never ``violated``;
- ``violated``: the same world, except that its quantization records come from a world with
  a target spectrum a = 1.9 (gamma 0.446 instead of 0.714), so chi + gamma - rho = -0.27,
  delta/rho = -0.21, outside the ROPE of 0.1 — expected ``violated``;
- ``loss_only``: the loss curves alone — expected ``untestable``, naming the missing kinds;
- ``out_of_domain``: a = 2.6 > 1 + b = 2.4, where quantization saturates (gamma -> 0) —
  expected ``out_of_domain``.

Usage::

    .venv/bin/python examples/verdicts.py [--quick] [--out gsf-results/examples/verdicts]

``--quick`` runs 2 chains x (300 + 300) instead of the default 4 x (1000 + 1000). The script
prints a markdown table (world, expected, verdict, delta/rho HDI, P(in ROPE), seconds) and
writes it to ``OUT/verdicts.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from gsf_infer import artifacts
from gsf_infer.simulate.gsf import GsfSimConfig, simulate_gsf

EXPECTED = {
    "consistent": ("supported", "inconclusive"),
    "violated": ("violated",),
    "loss_only": ("untestable",),
    "out_of_domain": ("out_of_domain",),
}


def worlds(seed: int) -> dict[str, pd.DataFrame]:
    """The four data sets (seeded, so the script is reproducible)."""
    base = GsfSimConfig()
    consistent, _ = simulate_gsf(base, np.random.default_rng(seed))
    other, _ = simulate_gsf(replace(base, a=1.9), np.random.default_rng(seed + 1))
    violated = pd.concat(
        [consistent[consistent["kind"] != "quantization"], other[other["kind"] == "quantization"]],
        ignore_index=True,
    )
    loss_only = consistent[consistent["kind"] == "loss"].reset_index(drop=True)
    saturated, _ = simulate_gsf(replace(base, a=2.6), np.random.default_rng(seed + 2))
    return {
        "consistent": consistent,
        "violated": violated,
        "loss_only": loss_only,
        "out_of_domain": saturated,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 chains x (300 + 300)")
    parser.add_argument("--out", type=Path, default=Path("gsf-results/examples/verdicts"))
    parser.add_argument("--seed", type=int, default=2026, help="simulation seed [2026]")
    parser.add_argument("--only", default="", help="comma-separated worlds to run [all]")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sampler = ["--chains", "2", "--warmup", "300", "--draws", "300"] if args.quick else []
    chosen = [w for w in args.only.split(",") if w] or list(EXPECTED)
    rows = []
    for name, frame in worlds(args.seed).items():
        if name not in chosen:
            continue
        data = artifacts.write_table(frame, args.out / f"{name}.csv", force=True)
        folder = args.out / name
        command = [
            str(Path(sys.executable).with_name("gsf-infer")), "check", str(data), "--out", str(folder),
            "--force", "--quiet", *sampler,
        ]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
            raise SystemExit(f"{name}: gsf-infer check exited {done.returncode}")
        inv = json.loads((folder / "checks.json").read_text())["invariant"]
        ratio = inv.get("delta_over_rho") or {}
        hdi = (
            f"[{ratio['hdi_low']:+.3f}, {ratio['hdi_high']:+.3f}]"
            if ratio.get("hdi_low") is not None
            else "-"
        )
        p_rope = inv.get("p_in_rope")
        rows.append(
            {
                "world": name,
                "expected": " or ".join(EXPECTED[name]),
                "verdict": inv["status"],
                "delta/rho HDI": hdi,
                "P(in ROPE)": "-" if p_rope is None else f"{p_rope:.2f}",
                "missing": "; ".join(inv.get("missing", [])) or "-",
                "seconds": f"{seconds:.0f}",
                "ok": "yes" if inv["status"] in EXPECTED[name] else "NO",
            }
        )
        print(f"{name}: {inv['status']} ({seconds:.0f} s)", flush=True)
    header = list(rows[0]) if rows else []
    table = "\n".join(
        ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        + ["| " + " | ".join(r.values()) + " |" for r in rows]
    )
    settings = "2 chains x (300 + 300)" if args.quick else "4 chains x (1000 + 1000)"
    text = f"Seed {args.seed}, {settings}.\n\n{table}\n"
    (args.out / "verdicts.md").write_text(text)
    print(text)
    return 0 if all(r["ok"] == "yes" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
