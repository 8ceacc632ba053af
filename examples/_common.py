"""Shared plumbing of the example analyses: options, running ``gsf-infer``, result tables.

Each example is a script (``python examples/<name>.py [--quick] [--out DIR] [--force]``) that
runs the tool's own commands — ``gsf-infer ingest``, ``validate``, ``fit`` — exactly as a user
would type them (each in its own process, printed before it runs), then reads the result folders
with the library (:func:`gsf_infer.workflow.predict.load_fit`, :mod:`gsf_infer.analysis.comparison`)
and writes ``results.md`` (a markdown block, also printed) and ``results.json`` (the same numbers,
for the tests) into its output folder. The folder is collected in a temporary sibling and moved into
place at the end (:func:`gsf_infer.output.artifacts.output_folder`): an existing non-empty folder is
refused unless ``--force``, and an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Sampler settings of ``--quick`` (the test suite) and of a full run (the tool's defaults).
QUICK = {"chains": 2, "warmup": 300, "draws": 300}
FULL = {"chains": 4, "warmup": 300, "draws": 1000}


def parse_args(
    name: str,
    description: str,
    argv: Sequence[str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """Parse the options every example takes: ``--quick``, ``--out``, ``--force``, ``--seed``.

    ``extra(parser)``, when given, adds an example's own.
    """
    parser = argparse.ArgumentParser(prog=f"examples/{name}.py", description=description)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small chains ({QUICK['chains']} x {QUICK['warmup']} warm-up + {QUICK['draws']} "
        "draws) and the smaller settings each example names; for the test suite. Default: the "
        f"tool's defaults ({FULL['chains']} x {FULL['warmup']} + {FULL['draws']}).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("gsf-results") / "examples" / name,
        help=f"output folder [default: gsf-results/examples/{name}]; refused if it exists and "
        "is not empty, unless --force",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing output folder [default: refuse]"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every fit [default: 0]")
    if extra is not None:
        extra(parser)
    return parser.parse_args(argv)


def cli() -> list[str]:
    """How to call ``gsf-infer`` with this interpreter (the console script, or ``-c``)."""
    script = Path(sys.executable).with_name("gsf-infer")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from gsf_infer.cli import main; main()"]


@dataclass
class Run:
    """One example run: its working folder, sampler settings, and a log of what it did."""

    name: str
    folder: Path
    quick: bool
    seed: int
    options: argparse.Namespace | None = None
    commands: list[tuple[str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @property
    def sampler(self) -> list[str]:
        """``--chains/--warmup/--draws/--seed`` options of every fit."""
        settings = QUICK if self.quick else FULL
        return [
            "--chains", str(settings["chains"]),
            "--warmup", str(settings["warmup"]),
            "--draws", str(settings["draws"]),
            "--seed", str(self.seed),
        ]

    def gsf_infer(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``gsf-infer ARGS`` in a new process (paths relative to the working folder).

        The command is printed first; its output goes to ``logs/<n>.log`` and, on failure, to
        the terminal. Returns the completed process (raises on a non-zero exit if ``check``).
        """
        shown = "gsf-infer " + " ".join(shlex.quote(a) for a in args)
        print(f"$ {shown}", flush=True)
        tic = time.perf_counter()
        proc = subprocess.run(
            [*cli(), *args], cwd=self.folder, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - tic
        self.commands.append((shown, seconds))
        logs = self.folder / "logs"
        logs.mkdir(exist_ok=True)
        (logs / f"{len(self.commands):02d}.log").write_text(
            f"$ {shown}\n# exit {proc.returncode}, {seconds:.1f} s\n{proc.stdout}\n{proc.stderr}",
            encoding="utf-8",
        )
        for line in proc.stderr.splitlines():
            if line.startswith("warning:"):
                print(f"  {line}", flush=True)
        if check and proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"{shown} failed with exit code {proc.returncode}")
        return proc

    def summary(self, fit_dir: str) -> dict[str, Any]:
        """``summary.json`` of a fit folder inside the working folder."""
        return json.loads((self.folder / fit_dir / "summary.json").read_text(encoding="utf-8"))

    def load(self, fit_dir: str):
        """Return the DataTree of a fit folder (``posterior.nc``)."""
        from gsf_infer.workflow.predict import load_fit

        return load_fit(self.folder / fit_dir)

    def commands_table(self) -> str:
        """Return the commands run, with their wall times, as a markdown list."""
        lines = [f"- `{cmd}` ({sec:.0f} s)" for cmd, sec in self.commands]
        return "\n".join(lines)


def main(
    name: str,
    description: str,
    body: Callable[[Run], tuple[str, dict[str, Any]]],
    argv: Sequence[str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> Path:
    """Run an example: parse options, work in a temporary folder, write results, publish.

    ``body(run)`` does the analysis and returns ``(markdown, numbers)``; they are written as
    ``results.md`` (with the settings, commands and wall times appended) and ``results.json``.
    """
    from gsf_infer.errors import GsfInferError
    from gsf_infer.output import artifacts

    args = parse_args(name, description, argv, extra)
    out = args.out.resolve()
    try:
        artifacts.refuse_existing_output(out, args.force)
    except GsfInferError as err:  # one line and the tool's exit code, no traceback
        sys.stderr.write(f"examples/{name}.py: {err}\n")
        raise SystemExit(err.exit_code) from None
    with artifacts.output_folder(out, force=args.force) as tmp:
        run = Run(name=name, folder=tmp, quick=args.quick, seed=args.seed, options=args)
        markdown, numbers = body(run)
        seconds = time.perf_counter() - run.started
        settings = QUICK if args.quick else FULL
        mode = "quick" if args.quick else "full"
        footer = (
            f"\n\nRun: `python examples/{name}.py{' --quick' if args.quick else ''}` ({mode}: "
            f"{settings['chains']} chains x {settings['warmup']} warm-up + {settings['draws']} "
            f"draws, seed {args.seed}), {seconds:.0f} s wall time in all. Commands (run inside "
            f"the output folder):\n\n{run.commands_table()}\n"
        )
        text = markdown.rstrip() + footer
        numbers = {
            "example": name,
            "quick": args.quick,
            "seed": args.seed,
            "sampler": settings,
            "seconds": round(seconds, 1),
            "commands": [{"command": c, "seconds": round(s, 1)} for c, s in run.commands],
            **numbers,
        }
        artifacts.write_text(text, tmp / "results.md")
        artifacts.write_json(numbers, tmp / "results.json")
    print()
    print(text)
    print(f"results written to {out}/")
    return out


def read_table(path: Path):
    """Read a records file as ``(frame, provenance)``: the table as written, and its ``#`` lines."""
    import pandas as pd

    from gsf_infer.data.records import read_records

    provenance = dict(read_records(path).provenance)
    skip = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            skip += 1
    return pd.read_csv(path, skiprows=skip), provenance


def regroup(run: Run, source: str, target: str, column: str, note: str) -> Path:
    """Copy a records table with ``group`` set to another column (e.g. one group per run).

    The provenance lines are kept and one is added, ``derived_by``, saying what changed.
    """
    from gsf_infer.output import artifacts

    frame, provenance = read_table(run.folder / source)
    frame["group"] = frame[column].astype(str)
    provenance["derived_by"] = f"examples/{run.name}.py: group = {column} ({note})"
    return artifacts.write_table(frame, run.folder / target, provenance=provenance)


# ----------------------------------------------------------------------------------------------
# formatting


def fmt(x: float | None, digits: int = 3) -> str:
    """Format a number with ``digits`` significant digits (``-`` for missing / non-finite)."""
    if x is None or not math.isfinite(float(x)):
        return "-"
    return f"{float(x):.{digits}g}"


def interval(entry: dict[str, Any] | None, digits: int = 3) -> str:
    """``mean [hdi_low, hdi_high]`` of a summary.json parameter entry."""
    if not entry:
        return "-"
    return (
        f"{fmt(entry['mean'], digits)} [{fmt(entry['hdi_low'], digits)}, "
        f"{fmt(entry['hdi_high'], digits)}]"
    )


def covers(entry: dict[str, Any] | None, value: float) -> bool | None:
    """Whether a parameter's HDI contains ``value`` (``None`` if the entry is missing)."""
    if not entry or entry.get("hdi_low") is None or entry.get("hdi_high") is None:
        return None
    return bool(entry["hdi_low"] <= value <= entry["hdi_high"])


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Format ``rows`` under ``header`` as a markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def diagnostics_note(summary: dict[str, Any]) -> str:
    """``converged`` or what went wrong (divergences, R-hat, ESS), from summary.json."""
    d = summary["diagnostics"]
    if d["converged"]:
        return "converged"
    return (
        f"NOT converged ({d['divergences']} divergences, max R-hat {fmt(d['max_r_hat'], 4)}, "
        f"min bulk ESS {fmt(d['min_ess_bulk'], 3)})"
    )
