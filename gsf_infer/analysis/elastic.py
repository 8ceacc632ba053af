"""Which ``g``: the posterior of the elasticity curve ``rho(t)`` of an ``elastic`` fit, in words.

An ``elastic`` fit records ``rho(tau) = E_t / E_lambda`` on a grid in ``tau = log(t/t_ref)``
(:mod:`gsf_infer.model.elastic`). This module summarises it: the highest-density band of
``rho(t)`` at every node; the range the data identify; and one sentence — ``rho`` constant
within the band (some constant lies inside the band at every identified node) or drifting
(no constant does: where, and by how much).

A node is identified when it lies inside the time range of the records that see the learning
frontier (``loss``, ``quantization``, ``pruning``, ``modes`` at their ``t``, ``density`` at
``C/P``; outside it ``rho`` is extrapolated by the smoothness of the prior alone) and the band
of the drift ``log rho(t) - log rho(t_ref)`` is narrower than :data:`PRIOR_SHARE` of the
prior's band (where it is not, the data have not moved the drift away from its prior).

Pure computation on DataTrees (NumPy, ArviZ's array statistics); writes nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from arviz_stats.base import array_stats

from gsf_infer.inference.datatree import read_attrs

#: A node whose drift band is at least this share of the prior's is left to the prior.
PRIOR_SHARE = 0.5
#: Covariates giving a record's time, per kind (``density``: compute over parameters).
_TIME_COLUMNS = ("loss_t", "quantization_t", "pruning_t", "modes_t")


def records_time_range(dt: xr.DataTree) -> tuple[float, float] | None:
    """``(min, max)`` training time of the records that see the learning frontier."""
    if "constant_data" not in dt.children:
        return None
    const = dt["constant_data"]
    times = [np.asarray(const[c].values, float) for c in _TIME_COLUMNS if c in const.data_vars]
    if "density_compute" in const.data_vars and "density_params" in const.data_vars:
        times.append(np.asarray(const["density_compute"].values, float)
                     / np.asarray(const["density_params"].values, float))
    if not times:
        return None
    t = np.concatenate(times)
    t = t[np.isfinite(t) & (t > 0)]
    return (float(t.min()), float(t.max())) if t.size else None


def _draws(ds: xr.Dataset, name: str) -> np.ndarray:
    """Draws of a curve as ``(groups, samples, nodes)``."""
    var = ds[name]
    group = ["group"] if "group" in var.dims else []
    arr = var.transpose(*group, "chain", "draw", "tau").values
    if not group:
        arr = arr[None]
    return arr.reshape(arr.shape[0], -1, arr.shape[-1])


def _band(draws: np.ndarray, prob: float) -> np.ndarray:
    """Highest-density interval at every node: ``(2, nodes)``."""
    return np.stack([np.asarray(array_stats.hdi(draws[:, j], prob)) for j in
                     range(draws.shape[1])], axis=1)


def elasticity_curve(dt: xr.DataTree, ci_prob: float | None = None) -> dict[str, Any] | None:
    """Summarise ``rho(t)`` of an ``elastic`` fit (``None`` for other fits).

    Returns
    -------
    dict
        ``t`` (the grid in the data's time units), ``groups``: per group ``median``, ``low``,
        ``high`` (the ``ci_prob`` HDI), ``identified`` (bool per node), ``constant`` (a constant
        lies in the band at every identified node), ``drift`` (the largest over the smallest
        median in the identified range, less 1) and ``sentence``; ``records_t`` (the records'
        time range) and ``ci_prob``.
    """
    post = dt["posterior"]
    if "rho_t" not in post.data_vars:
        return None
    attrs = read_attrs(dt)
    prob = float(ci_prob if ci_prob is not None else attrs.get("ci_prob", 0.94))
    t_ref = float(attrs.get("scales", {}).get("t_ref", 1.0))
    tau = np.asarray(post["tau"].values, float)
    t = t_ref * np.exp(tau)
    span = records_time_range(dt)
    inside = np.ones(t.size, bool) if span is None else (t >= span[0]) & (t <= span[1])
    rho = _draws(post, "rho_t")
    ref = np.asarray(post["rho"].values, float).reshape(-1, rho.shape[1]) if "group" in post[
        "rho"].dims else np.asarray(post["rho"].values, float).reshape(1, -1)
    prior = dt["prior"] if "prior" in dt.children and "rho_t" in dt["prior"].data_vars else None
    names = [str(g) for g in post["group"].values] if "group" in post["rho_t"].dims else [""]
    groups = {}
    for gi, name in enumerate(names):
        draws = rho[gi]
        band = _band(draws, prob)
        identified = inside.copy()
        if prior is not None:
            drift_post = np.log(draws) - np.log(ref[gi % ref.shape[0]])[:, None]
            prior_draws = _draws(prior, "rho_t")[gi]
            prior_ref = np.asarray(prior["rho"].values, float).reshape(prior_draws.shape[0], -1)
            drift_prior = np.log(prior_draws) - np.log(prior_ref[:, gi % prior_ref.shape[1]])[
                :, None]
            width_post = np.diff(_band(drift_post, prob), axis=0)[0]
            width_prior = np.diff(_band(drift_prior, prob), axis=0)[0]
            identified &= (width_prior <= 1e-12) | (width_post < PRIOR_SHARE * width_prior)
        groups[name or "all"] = _describe(t, np.median(draws, axis=0), band, identified, prob)
    return {"t": t.tolist(), "groups": groups, "records_t": span, "ci_prob": prob,
            "prior_share": PRIOR_SHARE}


def _describe(t, median, band, identified, prob) -> dict[str, Any]:
    """Describe one group's curve: does a constant fit in its band; the sentence."""
    low, high = band
    out = {"median": median.tolist(), "low": low.tolist(), "high": high.tolist(),
           "identified": identified.tolist()}
    if not identified.any():
        out.update(constant=None, drift=None,
                   sentence="rho(t) is not identified anywhere: the band is the prior's.")
        return out
    lo, hi = float(np.max(low[identified])), float(np.min(high[identified]))
    ts, med = t[identified], median[identified]
    i_max, i_min = int(np.argmax(med)), int(np.argmin(med))
    drift = float(med[i_max] / med[i_min] - 1.0)
    out.update(constant=bool(lo <= hi), drift=drift)
    where = f"t in [{ts[0]:.3g}, {ts[-1]:.3g}]"
    if lo <= hi:
        out["sentence"] = (
            f"rho(t) is constant within the {prob:.0%} band over {where}: every value in "
            f"[{lo:.3g}, {hi:.3g}] lies inside it at every identified time (median drift "
            f"{drift:.0%})."
        )
    else:
        out["sentence"] = (
            f"rho(t) drifts over {where}: no constant lies inside the {prob:.0%} band at every "
            f"identified time; the median runs from {med[0]:.3g} (t = {ts[0]:.3g}) to "
            f"{med[-1]:.3g} (t = {ts[-1]:.3g}), lowest {med[i_min]:.3g} at t = {ts[i_min]:.3g}, "
            f"highest {med[i_max]:.3g} at t = {ts[i_max]:.3g} ({drift:.0%} above the lowest)."
        )
    return out


#: Draws of a parametric fit used for its rho(t) (thinned evenly).
OVERLAY_DRAWS = 400


def family_rho_curve(dt: xr.DataTree, t: np.ndarray, ci_prob: float = 0.94,
                     group: int = 0) -> dict[str, Any] | None:
    """``rho(t)`` of a parametric ``gsf`` fit at times ``t`` (data units): median and HDI.

    ``ntk``, ``feature``, ``monomial``: the constant ``n/m``; ``logcorr`` and ``ridge``:
    ``E_t/E_lambda`` at the frontier, from each draw's parameters
    (:meth:`gsf_infer.model.forward.families.Family.rho`). ``None`` for ``elastic`` fits (their
    curve is :func:`elasticity_curve`) and for fits without ``g``.
    """
    # deferred: the families are JAX functions, which reading a summary does not need
    import jax
    import jax.numpy as jnp

    from gsf_infer.model.forward.families import get_family
    from gsf_infer.model.sites import g_params

    attrs = read_attrs(dt)
    name = attrs.get("model_settings", {}).get("g")
    post = dt["posterior"]
    if name in (None, "elastic") or "rho" not in post.data_vars:
        return None
    family = get_family(name)
    t_ref = float(attrs.get("scales", {}).get("t_ref", 1.0))
    log_t = jnp.log(jnp.asarray(t, float) / t_ref)

    def draws(var: str) -> np.ndarray:
        v = post[var]
        v = v.isel(group=group) if "group" in v.dims else v
        flat = np.asarray(v.values, float).reshape(-1)
        return flat[np.linspace(0, flat.size - 1, min(OVERLAY_DRAWS, flat.size)).astype(int)]

    if name in ("ntk", "feature", "monomial"):
        values = np.repeat(draws("rho")[:, None], len(t), axis=1)
    else:
        params = {k: jnp.asarray(draws(k)) for k in ("b", "k_star", "m", "n", "tau", "kap")
                  if k in post.data_vars}

        def one(P):
            return family.rho(log_t, g_params(family, P["k_star"], P["b"], P))

        values = np.asarray(jax.vmap(one)(params))
    band = _band(values, ci_prob)
    return {"t": np.asarray(t, float).tolist(), "median": np.median(values, axis=0).tolist(),
            "low": band[0].tolist(), "high": band[1].tolist()}


def elasticity_comparison(elastic: xr.DataTree, others: dict[str, xr.DataTree],
                          ci_prob: float = 0.94) -> dict[str, Any] | None:
    """Put the ``elastic`` fit's ``rho(t)`` beside the parametric fits' on its grid.

    Returns ``curve`` (:func:`elasticity_curve`), ``families`` (name to
    :func:`family_rho_curve`) and ``sentence`` (the elastic curve's, first group).
    """
    curve = elasticity_curve(elastic, ci_prob)
    if curve is None:
        return None
    t = np.asarray(curve["t"], float)
    families = {}
    for name, dt in others.items():
        found = family_rho_curve(dt, t, ci_prob)
        if found is not None:
            families[name] = found
    first = next(iter(curve["groups"].values()))
    return {"curve": curve, "families": families, "sentence": first["sentence"]}
