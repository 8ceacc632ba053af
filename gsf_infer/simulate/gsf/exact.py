"""The theory's exact laws on the simulator's grids: grid helpers and the forward model.

Owns how a grid is laid out (every value rounded to :data:`SIG` significant digits, so the
written inputs are exactly the ones the values belong to) and the calls into the ``exact`` tier
of :mod:`gsf_infer.model.forward` (jit-compiled, summing every mode up to the largest capacity a
kind needs). JAX and the forward model are imported inside the functions that use them, so that
the command line can import the settings without loading JAX.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gsf_infer.simulate.gsf.config import GsfSimConfig

__all__ = [
    "SIG",
    "distinct_log_integers",
    "exact",
    "exponents_truth",
    "forward",
    "k_star",
    "learned_fraction",
    "log_grid",
    "round_sig",
    "run_name",
]

SIG = 10  #: significant digits of every grid value


def round_sig(values: np.ndarray) -> np.ndarray:
    """Round to :data:`SIG` significant digits (the values written are the values used)."""
    return np.array([float(f"{v:.{SIG}g}") for v in np.asarray(values, float).ravel()])


def log_grid(lo: float, hi: float, count: int) -> np.ndarray:
    """Return ``count`` log-spaced values in ``[lo, hi]``, rounded by :func:`round_sig`."""
    return round_sig(np.geomspace(lo, hi, int(count)))


def distinct_log_integers(hi: float, count: int) -> np.ndarray:
    """Return ``count`` distinct integers in ``[1, hi]``, near-even in ``log k``."""
    top = int(math.floor(hi))
    for points in range(count, 50 * count):
        ks = np.unique(np.round(np.geomspace(1.0, top, points)).astype(np.int64))
        if ks.size >= count:
            break
    if ks.size > count:  # drop interior points where the spacing in log k is smallest
        while ks.size > count:
            gaps = np.diff(np.log(ks))
            inner = np.argmin(gaps[:-1] + gaps[1:]) + 1
            ks = np.delete(ks, inner)
    return ks


def run_name(size: float) -> str:
    """Return the run name of a model of ``size`` parameters (``P1e+07``)."""
    return f"P{size:g}"


# --------------------------------------------------------------------------- the laws


def forward(config: GsfSimConfig):
    """Spectrum, g parameters and family of the configuration (JAX objects)."""
    # deferred: imports JAX (the command line imports this package before configuring JAX)
    from gsf_infer.model.forward.families import GParams, get_family
    from gsf_infer.model.forward.laws import Spectrum

    spec = Spectrum(config.a, config.b, config.A, config.Lam)
    g = GParams(c=config.c, m=config.m, n=config.n, tau=config.tau, kap=config.kap)
    return spec, g, get_family(config.family)


def exact(kind: str, config: GsfSimConfig, k_max: int, **records: np.ndarray) -> np.ndarray:
    """Evaluate one law of the exact tier on arrays of records (jit-compiled)."""
    # deferred: imports JAX (the command line imports this package before configuring JAX)
    import jax
    import jax.numpy as jnp

    from gsf_infer.model.forward import laws

    spec, g, fam = forward(config)
    kw = {"tier": "exact", "k_max": int(k_max)}
    if kind == "loss":

        def law(t, K):
            return laws.loss(t, K, spec, g, config.E, fam, **kw)

    elif kind == "quantization":

        def law(t, K, sigma2):
            return laws.quantization(t, K, sigma2, spec, g, fam, **kw)

    else:  # pruning

        def law(t, K, sparsity):
            return config.pruning_scale * laws.pruning(
                t, K, sparsity, spec, g, fam, metric=config.pruning_metric, **kw
            )

    args = {name: jnp.asarray(value, dtype=float) for name, value in records.items()}
    return np.asarray(jax.jit(law)(**args), dtype=float)


def k_star(config: GsfSimConfig, t: np.ndarray) -> np.ndarray:
    """Return the learning frontier ``k_*(t)`` of the configuration at times ``t``."""
    # deferred: imports JAX (the command line imports this package before configuring JAX)
    import jax.numpy as jnp

    from gsf_infer.model.forward import derived

    spec, g, fam = forward(config)
    return np.asarray(derived.k_star(jnp.asarray(t, dtype=float), spec, g, fam), dtype=float)


def learned_fraction(config: GsfSimConfig, k: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Return the noiseless learned fractions ``phi_k(t)`` at paired ``k`` and ``t``."""
    # deferred: imports JAX (the command line imports this package before configuring JAX)
    import jax.numpy as jnp

    from gsf_infer.model.forward import laws

    spec, g, fam = forward(config)
    phi = laws.learned_fraction(
        jnp.asarray(k, dtype=float), jnp.asarray(t, dtype=float), spec, g, fam
    )
    return np.asarray(phi, dtype=float)


def exponents_truth(config: GsfSimConfig, t: float) -> dict[str, Any]:
    """Return the derived exponents at time ``t`` (``rho`` depends on ``t`` for logcorr, ridge)."""
    # deferred: imports JAX (the command line imports this package before configuring JAX)
    from gsf_infer.model.forward import derived, laws

    spec, g, fam = forward(config)
    ex = derived.exponents(spec, g, fam, t)
    out = {
        "rho": float(ex.rho),
        "chi": float(ex.chi),
        "gamma": float(ex.gamma),
        "rho_over_b": float(ex.rho_over_b),
        "pruning_slope": float(ex.pruning_slope),
        "function_pruning_slope": 1.0 - float(config.a),
        "saturated": bool(ex.saturated),
        "invariant_holds": not bool(ex.saturated),
    }
    if "data_scaling" in config.kinds:
        out["alpha"] = float(laws.redundancy_alpha(config.b, config.s))
    return out
