"""OPT training trajectories and OLMo checkpoints (via ColPret): ``chi`` per curve and pooled.

Two published tables never fitted in an example before, each fitted with the tool's default
settings and no priors file, to measure whether the fits converge as they are:

- ``gsf-infer ingest colpret_opt_trajectories``: validation perplexity (loss = ln ppl) of OPT
  125M, 1.3B, 6.7B, 13B, 30B and 175B at intermediate checkpoints, 142 points, tokens = steps x
  the batch of each size (Xia, Artetxe, Zhou, Lin, Pasunuru, Chen, Zettlemoyer, Stoyanov,
  "Training Trajectories of Language Models Across Scales", ACL 2023, arXiv:2212.09803).
- ``gsf-infer ingest colpret_olmo``: OLMo-1B, OLMo-7B and OLMo-7B-Twin-2T validation
  cross-entropy on mC4 (the adapter's default set) over training steps, 1708 points from the
  public W&B logs (Groeneveld et al., "OLMo: Accelerating the Science of Language Models",
  arXiv:2402.00838, 2024).

Both were collected in IBM ColPret (Choshen et al., arXiv:2410.11840); see each folder's
``SOURCE.md`` under ``data/``.

What a curve identifies: one loss curve at one model size identifies the learning exponent
``chi`` and the level the curve decays to, ``E`` (the irreducible loss plus that run's capacity
floor, which one size cannot separate). The per-run fits hold what one curve cannot identify
(the capacity ``K``, the frontier scale ``k_star``, and directions the data leave to the prior)
and say so in each ``summary.json``. The pooled fit (all runs of a source in one group, capacity
``K ∝ params``) sees several sizes and so also identifies ``a - 1`` (the capacity floor across
sizes), hence ``rho/b = chi/(a-1)``.

Every fit uses the tool's defaults: ``gsf-infer fit X.csv --by run`` (each curve alone) and
``gsf-infer fit X.csv`` (pooled), no ``--target-accept``, no priors file. The script reports
what converged and what did not; it does not tune.

``--quick``: the OPT table only, 2 chains x 300 + 300, one per-run fit (the 13B run, the median
size) and a pooled fit of the 13B and 30B runs (two sizes, 33 points). ``--sources`` chooses
the tables (``opt``, ``olmo`` or both, the default of a full run).

Run: ``python examples/colpret.py [--quick] [--sources opt,olmo] [--out DIR] [--force]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Run, diagnostics_note, fmt, interval, main, read_table, table  # noqa: E402

NAME = "colpret"
ROOT = Path(__file__).resolve().parents[1]
#: source key -> (ingest adapter, records file, title)
SOURCES = {
    "opt": ("colpret_opt_trajectories", "opt.csv", "OPT training trajectories (Xia et al. 2023)"),
    "olmo": ("colpret_olmo", "olmo.csv", "OLMo checkpoints, mC4 validation loss "
             "(Groeneveld et al. 2024)"),
}
#: ``--quick``: the one run fitted alone, and the runs of the pooled fit.
QUICK_RUN = "OPT-13b"
QUICK_POOLED = ("OPT-13b", "OPT-30b")
#: parameters reported per run (one curve) and pooled (several sizes)
PER_RUN = ("chi", "E")
POOLED = ("chi", "a", "rho_over_b", "E")


def extra(parser: argparse.ArgumentParser) -> None:
    """Add the example's own option, ``--sources``."""
    parser.add_argument(
        "--sources", default=None,
        help="comma-separated tables to fit: opt, olmo [default: opt,olmo; opt with --quick]",
    )


class LoadSampler:
    """Sample the machine's 1-minute load average every ``every`` seconds while running."""

    def __init__(self, every: float = 15.0) -> None:
        self.every = every
        self.values: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:
            self.values.append(os.getloadavg()[0])
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def git(*args: str) -> str:
    """Output of ``git ARGS`` in the repository (empty if git is unavailable)."""
    try:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False)
    except OSError:
        return ""
    return proc.stdout.rstrip()


def held(entry_map: dict) -> list[str]:
    """Parameters the fit held (at least half of their curvature from the hold)."""
    return sorted(n for n, e in entry_map.items() if e and (e.get("held_share") or 0.0) >= 0.5)


def worst_r_hat(summary: dict) -> tuple[str | None, float | None]:
    """Return the parameter with the largest R-hat among those not held, and that R-hat."""
    params = summary["parameters"]
    skip = set(held(params))
    best = (None, None)
    for name, entry in params.items():
        if not entry or name in skip or entry.get("r_hat") is None:
            continue
        if best[1] is None or entry["r_hat"] > best[1]:
            best = (name, float(entry["r_hat"]))
    return best


def ladder(summary: dict) -> list[str]:
    """Return the sampler's automatic reruns and extensions, as the tool wrote them."""
    actions = summary.get("automatic_actions", {}).get("gsf", [])
    return [a for a in actions if "rerun" in a or "extended" in a]


def fit_source(run: Run, key: str) -> tuple[str, dict]:
    """Ingest one source, fit each run alone and all runs pooled; return markdown and numbers."""
    from gsf_infer.output import artifacts

    adapter, records, title = SOURCES[key]
    run.gsf_infer("ingest", adapter, "--out", records)
    frame, provenance = read_table(run.folder / records)
    runs = frame.groupby("run").agg(
        params=("params", "first"), records=("t", "size"), t_min=("t", "min"),
        t_max=("t", "max"),
    ).sort_values("params", kind="stable")

    per_run_data, pooled_data, chosen = records, records, list(runs.index)
    if run.quick:
        chosen = [QUICK_RUN]
        for target, names in (("quick_run.csv", chosen), ("quick_pooled.csv", QUICK_POOLED)):
            prov = dict(provenance)
            prov["derived_by"] = f"examples/{NAME}.py --quick: the records of {', '.join(names)}"
            artifacts.write_table(frame[frame["run"].isin(names)], run.folder / target,
                                  provenance=prov)
        per_run_data, pooled_data = "quick_run.csv", "quick_pooled.csv"
    pooled_runs = list(QUICK_POOLED) if run.quick else list(runs.index)

    fit_runs, fit_pooled = f"fit_{key}_runs", f"fit_{key}_pooled"
    run.gsf_infer("fit", per_run_data, "--by", "run", *run.sampler, "--out", fit_runs,
                  "--quiet", check=False)
    per_run, rows = {}, []
    seconds_by_run = {}
    combined = run.folder / fit_runs / "summary.csv"
    if combined.is_file():
        table_csv = pd.read_csv(combined)
        seconds_by_run = dict(zip(table_csv["run"].astype(str), table_csv["seconds"], strict=True))
    for name in chosen:
        path = run.folder / fit_runs / artifacts.safe_name(name) / "summary.json"
        info = runs.loc[name]
        if not path.is_file():  # the fit of this subset failed: reported, the others kept
            per_run[name] = {"failed": True, "records": int(info["records"])}
            rows.append([name, fmt(info["params"], 3), int(info["records"]), "-", "-", "-",
                         "FAILED (no summary.json; see logs/)", "-"])
            continue
        s = run.summary(f"{fit_runs}/{artifacts.safe_name(name)}")
        p = s["parameters"]
        worst = worst_r_hat(s)
        seconds = seconds_by_run.get(name)
        per_run[name] = {
            "records": int(info["records"]),
            "params": float(info["params"]),
            **{k: p.get(k) for k in PER_RUN},
            "diagnostics": s["diagnostics"],
            "held": held(p),
            "worst_r_hat": {"parameter": worst[0], "r_hat": worst[1]},
            "ladder": ladder(s),
            "seconds": None if seconds is None else float(seconds),
        }
        rows.append([name, fmt(info["params"], 3), int(info["records"]),
                     f"{fmt(info['t_min'], 2)}-{fmt(info['t_max'], 2)}",
                     interval(p.get("chi")), interval(p.get("E")), diagnostics_note(s),
                     "-" if seconds is None else f"{seconds:.0f}"])

    tic = time.perf_counter()
    proc = run.gsf_infer("fit", pooled_data, *run.sampler, "--out", fit_pooled, "--quiet",
                         check=False)
    pooled_seconds = time.perf_counter() - tic
    pooled: dict = {"runs": pooled_runs, "records": int(frame["run"].isin(pooled_runs).sum()),
                    "seconds": round(pooled_seconds, 1), "exit_code": proc.returncode}
    if (run.folder / fit_pooled / "summary.json").is_file():
        s = run.summary(fit_pooled)
        pp = s["parameters"]
        worst = worst_r_hat(s)
        pooled.update({
            **{k: pp.get(k) for k in POOLED},
            "diagnostics": s["diagnostics"],
            "held": held(pp),
            "worst_r_hat": {"parameter": worst[0], "r_hat": worst[1]},
            "ladder": ladder(s),
        })
        pooled_row = [*(interval(pp.get(k)) for k in POOLED), diagnostics_note(s),
                      f"{pooled_seconds:.0f}"]
        pooled_held = ", ".join(f"`{h}`" for h in pooled["held"]) or "none"
    else:
        pooled["failed"] = True
        pooled_row = ["-"] * len(POOLED) + [f"FAILED (exit {proc.returncode}; see logs/)",
                                            f"{pooled_seconds:.0f}"]
        pooled_held = "-"

    fitted = [v for v in per_run.values() if not v.get("failed")]
    converged = sum(bool(v["diagnostics"]["converged"]) for v in fitted)
    runs_note = f"{len(chosen)} of {len(runs)} runs" + (f" ({', '.join(chosen)})"
                                                        if run.quick else "")
    reasons = []
    for name, v in per_run.items():
        if v.get("failed") or v["diagnostics"]["converged"]:
            continue
        d = v["diagnostics"]
        reasons.append(f"{name}: {d['divergences']} divergences, worst R-hat "
                       f"{fmt(v['worst_r_hat']['r_hat'], 4)} on `{v['worst_r_hat']['parameter']}`, "
                       f"{len(v['ladder'])} reruns/extensions")
    md = f"""### {title}

Data: `gsf-infer ingest {adapter}` — {len(frame)} losses of {len(runs)} runs
({fmt(frame['t'].min(), 2)} to {fmt(frame['t'].max(), 2)} tokens). Model `gsf`, the tool's
defaults, no priors file.

Per run (`gsf-infer fit {per_run_data} --by run`, {runs_note}); `chi` and `E` with 94% HDIs, wall
time of each fit as the tool measured it:

{table(["run", "params", "points", "tokens", "chi", "E", "sampler", "wall (s)"], rows)}

**{converged} of {len(chosen)} per-run fits converged** by the tool's criteria (no divergences,
R-hat <= 1.01, bulk ESS >= 400){'; ' + '; '.join(reasons) if reasons else ''}.

Pooled (`gsf-infer fit {pooled_data}`: {', '.join(pooled_runs)}; {pooled['records']} points,
one group, capacity `K ∝ params`):

{table([*POOLED, "sampler", "wall (s)"], [pooled_row])}

Held by the pooled fit (labelled HELD, not findings): {pooled_held}.
"""
    numbers = {
        "adapter": adapter,
        "records": int(len(frame)),
        "runs": int(len(runs)),
        "run_names": list(runs.index),
        "fitted_runs": chosen,
        "per_run": per_run,
        "per_run_converged": int(converged),
        "per_run_fitted": len(chosen),
        "pooled": pooled,
        "pooled_converged": bool(pooled.get("diagnostics", {}).get("converged", False)),
    }
    return md, numbers


def body(run: Run) -> tuple[str, dict]:
    """Fit the chosen ColPret tables and return the markdown section and numbers."""
    from gsf_infer.output import artifacts

    chosen = run.options.sources if run.options is not None else None
    keys = (chosen or ("opt" if run.quick else "opt,olmo")).split(",")
    for key in keys:
        if key not in SOURCES:
            raise SystemExit(f"examples/{NAME}.py: unknown source {key!r} (opt, olmo)")
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "gsf_infer")
    started = datetime.now(UTC)
    sections, numbers = [], {}
    with LoadSampler() as load:
        for key in keys:
            md, num = fit_source(run, key)
            sections.append(md)
            numbers[key] = num
            # each source's block as soon as it is done (kept if a later source is interrupted)
            artifacts.write_text(md, run.folder / f"results_{key}.md")
            artifacts.write_json(num, run.folder / f"results_{key}.json")
    ended = datetime.now(UTC)
    loads = load.values
    counts = "; ".join(
        f"{key}: {numbers[key]['per_run_converged']} of {numbers[key]['per_run_fitted']} per-run "
        f"fits converged, pooled "
        f"{'converged' if numbers[key]['pooled_converged'] else 'NOT converged'}"
        for key in keys
    )
    tree = ("clean" if not dirty else
            "with uncommitted changes to " + ", ".join(sorted({x[3:] for x in dirty.splitlines()})))
    md = f"""## ColPret: OPT trajectories and OLMo checkpoints, defaults, per run and pooled

Every curve fitted alone and all curves of a source pooled, with the tool's default settings
and no priors file; measured as they are, not tuned. {counts}.

Commit {commit} (working tree {tree}), {started:%Y-%m-%d %H:%M}-{ended:%H:%M} UTC, 1-minute
load average {fmt(min(loads), 2)}-{fmt(max(loads), 2)} during the run (sampled every
{load.every:.0f} s, {os.cpu_count()} cores; other jobs shared the machine, so wall times are
upper bounds).

""" + "\n".join(sections)
    numbers.update({
        "sources": keys,
        "commit": commit,
        "working_tree": tree,
        "started_utc": started.isoformat(timespec="seconds"),
        "ended_utc": ended.isoformat(timespec="seconds"),
        "load_average": {"min": min(loads), "max": max(loads), "samples": len(loads)},
    })
    return md, numbers


if __name__ == "__main__":
    main(NAME, __doc__.splitlines()[0], body, extra=extra)
