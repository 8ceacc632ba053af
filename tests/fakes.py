"""Fake fits for the tests of checks, compare, plots and report: no NUTS, exact posteriors.

A fake fit is a DataTree with the layout of :mod:`gsf_infer.inference.datatree` (groups, variable
names, dimensions, constant data, root attributes) whose posterior is *exact* for a model that is
linear on the likelihood's scale: every kind's log observation (logit for ``modes``) is
``X @ beta + noise`` with a known design ``X`` (its covariates on log axes, one intercept per
run) and known noise ``sigma``. With a flat prior, ``beta | y ~ Normal(beta_hat,
sigma^2 (X'X)^-1)``, so the posterior draws, the posterior predictive draws and the pointwise
log-likelihood are those of a correctly specified Bayesian fit — a *well-calibrated* fake.
Negative controls break one thing on purpose: the observations are shifted away from what the
model predicts (``bias``), the model's noise is too small (``narrow``), some transitions are
marked divergent, or the chains are centred at different values (``split_chains``).

The named spectral parameters (``a``, ``b``, ``m``, ``n`` and what derives from them) are drawn
around a chosen world, independently of the records' fake posterior (only checks, plots and
report read them). A ``deviation`` fake adds the deviation parameters (``delta_Q``, ``eps_F``,
and ``delta_L`` when asked for) drawn around chosen values, and derives ``delta_over_rho =
(1 + (delta_L + delta_Q)/b) exp(-eps_F) - 1`` and ``delta = delta_over_rho rho exp(eps_F)``
from them here, in NumPy; its records follow the exponents the deviations imply. The
records are validated by :func:`gsf_infer.data.records.records_from_frame` and the DataTree is
assembled by the tool's own :func:`gsf_infer.inference.datatree.build_datatree`, so its layout is
the tool's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpyro  # noqa: F401  (before arviz)
import pandas as pd
import xarray as xr

from gsf_infer.analysis.checks import build_checks
from gsf_infer.analysis.invariant import (
    VERDICT_VARIABLES,
    InvariantSettings,
    flat_draws,
    untestable,
)
from gsf_infer.analysis.invariant import verdict as invariant_verdict
from gsf_infer.analysis.summary import convergence_problems, diagnostics, parameter_table
from gsf_infer.data.dataset import Scales, build_model_data
from gsf_infer.data.records import records_from_frame
from gsf_infer.data.schema import KIND_FORMATS
from gsf_infer.inference.datatree import build_datatree, read_attrs
from gsf_infer.output import artifacts
from gsf_infer.simulate.gsf import DEFAULT_KINDS, GsfSimConfig

#: A small simulation of the exact forward model: every kind, a few records each.
SMALL_ALL_KINDS = GsfSimConfig(
    kinds=DEFAULT_KINDS + ("modes", "data_scaling"),
    sizes=(1e6, 1e7),
    loss_points=6,
    quantization_points=4,
    bits=(3, 5),
    pruning_times=(1e2, 1e4),
    sparsity_points=4,
    density_points=4,
    spectrum_points=6,
    modes_k=(1, 4, 16, 64),
    modes_points=4,
    data_points=5,
)

#: Log-scale noise of every fake observation.
SIGMA = 0.05
#: The standardization references of every fake fit (attrs["scales"]).
SCALES = {"t_ref": 1000.0, "params_ref": 1e7, "k_ref": 10.0, "bits_ref": 4.5}
#: The deviation parameters of every ``deviation`` fake, at these centres unless asked otherwise.
DEFAULT_DEVIATIONS = {"delta_Q": 0.0, "eps_F": 0.0}
#: Prior standard deviation of the deviation parameters (the tool's default).
DEVIATION_PRIOR_SD = 0.5


@dataclass(frozen=True)
class World:
    """Spectral exponents of a fake world."""

    a: float = 1.6
    b: float = 1.4
    m: float = 1.0
    n: float = 1.25

    @property
    def rho(self) -> float:
        return self.n / self.m

    @property
    def chi(self) -> float:
        return (self.a - 1.0) * self.rho / self.b

    @property
    def gamma(self) -> float:
        slope = 1.0 + self.b - self.a
        return slope * self.rho / self.b if slope > 0 else 0.0

    @property
    def rho_over_b(self) -> float:
        return self.rho / self.b


@dataclass(frozen=True)
class FakeSpec:
    """What a fake fit looks like.

    Attributes
    ----------
    kinds : tuple of str
        Kinds with records.
    chains, draws : int
        Posterior draws.
    model : str
        ``gsf`` or ``deviation`` (``gsf`` plus deviation parameters).
    world : World
        The spectral exponents the draws are centred on.
    deviations : dict
        ``deviation`` only: centres of the deviation parameters, added to (or replacing)
        :data:`DEFAULT_DEVIATIONS`.
    sd : float
        Posterior standard deviation of the spectral and deviation parameters (prior:
        ``prior_sd``).
    prior_sd : float
        Prior standard deviation of the spectral parameters.
    ridge : tuple of str or None
        Two of ``a``, ``b``, ``m``, ``rho`` drawn with correlation 0.97.
    bias : float
        Shift of the observations (log scale) away from what the model predicts.
    narrow : float
        Factor on the model's noise (and its predictive): < 1 is over-confident.
    divergences : int
        Number of draws marked divergent.
    split_chains : bool
        Centre each chain's draws of ``a`` (and what derives from it) at a different value.
    """

    kinds: tuple[str, ...] = ("loss", "quantization", "pruning", "density", "spectrum")
    chains: int = 4
    draws: int = 100
    model: str = "gsf"
    world: World = field(default_factory=World)
    deviations: dict[str, float] = field(default_factory=dict)
    # the spread and shape of the posterior and of the prior draws
    sd: float = 0.01
    prior_sd: float = 0.5
    ridge: tuple[str, str] | None = None
    # negative controls: what is broken on purpose
    bias: float = 0.0
    narrow: float = 1.0
    divergences: int = 0
    split_chains: bool = False

    def deviation_centres(self) -> dict[str, float]:
        """The deviation parameters of the fake and their centres (empty for ``gsf``)."""
        if self.model != "deviation":
            return {}
        centres = {**DEFAULT_DEVIATIONS, **self.deviations}
        # in the tool's order
        return {n: centres[n] for n in ("delta_Q", "eps_F", "delta_L") if n in centres}


def deviation_ratio(b, delta_L, delta_Q, eps_F):
    """``delta/rho = (1 + (delta_L + delta_Q)/b) exp(-eps_F) - 1`` (NumPy)."""
    return (1.0 + (delta_L + delta_Q) / b) * np.exp(-eps_F) - 1.0


# ------------------------------------------------------------------------------ records


def _records(kind: str, world: World, deviations: dict[str, float]) -> dict[str, Any]:
    """Covariates (data's units), design matrix on the likelihood scale, true mean.

    The slopes follow the world's exponents as the deviation parameters change them:
    ``chi_L`` for loss, ``gamma_Q`` for quantization, ``rho_F/b`` for density.
    """
    t_ref, p_ref = SCALES["t_ref"], SCALES["params_ref"]
    d_l, d_q = deviations.get("delta_L", 0.0), deviations.get("delta_Q", 0.0)
    rate = world.rho_over_b * np.exp(deviations.get("eps_F", 0.0))
    if kind == "loss":
        params = np.repeat([1e6, 1e7], 15)
        t = np.tile(np.logspace(1, 5, 15), 2)
        run = np.where(params == 1e6, "P1e+06", "P1e+07")
        # a loss curve that bends towards a floor: quadratic in log t, one intercept per run
        log_t = np.log(t / t_ref)
        X = np.column_stack([run == "P1e+06", run == "P1e+07", log_t, log_t**2]).astype(float)
        chi = (world.a + d_l - 1.0) * world.rho_over_b
        mean = X @ np.array([np.log(2.5), np.log(1.2), -chi, 0.02])
        cov = {"t": t, "params": params}
    elif kind == "quantization":
        t = np.tile(np.logspace(1, 4, 8), 3)
        bits = np.repeat([3.0, 4.0, 6.0], 8)
        params = np.full(t.size, 1e8)
        run = np.full(t.size, "P1e+08")
        gamma = max(1.0 + world.b - world.a + d_q, 0.0) * world.rho_over_b
        mean = np.log(0.1) + gamma * np.log(t / t_ref) - (bits - 4.5) * np.log(4.0)
        X = np.column_stack([np.ones(t.size), np.log(t / t_ref), bits - 4.5])
        cov = {"t": t, "params": params, "bits": bits}
    elif kind == "pruning":
        sparsity = np.tile(1.0 - np.logspace(-2, np.log10(0.95), 10), 2)
        t = np.repeat([100.0, 1000.0], 10)
        params = np.full(t.size, 1e7)
        run = np.full(t.size, "P1e+07")
        slope = 1.0 + world.b - world.a
        mean = np.log(0.05) - slope * np.log(1.0 - sparsity) + 0.3 * np.log(t / t_ref)
        X = np.column_stack([np.ones(t.size), np.log(1.0 - sparsity), np.log(t / t_ref)])
        cov = {"t": t, "params": params, "sparsity": sparsity}
    elif kind == "density":
        compute = np.tile(np.logspace(7, 10, 10), 2)
        params = np.repeat([1e6, 1e7], 10)
        run = np.where(params == 1e6, "P1e+06", "P1e+07")
        mean = np.log(1e-3) + rate * np.log(compute / 1e9) - (1 + rate) * np.log(params / p_ref)
        X = np.column_stack([np.ones(compute.size), np.log(compute / 1e9), np.log(params / p_ref)])
        cov = {"compute": compute, "params": params}
    elif kind == "spectrum":
        k = np.arange(1.0, 21.0)
        run = np.full(k.size, "spectrum")
        mean = -world.b * np.log(k)
        X = np.column_stack([np.ones(k.size), np.log(k)])
        cov = {"k": k}
    elif kind == "modes":
        k = np.repeat([1.0, 5.0, 20.0], 8)
        t = np.tile(np.logspace(1, 4, 8), 3)
        run = np.full(k.size, "P1e+07")
        mean = 0.5 + 0.8 * np.log(t / t_ref) - world.b * world.m * np.log(k) + 2.0
        X = np.column_stack([np.ones(k.size), np.log(t / t_ref), np.log(k)])
        cov = {"t": t, "k": k, "params": np.full(k.size, 1e7)}
    elif kind == "data_scaling":
        samples = np.logspace(2, 6, 15)
        run = np.full(samples.size, "ds")
        mean = np.log(0.3) - 0.4 * np.log(samples / 1e4)
        X = np.column_stack([np.ones(samples.size), np.log(samples / 1e4)])
        cov = {"samples": samples}
    else:
        raise ValueError(kind)
    return {"cov": cov, "run": np.asarray(run, dtype=str), "X": X, "mean": mean}


def _natural(kind: str, z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z)) if kind == "modes" else np.exp(z)


def _exact_fit(
    X: np.ndarray, z_fit: np.ndarray, z_obs: np.ndarray, spec: FakeSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior predictive and pointwise log-likelihood of ``z_obs`` (likelihood scale).

    The exact flat-prior posterior of ``z_fit = X beta + Normal(0, sigma)``; the model's noise
    is ``sigma = SIGMA * narrow``. ``z_obs`` differs from ``z_fit`` in a negative control only.
    """
    sigma = SIGMA * spec.narrow
    xtx_inv = np.linalg.inv(X.T @ X)
    beta_hat = xtx_inv @ X.T @ z_fit
    chol = np.linalg.cholesky(sigma**2 * xtx_inv)
    S = spec.chains * spec.draws
    beta = beta_hat + rng.standard_normal((S, X.shape[1])) @ chol.T
    mu = beta @ X.T
    pred = mu + sigma * rng.standard_normal(mu.shape)
    loglik = -0.5 * ((z_obs - mu) / sigma) ** 2 - np.log(sigma * np.sqrt(2 * np.pi))
    shape = (spec.chains, spec.draws, X.shape[0])
    return pred.reshape(shape), loglik.reshape(shape)


# --------------------------------------------------------------------------- posterior


def _world_draws(world: World, spec: FakeSpec, rng: np.random.Generator, sd: float) -> dict:
    """Draws (chain, draw) of a, b, m, rho (n = rho m) and what derives from them."""
    shape = (spec.chains, spec.draws)
    z = {name: rng.standard_normal(shape) for name in ("a", "b", "m", "rho")}
    if spec.ridge is not None:
        first, second = spec.ridge
        z[second] = 0.97 * z[first] + np.sqrt(1 - 0.97**2) * z[second]
    out = {
        "a": world.a + sd * z["a"],
        "b": world.b + sd * z["b"],
        "m": world.m * np.exp(sd * z["m"]),
        "rho": world.rho * np.exp(sd * z["rho"]),
    }
    if spec.split_chains:
        out["a"] = out["a"] + 10 * sd * np.arange(spec.chains)[:, None]
    out["n"] = out["rho"] * out["m"]
    out["rho_over_b"] = out["rho"] / out["b"]
    out["chi"] = (out["a"] - 1.0) * out["rho_over_b"]
    slope = 1.0 + out["b"] - out["a"]
    out["gamma"] = np.where(slope > 0, slope * out["rho_over_b"], 0.0)
    out["k_star"] = 300.0 * np.exp(sd * rng.standard_normal(shape))
    out["K"] = 2e4 * np.exp(sd * rng.standard_normal(shape))
    out["E"] = 0.5 + 0.01 * sd * rng.standard_normal(shape)
    return out


def _deviation_draws(
    post: dict[str, np.ndarray], centres: dict[str, float], sd: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Draws of the deviation parameters around ``centres`` and what derives from them."""
    shape = post["b"].shape
    out = {name: centre + sd * rng.standard_normal(shape) for name, centre in centres.items()}
    zero = np.zeros(shape)
    # the model's latent coordinates: one standard normal per deviation parameter
    out["deviation_z"] = np.stack([out[n] / DEVIATION_PRIOR_SD for n in centres], axis=-1)
    eps = out.get("eps_F", zero)
    out["delta_over_rho"] = deviation_ratio(
        post["b"], out.get("delta_L", zero), out.get("delta_Q", zero), eps
    )
    out["delta"] = out["delta_over_rho"] * post["rho"] * np.exp(eps)
    return out


def _posterior(spec: FakeSpec, rng: np.random.Generator, sd: float, prior: bool) -> dict:
    shape = (spec.chains, spec.draws)
    post = _world_draws(spec.world, spec, rng, sd)
    centres = spec.deviation_centres()
    if centres:
        if prior:  # the deviation parameters' prior: Normal(0, DEVIATION_PRIOR_SD)
            zero = dict.fromkeys(centres, 0.0)
            post.update(_deviation_draws(post, zero, DEVIATION_PRIOR_SD, rng))
        else:
            post.update(_deviation_draws(post, centres, sd, rng))
    for kind in spec.kinds:
        post[f"sigma_{kind}"] = SIGMA * spec.narrow * np.exp(0.05 * rng.standard_normal(shape))
    post["loss_scale"] = 2.0 * np.exp(0.01 * rng.standard_normal(shape))
    return post


# ---------------------------------------------------------------------------- builder


def fake_fit(rng: np.random.Generator, spec: FakeSpec | None = None, **changes: Any) -> xr.DataTree:
    """A DataTree with the layout of a fit (see the module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator
        All randomness (records' noise, posterior, predictive).
    spec : FakeSpec, optional
        What to build; ``changes`` override its fields.
    """
    spec = replace(spec or FakeSpec(), **changes)
    if spec.model not in ("gsf", "deviation"):
        raise ValueError(f"a fake fit is gsf or deviation, not {spec.model!r}")
    centres = spec.deviation_centres()
    loglik: dict[str, np.ndarray] = {}
    predictive: dict[str, np.ndarray] = {}
    prior_predictive: dict[str, np.ndarray] = {}
    tables = []
    for kind in spec.kinds:
        rec = _records(kind, spec.world, centres)
        n = rec["X"].shape[0]
        z_fit = rec["mean"] + SIGMA * rng.standard_normal(n)
        z_obs = z_fit + spec.bias
        pred, ll = _exact_fit(rec["X"], z_fit, z_obs, spec, rng)
        predictive[kind], loglik[kind] = pred, ll
        prior_predictive[kind] = rec["mean"] + 1.0 * rng.standard_normal((1, 2 * spec.draws, n))
        table = pd.DataFrame({"kind": kind, "run": rec["run"], "group": "all", **rec["cov"]})
        table[KIND_FORMATS[kind].observed] = _natural(kind, z_obs)
        if kind == "spectrum":
            target_mean = -(spec.world.a + centres.get("delta_L", 0.0)) * np.log(rec["cov"]["k"])
            z_t = target_mean + SIGMA * rng.standard_normal(n) + spec.bias
            pred_t, ll_t = _exact_fit(rec["X"], z_t - spec.bias, z_t, spec, rng)
            table["target_power"] = np.exp(z_t)
            predictive["spectrum_target"], loglik["spectrum_target"] = pred_t, ll_t
            prior_predictive["spectrum_target"] = target_mean + rng.standard_normal(
                (1, 2 * spec.draws, n)
            )
        tables.append(table)
    records = records_from_frame(pd.concat(tables, ignore_index=True), path="fake.csv")
    data = build_model_data(records, scales=Scales(**SCALES))
    for kind in spec.kinds:  # the tool keeps each kind's records in the table's order
        assert data.kinds[kind].size == predictive[kind].shape[-1]

    posterior = _posterior(spec, rng, spec.sd, prior=False)
    prior_spec = replace(spec, chains=1, draws=2 * spec.draws, ridge=None, split_chains=False)
    prior = _posterior(prior_spec, rng, spec.prior_sd, prior=True)
    diverging = np.zeros((spec.chains, spec.draws), dtype=bool)
    if spec.divergences:
        flat = rng.choice(diverging.size, size=spec.divergences, replace=False)
        diverging.ravel()[flat] = True
    shape = (spec.chains, spec.draws)
    sample_stats = {
        "diverging": diverging,
        "energy": rng.standard_normal(shape),
        "n_steps": np.full(shape, 15, dtype=np.int64),
        "acceptance_rate": rng.uniform(0.8, 1.0, shape),
        "step_size": np.full(shape, 0.1),
        "lp": rng.standard_normal(shape),
    }
    attrs = {
        "gsf_infer_version": "0.1.0",
        "command": "gsf-infer fit fake.csv",
        "input_path": "fake.csv",
        "input_sha256": "0" * 64,
        "seed": 0,
        "ci_prob": 0.94,
        "model_settings": {
            "model": spec.model,
            "g": "monomial",
            "tier": "continuum",
            "likelihood": "lognormal",
            "pruning_metric": "seed",
            "student_df": 4.0,
        },
        "sampler": {"chains": spec.chains, "warmup": spec.draws, "draws": spec.draws, "seed": 0},
        "scales": data.scales.as_attrs(),
        "priors": {},
        "fixed_parameters": {"nu": 1.0},
        "runs": list(data.runs),
        "groups": list(data.groups),
        "quant_units": list(data.quant_units),
        "kinds": list(data.kinds),
        "records": {k: v.size for k, v in data.kinds.items()},
        "seconds": {"sampling": 1.0},
        "provenance": {},
        "deviations": list(centres),
    }
    if centres:
        attrs["deviation_scale"] = DEVIATION_PRIOR_SD
    return build_datatree(
        data, posterior, sample_stats, loglik, predictive, prior, prior_predictive, attrs
    )


# ------------------------------------------------------------------------------ folders


def fake_summary(
    dt: xr.DataTree, deviation_dt: xr.DataTree | None = None, rope: float = 0.1
) -> tuple[dict, dict, dict]:
    """summary.json of a fake fit, its diagnostics and invariant, by the tool's own functions.

    The invariant is the verdict of the deviation posterior (``dt``'s own for a ``deviation``
    fake, else ``deviation_dt``'s), untested without one.
    """
    attrs = read_attrs(dt)
    model = attrs["model_settings"]["model"]
    diag = diagnostics(dt)
    source = dt if model == "deviation" else deviation_dt
    settings = InvariantSettings(rope=rope)
    if source is not None:
        problems = convergence_problems(diagnostics(source))
        draws = flat_draws(source["posterior"], VERDICT_VARIABLES)
        invariant = invariant_verdict(draws, settings, problems)
    else:
        invariant = untestable(["quantization"], settings)
    summary = {
        "version": "0.1.0",
        "data": {"path": "fake.csv", "sha256": "0" * 64, "records": attrs["records"]},
        "model": {k: attrs["model_settings"][k] for k in ("g", "tier", "likelihood")}
        | {"name": model},
        "sampler": {"chains": 4, "warmup": 100, "draws": 100, "seed": 0, "seconds": 1.0},
        "parameters": parameter_table(dt, model, 0.94),
        "diagnostics": {
            k: diag[k] for k in ("divergences", "max_r_hat", "min_ess_bulk", "converged")
        },
        "invariant": {
            k: invariant[k]
            for k in ("status", "delta", "p_in_rope", "rope", "missing", "trusted",
                      "why_untrusted", "delta_over_rho", "deviations")
            if k in invariant
        },
    }
    return summary, diag, invariant


def write_fake_folder(
    folder: Path,
    dt: xr.DataTree,
    deviation_dt: xr.DataTree | None = None,
    full_checks: bool = False,
) -> Path:
    """A fit folder (posterior.nc, posterior_deviation.nc, summary.json, checks.json) of fakes.

    ``checks.json`` is the minimal one :func:`gsf_infer.output.artifacts.write_fit` writes unless
    ``full_checks`` (then :func:`gsf_infer.analysis.checks.build_checks`'s).
    """
    summary, diag, invariant = fake_summary(dt, deviation_dt)
    folder.mkdir(parents=True, exist_ok=True)
    artifacts.write_datatree(dt, folder / "posterior.nc")
    if deviation_dt is not None:
        artifacts.write_datatree(deviation_dt, folder / "posterior_deviation.nc")
    artifacts.write_json(summary, folder / "summary.json")
    if full_checks:
        checks = build_checks(
            dt,
            invariant=invariant,
            diagnostics=diag,
            parameters=summary["parameters"],
            deviation_dt=deviation_dt,
        )
    else:
        checks = {"invariant": invariant, "diagnostics": diag, "warnings": []}
    artifacts.write_json(checks, folder / "checks.json")
    return folder


# ------------------------------------------------------------------------- other models


def design(kind: str) -> np.ndarray:
    """The design matrix of a kind's fake records (it does not depend on the world)."""
    return _records(kind, World(), {})["X"]


def _z(kind: str, y: np.ndarray) -> np.ndarray:
    return np.log(y / (1.0 - y)) if kind == "modes" else np.log(y)


def refit_poorer(dt: xr.DataTree, rng: np.random.Generator) -> xr.DataTree:
    """The same records fitted by a poorer model: the last covariate of each design dropped.

    Its noise is the residual RMS of its own least-squares fit (so it is a sane model that
    predicts worse, not a broken one). Observed data, constant data and posterior are kept;
    the posterior predictive and the log-likelihood are those of its exact posterior.
    """
    chains, draws = dt["posterior"].sizes["chain"], dt["posterior"].sizes["draw"]
    pp, ll = {}, {}
    for var in dt["observed_data"].data_vars:
        kind = "spectrum" if var == "spectrum_target" else var
        X = design(kind)[:, :-1]
        z = _z(kind, np.asarray(dt["observed_data"][var].values, dtype=float))
        sigma = poorer_sigma(dt, var)
        spec = FakeSpec(chains=chains, draws=draws, narrow=sigma / SIGMA)
        pred, loglik = _exact_fit(X, z, z, spec, rng)
        pp[var] = _natural(kind, pred)
        if var == "spectrum_target":
            ll["spectrum"] = ll["spectrum"] + loglik
        else:
            ll[var] = loglik
    out = dt.copy()
    out["posterior_predictive"] = xr.DataTree(
        xr.Dataset(
            {v: (dt["posterior_predictive"][v].dims, pp[v]) for v in pp},
            coords=dt["posterior_predictive"].coords,
        )
    )
    out["log_likelihood"] = xr.DataTree(
        xr.Dataset(
            {v: (dt["log_likelihood"][v].dims, ll[v]) for v in ll},
            coords=dt["log_likelihood"].coords,
        )
    )
    return out


def poorer_sigma(dt: xr.DataTree, var: str) -> float:
    """Noise of :func:`refit_poorer`'s model: residual RMS of its least-squares fit."""
    kind = "spectrum" if var == "spectrum_target" else var
    X = design(kind)[:, :-1]
    z = _z(kind, np.asarray(dt["observed_data"][var].values, dtype=float))
    resid = z - X @ np.linalg.lstsq(X, z, rcond=None)[0]
    return float(np.sqrt(np.mean(resid**2)))


def exact_elpd_loo(dt: xr.DataTree, kind: str, poorer: bool = False) -> float:
    """Exact leave-one-out ELPD of a fake's kind (the flat-prior linear model).

    ``z_i | z_-i ~ Normal(x_i beta_-i, sigma^2 (1 + x_i (X_-i' X_-i)^-1 x_i'))`` with the
    known noise ``sigma``: the reference PSIS-LOO must reproduce. ``poorer``: the model of
    :func:`refit_poorer` (last covariate dropped, its own noise).
    """
    X = design(kind)[:, :-1] if poorer else design(kind)
    sigma = poorer_sigma(dt, kind) if poorer else SIGMA
    z = _z(kind, np.asarray(dt["observed_data"][kind].values, dtype=float))
    total = 0.0
    for i in range(X.shape[0]):
        keep = np.arange(X.shape[0]) != i
        Xi, zi = X[keep], z[keep]
        inv = np.linalg.inv(Xi.T @ Xi)
        mean = X[i] @ inv @ Xi.T @ zi
        var = sigma**2 * (1.0 + X[i] @ inv @ X[i])
        total += -0.5 * (z[i] - mean) ** 2 / var - 0.5 * np.log(2 * np.pi * var)
    return float(total)
