"""The benchmark of gsf-infer: one command that measures the tool and writes ``RESULTS.md``.

Usage (from the repository root, with the ``bench`` extra installed)::

    .venv/bin/python benchmarks/run.py                 # full run (tens of minutes)
    .venv/bin/python benchmarks/run.py --quick         # tiny settings: checks the script works
    .venv/bin/python benchmarks/run.py --only help,gradient --out /tmp/r.md
    .venv/bin/python benchmarks/run.py --render WORK/results.json   # report only, no runs

Sections (each records the load average of the machine at its start and end):

``fit``
    The default command ``gsf-infer fit data/example.csv --quiet`` (it fits ``gsf``, then the
    ``deviation`` model behind the invariant verdict) in a fresh process with
    ``GSF_INFER_CACHE`` pointing at an empty folder (``cold``), then again on the cache it
    filled (``warm``), ``--repeats`` times. Wall, CPU time and peak RSS of the process (from
    ``wait4``); per-model stage times from the ``timings`` of the ``summary.json`` it writes;
    persistent-cache hits and compile time from ``jax.monitoring`` listeners registered in the
    process before it calls the command line (``workers.py cli``); bulk ESS of ``chi``,
    ``rho`` (``posterior.nc``) and ``delta_over_rho`` (``posterior_deviation.nc``),
    divergences, the largest R-hat and the smallest bulk ESS over every scalar of both models,
    ESS per second. Targets: 60 s cold, 30 s warm.
``nutpie``
    The same two log densities written by hand in PyMC (``pymc_gsf.py``), first checked point by
    point against the tool's potential, then compiled and sampled by nutpie with its default
    adaptation and with its low-rank modified mass matrix, each in a fresh process with empty
    PyTensor and numba caches; the same chains, warm-up, draws and target acceptance.
``help``
    ``gsf-infer --help`` and ``gsf-infer fit --help`` start-up, median of fresh processes.
``gradient``
    One compiled value-and-gradient of the tool's potential as records grow and as the
    capacity ``K`` grows, and for ``gsf`` against ``deviation``.
``many``
    Many fits: ``gsf-infer calibrate --design small --simulations 100`` (the deviation model,
    2 chains x (300 + 300)) one simulation after the other (``--batch 1``), batched
    (``--batch B``) and on a local Dask cluster of two workers (``--batch B --workers 2``),
    each in a fresh process on a warm compilation cache; fits per hour from the wall time, the
    load average before and after each run (``--many-variants`` picks the runs).

Peak RSS of every measured process is collected into its own table. The library is never
patched: the processes run the real command line or the library's public functions
(``workers.py``). Raw numbers go to ``WORK/results.json``; ``report.py`` renders them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
WORKERS = HERE / "workers.py"
SECTIONS = ("fit", "nutpie", "help", "gradient", "many")
#: The runs of the ``many`` section: name -> options added to ``calibrate`` (``B``: the batch).
MANY_VARIANTS = {"sequential": ["--batch", "1"], "batched": ["--batch", "B"],
                 "cluster2": ["--batch", "B", "--workers", "2"],
                 "cluster2-sequential": ["--batch", "1", "--workers", "2"]}
#: The benchmarked command, as a user types it (``--out`` and quick settings are added).
FIT_COMMAND = ("fit", "data/example.csv", "--quiet")
#: nutpie's adaptations compared: its default and the low-rank modified mass matrix.
ADAPTATIONS = ("diag", "low_rank")


@dataclass
class Config:
    """Settings of one benchmark run (``--quick`` shrinks every one)."""

    quick: bool = False
    repeats: int = 3
    chains: int = 4
    warmup: int = 1000
    draws: int = 1000
    help_repeats: int = 15
    sizes: list = field(default_factory=lambda: [100, 1000, 10_000, 100_000])
    capacities: list = field(default_factory=lambda: [1e3, 1e4, 1e5, 1e6, 1e7])
    grad_repeats: int = 200
    capacity_records: int = 0
    parity_points: int = 8
    many_simulations: int = 100
    many_design: str = "small"
    many_batch: int = 8
    many_variants: list = field(default_factory=lambda: ["sequential", "batched", "cluster2"])
    work: str = ""
    sections: list = field(default_factory=lambda: list(SECTIONS))

    @classmethod
    def quick_settings(cls, **changes) -> Config:
        """Tiny settings: every section runs, in minutes, and its numbers mean nothing."""
        return cls(quick=True, repeats=1, warmup=50, draws=50, help_repeats=3, sizes=[100],
                   capacities=[1e3, 1e7], grad_repeats=10, capacity_records=100,
                   parity_points=2, many_simulations=4, many_design="tiny", many_batch=2,
                   **changes)

    def fit_extra(self) -> list[str]:
        """Options added to the default command (none in a full run)."""
        return [] if not self.quick else ["--warmup", str(self.warmup), "--draws",
                                          str(self.draws)]


# ============================================================================ processes


def log(message: str) -> None:
    """Progress line on stderr (the report goes to RESULTS.md)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    """1, 5 and 15-minute load averages."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return [float("nan")] * 3


#: Runs a command, waits for it with ``wait4`` and writes its wall, CPU and peak RSS as JSON.
#: Linux keeps a process's peak RSS across ``execve``, including that of the memory it was
#: forked (or vforked) from, so the command is started from this small interpreter rather than
#: from the benchmark's own process, whose memory would otherwise count as the command's.
LAUNCHER = """
import json, os, subprocess, sys, time
cmd, out = json.loads(sys.argv[1]), sys.argv[2]
start = time.perf_counter()
proc = subprocess.Popen(cmd)
_, status, usage = os.wait4(proc.pid, 0)
proc.returncode = os.waitstatus_to_exitcode(status)
with open(out, "w") as handle:
    json.dump({"wall": time.perf_counter() - start, "cpu": usage.ru_utime + usage.ru_stime,
               "maxrss_mb": usage.ru_maxrss / 1024, "exit": proc.returncode}, handle)
"""


def measure(cmd: list[str], env: dict | None = None, timeout: float = 7200) -> dict:
    """Run ``cmd`` from the repository root; wall, CPU and peak RSS of that one process.

    Measured by :data:`LAUNCHER` around the command alone (not the sum or maximum over every
    child of this script); the last 3,000 characters of its standard error come along.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "usage.json"
        with open(Path(tmp) / "stderr", "w+b") as err:
            proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, json.dumps(cmd), str(out)],
                                    cwd=ROOT, env={**os.environ, **(env or {})},
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the launcher's group: it and the command
                proc.wait()
                raise
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        if not out.is_file():
            raise RuntimeError(f"the launcher failed (exit {proc.returncode}):\n{stderr[-3000:]}")
        return {**json.loads(out.read_text()), "stderr_tail": stderr[-3000:]}


def run_worker(name: str, json_path: Path, args: list[str], env: dict | None = None) -> dict:
    """``workers.py name`` in a fresh process: its JSON plus ``process`` (:func:`measure`)."""
    json_path.unlink(missing_ok=True)
    proc = measure([sys.executable, str(WORKERS), name, "--json", str(json_path), *args], env)
    if proc["exit"] != 0 or not json_path.is_file():
        raise RuntimeError(f"worker {name} failed (exit {proc['exit']}):\n{proc['stderr_tail']}")
    result = json.loads(json_path.read_text())
    result["process"] = proc
    return result


def fresh(path: Path) -> Path:
    """``path`` removed if it exists (a folder the next process creates)."""
    shutil.rmtree(path, ignore_errors=True)
    return path


def machine() -> dict:
    """CPU, cores, RAM, OS, Python, package versions, git commit, date."""
    from importlib import metadata

    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return ""

    versions = {}
    for pkg in ("gsf-infer", "jax", "jaxlib", "numpyro", "arviz", "numpy", "scipy", "pymc",
                "pytensor", "nutpie", "numba"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"

    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += " (uncommitted changes)"
    mem = first("/proc/meminfo", "MemTotal")
    return {
        "cpu": first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "ram_gb": int(mem.split()[0]) / 1024**2 if mem else float("nan"),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


# ============================================================================ sections


def section_fit(cfg: Config, work: Path) -> dict:
    """Run the default command, cold then warm compilation cache, ``cfg.repeats`` times."""
    from workers import read_posterior_stats

    out: dict = {"load_start": loadavg(), "runs": []}
    for r in range(cfg.repeats):
        cache = fresh(work / f"jax-cache-{r}")
        for phase in ("cold", "warm"):
            folder = fresh(work / f"fit-{r}-{phase}")
            argv = [*FIT_COMMAND, "--out", str(folder), *cfg.fit_extra()]
            log(f"fit: repeat {r + 1}/{cfg.repeats}, {phase} cache: gsf-infer {' '.join(argv)}")
            res = run_worker("cli", work / f"fit-{r}-{phase}.json", ["--", *argv],
                             env={"GSF_INFER_CACHE": str(cache)})
            if res["exit_code"] != 0:
                raise RuntimeError(f"gsf-infer fit exited {res['exit_code']}:\n"
                                   f"{res['process']['stderr_tail']}")
            summary = json.loads((folder / "summary.json").read_text())
            res.update(
                phase=phase, repeat=r, out_dir=str(folder), argv=argv,
                timings=summary.get("timings", {}),
                models_seconds=summary.get("sampler", {}).get("seconds_total"),
                verdict=summary.get("invariant", {}).get("status"),
                cache_entries=sum(1 for p in cache.rglob("*") if p.is_file()),
                models={"gsf": read_posterior_stats(folder / "posterior.nc"),
                        "deviation": read_posterior_stats(folder / "posterior_deviation.nc")},
                load=loadavg(),
            )
            out["runs"].append(res)
            log(f"fit: {phase} {res['process']['wall']:.1f} s")
    out["load_end"] = loadavg()
    return out


def section_nutpie(cfg: Config, work: Path, fit_dir: str | None) -> dict:
    """Check parity of the log densities, then run nutpie on both models and adaptations."""
    out: dict = {"load_start": loadavg(), "runs": []}
    log("nutpie: log-density parity of the PyMC models against the tool's")
    parity_args = ["--points", str(cfg.parity_points if fit_dir else 0),
                   "--prior-points", str(3 if fit_dir else cfg.parity_points + 3)]
    out["parity"] = run_worker("parity", work / "parity.json",
                               parity_args + (["--fit-dir", fit_dir] if fit_dir else []))
    for model in ("gsf", "deviation"):
        for adaptation in ADAPTATIONS:
            tag = f"{model}-{adaptation}"
            log(f"nutpie: {model} model, {adaptation} adaptation, empty caches")
            # base_compiledir holds PyTensor's compiled modules and its numba cache
            env = {"PYTENSOR_FLAGS": f"base_compiledir={fresh(work / f'pytensor-{tag}')}",
                   "NUMBA_CACHE_DIR": str(fresh(work / f"numba-{tag}"))}
            res = run_worker("nutpie", work / f"nutpie-{tag}.json",
                             ["--model", model, "--adaptation", adaptation,
                              "--chains", str(cfg.chains), "--warmup", str(cfg.warmup),
                              "--draws", str(cfg.draws), "--seed", "0",
                              "--target-accept", "0.9"], env)
            res["load"] = loadavg()
            out["runs"].append(res)
            log(f"nutpie: {tag} {res['process']['wall']:.1f} s")
    out["load_end"] = loadavg()
    return out


def section_help(cfg: Config, work: Path) -> dict:
    """Time the command line's start-up: fresh processes, after one untimed call each."""
    exe = Path(sys.executable).with_name("gsf-infer")
    exe = exe if exe.exists() else Path(shutil.which("gsf-infer") or "gsf-infer")
    out: dict = {"load_start": loadavg(), "rows": []}
    for label, cmd in (("gsf-infer --help", [str(exe), "--help"]),
                       ("gsf-infer fit --help", [str(exe), "fit", "--help"]),
                       ("python -c pass", [sys.executable, "-c", "pass"])):
        measure(cmd)
        runs = [measure(cmd) for _ in range(cfg.help_repeats)]
        if any(r["exit"] != 0 for r in runs):
            raise RuntimeError(f"{label} failed:\n{runs[0]['stderr_tail']}")
        walls = [r["wall"] for r in runs]
        out["rows"].append({"command": label, "median": statistics.median(walls),
                            "min": min(walls), "max": max(walls), "n": len(walls),
                            "maxrss_mb": max(r["maxrss_mb"] for r in runs)})
    out["load_end"] = loadavg()
    return out


def section_gradient(cfg: Config, work: Path) -> dict:
    """Run the gradient worker in a fresh process."""
    out: dict = {"load_start": loadavg()}
    out.update(run_worker("gradient", work / "gradient.json",
                          ["--sizes", *map(str, cfg.sizes), "--capacities",
                           *map(str, cfg.capacities), "--repeats", str(cfg.grad_repeats),
                           "--capacity-records", str(cfg.capacity_records)]))
    out["load_end"] = loadavg()
    return out


def section_many(cfg: Config, work: Path) -> dict:
    """Run ``calibrate`` sequentially, batched and on two workers; wall time and fits/hour."""
    exe = Path(sys.executable).with_name("gsf-infer")
    exe = exe if exe.exists() else Path(shutil.which("gsf-infer") or "gsf-infer")
    quick = ["--chains", "1", "--warmup", "50", "--draws", "50", "--ranks", "19"]
    common = ["--design", cfg.many_design, "--quiet", *(quick if cfg.quick else [])]
    base = ["calibrate", *common, "--simulations", str(cfg.many_simulations)]
    out: dict = {"load_start": loadavg(), "runs": [], "simulations": cfg.many_simulations,
                 "design": cfg.many_design, "batch": cfg.many_batch}
    log("many: warming the compilation cache (untimed)")
    for batch in (1, cfg.many_batch):
        measure([str(exe), "calibrate", *common, "--simulations", str(batch), "--batch",
                 str(batch), "--out", str(fresh(work / "many-warm"))])
    for name in cfg.many_variants:
        extra = [str(cfg.many_batch) if a == "B" else a for a in MANY_VARIANTS[name]]
        folder = fresh(work / f"many-{name}")
        argv = [*base, *extra, "--out", str(folder)]
        log(f"many: {name}: gsf-infer {' '.join(argv)}")
        load = loadavg()
        proc = measure([str(exe), *argv])
        if proc["exit"] != 0:
            raise RuntimeError(f"calibrate exited {proc['exit']}:\n{proc['stderr_tail']}")
        summary = json.loads((folder / "calibration.json").read_text())
        out["runs"].append({"name": name, "argv": argv, "process": proc, "load_before": load,
                            "load_after": loadavg(), "ranked": summary["ranked"],
                            "errors": summary["errors"], "flagged": summary["flagged"]})
        log(f"many: {name}: {proc['wall']:.0f} s")
    out["load_end"] = loadavg()
    return out


# ============================================================================ driver


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny settings (50 + 50 iterations, one repeat, small gradient "
                        "tables): checks that every section works; its numbers mean nothing")
    p.add_argument("--repeats", type=int, default=None,
                   help="cold + warm runs of the default fit [3; 1 with --quick]")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections among {','.join(SECTIONS)} [all]")
    p.add_argument("--many-variants", default="sequential,batched,cluster2",
                   help=f"runs of the many section among {','.join(MANY_VARIANTS)} "
                        "[%(default)s]")
    p.add_argument("--many-batch", type=int, default=None,
                   help="calibrate --batch of the batched runs [8; 2 with --quick]")
    p.add_argument("--out", type=Path, default=RESULTS, help="report path [%(default)s]")
    p.add_argument("--work", type=Path, default=None,
                   help="folder for caches, fit outputs and raw results [a new temp folder]")
    p.add_argument("--render", type=Path, default=None,
                   help="only write the report from the results.json of an earlier run")
    return p.parse_args(argv)


def run(cfg: Config) -> dict:
    """Run the selected sections; the raw results."""
    work = Path(cfg.work)
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results: dict = {"config": asdict(cfg), "machine": machine(), "load_start": loadavg(),
                     "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
                     "sections": {}}
    log(f"work folder {work}; load {results['load_start']}")
    sections = results["sections"]
    if "help" in cfg.sections:
        log("help")
        sections["help"] = section_help(cfg, work)
    if "gradient" in cfg.sections:
        log("gradient")
        sections["gradient"] = section_gradient(cfg, work)
    if "fit" in cfg.sections:
        sections["fit"] = section_fit(cfg, work)
    if "nutpie" in cfg.sections:
        fit_dir = sections["fit"]["runs"][0]["out_dir"] if "fit" in sections else None
        sections["nutpie"] = section_nutpie(cfg, work, fit_dir)
    if "many" in cfg.sections:
        sections["many"] = section_many(cfg, work)
    results["load_end"] = loadavg()
    results["elapsed"] = time.time() - started
    return results


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or only render an earlier run) and write the report."""
    args = parse(argv)
    sys.path.insert(0, str(HERE))
    import report

    if args.render:
        results = json.loads(args.render.read_text())
    else:
        only = [s for s in args.only.split(",") if s]
        unknown = sorted(set(only) - set(SECTIONS))
        if unknown:
            raise SystemExit(f"unknown section(s): {', '.join(unknown)}; "
                             f"known: {', '.join(SECTIONS)}")
        work = args.work or Path(tempfile.mkdtemp(prefix="gsf-bench-"))
        changes = {"work": str(work), "sections": only}
        cfg = Config.quick_settings(**changes) if args.quick else Config(**changes)
        if args.repeats:
            cfg.repeats = args.repeats
        cfg.many_variants = [v for v in args.many_variants.split(",") if v]
        unknown = sorted(set(cfg.many_variants) - set(MANY_VARIANTS))
        if unknown:
            raise SystemExit(f"unknown --many-variants: {', '.join(unknown)}")
        if args.many_batch:
            cfg.many_batch = args.many_batch
        results = run(cfg)
        raw = work / "results.json"
        raw.write_text(json.dumps(results, indent=1, default=float))
        log(f"raw results: {raw}")
    text = report.render(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
