"""Cost of one potential-and-gradient evaluation: the ``elastic`` family against ``monomial``.

Builds both ``gsf`` models on ``data/example.csv``, compiles each potential's value and
gradient, then times 40 alternating evaluations (so both see the same machine load) and prints
the median milliseconds, the first call (compilation) and the ratio as JSON.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from gsf_infer.inference import runtime

runtime.configure(host_devices=1, x64=True, cache=True)

import jax  # noqa: E402  (after the runtime's settings)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from gsf_infer.data.dataset import build_model_data  # noqa: E402
from gsf_infer.data.records import read_records  # noqa: E402
from gsf_infer.inference.functions import model_functions  # noqa: E402
from gsf_infer.model.build import build_model  # noqa: E402
from gsf_infer.model.priors import PriorSet  # noqa: E402
from gsf_infer.model.settings import ModelSettings  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "example.csv"


def main(repeats: int = 40) -> dict:
    """Time both models' gradients, interleaved; return the numbers printed."""
    data = build_model_data(read_records(DATA))
    programs = {}
    for g in ("monomial", "elastic"):
        built = build_model(data, ModelSettings(g=g), PriorSet())
        fns = model_functions(built)
        value_and_grad = jax.jit(jax.value_and_grad(fns.potential))
        z = jnp.zeros(fns.dim) + 0.01
        tic = time.perf_counter()
        jax.block_until_ready(value_and_grad(z, built.inputs))
        programs[g] = (value_and_grad, z, built.inputs, time.perf_counter() - tic, fns.dim)
    times: dict[str, list[float]] = {g: [] for g in programs}
    for rep in range(repeats):
        for g, (value_and_grad, z, inputs, _, _) in programs.items():
            tic = time.perf_counter()
            jax.block_until_ready(value_and_grad(z + 1e-4 * rep, inputs))
            times[g].append(time.perf_counter() - tic)
    out = {g: {"median_ms": 1e3 * float(np.median(v)), "first_call_s": programs[g][3],
               "dim": programs[g][4]} for g, v in times.items()}
    out["ratio"] = out["elastic"]["median_ms"] / out["monomial"]["median_ms"]
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
