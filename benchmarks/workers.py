"""What the benchmark runs in fresh processes, and how it reads a fit's draws.

``benchmarks/run.py`` starts each measurement as ``python benchmarks/workers.py NAME --json
PATH ...`` so that imports, compilation and memory are those of a real invocation. Every worker
writes one JSON object to ``PATH``:

- ``cli -- ARGS``: the real command line (:func:`gsf_infer.cli.main` with ``ARGS``, what the
  ``gsf-infer`` script calls) with ``jax.monitoring`` listeners registered first: the number of
  compilations that could use JAX's persistent cache, its hits, the entries written (misses),
  the compile time the cache saved as JAX reports it, and the wall time spent tracing, lowering
  and compiling (union of JAX's time spans, cache loads included). The library is not patched:
  its timings come from the ``summary.json`` it writes, its draws from the DataTrees.
- ``nutpie``: the PyMC model of :mod:`pymc_gsf` (``gsf`` or ``deviation``) compiled by nutpie
  (numba backend) and sampled with its default adaptation (``diag``) or its low-rank modified
  mass matrix (``low_rank``); seconds of import, model build, compilation and sampling, and
  :func:`posterior_stats` of the draws.
- ``parity``: the PyMC log density and gradient against the tool's potential
  (``inference.model_functions(built).potential(z, inputs)``) at posterior draws of a fit and
  at prior draws, for ``gsf`` and ``deviation`` (:func:`pymc_gsf.check_logp`).
- ``gradient``: one compiled value-and-gradient of the tool's potential
  (:func:`gsf_infer.inference.functions.value_and_grad_of`) timed as records grow, as the capacity
  ``K`` grows, and for ``gsf`` against ``deviation`` (one program, two inputs).

Only the standard library is imported at module level, so that ``run.py`` can use
:func:`posterior_stats` and the constants without loading JAX or PyMC.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLE = ROOT / "data" / "example.csv"
#: Variables whose bulk ESS per second is the headline, and the model whose draws carry them.
HEADLINE = {"chi": "gsf", "rho": "gsf", "delta_over_rho": "deviation"}
#: Scalars whose posterior means are compared between the tool and nutpie.
COMPARED = ("a", "b", "m", "n", "chi", "rho", "gamma", "rho_over_b", "k_star", "K", "E",
            "delta_Q", "eps_F", "delta_over_rho")
#: NUTS with max_tree_depth 10 stops at 2^10 - 1 leapfrog steps.
MAX_STEPS = 1023


def posterior_stats(dt, group: str = "posterior", stats_group: str = "sample_stats") -> dict:
    """Convergence and efficiency of the draws in a DataTree (the tool's or nutpie's).

    Bulk ESS and R-hat of every scalar of the posterior (each element of a vector variable
    counts as one scalar): the smallest ESS and the largest R-hat with their names, the bulk
    ESS of the :data:`HEADLINE` variables present, mean / sd / MCSE of the :data:`COMPARED`
    scalars, and from the sampler statistics the divergences, leapfrog steps per iteration,
    the share of iterations at the maximum tree depth and the mean step size.
    """
    import arviz as az
    import numpy as np

    post = dt[group].to_dataset()
    ess, rhat = az.ess(post, method="bulk"), az.rhat(post)
    mcse = az.mcse(post, method="mean")
    scalars = []
    for name in post.data_vars:
        e, r = np.atleast_1d(np.asarray(ess[name])), np.atleast_1d(np.asarray(rhat[name]))
        for i, (ei, ri) in enumerate(zip(e.ravel(), r.ravel(), strict=True)):
            label = name if e.size == 1 else f"{name}[{i}]"
            scalars.append((label, float(ei), float(ri)))
    finite_e = [s for s in scalars if np.isfinite(s[1])]
    finite_r = [s for s in scalars if np.isfinite(s[2])]
    worst_e = min(finite_e, key=lambda s: s[1]) if finite_e else ("", float("nan"), 0)
    worst_r = max(finite_r, key=lambda s: s[2]) if finite_r else ("", 0, float("nan"))
    out = {
        "chains": int(post.sizes["chain"]),
        "draws": int(post.sizes["draw"]),
        "scalars": len(scalars),
        "min_ess_bulk": worst_e[1], "min_ess_name": worst_e[0],
        "max_r_hat": worst_r[2], "max_r_hat_name": worst_r[0],
        "ess_bulk": {k: float(ess[k]) for k in HEADLINE if k in post and ess[k].size == 1},
        "means": {
            k: {"mean": float(post[k].mean()), "sd": float(post[k].std()),
                "mcse": float(mcse[k])}
            for k in COMPARED if k in post and post[k].ndim == 2
        },
    }
    if stats_group in dt.children:
        st = dt[stats_group].to_dataset()
        if "diverging" in st:
            out["divergences"] = int(np.asarray(st["diverging"]).sum())
        if "n_steps" in st:
            steps = np.asarray(st["n_steps"], dtype=float)
            out["steps_mean"] = float(steps.mean())
            out["steps_total"] = float(steps.sum())
            out["frac_max_depth"] = float(np.mean(steps >= MAX_STEPS))
        if "step_size" in st:
            out["step_size"] = float(np.asarray(st["step_size"]).mean())
    return out


def read_posterior_stats(path: str | Path) -> dict | None:
    """:func:`posterior_stats` of a DataTree file written by the tool (None if absent)."""
    if not Path(path).is_file():
        return None
    from gsf_infer.output.artifacts import read_datatree

    return posterior_stats(read_datatree(path))


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ============================================================================ cli


def worker_cli(args: argparse.Namespace) -> dict:
    """Run the real command line with ``jax.monitoring`` listeners (module docstring)."""
    # what gsf_infer.inference.runtime.configure sets before JAX's first import; here JAX is
    # imported first (to register the listeners), so it is set here
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax.monitoring as mon

    counts: dict[str, int] = {}
    durations: dict[str, float] = {}
    spans: list[tuple[float, float]] = []
    mon.register_event_listener(lambda event, **kw: counts.__setitem__(
        event, counts.get(event, 0) + 1))
    mon.register_event_duration_secs_listener(lambda event, secs, **kw: durations.__setitem__(
        event, durations.get(event, 0.0) + secs))
    mon.register_event_time_span_listener(lambda event, start, end, **kw: spans.append(
        (start, end)))

    from gsf_infer.cli import main

    sys.argv = ["gsf-infer", *args.rest]
    started = time.time()
    code = 0
    try:
        main()
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    import jax

    return {
        "exit_code": code,
        "seconds_in_main": time.time() - started,
        "devices": jax.local_device_count(),
        "cache": {
            "requests": counts.get("/jax/compilation_cache/compile_requests_use_cache", 0),
            "hits": counts.get("/jax/compilation_cache/cache_hits", 0),
            "written": counts.get("/jax/compilation_cache/cache_misses", 0),
            "saved_s": durations.get("/jax/compilation_cache/compile_time_saved_sec", 0.0),
        },
        "compile_s": merged_seconds(spans),
        "backend_compile_s": durations.get("/jax/core/compile/backend_compile_duration", 0.0),
        "time_spans": len(spans),
        "maxrss_mb": _maxrss_mb(),
    }


def merged_seconds(spans: list[tuple[float, float]]) -> float:
    """Length of the union of time spans (nested or overlapping spans count once)."""
    total, cur_a, cur_b = 0.0, None, None
    for a, b in sorted(spans):
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        total += cur_b - cur_a
    return total


# ============================================================================ nutpie


def low_rank_kwargs(sample_fn) -> dict:
    """Keyword arguments of ``nutpie.sample`` for the low-rank modified mass matrix.

    ``adaptation="low_rank"`` where the installed nutpie has that argument, else the older
    ``low_rank_modified_mass_matrix=True``.
    """
    import inspect

    params = inspect.signature(sample_fn).parameters
    if "adaptation" in params:
        return {"adaptation": "low_rank"}
    return {"low_rank_modified_mass_matrix": True}


def worker_nutpie(args: argparse.Namespace) -> dict:
    """Build the PyMC model, compile it with nutpie (numba) and sample; seconds and draws."""
    t0 = time.time()
    import nutpie
    import pymc  # noqa: F401

    sys.path.insert(0, str(HERE))
    import pymc_gsf

    from gsf_infer.data.dataset import build_model_data
    from gsf_infer.data.records import read_records

    t_import = time.time()
    data = build_model_data(read_records(args.data))
    model = pymc_gsf.build_pymc_model(data, model=args.model)
    t_build = time.time()
    compiled = nutpie.compile_pymc_model(model)
    t_compile = time.time()
    kwargs = low_rank_kwargs(nutpie.sample) if args.adaptation == "low_rank" else {}
    trace = nutpie.sample(
        compiled, draws=args.draws, tune=args.warmup, chains=args.chains,
        cores=args.cores or os.cpu_count(), seed=args.seed, target_accept=args.target_accept,
        maxdepth=10, progress_bar=False, save_warmup=True, **kwargs,
    )
    t_sample = time.time()
    stats = posterior_stats(trace)
    if "warmup_sample_stats" in trace.children:
        import numpy as np

        wsteps = np.asarray(trace["warmup_sample_stats"]["n_steps"], dtype=float)
        stats["warmup_steps_mean"] = float(wsteps.mean())
    return {
        "model": args.model,
        "adaptation": args.adaptation,
        "sample_kwargs": {k: v for k, v in kwargs.items()},
        "seconds": {"import": t_import - t0, "build": t_build - t_import,
                    "compile": t_compile - t_build, "sample": t_sample - t_compile},
        "n_dim": int(compiled.n_dim),
        "stats": stats,
        "maxrss_mb": _maxrss_mb(),
    }


# ============================================================================ parity


def worker_parity(args: argparse.Namespace) -> dict:
    """Compare the PyMC log densities with the tool's, ``gsf`` and ``deviation``."""
    from gsf_infer.inference import runtime

    runtime.configure(host_devices=1, x64=True, cache=False)
    import jax
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, str(HERE))
    import pymc_gsf

    from gsf_infer.data.dataset import build_model_data
    from gsf_infer.data.records import read_records
    from gsf_infer.inference.functions import draw_prior, model_functions
    from gsf_infer.model.build import build_model
    from gsf_infer.model.priors import PriorSet
    from gsf_infer.model.settings import ModelSettings

    data = build_model_data(read_records(args.data))
    rng = np.random.default_rng(0)
    out = {}
    for model, file in (("gsf", "posterior.nc"), ("deviation", "posterior_deviation.nc")):
        built = build_model(data, ModelSettings(model=model), PriorSet())
        fns = model_functions(built)
        values = _posterior_points(args.fit_dir, file, fns, args.points, rng)
        prior, _ = draw_prior(fns, built.inputs, jax.random.key(1), args.prior_points)
        values += [{k: prior[k][i] for k in fns.supports} for i in range(args.prior_points)]
        points = np.stack([
            np.asarray(fns.unconstrain({k: jnp.asarray(v[k]) for k in fns.supports}))
            for v in values
        ])
        pymc_model = pymc_gsf.build_pymc_model(data, model=model, deviations=built.deviations)
        result = pymc_gsf.check_logp(pymc_model, fns, built.inputs, points)
        result["posterior_points"] = len(values) - args.prior_points
        result["prior_points"] = args.prior_points
        result["deviations"] = list(built.deviations)
        out[model] = result
    return {"models": out}


def _posterior_points(fit_dir, file, fns, n, rng) -> list[dict]:
    """``n`` random draws of a fit's latent sites; sites the file lacks from Normal(0, 1).

    The ``gsf`` fit does not record its ``deviation_z`` coordinates (pure prior there).
    """
    import numpy as np

    if fit_dir is None or not (Path(fit_dir) / file).is_file():
        return []
    from gsf_infer.output.artifacts import read_datatree

    post = read_datatree(Path(fit_dir) / file)["posterior"].to_dataset()
    points = []
    for _ in range(n):
        c, d = int(rng.integers(post.sizes["chain"])), int(rng.integers(post.sizes["draw"]))
        point = {}
        for k in fns.supports:
            if k in post:
                point[k] = np.asarray(post[k].values[c, d], dtype=float)
            else:
                shape = fns.unravel(np.zeros(fns.dim))[k].shape
                point[k] = rng.standard_normal(shape)
        points.append(point)
    return points


# ============================================================================ gradient


def synthetic_frame(n_records: int, seed: int = 0):
    """``n_records`` records with the example's mix of kinds, resampled and jittered.

    Rows are drawn from ``data/example.csv`` kind by kind (in the example's proportions, at
    least 6 per kind) and their observed values multiplied by ``exp(1e-3 z)`` so that no two
    rows are identical. The cost of a gradient depends on the records' number and kinds, not
    on their values.
    """
    import numpy as np
    import pandas as pd

    from gsf_infer.data.schema import KIND_FORMATS

    table = pd.read_csv(EXAMPLE, comment="#")
    rng = np.random.default_rng(seed)
    parts = []
    for kind, count in table["kind"].value_counts().items():
        want = max(int(round(n_records * count / len(table))), 6)
        sub = table[table["kind"] == kind]
        rows = sub.iloc[rng.integers(0, len(sub), size=want)].copy()
        col = KIND_FORMATS[kind].observed
        rows[col] = rows[col] * np.exp(1e-3 * rng.standard_normal(want))
        if kind == "spectrum" and "target_power" in rows:
            rows["target_power"] = rows["target_power"] * np.exp(1e-3 * rng.standard_normal(want))
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def time_calls(jobs: list, repeats: int) -> list[dict]:
    """Call each ``(fn, z)`` once (compilation), then time them round-robin, ``repeats`` rounds.

    Interleaving the rows spreads load fluctuations of a shared machine over all of them
    instead of biasing whichever row ran during a busy spell.
    """
    import jax
    import numpy as np

    rows = []
    for fn, z in jobs:
        start = time.perf_counter()
        value, grad = jax.block_until_ready(fn(z))
        rows.append({
            "first_call_s": time.perf_counter() - start,
            "finite": bool(np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))),
            "times": [],
        })
    for _ in range(repeats):
        for (fn, z), row in zip(jobs, rows, strict=True):
            start = time.perf_counter()
            jax.block_until_ready(fn(z))
            row["times"].append(1e3 * (time.perf_counter() - start))
    for row in rows:
        times = row.pop("times")
        row.update({"median_ms": statistics.median(times), "min_ms": min(times),
                    "p10_ms": float(np.percentile(times, 10)),
                    "p90_ms": float(np.percentile(times, 90))})
    return rows


def worker_gradient(args: argparse.Namespace) -> dict:
    """Cost of one value-and-gradient of the tool's potential (records, K, models)."""
    from gsf_infer.inference import runtime

    runtime.configure(host_devices=1, x64=True, cache=False)
    import jax
    import jax.numpy as jnp
    import numpy as np

    from gsf_infer.data.dataset import build_model_data
    from gsf_infer.data.records import read_records, records_from_frame
    from gsf_infer.inference.functions import draw_prior, model_functions, value_and_grad_of
    from gsf_infer.model.build import build_model
    from gsf_infer.model.priors import PriorSet
    from gsf_infer.model.settings import ModelSettings

    def prepared(n_records: int = 0):
        """Build data, model, functions and prior median of ``n_records`` records.

        Synthetic records (0: the example), built once per size.
        """
        if n_records in cache:
            return cache[n_records]
        records = (read_records(args.data) if not n_records else
                   records_from_frame(synthetic_frame(n_records), path=f"<{n_records} records>"))
        data = build_model_data(records)
        built = build_model(data, ModelSettings(), PriorSet())
        fns = model_functions(built)
        prior, _ = draw_prior(fns, built.inputs, jax.random.key(0), 200)
        z = np.asarray(jax.vmap(fns.unconstrain)({k: jnp.asarray(prior[k])
                                                   for k in fns.supports}))
        cache[n_records] = data, built, fns, np.median(z, axis=0)
        return cache[n_records]

    cache: dict = {}
    jobs, by_records = [], []
    for n in args.sizes:
        data, built, fns, z = prepared(int(n))
        vg, inputs = value_and_grad_of(fns), built.inputs
        jobs.append((lambda z, vg=vg, inputs=inputs: vg(z, inputs), jnp.asarray(z)))
        by_records.append({"records": data.n_records, "dim": fns.dim})
    for row, timing in zip(by_records, time_calls(jobs, args.repeats), strict=True):
        row.update(timing)

    data, built, fns, z = prepared(args.capacity_records)
    vg = value_and_grad_of(fns)
    k_index = fns.names.index("K")  # log K in the flat unconstrained vector
    jobs, by_capacity = [], []
    for K in args.capacities:
        zk = np.array(z)
        zk[k_index] = np.log(K)
        jobs.append((lambda z: vg(z, built.inputs), jnp.asarray(zk)))
        by_capacity.append({"K": K, "records": data.n_records})
    for row, timing in zip(by_capacity, time_calls(jobs, args.repeats), strict=True):
        row.update(timing)

    deviation_inputs = {**built.inputs, "deviation_mask": jnp.asarray(1.0)}
    jobs = [(lambda z: vg(z, built.inputs), jnp.asarray(z)),
            (lambda z: vg(z, deviation_inputs), jnp.asarray(z))]
    by_model = [{"model": m, "dim": fns.dim, "records": data.n_records}
                for m in ("gsf", "deviation")]
    for row, timing in zip(by_model, time_calls(jobs, args.repeats), strict=True):
        row.update(timing)
    return {"records": by_records, "capacity": by_capacity, "models": by_model,
            "maxrss_mb": _maxrss_mb()}


# ============================================================================ entry point

WORKERS = {"cli": worker_cli, "nutpie": worker_nutpie, "parity": worker_parity,
           "gradient": worker_gradient}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Options of the workers (set by ``run.py``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("worker", choices=sorted(WORKERS))
    p.add_argument("--json", type=Path, required=True, help="where to write the result")
    p.add_argument("--data", type=Path, default=EXAMPLE)
    p.add_argument("--model", default="gsf", choices=("gsf", "deviation"))
    p.add_argument("--adaptation", default="diag", choices=("diag", "low_rank"))
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cores", type=int, default=0, help="nutpie threads [CPU count]")
    p.add_argument("--target-accept", type=float, default=0.9)
    p.add_argument("--fit-dir", default=None, help="parity: a fit's result folder")
    p.add_argument("--points", type=int, default=8, help="parity: posterior draws per model")
    p.add_argument("--prior-points", type=int, default=3, help="parity: prior draws per model")
    p.add_argument("--sizes", type=float, nargs="*", default=[100, 1000])
    p.add_argument("--capacities", type=float, nargs="*", default=[1e3, 1e7])
    p.add_argument("--repeats", type=int, default=30, help="gradient: timed calls per row")
    p.add_argument("--capacity-records", type=int, default=0,
                   help="gradient: synthetic records of the K and model tables [0: the example]")
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    args = p.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.rest = rest  # cli: the command's arguments, after "--"
    return args


def main(argv: list[str] | None = None) -> None:
    """Run one worker and write its JSON."""
    args = parse(argv)
    result = WORKERS[args.worker](args)
    args.json.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
