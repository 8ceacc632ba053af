"""Test set-up: CPU, float64, four host devices, and seeded randomness fixtures."""

from __future__ import annotations

import os

os.environ.setdefault("GSF_INFER_CACHE", os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))

from gsf_infer.inference import runtime  # noqa: E402

runtime.configure(host_devices=4, x64=True, cache=True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator."""
    return np.random.default_rng(20261123)


@pytest.fixture
def rng_key():
    """A seeded JAX PRNG key."""
    import jax

    return jax.random.key(20261123)


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    """Free the compiled XLA programs after a test once the process holds many memory maps.

    The suite's pytest process compiles hundreds of model programs; without this it reached
    the kernel's limit of 65530 memory maps (measured 49k a fifth of the way through, three per
    JIT-linked kernel) and died with a segmentation fault inside the next compilation
    (:func:`gsf_infer.inference.runtime.release_compiled`).
    """
    yield
    runtime.release_compiled()
