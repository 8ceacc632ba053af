"""The numpyro models: ``gsf``, ``deviation`` and ``chinchilla``.

The forward laws (:mod:`gsf_infer.model.forward`) carry the physics; this module only adds priors
and likelihoods around them. Everything is written in standardized units
(:mod:`gsf_infer.data.dataset`): ``t`` in units of ``t_ref``, ``P`` of ``params_ref``, eigenvalue
amplitude ``Lam = 1``.

Parametrization (chosen so that NUTS sees weakly correlated, data-identified coordinates):

- exponents ``a``, ``b`` (``> 1``), the shape parameters of ``g`` (``m``, ``n``, ``tau``,
  ``kap`` as the family needs);
- ``k_star``: the frontier's mode index at the reference time (``g(lambda_{k_star}, t_ref) = 1``),
  which fixes the amplitude ``c`` of ``g``;
- ``K``: capacity in modes at the reference size, ``K(P) = K (P/P_ref)^nu`` (``nu`` fixed at 1
  unless a prior frees it);
- each kind's amplitude is its own value at a reference point, so amplitudes and exponents
  decouple: ``loss_scale`` = ``L - E`` at ``(t_ref, P_ref)``, ``quant_scale`` = ``dL_Q`` at
  ``(t_ref, P_ref)`` and ``bits_ref`` (one per group with ``bits``, else one per run),
  ``pruning_scale`` = ``dL_P`` at ``(t_ref, P_ref)`` with everything pruned, ``density_scale``
  = density at ``(t_ref, P_ref)``, ``spectrum_scale``/``target_scale`` = eigenvalue/target power
  at ``k_ref``; ``E`` uniform below the smallest observed loss.

Derived quantities are deterministic sites: ``rho`` (at ``t_ref`` for families where it varies),
``chi``, ``gamma``, ``rho_over_b``, and ``alpha`` with ``data_scaling``.

``deviation`` is ``gsf`` plus one parameter per way the invariant ``chi + gamma = rho`` can
break, each zero under the theory (:func:`with_deviations`): ``delta_Q`` (quantization's weighting
of the modes), ``eps_F`` (the rate of the frontier that pruning and density see) and ``delta_L``
(the loss's tail exponent, where the target power is measured without the loss). It records
``delta_over_rho`` (:func:`delta_over_rho`) and ``delta``. ``chinchilla`` is
``L = E + A/P^alpha + B/D^beta`` on ``loss`` records (Hoffmann et al., 2022).

Likelihood on the log scale (logit for ``modes``), normal (``lognormal``) or Student-t
(``student``), with ``stderr`` added in quadrature where given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from gsf_infer.data.dataset import ModelData, kind_inputs
from gsf_infer.errors import InputError, Problem
from gsf_infer.model.forward import laws
from gsf_infer.model.forward.families import Family, GParams, get_family
from gsf_infer.model.priors import Prior, PriorSet

MODELS = ("gsf", "deviation", "chinchilla")
LIKELIHOODS = ("lognormal", "student")

#: Kinds whose law involves the learning frontier, and those that involve capacity.
FRONTIER_KINDS = frozenset({"loss", "quantization", "pruning", "density", "modes"})
CAPACITY_KINDS = frozenset({"loss", "quantization", "pruning", "density"})
#: Upper bound of the irreducible loss ``E`` as a multiple of the smallest observed loss.
E_MARGIN = 1.1
#: The named exponents reported for every fit.
EXPONENTS = ("a", "b", "rho", "chi", "gamma", "rho_over_b")


@dataclass(frozen=True)
class ModelSettings:
    """How the model is built.

    Attributes
    ----------
    model : str
        ``gsf``, ``free`` or ``chinchilla``.
    g : str
        Family of ``g`` (:data:`gsf_infer.model.forward.FAMILIES`).
    tier : str
        ``continuum`` (default), ``asymptotic`` or ``exact``.
    likelihood : str
        ``lognormal`` or ``student``.
    pruning_metric : str
        ``seed`` (unweighted, the default) or ``function`` (lambda-weighted).
    student_df : float
        Degrees of freedom of the Student-t likelihood.
    k_max : int
        Capacity cap of the ``exact`` tier (its cost grows with it).
    """

    model: str = "gsf"
    g: str = "monomial"
    tier: str = "continuum"
    likelihood: str = "lognormal"
    pruning_metric: str = "seed"
    student_df: float = 4.0
    k_max: int = 20_000

    def check(self) -> None:
        """Raise :class:`InputError` for an unknown option value."""
        from gsf_infer.model.forward import FAMILIES, PRUNING_METRICS, TIERS

        problems = []
        for label, value, allowed in (
            ("--model", self.model, MODELS),
            ("--g", self.g, tuple(FAMILIES)),
            ("--tier", self.tier, TIERS),
            ("--likelihood", self.likelihood, LIKELIHOODS),
            ("--pruning-metric", self.pruning_metric, PRUNING_METRICS),
        ):
            if value not in allowed:
                problems.append(
                    Problem("gsf-infer", f"{label} must be one of {', '.join(allowed)}", value=value)
                )
        if problems:
            raise InputError(problems)

    def as_attrs(self) -> dict[str, Any]:
        """As a flat dict for DataTree attributes and summary.json."""
        return {
            "model": self.model,
            "g": self.g,
            "tier": self.tier,
            "likelihood": self.likelihood,
            "pruning_metric": self.pruning_metric,
            "student_df": self.student_df,
        }


# ----------------------------------------------------------------------------------------------
# small helpers


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
    units of ``lambda_{k_star}``.
    """
    one = jnp.ones_like(k_star)
    if family.name == "ridge":
        return GParams(c=k_star**b, kap=P["kap"] * k_star ** (-b) * one)
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
    if family.name in ("ntk", "feature", "monomial"):
        m = P.get("m", 1.0) if family.name == "monomial" else 1.0
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


# ----------------------------------------------------------------------------------------------
# sampling the parameters


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
    data: ModelData, settings: ModelSettings, priors: PriorSet, kinds: frozenset[str]
) -> dict[str, jax.Array]:
    """The spectral parameters shared by every kind.

    ``a`` and ``b`` (partially pooled across groups), ``bm`` given ``b`` and ``n`` (or the
    family's own shape parameters), the frontier scale ``k_star`` and the capacity ``K``.
    Parameters that no kind present reads are not sampled: the shape of ``g`` and ``k_star``
    only with a kind that involves the learning frontier, ``K`` and ``nu`` only with one that
    involves capacity. The derived exponents ``rho``, ``chi``, ``gamma``, ``rho_over_b`` are
    recorded where ``g`` is in the model.
    """
    family = get_family(settings.g)
    G = data.n_groups
    P: dict[str, jax.Array] = {}
    P["a"] = _sample_pooled("a", priors["a"], G, priors["pool_sd"])
    P["b"] = _sample_pooled("b", priors["b"], G, priors["pool_sd"])
    if kinds & FRONTIER_KINDS:
        if family.name in ("monomial", "logcorr"):
            P["m"] = _sample_m(lambda base: base, priors["m"], P["b"])
            P["n"] = _sample("n", priors["n"])
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
    return P


def sample_scales(
    priors: PriorSet, kinds: frozenset[str], n_groups: int, name=lambda base: base
) -> dict[str, jax.Array]:
    """The frontier scale ``k_star`` and the capacity ``K``, ``nu`` where ``kinds`` use them."""
    P: dict[str, jax.Array] = {}
    if kinds & FRONTIER_KINDS:
        P["k_star"] = _sample_groups(name("k_star"), priors["k_star"], n_groups)
    if kinds & CAPACITY_KINDS:
        P["K"] = _sample_groups(name("K"), priors["K"], n_groups)
        P["nu"] = _sample(name("nu"), priors["nu"])
    return P


def prior_constants(data: ModelData) -> dict[str, Any]:
    """The numbers the amplitude priors take from the data, as arrays.

    They are model arguments rather than constants of the program, so that one compiled
    program serves every data set of the same shapes.

    - ``loss_floor`` (per group): the upper end of ``E``, ``E_MARGIN`` times the smallest
      observed loss (a margin for noise: a noisy smallest loss can lie below the true ``E``);
    - ``loss_typical``: centre of the ``loss_scale`` prior, the median loss less half the
      smallest;
    - ``center_<kind>``: log of a typical observed value of each kind (amplitude priors);
    - ``ds_floor``, ``ds_typical`` (per run): the same for ``data_scaling`` records.
    """
    out: dict[str, Any] = {}
    for kind in data.kinds:
        out[f"center_{kind}"] = np.float64(data.centers.get(kind, 0.0))
    if "spectrum_target" in data.centers:
        out["center_spectrum_target"] = np.float64(data.centers["spectrum_target"])
    if "loss" in data.kinds:
        kd = data.kinds["loss"]
        out["loss_floor"] = E_MARGIN * np.nan_to_num(data.loss_floor, nan=1.0)
        out["loss_floor_min"] = np.float64(E_MARGIN * np.nanmin(data.loss_floor))
        out["loss_typical"] = np.log(
            np.float64(np.median(kd.y) - 0.5 * np.nanmin(data.loss_floor))
        )
    if "data_scaling" in data.kinds:
        kd = data.kinds["data_scaling"]
        floor = E_MARGIN * np.nan_to_num(data.ds_floor, nan=1.0)
        runs = set(np.unique(kd.run).tolist())
        # runs without data_scaling records get inert placeholders
        out["ds_floor"] = floor
        out["ds_typical"] = np.array([
            np.log(max(np.median(kd.y[kd.run == r]) - 0.5 * floor[r], 1e-12)) if r in runs
            else 0.0
            for r in range(len(data.runs))
        ])
    return out


def sample_nuisance(
    kind: str, data: ModelData, priors: PriorSet, consts: dict[str, Any]
) -> dict[str, jax.Array]:
    """The amplitudes of one kind (see the module docstring) and its noise scale.

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
        # E uniform below the floor, sampled as a fraction of it (a support that does not
        # depend on the data)
        frac = groups("E_frac", dist.Uniform(0.0, 1.0))
        floor = consts["loss_floor"][0] if G == 1 else consts["loss_floor"]
        P["E"] = numpyro.deterministic("E", floor * frac)
        P["loss_scale"] = groups("loss_scale", around("loss_typical", 2.0))
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
        R = len(data.runs)
        frac = numpyro.sample("E_ds_frac", dist.Uniform(0.0, 1.0).expand((R,)).to_event(1))
        P["E_ds"] = numpyro.deterministic("E_ds", consts["ds_floor"] * frac)
        P["B_ds"] = numpyro.sample("B_ds", dist.LogNormal(consts["ds_typical"], 2.0).to_event(1))
        P["s"] = _sample_groups("s", priors["s"], G)
    P["sigma"] = _sample(f"sigma_{kind}", priors["sigma"])
    return P


# ----------------------------------------------------------------------------------------------
# expected values


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


# ----------------------------------------------------------------------------------------------
# likelihood


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


@dataclass(frozen=True)
class BuiltModel:
    """A numpyro model and the arrays it runs on.

    Attributes
    ----------
    fn : callable
        ``fn(inputs, predict=False, likelihood=True)``. ``predict=True`` leaves the observed
        sites free (prior and posterior predictive draws); ``likelihood=False`` drops them (the
        prior alone, for the identification analysis).
    inputs : dict
        Every array the model reads (covariates, observations, the numbers the amplitude
        priors take from the data, the deviation switch and prior scales). They are arguments,
        not constants of a compiled program: the ``gsf`` and ``deviation`` models of one data
        set, and data sets of equal shapes, share their compiled programs.
    deviations : tuple of str
        The deviation parameters in the model (empty where the invariant is untestable).
    """

    fn: Callable[..., None]
    inputs: dict[str, Any]
    deviations: tuple[str, ...] = ()

    def replace_inputs(self, **changes: Any) -> BuiltModel:
        """The same model on changed inputs (e.g. ``deviation_mask``, observations)."""
        return replace(self, inputs={**self.inputs, **changes})


def with_deviations(
    kind: str, P: dict[str, Any], x: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters and inputs of one kind's law under the deviation parameters in ``P``.

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
    """``(chi_L + gamma_Q - rho_F) / rho_F`` under the deviation parameters in ``P``.

    With ``chi_L = (a + delta_L - 1) rho/b``, ``gamma_Q = (1 + b - a + delta_Q) rho/b`` and
    ``rho_F = rho exp(eps_F)``:

    .. math:: \\frac{\\delta}{\\rho} = \\left(1 + \\frac{\\delta_L + \\delta_Q}{b}\\right)
              e^{-\\varepsilon_F} - 1 .
    """
    zero = jnp.zeros_like(jnp.asarray(P["b"], dtype=float))
    d_l = P.get("delta_L", zero)
    d_q = P.get("delta_Q", zero)
    eps = P.get("eps_F", zero)
    return (1.0 + (d_l + d_q) / P["b"]) * jnp.exp(-eps) - 1.0


def model_inputs(
    data: ModelData, deviations: tuple[str, ...], deviation_mask: float, deviation_scale: float
) -> dict[str, Any]:
    """The model's arguments for these data (see :class:`BuiltModel`)."""
    inputs: dict[str, Any] = {
        "x": {k: {n: jnp.asarray(v) for n, v in d.items()} for k, d in kind_inputs(data).items()},
        "obs": {},
        "consts": {k: jnp.asarray(v) for k, v in prior_constants(data).items()},
        "deviation_mask": jnp.asarray(float(deviation_mask)),
        "deviation_scale": jnp.full((len(deviations),), float(deviation_scale)),
    }
    for kind, kd in data.kinds.items():
        value, meas = observation(kind, kd.y, kd.stderr)
        inputs["obs"][kind] = (jnp.asarray(value), jnp.asarray(meas))
    if "spectrum" in data.kinds:
        target = data.kinds["spectrum"].x["target"]
        has = np.isfinite(target)
        if has.any():
            inputs["obs"]["spectrum_target"] = (
                jnp.asarray(np.log(target[has])), jnp.zeros(int(has.sum()))
            )
            inputs["target_rows"] = jnp.asarray(np.flatnonzero(has))
    return inputs


#: Default prior scale of each deviation parameter (``Normal(0, scale)``).
DEVIATION_SCALE = 0.5


def build_model(
    data: ModelData,
    settings: ModelSettings,
    priors: PriorSet,
    deviations: tuple[str, ...] | None = None,
    deviation_scale: float = DEVIATION_SCALE,
) -> BuiltModel:
    """The numpyro model for these data and settings.

    ``gsf`` and ``deviation`` are one program: the deviation parameters are sampled in both
    (one standard normal coordinate each) and multiplied by the input ``deviation_mask``, 0 for
    ``gsf`` (where the coordinates are pure prior, not reported) and 1 for ``deviation``.

    Parameters
    ----------
    data : ModelData
        Standardized records.
    settings : ModelSettings
        The model's options.
    priors : PriorSet
        Priors of the parameters.
    deviations : tuple of str, optional
        Deviation parameters to include; by default those the data's kinds call for
        (:func:`gsf_infer.analysis.invariant.deviations_for`).
    deviation_scale : float
        Prior standard deviation of each deviation parameter.

    Raises
    ------
    InputError
        When the data cannot support the model (``chinchilla`` without loss records carrying
        ``params``).
    """
    from gsf_infer.analysis.invariant import deviations_for

    settings.check()
    if deviations is None:
        deviations = deviations_for(data_kinds(data)) if settings.model != "chinchilla" else ()
    mask = 1.0 if settings.model == "deviation" else 0.0
    inputs = model_inputs(data, deviations, mask, deviation_scale)

    if settings.model == "chinchilla":
        return BuiltModel(_chinchilla_model(data, settings, priors), inputs)

    kinds = tuple(data.kinds)
    G = data.n_groups

    def model(inputs: dict[str, Any], predict: bool = False, likelihood: bool = True) -> None:
        """The model; see :class:`BuiltModel`."""
        shared = sample_spectral(data, settings, priors, frozenset(kinds))
        if deviations:
            z = numpyro.sample(
                "deviation_z", dist.Normal(0.0, 1.0).expand((len(deviations),)).to_event(1)
            )
            values = inputs["deviation_mask"] * inputs["deviation_scale"] * z
            for i, name in enumerate(deviations):
                shared[name] = numpyro.deterministic(name, values[i])
            ratio = numpyro.deterministic("delta_over_rho", delta_over_rho(shared))
            if "rho" in shared:
                rho_f = shared["rho"] * jnp.exp(shared.get("eps_F", 0.0))
                numpyro.deterministic("delta", ratio * rho_f)
        for kind in kinds:
            P = dict(shared)
            P.update(sample_nuisance(kind, data, priors, inputs["consts"]))
            if kind == "data_scaling":  # the exponent the records measure
                numpyro.deterministic("alpha", laws.redundancy_alpha(P["b"], P["s"]))
            if not likelihood:
                continue
            P, x = with_deviations(kind, P, inputs["x"][kind])
            mus = expected_jit(kind, P, x, settings, G)
            value, meas = inputs["obs"][kind]
            numpyro.sample(
                kind,
                noise_distribution(mus[kind], P["sigma"], meas, settings),
                obs=None if predict else value,
            )
            if "spectrum_target" in mus and "spectrum_target" in inputs["obs"]:
                value, meas = inputs["obs"]["spectrum_target"]
                numpyro.sample(
                    "spectrum_target",
                    noise_distribution(
                        mus["spectrum_target"][inputs["target_rows"]], P["sigma"], meas, settings
                    ),
                    obs=None if predict else value,
                )

    return BuiltModel(model, inputs, tuple(deviations))


def data_kinds(data: ModelData) -> dict[str, Any]:
    """What the invariant's rules read of the data: kinds, loss sizes, target powers."""
    sizes = 0
    if "loss" in data.kinds:
        x = data.kinds["loss"].x
        sizes = int(np.unique(x["params"][x["has_params"] > 0]).size)
    return {
        "kinds": tuple(data.kinds),
        "loss_sizes": sizes,
        "target_power": "spectrum_target" in data.centers,
    }


def _chinchilla_model(data: ModelData, settings: ModelSettings, priors: PriorSet):
    """``L = E + A/P^alpha + B/D^beta`` on the loss records (``D = t``)."""
    if "loss" not in data.kinds:
        raise InputError(Problem("gsf-infer", "--model chinchilla needs loss records"))
    kd = data.kinds["loss"]
    if not np.all(kd.x["has_params"] > 0):
        raise InputError(
            Problem("gsf-infer", "--model chinchilla needs params on every loss record")
        )

    def chinchilla(inputs: dict[str, Any], predict: bool = False, likelihood: bool = True) -> None:
        consts = inputs["consts"]
        floor = consts["loss_floor_min"]
        typical = jnp.exp(consts["loss_typical"])
        x = inputs["x"]["loss"]
        E = floor * numpyro.sample("E_frac", dist.Uniform(0.0, 1.0))
        P = {
            "E": numpyro.deterministic("E", E),
            "A_std": numpyro.sample("A_std", dist.LogNormal(jnp.log(typical / 2), 2.0)),
            "B_std": numpyro.sample("B_std", dist.LogNormal(jnp.log(typical / 2), 2.0)),
            "alpha": _sample("alpha", priors["alpha"]),
            "beta": _sample("beta", priors["beta"]),
        }
        numpyro.deterministic("A", P["A_std"] * data.scales.params_ref ** P["alpha"])
        numpyro.deterministic("B", P["B_std"] * data.scales.t_ref ** P["beta"])
        sigma = _sample("sigma_loss", priors["sigma"])
        if not likelihood:
            return
        value, meas = inputs["obs"]["loss"]
        numpyro.sample(
            "loss",
            noise_distribution(chinchilla_expected(P, x), sigma, meas, settings),
            obs=None if predict else value,
        )

    return chinchilla
