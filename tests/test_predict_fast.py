"""Prediction (:mod:`gsf_infer.inference.predict`) on a hand-made DataTree, without a sampler.

The DataTree is assembled by the tool's own :func:`gsf_infer.inference.datatree.build_datatree` from
posterior draws made here; the expected values of every record under every draw must be those
of :func:`gsf_infer.model.expected.expected` evaluated draw by draw (with the deviation parameters
applied as the README states them), and a second prediction must reuse the compiled program.
"""

from __future__ import annotations

from contextlib import contextmanager

import jax
import numpy as np
import numpyro  # noqa: F401  (before arviz)
import pandas as pd
import pytest

from gsf_infer.data.dataset import build_model_data, kind_inputs  # noqa: E402
from gsf_infer.data.records import records_from_frame  # noqa: E402
from gsf_infer.inference import predict  # noqa: E402
from gsf_infer.inference.datatree import build_datatree  # noqa: E402
from gsf_infer.model.expected import expected_jit  # noqa: E402
from gsf_infer.model.settings import ModelSettings  # noqa: E402

CHAINS, DRAWS = 2, 8
SETTINGS = ModelSettings()
KINDS = ("loss", "quantization", "pruning", "density", "spectrum", "data_scaling")


def table() -> pd.DataFrame:
    """A few records of six kinds (one group), shaped roughly like the theory's laws."""
    rows = []
    for params in (1e6, 1e7):
        for t in (10.0, 100.0, 1000.0, 1e4):
            rows.append({"kind": "loss", "run": f"P{params:g}", "t": t, "params": params,
                         "loss": 2.0 + 30.0 * (params / 1e6) ** -0.3 * t**-0.4})
    for bits in (3.0, 5.0):
        for t in (100.0, 1000.0, 1e4):
            rows.append({"kind": "quantization", "run": "P1e+07", "t": t, "params": 1e7,
                         "bits": bits, "delta_loss": 0.05 * t**0.2 * 4**-bits})
    for t in (100.0, 1e4):
        for r in (0.2, 0.6, 0.9):
            rows.append({"kind": "pruning", "run": "P1e+07", "t": t, "params": 1e7,
                         "sparsity": r, "delta_loss": 1e-3 * (1 - r) ** -0.6})
    for params in (1e6, 1e7):
        for compute in (1e8, 1e10, 1e12):
            rows.append({"kind": "density", "run": f"P{params:g}", "compute": compute,
                         "params": params, "density": 1e-4 * (compute / params) ** 0.3})
    for k in (1, 3, 10, 30):
        rows.append({"kind": "spectrum", "run": "spectrum", "k": k,
                     "eigenvalue": float(k) ** -1.4, "target_power": float(k) ** -1.6})
    for n in (1e3, 1e4, 1e5):
        rows.append({"kind": "data_scaling", "run": "ds", "samples": n,
                     "loss": 0.5 + 5.0 * n**-0.5})
    return pd.DataFrame(rows)


def posterior_draws(data, rng: np.random.Generator, deviations: bool) -> dict[str, np.ndarray]:
    """Draws ``(chain, draw, ...)`` of every parameter the six kinds' laws read."""
    R = len(data.runs)

    def around(centre, *shape, sd=0.05):
        return centre * np.exp(sd * rng.standard_normal((CHAINS, DRAWS, *shape)))

    post = {
        "a": around(1.6), "b": around(1.4), "n": around(1.25), "k_star": around(30.0),
        "K": around(1000.0), "E": around(1.5), "loss_scale": around(1.0),
        "quant_scale": around(0.05 * 4**-4), "pruning_scale": around(2e-3),
        "density_scale": around(1e-3), "spectrum_scale": around(1.0),
        "target_scale": around(1.0), "E_ds": around(0.4, R), "B_ds": around(0.1, R),
        "s": around(1.0),
    }
    post["m"] = around(1.0)
    post["bm"] = post["b"] * post["m"]
    for kind in data.kinds:
        post[f"sigma_{kind}"] = around(0.05)
    if deviations:
        z = rng.standard_normal((CHAINS, DRAWS, 2))
        post["deviation_z"] = z
        post["delta_Q"] = 0.3 * z[..., 0]
        post["eps_F"] = 0.3 * z[..., 1]
    return post


def fit_tree(data, model: str, seed: int):
    """A DataTree with a fit's layout and attributes, from hand-made draws."""
    rng = np.random.default_rng(seed)
    post = posterior_draws(data, rng, deviations=model == "deviation")
    attrs = {
        "seed": 0,
        "ci_prob": 0.9,
        "model_settings": {**SETTINGS.as_attrs(), "model": model},
        "scales": data.scales.as_attrs(),
        "fixed_parameters": {"nu": 1.0},
        "runs": list(data.runs),
        "groups": list(data.groups),
        "quant_units": list(data.quant_units),
        "kinds": list(data.kinds),
        "deviations": ["delta_Q", "eps_F"] if model == "deviation" else [],
    }
    stats = {"diverging": np.zeros((CHAINS, DRAWS), dtype=bool)}
    return build_datatree(data, post, stats, {}, {}, {}, {}, attrs)


@pytest.fixture(scope="module")
def records():
    return records_from_frame(table(), path="predict.csv")


@pytest.fixture(scope="module")
def data(records):
    return build_model_data(records)


#: What the laws read (one set for both models, so the reference compiles once per kind).
LAW_PARAMETERS = frozenset({
    "a", "b", "m", "n", "k_star", "K", "E", "loss_scale", "quant_scale", "pruning_scale",
    "density_scale", "spectrum_scale", "target_scale", "E_ds", "B_ds", "s",
})


def reference_expected(dt, data) -> dict[str, np.ndarray]:
    """``model.expected`` draw by draw, deviations applied as the README states them."""
    post = {name: np.asarray(var.values) for name, var in dt["posterior"].data_vars.items()}
    flat = {name: v.reshape((CHAINS * DRAWS,) + v.shape[2:]) for name, v in post.items()}
    out: dict[str, np.ndarray] = {}
    for kind, x in kind_inputs(data).items():
        rows = []
        for s in range(CHAINS * DRAWS):
            P = {name: v[s] for name, v in flat.items() if name in LAW_PARAMETERS}
            P["nu"] = 1.0
            xs = dict(x)
            if kind == "quantization" and "delta_Q" in flat:
                P["a"] = P["a"] - flat["delta_Q"][s]
            if kind in ("pruning", "density") and "eps_F" in flat:
                xs["t"] = xs["t"] ** np.exp(flat["eps_F"][s])
            mu = expected_jit(kind, P, xs, SETTINGS, data.n_groups)[kind]
            rows.append(np.asarray(mu))
        out[kind] = np.stack(rows)
    return out


@pytest.mark.parametrize("model", ["gsf", "deviation"])
def test_expected_draws_equal_expected_draw_by_draw(data, model):
    dt = fit_tree(data, model, seed=1)
    got = predict.expected_draws(dt, data)
    ref = reference_expected(dt, data)
    assert set(got) == set(ref) == set(KINDS)
    for kind in KINDS:
        assert got[kind].shape == (CHAINS * DRAWS, data.kinds[kind].size)
        assert np.isfinite(got[kind]).all(), kind
        np.testing.assert_allclose(got[kind], ref[kind], rtol=1e-10, atol=1e-12, err_msg=kind)


def test_deviations_change_the_expected_values(data):
    """The deviation draws enter the prediction of the kinds they concern, and only those."""
    dt = fit_tree(data, "deviation", seed=1)
    got = predict.expected_draws(dt, data)
    without = dt.copy()
    post = without["posterior"].to_dataset()
    without["posterior"] = post.assign(delta_Q=0.0 * post["delta_Q"], eps_F=0.0 * post["eps_F"])
    plain = predict.expected_draws(without, data)
    for kind in KINDS:
        moved = np.max(np.abs(got[kind] - plain[kind]))
        if kind in ("quantization", "pruning", "density"):
            assert moved > 1e-3, kind
        else:
            assert moved == 0.0, kind


@pytest.fixture(scope="module")
def new_records():
    """Records to predict: the fitted ones, observed values blanked on a few.

    Of the same shapes as the fitted records, so the compiled programs are shared.
    """
    frame = table()
    frame.loc[[0, 3], "loss"] = np.nan
    return records_from_frame(frame, path="new.csv", prediction=True)


def test_predict_records_intervals_contain_the_mean(data, new_records):
    dt = fit_tree(data, "deviation", seed=2)
    out = predict.predict_records(dt, new_records)
    assert len(out) == len(new_records.table)
    assert list(out["kind"]) == list(new_records.table["kind"])
    for col in ("mean", "median", "hdi_low", "hdi_high"):
        assert np.isfinite(out[col].to_numpy(dtype=float)).all(), col
    assert (out["hdi_low"] < out["mean"]).all() and (out["mean"] < out["hdi_high"]).all()
    assert (out["hdi_low"] <= out["median"]).all() and (out["median"] <= out["hdi_high"]).all()
    # coverage is stated where a value was observed, and is whether it lies in the interval
    for i, row in out.iterrows():
        observed = row[{"quantization": "delta_loss", "pruning": "delta_loss",
                        "density": "density", "spectrum": "eigenvalue"}.get(row["kind"], "loss")]
        if pd.isna(observed):
            assert pd.isna(row["covered"]), i
        else:
            assert bool(row["covered"]) == (row["hdi_low"] <= observed <= row["hdi_high"]), i


@contextmanager
def compilations():
    """Count JAX's traces and backend compilations inside the block."""
    events: list[str] = []

    def listener(event: str, duration: float, **kwargs) -> None:
        if event.endswith(("jaxpr_trace_duration", "backend_compile_duration")):
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def test_predict_records_is_seeded_and_compiles_once(data, new_records):
    dt = fit_tree(data, "deviation", seed=3)
    first = predict.predict_records(dt, new_records, seed=5)
    size = predict._expected_draws._cache_size()
    with compilations() as events:
        again = predict.predict_records(dt, new_records, seed=5)
        other_draws = fit_tree(data, "deviation", seed=4)  # same shapes, other values
        predict.predict_records(other_draws, new_records, seed=5)
    assert events == []
    assert predict._expected_draws._cache_size() == size
    with compilations() as events:  # the counter sees a compilation when there is one
        jax.jit(lambda v: v * 3.0 + 1.0)(np.arange(7.0))
    assert events
    pd.testing.assert_frame_equal(first, again)
    other = predict.predict_records(dt, new_records, seed=6)
    assert not np.allclose(first["mean"], other["mean"])
    np.testing.assert_allclose(first["mean"], other["mean"], rtol=0.2)


def test_log_predictive_density_is_the_log_mean_of_the_draws_densities(data, records):
    """lpd of held-out records against the normal density written out here, draw by draw."""
    dt = fit_tree(data, "gsf", seed=6)
    got = predict.log_predictive_density(dt, records)
    ref_mu = reference_expected(dt, data)
    post = {name: np.asarray(var.values).reshape(CHAINS * DRAWS)
            for name, var in dt["posterior"].data_vars.items() if name.startswith("sigma_")}
    assert set(got) == set(KINDS)
    for kind in KINDS:
        kd = data.kinds[kind]
        y = np.log(kd.y)  # no kind here is modes: the likelihood's scale is the log
        scale = np.sqrt(post[f"sigma_{kind}"][:, None] ** 2 + (kd.stderr / kd.y)[None, :] ** 2)
        logp = -0.5 * ((y - ref_mu[kind]) / scale) ** 2 - np.log(np.sqrt(2 * np.pi) * scale)
        top = logp.max(axis=0)  # the log of the mean density, without underflow
        ref = top + np.log(np.exp(logp - top).mean(axis=0))
        np.testing.assert_allclose(got[kind], ref, rtol=1e-8, err_msg=kind)
    # negative control: records moved off the fit's predictions lose density
    moved = table()
    moved["loss"] = moved["loss"] * 1.5
    far = predict.log_predictive_density(dt, records_from_frame(moved, path="moved.csv"))
    assert far["loss"].sum() < got["loss"].sum() - 10.0


def test_expected_draws_of_an_elastic_fit_rebuild_its_drift(data):
    """An ``elastic`` fit stores ``rho(t)`` on its grid; prediction must rebuild ``g`` from it.

    Reference: ``model.expected`` draw by draw with the drift ``f`` and the grid given as the
    model builds them (``rho_t = (n/m) e^f``), for a drift drawn here.
    """
    from gsf_infer.model.elastic import elastic_grid

    settings = ModelSettings(g="elastic")
    rng = np.random.default_rng(7)
    post = posterior_draws(data, rng, deviations=False)
    grid = elastic_grid(data)
    amp = rng.normal(0.0, 0.1, (CHAINS, DRAWS, 1))
    f = amp * np.sin(grid)[None, None, :]
    post["rho_t"] = (post["n"] / post["m"])[..., None] * np.exp(f)
    attrs = {"seed": 0, "ci_prob": 0.9, "model_settings": settings.as_attrs(),
             "scales": data.scales.as_attrs(), "fixed_parameters": {"nu": 1.0},
             "runs": list(data.runs), "groups": list(data.groups),
             "quant_units": list(data.quant_units), "kinds": list(data.kinds), "deviations": []}
    stats = {"diverging": np.zeros((CHAINS, DRAWS), dtype=bool)}
    dt = build_datatree(data, post, stats, {}, {}, {}, {}, attrs)
    got = predict.expected_draws(dt, data)["loss"]
    x = kind_inputs(data)["loss"]
    flat = {k: v.reshape((CHAINS * DRAWS,) + v.shape[2:]) for k, v in post.items()}
    f_flat = f.reshape(CHAINS * DRAWS, -1)
    for s in (0, 5, CHAINS * DRAWS - 1):
        P = {k: v[s] for k, v in flat.items() if k in LAW_PARAMETERS}
        P.update(nu=1.0, elastic_f=f_flat[s], tgrid=grid)
        ref = expected_jit("loss", P, x, settings, data.n_groups)["loss"]
        np.testing.assert_allclose(got[s], np.asarray(ref), rtol=1e-9)
    # negative control: the same fit read as drift-free predicts other values
    flat_rho = dt.copy()
    p2 = flat_rho["posterior"].to_dataset()
    flat_rho["posterior"] = p2.assign(rho_t=p2["rho_t"] * 0 + p2["n"] / p2["m"])
    assert np.max(np.abs(predict.expected_draws(flat_rho, data)["loss"] - got)) > 1e-4
