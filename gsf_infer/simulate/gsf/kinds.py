"""The records of each kind: the exact laws on their grids, with noise.

One function per record kind turns a :class:`~gsf_infer.simulate.gsf.config.GsfSimConfig` into
that kind's rows (a :class:`pandas.DataFrame` with the columns of :mod:`gsf_infer.data.schema`).
Each draws its noise through ``noisy(kind, values)``, which multiplies the values by log-normal
noise from the kind's own generator (``modes`` draws normal noise on ``logit(phi)`` from
``rngs["modes"]`` instead). ``K = kappa * P^nu`` modes for a model of ``P`` parameters:

- ``loss``: every size, ``loss_points`` log-spaced ``t`` in ``[t_min, t_max]``; run ``P{size:g}``.
- ``quantization``: at ``quantization_size`` (default the largest), ``sigma^2 = sigma0_sq *
  4^-bits`` for every ``bits``, ``quantization_points`` log-spaced ``t``.
- ``pruning``: at ``pruning_size``, every ``pruning_times`` stage, ``sparsity_points``
  sparsities log-spaced in ``1 - r`` over ``[sparsity_min, sparsity_max]`` (plateau, power law
  and saturation); ``delta_loss = pruning_scale * sum`` (the unweighted sum of [GSF]_ eq. 20
  is in weight units, so it carries an amplitude of its own).
- ``density``: every size, ``C = P t`` for ``density_points`` log-spaced ``t``;
  ``delta = density_scale * min(k_*(t), K) / P``.
- ``spectrum``: ``spectrum_points`` distinct integer ``k`` log-spaced in ``[1, spectrum_k_max]``,
  eigenvalue ``Lam k^-b`` and target power ``A k^-a``; run ``spectrum``.
- ``modes``: ``phi_k(t)`` for ``modes_k`` at ``modes_points`` times of the loss grid, at the
  largest size, kept only where the noiseless ``phi`` lies in ``(modes_min, modes_max)``.
- ``data_scaling``: ``R(n) = E_ds + B_ds n^-alpha``, ``alpha = 2s/(2s + 1/b)``, at
  ``data_points`` log-spaced sample counts; run ``data_scaling``.

References
----------
.. [GSF] Yizhou Zhang, "A Generalized Spectral Framework to Explain Neural Scaling and
   Compression Dynamics".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from gsf_infer.simulate.gsf.config import GsfSimConfig
from gsf_infer.simulate.gsf.exact import (
    distinct_log_integers,
    exact,
    k_star,
    learned_fraction,
    log_grid,
    round_sig,
    run_name,
)

__all__ = [
    "Noisy",
    "data_scaling_records",
    "density_records",
    "loss_records",
    "modes_records",
    "pruning_records",
    "quantization_records",
    "spectrum_records",
]

#: ``noisy(kind, values)``: the values times log-normal noise from the kind's own generator.
Noisy = Callable[[str, np.ndarray], np.ndarray]


def _frame(kind: str, run: Any, **columns: Any) -> pd.DataFrame:
    return pd.DataFrame({"kind": kind, "run": run, **columns})


def _ints(values: Any) -> pd.arrays.IntegerArray:
    return pd.array(values, dtype="Int64")


def loss_records(config: GsfSimConfig, sizes: list[float], t_loss: np.ndarray, noisy: Noisy):
    """Return the loss curves: every size at every time of the loss grid."""
    P = np.repeat(sizes, t_loss.size)
    t = np.tile(t_loss, len(sizes))
    K = np.array([config.capacity(p) for p in P])
    mu = exact("loss", config, math.ceil(K.max()), t=t, K=K)
    return _frame("loss", [run_name(p) for p in P], t=t, params=P, loss=noisy("loss", mu))


def quantization_records(config: GsfSimConfig, sizes: list[float], noisy: Noisy):
    """Return the quantization losses at every precision over their time grid."""
    size = float(config.quantization_size or sizes[-1])
    t_q = log_grid(config.t_min, config.t_max, config.quantization_points)
    bits = np.repeat(np.asarray(config.bits, dtype=np.int64), t_q.size)
    t = np.tile(t_q, len(config.bits))
    K = np.full(t.size, config.capacity(size))
    sigma2 = config.sigma0_sq * 4.0 ** (-bits.astype(float))
    mu = exact("quantization", config, math.ceil(K.max()), t=t, K=K, sigma2=sigma2)
    return _frame(
        "quantization", run_name(size), t=t, params=size, bits=_ints(bits),
        delta_loss=noisy("quantization", mu),
    )  # fmt: skip


def pruning_records(config: GsfSimConfig, noisy: Noisy):
    """Return the pruning curves: every stage over sparsities log-spaced in ``1 - r``."""
    size = float(config.pruning_size)
    kept = log_grid(1.0 - config.sparsity_min, 1.0 - config.sparsity_max, config.sparsity_points)
    r_grid = round_sig(1.0 - kept)
    t_p = round_sig(np.asarray(config.pruning_times, float))
    t = np.repeat(t_p, r_grid.size)
    r = np.tile(r_grid, t_p.size)
    K = np.full(t.size, config.capacity(size))
    mu = exact("pruning", config, math.ceil(K.max()), t=t, K=K, sparsity=r)
    return _frame(
        "pruning", run_name(size), t=t, params=size, sparsity=r, delta_loss=noisy("pruning", mu)
    )


def density_records(config: GsfSimConfig, sizes: list[float], noisy: Noisy):
    """Return the densities ``min(k_*(C/P), K) / P`` at log-spaced ``t = C/P``, every size."""
    t_d = log_grid(config.t_min, config.t_max, config.density_points)
    P = np.repeat(sizes, t_d.size)
    t = np.tile(t_d, len(sizes))
    compute = round_sig(P * t)
    K = np.array([config.capacity(p) for p in P])
    mu = config.density_scale * np.minimum(k_star(config, compute / P), K) / P
    return _frame(
        "density", [run_name(p) for p in P], params=P, compute=compute,
        density=noisy("density", mu),
    )  # fmt: skip


def spectrum_records(config: GsfSimConfig, noisy: Noisy):
    """Return the eigenvalues ``Lam k^-b`` and target powers ``A k^-a`` at integer ``k``."""
    k = distinct_log_integers(config.spectrum_k_max, config.spectrum_points)
    kf = k.astype(float)
    return _frame(
        "spectrum", "spectrum", k=_ints(k),
        eigenvalue=noisy("spectrum", config.Lam * kf ** (-config.b)),
        target_power=noisy("spectrum", config.A * kf ** (-config.a)),
    )  # fmt: skip


def modes_records(
    config: GsfSimConfig, size: float, t_loss: np.ndarray, rng: np.random.Generator
) -> tuple[pd.DataFrame, int]:
    """Return the learned fractions on a thinned loss grid, and how many were dropped."""
    pick = np.unique(np.round(np.linspace(0, t_loss.size - 1, config.modes_points)).astype(int))
    t_m = t_loss[pick]
    k = np.repeat(np.asarray(config.modes_k, dtype=np.int64), t_m.size)
    t = np.tile(t_m, len(config.modes_k))
    phi = learned_fraction(config, k.astype(float), t)
    keep = (phi > config.modes_min) & (phi < config.modes_max)
    k, t, phi = k[keep], t[keep], phi[keep]
    z = rng.standard_normal(phi.shape)
    logit = np.log(phi) - np.log1p(-phi) + config.noise * z
    frame = _frame(
        "modes", run_name(size), t=t, params=size, k=_ints(k),
        learned_fraction=1.0 / (1.0 + np.exp(-logit)),
    )  # fmt: skip
    return frame, int((~keep).sum())


def data_scaling_records(config: GsfSimConfig, noisy: Noisy):
    """Return the redundancy law ``R(n) = E_ds + B_ds n^-alpha`` at log-spaced counts."""
    # deferred: imports JAX (the command line imports this package before configuring JAX)
    from gsf_infer.model.forward.laws import redundancy_alpha

    samples = np.unique(
        np.round(np.geomspace(config.samples_min, config.samples_max, config.data_points))
    ).astype(np.int64)
    alpha = float(redundancy_alpha(config.b, config.s))
    mu = config.E_ds + config.B_ds * samples.astype(float) ** (-alpha)
    return _frame(
        "data_scaling", "data_scaling", samples=_ints(samples), loss=noisy("data_scaling", mu)
    )
