"""The model's log density against an independent NumPy/SciPy assembly, without NUTS.

The reference here maps a flat unconstrained vector to the constrained parameters by hand
(``a = 1 + e^z``, ``sigma = e^z``, ``E_frac = 1/(1 + e^-z)``, ...), adds the log-Jacobian of
each map, the prior densities from :mod:`scipy.stats`, the deviation switch and a normal (or
Student-t) likelihood on ``log y`` (``logit`` for ``modes``, ``stderr`` added in quadrature).
Only the forward laws are taken from the tool (:func:`gsf_infer.model.expected.expected`, tested
in ``test_expected.py`` against the laws in the data's units) and the standardized covariates
(:func:`gsf_infer.data.dataset.kind_inputs`, tested in ``test_standardize.py``). The transforms'
log-Jacobians are also checked without any formula, by the change-of-variables identity with
the Jacobian taken by finite differences. Everything is compiled once per data set; no sampler
runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from fakes import SMALL_ALL_KINDS as CONFIG
from jax.flatten_util import ravel_pytree
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import log_density
from scipy import stats
from scipy.special import expit, log_expit

from gsf_infer.data.dataset import ModelData, build_model_data, kind_inputs
from gsf_infer.data.records import records_from_frame
from gsf_infer.inference.functions import ModelFunctions, model_functions
from gsf_infer.model.build import BuiltModel, build_model
from gsf_infer.model.expected import expected_jit
from gsf_infer.model.priors import PriorSet
from gsf_infer.model.settings import ModelSettings
from gsf_infer.simulate.gsf import DEFAULT_KINDS, simulate_gsf

#: The default model (gsf, monomial g, continuum tier, log-normal likelihood).
SETTINGS = ModelSettings()
#: The observed column of each kind.
OBSERVED = {
    "loss": "loss",
    "quantization": "delta_loss",
    "pruning": "delta_loss",
    "density": "density",
    "spectrum": "eigenvalue",
    "modes": "learned_fraction",
    "data_scaling": "loss",
}
#: Default priors (README, "The model in brief"), as SciPy frozen distributions.
LOGNORMAL = {  # site: (loc, scale) of the log
    "a": (np.log(0.5), 0.8),  # of a - 1
    "b": (np.log(0.5), 0.8),  # of b - 1
    "n": (0.0, 0.5),
    "k_star": (np.log(29.0), 3.0),  # of k_star - 1
    "K": (np.log(990.0), 3.0),  # of K - 10
    "s": (0.0, 1.0),
}
SIGMA_PRIOR = stats.halfnorm(scale=0.1)
POOL_SD_PRIOR = stats.halfnorm(scale=0.3)
M_LOG_SCALE = 0.3  # m ~ LogNormal(0, 0.3), so bm | b ~ LogNormal(log b, 0.3)
DEVIATION_SD = 0.5
#: Prior scale (of the log) of each kind's amplitude around the data's typical value.
AMPLITUDE_SCALE = {
    "loss_level": 2.0,
    "quant_scale": 3.0,
    "pruning_scale": 3.0,
    "density_scale": 3.0,
    "spectrum_scale": 2.0,
    "target_scale": 2.0,
}
AMPLITUDE_KIND = {
    "quant_scale": "quantization",
    "pruning_scale": "pruning",
    "density_scale": "density",
    "spectrum_scale": "spectrum",
}
FRONTIER = {"loss", "quantization", "pruning", "density", "modes"}
CAPACITY = {"loss", "quantization", "pruning", "density"}


def lognormal(loc: float, scale: float):
    """``LogNormal(loc, scale)`` in SciPy's parametrization."""
    return stats.lognorm(s=scale, scale=np.exp(loc))


# ------------------------------------------------------------------------------ data sets


def simulate() -> pd.DataFrame:
    """Records of every kind from the exact forward model, some with a measurement stderr."""
    frame, _ = simulate_gsf(CONFIG, np.random.default_rng(7))
    frame = frame.copy()
    frame["stderr"] = np.nan
    for kind, share in (("loss", 0.02), ("density", 0.05), ("modes", 0.01)):
        rows = (frame["kind"] == kind).to_numpy().nonzero()[0][::2]
        column = OBSERVED[kind]
        frame.loc[frame.index[rows], "stderr"] = share * frame[column].to_numpy()[rows]
    return frame


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    """:func:`simulate`, once per module."""
    return simulate()


def two_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Loss and spectrum records in two groups (the second a steeper, shifted copy)."""
    base = frame[frame["kind"].isin(["loss", "spectrum"])].copy()
    base["group"] = "first"
    other = base.copy()
    other["group"] = "second"
    other["run"] = other["run"] + "-second"
    loss = other["kind"] == "loss"
    other.loc[loss, "loss"] = 0.8 * other.loc[loss, "loss"]
    spec = other["kind"] == "spectrum"
    k = other.loc[spec, "k"].astype(float)
    other.loc[spec, "eigenvalue"] = other.loc[spec, "eigenvalue"] * k**-0.2
    other.loc[spec, "target_power"] = other.loc[spec, "target_power"] * k**-0.3
    return pd.concat([base, other], ignore_index=True)


#: The data sets: every kind (the five default ones, ``modes`` and ``data_scaling``), one kind
#: alone, and two groups.
TABLES = {
    "all_kinds": lambda f: f,
    "loss_only": lambda f: f[f["kind"] == "loss"],
    "data_scaling_only": lambda f: f[f["kind"] == "data_scaling"],
    "two_groups": two_groups,
}


@dataclass
class Case:
    """One data set, its model, and its compiled potential and gradient."""

    table: pd.DataFrame
    data: ModelData
    built: BuiltModel
    fns: ModelFunctions
    value_and_grad: Any
    settings: ModelSettings
    constrain: Any  # compiled once per data set, shared by the tests
    prior_potential: Any

    def inputs(self, mask: float) -> dict[str, Any]:
        return self.built.replace_inputs(deviation_mask=jnp.asarray(mask)).inputs

    def potential(self, z: np.ndarray, mask: float) -> float:
        return float(self.value_and_grad(jnp.asarray(z), self.inputs(mask))[0])


@pytest.fixture(scope="module")
def cases(simulated):
    """``cases(name)``: a data set of :data:`TABLES`, built and compiled once per module."""
    made: dict[str, Case] = {}

    def get(name: str) -> Case:
        if name not in made:
            made[name] = make_case(TABLES[name](simulated))
        return made[name]

    return get


def make_case(frame: pd.DataFrame, settings: ModelSettings = SETTINGS) -> Case:
    """Validate, standardize, build the model and compile its value and gradient."""
    frame = frame.reset_index(drop=True).dropna(axis=1, how="all")
    records = records_from_frame(frame, path="simulated.csv")
    data = build_model_data(records)
    built = build_model(data, settings, PriorSet())
    fns = model_functions(built)
    vg = jax.jit(jax.value_and_grad(fns.potential))
    return Case(records.table, data, built, fns, vg, settings, jax.jit(fns.constrain),
                jax.jit(fns.prior_potential))


# ------------------------------------------------------------------------------ reference


def split(z: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The flat vector's blocks by site, in the order of the names (``x`` or ``x[i]``)."""
    blocks: dict[str, list[float]] = {}
    vector: set[str] = set()
    for name, value in zip(names, z, strict=True):
        base = name.split("[")[0]
        if "[" in name:
            vector.add(base)
        blocks.setdefault(base, []).append(float(value))
    return {k: np.array(v) if k in vector else v[0] for k, v in blocks.items()}


def observations(table: pd.DataFrame, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Observed values of a kind on the likelihood's scale and their stderr there."""
    rows = table[table["kind"] == kind]
    y = rows[OBSERVED[kind]].to_numpy(dtype=float)
    se = np.nan_to_num(rows["stderr"].to_numpy(dtype=float), nan=0.0) if "stderr" in rows else 0 * y
    if kind == "modes":
        return np.log(y / (1.0 - y)), se / (y * (1.0 - y))
    return np.log(y), se / y


def names_of(table: pd.DataFrame, column: str) -> list[str]:
    return sorted(table[column].astype(str).unique())


def expected_sites(case: Case) -> set[str]:
    """The latent sites the model should have: those the kinds present read, no others."""
    kinds = set(case.table["kind"])
    G = len(names_of(case.table, "group"))
    sites = {f"{e}_{p}" for e in ("a", "b") for p in ("mu", "sd", "z")} if G > 1 else {"a", "b"}
    if kinds & FRONTIER:
        sites |= {"bm", "n", "k_star"}
    if kinds & CAPACITY:
        sites.add("K")  # nu is fixed at 1 by default: not sampled
    sites |= {f"sigma_{k}" for k in kinds}
    sites |= {s for s, k in AMPLITUDE_KIND.items() if k in kinds}
    if "loss" in kinds:
        sites |= {"E_frac", "loss_level"}
    if "spectrum" in kinds and case.table["target_power"].notna().any():
        sites.add("target_scale")
    if "data_scaling" in kinds:
        sites |= {"E_ds_frac", "ds_level", "s"}
    if case.built.deviations:
        sites.add("deviation_z")
    return sites


def reference(case: Case, z: np.ndarray, mask: float) -> dict[str, Any]:
    """The model's numbers at the flat unconstrained ``z``, computed independently.

    Returns the constrained values (latent and derived), the log prior with the transforms'
    log-Jacobians, the log likelihood per observed site, the potential (minus their sum) and
    the unconstrained prior median of each site.
    """
    table = case.table
    zs = split(np.asarray(z, dtype=float), case.fns.names)
    kinds = [k for k in OBSERVED if k in set(table["kind"])]
    groups, runs = names_of(table, "group"), names_of(table, "run")
    G = len(groups)
    V: dict[str, Any] = {}
    logp = 0.0
    medians: dict[str, Any] = {}  # of each site, unconstrained

    def positive(name: str, prior) -> np.ndarray:
        nonlocal logp
        medians[name] = np.log(prior.median())
        value = np.exp(zs[name])
        logp += np.sum(prior.logpdf(value)) + np.sum(zs[name])  # d exp(z)/dz = exp(z)
        return value

    def above(name: str, bound: float, prior) -> np.ndarray:
        nonlocal logp
        medians[name] = np.log(prior.median())
        value = bound + np.exp(zs[name])
        logp += np.sum(prior.logpdf(value - bound)) + np.sum(zs[name])  # d(bound + e^z)/dz
        return value

    def unit_interval(name: str) -> np.ndarray:
        nonlocal logp
        medians[name] = 0.0
        value = expit(zs[name])  # Uniform(0, 1): density 1; Jacobian s(z) (1 - s(z))
        logp += np.sum(log_expit(zs[name]) + log_expit(-zs[name]))
        return value

    # a and b: a - 1 ~ LogNormal, or partially pooled log(a - 1) = mu + sd * z over groups
    for e in ("a", "b"):
        loc, scale = LOGNORMAL[e]
        medians.update({e: loc, f"{e}_mu": loc, f"{e}_z": 0.0,
                        f"{e}_sd": np.log(POOL_SD_PRIOR.median())})
        if G == 1:
            V[e] = 1.0 + np.exp(zs[e])
            logp += lognormal(loc, scale).logpdf(V[e] - 1.0) + zs[e]
        else:
            mu, sd, zz = zs[f"{e}_mu"], np.exp(zs[f"{e}_sd"]), zs[f"{e}_z"]
            logp += stats.norm(loc, scale).logpdf(mu)
            logp += POOL_SD_PRIOR.logpdf(sd) + zs[f"{e}_sd"]
            logp += np.sum(stats.norm.logpdf(zz))
            V[e] = 1.0 + np.exp(mu + sd * zz)
    if set(kinds) & FRONTIER:
        V["bm"] = positive("bm", stats.lognorm(s=M_LOG_SCALE, scale=V["b"]))
        V["m"] = V["bm"] / V["b"]
        V["n"] = positive("n", lognormal(*LOGNORMAL["n"]))
        V["k_star"] = above("k_star", 1.0, lognormal(*LOGNORMAL["k_star"]))
        V["rho"] = V["n"] / V["m"]
        V["rho_over_b"] = V["rho"] / V["b"]
        V["chi"] = (V["a"] - 1.0) * V["rho_over_b"]
        slope = 1.0 + V["b"] - V["a"]
        V["gamma"] = np.where(slope > 0, slope * V["rho_over_b"], 0.0)
    if set(kinds) & CAPACITY:
        V["K"] = above("K", 10.0, lognormal(*LOGNORMAL["K"]))
        V["nu"] = 1.0
    if case.built.deviations:
        # delta_Q and delta_L through the products the records measure: delta = (c + s z)/r - c,
        # z ~ Normal(c (r - 1)/s, r) (scale 1 when off), c = 1 + b - a or a - 1, r = rho/b;
        # eps_F = s z, z ~ Normal(0, 1)
        names = case.built.deviations
        a_, b_ = np.mean(V["a"]), np.mean(V["b"])
        r = np.mean(V["rho"] / V["b"]) if "rho" in V else 1.0
        c = np.array([{"delta_Q": 1.0 + b_ - a_, "delta_L": a_ - 1.0}.get(n, np.nan)
                      for n in names])
        pinned = np.isfinite(c)
        c = np.where(pinned, c, 0.0)
        loc = np.where(pinned, c * (r - 1.0) / DEVIATION_SD, 0.0)
        sd = np.where(pinned, 1.0 + mask * (r - 1.0), 1.0)  # scale 1 with the deviations off
        medians["deviation_z"] = loc
        dz = np.atleast_1d(zs["deviation_z"])
        logp += np.sum(stats.norm.logpdf(dz, loc, sd))
        values = mask * np.where(pinned, (c + DEVIATION_SD * dz) / r - c, DEVIATION_SD * dz)
        dev = dict(zip(names, values, strict=True))
        V.update(dev)
        zero = 0.0 * V["b"]
        V["delta_over_rho"] = (
            1.0 + (dev.get("delta_L", zero) + dev.get("delta_Q", zero)) / V["b"]
        ) * np.exp(-dev.get("eps_F", zero)) - 1.0
        V["delta"] = V["delta_over_rho"] * V["rho"] * np.exp(dev.get("eps_F", zero))

    x_all = kind_inputs(case.data)
    settings = case.settings

    def noise(value, loc, scale):
        if settings.likelihood == "student":
            return stats.t.logpdf(value, settings.student_df, loc, scale)
        return stats.norm.logpdf(value, loc, scale)

    loglik: dict[str, float] = {}
    for kind in kinds:
        rows = table[table["kind"] == kind]
        y = rows[OBSERVED[kind]].to_numpy(dtype=float)
        P = {k: v for k, v in V.items() if k in ("a", "b", "m", "n", "k_star", "K", "nu")}
        if kind == "loss":
            # the loss at the reference point, centred on the median loss (geometric), of
            # which E is a uniform fraction and the amplitude the rest
            centre = np.exp(np.median(np.log(y)))
            level = positive("loss_level", stats.lognorm(
                s=AMPLITUDE_SCALE["loss_level"], scale=centre if G == 1 else np.full(G, centre)
            ))
            frac = unit_interval("E_frac")
            V["E"] = P["E"] = level * frac
            P["loss_scale"] = V["loss_scale"] = level * (1.0 - frac)
        elif kind == "data_scaling":
            run_of = rows["run"].astype(str).to_numpy()
            # each run's value at its reference sample count is centred on the run's median
            # (placeholder centre 1 for runs without data_scaling records); E is a uniform
            # fraction of it and B the rest
            centre = np.array([
                np.median(y[run_of == r]) if (run_of == r).any() else 1.0 for r in runs
            ])
            level = positive("ds_level", stats.lognorm(s=2.0, scale=centre))
            frac = unit_interval("E_ds_frac")
            V["E_ds"] = P["E_ds"] = level * frac
            V["B_ds"] = P["B_ds"] = level * (1.0 - frac)
            V["s"] = P["s"] = positive("s", lognormal(*LOGNORMAL["s"]))
            V["alpha"] = 2 * V["s"] / (2 * V["s"] + 1 / V["b"])
        for site, of in AMPLITUDE_KIND.items():
            if of == kind:
                centre = np.median(np.log(y))
                P[site] = V[site] = positive(site, lognormal(centre, AMPLITUDE_SCALE[site]))
        target = None
        if kind == "spectrum" and rows["target_power"].notna().any():
            target = rows["target_power"].to_numpy(dtype=float)
            centre = np.median(np.log(target[np.isfinite(target)]))
            P["target_scale"] = V["target_scale"] = positive(
                "target_scale", lognormal(centre, AMPLITUDE_SCALE["target_scale"])
            )
        sigma = V[f"sigma_{kind}"] = positive(f"sigma_{kind}", SIGMA_PRIOR)

        # the deviation parameters, as the README states them
        x = dict(x_all[kind])
        if kind == "loss" and "delta_L" in V:
            P["a"] = P["a"] + V["delta_L"]
        if kind == "quantization" and "delta_Q" in V:
            P["a"] = P["a"] - V["delta_Q"]
        if kind in ("pruning", "density") and "eps_F" in V:
            x["t"] = x["t"] ** np.exp(V["eps_F"])
        P["sigma"] = sigma
        mus = expected_jit(
            kind,
            {k: jnp.asarray(v, dtype=float) for k, v in P.items()},
            {k: jnp.asarray(v) for k, v in x.items()},
            settings,
            G,
        )
        obs, meas = observations(table, kind)
        scale = np.sqrt(sigma**2 + meas**2)
        loglik[kind] = float(np.sum(noise(obs, np.asarray(mus[kind]), scale)))
        if target is not None:
            has = np.isfinite(target)
            mu_t = np.asarray(mus["spectrum_target"])[has]
            loglik["spectrum_target"] = float(
                np.sum(noise(np.log(target[has]), mu_t, sigma))
            )
    return {
        "values": V,
        "log_prior": float(logp),
        "log_likelihood": loglik,
        "potential": -(float(logp) + sum(loglik.values())),
        "medians": medians,
    }


def prior_median(case: Case) -> np.ndarray:
    """The flat unconstrained vector of the sites' prior medians (``bm``'s given ``b = 2``)."""
    zeros = np.zeros(len(case.fns.names))
    medians = reference(case, zeros, 0.0)["medians"]
    out = []
    for name in case.fns.names:
        base, _, index = name.partition("[")
        value = np.broadcast_to(medians[base], np.shape(split(zeros, case.fns.names)[base]))
        out.append(float(value[int(index[:-1])] if index else value))
    return np.array(out)


def random_points(case: Case, count: int, spread: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    z0 = prior_median(case)
    return [z0 + spread * rng.standard_normal(z0.shape) for _ in range(count)]


# ------------------------------------------------------------------------------ tests

ALL = list(TABLES)


@pytest.mark.parametrize("name", ALL)
def test_sites_are_those_the_records_use(cases, name):
    case = cases(name)
    names = {n.split("[")[0] for n in case.fns.names}
    assert names == set(case.fns.supports) == expected_sites(case)


def test_sites_no_record_uses_are_absent(cases, simulated):
    data_scaling = set(cases("data_scaling_only").fns.supports)
    assert data_scaling == {"a", "b", "E_ds_frac", "ds_level", "s", "sigma_data_scaling"}
    assert not {"bm", "n", "k_star", "K", "nu", "deviation_z"} & data_scaling
    loss = set(cases("loss_only").fns.supports)
    assert loss == {"a", "b", "bm", "n", "k_star", "K", "E_frac", "loss_level", "sigma_loss"}
    # delta_L needs target powers and modes records
    assert cases("all_kinds").built.deviations == ("delta_Q", "eps_F", "delta_L")
    five = records_from_frame(simulated[simulated["kind"].isin(DEFAULT_KINDS)].dropna(
        axis=1, how="all").reset_index(drop=True))
    assert build_model(build_model_data(five), SETTINGS, PriorSet()).deviations == (
        "delta_Q", "eps_F")


@pytest.mark.parametrize("mask", [0.0, 1.0])
@pytest.mark.parametrize("name", ALL)
def test_potential_equals_independent_reference(cases, name, mask):
    case = cases(name)
    for z in random_points(case, 4, 0.5, seed=11):
        got = case.potential(z, mask)
        ref = reference(case, z, mask)["potential"]
        assert np.isfinite(ref)
        assert abs(got - ref) <= 1e-8 * max(1.0, abs(ref)), (got, ref)


@pytest.mark.parametrize("name", ALL)
def test_prior_potential_equals_independent_reference(cases, name):
    case = cases(name)
    for z in random_points(case, 3, 0.5, seed=12):
        got = float(case.prior_potential(jnp.asarray(z), case.inputs(1.0)))
        ref = -reference(case, z, 1.0)["log_prior"]
        assert abs(got - ref) <= 1e-8 * max(1.0, abs(ref)), (got, ref)


def test_deviation_switch(cases):
    """Switched off, the deviations leave the likelihood; switched on, they enter it."""
    case = cases("all_kinds")
    z = random_points(case, 1, 0.3, seed=13)[0]
    dev = [i for i, n in enumerate(case.fns.names) if n.startswith("deviation_z")]
    moved = z.copy()
    moved[dev] += 0.7
    # off: moving the deviation coordinates changes only their own prior (the likelihood is
    # the same, and so is every other site's prior)
    before, after = reference(case, z, 0.0), reference(case, moved, 0.0)
    prior_change = after["log_prior"] - before["log_prior"]
    assert after["log_likelihood"] == before["log_likelihood"]
    off = case.potential(moved, 0.0) - case.potential(z, 0.0)
    assert off == pytest.approx(-prior_change, rel=1e-8, abs=1e-8)
    on = case.potential(moved, 1.0) - case.potential(z, 1.0)
    assert abs(on - off) > 1e-3
    ref = reference(case, moved, 1.0)["potential"] - reference(case, z, 1.0)["potential"]
    assert on == pytest.approx(ref, rel=1e-7, abs=1e-7)


def test_student_likelihood_equals_independent_reference(simulated):
    case = make_case(TABLES["loss_only"](simulated), ModelSettings(likelihood="student"))
    for z in random_points(case, 3, 0.5, seed=17):
        got, ref = case.potential(z, 0.0), reference(case, z, 0.0)["potential"]
        assert abs(got - ref) <= 1e-8 * max(1.0, abs(ref)), (got, ref)
    # the setting took effect: the normal likelihood gives another potential at the same point
    normal = reference(replace(case, settings=SETTINGS), z, 0.0)["potential"]
    assert abs(normal - got) > 1e-3


def central_differences(case: Case, z: np.ndarray, mask: float) -> np.ndarray:
    """Central differences of the compiled potential, coordinate by coordinate."""
    fd = np.empty_like(z)
    for j in range(z.size):
        h = 1e-5 * max(1.0, abs(z[j]))
        up, down = z.copy(), z.copy()
        up[j] += h
        down[j] -= h
        fd[j] = (case.potential(up, mask) - case.potential(down, mask)) / (2 * h)
    return fd


#: Coordinates that move the learning frontier, where the continuum tier splits its quadrature
#: panels (``bm``, ``n``, ``k_star``; ``eps_F`` among the deviations).
FRONTIER_COORDINATES = ("bm", "n", "k_star", "deviation_z")


@pytest.mark.parametrize("name", ALL)
def test_gradient_equals_central_differences(cases, name):
    """The compiled gradient against central differences of the potential.

    The continuum tier's quadrature takes no gradient through its panel split points (the
    integral does not depend on them, only the quadrature error does; ``forward/sums.py``), so
    along the coordinates that move the frontier the gradient is that of the integral, not of
    the evaluated sum: measured differences up to 1.2e-5 of the largest component. There the
    tolerance is 1e-4 of it (a missing Jacobian term is off by 1); elsewhere 1e-6.
    """
    case = cases(name)
    frontier = np.array([n.split("[")[0] in FRONTIER_COORDINATES for n in case.fns.names])
    for z in random_points(case, 2, 0.3, seed=14):
        grad = np.asarray(case.value_and_grad(jnp.asarray(z), case.inputs(1.0))[1])
        fd = central_differences(case, z, 1.0)
        scale = max(1.0, float(np.max(np.abs(grad))))
        np.testing.assert_allclose(grad[~frontier], fd[~frontier], rtol=1e-6, atol=1e-7 * scale)
        np.testing.assert_allclose(grad[frontier], fd[frontier], rtol=0, atol=1e-4 * scale)


def test_gradient_exact_tier_equals_central_differences(simulated):
    """In the exact tier (no quadrature) the gradient is the potential's to 1e-6 everywhere."""
    case = make_case(TABLES["loss_only"](simulated), ModelSettings(tier="exact", k_max=8192))
    for z in random_points(case, 2, 0.3, seed=16):
        grad = np.asarray(case.value_and_grad(jnp.asarray(z), case.inputs(1.0))[1])
        fd = central_differences(case, z, 1.0)
        scale = max(1.0, float(np.max(np.abs(grad))))
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7 * scale)


@pytest.mark.parametrize("name", ALL)
def test_constrain_matches_reference_and_round_trips(cases, name):
    case = cases(name)
    for mask in (0.0, 1.0):
        inputs = case.inputs(mask)
        for z in random_points(case, 2, 0.5, seed=15):
            values = case.constrain(jnp.asarray(z), inputs)
            ref = reference(case, z, mask)["values"]
            for site, value in ref.items():
                if site == "nu":  # fixed at 1: not a site
                    continue
                np.testing.assert_allclose(
                    np.asarray(values[site]), value, rtol=1e-10, atol=1e-12, err_msg=site
                )
            latent = {k: values[k] for k in case.fns.supports}
            back = np.asarray(case.fns.unconstrain(latent))
            np.testing.assert_allclose(back, z, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["all_kinds", "two_groups"])
def test_transform_jacobians_by_the_change_of_variables_identity(cases, name):
    """``-prior_potential(z) = log p(x(z)) + log |det dx/dz|``, the Jacobian by differences.

    ``x(z)`` are the constrained latent values (``a`` above 1, the positive sites, the uniform
    fractions ``E_frac`` and ``E_ds_frac``, the pooled ``a_sd``, ``deviation_z`` itself);
    ``log p(x)`` is numpyro's log density of the prior *at the constrained values* (no
    transform involved), and ``dx/dz`` is taken by central differences of the map ``z -> x``
    (the one the model's ``constrain`` applies, checked), so no log-Jacobian formula enters.
    The deviations are deterministic functions of the sampled coordinates ``deviation_z``
    (whose own density is on the real line): their density needs no Jacobian, and
    ``test_constrain_matches_reference_and_round_trips`` checks the map.
    """
    case = cases(name)
    inputs = case.inputs(1.0)
    sites = sorted(case.fns.supports)

    @jax.jit
    def latent(z):  # each site's support's bijection, as numpyro maps the sampler's vector
        parts = case.fns.unravel(z)
        return ravel_pytree({k: biject_to(case.fns.supports[k])(parts[k]) for k in sites})[0]

    @jax.jit
    def log_prior_at(values):
        return log_density(case.fns.model, (inputs,), {"likelihood": False}, values)[0]

    for z in random_points(case, 2, 0.5, seed=18):
        jac = np.empty((z.size, z.size))
        for j in range(z.size):
            h = 1e-6 * max(1.0, abs(z[j]))
            up, down = z.copy(), z.copy()
            up[j] += h
            down[j] -= h
            jac[:, j] = (np.asarray(latent(up)) - np.asarray(latent(down))) / (2 * h)
        sign, log_det = np.linalg.slogdet(jac)
        assert sign > 0
        values = case.constrain(jnp.asarray(z), inputs)
        np.testing.assert_allclose(
            np.asarray(latent(z)), ravel_pytree({k: values[k] for k in sites})[0], rtol=1e-12
        )
        log_p = float(log_prior_at({k: values[k] for k in sites}))
        got = -float(case.prior_potential(jnp.asarray(z), inputs))
        assert got == pytest.approx(log_p + log_det, rel=1e-7, abs=1e-6)
        # the identity is not empty: the log-Jacobian is a sizeable part of it
        assert abs(log_det) > 1.0
