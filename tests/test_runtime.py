"""``gsf_infer.inference.runtime``: releasing compiled programs keeps a long process under the map
limit.

Reference: the kernel's own count of this process's memory maps (``/proc/self/maps``), before
and after; a compiled program's maps are released by JAX's cache clearing and it still runs.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import pytest

from gsf_infer.inference import runtime


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/<pid>/maps is Linux's")
def test_release_compiled_frees_the_maps_of_compiled_programs():
    runtime.release_compiled(budget=0)
    before = runtime.memory_maps()
    programs = []
    for i in range(16):  # distinct programs, each JIT-linked into its own maps

        def f(x, i=i):
            return jnp.sum(jnp.sin(x * (i + 1)) ** (i % 5 + 1) + jnp.cumsum(x) * i)

        program = jax.jit(jax.grad(f))
        program(jnp.linspace(0.0, 1.0, 64)).block_until_ready()
        programs.append(program)
    grown = runtime.memory_maps()
    assert grown > before + 16  # at least one map per program
    assert runtime.release_compiled(budget=10**9) is False  # under budget: nothing done
    assert runtime.memory_maps() >= grown - 5
    assert runtime.release_compiled(budget=0) is True
    assert runtime.memory_maps() < grown
    # the functions still work (recompiled on demand): at x = 0 the sine term's gradient
    # vanishes and d/dx_0 of 3 * sum(cumsum(x)) over 4 entries is 3 * 4
    assert float(programs[3](jnp.zeros(4))[0]) == pytest.approx(12.0)
