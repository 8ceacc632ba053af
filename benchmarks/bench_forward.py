"""Cost of one value-and-gradient of the forward laws: flat in the capacity K (continuum tier).

Usage::

    python benchmarks/bench_forward.py              # median of 50 timings per row
    python benchmarks/bench_forward.py --repeats 200

One value and gradient with respect to ``(a, b, c, m, n, A, E)`` of the sum of log predictions
over 300 ``loss`` + 100 ``quantization`` + 100 ``pruning`` records (the same records for every
row; only the capacity ``K`` changes), jit-compiled, timed after compilation with
``block_until_ready``: the ``continuum`` tier for ``K = 1e3 … 1e7`` (the target: cost independent
of ``K``) and, for contrast, the ``exact`` tier for ``K = 1e3, 1e4, 1e5``. Prints a markdown
table and writes it to ``benchmarks/results_forward.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from gsf_infer.inference import runtime

RESULTS = Path(__file__).with_name("results_forward.md")
PARAMS = ("a", "b", "c", "m", "n", "A", "E")
TRUTH = {"a": 1.6, "b": 1.4, "c": 1.0, "m": 1.0, "n": 1.25, "A": 1.0, "E": 2.0}


def make_records():
    """Return the 500 records: times, quantization noise variances, pruning sparsities."""
    import numpy as np

    t_loss = np.geomspace(10.0, 1e5, 300)
    t_quant = np.tile(np.geomspace(10.0, 1e5, 25), 4)
    sigma2 = 1e-2 * 4.0 ** -np.repeat(np.arange(3, 7), 25)
    t_prune = np.repeat(np.array([1e2, 1e3, 1e4, 1e5]), 25)
    sparsity = np.tile(1.0 - np.geomspace(0.95, 0.005, 25), 4)
    return t_loss, t_quant, sigma2, t_prune, sparsity


def make_objective(tier: str, k_max: int | None):
    """Compile the value and gradient of ``sum log(prediction)`` over the 500 records."""
    import jax
    import jax.numpy as jnp

    from gsf_infer.model.forward import laws
    from gsf_infer.model.forward.families import GParams, get_family
    from gsf_infer.model.forward.laws import Spectrum

    fam = get_family("monomial")
    t_loss, t_quant, sigma2, t_prune, sparsity = (jnp.asarray(x) for x in make_records())

    def objective(theta, K):
        a, b, c, m, n, A, E = theta
        spec, g = Spectrum(a, b, A, 1.0), GParams(c=c, m=m, n=n)
        kw = {"tier": tier, "k_max": k_max}
        out = jnp.sum(jnp.log(laws.loss(t_loss, K, spec, g, E, fam, **kw)))
        out += jnp.sum(jnp.log(laws.quantization(t_quant, K, sigma2, spec, g, fam, **kw)))
        out += jnp.sum(jnp.log(laws.pruning(t_prune, K, sparsity, spec, g, fam, **kw)))
        return out

    return jax.jit(jax.value_and_grad(objective))


def time_row(fn, K: float, repeats: int) -> dict[str, float]:
    """Compile once, then the median (and spread) of ``repeats`` timed calls, in ms."""
    import jax
    import jax.numpy as jnp

    theta = jnp.asarray([TRUTH[p] for p in PARAMS])
    K = jnp.asarray(K, dtype=float)
    start = time.perf_counter()
    jax.block_until_ready(fn(theta, K))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value, grad = fn(theta, K)
        jax.block_until_ready((value, grad))
        times.append(1e3 * (time.perf_counter() - start))
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p10_ms": times[len(times) // 10],
        "p90_ms": times[(9 * len(times)) // 10],
        "first_call_s": compile_s,
        "finite": bool(jnp.isfinite(value) and jnp.all(jnp.isfinite(grad))),
    }


def run(repeats: int) -> str:
    """Time every row and return the markdown report."""
    import jax

    from gsf_infer.model.forward import sums

    rows = []
    cont = make_objective("continuum", None)  # K is traced: one compilation for every K
    for K in (1e3, 1e4, 1e5, 1e6, 1e7):
        rows.append(("continuum", K, time_row(cont, K, repeats)))
    for K in (1e3, 1e4, 1e5):
        exact = make_objective("exact", int(K))  # k_max is static: one compilation per K
        rows.append(("exact", K, time_row(exact, K, max(3, repeats // 10))))
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    lines = [
        "# Forward laws: one value and gradient (benchmarks/bench_forward.py)",
        "",
        "Value and gradient w.r.t. (a, b, c, m, n, A, E) of the sum of log predictions over "
        "300 loss + 100 quantization + 100 pruning records (monomial g, float64), jit-compiled; "
        "median of timed calls after compilation (block_until_ready). Same records in every "
        "row, only the capacity K changes.",
        "",
        "| tier | K | median (ms) | p10–p90 (ms) | first call incl. compile (s) | finite |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for tier, K, r in rows:
        lines.append(
            f"| {tier} | {K:.0e} | {r['median_ms']:.3f} | {r['p10_ms']:.3f}–{r['p90_ms']:.3f} "
            f"| {r['first_call_s']:.2f} | {r['finite']} |"
        )
    cont_ms = [r["median_ms"] for tier, _, r in rows if tier == "continuum"]
    lines += [
        "",
        f"continuum max/min median over K = 1e3 … 1e7: {max(cont_ms) / min(cont_ms):.2f} "
        f"(flat in K); head modes k0 = {sums.K0}, Gauss–Legendre nodes = 3 x {sums.NODES}.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU(s), {platform.python_version()}, "
        f"jax {jax.__version__}; load average at the end {load[0]:.2f}, {load[1]:.2f}, "
        f"{load[2]:.2f} (other work on the machine inflates the numbers).",
        f"Repeats: {repeats} per continuum row, {max(3, repeats // 10)} per exact row.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the benchmark, print the table and write it to ``results_forward.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per row")
    args = parser.parse_args()
    runtime.configure(host_devices=1, x64=True, cache=False)
    from gsf_infer.output.artifacts import write_text

    report = run(args.repeats)
    print(report, end="")
    write_text(report, RESULTS, force=True)


if __name__ == "__main__":
    main()
