"""Tests of ``gsf_infer.simulate.nn`` and ``gsf-infer simulate nn``.

Quick settings (two narrow networks, a few hundred steps, a 64-image NTK subset): seconds, not
minutes. References are independent of the code under test: the NTK Gram matrix against the
full Jacobian of the flattened parameters (``jax.jacrev``, then ``J J^T``) and NumPy's
eigen-decomposition of it; learned fractions against gradient descent on the linearised model
run here by matrix powers; the compressions against their definitions; the records against
the format's rules through the tool's own reader and ``validate``.
"""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from jax.flatten_util import ravel_pytree
from typer.testing import CliRunner

from gsf_infer.cli import app
from gsf_infer.data.records import read_records
from gsf_infer.errors import InputError
from gsf_infer.simulate.nn import compress, network, ntk
from gsf_infer.simulate.nn.data import load_split
from gsf_infer.simulate.nn.experiment import simulate_nn
from gsf_infer.simulate.nn.settings import KINDS, NNSettings, check_settings, checkpoint_steps

#: one worker builds the module's expensive fixtures once (pytest-xdist's loadgroup)
pytestmark = pytest.mark.xdist_group("test_simulate_nn")

RUNNER = CliRunner()
QUICK = dict(
    widths=(8, 16), steps=300, checkpoints=12, ntk_subset=64, min_t=2, compress_min_t=2,
    pruning_checkpoints=3, modes=(2, 3, 4, 6), spectrum_points=10, kinds=KINDS,
)  # fmt: skip
QUICK_ARGS = [
    "--widths", "8,16", "--steps", "300", "--checkpoints", "12", "--ntk-subset", "64",
    "--min-t", "2", "--compress-min-t", "2", "--pruning-checkpoints", "3", "--modes", "2,3,4,6",
    "--spectrum-points", "10", "--kinds", ",".join(KINDS),
]  # fmt: skip


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """``simulate nn`` with quick settings and every kind, through the CLI."""
    folder = tmp_path_factory.mktemp("simnn")
    table, truth = folder / "nn.csv", folder / "nn_truth.json"
    result = RUNNER.invoke(
        app, ["simulate", "nn", "--out", str(table), "--truth", str(truth), *QUICK_ARGS]
    )
    assert result.exit_code == 0, result.output
    return table, truth, result.output


@pytest.fixture(scope="module")
def frame(written) -> pd.DataFrame:
    return read_records(str(written[0])).table


def _tiny_network(seed: int = 0, width: int = 5, depth: int = 2):
    """A small network with non-zero biases and read-out (every parameter matters)."""
    key = jax.random.key(seed)
    params = network.init_params(key, 4, width, depth, 3, readout_scale=0.7)
    keys = jax.random.split(jax.random.key(seed + 1), len(params))
    params = [
        {"w": p["w"], "b": 0.3 * jax.random.normal(k, p["b"].shape)}
        for p, k in zip(params, keys, strict=True)
    ]
    x = jax.random.normal(jax.random.key(seed + 2), (7, 4))
    return params, x


# --------------------------------------------------------------------------- the records


def test_every_kind_is_written_and_the_table_validates(written, frame):
    table, _, output = written
    assert set(frame["kind"]) == set(KINDS)
    assert frame["kind"].value_counts().min() >= 3
    assert "wrote" in output
    result = RUNNER.invoke(app, ["validate", str(table)])
    assert result.exit_code == 0, result.output


def test_values_are_finite_and_positive_where_the_format_requires(frame):
    positive = ("params", "loss", "delta_loss", "eigenvalue", "target_power", "density",
                "compute")  # fmt: skip
    for column in positive:
        values = frame[column].dropna().to_numpy(dtype=float)
        assert values.size and np.isfinite(values).all() and (values > 0).all(), column
    phi = frame["learned_fraction"].dropna().to_numpy(dtype=float)
    assert ((phi >= 0.05) & (phi <= 0.95)).all()  # inside the default margin
    assert frame["sparsity"].dropna().between(0, 1, inclusive="neither").all()
    assert (frame.loc[frame["kind"] == "spectrum", "k"] >= 2).all()
    timed = frame[frame["kind"].isin(["loss", "quantization", "pruning", "modes"])]
    assert (timed["t"] >= 2).all() and (timed["t"] <= 300).all()
    # only the widest network carries compression, modes and spectrum records
    detailed = frame[frame["kind"].isin(["quantization", "pruning", "modes", "spectrum"])]
    assert set(detailed["run"]) == {"N16_s0"}
    assert set(frame.loc[frame["kind"] == "loss", "run"]) == {"N8_s0", "N16_s0"}


def test_params_and_compute_follow_the_architecture(frame):
    # one hidden layer: (64 + 1) N + (N + 1) 10
    for width, params in frame.groupby("width")["params"].unique().items():
        assert list(params) == [75 * int(width) + 10]
    dens = frame[frame["kind"] == "density"]
    steps = dens["compute"].to_numpy(float) / dens["params"].to_numpy(float)
    assert np.allclose(steps, np.round(steps))  # compute = params x step
    counts = dens["density"].to_numpy(float) * dens["params"].to_numpy(float)
    assert np.allclose(counts, np.round(counts)) and (counts >= 1).all()


def test_truth_states_no_exponents_and_the_measured_slopes(written, frame):
    truth = json.loads(written[1].read_text())
    assert truth["a"] is None and truth["b"] is None and truth["rho"] is None
    spectrum = truth["measured_spectrum"]
    assert spectrum["kernel"] == "init" and spectrum["k_range"] == [2, 16]
    run = spectrum["per_run"]["N16_s0"]
    # the slope reported is the least-squares slope of the recorded eigenvalues' kernel
    rows = frame[frame["kind"] == "spectrum"]
    assert math.isfinite(spectrum["b"]) and spectrum["b"] == run["init"]["b"]
    lam = rows["eigenvalue"].to_numpy(float)
    assert (np.diff(lam) <= 0).all()  # sorted decreasing in k
    assert truth["records"] == frame["kind"].value_counts().to_dict()
    assert set(truth["networks"]) == {"N8_s0", "N16_s0"}
    assert truth["settings"]["widths"] == [8, 16]


def test_same_seed_same_records_other_seed_other_records():
    settings = NNSettings(**{**QUICK, "widths": (8,), "kinds": ("loss", "quantization")})
    first = simulate_nn(settings, (3,)).frame
    again = simulate_nn(settings, (3,)).frame
    pd.testing.assert_frame_equal(first, again)
    other = simulate_nn(settings, (4,)).frame
    assert not np.array_equal(first["loss"].dropna(), other["loss"].dropna())


# --------------------------------------------------------------------------- the NTK


def test_ntk_gram_matches_the_full_jacobian():
    params, x = _tiny_network()
    flat, unravel = ravel_pytree(params)
    jac = jax.jacrev(lambda theta: network.apply(unravel(theta), x, "tanh"))(flat)  # (n, C, P)
    reference = np.einsum("icp,jcp->ij", np.asarray(jac), np.asarray(jac)) / (
        jac.shape[1] * jac.shape[0]
    )
    for chunk in (256, 3):
        gram = ntk.ntk_gram(params, x, "tanh", chunk=chunk)
        np.testing.assert_allclose(gram, reference, rtol=1e-10, atol=1e-13)
    lam, vectors = ntk.eigen(ntk.ntk_gram(params, x, "tanh"))
    np.testing.assert_allclose(lam, np.sort(np.linalg.eigvalsh(reference))[::-1], rtol=1e-9,
                               atol=1e-13)  # fmt: skip
    np.testing.assert_allclose(reference @ vectors, vectors * lam, atol=1e-10)


def test_target_power_adds_up_to_the_targets_power():
    params, x = _tiny_network(seed=5)
    _, vectors = ntk.eigen(ntk.ntk_gram(params, x, "relu"))
    y = np.eye(3)[[0, 1, 2, 0, 1, 2, 0]]
    power = ntk.target_power(vectors, y)
    assert power.sum() == pytest.approx(np.sum(y**2) / len(y))


def test_learned_fractions_follow_gradient_descent_on_the_linearised_model():
    """With a kernel shared by all outputs, r_t = (I - 2 eta K)^t r_0 exactly."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(12, 12))
    gram = a @ a.T / 40
    lam, vectors = ntk.eigen(gram)
    eta = 0.4 / lam[0]
    residual0 = rng.normal(size=(12, 3))
    ks = [1, 2, 5, 9]
    for t in (1, 7, 40):
        residual = np.linalg.matrix_power(np.eye(12) - 2 * eta * gram, t) @ residual0
        phi = ntk.learned_fractions(vectors, residual0, residual0 - residual, ks)
        expected = 1 - (1 - 2 * eta * lam[np.asarray(ks) - 1]) ** t
        np.testing.assert_allclose(phi, expected, rtol=1e-8, atol=1e-12)
    assert ntk.frontier_count(np.array([0.2, 0.64, 0.9, 1 - math.exp(-1)])) == 3


def test_spectrum_slope_of_an_exact_power_law():
    k = np.arange(1, 200)
    assert ntk.spectrum_slope(k**-1.7, 2, 150) == pytest.approx(-1.7)
    assert ntk.spectrum_slope(np.ones(2), 1, 2) is None


# --------------------------------------------------------------------------- compression


def test_quantization_grid_and_error():
    w = np.random.default_rng(1).normal(size=(40, 30))
    for bits in (2, 3, 6):
        q = compress.quantize_tensor(w, bits)
        step = 2 * np.abs(w).max() / 2**bits
        assert len(np.unique(q)) <= 2**bits
        assert np.abs(q - w).max() <= step / 2 * (1 + 1e-12)
        assert np.allclose((q / step - 0.5) % 1, 0, atol=1e-9)  # on the mid-rise grid


def test_pruning_zeroes_the_smallest_magnitudes():
    w = np.random.default_rng(2).normal(size=(20, 10))
    for r in (0.25, 0.9):
        p = compress.prune_tensor(w, r)
        zeroed = p == 0
        assert zeroed.sum() == round(r * w.size)
        assert np.abs(w[zeroed]).max() <= np.abs(w[~zeroed]).min()
        np.testing.assert_array_equal(p[~zeroed], w[~zeroed])


def test_quantization_at_16_bits_costs_less_than_at_3():
    data = load_split(0.3, 0)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    params = network.init_params(jax.random.key(0), 64, 32, 1, 10, 0.1)
    *_, (_, trained) = network.train(params, x, y, [50, 200], lr=0.5, batch=128,
                                     activation="relu", rng_key=jax.random.key(1))  # fmt: skip
    x_test, y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    cost = {
        bits: compress.compression_increase(
            trained, compress.quantize(trained, bits), x_test, y_test, "relu", measure
        )
        for bits in (3, 16)
        for measure in ("loss",)
    }
    assert abs(cost[16]) < abs(cost[3])
    assert abs(cost[16]) < 1e-6 < cost[3]
    distance = [
        compress.compression_increase(trained, compress.quantize(trained, b), x_test, y_test,
                                      "relu", "distance")
        for b in (3, 16)
    ]  # fmt: skip
    assert 0 < distance[1] < distance[0]


# --------------------------------------------------------------------------- settings and CLI


def test_checkpoints_are_log_spaced_integers():
    steps = checkpoint_steps(16000, 30)
    assert steps[0] == 1 and steps[-1] == 16000 and steps == sorted(set(steps))
    assert len(steps) >= 25


def test_bad_settings_are_listed_together():
    problems = check_settings(NNSettings(lr=-1.0, widths=(8, 8), kinds=("loss", "foo")))
    text = "\n".join(str(p) for p in problems)
    assert "--lr, value -1.0: must be > 0" in text
    assert "--widths" in text and "--kinds" in text
    with pytest.raises(InputError):
        simulate_nn(NNSettings(lr=0.0))


def test_cli_bad_option_is_one_line_and_exit_2(tmp_path):
    out = tmp_path / "nn.csv"
    result = RUNNER.invoke(app, ["simulate", "nn", "--out", str(out), "--lr", "-1"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines == ["error: --lr, value -1.0: must be > 0"], result.stderr
    assert "Traceback" not in result.output and not out.exists()
    result = RUNNER.invoke(app, ["simulate", "nn", "--out", str(out), "--widths", "8,abc"])
    assert result.exit_code == 2 and result.stderr.splitlines() == [
        "error: --widths, value 'abc': must be an integer"
    ]


def test_cli_refuses_to_overwrite(written):
    table, truth, _ = written
    before = table.read_bytes()
    result = RUNNER.invoke(app, ["simulate", "nn", "--out", str(table), *QUICK_ARGS])
    assert result.exit_code == 2 and "already exists" in result.output
    assert table.read_bytes() == before
    assert read_records(str(table)).provenance["seeds"] == "0"
    assert "gsf-infer simulate nn" in read_records(str(table)).provenance["command"]
