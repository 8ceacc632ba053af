"""The numpyro models (SPEC §2): ``gsf``, ``free`` and ``chinchilla``.

The forward laws (:mod:`gsf_infer.forward`) carry the physics; this module only adds priors and
likelihoods around them. Everything is written in standardized units (:mod:`gsf_infer.dataset`):
``t`` in units of ``t_ref``, ``P`` of ``params_ref``, eigenvalue amplitude ``Lam = 1``.

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

``free`` samples one independent copy of the spectral parameters per kind (sites suffixed
``__<kind>``); ``chinchilla`` is ``L = E + A/P^alpha + B/D^beta`` on ``loss`` records.

Likelihood on the log scale (logit for ``modes``), normal (``lognormal``) or Student-t
(``student``), with ``stderr`` added in quadrature where given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from gsf_infer.dataset import ModelData, kind_inputs
from gsf_infer.errors import InputError, Problem
from gsf_infer.forward import laws
from gsf_infer.forward.families import Family, GParams, get_family
from gsf_infer.priors import Prior, PriorSet

MODELS = ("gsf", "free", "chinchilla")
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
        Family of ``g`` (:data:`gsf_infer.forward.FAMILIES`).
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
        from gsf_infer.forward import FAMILIES, PRUNING_METRICS, TIERS

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


class ChartPrior(dist.Distribution):
    """The SPEC prior on ``(a, b, m, n)``, expressed in the coordinates of a chart.

    A chart makes the exponent a kind identifies a coordinate, so that a copy of the ``free``
    model (where one kind informs one combination and the prior the rest) has no curved
    ridge for NUTS to crawl along. Coordinates ``x`` (a 4-vector on the real line):

    - ``frontier``: ``(log(a-1), log(b-1), log r, log beta)`` with ``r = n/(b m) = rho/b``
      and ``beta = b m``: ``chi = (a-1) r`` is linear in logs (loss, density, modes);
    - ``slope``: ``(q, v, log r, log beta)`` with ``q = 1+b-a`` on the real line and
      ``(a-1, b-1) = ((s-d)/2, (s+d)/2)``, ``d = q-1``, ``s = sqrt(d^2 + e^(2v))`` — a smooth
      bijection onto ``a, b > 1`` (pruning, whose curves measure ``1+b-a``);
    - ``growth``: ``(g, log r, log beta, v)`` with ``q = g/r``: ``gamma = q r = g`` is a
      coordinate, in the saturated regime too (quantization).

    ``log_prob`` is the prior density of ``(a-1, b-1, m, n)`` at the image times the
    Jacobian of the chart, so the prior is exactly SPEC §2's; ``sample`` draws
    ``(a, b, m, n)`` from the priors and maps them back.
    """

    support = dist.constraints.real_vector
    CHARTS = ("frontier", "slope", "growth")

    def __init__(self, chart: str, priors: PriorSet):
        if chart not in self.CHARTS:
            raise ValueError(f"unknown chart {chart!r}")
        self.chart = chart
        self._base = {
            "a": dist.LogNormal(priors["a"].args["loc"], priors["a"].args["scale"]),
            "b": dist.LogNormal(priors["b"].args["loc"], priors["b"].args["scale"]),
            "m": dist.LogNormal(priors["m"].args["loc"], priors["m"].args["scale"]),
            "n": dist.LogNormal(priors["n"].args["loc"], priors["n"].args["scale"]),
        }
        super().__init__(batch_shape=(), event_shape=(4,))

    @staticmethod
    def applies(priors: PriorSet, family: Family) -> bool:
        """Charts need the default kind of priors (log-normal, a and b shifted by 1)."""
        return family.name == "monomial" and all(
            priors[k].dist == "LogNormal" and priors[k].shift == (1.0 if k in "ab" else 0.0)
            for k in ("a", "b", "m", "n")
        )

    def to_exponents(self, x: jax.Array) -> jax.Array:
        """``(a-1, b-1, m, n)`` of chart coordinates ``x``."""
        if self.chart == "frontier":
            a1, b1 = jnp.exp(x[0]), jnp.exp(x[1])
            log_r, log_beta = x[2], x[3]
        else:
            if self.chart == "slope":
                q, v, log_r, log_beta = x[0], x[1], x[2], x[3]
            else:
                g, log_r, log_beta, v = x[0], x[1], x[2], x[3]
                q = g * jnp.exp(-log_r)
            d = q - 1.0
            s = jnp.sqrt(d**2 + jnp.exp(2.0 * v))
            a1, b1 = 0.5 * (s - d), 0.5 * (s + d)
        beta = jnp.exp(log_beta)
        m = beta / (1.0 + b1)
        n = jnp.exp(log_r) * beta
        return jnp.stack([a1, b1, m, n])

    def from_exponents(self, e: jax.Array) -> jax.Array:
        """Chart coordinates of ``(a-1, b-1, m, n)`` (the last axis)."""
        a1, b1, m, n = e[..., 0], e[..., 1], e[..., 2], e[..., 3]
        beta = (1.0 + b1) * m
        log_r, log_beta = jnp.log(n / beta), jnp.log(beta)
        if self.chart == "frontier":
            return jnp.stack([jnp.log(a1), jnp.log(b1), log_r, log_beta], axis=-1)
        q = 1.0 + b1 - a1
        v = 0.5 * jnp.log(4.0 * a1 * b1)
        if self.chart == "slope":
            return jnp.stack([q, v, log_r, log_beta], axis=-1)
        return jnp.stack([q * jnp.exp(log_r), log_r, log_beta, v], axis=-1)

    def sample(self, key, sample_shape=()):
        keys = jax.random.split(key, 4)
        e = jnp.stack(
            [self._base[k].sample(kk, sample_shape) for k, kk in zip("abmn", keys, strict=True)],
            axis=-1,
        )
        return self.from_exponents(e)

    def log_prob(self, x):
        def one(xx):
            e = self.to_exponents(xx)
            _, logdet = jnp.linalg.slogdet(jax.jacfwd(self.to_exponents)(xx))
            lp = sum(self._base[k].log_prob(e[i]) for i, k in enumerate("abmn"))
            return lp + logdet

        x = jnp.asarray(x)
        if x.ndim == 1:
            return one(x)
        flat = x.reshape((-1, 4))
        return jax.vmap(one)(flat).reshape(x.shape[:-1])


def _sample_chart(name, chart: str, priors: PriorSet) -> dict[str, jax.Array]:
    """``a, b, m, n`` (and ``bm``) from a :class:`ChartPrior` site, as deterministic sites."""
    prior = ChartPrior(chart, priors)
    x = numpyro.sample(name(f"x_{chart}"), prior)
    a1, b1, m, n = prior.to_exponents(x)
    return {
        "a": numpyro.deterministic(name("a"), 1.0 + a1),
        "b": numpyro.deterministic(name("b"), 1.0 + b1),
        "m": numpyro.deterministic(name("m"), m),
        "n": numpyro.deterministic(name("n"), n),
        "bm": numpyro.deterministic(name("bm"), (1.0 + b1) * m),
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


#: Parameters the ``free`` model shares across its copies: the frontier's mode index at the
#: reference time (the amplitude of ``g``) and the capacity. They are scales, not exponents;
#: one kind alone often cannot locate them (measured on the bundled example: with a copy of
#: each per kind, the loss copy has a funnel in the joint scale of ``k_star`` and ``K`` and
#: the quantization copy a one-sided wall in ``K``, giving 114 divergences), and the
#: invariant compares exponents, which stay independent.
FREE_SHARED = ("k_star", "K", "nu")


def _uses(kind: str, parameter: str) -> bool:
    if parameter == "k_star":
        return kind in FRONTIER_KINDS
    return kind in CAPACITY_KINDS


#: The chart of each kind's copy in the ``free`` model (see :class:`ChartPrior`).
FREE_CHARTS = {
    "loss": "frontier",
    "density": "frontier",
    "modes": "frontier",
    "quantization": "growth",
    "pruning": "slope",
}


def sample_spectral(
    data: ModelData,
    settings: ModelSettings,
    priors: PriorSet,
    kinds: frozenset[str],
    suffix: str,
    chart: str | None = None,
    scales: dict[str, jax.Array] | None = None,
) -> dict[str, jax.Array]:
    """The spectral parameters shared by ``kinds`` (the whole ``gsf`` model, or one copy).

    ``chart`` (single group, monomial family, default-shaped priors only) samples ``a, b, m,
    n`` through :class:`ChartPrior`; otherwise ``a``, ``b`` (pooled across groups), ``bm``
    given ``b`` and ``n`` are sampled directly. ``scales`` supplies ``k_star``, ``K`` and
    ``nu`` sampled elsewhere (the ``free`` model shares them across its copies).
    """
    family = get_family(settings.g)
    G = data.n_groups
    name = lambda base: base + suffix  # noqa: E731
    P: dict[str, jax.Array] = {}
    if chart is not None and G == 1 and ChartPrior.applies(priors, family):
        P.update(_sample_chart(name, chart, priors))
    else:
        P["a"] = _sample_pooled(name("a"), priors["a"], G, priors["pool_sd"])
        P["b"] = _sample_pooled(name("b"), priors["b"], G, priors["pool_sd"])
    if "m" not in P and family.name in ("monomial", "logcorr"):
        P["m"] = _sample_m(name, priors["m"], P["b"])
        P["n"] = _sample(name("n"), priors["n"])
    elif family.name == "feature":
        P["n"] = _sample(name("n"), priors["n_feature"])
    if family.name == "logcorr":
        P["tau"] = _sample(name("tau"), priors["tau"])
    if family.name == "ridge":
        P["kap"] = _sample(name("kap"), priors["kap"])
    if scales is not None:
        P.update(scales)
    else:
        P.update(sample_scales(priors, kinds, G, name))
    for key, value in exponents_of(family, P, G).items():
        P[key] = numpyro.deterministic(name(key), value)
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


def _log_normal_around(center: float, scale: float) -> dist.Distribution:
    return dist.LogNormal(center, scale)


def sample_nuisance(
    kind: str, data: ModelData, settings: ModelSettings, priors: PriorSet, suffix: str
) -> dict[str, jax.Array]:
    """The amplitudes of one kind (see the module docstring) and its noise scale."""
    G = data.n_groups
    kd = data.kinds[kind]
    center = data.centers.get(kind, 0.0)
    P: dict[str, jax.Array] = {}
    name = lambda base: base + suffix  # noqa: E731

    def groups(base: str, d: dist.Distribution) -> jax.Array:
        d = d if G == 1 else d.expand((G,)).to_event(1)
        return numpyro.sample(name(base), d)

    if kind == "loss":
        # E lies below the smallest loss, with a margin for noise: SPEC §2's "E < min observed
        # loss" excludes the truth whenever noise pulls the smallest loss below E (measured on a
        # synthetic set: true E 2.0, smallest of 300 losses at 2% noise 1.93).
        floor = E_MARGIN * np.nan_to_num(data.loss_floor, nan=1.0)  # NumPy constants
        typical = float(np.median(kd.y) - 0.5 * np.nanmin(data.loss_floor))
        if G == 1:
            P["E"] = numpyro.sample(name("E"), dist.Uniform(0.0, float(floor[0])))
        else:
            P["E"] = numpyro.sample(name("E"), dist.Uniform(0.0, floor).to_event(1))
        P["loss_scale"] = groups("loss_scale", _log_normal_around(np.log(typical), 2.0))
    elif kind == "quantization":
        U = len(data.quant_units)
        d = _log_normal_around(center, 3.0)
        d = d if U == 1 else d.expand((U,)).to_event(1)
        P["quant_scale"] = numpyro.sample(name("quant_scale"), d)
    elif kind == "pruning":
        P["pruning_scale"] = groups("pruning_scale", _log_normal_around(center, 3.0))
    elif kind == "density":
        P["density_scale"] = groups("density_scale", _log_normal_around(center, 3.0))
    elif kind == "spectrum":
        P["spectrum_scale"] = groups("spectrum_scale", _log_normal_around(center, 2.0))
        if "spectrum_target" in data.centers:
            P["target_scale"] = groups(
                "target_scale", _log_normal_around(data.centers["spectrum_target"], 2.0)
            )
    elif kind == "data_scaling":
        R = len(data.runs)
        ds_runs = np.unique(kd.run)
        floor = E_MARGIN * np.nan_to_num(data.ds_floor, nan=1.0)
        # only the runs with data_scaling records get parameters; others are inert placeholders
        E = numpyro.sample(name("E_ds"), dist.Uniform(np.zeros(R), floor).to_event(1))
        typical = np.array(
            [
                np.log(max(np.median(kd.y[kd.run == r]) - 0.5 * floor[r], 1e-12))
                if r in ds_runs
                else 0.0
                for r in range(R)
            ]
        )
        B = numpyro.sample(name("B_ds"), dist.LogNormal(typical, 2.0).to_event(1))
        P["E_ds"], P["B_ds"] = E, B
        P["s"] = _sample_groups(name("s"), priors["s"], G)
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
        Standardized inputs of the kind's records (:func:`gsf_infer.dataset.kind_inputs`).
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
        """vmap ``fn(*record_args, a, b, gp)`` over records, parameters shared or per record."""
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
#: of tiny programs (measured: 23 s for the first trace of a five-kind model, 0.4 s after).
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


def build_model(data: ModelData, settings: ModelSettings, priors: PriorSet):
    """Return the numpyro model function for these data and settings.

    The function takes one keyword, ``predict``: ``False`` (default) conditions on the
    observations; ``True`` leaves the observed sites free, for prior and posterior predictive
    draws (numpyro's ``Predictive`` replays ``obs=`` values otherwise).

    Raises
    ------
    InputError
        When the data cannot support the model (``chinchilla`` without loss records carrying
        ``params``).
    """
    settings.check()
    inputs = {k: {n: jnp.asarray(v) for n, v in d.items()} for k, d in kind_inputs(data).items()}
    obs = {}
    for kind, kd in data.kinds.items():
        value, meas = observation(kind, kd.y, kd.stderr)
        obs[kind] = (jnp.asarray(value), jnp.asarray(meas))
    if "spectrum" in data.kinds:
        target = data.kinds["spectrum"].x["target"]
        has = np.isfinite(target)
        if has.any():
            obs["spectrum_target"] = (jnp.asarray(np.log(target[has])), jnp.zeros(int(has.sum())))
            target_rows = jnp.asarray(np.flatnonzero(has))

    if settings.model == "chinchilla":
        if "loss" not in data.kinds:
            raise InputError(Problem("gsf-infer", "--model chinchilla needs loss records"))
        kd = data.kinds["loss"]
        if not np.all(kd.x["has_params"] > 0):
            raise InputError(
                Problem("gsf-infer", "--model chinchilla needs params on every loss record")
            )

        def chinchilla(predict: bool = False) -> None:
            floor = E_MARGIN * float(np.nanmin(data.loss_floor))
            typical = float(np.median(kd.y) - 0.5 * floor / E_MARGIN)
            x = inputs["loss"]
            P = {
                "E": numpyro.sample("E", dist.Uniform(0.0, floor)),
                "A_std": numpyro.sample("A_std", dist.LogNormal(np.log(typical / 2), 2.0)),
                "B_std": numpyro.sample("B_std", dist.LogNormal(np.log(typical / 2), 2.0)),
                "alpha": _sample("alpha", priors["alpha"]),
                "beta": _sample("beta", priors["beta"]),
            }
            numpyro.deterministic("A", P["A_std"] * data.scales.params_ref ** P["alpha"])
            numpyro.deterministic("B", P["B_std"] * data.scales.t_ref ** P["beta"])
            sigma = _sample("sigma_loss", priors["sigma"])
            value, meas = obs["loss"]
            numpyro.sample(
                "loss",
                noise_distribution(chinchilla_expected(P, x), sigma, meas, settings),
                obs=None if predict else value,
            )

        return chinchilla

    kinds = tuple(data.kinds)

    def model(predict: bool = False) -> None:
        """The model; ``predict=True`` leaves the observed sites free (predictive draws)."""
        blocks: dict[str, dict[str, jax.Array]] = {}
        if settings.model == "gsf":
            shared = sample_spectral(data, settings, priors, frozenset(kinds), "")
            blocks = {k: shared for k in kinds}
        else:
            # one copy of the exponents per kind; the frontier scale and the capacity are
            # shared nuisance scales (a single kind often cannot locate them: see FREE_SHARED)
            shared = sample_scales(priors, frozenset(kinds), data.n_groups)
            for k in kinds:
                chart = FREE_CHARTS.get(k)
                if k == "pruning" and settings.pruning_metric != "seed":
                    chart = "frontier"
                blocks[k] = sample_spectral(
                    data, settings, priors, frozenset({k}), f"__{k}", chart=chart,
                    scales={n: v for n, v in shared.items() if _uses(k, n)},
                )
        for kind in kinds:
            suffix = "" if settings.model == "gsf" else f"__{kind}"
            P = dict(blocks[kind])
            P.update(sample_nuisance(kind, data, settings, priors, suffix))
            if kind == "data_scaling":  # the exponent the records measure (SPEC §1)
                numpyro.deterministic("alpha" + suffix, laws.redundancy_alpha(P["b"], P["s"]))
            mus = expected_jit(kind, P, inputs[kind], settings, data.n_groups)
            value, meas = obs[kind]
            numpyro.sample(
                kind,
                noise_distribution(mus[kind], P["sigma"], meas, settings),
                obs=None if predict else value,
            )
            if "spectrum_target" in mus and "spectrum_target" in obs:
                value, meas = obs["spectrum_target"]
                numpyro.sample(
                    "spectrum_target",
                    noise_distribution(
                        mus["spectrum_target"][target_rows], P["sigma"], meas, settings
                    ),
                    obs=None if predict else value,
                )

    return model
