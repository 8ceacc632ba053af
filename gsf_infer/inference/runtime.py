"""JAX process settings, made once by the entry point before any JAX work.

Host device count (so that chains run in parallel on the CPU cores), float64, and JAX's
persistent compilation cache. Importing this module does not import JAX; calling
:func:`configure` does. The library never calls it at import time (process settings belong to
the entry point, not to an import); the CLI and the test suite's ``conftest.py`` do.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

_CONFIGURED: dict[str, object] = {}


def default_cache_dir() -> Path:
    """Folder of JAX's persistent compilation cache (``$GSF_INFER_CACHE`` overrides)."""
    env = os.environ.get("GSF_INFER_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gsf-infer" / "jax"


def configure(host_devices: int = 4, x64: bool = True, cache: bool = True) -> None:
    """Set JAX up for this process.

    Parameters
    ----------
    host_devices : int
        Number of CPU devices XLA should expose (one per parallel chain). Only effective before
        JAX first initialises its backend; later calls keep the first value.
    x64 : bool
        Enable float64 (the spectral sums span many orders of magnitude).
    cache : bool
        Use the persistent compilation cache so a repeated run skips recompilation.
    """
    if "host_devices" not in _CONFIGURED:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            flags = f"{flags} --xla_force_host_platform_device_count={int(host_devices)}".strip()
            os.environ["XLA_FLAGS"] = flags
        _CONFIGURED["host_devices"] = host_devices
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax  # deferred: the settings above must precede JAX's first import

    jax.config.update("jax_enable_x64", bool(x64))
    if cache and "cache" not in _CONFIGURED:
        path = default_cache_dir()
        try:
            path.mkdir(parents=True, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", str(path))
            # every program, however quick to compile: a fit compiles some sixty, most of them
            # small, and together they cost seconds that a warm cache saves
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
            _CONFIGURED["cache"] = str(path)
        except OSError:
            _CONFIGURED["cache"] = None


#: Memory maps above which :func:`release_compiled` frees JAX's compiled programs. Linux allows
#: 65530 per process (``vm.max_map_count``); XLA:CPU maps every JIT-linked kernel as three
#: small regions, so a process fitting many models would pass the limit and crash (segmentation
#: fault in a compilation); ``docs/decisions.md`` has the count per fit.
MAP_BUDGET = 20_000


def memory_maps() -> int:
    """Count the memory maps of this process (0 where ``/proc`` does not exist)."""
    try:
        with open(f"/proc/{os.getpid()}/maps", "rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        return 0


def one_blas_thread() -> Any:
    """Return a context in which NumPy's and SciPy's linear algebra use one thread.

    OpenBLAS's results differ in their last bits with its number of threads, and NUTS started
    from a whitening (the Laplace approximation's factor) that differs in its last bits gives
    other draws. Dask runs its workers with one such thread, so fits and calibrations run with
    one wherever they run: the same task gives the same numbers in this process and on any
    worker. The matrices are the size of the model's parameter vector; a second thread gains
    nothing on them.
    """
    from threadpoolctl import threadpool_limits  # deferred: loads NumPy's libraries

    return threadpool_limits(limits=1, user_api="blas")


def release_compiled(budget: int | None = None) -> bool:
    """Clear JAX's caches of compiled programs if the process holds more than ``budget`` maps.

    ``budget`` defaults to :data:`MAP_BUDGET` (read at call time).

    Returns
    -------
    bool
        Whether the caches were cleared (later calls of the same functions recompile, or load
        from the persistent cache).
    """
    if memory_maps() <= (MAP_BUDGET if budget is None else budget):
        return False
    import jax  # deferred: importing this module must not import JAX

    jax.clear_caches()
    gc.collect()
    return True
