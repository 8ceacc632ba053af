"""Assembling the ArviZ DataTree of a fit and reading its conventions back.

Groups: ``posterior`` (latent and derived sites), ``posterior_predictive`` and ``observed_data``
(one variable per kind, in the data's natural units — ``spectrum_target`` holds target powers),
``log_likelihood`` (one variable per kind, the likelihood on the log/logit scale; a spectrum
record's target power is added to its eigenvalue's term), ``sample_stats``, ``constant_data``
(each kind's covariates in the data's units, its run, group and input line), ``prior`` and
``prior_predictive``. Root attributes carry the provenance (tool version, command line, input
sha256, seed, model and sampler settings, standardization scales, priors) as strings and
numbers; nested values are JSON.

Imports NumPy, xarray and ArviZ (numpyro first: importing ArviZ before numpyro breaks
``arviz.from_numpyro`` through a lazy-loader interplay).
"""

from __future__ import annotations

import json
from typing import Any

import arviz as az  # noqa: E402
import numpy as np
import numpyro  # noqa: F401  (import before arviz: lazy-loader interplay)
import xarray as xr  # noqa: E402

from gsf_infer.data.dataset import ModelData  # noqa: E402
from gsf_infer.data.schema import KIND_FORMATS  # noqa: E402

#: Per kind, the constant-data columns written (in the data's own units).
CONSTANT_COLUMNS = ("t", "params", "compute", "bits", "sparsity", "k", "samples", "stderr")


def obs_dim(kind: str) -> str:
    """Name of the record dimension of a kind."""
    return f"{kind}_obs"


def natural_scale(kind: str, values: np.ndarray) -> np.ndarray:
    """From the likelihood's scale (log, logit for ``modes``) back to the data's units."""
    if kind == "modes":
        return 1.0 / (1.0 + np.exp(-values))
    return np.exp(values)


#: Sites with one value per run, per quantization amplitude unit, per deviation parameter.
RUN_SITES = frozenset({"E_ds", "E_ds_frac", "B_ds", "ds_level"})
UNIT_SITES = frozenset({"quant_scale"})
DEVIATION_SITES = frozenset({"deviation_z"})
#: Curves on the ``elastic`` family's grid in ``tau = log(t/t_ref)``, and its HSGP weights.
CURVE_SITES = frozenset({"rho_t", "chi_t", "gamma_t"})
BASIS_SITES = frozenset({"elastic_z"})


def _dims_for(name: str, value: np.ndarray, data: ModelData) -> list[str]:
    """Dimension names of a site's draws beyond ``(chain, draw)``, from what the site is.

    Every site of the spectral models is a scalar or has one value per group, run,
    quantization unit or deviation parameter; the name says which (sizes alone would confuse
    them when two counts are equal).
    """
    extra = value.shape[2:]
    if not extra:
        return []
    if name in CURVE_SITES:
        return ["group", "tau"] if len(extra) == 2 else ["tau"]
    if name in BASIS_SITES:
        return ["basis"]
    if name in RUN_SITES:
        dim = "run"
    elif name in UNIT_SITES:
        dim = "quant_unit"
    elif name in DEVIATION_SITES:
        dim = "deviation"
    else:
        dim = "group"
    expected = {"run": len(data.runs), "quant_unit": len(data.quant_units),
                "group": data.n_groups}.get(dim)
    if len(extra) != 1 or (expected is not None and extra[0] != expected):
        return [f"{name}_dim_{i}" for i in range(len(extra))]
    return [dim]


def build_datatree(
    data: ModelData,
    posterior: dict[str, np.ndarray],
    sample_stats: dict[str, np.ndarray],
    log_likelihood: dict[str, np.ndarray],
    predictive: dict[str, np.ndarray],
    prior: dict[str, np.ndarray],
    prior_predictive: dict[str, np.ndarray],
    attrs: dict[str, Any],
) -> xr.DataTree:
    """Assemble the DataTree of a fit.

    Parameters
    ----------
    data : ModelData
        The standardized data the model saw (covariates, observations, names).
    posterior, prior : dict
        Sites ``(chain, draw, ...)``.
    sample_stats : dict
        Sampler statistics ``(chain, draw)`` under ArviZ names.
    log_likelihood, predictive, prior_predictive : dict
        Observed sites on the likelihood's scale, ``(chain, draw, n)``.
    attrs : dict
        Root attributes (provenance); non-scalar values are stored as JSON.

    Returns
    -------
    xarray.DataTree
    """
    dims: dict[str, list[str]] = {}
    coords: dict[str, Any] = {"group": list(data.groups), "run": list(data.runs)}
    if data.quant_units:
        coords["quant_unit"] = list(data.quant_units)
    deviations = attrs.get("deviations") or []
    if deviations:
        coords["deviation"] = list(deviations)
    for name, value in posterior.items():
        dims[name] = _dims_for(name, value, data)
    if CURVE_SITES & set(posterior):
        # deferred: the grid's module imports JAX, which reading a DataTree does not need
        from gsf_infer.model.elastic import elastic_grid

        coords["tau"] = elastic_grid(data)

    observed: dict[str, np.ndarray] = {}
    constant: dict[str, np.ndarray] = {}
    loglik: dict[str, np.ndarray] = {}
    post_pred: dict[str, np.ndarray] = {}
    prior_pred: dict[str, np.ndarray] = {}
    for kind, kd in data.kinds.items():
        dim = obs_dim(kind)
        coords[dim] = np.arange(kd.size)
        observed[kind] = kd.y
        dims[kind] = [dim]
        if kind in log_likelihood:
            loglik[kind] = _kind_loglik(kind, kd, log_likelihood)
        if kind in predictive:
            post_pred[kind] = natural_scale(kind, np.asarray(predictive[kind]))
        if kind in prior_predictive:
            prior_pred[kind] = natural_scale(kind, np.asarray(prior_predictive[kind]))
        for name, values in _constant_columns(kind, kd, data).items():
            constant[name] = values
            dims[name] = [dim]
    if "spectrum" in data.kinds:
        target = data.kinds["spectrum"].x["target"]
        rows = np.flatnonzero(np.isfinite(target))
        if rows.size:
            dim = "spectrum_target_obs"
            coords[dim] = rows
            observed["spectrum_target"] = target[rows]
            dims["spectrum_target"] = [dim]
            for source, dest in ((predictive, post_pred), (prior_predictive, prior_pred)):
                if "spectrum_target" in source:
                    dest["spectrum_target"] = np.exp(np.asarray(source["spectrum_target"]))

    groups: dict[str, dict[str, np.ndarray]] = {
        "posterior": posterior,
        "posterior_predictive": post_pred,
        "log_likelihood": loglik,
        "sample_stats": sample_stats,
        "observed_data": observed,
        "constant_data": constant,
        "prior": prior,
        "prior_predictive": prior_pred,
    }
    groups = {k: v for k, v in groups.items() if v}
    root_attrs = {k: _attr(v) for k, v in attrs.items()}
    return az.from_dict(groups, dims=dims, coords=coords, attrs={"/": root_attrs})


def _kind_loglik(kind: str, kd, log_likelihood: dict[str, np.ndarray]) -> np.ndarray:
    """Return a kind's pointwise log-likelihood; a spectrum record's includes its target power's."""
    ll = np.asarray(log_likelihood[kind], dtype=float)
    if kind == "spectrum" and "spectrum_target" in log_likelihood:
        rows = np.flatnonzero(np.isfinite(kd.x["target"]))
        ll = ll.copy()
        ll[..., rows] += np.asarray(log_likelihood["spectrum_target"])
    return ll


def _constant_columns(kind: str, kd, data: ModelData) -> dict[str, np.ndarray]:
    """Return a kind's covariates in the data's own units, with each record's run, group, line."""
    out = {}
    for col in CONSTANT_COLUMNS:
        values = _original_units(kind, col, kd, data.scales, data)
        if values is not None:
            out[f"{kind}_{col}"] = values
    out[f"{kind}_run"] = np.asarray(data.runs, dtype=object)[kd.run].astype(str)
    out[f"{kind}_group"] = np.asarray(data.groups, dtype=object)[kd.group].astype(str)
    out[f"{kind}_line"] = kd.line.astype(np.int64)
    return out


def _original_units(kind: str, col: str, kd, scales, data: ModelData) -> np.ndarray | None:
    x = kd.x
    if col == "stderr":
        return kd.stderr
    if col == "t" and kind in ("loss", "quantization", "pruning", "modes"):
        return x["t"] * scales.t_ref
    if col == "params" and "params" in x:
        return np.where(x["has_params"] > 0, x["params"] * scales.params_ref, np.nan)
    if col == "compute" and kind == "density":
        return x["t"] * scales.t_ref * x["params"] * scales.params_ref
    if col == "bits" and kind == "quantization":
        return np.where(x["has_bits"] > 0, x["bits"] + scales.bits_ref, np.nan)
    if col == "sparsity" and kind == "pruning":
        return x["sparsity"]
    if col == "k" and kind in ("spectrum", "modes"):
        return x["k"]
    if col == "samples" and kind == "data_scaling":
        return data.kinds[kind].x["samples_raw"] if "samples_raw" in x else None
    return None


def _attr(value: Any) -> Any:
    if isinstance(value, str | int | float | np.integer | np.floating):
        return value
    if isinstance(value, bool | np.bool_):
        return int(value)
    return json.dumps(value, default=str)


def read_attrs(dt: xr.DataTree) -> dict[str, Any]:
    """Root attributes with JSON strings decoded."""
    out: dict[str, Any] = {}
    for key, value in dt.attrs.items():
        if isinstance(value, str) and value[:1] in "[{":
            try:
                out[key] = json.loads(value)
                continue
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def observed_kinds(dt: xr.DataTree) -> list[str]:
    """Kinds with observations in a DataTree, in schema order."""
    if "observed_data" not in dt.children:
        return []
    present = set(dt["observed_data"].data_vars)
    return [k for k in KIND_FORMATS if k in present]
