"""The benchmark suite of SPEC §9 (issue 8): one command, writes ``benchmarks/RESULTS.md``.

Usage (from the repository root, with the ``bench`` extra installed)::

    .venv/bin/python benchmarks/run.py             # full run, medians of 3 repeats (long)
    .venv/bin/python benchmarks/run.py --quick     # smoke test of every item (short chains)
    .venv/bin/python benchmarks/run.py --repeats 5 --only help,gradient

Items (each states its target, the measured value, met / not met, and what limits it):

1. ``gsf-infer fit data/example.csv`` (4 chains x 1000 warm-up + 1000 draws, the default
   command, which fits the ``gsf`` model and then the ``free`` model behind the invariant
   check): wall time of the command, and per model the split prior / MAP + Laplace /
   compilation / NUTS iterations, ESS per second of ``chi`` and ``rho``; a profile run that
   splits NUTS warm-up from sampling (leapfrog steps per iteration in each phase);
2. the same log density hand-written in PyMC (``benchmarks/pymc_gsf.py``) and sampled by
   nutpie with the same data, priors, tier and settings, in the same run: ESS per second ratio,
   after checking that the two log densities agree point by point and that the posteriors agree
   within Monte Carlo error;
3. the same command again with JAX's persistent compilation cache warm (start-up cold vs warm);
4. ``gsf-infer --help`` start-up (median of repeated subprocesses);
5. one value-and-gradient of the full model's log density as records grow (10^2 ... 10^5) and
   as the capacity ``K`` grows (10^3 ... 10^7);
6. peak memory (maximum resident set size) of each measured process.

Every measurement runs in a fresh subprocess of this script (``--worker ...``), so imports,
compilation and memory are those of a real invocation. Timings inside a fit come from outside
the library: ``jax.monitoring`` time spans of every JAX compilation, and wrappers around
``gsf_infer.workflow.run_model`` / ``gsf_infer.inference.sample`` installed in the worker
process only (the library is not modified). Load on the machine inflates every number: the
load average is recorded next to each section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLE = ROOT / "data" / "example.csv"
RESULTS = HERE / "RESULTS.md"
SECTIONS = ("help", "gradient", "fit", "profile", "nutpie")
#: Variables compared between the two samplers (posterior means within Monte Carlo error).
COMPARED = ("a", "b", "m", "n", "chi", "rho", "gamma", "rho_over_b", "k_star", "K", "E")
#: Exponents (for the worst ESS and R-hat of a fit).
EXPONENTS = ("a", "b", "m", "n", "chi", "rho", "gamma", "rho_over_b")
#: Variables whose ESS per second is the headline (SPEC §9).
HEADLINE = ("chi", "rho")

T_START = time.time()


# ============================================================================ small helpers


def log(message: str) -> None:
    """Progress line on stderr (the report goes to RESULTS.md)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    """1, 5 and 15-minute load averages."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return [float("nan")] * 3


def median(values: list[float]) -> float:
    """Median of finite values (NaN when there are none)."""
    values = [v for v in values if v is not None and v == v]
    return statistics.median(values) if values else float("nan")


def merged_seconds(spans: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Length of the union of ``spans`` clipped to ``[lo, hi]`` (nested spans count once)."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in spans if b > lo and a < hi)
    total, cur_a, cur_b = 0.0, None, None
    for a, b in clipped:
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        total += cur_b - cur_a
    return total


def machine() -> dict:
    """CPU model, cores, RAM, OS, Python and package versions, git commit."""
    from importlib import metadata

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    ram_gb = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = int(line.split()[1]) / 1024**2
    except OSError:
        pass
    versions = {}
    for pkg in ("gsf-infer", "jax", "jaxlib", "numpyro", "arviz", "numpy", "scipy", "pymc",
                "pytensor", "nutpie", "numba"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        commit += " (uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "cpu": cpu or "unknown",
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def run_worker(name: str, json_path: Path, args: list[str], env: dict | None = None,
               timeout: float = 7200) -> dict:
    """Run ``run.py --worker name`` in a fresh process; its JSON plus the parent's timings."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
           "--json", str(json_path), *args]
    full_env = dict(os.environ)
    full_env.update(env or {})
    launched = time.time()
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=full_env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not json_path.is_file():
        raise RuntimeError(
            f"worker {name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    result = json.loads(json_path.read_text())
    result["parent_wall"] = wall
    result["launched"] = launched
    result["stderr_tail"] = proc.stderr[-2000:]
    return result


# ============================================================================ workers


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far (all threads)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _sample_stats_summary(dt) -> dict:
    """Leapfrog steps, tree-depth saturation, step size, divergences of a fit's draws."""
    import numpy as np

    stats = dt["sample_stats"]
    out = {}
    if "n_steps" in stats.data_vars:
        steps = np.asarray(stats["n_steps"], dtype=float)
        out["steps_mean"] = float(steps.mean())
        out["steps_median"] = float(np.median(steps))
        out["steps_total"] = float(steps.sum())
        # NUTS with max_tree_depth 10 stops at 2^10 - 1 leapfrog steps
        out["frac_max_depth"] = float(np.mean(steps >= 1023))
    if "step_size" in stats.data_vars:
        out["step_size_mean"] = float(np.asarray(stats["step_size"]).mean())
    if "acceptance_rate" in stats.data_vars:
        out["accept_mean"] = float(np.asarray(stats["acceptance_rate"]).mean())
    if "diverging" in stats.data_vars:
        out["divergences"] = int(np.asarray(stats["diverging"]).sum())
    return out


def _posterior_summary(post, names) -> dict:
    """Mean, sd, MCSE of the mean, bulk and tail ESS, R-hat of scalar variables."""
    import numpy as np

    import numpyro  # noqa: F401  (before arviz: STACK.md)
    import arviz as az

    out = {}
    for name in names:
        if name not in post.data_vars:
            continue
        da = post[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if extra:  # free model: one entry per copy
            for coord in da[extra[0]].values:
                sub = da.sel({extra[0]: coord})
                if np.all(np.isfinite(sub.values)):
                    out[f"{name}[{coord}]"] = _one_summary(az, sub)
        else:
            out[name] = _one_summary(az, da)
    return out


def _one_summary(az, da) -> dict:
    import numpy as np

    values = np.asarray(da.values, dtype=float)
    ds = da.to_dataset(name="x")
    return {
        "mean": float(values.mean()),
        "sd": float(values.std()),
        "mcse_mean": float(np.asarray(az.mcse(ds, method="mean")["x"])),
        "ess_bulk": float(np.asarray(az.ess(ds, method="bulk")["x"])),
        "ess_tail": float(np.asarray(az.ess(ds, method="tail")["x"])),
        "r_hat": float(np.asarray(az.rhat(ds)["x"])),
    }


def worker_fit(args: argparse.Namespace) -> dict:
    """Run the real ``gsf-infer fit`` command in this process, timed from outside.

    Installs (in this process only) a ``jax.monitoring`` listener for the time span of every
    compilation, and wrappers around ``workflow.run_model`` and ``inference.sample`` that
    record when each model's stages ran. With ``--split-warmup``, ``MCMC.run`` runs the warm-up
    and the sampling phase as two calls (numpyro's own ``MCMC.warmup``), to time them
    separately and count warm-up leapfrog steps (this compiles the chain program twice, so the
    profile's total is not the command's).
    """
    import resource

    from gsf_infer import runtime

    spans: list[tuple[str, float, float]] = []
    events: dict[str, int] = {}
    saved: list[float] = []
    calls: list[dict] = []
    phases: list[dict] = []
    orig_configure = runtime.configure

    def configure(*a, **k):
        orig_configure(*a, **k)
        import jax.monitoring as mon

        if not getattr(configure, "done", False):
            mon.register_event_time_span_listener(
                lambda event, start, end, **kw: spans.append((event, start, end))
            )

            def count(event, **kw):
                events[event] = events.get(event, 0) + 1

            mon.register_event_listener(count)

            def duration(event, secs, **kw):
                if event == "/jax/compilation_cache/compile_time_saved_sec":
                    saved.append(secs)

            mon.register_event_duration_secs_listener(duration)
            configure.done = True

    runtime.configure = configure

    import gsf_infer.inference as inference
    import gsf_infer.workflow as workflow

    orig_run_model, orig_sample = workflow.run_model, inference.sample
    sample_starts: list[float] = []
    steps: list[dict] = []  # wall/CPU of the library's steps, in call order

    def timed(name, fn):
        def inner(*a, **k):
            w0, c0 = time.time(), time.process_time()
            out = fn(*a, **k)
            steps.append({"name": name, "start": w0, "end": time.time(),
                          "cpu": time.process_time() - c0})
            return out

        return inner

    orig_find_optima = inference.find_optima

    def find_optima(value_and_grad, starts, *a, **k):
        calls_vg = [0]

        def counted(z):
            calls_vg[0] += 1
            return value_and_grad(z)

        out = orig_find_optima(counted, starts, *a, **k)
        steps.append({"name": "map_counts", "starts": int(len(starts)),
                      "gradient_calls": calls_vg[0], "optima": len(out)})
        return out

    inference.find_optima = timed("find_optima", find_optima)
    inference.laplace_factor = timed("laplace_factor", inference.laplace_factor)
    inference.draw_prior = timed("draw_prior", inference.draw_prior)

    def sample(model, config):
        sample_starts.append(time.time())
        c0 = time.process_time()
        out = orig_sample(model, config)
        steps.append({"name": "sample", "start": sample_starts[-1], "end": time.time(),
                      "cpu": time.process_time() - c0, "cpu_end": time.process_time()})
        return out

    from numpyro.infer import MCMC

    orig_mcmc_run = MCMC.run

    def mcmc_run(self, *a, **k):
        if not getattr(self, "_bench_recorded", False):  # once per MCMC (warm-up split)
            self._bench_recorded = True
            steps.append({"name": "mcmc_run", "start": time.time(),
                          "cpu_start": time.process_time()})
        return orig_mcmc_run(self, *a, **k)

    MCMC.run = mcmc_run

    def run_model(records, *, settings, **kw):
        start, c0 = time.time(), time.process_time()
        first = len(steps)
        dt, info = orig_run_model(records, settings=settings, **kw)
        end = time.time()
        mine = steps[first:]
        by_name = {st["name"]: st for st in mine}
        nuts_cpu = by_name["sample"]["cpu_end"] - by_name["mcmc_run"]["cpu_start"]
        names = ("a", "b", "m", "n", "chi", "rho", "gamma", "rho_over_b", "k_star", "K", "E")
        calls.append({
            "model": settings.model,
            "start": start,
            "end": end,
            "sample_start": sample_starts[-1],
            "seconds": dict(info["seconds"]),
            "stats": _sample_stats_summary(dt),
            "posterior": _posterior_summary(dt["posterior"], names),
            "cpu": {
                "total": time.process_time() - c0,
                "prior": by_name["draw_prior"]["cpu"],
                "optimize": by_name["find_optima"]["cpu"] + by_name["laplace_factor"]["cpu"],
                "nuts_and_postprocess": nuts_cpu,
            },
            "map": {k: v for k, v in by_name["map_counts"].items() if k != "name"},
        })
        return dt, info

    inference.sample = sample
    workflow.run_model = run_model

    if args.split_warmup:
        import jax
        orig_run = MCMC.run

        def split_run(self, rng_key, *a, extra_fields=(), init_params=None, **k):
            if getattr(self, "_bench_inside", False) or self._warmup_state is not None:
                return orig_run(self, rng_key, *a, extra_fields=extra_fields,
                                init_params=init_params, **k)
            self._bench_inside = True
            t0 = time.time()
            self.warmup(rng_key, *a, extra_fields=extra_fields, collect_warmup=True,
                        init_params=init_params, **k)
            warm = self.get_extra_fields(group_by_chain=True)
            jax.block_until_ready(warm)
            t1 = time.time()
            import numpy as np

            wsteps = np.asarray(warm["num_steps"], dtype=float)
            self._bench_inside = False
            orig_run(self, rng_key, *a, extra_fields=extra_fields, init_params=init_params, **k)
            jax.block_until_ready(self.get_samples())
            t2 = time.time()
            phases.append({
                "warmup_window": [t0, t1],
                "sampling_window": [t1, t2],
                "warmup_steps_mean": float(wsteps.mean()),
                "warmup_steps_total": float(wsteps.sum()),
                "warmup_frac_max_depth": float(np.mean(wsteps >= 1023)),
                "warmup_divergences": int(np.asarray(warm["diverging"]).sum()),
                "warmup_steps_by_quarter": [
                    float(q.mean()) for q in np.array_split(wsteps, 4, axis=1)
                ],
            })

        MCMC.run = split_run

    from gsf_infer.cli import main

    argv = ["gsf-infer", "fit", str(args.data), "--out", str(args.out), "--force", "--quiet",
            "--chains", str(args.chains), "--warmup", str(args.warmup), "--draws",
            str(args.draws), "--seed", str(args.seed), *args.fit_args.split()]
    sys.argv = argv
    code = 0
    try:
        main()
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    end = time.time()
    for call in calls:
        lo = call["sample_start"]
        bounds = {}
        for stage in ("prior", "optimize", "sampling", "postprocess"):
            hi = lo + call["seconds"].get(stage, 0.0)
            bounds[stage] = (lo, hi)
            lo = hi
        bounds["before_sample"] = (call["start"], call["sample_start"])
        bounds["after_sample"] = (bounds["postprocess"][1], call["end"])
        comp = [(a, b) for _, a, b in spans]
        call["compile_by_stage"] = {k: merged_seconds(comp, a, b) for k, (a, b) in bounds.items()}
        s_lo, s_hi = bounds["sampling"]
        inside = [b for _, a, b in spans if s_lo <= a <= s_hi]
        # the chains start iterating once the last compilation inside the NUTS stage ends
        call["nuts_iter_start"] = max(inside) if inside else s_lo
        call["nuts_window"] = [s_lo, s_hi]
    for phase in phases:
        comp = [(a, b) for _, a, b in spans]
        phase["warmup_compile"] = merged_seconds(comp, *phase["warmup_window"])
        phase["sampling_compile"] = merged_seconds(comp, *phase["sampling_window"])
    comp_all = [(a, b) for _, a, b in spans]
    return {
        "exit_code": code,
        "t_start": T_START,
        "t_end": end,
        "calls": calls,
        "phases": phases,
        "compile_total": merged_seconds(comp_all, T_START, end),
        "compile_events": len(spans),
        "cache_events": events,
        "compile_time_saved": float(sum(saved)),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_s": _cpu_seconds(),
        "argv": argv,
    }


def worker_nutpie(args: argparse.Namespace) -> dict:
    """Build the PyMC model, compile it with nutpie (numba) and sample; times and summaries."""
    import resource

    t0 = time.time()
    import numpy as np
    import pymc  # noqa: F401
    import nutpie

    sys.path.insert(0, str(HERE))
    import pymc_gsf

    from gsf_infer.dataset import build_model_data
    from gsf_infer.records import read_records

    t_import = time.time()
    data = build_model_data(read_records(args.data))
    model = pymc_gsf.build_pymc_model(data)
    t_build = time.time()
    compiled = nutpie.compile_pymc_model(model)
    t_compile = time.time()
    cores = args.cores or os.cpu_count()
    trace = nutpie.sample(
        compiled, draws=args.draws, tune=args.warmup, chains=args.chains, cores=cores,
        seed=args.seed, target_accept=args.target_accept, maxdepth=10, progress_bar=False,
        save_warmup=True,
    )
    t_sample = time.time()
    stats = trace["sample_stats"]
    steps = np.asarray(stats["n_steps"], dtype=float)
    out_stats = {
        "steps_mean": float(steps.mean()),
        "steps_median": float(np.median(steps)),
        "steps_total": float(steps.sum()),
        "frac_max_depth": float(np.mean(steps >= 1023)),
        "divergences": int(np.asarray(stats["diverging"]).sum()),
        "step_size_mean": float(np.asarray(stats["step_size"]).mean()),
    }
    if "warmup_sample_stats" in trace.children:
        wsteps = np.asarray(trace["warmup_sample_stats"]["n_steps"], dtype=float)
        out_stats["warmup_steps_mean"] = float(wsteps.mean())
        out_stats["warmup_steps_total"] = float(wsteps.sum())
        out_stats["warmup_frac_max_depth"] = float(np.mean(wsteps >= 1023))
        out_stats["warmup_divergences"] = int(
            np.asarray(trace["warmup_sample_stats"]["diverging"]).sum()
        )
    posterior = _posterior_summary(trace["posterior"], COMPARED)
    # cost of one log density + gradient of nutpie's compiled (numba) function, one thread,
    # called from Python (adds the call overhead of a PyTensor function, some µs)
    grad_ms = float("nan")
    try:
        fn = compiled.logp_func
        x = np.asarray(compiled.initial_point_func(0), dtype=float)
        fn(x)
        times = []
        for _ in range(args.grad_repeats):
            start = time.perf_counter()
            fn(x)
            times.append(1e3 * (time.perf_counter() - start))
        grad_ms = float(np.median(times))
    except Exception as err:  # nutpie internals: never fail the run on them
        log(f"nutpie gradient timing unavailable: {type(err).__name__}: {err}")
    return {
        "seconds": {
            "import": t_import - t0,
            "build": t_build - t_import,
            "compile": t_compile - t_build,
            "sample": t_sample - t_compile,
        },
        "t_start": T_START,
        "stats": out_stats,
        "posterior": posterior,
        "grad_ms": grad_ms,
        "cores": cores,
        "n_dim": int(compiled.n_dim),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_s": _cpu_seconds(),
    }


def _synthetic_frame(n_records: int, seed: int = 0):
    """``n_records`` records with the example's mix of kinds, resampled and jittered.

    Rows are drawn from ``data/example.csv`` kind by kind (in the example's proportions) and
    their observed values multiplied by ``exp(1e-3 z)`` so that no two rows are identical.
    Cost per gradient depends on the records' number and kinds, not on their values.
    """
    import numpy as np
    import pandas as pd

    from gsf_infer.schema import KIND_SPECS

    table = pd.read_csv(EXAMPLE, comment="#")
    rng = np.random.default_rng(seed)
    counts = table["kind"].value_counts()
    parts = []
    for kind, count in counts.items():
        want = max(int(round(n_records * count / len(table))), 6)
        sub = table[table["kind"] == kind]
        rows = sub.iloc[rng.integers(0, len(sub), size=want)].copy()
        col = KIND_SPECS[kind].observed
        rows[col] = rows[col] * np.exp(1e-3 * rng.standard_normal(want))
        if kind == "spectrum" and "target_power" in rows:
            rows["target_power"] = rows["target_power"] * np.exp(1e-3 * rng.standard_normal(want))
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def _time_grads(fns_points: list[tuple], repeats: int) -> list[dict]:
    """Compile each ``(value_and_grad, z)``, then time them round-robin, ``repeats`` rounds.

    Interleaving the rows spreads load fluctuations of a shared machine over all of them
    instead of biasing whichever row ran during a busy spell.
    """
    import jax
    import numpy as np

    out = []
    for vg, z in fns_points:
        start = time.perf_counter()
        value, grad = vg(z)
        jax.block_until_ready((value, grad))
        out.append({
            "first_call_s": time.perf_counter() - start,
            "finite": bool(np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))),
            "times": [],
        })
    for _ in range(repeats):
        for (vg, z), row in zip(fns_points, out, strict=True):
            start = time.perf_counter()
            jax.block_until_ready(vg(z))
            row["times"].append(1e3 * (time.perf_counter() - start))
    for row in out:
        times = row.pop("times")
        row.update({
            "median_ms": statistics.median(times),
            "p10_ms": float(np.percentile(times, 10)),
            "p90_ms": float(np.percentile(times, 90)),
            "min_ms": float(np.min(times)),
        })
    return out


def worker_gradient(args: argparse.Namespace) -> dict:
    """Cost of one value-and-gradient of the full model's potential (records, K, models)."""
    import resource

    from gsf_infer import runtime

    runtime.configure(host_devices=1, x64=True, cache=False)
    import jax
    import jax.numpy as jnp
    import numpy as np

    from gsf_infer.dataset import build_model_data
    from gsf_infer.inference import draw_prior, model_functions
    from gsf_infer.model import ModelSettings, build_model
    from gsf_infer.priors import PriorSet
    from gsf_infer.records import read_records, records_from_frame

    def functions(records, model="gsf"):
        data = build_model_data(records)
        fns = model_functions(build_model(data, ModelSettings(model=model), PriorSet()))
        prior, _ = draw_prior(fns, jax.random.key(0), 200)
        z = np.asarray(jax.vmap(fns.unconstrain)({k: jnp.asarray(prior[k])
                                                   for k in fns.supports}))
        return data, fns, np.median(z, axis=0)

    jobs, rows_n = [], []
    for n in args.sizes:
        records = records_from_frame(_synthetic_frame(int(n)), path=f"<{int(n)} records>")
        data, fns, z = functions(records)
        jobs.append((jax.jit(jax.value_and_grad(fns.potential)), jnp.asarray(z)))
        rows_n.append({"records": data.n_records, "dim": fns.dim})
    for row, r in zip(rows_n, _time_grads(jobs, args.grad_repeats), strict=True):
        row.update(r)
        log(f"gradient: {row['records']} records {row['median_ms']:.2f} ms")

    records = read_records(EXAMPLE)
    data, fns, z = functions(records)
    k_index = sorted(fns.supports).index("K")  # ravel_pytree order: sorted site names
    vg = jax.jit(jax.value_and_grad(fns.potential))
    jobs, rows_k = [], []
    for K in args.capacities:
        zk = np.array(z)
        zk[k_index] = np.log(K)
        jobs.append((vg, jnp.asarray(zk)))
        rows_k.append({"K": K, "records": data.n_records})
    for row, r in zip(rows_k, _time_grads(jobs, args.grad_repeats), strict=True):
        row.update(r)
        log(f"gradient: K={row['K']:.0e} {row['median_ms']:.2f} ms")
    jobs, models = [], []
    for model in ("gsf", "free"):
        data, fns, z = functions(records, model)
        jobs.append((jax.jit(jax.value_and_grad(fns.potential)), jnp.asarray(z)))
        models.append({"model": model, "dim": fns.dim, "records": data.n_records})
    for row, r in zip(models, _time_grads(jobs, args.grad_repeats), strict=True):
        row.update(r)
    return {
        "records": rows_n,
        "capacity": rows_k,
        "models": models,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def worker_parity(args: argparse.Namespace) -> dict:
    """Log density and gradient of the PyMC model against numpyro's at posterior draws."""
    from gsf_infer import runtime

    runtime.configure(host_devices=1, x64=True, cache=False)
    import jax
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, str(HERE))
    import pymc_gsf

    from gsf_infer.dataset import build_model_data
    from gsf_infer.inference import draw_prior, model_functions
    from gsf_infer.model import ModelSettings, build_model
    from gsf_infer.priors import PriorSet
    from gsf_infer.records import read_records
    from gsf_infer.workflow import load_fit

    data = build_model_data(read_records(args.data))
    fns = model_functions(build_model(data, ModelSettings(), PriorSet()))
    dt = load_fit(args.fit_dir)
    post = dt["posterior"]
    rng = np.random.default_rng(0)
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    points = []
    for _ in range(args.points):
        c, d = int(rng.integers(n_chain)), int(rng.integers(n_draw))
        values = {k: jnp.asarray(np.asarray(post[k].values[c, d], dtype=float))
                  for k in fns.supports}
        points.append(np.asarray(fns.unconstrain(values)))
    prior, _ = draw_prior(fns, jax.random.key(1), 3)
    for i in range(3):
        points.append(np.asarray(fns.unconstrain({k: jnp.asarray(prior[k][i])
                                                  for k in fns.supports})))
    model = pymc_gsf.build_pymc_model(data)
    result = pymc_gsf.check_logp(model, fns, np.stack(points))
    result["posterior_points"] = args.points
    result["prior_points"] = 3
    return result


WORKERS = {
    "fit": worker_fit,
    "nutpie": worker_nutpie,
    "gradient": worker_gradient,
    "parity": worker_parity,
}


# ============================================================================ sections


def section_help(cfg) -> dict:
    """``gsf-infer --help`` and ``gsf-infer fit --help`` wall times (fresh processes)."""
    exe = Path(sys.executable).with_name("gsf-infer")
    if not exe.exists():
        exe = Path(shutil.which("gsf-infer") or "gsf-infer")
    out = {"load_before": loadavg(), "exe": str(exe)}
    for label, argv in (("help", ["--help"]), ("fit_help", ["fit", "--help"])):
        subprocess.run([str(exe), *argv], capture_output=True, check=True)  # warm the OS cache
        times = []
        for _ in range(cfg.help_repeats):
            start = time.perf_counter()
            subprocess.run([str(exe), *argv], capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        out[label] = {"median": median(times), "min": min(times), "max": max(times),
                      "n": len(times)}
    # python -c pass: the interpreter's own floor
    times = []
    for _ in range(cfg.help_repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    out["python_floor"] = median(times)
    out["load_after"] = loadavg()
    return out


def section_gradient(cfg) -> dict:
    """Worker ``gradient`` in a fresh process."""
    out = {"load_before": loadavg()}
    args = ["--sizes", *map(str, cfg.sizes), "--capacities", *map(str, cfg.capacities),
            "--grad-repeats", str(cfg.grad_repeats)]
    out.update(run_worker("gradient", cfg.work / "gradient.json", args))
    out["load_after"] = loadavg()
    return out


def _fit_args(cfg, out_dir: Path, extra: list[str] | None = None) -> list[str]:
    return ["--data", str(EXAMPLE), "--out", str(out_dir), "--chains", str(cfg.chains),
            "--warmup", str(cfg.warmup), "--draws", str(cfg.draws), "--seed", "0",
            *([f"--fit-args={' '.join(extra)}"] if extra else [])]


def section_fit(cfg) -> dict:
    """Default ``fit`` cold (empty compilation cache), then warm (same cache), per repeat."""
    out = {"load_before": loadavg(), "cold": [], "warm": []}
    for r in range(cfg.repeats):
        cache = cfg.work / f"jax-cache-{r}"
        shutil.rmtree(cache, ignore_errors=True)
        env = {"GSF_INFER_CACHE": str(cache)}
        for phase in ("cold", "warm"):
            log(f"fit: repeat {r + 1}/{cfg.repeats}, {phase} cache")
            res = run_worker("fit", cfg.work / f"fit-{phase}-{r}.json",
                             _fit_args(cfg, cfg.work / f"fit-{phase}-{r}"), env=env)
            res["load"] = loadavg()
            res["out_dir"] = str(cfg.work / f"fit-{phase}-{r}")
            out[phase].append(res)
            log(f"fit: {phase} {res['parent_wall']:.1f} s (load {res['load'][0]})")
    out["load_after"] = loadavg()
    return out


def section_profile(cfg) -> dict:
    """One run per model with NUTS warm-up and sampling timed separately."""
    out = {"load_before": loadavg(), "runs": {}}
    for model, extra in (("gsf", ["--no-check"]), ("free", ["--model", "free"])):
        if model not in cfg.profile_models:
            continue
        log(f"profile: {model}")
        env = {"GSF_INFER_CACHE": str(cfg.work / f"jax-cache-profile-{model}")}
        res = run_worker("fit", cfg.work / f"profile-{model}.json",
                         [*_fit_args(cfg, cfg.work / f"profile-{model}", extra),
                          "--split-warmup"], env=env)
        res["load"] = loadavg()
        out["runs"][model] = res
    out["load_after"] = loadavg()
    return out


def section_nutpie(cfg, fit_dir: str | None) -> dict:
    """PyMC + nutpie, cold (fresh PyTensor/numba caches) then warm, per repeat; parity check."""
    out = {"load_before": loadavg(), "cold": [], "warm": []}
    args = ["--data", str(EXAMPLE), "--chains", str(cfg.chains), "--warmup", str(cfg.warmup),
            "--draws", str(cfg.draws), "--target-accept", "0.9"]
    for r in range(cfg.repeats):
        compiledir = cfg.work / f"pytensor-{r}"
        shutil.rmtree(compiledir, ignore_errors=True)
        env = {"PYTENSOR_FLAGS": f"compiledir={compiledir}",
               "NUMBA_CACHE_DIR": str(cfg.work / f"numba-{r}")}
        for phase in ("cold", "warm") if r == 0 else ("cold",):
            log(f"nutpie: repeat {r + 1}/{cfg.repeats}, {phase} caches")
            res = run_worker("nutpie", cfg.work / f"nutpie-{phase}-{r}.json",
                             [*args, "--seed", str(r)], env=env)
            res["load"] = loadavg()
            out[phase].append(res)
            log(f"nutpie: {phase} {res['parent_wall']:.1f} s")
    if fit_dir is not None:
        log("nutpie: log-density parity check against numpyro")
        out["parity"] = run_worker(
            "parity", cfg.work / "parity.json",
            ["--data", str(EXAMPLE), "--fit-dir", fit_dir, "--points", "8"],
        )
    out["load_after"] = loadavg()
    return out


# ============================================================================ report


def _fmt(x, digits: int = 1, unit: str = "") -> str:
    if x is None or x != x:
        return "—"
    if abs(x) >= 100 or digits == 0:
        return f"{x:,.0f}{unit}"
    return f"{x:.{digits}f}{unit}"


def _met(ok: bool | None) -> str:
    return "—" if ok is None else ("**met**" if ok else "**not met**")


def _call(res: dict, model: str) -> dict | None:
    return next((c for c in res.get("calls", []) if c["model"] == model), None)


def _fit_numbers(res: dict, model: str) -> dict | None:
    """Per-model numbers of one fit worker result."""
    c = _call(res, model)
    if c is None:
        return None
    s = c["seconds"]
    comp = c["compile_by_stage"]
    nuts = s.get("sampling", float("nan"))
    nuts_exec = nuts - comp.get("sampling", 0.0)
    wall = c["end"] - c["start"]
    ess = {}
    for name in HEADLINE:
        entry = c["posterior"].get(name)
        if entry is None and model == "free":  # free model: the copy the invariant uses
            entry = c["posterior"].get(f"{name}[loss]")
        ess[name] = entry["ess_bulk"] if entry else float("nan")
    compile_model = sum(comp.values())
    return {
        "wall": wall,
        "before_sample": c["sample_start"] - c["start"],
        "prior": s.get("prior", float("nan")),
        "optimize": s.get("optimize", float("nan")),
        "nuts": nuts,
        "nuts_compile": comp.get("sampling", 0.0),
        "nuts_exec": nuts_exec,
        "postprocess": s.get("postprocess", float("nan")) + (c["end"] - c["start"]
                                                               - (c["sample_start"] - c["start"])
                                                               - sum(s.values())),
        "compile": compile_model,
        "compile_optimize": comp.get("optimize", 0.0),
        "compile_prior": comp.get("prior", 0.0) + comp.get("before_sample", 0.0),
        "ess": ess,
        "ess_min": min(ess.values()),
        "ess_per_s_wall": min(ess.values()) / wall,
        "ess_per_s_nuts": min(ess.values()) / nuts_exec if nuts_exec > 0 else float("nan"),
        "stats": c["stats"],
        "posterior": c["posterior"],
        "startup": c["nuts_iter_start"] - res["launched"],
        "cpu": c.get("cpu", {}).get("total", float("nan")),
        "map": c.get("map", {}),
        "min_ess": min((v["ess_bulk"] for k, v in c["posterior"].items()
                        if k.split("[")[0] in EXPONENTS), default=float("nan")),
        "max_rhat": max((v["r_hat"] for k, v in c["posterior"].items()
                         if k.split("[")[0] in EXPONENTS), default=float("nan")),
    }


def _med(rows: list[dict | None], key: str, sub: str | None = None) -> float:
    vals = []
    for r in rows:
        if r is None:
            continue
        v = r[key] if sub is None else r[key].get(sub, float("nan"))
        vals.append(v)
    return median(vals)


def build_report(cfg, info: dict, res: dict) -> str:
    """RESULTS.md from every section's results."""
    L: list[str] = []
    m = info["machine"]
    v = m["versions"]
    L += [
        "# Benchmarks (SPEC §9): `benchmarks/run.py`",
        "",
        f"Produced by `{info['command']}` on {m['date']}, commit {m['commit']}, in "
        f"{info['elapsed'] / 60:.1f} min.",
        "",
    ]
    if cfg.quick:
        L += ["> **QUICK MODE** (`--quick`): short chains "
              f"({cfg.chains} x {cfg.warmup} + {cfg.draws}), one repeat. ESS and ESS/s are "
              "not meaningful; this only checks that every item runs.", ""]
    la = info["load_start"]
    cores = m["cores"] or 1
    # the load samples are taken right after each measurement, so they include the benchmark's
    # own processes (four chains on two cores keep about 2-4 threads runnable): other work is
    # shown by the load before anything ran, or by a load beyond what the benchmark makes
    high_load = la[0] > 0.5 * cores or max(info["load_max"]) > cores + 2
    if not high_load:
        L += [f"> Load average {la[0]:.2f} (1 min) at the start, at most "
              f"{max(info['load_max']):.2f} during the run on {cores} cores: the benchmark's "
              "own processes (a 4-chain fit keeps up to 4 threads runnable), no sign of other work.",
              ""]
    if high_load:
        L += [f"> **Produced under load**: load average {la[0]:.2f} (1 min) at the start, up "
              f"to {max(info['load_max']):.2f} during the run, on {m['cores']} cores: other "
              "processes shared the CPU and every timing below is inflated (by up to the load "
              "factor for CPU-bound work). Re-run on a quiet machine for the reference numbers.",
              ""]
    L += [
        "## Machine and versions",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gb']:.1f} GB; {m['os']}; "
        f"Python {m['python']}",
        "- " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- load average (1, 5, 15 min) at the start: {la}; at the end: {info['load_end']}",
        f"- settings: {cfg.chains} chains x {cfg.warmup} warm-up + {cfg.draws} draws, "
        f"seed 0; {cfg.repeats} repeat(s) per fit (medians below); data `data/example.csv` "
        "(493 records: 300 loss, 48 quantization, 60 pruning, 40 density, 45 spectrum)",
        "",
    ]

    summary_rows: list[tuple[str, str, str, str]] = []
    sections_text: list[str] = []

    # ------------------------------------------------------------------ 1 + 3: fit and cache
    fit = res.get("fit")
    if fit:
        cold, warm = fit["cold"], fit["warm"]
        wall_cold = median([r["parent_wall"] for r in cold])
        wall_warm = median([r["parent_wall"] for r in warm])
        g_cold = [_fit_numbers(r, "gsf") for r in cold]
        f_cold = [_fit_numbers(r, "free") for r in cold]
        g_warm = [_fit_numbers(r, "gsf") for r in warm]
        f_warm = [_fit_numbers(r, "free") for r in warm]
        rss = max(r["maxrss_mb"] for r in cold + warm)
        summary_rows.append((
            "1. `fit` of the example (default: gsf + free), wall",
            "≤ 60 s", f"{_fmt(wall_cold)} s cold cache, {_fmt(wall_warm)} s warm",
            _met(wall_cold <= 60),
        ))
        g_wall = _med(g_cold, "wall")
        f_wall = _med(f_cold, "wall")
        t = [
            "## 1. `fit` of the bundled example",
            "",
            "The command `gsf-infer fit data/example.csv --quiet` (what a user runs), in a fresh "
            "process with an empty compilation cache (`cold`), then again with the cache it "
            "filled (`warm`, item 3). The default command fits the `gsf` model and then the "
            "`free` model behind the invariant check; each model's line is its share of the "
            "same command. Medians over "
            f"{len(cold)} repeat(s).",
            "",
            "| | cold cache | warm cache |",
            "| --- | ---: | ---: |",
            f"| whole command, wall (s) | {_fmt(wall_cold)} | {_fmt(wall_warm)} |",
            f"| — `gsf` model (s) | {_fmt(g_wall)} | {_fmt(_med(g_warm, 'wall'))} |",
            f"| — `free` model, the invariant check (s) | {_fmt(f_wall)} | "
            f"{_fmt(_med(f_warm, 'wall'))} |",
            f"| — rest: imports, reading, summaries, plots, report, writing (s) | "
            f"{_fmt(wall_cold - g_wall - f_wall)} | "
            f"{_fmt(wall_warm - _med(g_warm, 'wall') - _med(f_warm, 'wall'))} |",
            f"| JAX compilation, whole command (s) | {_fmt(median([r['compile_total'] for r in cold]))} "
            f"| {_fmt(median([r['compile_total'] for r in warm]))} |",
            f"| persistent-cache hits / misses | "
            f"{median([r['cache_events'].get('/jax/compilation_cache/cache_hits', 0) for r in cold]):.0f}"
            f" / {median([r['cache_events'].get('/jax/compilation_cache/cache_misses', 0) for r in cold]):.0f} | "
            f"{median([r['cache_events'].get('/jax/compilation_cache/cache_hits', 0) for r in warm]):.0f}"
            f" / {median([r['cache_events'].get('/jax/compilation_cache/cache_misses', 0) for r in warm]):.0f} |",
            f"| CPU time, whole command (s) | {_fmt(median([r.get('cpu_s') for r in cold]))} | "
            f"{_fmt(median([r.get('cpu_s') for r in warm]))} |",
            f"| peak RSS (MB) | {_fmt(max(r['maxrss_mb'] for r in cold), 0)} | "
            f"{_fmt(max(r['maxrss_mb'] for r in warm), 0)} |",
            "",
            "Per model (cold cache; seconds of wall time unless stated):",
            "",
            "| model | wall | CPU (all threads) | prior draws | MAP + Laplace (of which compile) "
            "| NUTS compile | NUTS iterations (warm-up + sampling) | after NUTS (log-lik, "
            "DataTree) | ESS bulk chi / rho | ESS/s (model wall) | ESS/s (NUTS iterations) |",
            "| --- | " + "---: | " * 10,
        ]
        for label, rows in (("gsf", g_cold), ("free", f_cold)):
            if not any(rows):
                continue
            t.append(
                f"| `{label}` | {_fmt(_med(rows, 'wall'))} | {_fmt(_med(rows, 'cpu'))} | "
                f"{_fmt(_med(rows, 'prior'))} | {_fmt(_med(rows, 'optimize'))} "
                f"({_fmt(_med(rows, 'compile_optimize'))}) | "
                f"{_fmt(_med(rows, 'nuts_compile'))} | {_fmt(_med(rows, 'nuts_exec'))} | "
                f"{_fmt(_med(rows, 'postprocess'))} | "
                f"{_fmt(_med(rows, 'ess', 'chi'), 0)} / {_fmt(_med(rows, 'ess', 'rho'), 0)} | "
                f"{_fmt(_med(rows, 'ess_per_s_wall'))} | {_fmt(_med(rows, 'ess_per_s_nuts'))} |"
            )
        t += [
            "",
            "| model | MAP: starts / gradient calls / distinct optima | leapfrog steps per "
            "sampling iteration (median) | iterations at max tree depth | step size | mean "
            "acceptance | divergences | min ESS bulk, max R-hat (exponents, every copy) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for label, rows in (("gsf", g_cold), ("free", f_cold)):
            if not any(rows):
                continue
            st = [r["stats"] for r in rows if r]
            mp = [r["map"] for r in rows if r]
            t.append(
                f"| `{label}` | {median([x.get('starts') for x in mp]):.0f} / "
                f"{median([x.get('gradient_calls') for x in mp]):,.0f} / "
                f"{median([x.get('optima') for x in mp]):.0f} | "
                f"{_fmt(median([x.get('steps_mean') for x in st]))} "
                f"({_fmt(median([x.get('steps_median') for x in st]), 0)}) | "
                f"{_fmt(100 * median([x.get('frac_max_depth', 0) for x in st]), 1)}% | "
                f"{median([x.get('step_size_mean', float('nan')) for x in st]):.3g} | "
                f"{median([x.get('accept_mean', float('nan')) for x in st]):.2f} | "
                f"{median([x.get('divergences', 0) for x in st]):.0f} | "
                f"{_fmt(_med(rows, 'min_ess'), 0)}, {_med(rows, 'max_rhat'):.3f} |"
            )
        t += [
            "",
            "ESS/s uses the smaller of the bulk ESS of `chi` and `rho` (for `free`: the `loss` "
            "copy). \"NUTS compile\" is the JAX compilation inside the NUTS stage "
            "(`jax.monitoring` spans); \"NUTS iterations\" is the rest of that stage (the chains "
            "iterating). CPU time counts every thread: on an idle machine with 2 cores, wall "
            "time is at least CPU / 2, which bounds what a quiet run can reach.",
            "",
        ]
        sections_text.append("\n".join(t))

        # item 3
        st_cold = median([_fit_numbers(r, "gsf")["startup"] for r in cold if _call(r, "gsf")])
        st_warm = median([_fit_numbers(r, "gsf")["startup"] for r in warm if _call(r, "gsf")])
        over_cold = median([r["parent_wall"] - sum(_fit_numbers(r, mm)["nuts_exec"]
                                                   for mm in ("gsf", "free") if _call(r, mm))
                            for r in cold])
        over_warm = median([r["parent_wall"] - sum(_fit_numbers(r, mm)["nuts_exec"]
                                                   for mm in ("gsf", "free") if _call(r, mm))
                            for r in warm])
        cut = 1 - st_warm / st_cold if st_cold > 0 else float("nan")
        summary_rows.append((
            "3. start-up with the compilation cache warm",
            "cut by > 1/2", f"{_fmt(st_cold)} s → {_fmt(st_warm)} s ({100 * cut:.0f}% cut)",
            _met(cut > 0.5),
        ))
        t = [
            "## 3. Persistent compilation cache",
            "",
            "Start-up: from launching the process until the `gsf` chains start iterating "
            "(imports, reading, prior draws, MAP + Laplace, every compilation up to the NUTS "
            "program). Overhead: the whole command minus the NUTS iterations of both models.",
            "",
            "| | cold | warm | cut |",
            "| --- | ---: | ---: | ---: |",
            f"| start-up to the first NUTS iteration (s) | {_fmt(st_cold)} | {_fmt(st_warm)} | "
            f"{100 * cut:.0f}% |",
            f"| overhead of the whole command (s) | {_fmt(over_cold)} | {_fmt(over_warm)} | "
            f"{100 * (1 - over_warm / over_cold):.0f}% |",
            f"| JAX compilation, whole command (s) | "
            f"{_fmt(median([r['compile_total'] for r in cold]))} | "
            f"{_fmt(median([r['compile_total'] for r in warm]))} | |",
            f"| compile time saved by the cache, as JAX reports it (s) | — | "
            f"{_fmt(median([r['compile_time_saved'] for r in warm]))} | |",
            f"| whole command (s) | {_fmt(wall_cold)} | {_fmt(wall_warm)} | "
            f"{100 * (1 - wall_warm / wall_cold):.0f}% |",
            "",
        ]
        sections_text.append("\n".join(t))
        summary_rows.append((
            "6. peak memory (RSS) of `fit`", "— (none in SPEC)", f"{_fmt(rss, 0)} MB", "—",
        ))

    # ------------------------------------------------------------------ profile
    prof = res.get("profile")
    if prof and prof.get("runs"):
        t = [
            "## 1b. Profile: NUTS warm-up and sampling timed separately",
            "",
            "One run per model (`fit --no-check`, `fit --model free`) with numpyro's "
            "`MCMC.warmup` and `MCMC.run` called in turn (the library's own code path "
            "otherwise). This compiles the chain program twice, so its totals are not the "
            "command's; it tells where the NUTS time goes.",
            "",
            "| model | MAP + Laplace (s) | warm-up: compile / iterations (s) | warm-up steps/iter "
            "(by quarter) | warm-up at max depth | warm-up divergences | sampling: compile / "
            "iterations (s) | sampling steps/iter | gradients/s (sampling) |",
            "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for model, r in prof["runs"].items():
            c = _call(r, model)
            if not r["phases"] or c is None:
                continue
            p = r["phases"][0]
            w_lo, w_hi = p["warmup_window"]
            s_lo, s_hi = p["sampling_window"]
            w_exec = (w_hi - w_lo) - p["warmup_compile"]
            s_exec = (s_hi - s_lo) - p["sampling_compile"]
            quarters = ", ".join(f"{q:.0f}" for q in p["warmup_steps_by_quarter"])
            grads = c["stats"].get("steps_total", float("nan")) / s_exec if s_exec > 0 else 0
            t.append(
                f"| `{model}` | {_fmt(c['seconds'].get('optimize'))} | "
                f"{_fmt(p['warmup_compile'])} / {_fmt(w_exec)} | {p['warmup_steps_mean']:.0f} "
                f"({quarters}) | {100 * p['warmup_frac_max_depth']:.1f}% | "
                f"{p['warmup_divergences']} | {_fmt(p['sampling_compile'])} / {_fmt(s_exec)} | "
                f"{c['stats'].get('steps_mean', float('nan')):.0f} | {_fmt(grads, 0)} |"
            )
        t.append("")
        sections_text.append("\n".join(t))

    # ------------------------------------------------------------------ 2: nutpie
    nut = res.get("nutpie")
    if nut and fit:
        cold_n = nut["cold"]
        tot = lambda r: sum(r["seconds"].values())  # noqa: E731
        ess_n = {name: median([r["posterior"][name]["ess_bulk"] for r in cold_n])
                 for name in HEADLINE}
        wall_n = median([tot(r) for r in cold_n])
        sample_n = median([r["seconds"]["sample"] for r in cold_n])
        eps_n_wall = median([min(r["posterior"][n]["ess_bulk"] for n in HEADLINE) / tot(r)
                             for r in cold_n])
        eps_n_sample = median([min(r["posterior"][n]["ess_bulk"] for n in HEADLINE)
                               / r["seconds"]["sample"] for r in cold_n])
        g_rows = [_fit_numbers(r, "gsf") for r in fit["cold"]]
        eps_g_wall = _med(g_rows, "ess_per_s_wall")
        eps_g_nuts = _med(g_rows, "ess_per_s_nuts")
        ratio = eps_g_wall / eps_n_wall if eps_n_wall > 0 else float("nan")
        ratio_s = eps_g_nuts / eps_n_sample if eps_n_sample > 0 else float("nan")
        # posterior agreement: numpyro (first cold fit) vs nutpie (first cold run)
        g_post = _call(fit["cold"][0], "gsf")["posterior"]
        n_post = cold_n[0]["posterior"]
        comp_rows, zmax = [], 0.0
        for name in COMPARED:
            if name in g_post and name in n_post:
                a_, b_ = g_post[name], n_post[name]
                se = (a_["mcse_mean"] ** 2 + b_["mcse_mean"] ** 2) ** 0.5
                z = (a_["mean"] - b_["mean"]) / se if se > 0 else float("nan")
                zmax = max(zmax, abs(z)) if z == z else zmax
                comp_rows.append(
                    f"| `{name}` | {a_['mean']:.4g} ± {a_['mcse_mean']:.2g} (sd {a_['sd']:.3g}, "
                    f"R-hat {a_['r_hat']:.3f}) | {b_['mean']:.4g} ± {b_['mcse_mean']:.2g} "
                    f"(sd {b_['sd']:.3g}, R-hat {b_['r_hat']:.3f}) | {z:+.1f} |"
                )
        n_rhat = max(r["posterior"][n]["r_hat"] for r in cold_n for n in HEADLINE)
        agree = zmax < 4.0 and n_rhat < 1.01
        parity = nut.get("parity")
        if parity is not None:
            parity.setdefault("max_rel_logp_diff", parity["max_abs_logp_diff"])
        same_density = parity is None or (parity["max_rel_logp_diff"] < 1e-9
                                           and parity["max_rel_grad_diff"] < 1e-6)
        comparable = agree and same_density
        summary_rows.append((
            "2. ESS/s of `chi`, `rho` vs PyMC + nutpie (same run)",
            "ratio ≥ 1",
            f"{ratio:.2f}x counting compilation (gsf model {eps_g_wall:.1f} vs nutpie "
            f"{eps_n_wall:.1f} ESS/s); {ratio_s:.2f}x iterations only"
            + ("" if comparable else " — posteriors do NOT agree: ratio not meaningful"),
            _met(ratio >= 1 if comparable else None) if comparable else "**not comparable**",
        ))
        summary_rows.append(("6. peak memory (RSS) of PyMC + nutpie", "—",
                             f"{_fmt(max(r['maxrss_mb'] for r in cold_n), 0)} MB", "—"))
        t = [
            "## 2. The same log density in PyMC, sampled by nutpie",
            "",
            "`benchmarks/pymc_gsf.py` writes the `gsf` model of the default settings "
            "(`monomial` g, `continuum` tier, log-normal likelihood, seed pruning metric, default "
            "priors) by hand in PyTensor: same sample sites, priors and unconstrained "
            "coordinates, same continuum sums (exact head of 16 modes + 3 x 12 Gauss–Legendre "
            "nodes in log k, no gradient through the panel split points), same likelihood. It "
            "shares only data standardisation and the quadrature constants with the tool. "
            "nutpie (numba backend) samples it with the same chains, warm-up, draws and target "
            f"acceptance 0.9, max tree depth 10, {cold_n[0]['cores']} worker threads, from its "
            "default initialisation (jittered prior support points). `cold`: empty PyTensor "
            "and numba caches; `warm`: the caches the cold run filled.",
            "",
        ]
        if parity:
            t += [
                f"Log-density parity: at {parity['n_points']} points ({parity['posterior_points']} "
                f"posterior draws of the `gsf` fit, {parity['prior_points']} prior draws), "
                f"|log p_PyMC − log p_numpyro| ≤ {parity['max_abs_logp_diff']:.1e} "
                f"({parity['max_rel_logp_diff']:.1e} relative to 1 + |log p|) and the gradients "
                f"agree to {parity['max_rel_grad_diff']:.1e} (relative to 1 + |gradient|)"
                + (": the two programs compute the same function." if same_density else
                   ": **the two programs differ**."),
                "",
            ]
        w_n = nut["warm"]
        st = [r["stats"] for r in cold_n]
        grad_gsf = next((r["median_ms"] for r in res.get("gradient", {}).get("models", [])
                         if r["model"] == "gsf"), float("nan"))
        t += [
            "| | `gsf-infer` (`gsf` model) | PyMC + nutpie, cold | nutpie, warm caches |",
            "| --- | ---: | ---: | ---: |",
            f"| wall, model build + compile + sampling (s) | {_fmt(_med(g_rows, 'wall'))} "
            f"(incl. prior draws, MAP, Laplace) | {_fmt(wall_n)} | "
            f"{_fmt(median([tot(r) for r in w_n]))} |",
            f"| — compile (s) | {_fmt(_med(g_rows, 'compile'))} | "
            f"{_fmt(median([r['seconds']['compile'] for r in cold_n]))} | "
            f"{_fmt(median([r['seconds']['compile'] for r in w_n]))} |",
            f"| — NUTS iterations (s) | {_fmt(_med(g_rows, 'nuts_exec'))} | {_fmt(sample_n)} | "
            f"{_fmt(median([r['seconds']['sample'] for r in w_n]))} |",
            f"| ESS bulk `chi` / `rho` | {_fmt(_med(g_rows, 'ess', 'chi'), 0)} / "
            f"{_fmt(_med(g_rows, 'ess', 'rho'), 0)} | {_fmt(ess_n['chi'], 0)} / "
            f"{_fmt(ess_n['rho'], 0)} | |",
            f"| ESS/s (min of chi, rho), whole | {_fmt(eps_g_wall)} | {_fmt(eps_n_wall)} | |",
            f"| ESS/s, NUTS iterations only | {_fmt(eps_g_nuts)} | {_fmt(eps_n_sample)} | |",
            f"| leapfrog steps / iteration (sampling) | "
            f"{_fmt(median([r['stats'].get('steps_mean') for r in g_rows if r]))} | "
            f"{_fmt(median([s['steps_mean'] for s in st]))} | |",
            f"| leapfrog steps / iteration (warm-up) | see 1b | "
            f"{_fmt(median([s.get('warmup_steps_mean', float('nan')) for s in st]))} | |",
            f"| divergences (sampling) | "
            f"{median([r['stats'].get('divergences', 0) for r in g_rows if r]):.0f} | "
            f"{median([s['divergences'] for s in st]):.0f} | |",
            f"| ESS (min of chi, rho) per 1000 gradient evaluations, sampling phase | "
            f"{_fmt(median([1e3 * r['ess_min'] / r['stats']['steps_total'] for r in g_rows if r and r['stats'].get('steps_total')]))} | "
            f"{_fmt(median([1e3 * min(r['posterior'][n]['ess_bulk'] for n in HEADLINE) / r['stats']['steps_total'] for r in cold_n]))} | |",
            f"| one log density + gradient, one thread (ms) | "
            f"{_fmt(grad_gsf, 3)} (JAX, item 5) | "
            f"{_fmt(median([r['grad_ms'] for r in cold_n]), 3)} (numba, via Python) | |",
            f"| peak RSS (MB) | see 6 | {_fmt(max(r['maxrss_mb'] for r in cold_n), 0)} | |",
            "",
            "Posterior agreement (first repeat of each; mean ± MCSE; z = difference / combined "
            f"MCSE): max |z| = {zmax:.1f}"
            + (" — agree." if agree else " — **do not agree** (or nutpie did not converge)."),
            "",
            "| variable | numpyro (`gsf-infer`) | nutpie | z |",
            "| --- | --- | --- | ---: |",
            *comp_rows,
            "",
        ]
        sections_text.append("\n".join(t))

    # ------------------------------------------------------------------ 4: help
    hp = res.get("help")
    if hp:
        summary_rows.append(("4. `gsf-infer --help`", "< 0.5 s",
                             f"{hp['help']['median']:.2f} s", _met(hp["help"]["median"] < 0.5)))
        sections_text.append("\n".join([
            "## 4. Command-line start-up",
            "",
            f"Fresh processes, median of {hp['help']['n']} (min–max):",
            "",
            "| command | median (s) | min–max (s) |",
            "| --- | ---: | ---: |",
            f"| `gsf-infer --help` | {hp['help']['median']:.3f} | {hp['help']['min']:.3f}–"
            f"{hp['help']['max']:.3f} |",
            f"| `gsf-infer fit --help` | {hp['fit_help']['median']:.3f} | "
            f"{hp['fit_help']['min']:.3f}–{hp['fit_help']['max']:.3f} |",
            f"| `python -c pass` (interpreter floor) | {hp['python_floor']:.3f} | |",
            "",
        ]))

    # ------------------------------------------------------------------ 5: gradient
    gr = res.get("gradient")
    if gr:
        import math

        rn = gr["records"]
        slope = float("nan")
        big = [r for r in rn if r["records"] >= 1000]
        big = big if len(big) >= 2 else rn
        if len(big) >= 2:
            xs = [math.log(r["records"]) for r in big]
            ys = [math.log(r["median_ms"]) for r in big]
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
                (x - mx) ** 2 for x in xs)
        ks = [r["median_ms"] for r in gr["capacity"]]
        flat = max(ks) / min(ks) if ks else float("nan")
        summary_rows.append((
            "5a. gradient cost vs records (10^2…10^5)", "linear",
            f"log-log slope {slope:.2f} over {big[0]['records']:,}…{big[-1]['records']:,} "
            "records", _met(slope <= 1.15),
        ))
        summary_rows.append((
            f"5b. gradient cost vs K ({gr['capacity'][0]['K']:.0e}…{gr['capacity'][-1]['K']:.0e})",
            "flat", f"max/min {flat:.2f}", _met(flat <= 1.25),
        ))
        t = [
            "## 5. One value and gradient of the full model's log density",
            "",
            "`jax.jit(jax.value_and_grad(potential))` of the `gsf` model (`continuum` tier) on "
            "its flat unconstrained vector, one device, float64, at the prior median; median of "
            f"{cfg.grad_repeats} timed calls per row after compilation (`block_until_ready`), "
            "the rows of a table timed round-robin so that load spells hit them alike. "
            "Records: the example's rows "
            "resampled in its proportions of kinds (values jittered by 0.1%).",
            "",
            "| records | parameters | median (ms) | min (ms) | p10–p90 (ms) | µs per record "
            "(median) | first call incl. compile (s) | finite |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for r in rn:
            t.append(
                f"| {r['records']:,} | {r['dim']} | {r['median_ms']:.3f} | {r['min_ms']:.3f} | "
                f"{r['p10_ms']:.3f}–"
                f"{r['p90_ms']:.3f} | {1e3 * r['median_ms'] / r['records']:.2f} | "
                f"{r['first_call_s']:.1f} | {r['finite']} |"
            )
        t += [
            "",
            f"Log-log slope of time against records over {big[0]['records']:,}…"
            f"{big[-1]['records']:,} records: {slope:.2f} "
            "(1 = linear; below 10^3 fixed per-call overhead dominates).",
            "",
            "Capacity `K` (the model's capacity at the reference size, set in the unconstrained "
            "vector; the example's 493 records):",
            "",
            "| K | median (ms) | min (ms) | p10–p90 (ms) | finite |",
            "| ---: | ---: | ---: | ---: | --- |",
        ]
        for r in gr["capacity"]:
            t.append(f"| {r['K']:.0e} | {r['median_ms']:.3f} | {r['min_ms']:.3f} | "
                     f"{r['p10_ms']:.3f}–"
                     f"{r['p90_ms']:.3f} | {r['finite']} |")
        t += ["", f"max/min over K: {flat:.2f}.", "",
              "Models on the example (one gradient):", "",
              "| model | parameters | median (ms) | first call incl. compile (s) |",
              "| --- | ---: | ---: | ---: |"]
        for r in gr["models"]:
            t.append(f"| `{r['model']}` | {r['dim']} | {r['median_ms']:.3f} | "
                     f"{r['first_call_s']:.1f} |")
        t.append("")
        sections_text.append("\n".join(t))
        summary_rows.append((f"6. peak memory of the gradient benchmark "
                             f"({rn[-1]['records']:,} records)", "—",
                             f"{_fmt(gr['maxrss_mb'], 0)} MB", "—"))

    # ------------------------------------------------------------------ analysis
    analysis = _analysis(res)
    L += ["## Summary", "", "| item | target | measured | |", "| --- | --- | --- | --- |"]
    summary_rows.sort(key=lambda row: row[0].split(".")[0].zfill(3) + row[0])
    L += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary_rows]
    L += [""]
    if analysis:
        L += ["## What limits speed (from the measurements below)", "", *analysis, ""]
    L += sections_text
    return "\n".join(L) + "\n"


def _analysis(res: dict) -> list[str]:
    """Bullet points on the causes of unmet targets, computed from the measurements."""
    out = []
    fit = res.get("fit")
    if fit:
        cold = fit["cold"]
        wall = median([r["parent_wall"] for r in cold])
        shares = {}
        for model in ("gsf", "free"):
            rows = [_fit_numbers(r, model) for r in cold]
            if not any(rows):
                continue
            shares[model] = {
                "total": _med(rows, "wall"),
                "MAP + Laplace": _med(rows, "optimize"),
                "NUTS compile": _med(rows, "nuts_compile"),
                "NUTS iterations": _med(rows, "nuts_exec"),
                "prior draws": _med(rows, "prior"),
                "after NUTS": _med(rows, "postprocess"),
                "steps": median([r["stats"].get("steps_mean") for r in rows if r]),
                "depth": median([r["stats"].get("frac_max_depth", 0) for r in rows if r]),
            }
        for model, s in shares.items():
            parts = sorted(((k, v) for k, v in s.items()
                            if k not in ("total", "steps", "depth")), key=lambda kv: -kv[1])
            desc = ", ".join(f"{k} {v:.0f} s ({100 * v / wall:.0f}%)" for k, v in parts)
            out.append(
                f"- `{model}` model: {s['total']:.0f} s of the {wall:.0f} s command — {desc}; "
                f"{s['steps']:.0f} leapfrog steps per sampling iteration, "
                f"{100 * s['depth']:.1f}% of iterations at the maximum tree depth."
            )
        rest = wall - sum(s["total"] for s in shares.values())
        out.append(f"- outside the two models (imports, reading, summaries, plots, report, "
                   f"writing): {rest:.0f} s ({100 * rest / wall:.0f}%).")
    prof = res.get("profile")
    if prof:
        for model, r in prof.get("runs", {}).items():
            if not r["phases"]:
                continue
            p = r["phases"][0]
            c = _call(r, model)
            w = (p["warmup_window"][1] - p["warmup_window"][0]) - p["warmup_compile"]
            s = (p["sampling_window"][1] - p["sampling_window"][0]) - p["sampling_compile"]
            out.append(
                f"- `{model}` NUTS: warm-up iterations {w:.0f} s at {p['warmup_steps_mean']:.0f} "
                f"steps/iter vs sampling {s:.0f} s at "
                f"{c['stats'].get('steps_mean', float('nan')):.0f} steps/iter; warm-up is "
                f"{100 * w / (w + s):.0f}% of the iterations' time."
            )
    gr = res.get("gradient")
    if gr and fit:
        one = {r["model"]: r["median_ms"] for r in gr["models"]}
        for model in ("gsf", "free"):
            rows = [_fit_numbers(r, model) for r in fit["cold"]]
            if not any(rows) or model not in one:
                continue
            st = [r["stats"] for r in rows if r]
            total_steps = median([s.get("steps_total") for s in st])
            exec_s = _med(rows, "nuts_exec")
            if total_steps and exec_s > 0:
                per = 1e3 * exec_s / (2 * total_steps)  # warm-up ~ as many steps as sampling
                out.append(
                    f"- `{model}`: one gradient costs {one[model]:.2f} ms on one thread; the "
                    f"chains' iterations took {exec_s:.0f} s for ~{2 * total_steps:,.0f} "
                    f"leapfrog steps (sampling steps x 2, assuming warm-up like sampling), i.e. "
                    f"~{per:.2f} ms per step per chain with 4 chains on the available cores."
                )
    return out


# ============================================================================ main


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (the public ones and the workers')."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 4 chains x 50 + 50, one repeat, small gradient sizes")
    p.add_argument("--repeats", type=int, default=None,
                   help="repeats of each fit and nutpie run (default 3; 1 with --quick)")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections to run, among {','.join(SECTIONS)} "
                        "(nutpie needs fit for its comparison)")
    p.add_argument("--out", type=Path, default=RESULTS, help="report path [%(default)s]")
    p.add_argument("--work", type=Path, default=None,
                   help="folder for caches, fit outputs and worker JSON [a new temp folder]")
    p.add_argument("--render", type=Path, default=None,
                   help="only rebuild the report from a results.json of an earlier run")
    p.add_argument("--profile-models", default="gsf,free",
                   help="models of the warm-up/sampling profile [%(default)s]")
    # worker options
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, default=EXAMPLE, help=argparse.SUPPRESS)
    p.add_argument("--chains", type=int, default=4, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=1000, help=argparse.SUPPRESS)
    p.add_argument("--draws", type=int, default=1000, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--cores", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--target-accept", type=float, default=0.9, help=argparse.SUPPRESS)
    p.add_argument("--split-warmup", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--fit-args", default="", help=argparse.SUPPRESS)
    p.add_argument("--fit-dir", default=None, help=argparse.SUPPRESS)
    p.add_argument("--points", type=int, default=8, help=argparse.SUPPRESS)
    p.add_argument("--sizes", type=float, nargs="*", default=None, help=argparse.SUPPRESS)
    p.add_argument("--capacities", type=float, nargs="*", default=None, help=argparse.SUPPRESS)
    p.add_argument("--grad-repeats", type=int, default=30, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the selected sections and write the report."""
    args = parse(argv)
    if args.worker:
        result = WORKERS[args.worker](args)
        args.json.write_text(json.dumps(result, indent=1, default=float))
        return

    if args.render:
        saved = json.loads(args.render.read_text())
        cfg = argparse.Namespace(**saved["config"])
        report = build_report(cfg, saved["info"], saved["results"])
        from gsf_infer.artifacts import write_text

        write_text(report, args.out, force=True)
        print(report, end="")
        return

    cfg = argparse.Namespace(
        quick=args.quick,
        repeats=args.repeats or (1 if args.quick else 3),
        chains=4,
        warmup=50 if args.quick else 1000,
        draws=50 if args.quick else 1000,
        help_repeats=3 if args.quick else 15,
        sizes=[100, 1000] if args.quick else [100, 1000, 10_000, 100_000],
        capacities=[1e3, 1e5, 1e7] if args.quick else [1e3, 1e4, 1e5, 1e6, 1e7],
        grad_repeats=20 if args.quick else 200,
        profile_models=[m for m in args.profile_models.split(",") if m],
        work=args.work or Path(tempfile.mkdtemp(prefix="gsf-bench-")),
    )
    cfg.work.mkdir(parents=True, exist_ok=True)
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown section(s): {', '.join(sorted(unknown))}")
    started = time.time()
    info = {"machine": machine(), "load_start": loadavg(),
            "command": "python benchmarks/run.py " + " ".join(sys.argv[1:])}
    loads = [info["load_start"][0]]
    log(f"work folder {cfg.work}; load {info['load_start']}")
    res: dict = {}
    if "help" in only:
        log("help")
        res["help"] = section_help(cfg)
        loads.append(loadavg()[0])
    if "gradient" in only:
        log("gradient")
        res["gradient"] = section_gradient(cfg)
        loads.append(loadavg()[0])
    if "fit" in only:
        res["fit"] = section_fit(cfg)
        loads += [r["load"][0] for r in res["fit"]["cold"] + res["fit"]["warm"]]
    if "profile" in only:
        res["profile"] = section_profile(cfg)
        loads.append(loadavg()[0])
    if "nutpie" in only:
        fit_dir = res["fit"]["cold"][0]["out_dir"] if "fit" in res else None
        res["nutpie"] = section_nutpie(cfg, fit_dir)
        loads += [r["load"][0] for r in res["nutpie"]["cold"] + res["nutpie"]["warm"]]
    info["load_end"] = loadavg()
    info["load_max"] = [max(loads + [info["load_end"][0]])]
    info["elapsed"] = time.time() - started
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}
    (cfg.work / "results.json").write_text(
        json.dumps({"config": config, "info": info, "results": res}, indent=1, default=float)
    )
    report = build_report(cfg, info, res)
    from gsf_infer.artifacts import write_text

    write_text(report, args.out, force=True)
    print(report, end="")
    log(f"wrote {args.out} (raw results: {cfg.work / 'results.json'})")


if __name__ == "__main__":
    main()
