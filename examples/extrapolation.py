"""Scale extrapolation: fit the smaller models' loss curves, predict the largest model's.

For each published table the script runs the commands a user runs: ingest the records, find
the largest model (by ``params``) and hold out all of its records,

    gsf-infer ingest colpret_opt_trajectories --out opt.csv
    gsf-infer ingest gemstones_loss_curves --option variant=hot --out gemstones.csv
    gsf-infer fit X.csv --model gsf --discrepancy none --no-check H --out X/fit_gsf_none
    gsf-infer fit X.csv --model gsf --discrepancy spectral --no-check H --out X/fit_gsf_spectral
    gsf-infer fit X.csv --model chinchilla H --out X/fit_chinchilla

with ``H`` = ``--holdout "params==P" --chains C --warmup W --draws D --seed S --quiet --force``
(``P`` the largest ``params`` of the table, written exactly; ``X`` the source's key and records
file), and reads each fit's held-out predictions:
``summary.json``'s ``holdout`` block (the rows held out and the coverage of their 94% predictive
intervals) and ``holdout.csv`` (per held-out record: ``kind``, the records file's ``line``, the
predictive ``mean``, ``median`` and 94% HDI, ``covered``), joined by ``line`` to the observed
loss. Per table and model it reports the held-out records, the coverage, the mean relative error
of the predictive median ``|median - observed| / observed``, the mean half-width of the 94%
interval relative to the observation ``(hdi_high - hdi_low) / (2 observed)``, whether the fit
converged (``summary.json``, ``diagnostics.converged``), and the fit's wall time with the
machine's 1-minute load average before it (the machine may be shared). Targets, stated in the
output: coverage >= 0.8 and mean half-width <= 3%.

The models: ``gsf`` with independent records (``--discrepancy none``), ``gsf`` with the per-run
realisation effect (``--discrepancy spectral``: a new run's realisation drawn from its marginal,
as for a run the fit has not seen), and the ``chinchilla`` law ``E + A/P^alpha + B/D^beta`` as a
baseline. The ``gsf`` fits skip the deviation model behind the invariant's verdict
(``--no-check``): only predictions are needed.

The sources: ``opt`` (``colpret_opt_trajectories``: OPT 125M-175B validation loss along
training; 175B held out) and ``gemstones`` (``gemstones_loss_curves``, ``variant=hot``: 22
transformers of 48M-2.0B parameters at constant learning rate; the 2.0B run, 3072 x 12, held
out: the next largest, 1536 x 50, has 1.92B, so this is a step of 4% in ``params``, not of
several times as for OPT).

Writes ``OUT/extrapolation.md`` (a table per source and the targets), ``OUT/extrapolation.json``
(the same numbers, per source and model, with each held-out record's error), the records files,
one folder per source with one folder per fit, and ``logs/`` (each command's output; the logs of
an earlier invocation are moved to ``logs.1``, ``logs.2``, ...). A fit whose folder holds a
``summary.json`` written by the same command on the same records (sha256, kept with its wall
time in ``<fit>.timing.json``) is not run again, so the study can be stopped and continued;
``--force`` re-ingests and refits everything. A fit that fails is reported and the others kept.

``--quick`` (the test suite): 2 chains x (150 + 150) and, per source, the largest model (all its
records held out) and three smaller models evenly spaced in the order of size, the smallest,
the middle one and the second largest (``opt``: 125M, 6.7B, 30B; ``gemstones``: 3 of 21),
every other record of each of these (the last one kept), written to ``X_quick.csv`` and fitted
from there.
Without it: every model of each table, 4 chains x (300 + 1000), the tool's defaults.

Usage::

    .venv/bin/python examples/extrapolation.py [--quick] [--sources opt,gemstones]
                                               [--discrepancies none,spectral] [--seed 0]
                                               [--force]
                                               [--out gsf-results/examples/extrapolation]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from _common import Run, diagnostics_note, fmt, read_table, table  # noqa: E402

NAME = "extrapolation"
#: The study's quick sampler (``Run.sampler`` reads it); the full run keeps the tool's defaults.
_common.QUICK = {"chains": 2, "warmup": 150, "draws": 150}
#: source key -> (ingest adapter, adapter options, records file, title)
SOURCES = {
    "opt": ("colpret_opt_trajectories", [], "opt.csv",
            "OPT training trajectories (Xia et al. 2023, via ColPret)"),
    "gemstones": ("gemstones_loss_curves", ["--option", "variant=hot"], "gemstones.csv",
                  "Gemstones loss curves, constant learning rate (McLeish et al. 2025)"),
}
#: ``--quick``: the number of smaller models fitted (evenly spaced in the order of size).
QUICK_FITTED = 3
#: Targets of the study: coverage of the 94% intervals and their mean relative half-width.
TARGET_COVERAGE = 0.8
TARGET_HALF_WIDTH = 0.03


def options(argv: list[str] | None) -> argparse.Namespace:
    """Parse the study's options."""
    parser = argparse.ArgumentParser(prog=f"examples/{NAME}.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 chains x (150 + 150), the largest model and three smaller ones "
                        "per source [default: every model, the tool's sampler defaults]")
    parser.add_argument("--sources", default="opt,gemstones",
                        help="comma-separated tables: opt, gemstones [default: both]")
    parser.add_argument("--discrepancies", default="none,spectral",
                        help="the gsf fits' --discrepancy values, any of none, spectral, gp "
                        "[default: none,spectral]")
    parser.add_argument("--seed", type=int, default=0, help="seed of every fit [default: 0]")
    parser.add_argument("--force", action="store_true",
                        help="re-ingest and refit everything [default: keep finished fits]")
    parser.add_argument("--out", type=Path, default=Path("gsf-results") / "examples" / NAME,
                        help=f"output folder [default: gsf-results/examples/{NAME}]")
    args = parser.parse_args(argv)
    aliases = {adapter: key for key, (adapter, *_rest) in SOURCES.items()}
    args.sources = [aliases.get(s.strip(), s.strip()) for s in args.sources.split(",")
                    if s.strip()]
    args.discrepancies = [d.strip() for d in args.discrepancies.split(",") if d.strip()]
    for key in args.sources:
        if key not in SOURCES:
            parser.error(f"unknown source {key!r} (known: {', '.join(SOURCES)})")
    for disc in args.discrepancies:
        if disc not in ("none", "spectral", "gp"):
            parser.error(f"unknown discrepancy {disc!r} (none, spectral, gp)")
    return args


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def records_for(run: Run, key: str, force: bool) -> tuple[str, dict[str, Any]]:
    """Ingest a source (unless done), choose the models fitted; return the fitted file, info."""
    from gsf_infer.output import artifacts

    adapter, adapter_options, records, _ = SOURCES[key]
    if force or not (run.folder / records).is_file():
        run.gsf_infer("ingest", adapter, *adapter_options, "--out", records, "--force")
    frame, provenance = read_table(run.folder / records)
    models = frame.groupby("run").agg(params=("params", "first"), records=("t", "size"))
    models = models.sort_values("params", kind="stable")
    largest = float(models["params"].max())
    held_runs = list(models.index[models["params"] == largest])
    smaller = models[models["params"] < largest]
    fitted_runs = list(smaller.index)
    data = records
    if run.quick:  # the smallest, the middle and the second largest of the smaller models
        picks = np.unique(np.round(np.linspace(0, len(smaller) - 1, QUICK_FITTED)).astype(int))
        fitted_runs = [smaller.index[i] for i in picks]
        data = f"{Path(records).stem}_quick.csv"
        keep = frame["run"].isin(held_runs)
        for name in fitted_runs:  # every other record, from the last one back
            order = frame.loc[frame["run"] == name, "t"].sort_values(kind="stable").index
            keep.loc[order[::-1][::2]] = True
        frame = frame[keep]
        prov = dict(provenance)
        prov["derived_by"] = (f"examples/{NAME}.py --quick: every record of "
                              f"{', '.join(map(str, held_runs))}; every other record (the last "
                              f"one kept) of {', '.join(map(str, fitted_runs))}")
        # the same rows give the same file (sha256): finished fits of it are kept
        artifacts.write_table(frame, run.folder / data, provenance=prov, force=True)
    info = {
        "adapter": adapter,
        "records_file": records,
        "data": data,
        "source_records": int(models["records"].sum()),
        "records": int(len(frame)),
        "runs": int(len(models)),
        "largest_params": largest,
        "held_out_runs": held_runs,
        "fitted_runs": fitted_runs,
        "largest_fitted_params": float(models.loc[fitted_runs, "params"].max()),
        "fitted_records": int(frame["run"].isin(fitted_runs).sum()),
        "held_out_records": int(frame["run"].isin(held_runs).sum()),
        # repr of a float reads back as the same float: the condition selects exactly these rows
        "holdout": f"params=={largest!r}",
    }
    return data, info


def fit(run: Run, data: str, out: str, model_args: list[str], holdout: str,
        force: bool) -> dict[str, Any]:
    """Run one holdout fit unless an identical one is finished; return its timing record."""
    args = ["fit", data, *model_args, "--holdout", holdout, *run.sampler, "--out", out,
            "--quiet", "--force"]
    stamp = run.folder / f"{out}.timing.json"
    key = {"command": args, "data_sha256": sha256(run.folder / data)}
    if not force and stamp.is_file() and (run.folder / out / "summary.json").is_file():
        done = json.loads(stamp.read_text(encoding="utf-8"))
        if {k: done.get(k) for k in key} == key:
            print(f"kept {out} (finished earlier, same command and records)", flush=True)
            return {**done, "kept": True}
    load_before = os.getloadavg()[0]
    tic = time.perf_counter()
    proc = run.gsf_infer(*args, check=False)
    record = {**key, "exit_code": proc.returncode,
              "seconds": round(time.perf_counter() - tic, 1), "load_before": load_before,
              "load_after": os.getloadavg()[0], "quick": run.quick}
    if proc.returncode == 0:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return {**record, "kept": False}


def held_out_errors(run: Run, data: str, fit_dir: str) -> list[dict[str, Any]]:
    """Each held-out record: observed value, predictive median, 94% HDI and covered."""
    import pandas as pd

    from gsf_infer.data.records import read_records

    held = pd.read_csv(run.folder / fit_dir / "holdout.csv", comment="#")
    records = read_records(run.folder / data).table.set_index("line")
    rows = []
    for h in held.itertuples(index=False):
        observed = float(records.loc[int(h.line), h.kind])  # the value column is the kind's
        rows.append({
            "line": int(h.line), "kind": h.kind, "run": str(records.loc[int(h.line), "run"]),
            "t": float(records.loc[int(h.line), "t"]), "observed": observed,
            "mean": float(h.mean), "median": float(h.median),
            "hdi_low": float(h.hdi_low), "hdi_high": float(h.hdi_high),
            "covered": None if pd.isna(h.covered) else bool(h.covered),
            "relative_error": abs(float(h.median) - observed) / observed,
            "relative_half_width": (float(h.hdi_high) - float(h.hdi_low)) / (2 * observed),
        })
    return rows


def score(run: Run, data: str, fit_dir: str, timing: dict[str, Any]) -> dict[str, Any]:
    """Score one (source, model) fit: its held-out numbers, or its failure."""
    row: dict[str, Any] = {"fit": fit_dir, "command": "gsf-infer " + shlex.join(timing["command"]),
                           "seconds": timing["seconds"], "load_before": timing["load_before"],
                           "kept": timing["kept"]}
    if not (run.folder / fit_dir / "summary.json").is_file() or timing.get("exit_code"):
        return {**row, "failed": True, "exit_code": timing.get("exit_code")}
    s = run.summary(fit_dir)
    errors = held_out_errors(run, data, fit_dir)
    rel = [e["relative_error"] for e in errors]
    half = [e["relative_half_width"] for e in errors]
    covered = [e["covered"] for e in errors if e["covered"] is not None]
    coverage = s["holdout"]["coverage"]
    mean_half = float(np.mean(half)) if half else None
    return {
        **row,
        "failed": False,
        "fitted_records": int(sum(s["data"]["records"].values())),
        "held_out_records": int(s["holdout"]["rows"]),
        "predicted_records": len(errors),
        "coverage": coverage,
        "coverage_from_table": float(np.mean(covered)) if covered else None,
        "ci_prob": s["holdout"]["ci_prob"],
        "mean_relative_error": float(np.mean(rel)) if rel else None,
        "max_relative_error": float(np.max(rel)) if rel else None,
        "mean_relative_half_width": mean_half,
        "meets_targets": bool(coverage is not None and mean_half is not None
                              and coverage >= TARGET_COVERAGE
                              and mean_half <= TARGET_HALF_WIDTH),
        "converged": bool(s["diagnostics"]["converged"]),
        "diagnostics": s["diagnostics"],
        "sampler": diagnostics_note(s),
        "per_record": errors,
    }


def study_source(run: Run, key: str, discrepancies: list[str], force: bool
                 ) -> tuple[str, dict[str, Any]]:
    """Fit one source's smaller models three ways, predict the largest; markdown and numbers."""
    data, info = records_for(run, key, force)
    models = [(f"gsf, --discrepancy {d}", f"fit_gsf_{d}",
               ["--model", "gsf", "--discrepancy", d, "--no-check"]) for d in discrepancies]
    models.append(("chinchilla", "fit_chinchilla", ["--model", "chinchilla"]))
    results, rows = {}, []
    for label, name, model_args in models:
        fit_dir = f"{key}/{name}"
        timing = fit(run, data, fit_dir, model_args, info["holdout"], force)
        r = score(run, data, fit_dir, timing)
        results[label] = r
        wall = f"{r['seconds']:.0f} ({r['load_before']:.1f})" + (" kept" if r["kept"] else "")
        if r["failed"]:
            rows.append([label, "-", "-", "-", "-", "-", "-",
                         f"FAILED (exit {r['exit_code']}; see logs/)", wall])
            continue
        rows.append([label, r["fitted_records"], r["held_out_records"], fmt(r["coverage"], 3),
                     f"{100 * r['mean_relative_error']:.2f}%",
                     f"{100 * r['mean_relative_half_width']:.2f}%",
                     "yes" if r["meets_targets"] else "no", r["sampler"], wall])
    adapter, adapter_options, _, title = SOURCES[key]
    fitted = ", ".join(map(str, info["fitted_runs"]))
    held = ", ".join(map(str, info["held_out_runs"]))
    subset = (f" `--quick`: {len(info['fitted_runs'])} of the {info['runs'] - 1} smaller models, "
              f"every other record of each, in `{data}`." if run.quick else "")
    ingest = " ".join(["gsf-infer ingest", adapter, *adapter_options])
    ratio = info["largest_params"] / info["largest_fitted_params"]
    md = f"""### {title}

- Data: `{ingest}`, {info['source_records']} losses of {info['runs']} models.{subset}
- Fitted: {fitted} ({info['fitted_records']} records; largest
  {fmt(info['largest_fitted_params'], 3)} params).
- Held out, `--holdout "{info['holdout']}"`: {held} ({info['held_out_records']} records,
  {fmt(info['largest_params'], 3)} params, {fmt(ratio, 3)}x the largest fitted model).

{table(["model", "fitted", "held out", "coverage (94%)", "mean rel. error (median)",
        "mean half-width / obs.", "targets met", "sampler", "fit s (load)"], rows)}
"""
    return md, {**info, "models": results}


def rotate_logs(folder: Path) -> None:
    """Move an earlier invocation's ``logs/`` to the first free ``logs.N``."""
    logs = folder / "logs"
    if not logs.is_dir() or not any(logs.iterdir()):
        return
    n = 1
    while (folder / f"logs.{n}").exists():
        n += 1
    logs.rename(folder / f"logs.{n}")


def main(argv: list[str] | None = None) -> int:
    """Run the study (resuming finished fits), write the tables; return 0."""
    from gsf_infer.output import artifacts

    args = options(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rotate_logs(out)
    run = Run(name=NAME, folder=out, quick=args.quick, seed=args.seed, options=args)
    settings = _common.QUICK if args.quick else _common.FULL
    sections, numbers = [], {}
    for key in args.sources:
        md, num = study_source(run, key, args.discrepancies, args.force)
        sections.append(md)
        numbers[key] = num
    seconds = time.perf_counter() - run.started
    met = [f"{key} / {label}" for key, num in numbers.items()
           for label, r in num["models"].items() if not r["failed"] and r["meets_targets"]]
    fits = [r for num in numbers.values() for r in num["models"].values()]
    kept = "\n".join(f"- `{r['command']}` ({r['seconds']:.0f} s, kept from an earlier invocation)"
                     for r in fits if r["kept"])
    commands = "\n".join(x for x in (run.commands_table(), kept) if x)
    mode = "quick" if args.quick else "full"
    command = f"python examples/{NAME}.py{' --quick' if args.quick else ''}"
    text = f"""## Scale extrapolation: fit the smaller models, predict the largest

Per source, every record of the largest model (by `params`) is held out and predicted by fits
of the smaller models' records: `gsf` with independent records (`--discrepancy none`), `gsf`
with the per-run realisation effect (`--discrepancy spectral`) and the `chinchilla` law.
"coverage": the share of held-out losses inside their 94% predictive interval (the fit's
`summary.json`, `holdout.coverage`); "mean rel. error": `|median - observed| / observed` of the
predictive median, averaged over the held-out records; "mean half-width / obs.": the 94%
interval's half-width over the observed loss, averaged. "fit s (load)": the fit's wall time and
the 1-minute load average before it ({os.cpu_count()} cores; shared machine: upper bounds).

**Targets: coverage >= {TARGET_COVERAGE} and mean half-width <= {100 * TARGET_HALF_WIDTH:.0f}%.**
Met by: {', '.join(met) if met else 'none'}.

""" + "\n".join(sections) + f"""
Run: `{command}` ({mode}: {settings['chains']} chains x {settings['warmup']} warm-up +
{settings['draws']} draws, seed {args.seed}): {seconds:.0f} s wall time for this invocation; the
fits' own wall times, kept ones included, add up to {sum(r['seconds'] for r in fits):.0f} s.
Commands (run inside the output folder):

{commands}
"""
    payload = {
        "example": NAME, "quick": args.quick, "seed": args.seed, "sampler": settings,
        "sources": args.sources, "discrepancies": args.discrepancies,
        "targets": {"coverage": TARGET_COVERAGE, "mean_relative_half_width": TARGET_HALF_WIDTH},
        "seconds": round(seconds, 1), "cores": os.cpu_count(),
        "commands": [{"command": c, "seconds": round(s, 1)} for c, s in run.commands],
        **numbers,
    }
    artifacts.write_text(text, out / "extrapolation.md", force=True)
    artifacts.write_json(payload, out / "extrapolation.json", force=True)
    print()
    print(text)
    print(f"written to {out}/ (extrapolation.md, extrapolation.json, one folder per source)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
