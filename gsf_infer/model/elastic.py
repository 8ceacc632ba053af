r"""The ``elastic`` family's curve: ``log rho(tau) = log rho_0 + f(tau)`` with ``f`` a shrunk GP.

With ``g = c lambda^m exp(H(tau))``, ``tau = log(t/t_ref)``, the elasticities of [GSF]_ eq. 4
are ``E_lambda = m`` and ``E_t = n(tau) = dH/dtau``, so the elasticity ratio is
``rho(tau) = n(tau)/m`` and

.. math::

    n(\tau) = n_0\, e^{f(\tau) - f(0)}, \qquad
    \log g = \log c + m \log\lambda + \int_0^\tau n(s)\, ds .

``n_0 = m rho_0`` has ``monomial``'s prior on ``n``, so ``f = 0`` is ``monomial`` exactly.
``f`` is a zero-mean Gaussian process with the squared-exponential kernel
``amp^2 exp(-(u-u')^2 / (2 l^2))`` in the grid coordinate ``u = (tau - centre)/half-width``,
in the Hilbert-space reduced-rank approximation [HSGP]_ (``numpyro.contrib.hsgp``: ``M``
Laplacian eigenfunctions on ``[-L, L]``, ``L = 1.5``, weights ``sqrt(S(sqrt(lambda_j))) z_j``,
``z_j ~ N(0, 1)``). The amplitude is fixed by default (``amp = 0.2``, the prior's zero-mean
curve shrinks ``rho(t)`` towards a constant): a sampled amplitude times the weights is a
product the records pin only jointly, a curved ridge that NUTS crosses in long trajectories.
A priors-file table frees it.
``f`` is evaluated on a uniform grid spanning the records' time range with a margin on each
side, and ``H`` by cumulative quadrature on it
(:func:`gsf_infer.model.forward.families.elastic_integral`).

References
----------
.. [GSF] Yizhou Zhang, "A Generalized Spectral Framework to Explain Neural Scaling and
   Compression Dynamics", Section 6 item 4.
.. [HSGP] Arno Solin and Simo Särkkä, "Hilbert space methods for reduced-rank Gaussian process
   regression", Statistics and Computing 30, 419-446 (2020); Gabriel Riutort-Mayol et al.,
   "Practical Hilbert space approximate Bayesian Gaussian processes for probabilistic
   programming", Statistics and Computing 33, 17 (2023).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.contrib.hsgp.laplacian import eigenfunctions
from numpyro.contrib.hsgp.spectral_densities import diag_spectral_density_squared_exponential

from gsf_infer.data.dataset import ModelData
from gsf_infer.model.priors import PriorSet
from gsf_infer.model.settings import FRONTIER_KINDS

#: Nodes of the grid in ``tau``.
GRID_POINTS = 48
#: Laplacian eigenfunctions of the HSGP.
BASIS = 10
#: Half-width of the HSGP's domain, in half-widths of the grid (the boundary factor).
BOUNDARY = 1.5
#: Margin added on each side of the records' range of ``log t``: this share of the range, at
#: least :data:`MIN_MARGIN`.
MARGIN = 0.15
MIN_MARGIN = 0.5
#: The curves recorded on the grid (deterministic sites with a ``tau`` dimension).
CURVES = ("rho_t", "chi_t", "gamma_t")


def time_range(data: ModelData) -> tuple[float, float]:
    """``(min, max)`` of ``log(t/t_ref)`` over the records of the kinds that see the frontier."""
    logs = [
        np.log(np.asarray(kd.x["t"], dtype=float))
        for kind, kd in data.kinds.items()
        if kind in FRONTIER_KINDS and "t" in kd.x and kd.size
    ]
    if not logs:
        return -1.0, 1.0
    values = np.concatenate(logs)
    values = values[np.isfinite(values)]
    return float(values.min()), float(values.max())


def elastic_grid(data: ModelData) -> np.ndarray:
    """Uniform grid of ``tau = log(t/t_ref)``: the records' range and a margin on each side.

    It always contains ``tau = 0`` (``t_ref`` is a geometric mean of the records' times).
    """
    lo, hi = time_range(data)
    margin = max(MIN_MARGIN, MARGIN * (hi - lo))
    return np.linspace(min(lo, 0.0) - margin, max(hi, 0.0) + margin, GRID_POINTS)


def basis(grid: Any) -> jax.Array:
    """HSGP eigenfunctions at the grid's nodes and at ``tau = 0`` (last row), ``(J + 1, M)``."""
    grid = jnp.asarray(grid)
    centre = 0.5 * (grid[0] + grid[-1])
    half = 0.5 * (grid[-1] - grid[0])
    u = (jnp.append(grid, 0.0) - centre) / half
    return eigenfunctions(u, BOUNDARY, BASIS)


def drift(amp: Any, length: Any, z: Any, phi: Any) -> jax.Array:
    """``f(tau_j) - f(0)`` on the grid from the HSGP weights (``phi`` from :func:`basis`)."""
    spd = jnp.sqrt(diag_spectral_density_squared_exponential(amp**2, length, BOUNDARY, BASIS, 1))
    f = jnp.asarray(phi) @ (spd * z)
    return f[:-1] - f[-1]


def sample_elastic(grid: Any, priors: PriorSet) -> dict[str, jax.Array]:
    """Sample the drift of ``log rho`` on ``grid``; return ``tgrid`` and ``elastic_f`` on it.

    ``grid`` is :func:`elastic_grid` of the data, passed as a model input (one compiled program
    serves data sets of equal shapes).
    """

    def site(name: str) -> jax.Array:
        prior = priors[name]
        if prior.fixed:
            return jnp.asarray(prior.args["value"] + prior.shift)
        return numpyro.sample(name, prior.numpyro())

    amp, length = site("elastic_amp"), site("elastic_length")
    z = numpyro.sample("elastic_z", dist.Normal(0.0, 1.0).expand((BASIS,)).to_event(1))
    return {"tgrid": jnp.asarray(grid), "elastic_f": drift(amp, length, z, basis(grid))}


def curves(P: dict[str, Any]) -> dict[str, jax.Array]:
    """``rho(tau)``, ``chi(tau)``, ``gamma(tau)`` on the grid; ``(J,)`` or ``(G, J)``.

    ``rho(tau) = (n_0/m) e^{f(tau) - f(0)}``; ``chi`` and ``gamma`` follow from it as at
    ``t_ref`` (``chi = (a - 1) rho / b``, ``gamma = (1 + b - a) rho / b`` where positive).
    """
    a = jnp.asarray(P["a"], dtype=float)[..., None]
    b = jnp.asarray(P["b"], dtype=float)[..., None]
    m = jnp.asarray(P["m"], dtype=float)[..., None]
    rho = jnp.asarray(P["n"], dtype=float) / m * jnp.exp(P["elastic_f"])
    slope = 1.0 + b - a
    return {
        "rho_t": rho,
        "chi_t": (a - 1.0) * rho / b,
        "gamma_t": jnp.where(slope > 0, slope * rho / b, 0.0),
    }
