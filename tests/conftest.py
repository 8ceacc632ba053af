"""Test set-up: CPU, float64, four host devices, and seeded randomness fixtures."""

from __future__ import annotations

import os

os.environ.setdefault(
    "GSF_INFER_CACHE", os.path.join(os.path.dirname(__file__), "..", ".jax_cache")
)

from gsf_infer.inference import runtime  # noqa: E402

runtime.configure(host_devices=4, x64=True, cache=True)

import jax  # noqa: E402  (after the runtime's settings)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from xdist_scheduling import (  # noqa: E402, F401
    pytest_collection_modifyitems,
    pytest_xdist_make_scheduler,
)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator."""
    return np.random.default_rng(20261123)


@pytest.fixture
def rng_key():
    """A seeded JAX PRNG key."""
    return jax.random.key(20261123)


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    """Free the compiled XLA programs after a test once the process holds many memory maps.

    The suite's pytest process compiles hundreds of model programs, three memory maps per
    JIT-linked kernel; without this it would pass the kernel's limit of 65530 maps and die with
    a segmentation fault inside the next compilation, or inside any library that maps memory
    then (:func:`gsf_infer.inference.runtime.release_compiled`; the counts are in
    ``docs/decisions.md``). The maps are counted after every test: a count reads
    ``/proc/self/maps``, a few milliseconds, and a test that fits several models adds
    thousands.
    """
    yield
    runtime.release_compiled()

