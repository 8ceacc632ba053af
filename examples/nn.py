"""Small neural networks on the digits: the invariant's verdict on trained networks.

``gsf-infer simulate nn`` trains fully connected networks of widths 8..256 (610 to 19,210
parameters) by SGD on scikit-learn's 8x8 digits and measures their test loss over training,
the loss increase after rounding the weights to 3, 4, 6 and 8 bits and after magnitude pruning,
the empirical NTK spectrum with target power, and the learned fractions of the NTK's leading
eigen-directions (how each maps onto the theory: ``gsf_infer/simulate/nn/__init__.py``). Unlike
``simulate rf``, nothing about ``a``, ``b`` or ``rho`` is known; the truth file gives the
measured spectrum's power-law slopes instead. For each training seed the script runs the
commands a user runs,

    gsf-infer simulate nn --out nn_s{seed}.csv --truth nn_s{seed}_truth.json --seeds {seed}
    gsf-infer fit nn_s{seed}.csv --out fit_s{seed}

and tabulates, per seed: the invariant's verdict and the HDI of ``delta/rho``; ``a`` and ``b``
of the fit against the measured slopes of the NTK's target power and eigenvalues (of the
kernel at initialisation, which the records carry, and at the end of training); ``rho``,
``chi``, ``gamma``; and the coverage of the 90% posterior predictive intervals per kind. (A
``rho(t)`` column needs a ``g`` family whose elasticity varies with ``t`` fitted by default;
none is, so there is none.)

Usage::

    .venv/bin/python examples/nn.py [--quick] [--seeds 5] [--out DIR] [--force]

Full run (the default): 5 training seeds (0-4), ``simulate nn`` with its defaults, the fit with
the tool's defaults (4 chains x (300 + 1000)). ``--quick``: one training seed, a smaller
simulation (widths 8, 16, 32; 2000 steps; 128-image NTK subset) and 2 chains x (300 + 300).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Run, diagnostics_note, fmt, interval, main, table  # noqa: E402

NAME = "nn"
#: The smaller simulation of ``--quick``.
QUICK_SIMULATION = [
    "--widths", "8,16,32", "--steps", "2000", "--checkpoints", "20", "--ntk-subset", "128",
    "--modes", "2,3,4,6,8,12,16",
]  # fmt: skip
KINDS = ("loss", "quantization", "pruning", "spectrum", "spectrum_target", "modes")
EXPONENTS = ("a", "b", "rho", "chi", "gamma", "rho_over_b")


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seeds", type=int, default=None,
        help="number of training seeds (0, 1, ...) [default: 5; --quick: 1]",
    )  # fmt: skip


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _ratio(summary: dict[str, Any], checks: dict[str, Any]) -> dict[str, Any] | None:
    """Read the HDI of delta/rho from wherever the fit folder keeps it."""
    for source in (summary.get("invariant") or {}, checks.get("invariant") or {}):
        entry = source.get("delta_over_rho")
        if entry:
            return entry
    return None


def one_seed(run: Run, seed: int) -> dict[str, Any]:
    """Simulate, fit and read one training seed's results."""
    data, truth_file, fit_dir = f"nn_s{seed}.csv", f"nn_s{seed}_truth.json", f"fit_s{seed}"
    extra = QUICK_SIMULATION if run.quick else []
    run.gsf_infer("simulate", "nn", "--out", data, "--truth", truth_file, "--seeds", str(seed),
                  *extra)  # fmt: skip
    seconds_simulate = run.commands[-1][1]
    run.gsf_infer("fit", data, "--out", fit_dir, *run.sampler, "--quiet")
    truth = _json(run.folder / truth_file)
    summary = run.summary(fit_dir)
    checks = _json(run.folder / fit_dir / "checks.json")
    spectrum = truth["measured_spectrum"]
    params = summary["parameters"]
    measured = {"a": spectrum["a"], "b": spectrum["b"], "a_end": spectrum["a_other_kernel"],
                "b_end": spectrum["b_other_kernel"]}  # fmt: skip
    covered = {}
    for name in ("a", "b"):
        entry = params.get(name)
        covered[name] = None if not entry else bool(
            entry["hdi_low"] <= measured[name] <= entry["hdi_high"]
        )
    invariant = summary.get("invariant") or {}
    return {
        "seed": seed,
        "records": truth["records"],
        "dropped": truth["dropped"],
        "seconds_simulate": round(seconds_simulate, 1),
        "measured_spectrum": measured,
        "k_range": spectrum["k_range"],
        "parameters": {name: params.get(name) for name in EXPONENTS},
        "covers_measured": covered,
        "verdict": invariant.get("status"),
        "verdict_trusted": invariant.get("trusted"),
        "delta_over_rho": _ratio(summary, checks),
        "diagnostics": summary["diagnostics"],
        "sampler": diagnostics_note(summary),
        "coverage": {
            kind: {"n": entry.get("n"), "coverage_90": entry.get("coverage_90"),
                   "flagged": entry.get("flagged")}  # fmt: skip
            for kind, entry in (checks.get("ppc") or {}).items()
        },
        "final_test_loss": {run_: net["final_test_loss"]
                            for run_, net in truth["networks"].items()},  # fmt: skip
    }


def _yes(flag: bool | None) -> str:
    return "-" if flag is None else ("yes" if flag else "NO")


def _tables(rows: list[dict[str, Any]]) -> tuple[str, str, str]:
    verdicts = table(
        ["seed", "verdict", "delta/rho (94% HDI)", "sampler"],
        [[r["seed"], f"{r['verdict']}{'' if r['verdict_trusted'] is not False else ' (untrusted)'}",
          interval(r["delta_over_rho"]), r["sampler"]] for r in rows],
    )  # fmt: skip
    exponents = table(
        ["seed", "a (fit)", "a measured (init; end)", "covered", "b (fit)",
         "b measured (init; end)", "covered", "rho", "chi", "gamma"],
        [[r["seed"], interval(r["parameters"]["a"]),
          f"{fmt(r['measured_spectrum']['a'])}; {fmt(r['measured_spectrum']['a_end'])}",
          _yes(r["covers_measured"]["a"]), interval(r["parameters"]["b"]),
          f"{fmt(r['measured_spectrum']['b'])}; {fmt(r['measured_spectrum']['b_end'])}",
          _yes(r["covers_measured"]["b"]), interval(r["parameters"]["rho"]),
          interval(r["parameters"]["chi"]), interval(r["parameters"]["gamma"])] for r in rows],
    )  # fmt: skip
    kinds = [k for k in KINDS if any(k in r["coverage"] for r in rows)]
    cells = []
    for r in rows:
        line = [r["seed"]]
        for k in kinds:
            c = r["coverage"].get(k)
            line.append("-" if not c or c["coverage_90"] is None else
                        f"{c['coverage_90']:.0%} of {c['n']}{' (flagged)' if c['flagged'] else ''}")
        cells.append(line)
    coverage = table(["seed", *kinds], cells)
    return verdicts, exponents, coverage


def _counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    verdicts: dict[str, int] = {}
    for r in rows:
        verdicts[str(r["verdict"])] = verdicts.get(str(r["verdict"]), 0) + 1
    return {
        "seeds": len(rows),
        "verdicts": verdicts,
        "converged": sum(bool(r["diagnostics"]["converged"]) for r in rows),
        "b_covers_measured": sum(bool(r["covers_measured"]["b"]) for r in rows),
        "a_covers_measured": sum(bool(r["covers_measured"]["a"]) for r in rows),
    }


def body(run: Run) -> tuple[str, dict[str, Any]]:
    """Fit one simulated network per seed and return the markdown section and numbers."""
    count = run.options.seeds if run.options.seeds is not None else (1 if run.quick else 5)
    rows = [one_seed(run, seed) for seed in range(count)]
    verdicts, exponents, coverage = _tables(rows)
    counts = _counts(rows)
    lo, hi = rows[0]["k_range"]
    said = ", ".join(f"{v} {k}" for k, v in sorted(counts["verdicts"].items()))
    md = f"""## Small neural networks on the digits (`examples/nn.py`)

`gsf-infer simulate nn` with {'the quick settings' if run.quick else 'its defaults'}, one
training seed per data set, then `gsf-infer fit` with the tool's defaults
({'quick sampler' if run.quick else '4 chains x (300 + 1000)'}). Nothing about `a`, `b`,
`rho` is known; "measured" is the least-squares power-law slope of the empirical NTK's
eigenvalues (`b`) and octave-mean target power (`a`) over `k = {lo}..{hi}`, of the kernel at
initialisation (which the `spectrum` records carry) and at the end of training.

### The invariant's verdict

{verdicts}

### Exponents against the measured spectrum (posterior mean [94% HDI])

{exponents}

### Coverage of the 90% posterior predictive intervals, per kind

{coverage}

In numbers: verdicts {said} over {counts['seeds']} seed(s); {counts['converged']} fit(s)
converged; the HDI of `b` covers the measured eigenvalue slope in {counts['b_covers_measured']}
and that of `a` the measured target-power slope in {counts['a_covers_measured']}.
"""
    return md, {"per_seed": rows, "counts": counts}


if __name__ == "__main__":
    main(NAME, __doc__.splitlines()[0], body, extra=_options)
