"""The fit's DataTree (:func:`gsf_infer.inference.datatree.build_datatree`) from hand-made draws.

No sampler runs: the draws are drawn here with the shapes the model gives its sites. The data
are chosen so that groups, runs, quantization amplitude units and deviation parameters all
number two, so that a dimension named from an array's size rather than from the site would be
wrong (the regression this file guards against).
"""

from __future__ import annotations

import math

import arviz as az  # noqa: E402
import numpy as np
import numpyro  # noqa: F401  (before arviz)
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit, logsumexp

from gsf_infer.data.dataset import build_model_data  # noqa: E402
from gsf_infer.data.records import records_from_frame  # noqa: E402
from gsf_infer.inference.datatree import build_datatree, read_attrs  # noqa: E402

CHAINS, DRAWS = 2, 500
SIGMA = 0.05
#: The observed column of each kind.
OBSERVED = {
    "loss": "loss",
    "quantization": "delta_loss",
    "spectrum": "eigenvalue",
    "modes": "learned_fraction",
    "data_scaling": "loss",
}


def table() -> pd.DataFrame:
    """Two groups, two runs, two quantization units (a group with bits, a run without)."""
    rows = []
    for run, group, params in (("r1", "g1", 1e6), ("r2", "g2", 1e7)):
        for t in (10.0, 100.0, 1000.0, 1e4):
            rows.append({"kind": "loss", "run": run, "group": group, "t": t, "params": params,
                         "loss": 2.0 + 3.0 * t**-0.3, "stderr": 0.01})
    for t in (100.0, 1000.0):
        for bits in (3.0, 4.0):
            rows.append({"kind": "quantization", "run": "r1", "group": "g1", "t": t,
                         "params": 1e6, "bits": bits, "delta_loss": 0.01 * t**0.2 * 4**-bits})
    for t in (100.0, 1000.0, 1e4):  # no bits: one amplitude for run r2
        rows.append({"kind": "quantization", "run": "r2", "group": "g2", "t": t,
                     "params": 1e7, "delta_loss": 0.002 * t**0.2})
    for k in (1, 2, 4, 8, 16):
        rows.append({"kind": "spectrum", "run": "r1", "group": "g1", "k": k,
                     "eigenvalue": float(k) ** -1.4,
                     "target_power": float(k) ** -1.6 if k in (1, 4, 16) else None})
    for k, t in ((1, 10.0), (4, 100.0), (16, 1000.0)):
        rows.append({"kind": "modes", "run": "r1", "group": "g1", "k": k, "t": t,
                     "params": 1e6, "learned_fraction": 0.2 + 0.2 * math.log10(t)})
    for run, group in (("r1", "g1"), ("r2", "g2")):
        for n in (1e3, 1e4, 1e5):
            rows.append({"kind": "data_scaling", "run": run, "group": group, "samples": n,
                         "loss": 0.5 + 3.0 * n**-0.5})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def data():
    return build_model_data(records_from_frame(table(), path="tree.csv"))


def likelihood_scale(kind: str, y: np.ndarray) -> np.ndarray:
    return np.log(y / (1.0 - y)) if kind == "modes" else np.log(y)


def observed_sites(data) -> dict[str, np.ndarray]:
    """Observations of every observed site on the likelihood's scale."""
    out = {kind: likelihood_scale(kind, kd.y) for kind, kd in data.kinds.items()}
    target = data.kinds["spectrum"].x["target"]
    out["spectrum_target"] = np.log(target[np.isfinite(target)])
    return out


def draws(data, rng: np.random.Generator, chains: int = CHAINS, n: int = DRAWS) -> dict:
    """Hand-made draws of every kind of site: scalars, per group, run, unit and deviation."""
    G, R, U = data.n_groups, len(data.runs), len(data.quant_units)

    def around(centre, *shape, sd=0.05):
        return centre * np.exp(sd * rng.standard_normal((chains, n, *shape)))

    z = rng.standard_normal((chains, n, 2))
    return {
        "a": around(1.6, G), "b": around(1.4, G), "bm": around(1.4, G), "m": around(1.0, G),
        "n": around(1.25), "k_star": around(30.0, G), "K": around(1000.0, G),
        "E_frac": around(0.5, G), "E": around(1.0, G), "loss_scale": around(2.0, G),
        "quant_scale": around(0.01, U), "spectrum_scale": around(1.0, G),
        "target_scale": around(1.0, G), "E_ds_frac": around(0.5, R), "E_ds": around(0.5, R),
        "B_ds": around(3.0, R), "s": around(1.0, G), "alpha": around(0.6, G),
        "deviation_z": z, "delta_Q": 0.5 * z[..., 0], "eps_F": 0.5 * z[..., 1],
        "delta_over_rho": 0.1 * z[..., 0], "sigma_loss": around(SIGMA),
    }


def pointwise(obs: dict[str, np.ndarray], rng: np.random.Generator):
    """Predictive draws and the normal log-likelihood of the observations under draws of mu."""
    loglik, pred = {}, {}
    for site, value in obs.items():
        mu = value + 0.3 * SIGMA * rng.standard_normal((CHAINS, DRAWS, value.size))
        loglik[site] = stats.norm.logpdf(value, mu, SIGMA)
        pred[site] = mu + SIGMA * rng.standard_normal(mu.shape)
    return loglik, pred


@pytest.fixture(scope="module")
def built(data):
    rng = np.random.default_rng(3)
    obs = observed_sites(data)
    loglik, pred = pointwise(obs, rng)
    prior_pred = {k: v[:1] + rng.standard_normal(v[:1].shape) for k, v in pred.items()}
    shape = (CHAINS, DRAWS)
    stats_ = {"diverging": np.zeros(shape, dtype=bool), "lp": rng.standard_normal(shape),
              "energy": rng.standard_normal(shape), "step_size": np.full(shape, 0.1)}
    attrs = {"seed": 0, "model_settings": {"model": "deviation", "g": "monomial"},
             "scales": data.scales.as_attrs(), "runs": list(data.runs),
             "groups": list(data.groups), "quant_units": list(data.quant_units),
             "deviations": ["delta_Q", "eps_F"], "fixed_parameters": {"nu": 1.0}}
    posterior = draws(data, rng)
    prior = draws(data, rng, chains=1, n=2 * DRAWS)
    dt = build_datatree(data, posterior, stats_, loglik, pred, prior, prior_pred, attrs)
    return {"dt": dt, "posterior": posterior, "loglik": loglik, "pred": pred,
            "prior_pred": prior_pred, "attrs": attrs, "obs": obs}


def test_counts_that_could_be_confused_are_equal(data):
    # the premise of the dims regression: every count is two
    assert data.n_groups == len(data.runs) == len(data.quant_units) == 2
    assert data.quant_units == ("group:g1", "run:r2")


def test_groups_present(built):
    assert set(built["dt"].children) == {
        "posterior", "posterior_predictive", "log_likelihood", "sample_stats",
        "observed_data", "constant_data", "prior", "prior_predictive",
    }


@pytest.mark.parametrize(
    ("site", "dim"),
    [("a", "group"), ("k_star", "group"), ("K", "group"), ("E", "group"), ("s", "group"),
     ("quant_scale", "quant_unit"), ("E_ds", "run"), ("E_ds_frac", "run"), ("B_ds", "run"),
     ("deviation_z", "deviation"), ("n", None), ("delta_Q", None)],
)
def test_dims_named_by_site_not_by_size(built, data, site, dim):
    for group in ("posterior", "prior"):
        var = built["dt"][group][site]
        assert var.dims == ("chain", "draw") + ((dim,) if dim else ()), (group, site)
    var = built["dt"]["posterior"][site]
    labels = {"group": list(data.groups), "run": list(data.runs),
              "quant_unit": list(data.quant_units), "deviation": ["delta_Q", "eps_F"]}
    if dim:
        assert list(var[dim].values) == labels[dim]
    np.testing.assert_array_equal(var.values, built["posterior"][site])


def test_a_site_of_unexpected_size_keeps_generic_dims(data):
    rng = np.random.default_rng(4)
    odd = {"a": rng.standard_normal((CHAINS, DRAWS, 3))}  # three values, two groups
    dt = build_datatree(data, odd, {}, {}, {}, {}, {}, {})
    assert dt["posterior"]["a"].dims == ("chain", "draw", "a_dim_0")


def test_observed_and_predictive_in_natural_units(built, data):
    dt = built["dt"]
    for kind, kd in data.kinds.items():
        np.testing.assert_array_equal(dt["observed_data"][kind].values, kd.y)
        inverse = expit if kind == "modes" else np.exp
        for group, source in (("posterior_predictive", "pred"), ("prior_predictive",
                                                                 "prior_pred")):
            var = dt[group][kind]
            assert var.dims == ("chain", "draw", f"{kind}_obs")
            np.testing.assert_allclose(var.values, inverse(built[source][kind]), rtol=1e-14)
    target = data.kinds["spectrum"].x["target"]
    rows = np.flatnonzero(np.isfinite(target))
    np.testing.assert_array_equal(dt["observed_data"]["spectrum_target"].values, target[rows])
    np.testing.assert_array_equal(dt["observed_data"]["spectrum_target_obs"].values, rows)
    np.testing.assert_allclose(
        dt["posterior_predictive"]["spectrum_target"].values,
        np.exp(built["pred"]["spectrum_target"]), rtol=1e-14,
    )
    # the predictive is in the data's units: it lies around the observations
    pred = np.median(dt["posterior_predictive"]["loss"].values, axis=(0, 1))
    np.testing.assert_allclose(pred, data.kinds["loss"].y, rtol=0.1)


def test_spectrum_target_log_likelihood_is_added_to_the_eigenvalue(built, data):
    ll = built["dt"]["log_likelihood"]
    assert set(ll.data_vars) == set(data.kinds)  # one variable per kind: loo's pointwise unit
    rows = np.flatnonzero(np.isfinite(data.kinds["spectrum"].x["target"]))
    expected = built["loglik"]["spectrum"].copy()
    expected[..., rows] += built["loglik"]["spectrum_target"]
    np.testing.assert_allclose(ll["spectrum"].values, expected, rtol=1e-14)
    others = np.setdiff1d(np.arange(data.kinds["spectrum"].size), rows)
    np.testing.assert_array_equal(
        ll["spectrum"].values[..., others], built["loglik"]["spectrum"][..., others]
    )
    for kind in data.kinds:
        if kind != "spectrum":
            np.testing.assert_array_equal(ll[kind].values, built["loglik"][kind])


def test_constant_data_in_the_data_units(built, data):
    const = built["dt"]["constant_data"]
    frame = table()
    loss = frame[frame["kind"] == "loss"]
    np.testing.assert_allclose(const["loss_t"].values, loss["t"], rtol=1e-13)
    np.testing.assert_allclose(const["loss_params"].values, loss["params"], rtol=1e-13)
    np.testing.assert_array_equal(const["loss_stderr"].values, loss["stderr"])
    quant = frame[frame["kind"] == "quantization"]
    np.testing.assert_allclose(const["quantization_bits"].values, quant["bits"], rtol=1e-13)
    assert list(const["quantization_run"].values) == list(quant["run"])
    ds = frame[frame["kind"] == "data_scaling"]
    np.testing.assert_array_equal(const["data_scaling_samples"].values, ds["samples"])
    assert list(const["data_scaling_group"].values) == list(ds["group"])
    np.testing.assert_array_equal(const["spectrum_k"].values, [1, 2, 4, 8, 16])


def test_attributes_round_trip(built):
    attrs = read_attrs(built["dt"])
    for key, value in built["attrs"].items():
        assert attrs[key] == value, key


def test_arviz_summary_reads_the_sites(built):
    dt = built["dt"]
    table_ = az.summary(dt, var_names=["a", "quant_scale", "E_ds", "n"], ci_kind="hdi",
                        ci_prob=0.94, round_to="none")
    post = built["posterior"]
    assert table_.loc["a[g2]", "mean"] == pytest.approx(post["a"][..., 1].mean(), rel=1e-12)
    assert table_.loc["quant_scale[run:r2]", "mean"] == pytest.approx(
        post["quant_scale"][..., 1].mean(), rel=1e-12)
    assert table_.loc["E_ds[r1]", "mean"] == pytest.approx(post["E_ds"][..., 0].mean(),
                                                           rel=1e-12)
    assert table_.loc["n", "mean"] == pytest.approx(post["n"].mean(), rel=1e-12)
    assert np.isfinite(table_["ess_bulk"].to_numpy(dtype=float)).all()


@pytest.mark.parametrize("kind", ["loss", "spectrum", "modes"])
def test_arviz_loo_reads_the_pointwise_log_likelihood(built, kind):
    """PSIS-LOO of well-behaved draws equals plain importance-sampling LOO closely."""
    loo = az.loo(built["dt"], var_name=kind)
    ll = built["dt"]["log_likelihood"][kind].values.reshape(CHAINS * DRAWS, -1)
    elpd_is = np.sum(-logsumexp(-ll, axis=0) + np.log(ll.shape[0]))
    assert math.isfinite(float(loo.elpd))
    assert float(loo.elpd) == pytest.approx(elpd_is, abs=0.05)
    assert len(loo.elpd_i) == ll.shape[1]


def test_a_tree_read_back_is_in_memory_and_its_file_closed(built, tmp_path):
    from xarray.backends.file_manager import FILE_CACHE

    from gsf_infer.output.artifacts import read_datatree, write_datatree

    path = write_datatree(built["dt"], tmp_path / "posterior.nc")
    back = read_datatree(path)
    assert not [key for key in FILE_CACHE if str(path) in str(key)]  # no handle left open
    path.unlink()  # the tree does not need its file any more
    for group in ("posterior", "log_likelihood", "constant_data", "observed_data"):
        for name, var in built["dt"][group].data_vars.items():
            got = back[group][name]
            assert isinstance(got.variable._data, np.ndarray), (group, name)
            assert got.equals(var), (group, name)
    assert read_attrs(back) == read_attrs(built["dt"])
    # negative control: a tree opened lazily keeps its file in xarray's cache
    import xarray as xr

    lazy = xr.open_datatree(write_datatree(built["dt"], tmp_path / "lazy.nc"), engine="netcdf4")
    assert [key for key in FILE_CACHE if "lazy.nc" in str(key)]
    lazy.close()
