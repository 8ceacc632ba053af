"""Every kind's expected value from the sampled parameters, and the observation model.

:func:`expected` evaluates the forward laws (:mod:`gsf_infer.model.forward`) on one kind's
covariates in standardized units (:mod:`gsf_infer.data.dataset`: ``t`` in units of ``t_ref``,
``P`` of ``params_ref``, eigenvalue amplitude ``Lam = 1``). The likelihood is on the log scale
(logit for ``modes``), normal (``lognormal``) or Student-t (``student``), with a record's
``stderr`` added in quadrature to the model's noise scale.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from gsf_infer.model.forward import laws
from gsf_infer.model.forward.families import get_family
from gsf_infer.model.settings import (
    ModelSettings,
)
from gsf_infer.model.sites import _group_array, g_params


def _rec(x: Any, idx: jax.Array) -> jax.Array:
    """Per-record value of a scalar or per-group (per-run, per-unit) parameter."""
    x = jnp.asarray(x, dtype=float)
    return x[idx] if x.ndim else jnp.broadcast_to(x, idx.shape)


def _capacity(P: dict[str, Any], group: jax.Array, params: jax.Array) -> jax.Array:
    return _rec(P["K"], group) * params ** _rec(P["nu"], group)


def expected(
    kind: str,
    P: dict[str, Any],
    x: dict[str, jax.Array],
    settings: ModelSettings,
    n_groups: int,
) -> dict[str, jax.Array]:
    """Log expected value (logit for ``modes``) of every record of one kind.

    Parameters
    ----------
    kind : str
        Record kind.
    P : dict
        Parameter values (spectral block and this kind's nuisance), scalars or per group.
    x : dict
        Standardized inputs of the kind's records (:func:`gsf_infer.data.dataset.kind_inputs`).
    settings : ModelSettings
        Family, tier, pruning metric.
    n_groups : int
        Number of groups.

    Returns
    -------
    dict
        ``{kind: log_mu}``, and ``{"spectrum_target": log_mu}`` for target powers.
    """
    family = get_family(settings.g)
    tier = settings.tier
    k_max = settings.k_max if tier == "exact" else None
    group = jnp.asarray(x["group"])
    G = n_groups

    if kind == "spectrum":
        log_k = jnp.log(jnp.asarray(x["k_std"]))
        out = {kind: jnp.log(_rec(P["spectrum_scale"], group)) - _rec(P["b"], group) * log_k}
        if "target_scale" in P:
            out["spectrum_target"] = (
                jnp.log(_rec(P["target_scale"], group)) - _rec(P["a"], group) * log_k
            )
        return out
    if kind == "data_scaling":
        alpha = laws.redundancy_alpha(_group_array(P["b"], G), _group_array(P["s"], G))
        run = jnp.asarray(x["run"])
        mu = laws.data_scaling(
            x["samples"], _rec(P["E_ds"], run), _rec(P["B_ds"], run), alpha[group]
        )
        return {kind: jnp.log(mu)}

    # kinds built on the spectral sums: per-group references, per-record values. With one
    # group the parameters stay scalars (broadcast, in_axes=None): indexing them per record
    # would make their gradient a scatter-add, which costs more than the sums on a CPU.
    def per_group(value: Any) -> jax.Array:
        return jnp.asarray(value, dtype=float) if G == 1 else _group_array(value, G)

    def per_record(value: jax.Array) -> jax.Array:
        return value if G == 1 else value[group]

    a_g, b_g, ks_g = per_group(P["a"]), per_group(P["b"]), per_group(P["k_star"])
    # the shape parameters of g may be per group too (m follows b through b*m): map them
    # with the group, or a (G,) parameter would broadcast against the modes inside the map
    shape_g = {k: per_group(P[k]) for k in ("m", "n", "tau", "kap") if k in P}
    gp_g = g_params(family, ks_g, b_g, P) if G == 1 else jax.vmap(
        lambda k, b, shape: g_params(family, k, b, {**P, **shape})
    )(ks_g, b_g, shape_g)
    a_i, b_i, ks_i = per_record(a_g), per_record(b_g), per_record(ks_g)
    gp_i = gp_g if G == 1 else jax.tree.map(lambda v: v[group], gp_g)
    shared = None if G == 1 else 0

    def over_records(fn, *record_args):
        """Vmap ``fn(*record_args, a, b, gp)`` over records, parameters shared or per record."""
        axes = (0,) * len(record_args) + (shared, shared, shared)
        return jax.vmap(fn, in_axes=axes)(*record_args, a_i, b_i, gp_i)

    def at_reference(fn, *ref_args):
        """``fn`` at the reference point of each group, as a per-record array (or scalar)."""
        if G == 1:
            return fn(*ref_args, a_g, b_g, gp_g)
        return jax.vmap(fn)(*(_group_array(r, G) for r in ref_args), a_g, b_g, gp_g)[group]

    def spec(a, b):
        return laws.Spectrum(a, b, 1.0, 1.0)

    def param(name: str, index: jax.Array = group) -> jax.Array:
        value = jnp.asarray(P[name], dtype=float)
        return value if value.ndim == 0 else value[index]

    if kind == "modes":
        def one(k, t, a, b, gp):
            log_lam = -b * jnp.log(k)
            log_resid = family.log_resid(log_lam, jnp.log(t), gp)
            phi = family.phi_from_log(log_lam, jnp.log(t), gp)
            return jnp.log(phi) - log_resid

        return {kind: over_records(one, x["k"], x["t"])}

    K_g = per_group(P["K"])
    K_i = param("K") * x["params"] ** param("nu")

    if kind == "density":
        def log_kstar(t, a, b, gp):
            return laws.log_k_star(t, spec(a, b), gp, family)

        lks = over_records(log_kstar, x["t"])
        log_mu = (
            jnp.log(param("density_scale"))
            + jnp.minimum(lks, jnp.log(K_i))
            - jnp.log(ks_i)
            - jnp.log(x["params"])
        )
        return {kind: log_mu}

    if kind == "loss":
        def S(t, K, a, b, gp):
            return laws.loss(t, K, spec(a, b), gp, 0.0, family, tier, k_max)

        s_ref = at_reference(S, 1.0, K_g)
        s = over_records(S, x["t"], K_i)
        mu = param("E") + param("loss_scale") * s / s_ref
        return {kind: jnp.log(mu)}

    if kind == "quantization":
        def S(t, K, a, b, gp):
            return laws.quantization(t, K, 1.0, spec(a, b), gp, family, tier, k_max)

        s_ref = at_reference(S, 1.0, K_g)
        s = over_records(S, x["t"], K_i)
        log_mu = (
            jnp.log(param("quant_scale", jnp.asarray(x["unit"])))
            + jnp.log(s)
            - jnp.log(s_ref)
            - x["has_bits"] * x["bits"] * jnp.log(4.0)
        )
        return {kind: log_mu}

    if kind == "pruning":
        metric = settings.pruning_metric

        def S(t, K, r, a, b, gp):
            return laws.pruning(t, K, r, spec(a, b), gp, family, tier, metric, k_max)

        s_ref = at_reference(S, 1.0, K_g, 1.0)
        s = over_records(S, x["t"], K_i, x["sparsity"])
        log_mu = jnp.log(param("pruning_scale")) + jnp.log(s) - jnp.log(s_ref)
        return {kind: log_mu}
    raise ValueError(f"unknown kind {kind!r}")


#: ``expected`` compiled once per (kind, settings, groups): numpyro traces models eagerly when it
#: initialises them, and op-by-op dispatch of the spectral sums would otherwise compile hundreds
#: of tiny programs (the first trace then takes tens of seconds; ``docs/decisions.md``).
expected_jit = jax.jit(expected, static_argnames=("kind", "settings", "n_groups"))


def observation(kind: str, y: np.ndarray, stderr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observed values on the likelihood's scale and their measurement standard errors there."""
    if kind == "modes":
        return np.log(y) - np.log1p(-y), stderr / (y * (1.0 - y))
    return np.log(y), stderr / y


def noise_distribution(
    loc: jax.Array, sigma: jax.Array, meas: jax.Array, settings: ModelSettings
) -> dist.Distribution:
    """The observation distribution on the log (logit) scale."""
    scale = jnp.sqrt(sigma**2 + meas**2)
    if settings.likelihood == "student":
        return dist.StudentT(settings.student_df, loc, scale)
    return dist.Normal(loc, scale)


def chinchilla_expected(P: dict[str, Any], x: dict[str, jax.Array]) -> jax.Array:
    """Log of ``E + A P^-alpha + B D^-beta`` in standardized units (``D = t``)."""
    mu = (
        P["E"]
        + P["A_std"] * x["params"] ** (-P["alpha"])
        + P["B_std"] * x["t"] ** (-P["beta"])
    )
    return jnp.log(mu)
