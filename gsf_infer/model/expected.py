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

from gsf_infer.model import realisation
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
    if kind == "spectrum":
        return _spectrum(P, x)
    if kind == "data_scaling":
        return _data_scaling(P, x, n_groups)
    if kind not in _SUM_KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return {kind: _SUM_KINDS[kind](_Spectral(P, x, settings, n_groups))}


def _spectrum(P: dict[str, Any], x: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Eigenvalues ``spectrum_scale k^-b`` and target powers ``target_scale k^-a``."""
    group = jnp.asarray(x["group"])
    log_k = jnp.log(jnp.asarray(x["k_std"]))
    out = {"spectrum": jnp.log(_rec(P["spectrum_scale"], group)) - _rec(P["b"], group) * log_k}
    if "target_scale" in P:
        out["spectrum_target"] = (
            jnp.log(_rec(P["target_scale"], group)) - _rec(P["a"], group) * log_k
        )
    return out


def _data_scaling(P: dict[str, Any], x: dict[str, jax.Array], G: int) -> dict[str, jax.Array]:
    """Each run's ``E + B n^-alpha`` with the redundancy law's ``alpha(b, s)``."""
    group = jnp.asarray(x["group"])
    alpha = laws.redundancy_alpha(_group_array(P["b"], G), _group_array(P["s"], G))
    run = jnp.asarray(x["run"])
    mu = laws.data_scaling(x["samples"], _rec(P["E_ds"], run), _rec(P["B_ds"], run), alpha[group])
    return {"data_scaling": jnp.log(mu)}


class _Spectral:
    """The parameters of the kinds built on the spectral sums, per group and per record.

    With one group the parameters stay scalars (broadcast, ``in_axes=None``): indexing them per
    record would make their gradient a scatter-add, which costs more than the sums on a CPU.
    """

    def __init__(self, P: dict[str, Any], x: dict[str, jax.Array], settings: ModelSettings,
                 G: int):
        self.P, self.x, self.G = P, x, G
        self.family = get_family(settings.g)
        self.tier = settings.tier
        self.k_max = settings.k_max if settings.tier == "exact" else None
        self.metric = settings.pruning_metric
        self.split_gradient = settings.split_gradient
        self.group = jnp.asarray(x["group"])
        self.a_g, self.b_g = self.per_group(P["a"]), self.per_group(P["b"])
        self.ks_g = self.per_group(P["k_star"])
        # the shape parameters of g may be per group too (m follows b through b*m): map them
        # with the group, or a (G,) parameter would broadcast against the modes inside the map
        shape_g = {k: self.per_group(P[k]) for k in ("m", "n", "tau", "kap") if k in P}
        family = self.family
        self.gp_g = g_params(family, self.ks_g, self.b_g, P) if G == 1 else jax.vmap(
            lambda k, b, shape: g_params(family, k, b, {**P, **shape})
        )(self.ks_g, self.b_g, shape_g)
        self.a_i, self.b_i = self.per_record(self.a_g), self.per_record(self.b_g)
        self.ks_i = self.per_record(self.ks_g)
        self.gp_i = self.gp_g if G == 1 else jax.tree.map(lambda v: v[self.group], self.gp_g)

    def per_group(self, value: Any) -> jax.Array:
        return jnp.asarray(value, dtype=float) if self.G == 1 else _group_array(value, self.G)

    def per_record(self, value: jax.Array) -> jax.Array:
        return value if self.G == 1 else value[self.group]

    def over_records(self, fn, *record_args):
        """Vmap ``fn(*record_args, a, b, gp)`` over records, parameters shared or per record."""
        shared = None if self.G == 1 else 0
        axes = (0,) * len(record_args) + (shared, shared, shared)
        return jax.vmap(fn, in_axes=axes)(*record_args, self.a_i, self.b_i, self.gp_i)

    def at_reference(self, fn, *ref_args):
        """``fn`` at the reference point of each group, as a per-record array (or scalar)."""
        if self.G == 1:
            return fn(*ref_args, self.a_g, self.b_g, self.gp_g)
        refs = (_group_array(r, self.G) for r in ref_args)
        return jax.vmap(fn)(*refs, self.a_g, self.b_g, self.gp_g)[self.group]

    def param(self, name: str, index: jax.Array | None = None) -> jax.Array:
        value = jnp.asarray(self.P[name], dtype=float)
        return value if value.ndim == 0 else value[self.group if index is None else index]

    def capacity(self) -> jax.Array:
        """Capacity of each record's model, ``K (P/P_ref)^nu``."""
        return self.param("K") * self.x["params"] ** self.param("nu")

    def law(self, kind: str):
        """Return the sum ``S(t, K, [r,] a, b, gp)`` of a kind that sums modes (unit amplitude)."""
        family, tier, k_max, metric = self.family, self.tier, self.k_max, self.metric
        split = self.split_gradient
        if kind == "loss":
            return lambda t, K, a, b, gp: laws.loss(t, K, _spec(a, b), gp, 0.0, family, tier,
                                                    k_max, split)
        if kind == "quantization":
            return lambda t, K, a, b, gp: laws.quantization(t, K, 1.0, _spec(a, b), gp, family,
                                                            tier, k_max, split)
        return lambda t, K, r, a, b, gp: laws.pruning(t, K, r, _spec(a, b), gp, family, tier,
                                                      metric, k_max, split)

    def reference(self, kind: str) -> jax.Array:
        """``S`` at ``(t_ref, K_ref)`` (every mode pruned, for ``pruning``) of each record."""
        extra = (1.0,) if kind == "pruning" else ()
        return self.at_reference(self.law(kind), 1.0, self.per_group(self.P["K"]), *extra)


def _spec(a, b) -> laws.Spectrum:
    return laws.Spectrum(a, b, 1.0, 1.0)


def _logit_phi(family, log_lam: jax.Array, t: jax.Array, gp) -> jax.Array:
    """``logit phi`` of a mode of eigenvalue ``exp(log_lam)`` at time ``t``."""
    log_resid = family.log_resid(log_lam, jnp.log(t), gp)
    return jnp.log(family.phi_from_log(log_lam, jnp.log(t), gp)) - log_resid


def _modes(c: _Spectral) -> jax.Array:
    """``logit phi_k(t)`` of each mode-resolved record."""
    family = c.family

    def one(k, t, a, b, gp):
        return _logit_phi(family, -b * jnp.log(k), t, gp)

    return c.over_records(one, c.x["k"], c.x["t"])


def modes_sensitivity(
    P: dict[str, Any], x: dict[str, jax.Array], settings: ModelSettings, n_groups: int
) -> jax.Array:
    """``d logit phi_k(t) / d log lambda_k`` at each mode-resolved record.

    How a mode's realised eigenvalue moves its learned fraction at every time
    (:mod:`gsf_infer.model.realisation`); ``E_lambda g / phi`` for ``phi = 1 - e^{-g}``.
    """
    c = _Spectral(P, x, settings, n_groups)
    family = c.family

    def one(k, t, a, b, gp):
        return jax.grad(_logit_phi, argnums=1)(family, -b * jnp.log(k), t, gp)

    return c.over_records(one, c.x["k"], c.x["t"])


def _density(c: _Spectral) -> jax.Array:
    """Density: modes learned, ``min(k_*(t), K)``, relative to the reference, per parameter."""
    family = c.family

    def log_kstar(t, a, b, gp):
        return laws.log_k_star(t, _spec(a, b), gp, family)

    lks = c.over_records(log_kstar, c.x["t"])
    return (
        jnp.log(c.param("density_scale"))
        + jnp.minimum(lks, jnp.log(c.capacity()))
        - jnp.log(c.ks_i)
        - jnp.log(c.x["params"])
    )


def _loss(c: _Spectral) -> jax.Array:
    """``E + loss_scale S(t, K) / S(t_ref, K_ref)``, ``S`` the loss above its floor."""
    s = c.over_records(c.law("loss"), c.x["t"], c.capacity())
    return jnp.log(c.param("E") + c.param("loss_scale") * s / c.reference("loss"))


def _quantization(c: _Spectral) -> jax.Array:
    """``quant_scale 4^-bits S(t, K) / S(t_ref, K_ref)``, ``S`` the quantization sum."""
    s = c.over_records(c.law("quantization"), c.x["t"], c.capacity())
    return (
        jnp.log(c.param("quant_scale", jnp.asarray(c.x["unit"])))
        + jnp.log(s)
        - jnp.log(c.reference("quantization"))
        - c.x["has_bits"] * c.x["bits"] * jnp.log(4.0)
    )


def _pruning(c: _Spectral) -> jax.Array:
    """``pruning_scale S(t, K, r) / S(t_ref, K_ref, 1)``, ``S`` the pruning loss."""
    s = c.over_records(c.law("pruning"), c.x["t"], c.capacity(), c.x["sparsity"])
    return jnp.log(c.param("pruning_scale")) + jnp.log(s) - jnp.log(c.reference("pruning"))


#: The kinds built on the spectral sums, each its log expected value (logit for ``modes``).
_SUM_KINDS = {
    "modes": _modes,
    "density": _density,
    "loss": _loss,
    "quantization": _quantization,
    "pruning": _pruning,
}


def realisation_factor(
    kind: str,
    P: dict[str, Any],
    x: dict[str, jax.Array],
    log_mu: jax.Array,
    settings: ModelSettings,
    n_groups: int,
) -> jax.Array:
    r"""Each record's row of its run's covariance factor for a unit scale, ``(N, RANK)``.

    ``sqrt(2 n_j) c_i(k_j) / mu_i`` (:mod:`gsf_infer.model.realisation`): ``c_i(k)`` the summand
    of the record's law, in the units of the law's value, times the fraction of the bin inside
    the law's range of modes and evaluated at the centre of that part; ``mu_i = exp(log_mu)``.
    """
    c = _Spectral(P, x, settings, n_groups)
    family = c.family
    K = c.capacity()
    k_top = realisation.REACH * jnp.max(K)
    if not settings.split_gradient:  # the grid moves the bins, not what they sum up to
        k_top = jax.lax.stop_gradient(k_top)
    k, lo, hi = realisation.mode_grid(k_top)

    def learned(log_k, t, b, gp):
        """``phi_k^2`` and ``exp(-2 g)`` at the modes ``log_k``."""
        log_lam = -b * log_k
        return (family.phi_from_log(log_lam, jnp.log(t), gp) ** 2,
                jnp.exp(2.0 * family.log_resid(log_lam, jnp.log(t), gp)))

    if kind == "loss":
        def terms(t, K, a, b, gp):
            f_in, log_in = realisation.inside(k, lo, hi, 0.0, K)
            f_out, log_out = realisation.inside(k, lo, hi, K, jnp.inf)
            _, resid_sq = learned(log_in, t, b, gp)
            return f_in * jnp.exp(-a * log_in) * resid_sq + f_out * jnp.exp(-a * log_out)

        amp = c.param("loss_scale")
        per_mode = c.over_records(terms, x["t"], K)
    elif kind == "quantization":
        def terms(t, K, a, b, gp):
            f_in, log_in = realisation.inside(k, lo, hi, 0.0, K)
            phi_sq, _ = learned(log_in, t, b, gp)
            return f_in * jnp.exp((b - a) * log_in) * phi_sq

        amp = (c.param("quant_scale", jnp.asarray(x["unit"]))
               * jnp.exp(-x["has_bits"] * x["bits"] * jnp.log(4.0)))
        per_mode = c.over_records(terms, x["t"], K)
    elif kind == "pruning":
        seed = c.metric == "seed"

        def terms(t, K, r, a, b, gp):
            f_in, log_in = realisation.inside(k, lo, hi, (1.0 - r) * K, K)
            phi_sq, _ = learned(log_in, t, b, gp)
            return f_in * jnp.exp(((b - a) if seed else -a) * log_in) * phi_sq

        amp = c.param("pruning_scale")
        per_mode = c.over_records(terms, x["t"], K, x["sparsity"])
    else:
        raise ValueError(f"the realisation effect does not reach {kind!r}")
    scale = amp / (c.reference(kind) * jnp.exp(log_mu))
    return jnp.sqrt(2.0 * (hi - lo)) * per_mode * jnp.broadcast_to(scale, log_mu.shape)[:, None]


realisation_factor_jit = jax.jit(
    realisation_factor, static_argnames=("kind", "settings", "n_groups")
)
modes_sensitivity_jit = jax.jit(modes_sensitivity, static_argnames=("settings", "n_groups"))


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
    """Return the observation distribution on the log (logit) scale."""
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
