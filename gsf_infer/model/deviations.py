r"""The deviation model's parameters: the ways the invariant ``chi + gamma = rho`` can break.

The ``deviation`` model is ``gsf`` plus one parameter per way the invariant can break, each zero
under the theory:

- ``delta_Q``: quantization weights mode ``k`` by ``k^(b - a + delta_Q)`` instead of
  ``w_k^2 ∝ k^(b - a)``, so that its growth exponent is ``gamma_Q = (1 + b - a + delta_Q) rho/b``;
- ``eps_F``: the frontier that pruning and density see moves at ``(rho/b) exp(eps_F)``, so that
  the elasticity they measure is ``rho_F = rho exp(eps_F)``;
- ``delta_L``: the loss's target power falls as ``k^-(a + delta_L)``, so that
  ``chi_L = (a + delta_L - 1) rho/b``.

Then ``delta = chi_L + gamma_Q - rho_F`` and

.. math:: \frac{\delta}{\rho_F} = \left(1 + \frac{\delta_L + \delta_Q}{b}\right)
          e^{-\varepsilon_F} - 1 ,

zero exactly when the invariant of Zhang, "A Generalized Spectral Framework to Explain Neural
Scaling and Compression Dynamics", holds (``docs/theory.md`` gives the derivation). Which kinds
of records make the invariant testable (:func:`missing_requirements`) and which deviation
parameters the records can identify (:func:`deviations_for`) are stated here, with the model;
the verdict on the posterior is decided in :mod:`gsf_infer.analysis.invariant`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

#: The requirements of a test of the invariant, as :func:`missing_requirements` names them.
REQUIREMENTS: tuple[str, ...] = (
    "loss",
    "quantization",
    "pruning or density",
    "spectrum or (pruning and loss at several model sizes)",
)

#: The deviation parameters, each zero under the theory, with what it means.
DEVIATIONS: dict[str, str] = {
    "delta_Q": "quantization weights mode k by k^(b-a+delta_Q) instead of w_k^2",
    "eps_F": "the pruning/density frontier moves at (rho/b) exp(eps_F)",
    "delta_L": "the loss's target power falls as k^-(a+delta_L)",
}


def missing_requirements(
    kinds: Iterable[str], loss_sizes: int = 1, target_power: bool = False
) -> tuple[str, ...]:
    """List the unmet requirements of a test of the invariant (empty when it is testable).

    ``chi`` needs ``loss``, ``gamma`` needs ``quantization``, the frontier's rate ``rho/b``
    needs ``pruning`` or ``density``, and ``b`` needs ``spectrum`` or the pruning slope
    ``1 + b - a`` together with ``a`` from the loss floor at several model sizes.
    ``target_power`` is accepted for symmetry with :func:`deviations_for` (it does not relax
    any requirement: ``b`` still needs the eigenvalues or the pruning slope).
    """
    present = set(kinds)
    missing = []
    if "loss" not in present:
        missing.append(REQUIREMENTS[0])
    if "quantization" not in present:
        missing.append(REQUIREMENTS[1])
    if not present & {"pruning", "density"}:
        missing.append(REQUIREMENTS[2])
    if "spectrum" not in present and not ("pruning" in present and loss_sizes >= 2):
        missing.append(REQUIREMENTS[3])
    return tuple(missing)


def deviations_for(info: Mapping[str, Any]) -> tuple[str, ...]:
    """List the deviation parameters of the ``deviation`` model for data with these kinds.

    ``info`` holds ``kinds``, ``loss_sizes`` and ``target_power``
    (:func:`gsf_infer.model.build.data_kinds`). None where the invariant is untestable; otherwise
    ``delta_Q`` and ``eps_F``, and ``delta_L`` where spectrum records carry target powers and
    ``modes`` records measure ``g`` itself. Elsewhere the loss is what measures the dynamics'
    rate, and ``delta_L`` would trade off against it along a ridge that only the deviations'
    prior closes: ``chi_L = (a + delta_L - 1) rho/b`` with ``rho`` free.
    """
    if missing_requirements(info["kinds"], info["loss_sizes"], info["target_power"]):
        return ()
    names = ["delta_Q", "eps_F"]
    if info["target_power"] and "modes" in info["kinds"]:
        names.append("delta_L")
    return tuple(names)


def with_deviations(
    kind: str, P: dict[str, Any], x: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the parameters and inputs of one kind's law under the deviation parameters in ``P``.

    - ``delta_L``: the loss's target power falls as ``k^-(a + delta_L)``;
    - ``delta_Q``: quantization weights mode ``k`` by ``k^(b - a + delta_Q)`` (the law's
      ``w_k^2`` with ``a - delta_Q`` in place of ``a``);
    - ``eps_F``: pruning and density see the frontier move at ``(rho/b) exp(eps_F)``: their
      clock runs as ``t^exp(eps_F)`` (``t`` in units of ``t_ref``, so the frontier's position at
      the reference time is unchanged).

    Absent parameters leave the law as the theory states it.
    """
    if kind == "loss" and "delta_L" in P:
        P = {**P, "a": P["a"] + P["delta_L"]}
    elif kind == "quantization" and "delta_Q" in P:
        P = {**P, "a": P["a"] - P["delta_Q"]}
    elif kind in ("pruning", "density") and "eps_F" in P:
        x = {**x, "t": x["t"] ** jnp.exp(P["eps_F"])}
    return P, x


def delta_over_rho(P: dict[str, Any]) -> jax.Array:
    r"""``(chi_L + gamma_Q - rho_F) / rho_F`` under the deviation parameters in ``P``.

    With ``chi_L = (a + delta_L - 1) rho/b``, ``gamma_Q = (1 + b - a + delta_Q) rho/b`` and
    ``rho_F = rho exp(eps_F)``:

    .. math:: \frac{\delta}{\rho} = \left(1 + \frac{\delta_L + \delta_Q}{b}\right)
              e^{-\varepsilon_F} - 1 .
    """
    zero = jnp.zeros_like(jnp.asarray(P["b"], dtype=float))
    d_l = P.get("delta_L", zero)
    d_q = P.get("delta_Q", zero)
    eps = P.get("eps_F", zero)
    return (1.0 + (d_l + d_q) / P["b"]) * jnp.exp(-eps) - 1.0


#: Default prior scale of each deviation parameter (``Normal(0, scale)``).
DEVIATION_SCALE = 0.5

#: The deviations that enter the data through a product ``(c + delta) rho/b``.
PRODUCTS = frozenset({"delta_Q", "delta_L"})


def _factors(names: tuple[str, ...], P: Mapping[str, Any]) -> jax.Array:
    """Per deviation, the exponent ``c`` that the data measure as ``(c + delta) rho/b``.

    ``1 + b - a`` for ``delta_Q`` (``gamma_Q``), ``a - 1`` for ``delta_L`` (``chi_L``), and 0
    for ``eps_F`` (which enters as ``log rho + eps_F``, linear already: not in
    :data:`PRODUCTS`). With several groups the groups' mean stands for the exponents.
    """
    a = jnp.mean(jnp.asarray(P["a"], dtype=float))
    b = jnp.mean(jnp.asarray(P["b"], dtype=float))
    by_name = {"delta_Q": 1.0 + b - a, "delta_L": a - 1.0}
    return jnp.stack([jnp.asarray(by_name.get(name, 0.0)) for name in names])



def _rate(P: Mapping[str, Any]) -> jax.Array:
    """``rho/b`` (the groups' mean), or 1 where the model has no ``rho``."""
    if "rho" not in P:
        return jnp.asarray(1.0)
    return jnp.mean(jnp.asarray(P["rho"], dtype=float) / jnp.asarray(P["b"], dtype=float))


def sample_deviations(
    names: tuple[str, ...], P: Mapping[str, Any], scale: jax.Array, mask: jax.Array
) -> jax.Array:
    r"""Sample the coordinates ``deviation_z`` and return the deviation parameters' values.

    Each deviation has the prior ``Normal(0, s)`` (``s = scale``). ``eps_F`` is ``s z`` with
    ``z ~ Normal(0, 1)``. ``delta_Q`` and ``delta_L`` enter the data only through
    ``(c + delta) r``, with ``r = rho/b`` and ``c = 1 + b - a`` (quantization's growth exponent
    ``gamma_Q``) or ``c = a - 1`` (the loss's ``chi_L``); sampled as ``s z`` they would leave a
    curved ridge ``(c + s z) r = const`` along the direction in which the loss moves ``rho``.
    Their coordinate is instead the measured product, scaled,

    .. math:: \delta = \frac{c + s z}{r} - c , \qquad
              z \mid a, b, \rho \sim \mathcal{N}\!\left(\frac{c (r - 1)}{s},\; r\right),

    the same joint prior (the map is affine in ``z`` with slope ``s/r``, so ``delta | a, b, rho``
    is ``Normal(0, s)``), on which ``(c + delta) r = c + s z`` is linear: as ``bm`` for ``m``
    (:func:`gsf_infer.model.sites.sample_spectral`), the ridge becomes a conditional prior.
    ``mask`` (0 or 1) switches the deviations off (the ``gsf`` model) or on; off, the
    coordinates are ``Normal(c (r - 1)/s, 1)``, pure prior whose normalisation does not depend
    on ``a, b, rho`` (so the ``gsf`` optimum is the posterior mode of the other parameters) and
    whose mode is where the deviations vanish (where the ``deviation`` fit's optimiser starts).
    """
    c = _factors(names, P)
    r = _rate(P)
    pinned = jnp.asarray([name in PRODUCTS for name in names])
    loc = jnp.where(pinned, c * (r - 1.0) / scale, 0.0)
    # with the deviations off (gsf) the scale is 1: a scale depending on rho/b would tilt the
    # joint optimum of (theta, z) away from the posterior mode of theta by -log(rho/b)
    sd = jnp.where(pinned, 1.0 + mask * (r - 1.0), 1.0)
    z = numpyro.sample("deviation_z", dist.Normal(loc, sd).to_event(1))
    values = jnp.where(pinned, (c + scale * z) / r - c, scale * z)
    return mask * values
