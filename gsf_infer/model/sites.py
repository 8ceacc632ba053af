"""The parameters of the models as numpyro sample sites, in the parametrisation NUTS sees.

Parametrisation (chosen so that NUTS sees weakly correlated, data-identified coordinates):

- exponents ``a``, ``b`` (``> 1``), the shape parameters of ``g`` (``m``, ``n``, ``tau``,
  ``kap`` as the family needs);
- ``k_star``: the frontier's mode index at the reference time (``g(lambda_{k_star}, t_ref) = 1``),
  which fixes the amplitude ``c`` of ``g``;
- ``K``: capacity in modes at the reference size, ``K(P) = K (P/P_ref)^nu`` (``nu`` fixed at 1
  unless a prior frees it);
- each kind's amplitude is its own value at a reference point, so amplitudes and exponents
  decouple: ``loss_level`` = ``L`` at ``(t_ref, P_ref)``, of which ``E`` is a uniform fraction
  ``E_frac`` and ``loss_scale = L - E`` the rest, ``quant_scale`` = ``dL_Q`` at
  ``(t_ref, P_ref)`` and ``bits_ref`` (one per group with ``bits``, else one per run),
  ``pruning_scale`` = ``dL_P`` at ``(t_ref, P_ref)`` with everything pruned, ``density_scale``
  = density at ``(t_ref, P_ref)``, ``spectrum_scale``/``target_scale`` = eigenvalue/target power
  at ``k_ref``; the loss's level is what its records pin, and the floor against ``chi`` the one
  soft direction its parametrisation leaves (``E`` and ``loss_scale`` sampled directly make a
  curved ridge of three with ``chi`` on a curve flattening towards its floor);
- a ``data_scaling`` curve ``E + B n^-alpha`` by its value ``ds_level = E + B`` at its
  reference sample count (``n = 1``) and the fraction ``E_ds_frac`` of it that is floor: the
  records pin the value, which leaves one soft direction (the floor against ``alpha``) where
  ``E`` and ``B`` sampled directly make a curved ridge of three.

Derived quantities are deterministic sites: ``rho`` (at ``t_ref`` for families where it varies),
``chi``, ``gamma``, ``rho_over_b``; for ``elastic`` also the curves ``rho_t``, ``chi_t``,
``gamma_t`` on its grid in ``tau = log(t/t_ref)`` (:mod:`gsf_infer.model.elastic`).
Several groups share the exponents or pool them hierarchically, as the priors say.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from gsf_infer.data.dataset import ModelData
from gsf_infer.model.elastic import curves, elastic_grid, sample_elastic
from gsf_infer.model.forward.families import Family, GParams, elastic_integral, get_family
from gsf_infer.model.priors import Prior, PriorSet
from gsf_infer.model.settings import (
    CAPACITY_KINDS,
    E_MARGIN,
    FRONTIER_KINDS,
    ModelSettings,
)


def _group_array(x: Any, n: int) -> jax.Array:
    """Broadcast a scalar or ``(n,)`` parameter to shape ``(n,)``."""
    return jnp.broadcast_to(jnp.asarray(x, dtype=float), (n,))


def _sample(name: str, prior: Prior, shape: tuple[int, ...] = ()) -> jax.Array:
    """Sample a site from a prior (``Fixed`` priors return their value, unrecorded)."""
    if prior.fixed:
        return jnp.full(shape, prior.args["value"] + prior.shift)
    d = prior.numpyro()
    if shape:
        d = d.expand(shape).to_event(len(shape))
    return numpyro.sample(name, d)


def _sample_groups(name: str, prior: Prior, n_groups: int) -> jax.Array:
    """One value (scalar) for a single group, else a vector over groups."""
    return _sample(name, prior, () if n_groups == 1 else (n_groups,))


def _sample_pooled(name: str, prior: Prior, n_groups: int, pool: Prior) -> jax.Array:
    """Exponent per group, partially pooled on the scale of ``log(x - shift)``.

    With one group this is the prior itself. With several, ``log(x - shift)`` of group ``j``
    is ``mu + sd * z_j`` with ``mu`` from the prior's location (log-normal priors only),
    ``sd ~ pool``, ``z_j ~ Normal(0, 1)`` (non-centred).
    """
    if n_groups == 1 or prior.fixed or prior.dist != "LogNormal":
        return _sample_groups(name, prior, n_groups)
    mu = numpyro.sample(f"{name}_mu", dist.Normal(prior.args["loc"], prior.args["scale"]))
    sd = numpyro.sample(f"{name}_sd", pool.numpyro())
    z = numpyro.sample(f"{name}_z", dist.Normal(0.0, 1.0).expand((n_groups,)).to_event(1))
    return numpyro.deterministic(name, prior.shift + jnp.exp(mu + sd * z))


def g_params(family: Family, k_star: jax.Array, b: jax.Array, P: dict[str, Any]) -> GParams:
    """``GParams`` in standardized units with ``c`` set so that ``g = 1`` at ``(k_star, t_ref)``.

    With ``Lam = 1`` and ``t`` in units of ``t_ref``: for the ``g = c lambda^m t^n L(t)``
    families ``c = k_star^(b m) / L(1)``; for ``ridge`` ``c = k_star^b`` and ``kap`` is given in
    units of ``lambda_{k_star}``; for ``elastic`` ``c = k_star^(b m)`` (``H(0) = 0``) and
    ``n(tau_j) = n_0 e^{f_j}`` on the grid ``tgrid`` (scalar ``k_star`` and ``b`` only).
    """
    one = jnp.ones_like(k_star)
    if family.name == "ridge":
        return GParams(c=k_star**b, kap=P["kap"] * k_star ** (-b) * one)
    if family.name == "elastic":
        m, n = P["m"] * one, P["n"] * one
        ngrid = n * jnp.exp(P["elastic_f"])
        return GParams(
            c=jnp.exp(b * m * jnp.log(k_star)), m=m, n=n, tgrid=P["tgrid"], ngrid=ngrid,
            hgrid=elastic_integral(P["tgrid"], ngrid),
        )
    m = P.get("m", 1.0) * one if family.name in ("monomial", "logcorr") else one
    n = P.get("n", 1.0) * one if family.name in ("monomial", "logcorr", "feature") else one
    tau = P.get("tau", 1.0) * one
    log_l1 = jnp.log(jnp.log(jnp.e + 1.0 / tau)) if family.name == "logcorr" else 0.0 * one
    c = jnp.exp(b * m * jnp.log(k_star) - log_l1)
    return GParams(c=c, m=m, n=n, tau=tau, kap=0.0 * one)


def exponents_of(family: Family, P: dict[str, Any], n_groups: int) -> dict[str, jax.Array]:
    """``rho`` (at ``t_ref``), ``chi``, ``gamma``, ``rho_over_b`` from sampled parameters."""
    a = jnp.asarray(P["a"], dtype=float)
    b = jnp.asarray(P["b"], dtype=float)
    if family.name in ("ntk", "feature", "monomial", "elastic"):
        m = P.get("m", 1.0) if family.name in ("monomial", "elastic") else 1.0
        n = P.get("n", 1.0) if family.name != "ntk" else 1.0
        rho = jnp.asarray(n, dtype=float) / m * jnp.ones_like(b)
    else:
        k_star = jnp.asarray(P.get("k_star", 30.0), dtype=float)
        shape = jnp.broadcast_shapes(k_star.shape, b.shape)
        ks = jnp.broadcast_to(k_star, shape)
        bb = jnp.broadcast_to(b, shape)
        gp = g_params(family, ks, bb, P)
        rho = family.rho(jnp.zeros(shape), gp)
    slope = 1.0 + b - a
    return {
        "rho": rho,
        "chi": (a - 1.0) * rho / b,
        "gamma": jnp.where(slope > 0, slope * rho / b, 0.0),
        "rho_over_b": rho / b,
    }


def _sample_m(name, prior: Prior, b: jax.Array) -> jax.Array:
    """``m`` through ``bm = b * m``, the exponent of ``g`` in the mode index.

    Every kind but ``spectrum`` sees ``b`` and ``m`` only through ``bm`` (``g`` at mode ``k``
    is ``(k/k_star)^(-bm) (t/t_ref)^n``), so sampling ``b`` and ``m`` directly leaves a curved
    ridge ``b m = const`` wherever ``b`` is not measured. With a log-normal prior on ``m``,
    ``bm | b ~ LogNormal(log b + loc, scale)`` is the same joint prior, and the ridge becomes
    the conditional prior of ``b`` given ``bm``. Other priors on ``m`` are sampled directly.
    """
    if prior.dist != "LogNormal" or prior.shift:
        return _sample(name("m"), prior)
    loc, scale = prior.args["loc"], prior.args["scale"]
    bm = numpyro.sample(name("bm"), dist.LogNormal(jnp.log(b) + loc, scale))
    return numpyro.deterministic(name("m"), bm / b)


def sample_spectral(
    data: ModelData,
    settings: ModelSettings,
    priors: PriorSet,
    kinds: frozenset[str],
    consts: dict[str, Any] | None = None,
) -> dict[str, jax.Array]:
    """Sample the spectral parameters shared by every kind.

    ``a`` and ``b`` (partially pooled across groups), ``bm`` given ``b`` and ``n`` (or the
    family's own shape parameters), the frontier scale ``k_star`` and the capacity ``K``.
    Parameters that no kind present reads are not sampled: the shape of ``g`` and ``k_star``
    only with a kind that involves the learning frontier, ``K`` and ``nu`` only with one that
    involves capacity. The derived exponents ``rho``, ``chi``, ``gamma``, ``rho_over_b`` are
    recorded where ``g`` is in the model. ``consts`` are the :func:`prior_constants` (traced
    model arguments; the ``elastic`` grid is read from them, else computed from ``data``).
    """
    family = get_family(settings.g)
    G = data.n_groups
    P: dict[str, jax.Array] = {}
    P["a"] = _sample_pooled("a", priors["a"], G, priors["pool_sd"])
    P["b"] = _sample_pooled("b", priors["b"], G, priors["pool_sd"])
    if kinds & FRONTIER_KINDS:
        if family.name in ("monomial", "logcorr", "elastic"):
            P["m"] = _sample_m(lambda base: base, priors["m"], P["b"])
            P["n"] = _sample("n", priors["n"])
        if family.name == "elastic":
            grid = elastic_grid(data) if consts is None else consts["elastic_grid"]
            P.update(sample_elastic(grid, priors))
        elif family.name == "feature":
            P["n"] = _sample("n", priors["n_feature"])
        if family.name == "logcorr":
            P["tau"] = _sample("tau", priors["tau"])
        if family.name == "ridge":
            P["kap"] = _sample("kap", priors["kap"])
    P.update(sample_scales(priors, kinds, G))
    if kinds & FRONTIER_KINDS:
        for key, value in exponents_of(family, P, G).items():
            P[key] = numpyro.deterministic(key, value)
        if family.name == "elastic":
            for key, value in curves(P).items():
                P[key] = numpyro.deterministic(key, value)
    return P


def sample_scales(
    priors: PriorSet, kinds: frozenset[str], n_groups: int, name=lambda base: base
) -> dict[str, jax.Array]:
    """Sample the frontier scale ``k_star`` and capacity ``K``, ``nu`` where ``kinds`` use them."""
    P: dict[str, jax.Array] = {}
    if kinds & FRONTIER_KINDS:
        P["k_star"] = _sample_groups(name("k_star"), priors["k_star"], n_groups)
    if kinds & CAPACITY_KINDS:
        P["K"] = _sample_groups(name("K"), priors["K"], n_groups)
        P["nu"] = _sample(name("nu"), priors["nu"])
    return P


def prior_constants(data: ModelData) -> dict[str, Any]:
    """Return the numbers the amplitude priors take from the data, as arrays.

    They are model arguments rather than constants of the program, so that one compiled
    program serves every data set of the same shapes.

    - ``loss_floor_min``, ``loss_typical`` (the ``chinchilla`` model's ``E`` and amplitudes):
      ``E_MARGIN`` times the smallest observed loss (a margin for noise: a noisy smallest loss
      can lie below the true ``E``), and the log of the median loss less half the smallest;
    - ``center_<kind>``: log of a typical observed value of each kind (amplitude priors);
    - ``ds_center`` (per run): log of the median ``data_scaling`` value of the run (centre of
      the prior of the curve's value at its reference sample count);
    - ``elastic_grid``: the grid in ``log(t/t_ref)`` of the ``elastic`` family's ``rho(t)``.
    """
    out: dict[str, Any] = {"elastic_grid": elastic_grid(data)}
    for kind in data.kinds:
        out[f"center_{kind}"] = np.float64(data.centers.get(kind, 0.0))
    if "spectrum_target" in data.centers:
        out["center_spectrum_target"] = np.float64(data.centers["spectrum_target"])
    if "loss" in data.kinds:
        kd = data.kinds["loss"]
        out["loss_floor_min"] = np.float64(E_MARGIN * np.nanmin(data.loss_floor))
        out["loss_typical"] = np.log(
            np.float64(np.median(kd.y) - 0.5 * np.nanmin(data.loss_floor))
        )
    if "data_scaling" in data.kinds:
        kd = data.kinds["data_scaling"]
        runs = set(np.unique(kd.run).tolist())
        # a run without data_scaling records gets centre 0: no likelihood reads its sites
        out["ds_center"] = np.array([
            np.log(np.median(kd.y[kd.run == r])) if r in runs else 0.0
            for r in range(len(data.runs))
        ])
    return out


def _floor_and_rest(level: jax.Array, frac: jax.Array, floor: str,
                    rest: str) -> tuple[jax.Array, jax.Array]:
    """Split a curve's level at its reference point into its floor and the amplitude above it."""
    return (numpyro.deterministic(floor, level * frac),
            numpyro.deterministic(rest, level * (1.0 - frac)))


def sample_nuisance(
    kind: str, data: ModelData, priors: PriorSet, consts: dict[str, Any]
) -> dict[str, jax.Array]:
    """Sample the amplitudes of one kind (see the module docstring) and its noise scale.

    ``consts`` are the :func:`prior_constants` (traced model arguments).
    """
    G = data.n_groups
    P: dict[str, jax.Array] = {}

    def groups(name: str, d: dist.Distribution) -> jax.Array:
        d = d if G == 1 else d.expand((G,)).to_event(1)
        return numpyro.sample(name, d)

    def around(key: str, scale: float) -> dist.Distribution:
        return dist.LogNormal(consts[key], scale)

    if kind == "loss":
        # the loss at (t_ref, P_ref) and the fraction of it that is floor (module docstring)
        level = groups("loss_level", around("center_loss", 2.0))
        frac = groups("E_frac", dist.Uniform(0.0, 1.0))
        P["E"], P["loss_scale"] = _floor_and_rest(level, frac, "E", "loss_scale")
    elif kind == "quantization":
        U = len(data.quant_units)
        d = around("center_quantization", 3.0)
        d = d if U == 1 else d.expand((U,)).to_event(1)
        P["quant_scale"] = numpyro.sample("quant_scale", d)
    elif kind == "pruning":
        P["pruning_scale"] = groups("pruning_scale", around("center_pruning", 3.0))
    elif kind == "density":
        P["density_scale"] = groups("density_scale", around("center_density", 3.0))
    elif kind == "spectrum":
        P["spectrum_scale"] = groups("spectrum_scale", around("center_spectrum", 2.0))
        if "center_spectrum_target" in consts:
            P["target_scale"] = groups("target_scale", around("center_spectrum_target", 2.0))
    elif kind == "data_scaling":
        # each run's curve at its reference n (n = 1 in units of its geometric-mean sample
        # count) and the fraction of it that is floor (module docstring)
        R = len(data.runs)
        level = numpyro.sample("ds_level", dist.LogNormal(consts["ds_center"], 2.0).to_event(1))
        frac = numpyro.sample("E_ds_frac", dist.Uniform(0.0, 1.0).expand((R,)).to_event(1))
        P["E_ds"], P["B_ds"] = _floor_and_rest(level, frac, "E_ds", "B_ds")
        P["s"] = _sample_groups("s", priors["s"], G)
    P["sigma"] = _sample(f"sigma_{kind}", priors["sigma"])
    return P
