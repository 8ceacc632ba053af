"""Posterior prediction for new records (``gsf-infer predict``, ``--holdout`` coverage).

New records are standardized with the fitted model's reference scales and names
(:mod:`gsf_infer.data.dataset`), their expected values are computed under every posterior draw with
the same functions the model uses (:func:`gsf_infer.model.expected.expected`), and observation noise
is added (the fitted noise scale of the kind, combined with the rows' own ``stderr``), so the
intervals are *predictive* intervals of a new measurement. Imports JAX, numpyro, ArviZ.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro  # noqa: F401  (before arviz)
import pandas as pd
import xarray as xr  # noqa: E402
from arviz_stats.base import array_stats  # noqa: E402
from scipy import special, stats

from gsf_infer.data.dataset import ModelData, Scales, build_model_data, kind_inputs  # noqa: E402
from gsf_infer.data.records import Records  # noqa: E402
from gsf_infer.data.schema import KIND_FORMATS  # noqa: E402
from gsf_infer.inference.datatree import natural_scale, read_attrs  # noqa: E402
from gsf_infer.model.deviations import with_deviations
from gsf_infer.model.expected import (
    chinchilla_expected,
    expected,
    modes_sensitivity,
    observation,
    realisation_factor,
)
from gsf_infer.model.padding import pad_to, padded_width
from gsf_infer.model.realisation import KINDS as REALISATION_KINDS
from gsf_infer.model.realisation import omitted_variance
from gsf_infer.model.settings import ModelSettings

#: Columns written by :func:`predict_records` after the records' own columns.
PREDICTION_COLUMNS = ("mean", "median", "hdi_low", "hdi_high", "covered")


def settings_from_attrs(attrs: dict[str, Any]) -> ModelSettings:
    """Read the :class:`ModelSettings` recorded in a fit's attributes."""
    model = attrs["model_settings"]
    return ModelSettings(
        model=model["model"],
        g=model["g"],
        tier=model["tier"],
        likelihood=model["likelihood"],
        pruning_metric=model["pruning_metric"],
        student_df=float(model.get("student_df", 4.0)),
        discrepancy=model.get("discrepancy", "none"),
    )


def _draws(var: xr.DataArray) -> np.ndarray:
    values = np.asarray(var.values, dtype=float)
    return values.reshape((-1,) + values.shape[2:])


def posterior_parameters(
    dt: xr.DataTree, kind: str, attrs: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Posterior draws ``(S, ...)`` of every parameter a kind's expected value reads.

    Parameters fixed by their prior (e.g. ``nu``) come from the fit's attributes.
    """
    post = dt["posterior"]
    out: dict[str, np.ndarray] = {}
    for name, var in post.data_vars.items():
        if name == "deviation_z":
            continue
        out[name] = _draws(var)
    n_draws = next(iter(out.values())).shape[0]
    for name, value in attrs.get("fixed_parameters", {}).items():
        out.setdefault(name, np.full(n_draws, float(value)))
    sigma = f"sigma_{kind}"
    if sigma in out:
        out["sigma"] = out[sigma]
    if "rho_t" in out and out["rho_t"].ndim == 2 and {"m", "n"} <= set(out):
        # the elastic family's drift on its grid, as the model builds g from it:
        # rho(tau_j) = (n/m) exp(f_j) on the nodes tau_j of the fit's grid
        out["tgrid"] = np.broadcast_to(np.asarray(post["tau"].values, float),
                                       out["rho_t"].shape).copy()
        out["elastic_f"] = np.log(out["rho_t"] * (out["m"] / out["n"])[:, None])
    return out


def expected_draws(
    dt: xr.DataTree, data: ModelData, attrs: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """Compute expected values (likelihood scale) of every record of ``data``, per posterior draw.

    Returns
    -------
    dict
        ``{kind: (S, n)}`` arrays of log expected values (logit for ``modes``).
    """
    attrs = attrs or read_attrs(dt)
    settings = settings_from_attrs(attrs)
    inputs = kind_inputs(data)
    out: dict[str, np.ndarray] = {}
    for kind, x in inputs.items():
        P = posterior_parameters(dt, kind, attrs)
        # padded to a few widths (repeating the last record), so that data sets of other
        # sizes reuse the compiled program; the padding is cut off below
        n = data.kinds[kind].size
        xj = {k: jnp.asarray(pad_to(v, padded_width(n))) for k, v in x.items()}
        params = {k: jnp.asarray(v) for k, v in P.items()}
        if settings.model == "chinchilla":
            if kind != "loss":
                continue
            out[kind] = np.asarray(_chinchilla_draws(params, xj))[:, :n]
        else:
            out[kind] = np.asarray(
                _expected_draws(params, xj, kind, settings, data.n_groups))[:, :n]
    return out


@jax.jit
def _chinchilla_draws(params: dict[str, Any], x: dict[str, Any]) -> jax.Array:
    """Log expected loss of the chinchilla law under every draw (compiled once per shape)."""
    return jax.vmap(lambda p: chinchilla_expected(p, x))(params)


@partial(jax.jit, static_argnames=("kind", "settings", "n_groups"))
def _expected_draws(
    params: dict[str, Any], x: dict[str, Any], kind: str, settings: ModelSettings, n_groups: int
) -> jax.Array:
    """Log expected values of one kind's records under every draw (compiled once per shape)."""

    def one(p):
        p, xx = with_deviations(kind, p, x)
        return expected(kind, p, xx, settings, n_groups)[kind]

    return jax.vmap(one)(params)


def predictive_draws(
    dt: xr.DataTree, data: ModelData, rng: np.random.Generator, attrs: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """Draws of a new measurement of each record (data's units), noise included.

    With the per-run discrepancy (:mod:`gsf_infer.model.discrepancy`) a new record's
    discrepancy is drawn from its prior marginal, ``N(0, s_c^2)`` with ``s_c`` the posterior
    draw of ``discrepancy_sd_<kind>``; with the realisation effect
    (:mod:`gsf_infer.model.realisation`) from its marginal variance under the draw. Both are
    exact for a run the fit has not seen (scale extrapolation) and conservative for a fitted
    run, whose realisation its records have partly revealed.
    """
    attrs = attrs or read_attrs(dt)
    settings = settings_from_attrs(attrs)
    mus = expected_draws(dt, data, attrs)
    out: dict[str, np.ndarray] = {}
    for kind, mu in mus.items():
        scale = _noise_scale(dt, data, kind, attrs, settings)
        if settings.likelihood == "student":
            eps = rng.standard_t(settings.student_df, size=mu.shape)
        else:
            eps = rng.standard_normal(size=mu.shape)
        out[kind] = natural_scale(kind, mu + scale * eps)
    return out


def _noise_scale(
    dt: xr.DataTree, data: ModelData, kind: str, attrs: dict[str, Any], settings: ModelSettings
) -> np.ndarray:
    """Scale ``(S, n)`` of a new measurement around its expected value (likelihood scale).

    The kind's noise scale, the discrepancy's prior marginal (``predictive_draws``) and each
    record's own ``stderr``, in quadrature.
    """
    kd = data.kinds[kind]
    P = posterior_parameters(dt, kind, attrs)
    sigma = P[f"sigma_{kind}"]
    shared = np.zeros_like(sigma)[:, None]
    if settings.discrepancy == "gp":  # a fixed scale is one value for every kind
        shared = P.get(f"discrepancy_sd_{kind}", P.get("discrepancy_sd", shared[:, 0]))[:, None]
    if settings.discrepancy == "spectral" and kind in (*REALISATION_KINDS, "modes"):
        params = {k: jnp.asarray(v) for k, v in P.items()}
        x = {k: jnp.asarray(v) for k, v in kind_inputs(data)[kind].items()}
        shared = np.sqrt(np.asarray(
            _realisation_variance(params, x, kind, settings, data.n_groups)
        ))
    y_safe = np.where(np.isfinite(kd.y), kd.y, 0.5 if kind == "modes" else 1.0)
    _, meas = observation(kind, y_safe, np.where(np.isfinite(kd.y), kd.stderr, 0.0))
    return np.sqrt(sigma[:, None] ** 2 + shared**2 + meas[None, :] ** 2)


@partial(jax.jit, static_argnames=("kind", "settings", "n_groups"))
def _realisation_variance(
    params: dict[str, Any], x: dict[str, Any], kind: str, settings: ModelSettings, n_groups: int
) -> jax.Array:
    """Each record's variance from its run's realisation (``--discrepancy spectral``), per draw.

    The marginal of :mod:`gsf_infer.model.realisation`: ``|F_i|^2`` and the variance the
    first-order form leaves out for the kinds that sum target powers, ``(discrepancy_eigen
    d logit phi / d log lambda)^2`` and its omitted share for ``modes``; a new record's, as for
    a run the fit has not seen (for a fitted run it ignores what its records revealed).
    """

    def one(p):
        p, xx = with_deviations(kind, p, x)
        if kind == "modes":  # one column: the mode's shared eigenvalue
            factor = p["discrepancy_eigen"] * modes_sensitivity(p, xx, settings, n_groups)[:, None]
        else:
            log_mu = expected(kind, p, xx, settings, n_groups)[kind]
            factor = p["discrepancy_scale"] * realisation_factor(
                kind, p, xx, log_mu, settings, n_groups)
        return jnp.sum(factor**2, axis=-1) + omitted_variance(factor, kind != "modes")

    return jax.vmap(one)(params)


def log_density_draws(
    dt: xr.DataTree, records: Records, attrs: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """Log density ``log p(y_i | theta_s)`` of observed records under every posterior draw.

    ``p`` is the observation model of :func:`predictive_draws` on the likelihood's scale (log;
    logit for ``modes``), the scale of the fit's pointwise log-likelihood. A spectrum record
    contributes its eigenvalue's density (not its target power's).

    Returns
    -------
    dict
        Kind to ``(S, n)``, records in their order within the kind (those without an observed
        value dropped).
    """
    attrs = attrs or read_attrs(dt)
    settings = settings_from_attrs(attrs)
    data = records_data(records, attrs)
    out: dict[str, np.ndarray] = {}
    for kind, mu in expected_draws(dt, data, attrs).items():
        kd = data.kinds[kind]
        seen = np.isfinite(kd.y)
        value, _ = observation(kind, np.where(seen, kd.y, 1.0), kd.stderr)
        scale = _noise_scale(dt, data, kind, attrs, settings)
        if settings.likelihood == "student":
            logp = stats.t.logpdf(value[None, :], settings.student_df, mu, scale)
        else:
            logp = stats.norm.logpdf(value[None, :], mu, scale)
        if seen.any():
            out[kind] = logp[:, seen]
    return out


def log_predictive_density(
    dt: xr.DataTree, records: Records, attrs: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """Pointwise log predictive density of observed records the fit has not seen.

    ``lpd_i = log (1/S) sum_s p(y_i | theta_s)`` over the ``S`` posterior draws
    (:func:`log_density_draws`). Summed over records held out of the fit (e.g. the last part
    of each curve) it is the ELPD of leave-future-out validation (Bürkner, Gabry and Vehtari,
    "Approximate leave-future-out cross-validation for Bayesian time series models", 2020),
    which tests extrapolation where PSIS-LOO tests interpolation.

    Returns
    -------
    dict
        Kind to ``lpd`` per record, as :func:`log_density_draws` orders them.
    """
    return {kind: special.logsumexp(logp, axis=0) - np.log(logp.shape[0])
            for kind, logp in log_density_draws(dt, records, attrs).items()}


def records_data(records: Records, attrs: dict[str, Any]) -> ModelData:
    """Standardize new records with a fit's reference scales and names of runs and groups."""
    return build_model_data(
        records,
        scales=Scales(**attrs["scales"]),
        names={
            "runs": tuple(attrs["runs"]),
            "groups": tuple(attrs["groups"]),
            "quant_units": tuple(attrs.get("quant_units", [])),
        },
    )


def interval_table(draws: np.ndarray, observed: np.ndarray, ci_prob: float) -> pd.DataFrame:
    """Mean, median, HDI at ``ci_prob`` and coverage of ``observed`` (NaN = not observed)."""
    hdi = array_stats.hdi(draws, ci_prob, axis=0)
    covered = np.where(
        np.isfinite(observed),
        ((observed >= hdi[:, 0]) & (observed <= hdi[:, 1])).astype(float),
        np.nan,
    )
    return pd.DataFrame(
        {
            "mean": draws.mean(axis=0),
            "median": np.median(draws, axis=0),
            "hdi_low": hdi[:, 0],
            "hdi_high": hdi[:, 1],
            "covered": pd.array(
                [None if np.isnan(c) else bool(c) for c in covered], dtype="boolean"
            ),
        }
    )


def predict_records(
    dt: xr.DataTree, records: Records, ci_prob: float | None = None, seed: int = 0
) -> pd.DataFrame:
    """Predictive summaries for each record, in the records' order.

    Parameters
    ----------
    dt : xarray.DataTree
        A fit (``posterior.nc``).
    records : Records
        Records to predict (read with ``prediction=True``: observed values may be blank).
    ci_prob : float, optional
        Interval probability; the fit's ``--ci-prob`` by default.
    seed : int
        Seed of the observation-noise draws.

    Returns
    -------
    pandas.DataFrame
        The records' non-empty columns, then ``mean``, ``median``, ``hdi_low``, ``hdi_high``
        and ``covered`` (true/false where the record carries an observed value, else empty).
    """
    attrs = read_attrs(dt)
    ci_prob = float(ci_prob if ci_prob is not None else attrs.get("ci_prob", 0.94))
    data = records_data(records, attrs)
    draws = predictive_draws(dt, data, np.random.default_rng(seed), attrs)
    table = records.table.reset_index(drop=True)
    result = pd.DataFrame(index=table.index, columns=list(PREDICTION_COLUMNS), dtype=object)
    for kind, kd in data.kinds.items():
        if kind not in draws:
            continue
        rows = np.flatnonzero((table["kind"] == kind).to_numpy())
        part = interval_table(draws[kind], kd.y, ci_prob)
        for col in PREDICTION_COLUMNS:
            result.loc[rows, col] = part[col].to_numpy()
    keep = [c for c in table.columns if table[c].notna().any()]
    out = pd.concat([table[keep], result], axis=1)
    for col in ("mean", "median", "hdi_low", "hdi_high"):
        out[col] = pd.to_numeric(out[col])
    out["covered"] = out["covered"].astype("boolean")
    return out


def unsupported_kinds(records: Records, attrs: dict[str, Any]) -> list[str]:
    """Kinds in ``records`` the fitted model cannot predict (not fitted, or chinchilla)."""
    fitted = set(attrs.get("kinds", []))
    model = attrs["model_settings"]["model"]
    present = [k for k in KIND_FORMATS if k in set(records.table["kind"])]
    if model == "chinchilla":
        return [k for k in present if k != "loss"]
    return [k for k in present if k not in fitted]
