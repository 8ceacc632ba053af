"""Tests of ``gsf_infer.simulate.gsf`` and ``gsf-infer simulate gsf``.

The noiseless records are checked against plain NumPy/SciPy evaluations of the forward laws
(docs/theory.md) written here (direct sums over modes, the Hurwitz zeta tail, the closed-form
monomial frontier), not against :mod:`gsf_infer.model.forward`; the truth file against
:mod:`gsf_infer.model.forward.derived`; the noise against its stated distribution.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import zeta
from typer.testing import CliRunner

from gsf_infer import __version__
from gsf_infer.cli import app
from gsf_infer.cli.simulate import command
from gsf_infer.cli.simulate import gsf as gsf_command
from gsf_infer.cli.simulate import nn as nn_command
from gsf_infer.data.records import read_records, records_from_frame
from gsf_infer.errors import InputError
from gsf_infer.model.forward import derived
from gsf_infer.model.forward.families import GParams, get_family
from gsf_infer.model.forward.laws import Spectrum
from gsf_infer.simulate.gsf import DEFAULT_KINDS, GsfSimConfig, simulate_gsf
from gsf_infer.simulate.nn.settings import NNSettings

RUNNER = CliRunner()
ALL_KINDS = "loss,quantization,pruning,density,spectrum,modes,data_scaling"
DEFAULT_COUNTS = {"loss": 300, "quantization": 48, "pruning": 60, "density": 40, "spectrum": 45}


def _invoke(*args: str):
    return RUNNER.invoke(app, ["simulate", "gsf", *args])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Default output (twice, same seed), another seed, noiseless, and all seven kinds."""
    folder = tmp_path_factory.mktemp("simgsf")
    out = {}
    for name, extra in (
        ("default", []),
        ("again", []),
        ("seed1", ["--seed", "1"]),
        ("exact", ["--noise", "0"]),
        ("all", ["--kinds", ALL_KINDS]),
        ("all_exact", ["--kinds", ALL_KINDS, "--noise", "0"]),
    ):
        table, truth = folder / f"{name}.csv", folder / f"{name}.json"
        result = _invoke("--out", str(table), "--truth", str(truth), *extra)
        assert result.exit_code == 0, result.output
        out[name] = (table, truth, result.output)
    return out


def _frame(path: Path) -> pd.DataFrame:
    return read_records(str(path)).table


# --------------------------------------------------------------------------- the CLI


def test_default_output_validates_with_five_kinds(files) -> None:
    table, _, output = files["default"]
    assert "wrote 493 records" in output
    result = RUNNER.invoke(app, ["validate", str(table)])
    assert result.exit_code == 0, result.output
    records = read_records(str(table))
    assert records.counts() == DEFAULT_COUNTS
    assert records.excluded == {}
    assert set(records.table["run"]) == {
        "P1e+06",
        "P3e+06",
        "P1e+07",
        "P3e+07",
        "P1e+08",
        "spectrum",
    }
    prov = records.provenance
    assert prov["version"] == __version__ and prov["seed"] == "0" and prov["family"] == "monomial"
    assert prov["command"].startswith(f"gsf-infer simulate gsf --out {table} --truth ")
    assert "--a 1.6 --b 1.4 --m 1 --n 1.25" in prov["command"]


def test_all_seven_kinds_validate(files) -> None:
    table, truth, _ = files["all"]
    assert RUNNER.invoke(app, ["validate", str(table)]).exit_code == 0
    records = read_records(str(table))
    counts = records.counts()
    assert list(counts) == list(DEFAULT_COUNTS) + ["modes", "data_scaling"]
    assert {k: counts[k] for k in DEFAULT_COUNTS} == DEFAULT_COUNTS
    assert counts["data_scaling"] == 15
    known = json.loads(Path(truth).read_text())
    # every mode-time pair is either kept or counted as dropped, and the header says so
    assert counts["modes"] + known["dropped"]["modes"] == 11 * 10
    assert records.provenance["dropped"].startswith(f"modes: {known['dropped']['modes']} records")
    phi = records.table.loc[records.table["kind"] == "modes", "learned_fraction"]
    assert phi.between(0.0, 1.0, inclusive="neither").all()


def test_same_seed_same_file_other_seed_other_file(files) -> None:
    default, again, seed1 = (files[k][0].read_bytes() for k in ("default", "again", "seed1"))
    assert default.replace(b"default.", b"X.") == again.replace(b"again.", b"X.")
    assert files["default"][1].read_text().replace("default", "X") == files["again"][
        1
    ].read_text().replace("again", "X")
    a, b = _frame(files["default"][0]), _frame(files["seed1"][0])
    assert (a["loss"].dropna().to_numpy() != b["loss"].dropna().to_numpy()).all()
    # the inputs are the same, only the noise differs
    np.testing.assert_array_equal(a["t"].to_numpy(), b["t"].to_numpy())


def test_refuses_to_overwrite(files, tmp_path) -> None:
    table, truth, _ = files["default"]
    before = table.read_bytes()
    result = _invoke("--out", str(table))
    assert result.exit_code == 2
    assert "already exists; pass --force" in result.output
    assert table.read_bytes() == before
    # the truth file is protected too, and nothing is written when it is in the way
    fresh = tmp_path / "fresh.csv"
    result = _invoke("--out", str(fresh), "--truth", str(truth))
    assert result.exit_code == 2 and not fresh.exists()
    # --force overwrites
    result = _invoke("--out", str(fresh), "--seed", "3", "--kinds", "spectrum")
    assert result.exit_code == 0
    result = _invoke("--out", str(fresh), "--force", "--seed", "4", "--kinds", "spectrum")
    assert result.exit_code == 0 and read_records(str(fresh)).provenance["seed"] == "4"


def test_bad_options_are_listed_together(tmp_path) -> None:
    out = tmp_path / "bad.csv"
    result = _invoke(
        "--out", str(out), "--a", "0.9", "--kinds", "loss,foo", "--sizes", "1e6,x",
        "--family", "lazy", "--sparsity-max", "1.5", "--bits", "3.5",
    )  # fmt: skip
    assert result.exit_code == 2
    for text in (
        "--a, value 0.9: must be a number > 1",
        "--kinds, value 'foo': unknown kind",
        "--sizes, value 'x': must be a number",
        "--family, value 'lazy': unknown g family",
        "--sparsity-min",
        "--bits, value '3.5': must be an integer",
    ):
        assert text in result.output
    assert not out.exists()
    assert _invoke("--out", str(tmp_path / "x.txt")).exit_code == 2


# --------------------------------------------------------------------------- the values


def _reference(cfg: GsfSimConfig, frame: pd.DataFrame) -> np.ndarray:
    """The forward laws for a monomial g, straight in NumPy, for every row of ``frame``."""
    a, b, m, n, c, A, Lam = cfg.a, cfg.b, cfg.m, cfg.n, cfg.c, cfg.A, cfg.Lam
    out = np.full(len(frame), np.nan)
    cache: dict[int, tuple] = {}

    def modes(K: float):
        kmax = int(np.ceil(K))
        if kmax not in cache:
            k = np.arange(1, kmax + 1, dtype=float)
            cache[kmax] = (k, Lam * k**-b)
        return cache[kmax]

    def phi(lam, t):
        return -np.expm1(-c * lam**m * t**n)

    for i, row in enumerate(frame.itertuples()):
        if row.kind in ("loss", "quantization", "pruning"):
            K = cfg.kappa * row.params**cfg.nu
            assert float(K).is_integer()  # default sizes: integer capacities
            k, lam = modes(K)
            f = phi(lam, row.t)
            if row.kind == "loss":
                out[i] = cfg.E + A * np.sum(k**-a * (1 - f) ** 2) + A * zeta(a, K + 1)
            elif row.kind == "quantization":
                sigma2 = cfg.sigma0_sq * 4.0 ** (-row.bits)
                out[i] = sigma2 * A / Lam * np.sum(k ** (b - a) * f**2)
            else:
                # mode k spans [k - 1/2, k + 1/2]; the pruned range is [k_cut + 1/2, K + 1/2]
                w = np.clip(k - (1 - row.sparsity) * K, 0.0, 1.0)
                out[i] = cfg.pruning_scale * A / Lam * np.sum(w * k ** (b - a) * f**2)
        elif row.kind == "density":
            t = row.compute / row.params
            k_star = (c * t**n) ** (1 / (m * b)) * Lam ** (1 / b)  # c (Lam k^-b)^m t^n = 1
            out[i] = cfg.density_scale * min(k_star, cfg.kappa * row.params**cfg.nu) / row.params
        elif row.kind == "spectrum":
            out[i] = Lam * row.k**-b
        elif row.kind == "modes":
            out[i] = phi(Lam * row.k**-b, row.t)
        elif row.kind == "data_scaling":
            alpha = 2 * cfg.s / (2 * cfg.s + 1 / b)
            out[i] = cfg.E_ds + cfg.B_ds * row.samples**-alpha
    return out


def _observed(frame: pd.DataFrame) -> np.ndarray:
    col = {"loss": "loss", "quantization": "delta_loss", "pruning": "delta_loss",
           "density": "density", "spectrum": "eigenvalue", "modes": "learned_fraction",
           "data_scaling": "loss"}  # fmt: skip
    return np.array([getattr(r, col[r.kind]) for r in frame.itertuples()])


def test_noiseless_values_are_the_exact_laws(files) -> None:
    frame = _frame(files["all_exact"][0])
    cfg = GsfSimConfig()
    want = _reference(cfg, frame)
    got = _observed(frame)
    # the same sums in another order (up to 1e5 terms) and the CSV's 17 significant digits:
    # 1e-11 relative
    np.testing.assert_allclose(got, want, rtol=1e-11)
    spec = frame[frame["kind"] == "spectrum"]
    np.testing.assert_allclose(spec["target_power"], cfg.A * spec["k"] ** -cfg.a, rtol=1e-14)
    # the grids the defaults promise
    loss = frame[frame["kind"] == "loss"]
    np.testing.assert_allclose(np.sort(loss["t"].unique()), np.geomspace(10, 1e5, 60), rtol=1e-9)
    prune = frame[frame["kind"] == "pruning"]
    assert sorted(prune["t"].unique()) == [1e2, 1e3, 1e4, 1e5]
    r = np.sort(prune["sparsity"].unique())
    assert r.size == 15 and r[0] == 0.05 and r[-1] == 0.995
    np.testing.assert_allclose(np.diff(np.log(1 - r)), np.log(0.005 / 0.95) / 14, rtol=1e-8)
    quant = frame[frame["kind"] == "quantization"]
    assert sorted(quant["bits"].unique()) == [3, 4, 5, 6] and (quant["params"] == 1e8).all()
    ks = np.sort(spec["k"].to_numpy())
    assert ks.size == 45 and ks[0] == 1 and ks[-1] == 10_000 and np.unique(ks).size == 45


def test_noise_is_log_normal_with_the_stated_sd(files) -> None:
    noisy, exact = _frame(files["all"][0]), _frame(files["all_exact"][0])
    observed = ["loss", "delta_loss", "density", "eigenvalue", "target_power", "learned_fraction"]
    # the same records, inputs included; only the observed values differ
    pd.testing.assert_frame_equal(
        noisy.drop(columns=[*observed, "line"]), exact.drop(columns=[*observed, "line"])
    )
    ratio = np.log(_observed(noisy) / _observed(exact))
    is_modes = (noisy["kind"] == "modes").to_numpy()
    # on logit for modes
    p1, p0 = _observed(noisy)[is_modes], _observed(exact)[is_modes]
    logit = np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0))
    z = np.concatenate([ratio[~is_modes], logit]) / 0.02
    z = np.concatenate(
        [z, np.log(noisy["target_power"].dropna() / exact["target_power"].dropna()) / 0.02]
    )
    n = z.size
    # N(0, 1) scores: mean within 4/sqrt(n), sd within 4 sqrt(1/(2n)) of 1
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.std() - 1.0) < 4 / np.sqrt(2 * n)


def test_truth_agrees_with_the_forward_module(files) -> None:
    truth = json.loads(files["all"][1].read_text())
    assert truth["version"] == __version__ and truth["seed"] == 0 and truth["family"] == "monomial"
    cfg = GsfSimConfig()
    p = truth["parameters"]
    for name in ("a", "b", "m", "n", "c", "A", "Lam", "E", "kappa", "nu", "sigma0_sq",
                 "pruning_scale", "density_scale", "s", "E_ds", "B_ds"):  # fmt: skip
        assert p[name] == getattr(cfg, name), name
    ex = derived.exponents(
        Spectrum(1.6, 1.4, 1.0, 1.0), GParams(1.0, 1.0, 1.25), get_family("monomial")
    )
    got = truth["exponents"]
    assert got["rho"] == pytest.approx(float(ex.rho), rel=1e-14) == pytest.approx(1.25)
    assert got["chi"] == pytest.approx(float(ex.chi), rel=1e-14)
    assert got["gamma"] == pytest.approx(float(ex.gamma), rel=1e-14)
    assert got["rho_over_b"] == pytest.approx(float(ex.rho_over_b), rel=1e-14)
    assert got["pruning_slope"] == pytest.approx(1 + 1.4 - 1.6, rel=1e-12)
    assert got["alpha"] == pytest.approx(2 / (2 + 1 / 1.4), rel=1e-14)
    assert got["saturated"] is False and got["invariant_holds"] is True
    assert got["chi"] + got["gamma"] == pytest.approx(got["rho"], rel=1e-12)
    records = read_records(str(files["all"][0]))
    assert truth["records"] == records.counts()
    assert truth["settings"]["kinds"] == ALL_KINDS.split(",")
    assert truth["settings"]["noise"] == 0.02 and truth["settings"]["sizes"] == list(cfg.sizes)
    assert truth["capacities"] == {
        "P1e+06": 1e3,
        "P3e+06": 3e3,
        "P1e+07": 1e4,
        "P3e+07": 3e4,
        "P1e+08": 1e5,
    }
    # the frontier runs from ~8 to ~3e4 modes over the loss grid, as the defaults intend
    k0, k1 = truth["frontier"]["k_star"]
    assert 5 < k0 < 12 and 2e4 < k1 < 4e4
    r_star = truth["pruning_critical_rate"]["r_star"]
    assert r_star == sorted(r_star, reverse=True) and r_star[-1] == 0.0


# --------------------------------------------------------------------------- the library


SMALL = dict(
    sizes=(1e4, 1e5), loss_points=6, quantization_points=4, bits=(4, 6), sparsity_points=5,
    pruning_size=1e5, pruning_times=(1e2, 1e4), density_points=4, spectrum_points=10,
    spectrum_k_max=100.0, modes_points=5, data_points=5, kappa=1e-2,
)  # fmt: skip


@pytest.mark.parametrize("family", ["ntk", "feature", "logcorr", "ridge"])
def test_other_families_give_valid_records(family: str) -> None:
    cfg = GsfSimConfig(family=family, kinds=tuple(ALL_KINDS.split(",")), **SMALL)
    frame, truth = simulate_gsf(cfg, np.random.default_rng(5))
    records = records_from_frame(frame)
    assert set(records.counts()) == set(ALL_KINDS.split(","))
    fam = get_family(family)
    m_eff, n_eff = (float(v) for v in fam.effective(GParams(m=cfg.m, n=cfg.n)))
    assert truth["parameters"]["m"] == m_eff and truth["parameters"]["n"] == n_eff
    if family in ("logcorr", "ridge"):
        rho = truth["rho_of_t"]["rho"]
        assert len(rho) == 6 and np.ptp(rho) > 0  # rho moves with t for these families
    else:
        assert truth["exponents"]["rho"] == pytest.approx(n_eff / m_eff)
        assert "rho_of_t" not in truth
    assert set(truth["unused_by_family"]) == {"m", "n", "tau", "kap"} - set(fam.shape)


def test_function_pruning_metric_and_scale() -> None:
    base = dict(SMALL, kinds=("pruning",), noise=0.0)
    seed_frame, _ = simulate_gsf(GsfSimConfig(**base), np.random.default_rng(0))
    func_frame, truth = simulate_gsf(
        GsfSimConfig(**base, pruning_metric="function", pruning_scale=2e-3),
        np.random.default_rng(0),
    )
    assert truth["pruning_metric"] == "function" and truth["parameters"]["pruning_scale"] == 2e-3
    K = 1e-2 * 1e5
    k = np.arange(1, int(K) + 1, dtype=float)
    for row, seed_row in zip(func_frame.itertuples(), seed_frame.itertuples(), strict=True):
        f = -np.expm1(-(k**-1.4) * row.t**1.25)
        w = np.clip(k - (1 - row.sparsity) * K, 0.0, 1.0)
        assert row.delta_loss == pytest.approx(2e-3 * np.sum(w * k**-1.6 * f**2), rel=1e-11)
        assert seed_row.delta_loss == pytest.approx(1e-3 * np.sum(w * k**-0.2 * f**2), rel=1e-11)


def test_each_kind_has_its_own_noise_stream() -> None:
    """Switching a kind on leaves the noise of the others unchanged."""
    one, _ = simulate_gsf(GsfSimConfig(**SMALL, kinds=("loss",)), np.random.default_rng(9))
    many, _ = simulate_gsf(
        GsfSimConfig(**SMALL, kinds=("spectrum", "modes", "loss")), np.random.default_rng(9)
    )
    np.testing.assert_array_equal(
        one["loss"].to_numpy(), many.loc[many["kind"] == "loss", "loss"].to_numpy()
    )
    assert list(many["kind"].unique()) == ["loss", "spectrum", "modes"]  # the schema's kind order


def test_bad_config_raises_input_error_naming_options() -> None:
    with pytest.raises(InputError) as info:
        simulate_gsf(
            GsfSimConfig(b=1.0, noise=-1.0, loss_points=2, modes_k=(0,), t_min=1e6),
            np.random.default_rng(0),
        )
    paths = {p.path for p in info.value.problems}
    assert paths == {"--b", "--noise", "--loss-points", "--modes-k", "--t-min"}


def test_default_config_is_the_bundled_example_setting() -> None:
    cfg = GsfSimConfig()
    assert cfg.kinds == DEFAULT_KINDS
    assert (cfg.family, cfg.a, cfg.b, cfg.m, cfg.n) == ("monomial", 1.6, 1.4, 1.0, 1.25)
    assert cfg.capacity(1e6) == 1e3 and cfg.capacity(1e8) == 1e5


# --------------------------------------------------------------------------- the command's table


def _cli_defaults(name: str) -> dict:
    """The ``simulate <name>`` defaults as the command line parses them into settings."""
    options = {"gsf": gsf_command.OPTIONS, "nn": nn_command.OPTIONS}[name]
    typed = {opt.name: opt.default for opt in options}
    values, problems = command.parse_options(options, typed, lambda field: None)
    assert problems == []
    return values


def test_cli_defaults_are_the_library_defaults() -> None:
    for name, settings in (("gsf", GsfSimConfig()), ("nn", NNSettings())):
        values = _cli_defaults(name)
        for field in fields(settings):
            assert values[field.name] == getattr(settings, field.name), (name, field.name)


def test_option_table_reads_types_notes_and_help() -> None:
    options = command.parse_table(
        """
--out (shared)
--count 3
    How many
    (wrapped).
--rate 1e-3
--flag True
--sizes 1,2 (ints)
--dim (optional int)
    Width [default: all].
"""
    )
    by_flag = {opt.flag: opt for opt in options}
    assert by_flag["--out"] is command.SHARED["--out"]
    assert by_flag["--count"].default == 3 and by_flag["--count"].help == "How many (wrapped)."
    assert by_flag["--rate"].annotation is float and by_flag["--flag"].default is True
    assert by_flag["--sizes"].default == "1,2" and by_flag["--sizes"].note == "ints"
    assert by_flag["--dim"].default is None and not by_flag["--dim"].show_default
    with pytest.raises(ValueError, match="not an option line"):
        command.parse_table("--count 3 (integer)\n    A typo in the note.")
