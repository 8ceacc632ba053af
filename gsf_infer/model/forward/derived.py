"""Derived exponents and scales of the theory [GSF]_, as pure JAX functions.

- ``rho(t)``: the elasticity ratio ``E_t / E_lambda`` of ``g`` at the frontier (constant for
  ``ntk``, ``feature``, ``monomial``; a function of ``t`` for ``logcorr`` and ``ridge``);
- ``chi = (a-1) rho / b`` (loss), ``gamma = (1+b-a) rho / b`` (quantization; ``0`` in the
  saturated regime ``1+b-a <= 0``), ``rho_over_b`` (frontier and density);
- the frontier ``k_*(t)``, the critical pruning rate ``r_*(t) = 1 - k_*(t)/K``, and the flag of
  the regime ``1+b-a <= 0`` in which ``chi + gamma = rho`` does not hold.

Imports only JAX and the sibling forward modules.

References
----------
.. [GSF] Yizhou Zhang, "A Generalized Spectral Framework to Explain Neural Scaling and
   Compression Dynamics".
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gsf_infer.model.forward.families import Family, GParams
from gsf_infer.model.forward.laws import Spectrum, log_k_star

Array = jax.Array


class Exponents(NamedTuple):
    """The derived exponents at one time (or constant in time).

    Attributes
    ----------
    rho, chi, gamma, rho_over_b : array
        The elasticity ``rho = E_t / E_lambda`` of ``g`` at the frontier, the loss exponent
        ``chi = (a-1) rho/b``, the quantization exponent ``gamma = (1+b-a) rho/b`` (0 where
        ``saturated``) and the frontier exponent ``rho/b`` (``k_* ∝ t^(rho/b)``).
    pruning_slope : array
        ``1 + b - a``: log-log slope of the unweighted pruning sum of [GSF]_ eq. 20 in its
        power-law regime.
    saturated : array of bool
        ``1 + b - a <= 0``: quantization saturates and the invariant does not hold.
    """

    rho: Array
    chi: Array
    gamma: Array
    rho_over_b: Array
    pruning_slope: Array
    saturated: Array


def exponents(spec: Spectrum, g: GParams, family: Family, t: Array | float = 1.0) -> Exponents:
    """Compute the derived exponents of the loss, quantization, frontier and pruning laws.

    Parameters
    ----------
    spec, g : Spectrum, GParams
        Parameters.
    family : Family
        The ``g`` family.
    t : array or float
        Time at which ``rho`` is evaluated (matters for ``logcorr`` and ``ridge`` only).

    Returns
    -------
    Exponents
    """
    rho = family.rho(jnp.log(jnp.asarray(t, dtype=float)), g)
    a, b = spec.a, spec.b
    slope = 1.0 + b - a
    saturated = slope <= 0.0
    return Exponents(
        rho=rho,
        chi=(a - 1.0) * rho / b,
        gamma=jnp.where(saturated, 0.0, slope * rho / b),
        rho_over_b=rho / b,
        pruning_slope=slope + 0.0 * rho,
        saturated=saturated,
    )


def k_star(t: Array, spec: Spectrum, g: GParams, family: Family) -> Array:
    """Frontier mode index ``k_*(t) ∝ t^(rho/b)`` ([GSF]_ eq. 18)."""
    return jnp.exp(log_k_star(t, spec, g, family))


def critical_pruning_rate(
    t: Array, K: Array, spec: Spectrum, g: GParams, family: Family
) -> Array:
    """Critical pruning rate ``r_*(t) = 1 - k_*(t)/K`` ([GSF]_ eq. 24), clipped to ``[0, 1]``.

    ``0`` means the frontier has reached the capacity: there is no plateau left.
    """
    return jnp.clip(1.0 - k_star(t, spec, g, family) / K, 0.0, 1.0)


def density_exponents(rho_over_b: Array) -> tuple[Array, Array]:
    """Exponents of ``delta ∝ C^x P^y`` below capacity: ``(rho/b, -(1 + rho/b))`` ([GSF]_ §5)."""
    return rho_over_b, -(1.0 + rho_over_b)
