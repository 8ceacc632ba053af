"""The figures of a fit (its ``plots/`` folder), drawn headless (matplotlib's Agg backend).

ArviZ 1.x draws what it has a plot for — trace and rank plots, the pair plot of ``a, b, rho``,
the posterior of ``delta/rho`` with the ROPE shaded, LOO-PIT ECDFs — and this module draws the
one view ArviZ has no plot for: each kind's observations over its posterior predictive bands
against the kind's own covariate, on log-log axes, one colour per run (and per series within a
run: bits for quantization, the time of pruning, the mode of a mode curve). Loss panels mark
where the learning frontier reaches capacity, ``k_*(t) = K(P)``; pruning panels mark the
predicted critical points ``r_*(t) = 1 - k_*(t)/K(P)``.

The frontier is ``k_*(t) = k_star (t/t_ref)^(rho/b)`` from the posterior's ``k_star`` (the
frontier's mode at ``t_ref``) and ``rho_over_b``, and capacity ``K(P) = K (P/P_ref)^nu``: exact
for the ``ntk``, ``feature`` and ``monomial`` families, the local power law at ``t_ref`` for
``logcorr`` and ``ridge``.

:func:`write_plots` hands each figure to :func:`gsf_infer.output.artifacts.write_figure`; the rest
returns figures. Imports NumPy and ArviZ; matplotlib inside the functions that draw.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import arviz as az  # noqa: E402
import numpy as np
import numpyro  # noqa: F401  (before arviz: lazy-loader interplay)
import xarray as xr  # noqa: E402

from gsf_infer.analysis.elastic import elasticity_curve  # noqa: E402
from gsf_infer.analysis.ppc import kind_tree, ppc_variables  # noqa: E402
from gsf_infer.inference.chains import constant_over_draws  # noqa: E402
from gsf_infer.inference.datatree import read_attrs  # noqa: E402
from gsf_infer.output import artifacts  # noqa: E402
from gsf_infer.output.elastic_plot import CAPTION as RHO_T_CAPTION  # noqa: E402
from gsf_infer.output.elastic_plot import plot_rho_t  # noqa: E402

#: Per observed variable: constant-data covariate on the x axis and its label.
X_AXIS = {
    "loss": ("t", "training progress t"),
    "quantization": ("t", "training progress t"),
    "pruning": ("sparsity", "kept fraction 1 - r"),
    "density": ("compute", "training compute C"),
    "spectrum": ("k", "mode k"),
    "spectrum_target": ("k", "mode k"),
    "modes": ("t", "training progress t"),
    "data_scaling": ("samples", "training samples n"),
}
#: Y-axis labels.
Y_LABEL = {
    "loss": "test loss L",
    "quantization": "loss increase from quantization",
    "pruning": "loss increase from pruning",
    "density": "density (learned modes per parameter)",
    "spectrum": "eigenvalue lambda_k",
    "spectrum_target": "target power p_k",
    "modes": "learned fraction phi_k(t)",
    "data_scaling": "excess risk R(n)",
}
#: Per observed variable: the covariate that splits a run into series.
SERIES = {"quantization": "bits", "pruning": "t", "modes": "k"}
#: Parameters of the trace and rank plots (those present with finite, varying draws).
TRACE_VARS = ("a", "b", "rho", "chi", "gamma", "rho_over_b", "m", "n", "tau", "kap")
#: Probability of the predictive bands.
BAND_PROB = 0.9

#: What each figure shows (file stem → caption), for the report.
CAPTIONS = {
    "ppc": (
        "Posterior predictive check of {var}: observations (points) over the central 90% "
        "(light) and 50% (dark) posterior predictive bands and the predictive median, one "
        "colour per run, log-log axes."
    ),
    "ppc_loss": (
        " Dashed vertical lines: posterior median of the time at which the learning frontier "
        "reaches capacity, k_*(t) = K(P), per run (shaded: its 90% interval); after it the "
        "loss approaches its capacity floor."
    ),
    "ppc_pruning": (
        " Dashed vertical lines: predicted critical points, the kept fraction k_*(t)/K(P) = "
        "1 - r_*(t) of each pruning time; pruning more than that cuts learned modes."
    ),
    "loo_pit": (
        "LOO-PIT: the ECDF of each kind's leave-one-out probability integral transform values "
        "minus the uniform one, with ArviZ's simultaneous band and POT-C test; a well "
        "calibrated predictive stays inside the band."
    ),
    "trace": "Trace and marginal posterior of the exponents, one line per chain.",
    "rank": (
        "Rank plots: the ECDF of each chain's ranks minus uniform with a simultaneous band; "
        "chains that explore the same distribution stay inside it."
    ),
    "pair": "Pairwise posterior of a, b and rho: ridges show as thin diagonal clouds.",
    "invariant_delta": (
        "The invariant check: posterior of delta/rho = (chi + gamma - rho)/rho from the "
        "deviation model (gsf plus the ways the invariant can break), with the region of practical "
        "equivalence |delta/rho| <= {rope:g} shaded and the {ci:.0%} HDI; the share of the "
        "posterior inside the ROPE is printed."
    ),
}


def caption(stem: str, invariant: dict[str, Any] | None = None, ci_prob: float = 0.94) -> str:
    """Say in words what the figure ``<stem>.png`` shows."""
    if stem.startswith("ppc_"):
        var = stem[4:]
        text = CAPTIONS["ppc"].format(var=var)
        return text + CAPTIONS.get(stem, "")
    if stem.startswith("pair"):
        return CAPTIONS["pair"]
    if stem == "invariant_delta":
        rope = (invariant or {}).get("rope", 0.1)
        return CAPTIONS["invariant_delta"].format(rope=rope, ci=ci_prob)
    if stem == "rho_t":
        return RHO_T_CAPTION.format(ci=ci_prob, extra="").strip()
    return CAPTIONS.get(stem, stem)


# ------------------------------------------------------------------------- frontier


def _posterior_for(dt: xr.DataTree, kind: str) -> xr.Dataset | None:
    """Return the posterior a kind's predictions use (every kind shares the model's parameters)."""
    return dt["posterior"].to_dataset()


def _flat(var: xr.DataArray, group: str | None) -> np.ndarray:
    if "group" in var.dims:
        var = var.sel(group=group) if group is not None else var.isel(group=0)
    values = np.asarray(var.values, dtype=float)
    return values.reshape(-1)


def frontier_draws(
    dt: xr.DataTree, kind: str, t: np.ndarray, params: float, group: str | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Draw ``k_*(t)`` and ``K(P)`` for one run (see the module docstring).

    Parameters
    ----------
    dt : xarray.DataTree
        The fit.
    kind : str
        Whose predictions (every kind shares the model's parameters).
    t : numpy.ndarray
        Times (data's units), shape ``(n,)``.
    params : float
        The run's parameter count (data's units).
    group : str, optional
        The run's group (for group-level parameters).

    Returns
    -------
    tuple of numpy.ndarray or None
        ``k_*``: ``(S, n)``; ``K(P)``: ``(S,)``. ``None`` if the posterior lacks the frontier
        or capacity (``chinchilla``, or kinds without them).
    """
    post = _posterior_for(dt, kind)
    if post is None or not all(v in post.data_vars for v in ("k_star", "K", "rho_over_b")):
        return None
    attrs = read_attrs(dt)
    scales = attrs.get("scales", {})
    t_ref, p_ref = float(scales.get("t_ref", 1.0)), float(scales.get("params_ref", 1.0))
    k_star = _flat(post["k_star"], group)
    capacity = _flat(post["K"], group)
    slope = _flat(post["rho_over_b"], group)
    if "nu" in post.data_vars:
        nu = _flat(post["nu"], group)
    else:
        nu = np.full(k_star.shape, float(attrs.get("fixed_parameters", {}).get("nu", 1.0)))
    if not (np.all(np.isfinite(k_star)) and np.all(np.isfinite(capacity))):
        return None
    t = np.asarray(t, dtype=float)
    k_t = k_star[:, None] * (t[None, :] / t_ref) ** slope[:, None]
    K_P = capacity * (float(params) / p_ref) ** nu
    return k_t, K_P


def capacity_times(dt: xr.DataTree, params: float, group: str | None = None) -> np.ndarray | None:
    """Draw the time (data's units) at which the frontier reaches capacity, ``k_*(t) = K(P)``.

    From ``k_*(t) = k_star (t/t_ref)^(rho/b)``: ``t = t_ref (K(P)/k_star)^(b/rho)``, with the
    model's parameters. ``None`` without frontier or capacity.
    """
    t_ref = float(read_attrs(dt).get("scales", {}).get("t_ref", 1.0))
    out = frontier_draws(dt, "loss", np.array([t_ref]), params, group)
    if out is None:
        return None
    k_ref, K_P = out
    slope = _flat(_posterior_for(dt, "loss")["rho_over_b"], group)
    return t_ref * (K_P / k_ref[:, 0]) ** (1.0 / slope)


# ------------------------------------------------------------------------ PPC panels


def _band(values: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1.0 - prob) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail], axis=0)
    return low, high


def _series(dt: xr.DataTree, var: str) -> list[tuple[str, np.ndarray]]:
    """List ``(label, record indices)`` of each series of a variable, in run order."""
    kind = "spectrum" if var == "spectrum_target" else var
    constant = dt["constant_data"] if "constant_data" in dt.children else None
    n = dt["observed_data"][var].size
    rows = np.arange(n)
    if var == "spectrum_target":
        rows = np.asarray(dt["observed_data"][var].coords["spectrum_target_obs"]).astype(int)
    runs = (
        np.asarray(constant[f"{kind}_run"].values).astype(str)[rows]
        if constant is not None and f"{kind}_run" in constant.data_vars
        else np.full(n, "run")
    )
    extra = SERIES.get(var)
    sub = (
        np.asarray(constant[f"{kind}_{extra}"].values, dtype=float)[rows]
        if extra and constant is not None and f"{kind}_{extra}" in constant.data_vars
        else None
    )
    out = []
    for run in dict.fromkeys(runs):
        in_run = runs == run
        if sub is None:
            out.append((str(run), np.flatnonzero(in_run)))
            continue
        for value in np.unique(sub[in_run]):
            label = f"{run}, {extra} = {value:g}" if np.isfinite(value) else f"{run}"
            out.append((label, np.flatnonzero(in_run & ((sub == value) | ~np.isfinite(value)))))
    return out


def _x_values(dt: xr.DataTree, var: str) -> np.ndarray | None:
    kind = "spectrum" if var == "spectrum_target" else var
    column, _ = X_AXIS[var]
    constant = dt["constant_data"] if "constant_data" in dt.children else None
    name = f"{kind}_{column}"
    if constant is None or name not in constant.data_vars:
        return None
    x = np.asarray(constant[name].values, dtype=float)
    if var == "spectrum_target":
        rows = np.asarray(dt["observed_data"][var].coords["spectrum_target_obs"]).astype(int)
        x = x[rows]
    if var == "pruning":
        x = 1.0 - x
    return x


def _run_info(
    dt: xr.DataTree, kind: str, idx: np.ndarray
) -> tuple[float | None, str | None, np.ndarray | None]:
    """Return the parameter count, group and times of the records ``idx`` of a kind."""
    constant = dt["constant_data"]
    params = group = times = None
    if f"{kind}_params" in constant.data_vars:
        p = np.asarray(constant[f"{kind}_params"].values, dtype=float)[idx]
        p = p[np.isfinite(p)]
        params = float(np.median(p)) if p.size else None
    if f"{kind}_group" in constant.data_vars:
        group = str(np.asarray(constant[f"{kind}_group"].values).astype(str)[idx][0])
    if f"{kind}_t" in constant.data_vars:
        times = np.asarray(constant[f"{kind}_t"].values, dtype=float)[idx]
    return params, group, times


def plot_ppc(dt: xr.DataTree, var: str):
    """Plot observations over the posterior predictive bands of one observed variable.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt  # deferred: imports matplotlib

    from gsf_infer.output.axes import log_scale  # deferred: imports matplotlib

    x_all = _x_values(dt, var)
    if x_all is None:
        raise ValueError(f"no covariate {X_AXIS[var][0]!r} for {var} in constant_data")
    pred = dt["posterior_predictive"][var].transpose("chain", "draw", ...)
    draws = np.asarray(pred.values, dtype=float).reshape(-1, pred.shape[-1])
    observed = np.asarray(dt["observed_data"][var].values, dtype=float)
    series = _series(dt, var)
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    cmap = plt.get_cmap("tab10" if len(series) <= 10 else "viridis")
    colors = [
        cmap(i % 10) if len(series) <= 10 else cmap(i / max(len(series) - 1, 1))
        for i in range(len(series))
    ]
    for (label, idx), color in zip(series, colors, strict=True):
        order = idx[np.argsort(x_all[idx])]
        x = x_all[order]
        d = draws[:, order]
        low, high = _band(d, BAND_PROB)
        q_low, q_high = _band(d, 0.5)
        ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)
        ax.fill_between(x, q_low, q_high, color=color, alpha=0.3, linewidth=0)
        ax.plot(x, np.median(d, axis=0), color=color, linewidth=1.0)
        ax.plot(x, observed[order], "o", color=color, markersize=3.5, label=label)
        if var == "loss":
            _mark_capacity(ax, dt, order, color)
        if var == "pruning":
            _mark_critical(ax, dt, order, color)
    positive = x_all[np.isfinite(x_all) & (x_all > 0)]
    if positive.size:
        log_scale(ax, "x")
        ax.set_xlim(positive.min() / 1.3, positive.max() * 1.3)
    if np.all(observed[np.isfinite(observed)] > 0):
        log_scale(ax, "y")
    ax.set_xlabel(X_AXIS[var][1])
    ax.set_ylabel(Y_LABEL[var])
    ax.set_title(f"{var}: observed vs {BAND_PROB:.0%} posterior predictive band")
    if var in ("loss", "pruning") and any(line.get_linestyle() == "--" for line in ax.lines):
        what = "k_*(t) = K(P)" if var == "loss" else "critical point 1 - r_*(t)"
        ax.plot([], [], linestyle="--", color="0.3", linewidth=1.0, label=what)
    handles, labels = ax.get_legend_handles_labels()
    if len(labels) <= 12:
        ax.legend(fontsize=7, loc="best")
    else:
        ax.text(0.01, 0.01, f"{len(series)} series", transform=ax.transAxes, fontsize=7)
    fig.tight_layout()
    return fig


def _mark_capacity(ax, dt: xr.DataTree, idx: np.ndarray, color) -> None:
    params, group, _ = _run_info(dt, "loss", idx)
    if params is None:
        return
    t_cap = capacity_times(dt, params, group)
    if t_cap is None:
        return
    t_cap = t_cap[np.isfinite(t_cap) & (t_cap > 0)]
    if not t_cap.size:
        return
    low, high = np.quantile(t_cap, [0.05, 0.95])
    ax.axvspan(low, high, color=color, alpha=0.08, linewidth=0)
    ax.axvline(np.median(t_cap), color=color, linestyle="--", linewidth=1.0)


def _mark_critical(ax, dt: xr.DataTree, idx: np.ndarray, color) -> None:
    params, group, times = _run_info(dt, "pruning", idx)
    if params is None or times is None:
        return
    out = frontier_draws(dt, "pruning", times[:1], params, group)
    if out is None:
        return
    k_t, K_P = out
    kept = k_t[:, 0] / K_P  # 1 - r_*(t)
    kept = kept[np.isfinite(kept)]
    if not kept.size or np.median(kept) >= 1.0:
        return
    ax.axvline(np.median(kept), color=color, linestyle="--", linewidth=1.0)


# --------------------------------------------------------------------- ArviZ figures


def _numpy_posterior(dt: xr.DataTree, names: list[str] | None = None) -> xr.DataTree:
    """Copy the posterior (and sample_stats) into a DataTree of NumPy arrays."""
    post = dt["posterior"].to_dataset()
    if names is not None:
        post = post[names]
    post = post.map(lambda v: xr.DataArray(np.asarray(v.values), dims=v.dims, coords=v.coords))
    groups = {"posterior": post}
    if "sample_stats" in dt.children:
        groups["sample_stats"] = dt["sample_stats"].to_dataset()
    return xr.DataTree.from_dict(groups)


def _usable(dt: xr.DataTree, names: tuple[str, ...]) -> list[str]:
    """List names present in the posterior with finite draws that vary.

    A quantity held at the optimum varies only by rounding (its draws are ``z0 + L u`` with
    ``L`` zero along it, up to 1e-15): it has no density to draw, so it counts as constant.
    """
    post = dt["posterior"]
    out = []
    for name in names:
        if name not in post.data_vars:
            continue
        values = np.asarray(post[name].transpose("chain", "draw", ...).values, dtype=float)
        if not values.size or not np.all(np.isfinite(values)):
            continue
        if not np.all(constant_over_draws(values)):
            out.append(name)
    return out


def _figure(pc) -> Any:
    return pc.get_viz("figure") if hasattr(pc, "get_viz") else pc


def plot_trace(dt: xr.DataTree):
    """Plot ArviZ's ``plot_trace_dist`` of the exponents (``None`` if there is none)."""
    names = _usable(dt, TRACE_VARS)
    if not names:
        return None
    return _figure(az.plot_trace_dist(_numpy_posterior(dt, names), var_names=names))


def plot_ranks(dt: xr.DataTree):
    """Plot ArviZ's ``plot_rank`` of the exponents (``None`` if there is none)."""
    names = _usable(dt, TRACE_VARS)
    if not names or dt["posterior"].sizes.get("chain", 1) < 2:
        return None
    return _figure(az.plot_rank(_numpy_posterior(dt, names), var_names=names))


def plot_pairs(dt: xr.DataTree) -> dict[str, Any]:
    """Plot ArviZ's ``plot_pair`` of ``a, b, rho``."""
    usable = _usable(dt, ("a", "b", "rho"))
    if len(usable) < 2:
        return {}
    tree = _numpy_posterior(dt, usable)
    return {"pair_a_b_rho": _figure(az.plot_pair(tree, var_names=usable))}


def delta_tree(deviation_posterior: xr.Dataset) -> xr.DataTree | None:
    """Gather the posterior of ``delta`` and ``delta/rho`` of a ``deviation`` fit, as a tree."""
    names = [n for n in ("delta", "delta_over_rho") if n in deviation_posterior.data_vars]
    if "delta_over_rho" not in names:
        return None
    post = deviation_posterior[names]
    extra = [d for d in post.dims if d not in ("chain", "draw")]
    if extra:  # one value per group: the first group's
        post = post.isel({d: 0 for d in extra}, drop=True)
    return xr.DataTree.from_dict({"posterior": post})


def plot_invariant(deviation_posterior: xr.Dataset, rope: float, ci_prob: float):
    """Plot ArviZ's ``plot_dist`` of ``delta/rho`` with the ROPE (``None``: untestable)."""
    tree = delta_tree(deviation_posterior)
    if tree is None:
        return None
    values = tree["posterior"]["delta_over_rho"].values
    if not np.all(np.isfinite(values)) or np.ptp(values) == 0:
        return None
    pc = az.plot_dist(
        tree,
        var_names=["delta_over_rho"],
        rope={"delta_over_rho": (-rope, rope)},
        ci_kind="hdi",
        ci_prob=ci_prob,
        point_estimate="mean",
        stats={"rope": {"ci_prob": 1}},
    )
    return _figure(pc)


def loo_pit_tree(dt: xr.DataTree) -> tuple[xr.DataTree, list[str]] | None:
    """Gather posterior, predictive, data and log-likelihood of every checked variable."""
    trees = {v: kind_tree(dt, v) for v in ppc_variables(dt)}
    trees = {v: t for v, t in trees.items() if t is not None}
    if not trees:
        return None
    first = next(iter(trees.values()))
    merged = {
        "posterior": first["posterior"].to_dataset(),
        "posterior_predictive": xr.merge(
            [t["posterior_predictive"].to_dataset() for t in trees.values()]
        ),
        "observed_data": xr.merge([t["observed_data"].to_dataset() for t in trees.values()]),
        "log_likelihood": xr.merge([t["log_likelihood"].to_dataset() for t in trees.values()]),
    }
    return xr.DataTree.from_dict(merged), list(trees)


def plot_loo_pits(dt: xr.DataTree, pits: dict[str, Any] | None = None):
    """Plot ArviZ's ``plot_loo_pit`` of every kind with a log-likelihood (``None``: none).

    ``pits`` (:func:`gsf_infer.analysis.ppc.loo_pits`, computed for the checks) spare the
    second PSIS and Pareto-smoothed PIT of every kind: ``plot_loo_pit`` is ``az.loo_pit(tree,
    pareto_pit=True)`` handed to ``plot_ecdf_pit``, and a kind's values are the same unless a
    predictive draw ties with its observation (ties are broken at random, with ArviZ's seed
    in ``plot_loo_pit``), so such kinds are computed here as before.
    """
    built = loo_pit_tree(dt)
    if built is None:
        return None
    tree, names = built
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # high Pareto k: reported by the checks
        reusable = pits is not None and all(
            (pits.get(v) or {}).get("pit_values") is not None and not pits[v]["ties"]
            for v in names
        )
        if not reusable:
            pc = az.plot_loo_pit(tree, var_names=names)
        else:
            from arviz_base import convert_to_datatree
            from arviz_plots import plot_ecdf_pit

            observed = tree["observed_data"].to_dataset()
            lpv = xr.Dataset(coords=observed.coords)
            for v in names:
                lpv[v] = pits[v]["pit_values"]
            pc = plot_ecdf_pit(  # the call of az.plot_loo_pit's defaults
                convert_to_datatree(lpv, group="loo_pit"),
                var_names=names,
                group="loo_pit",
                sample_dims=lpv.dims,
                method="pot_c",
                coverage=False,
                visuals={"ylabel": {}, "remove_axis": False, "xlabel": {"text": "LOO-PIT"}},
            )
    return _figure(pc)


def plot_by(table, by: str):
    """Each subset's exponents with their HDIs (``fit --by``), against model size if known.

    ``table`` is the combined ``summary.csv`` (:func:`gsf_infer.workflow.batch.by_row`). One panel
    per exponent that some subset estimates; ``None`` when none does.
    """
    import matplotlib  # deferred: imports matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: imports matplotlib

    from gsf_infer.output.axes import log_scale  # deferred: imports matplotlib

    names = [n for n in ("chi", "alpha", "rho", "a", "b")
             if f"{n}_mean" in table and table[f"{n}_mean"].notna().any()]
    if not names:
        return None
    sizes = table["params"] if "params" in table else None
    use_size = sizes is not None and sizes.notna().all() and sizes.nunique() > 1
    x = sizes.to_numpy(float) if use_size else np.arange(len(table), dtype=float)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    converged = table["converged"].fillna(False).astype(bool).to_numpy()
    for ax, name in zip(axes[0], names, strict=True):
        mean = table[f"{name}_mean"].to_numpy(float)
        low = table[f"{name}_hdi_low"].to_numpy(float)
        high = table[f"{name}_hdi_high"].to_numpy(float)
        for ok, color, label in (
            (True, "tab:blue", "converged"),
            (False, "tab:red", "not converged"),
        ):
            sel = converged == ok
            if sel.any():
                # a held parameter's interval is a point (mean and ends equal up to rounding),
                # and a skewed posterior's mean may lie outside its HDI: no negative bars
                below = np.clip(mean[sel] - low[sel], 0.0, None)
                above = np.clip(high[sel] - mean[sel], 0.0, None)
                ax.errorbar(x[sel], mean[sel], yerr=[below, above],
                            fmt="o", color=color, ms=4, capsize=2, label=label)
        if use_size:
            log_scale(ax, "x")
            ax.set_xlabel("parameters")
        else:
            ax.set_xticks(x)
            ax.set_xticklabels(table[by].astype(str), rotation=90, fontsize=6)
        ax.set_ylabel(name)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"one fit per {by}: posterior mean and HDI", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- writing


def figures(
    dt: xr.DataTree,
    deviation_dt: xr.DataTree | None = None,
    invariant: dict[str, Any] | None = None,
    pits: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Draw every figure of a fit, by file stem (see :data:`CAPTIONS`).

    ``pits``: :func:`gsf_infer.analysis.ppc.loo_pits` of ``dt``, when the checks computed them.
    """
    attrs = read_attrs(dt)
    ci_prob = float(attrs.get("ci_prob", 0.94))
    out: dict[str, Any] = {}
    for var in ppc_variables(dt):
        if _x_values(dt, var) is not None:
            out[f"ppc_{var}"] = plot_ppc(dt, var)
    out["loo_pit"] = plot_loo_pits(dt, pits)
    out["trace"] = plot_trace(dt)
    out["rank"] = plot_ranks(dt)
    out.update(plot_pairs(dt))
    out["rho_t"] = plot_rho_t(elasticity_curve(dt, ci_prob))
    model = attrs.get("model_settings", {}).get("model")
    source = dt if model == "deviation" else deviation_dt
    if source is not None:
        rope = float((invariant or {}).get("rope", 0.1))
        out["invariant_delta"] = plot_invariant(source["posterior"].to_dataset(), rope, ci_prob)
    return {k: v for k, v in out.items() if v is not None}


def write_plots(
    dt: xr.DataTree,
    folder: str | Path,
    deviation_dt: xr.DataTree | None = None,
    invariant: dict[str, Any] | None = None,
    pits: dict[str, Any] | None = None,
) -> list[Path]:
    """Draw every figure of a fit and write them as PNGs into ``folder``.

    Parameters
    ----------
    dt : xarray.DataTree
        The fit.
    folder : str or Path
        Where the PNGs go (created; existing PNGs of the same names are replaced).
    deviation_dt : xarray.DataTree, optional
        The ``deviation``-model fit behind the invariant (for the ``delta`` posterior).
    invariant : dict, optional
        The invariant result (its ROPE).
    pits : dict, optional
        :func:`gsf_infer.analysis.ppc.loo_pits` of ``dt``, when the checks computed them.

    Returns
    -------
    list of Path
        The files written, in drawing order.
    """
    import matplotlib  # deferred: imports matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: imports matplotlib

    folder = Path(folder)
    paths = []
    try:
        for stem, fig in figures(dt, deviation_dt, invariant, pits).items():
            paths.append(artifacts.write_figure(fig, folder / f"{stem}.png", force=True))
            plt.close(fig)
    finally:
        plt.close("all")
    return paths
