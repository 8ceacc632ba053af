"""Standardisation of records (:mod:`gsf_infer.data.dataset`) and its inverse, without JAX.

The reference values are recomputed here from the records table (geometric means, the mean of
``bits``); the model's covariates multiplied back by them must give the data's units; and
rescaling the unit of ``t``, ``params`` or ``samples`` must move only the reference values,
never the standardized arrays the model sees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsf_infer.data.dataset import Scales, build_model_data, compute_scales, kind_inputs
from gsf_infer.data.records import records_from_frame
from gsf_infer.errors import InputError


def table() -> pd.DataFrame:
    """Every kind, two groups, runs with and without ``params``, ``bits`` and ``samples``."""
    t = np.array([10.0, 100.0, 1000.0, 1e4])
    rows: list[dict] = []
    for run, params, group in (("small", 1e6, "g1"), ("large", 1e8, "g1"), ("other", None, "g2")):
        for ti in t:
            row = {"kind": "loss", "run": run, "group": group, "t": ti,
                   "loss": 2.0 + 5.0 * ti**-0.3}
            if params is not None:
                row["params"] = params
            rows.append(row)
    for bits in (3.0, 4.0, 8.0, None):  # the last: a run-level amplitude (no bits)
        for ti in t[1:]:
            row = {"kind": "quantization", "run": "large" if bits else "q-run", "group": "g1",
                   "t": ti, "params": 1e8, "delta_loss": 0.01 * ti**0.2}
            if bits is not None:
                row["bits"] = bits
            rows.append(row)
    for r in (0.1, 0.5, 0.9):
        rows.append({"kind": "pruning", "run": "large", "group": "g1", "t": 1000.0,
                     "params": 1e8, "sparsity": r, "delta_loss": 0.02 * (1 - r) ** -0.4})
    for params in (1e6, 1e8):
        for compute in (1e9, 1e11, 1e13):
            rows.append({"kind": "density", "run": f"d{params:g}", "group": "g1",
                         "compute": compute, "params": params, "density": 1e-3})
    for k in (1, 3, 10, 30):
        rows.append({"kind": "spectrum", "run": "spec", "group": "g1", "k": k,
                     "eigenvalue": float(k) ** -1.4,
                     "target_power": float(k) ** -1.6 if k != 3 else None})
    for k, ti in ((1, 10.0), (4, 100.0), (16, 1000.0)):
        rows.append({"kind": "modes", "run": "large", "group": "g1", "k": k, "t": ti,
                     "params": 1e8, "learned_fraction": 0.5})
    for run, scale in (("ds-a", 1.0), ("ds-b", 50.0)):
        for n in (1e3, 1e4, 1e5):
            rows.append({"kind": "data_scaling", "run": run, "group": "g2",
                         "samples": scale * n, "loss": 0.5 + 3.0 * n**-0.5})
    return pd.DataFrame(rows)


def validated(frame: pd.DataFrame, prediction: bool = False):
    return records_from_frame(frame, path="units.csv", prediction=prediction)


def geomean(values) -> float:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(np.exp(np.mean(np.log(values))))


def test_scales_are_the_data_references():
    frame = table()
    scales = compute_scales(validated(frame).table)
    uses_t = frame["kind"].isin(["loss", "quantization", "pruning", "modes"])
    assert scales.t_ref == pytest.approx(geomean(frame.loc[uses_t, "t"]), rel=1e-13)
    assert scales.params_ref == pytest.approx(geomean(frame["params"]), rel=1e-13)
    assert scales.k_ref == pytest.approx(geomean(frame.loc[frame["kind"] == "spectrum", "k"]))
    assert scales.bits_ref == pytest.approx(np.mean([3.0] * 3 + [4.0] * 3 + [8.0] * 3))
    ds = frame[frame["kind"] == "data_scaling"]
    assert scales.samples_ref == pytest.approx(
        {run: geomean(part["samples"]) for run, part in ds.groupby("run")}, rel=1e-13
    )


def test_scales_without_times_come_from_density():
    frame = table()
    dens = frame[frame["kind"] == "density"]
    scales = compute_scales(validated(dens.reset_index(drop=True)).table)
    assert scales.t_ref == pytest.approx(geomean(dens["compute"] / dens["params"]), rel=1e-13)
    assert (scales.k_ref, scales.bits_ref, scales.samples_ref) == (1.0, 0.0, {})


def test_covariates_times_scales_are_the_data():
    frame = table()
    records = validated(frame)
    data = build_model_data(records)
    s = data.scales
    tab = records.table
    for kind, kd in data.kinds.items():
        rows = tab[tab["kind"] == kind]
        x = kd.x
        np.testing.assert_array_equal(kd.line, rows["line"].to_numpy())
        params = rows["params"].to_numpy(dtype=float)
        has = np.isfinite(params)
        np.testing.assert_array_equal(x["has_params"], has.astype(float))
        np.testing.assert_allclose(x["params"][has] * s.params_ref, params[has], rtol=1e-13)
        np.testing.assert_array_equal(x["params"][~has], 1.0)  # missing: the reference size
        if kind in ("loss", "quantization", "pruning", "modes"):
            np.testing.assert_allclose(x["t"] * s.t_ref, rows["t"].to_numpy(float), rtol=1e-13)
        if kind == "density":
            compute = x["t"] * s.t_ref * x["params"] * s.params_ref
            np.testing.assert_allclose(compute, rows["compute"].to_numpy(float), rtol=1e-13)
        if kind == "quantization":
            bits = rows["bits"].to_numpy(dtype=float)
            with_bits = np.isfinite(bits)
            np.testing.assert_array_equal(x["has_bits"], with_bits.astype(float))
            np.testing.assert_allclose(x["bits"][with_bits] + s.bits_ref, bits[with_bits])
            np.testing.assert_array_equal(x["bits"][~with_bits], 0.0)
            units = [data.quant_units[u] for u in x["unit"]]
            assert units == [
                "group:g1" if b else "run:q-run" for b in with_bits
            ]
        if kind == "spectrum":
            np.testing.assert_array_equal(x["k"], rows["k"].to_numpy(float))
            np.testing.assert_allclose(x["k_std"] * s.k_ref, x["k"], rtol=1e-13)
            target = rows["target_power"].to_numpy(float)
            np.testing.assert_array_equal(np.isnan(x["target"]), np.isnan(target))
        if kind == "data_scaling":
            ref = np.array([s.samples_ref[r] for r in rows["run"]])
            np.testing.assert_allclose(x["samples"] * ref, rows["samples"].to_numpy(float),
                                       rtol=1e-13)
            np.testing.assert_array_equal(x["samples_raw"], rows["samples"].to_numpy(float))
        # indices name the right run and group
        assert [data.runs[i] for i in kd.run] == list(rows["run"])
        assert [data.groups[i] for i in kd.group] == list(rows["group"])
        np.testing.assert_array_equal(kd.y, rows[{
            "quantization": "delta_loss", "pruning": "delta_loss", "density": "density",
            "spectrum": "eigenvalue", "modes": "learned_fraction",
        }.get(kind, "loss")].to_numpy(float))


def test_floors_and_centres():
    frame = table()
    data = build_model_data(validated(frame))
    loss = frame[frame["kind"] == "loss"]
    assert data.groups == ("g1", "g2")
    np.testing.assert_allclose(
        data.loss_floor, [loss.loc[loss["group"] == g, "loss"].min() for g in data.groups]
    )
    assert data.centers["loss"] == pytest.approx(np.median(np.log(loss["loss"])))
    target = frame.loc[frame["kind"] == "spectrum", "target_power"].dropna()
    assert data.centers["spectrum_target"] == pytest.approx(np.median(np.log(target)))
    assert data.centers["modes"] == 0.0


def rescaled(frame: pd.DataFrame, t: float, params: float, samples: float) -> pd.DataFrame:
    """The same records with ``t``, ``params`` and ``samples`` in other units."""
    out = frame.copy()
    out["t"] = out["t"] * t
    out["params"] = out["params"] * params
    out["compute"] = out["compute"] * params * t  # compute is params x time
    out["samples"] = out["samples"] * samples
    return out


def arrays(data) -> dict[str, np.ndarray]:
    flat = {}
    for kind, x in kind_inputs(data).items():
        for name, value in x.items():
            if name != "samples_raw":  # the raw counts, kept for the DataTree
                flat[f"{kind}.{name}"] = np.asarray(value)
    return flat


UNIT = st.floats(min_value=1e-6, max_value=1e6).filter(lambda v: abs(np.log10(v)) > 1e-3)


@settings(max_examples=20, deadline=None)
@given(t=UNIT, params=UNIT, samples=UNIT)
def test_rescaling_units_moves_only_the_scales(t, params, samples):
    frame = table()
    base = build_model_data(validated(frame))
    moved = build_model_data(validated(rescaled(frame, t, params, samples)))
    assert moved.scales.t_ref == pytest.approx(t * base.scales.t_ref, rel=1e-12)
    assert moved.scales.params_ref == pytest.approx(params * base.scales.params_ref, rel=1e-12)
    assert moved.scales.samples_ref == pytest.approx(
        {run: samples * ref for run, ref in base.scales.samples_ref.items()}, rel=1e-12
    )
    assert (moved.scales.k_ref, moved.scales.bits_ref) == (base.scales.k_ref,
                                                           base.scales.bits_ref)
    a, b = arrays(base), arrays(moved)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-11, atol=0, err_msg=name)
    assert (moved.runs, moved.groups, moved.quant_units) == (base.runs, base.groups,
                                                             base.quant_units)


def test_new_records_are_standardized_with_the_fitted_scales():
    """Prediction: a subset standardized with the fit's scales and names gives the same rows."""
    frame = table()
    fitted = build_model_data(validated(frame))
    names = {"runs": fitted.runs, "groups": fitted.groups, "quant_units": fitted.quant_units}
    pick = frame.index[(frame["kind"] != "spectrum") & (np.arange(len(frame)) % 3 == 0)]
    subset = frame.loc[pick].reset_index(drop=True)
    new = build_model_data(validated(subset, True), scales=fitted.scales, names=names)
    assert new.scales == fitted.scales
    for kind, kd in new.kinds.items():
        full = fitted.kinds[kind]
        rows = np.flatnonzero(np.isin(frame.index[frame["kind"] == kind], pick))
        for name, value in kd.x.items():
            np.testing.assert_allclose(value, full.x[name][rows], rtol=1e-14, err_msg=name)
        np.testing.assert_array_equal(kd.run, full.run[rows])
        np.testing.assert_array_equal(kd.group, full.group[rows])


def test_new_records_of_an_unfitted_run_or_group_are_refused():
    frame = table()
    fitted = build_model_data(validated(frame))
    names = {"runs": fitted.runs, "groups": fitted.groups, "quant_units": fitted.quant_units}
    ds = frame[frame["kind"] == "data_scaling"].head(2).assign(run="unseen")
    with pytest.raises(InputError, match="unknown run"):
        build_model_data(validated(ds.reset_index(drop=True), True), fitted.scales, names)
    loss = frame[frame["kind"] == "loss"].head(2).assign(group="unseen")
    with pytest.raises(InputError, match="unknown group"):
        build_model_data(validated(loss.reset_index(drop=True), True), fitted.scales, names)
    # a loss record of a new run is fine: no loss parameter belongs to a run
    loss = frame[frame["kind"] == "loss"].head(2).assign(run="unseen")
    new = build_model_data(validated(loss.reset_index(drop=True), True), fitted.scales, names)
    assert new.kinds["loss"].size == 2


def test_scales_round_trip_through_attributes():
    scales = build_model_data(validated(table())).scales
    assert Scales(**scales.as_attrs()) == scales
