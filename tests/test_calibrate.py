"""Tests of simulation-based calibration: ``gsf_infer.analysis.sbc`` (ranks and tests),
``gsf_infer.analysis.calibrate`` (the driver), ``gsf_infer.output.calibration`` (its files) and
``gsf-infer calibrate``.

References: an exact conjugate posterior (normal mean, known variance) whose ranks are uniform
by Talts et al.'s theorem and whose deliberately narrowed version is not; SciPy's own
chi-square goodness-of-fit on the same counts; and, in the slow tests, the gsf model's fit on
data drawn from its own prior (must be uniform) against the same fit with every noise scale
fixed at a twentieth of its prior scale (a negative control: posteriors too narrow, ranks
piled at the ends).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from gsf_infer.analysis import calibrate as cal
from gsf_infer.analysis import sbc
from gsf_infer.errors import InputError
from gsf_infer.model.priors import PriorSet

#: one worker builds the module's expensive fixtures once (pytest-xdist's loadgroup)
pytestmark = pytest.mark.xdist_group("test_calibrate")

# --------------------------------------------------------------------------- ranks and tests


def _conjugate_ranks(rng, n, count, shrink=1.0):
    """Ranks of theta ~ N(0,1) among exact posterior draws given y ~ N(theta, 1).

    The posterior is N(y/2, 1/2); ``shrink < 1`` narrows it (a wrong posterior).
    """
    theta = rng.standard_normal(n)
    y = theta + rng.standard_normal(n)
    out = []
    for t, obs in zip(theta, y, strict=True):
        draws = obs / 2 + shrink * np.sqrt(0.5) * rng.standard_normal((2, 200))
        out.append(sbc.rank_of(t, draws, count))
    return np.array(out)


def test_rank_counts_the_thinned_draws_below_the_truth():
    draws = np.arange(1000, dtype=float).reshape(2, 500)  # chain-major 0..999
    # 100 draws thinned evenly: 0, ~10.09, ..., 999
    idx = np.round(np.linspace(0, 999, 100)).astype(int)
    assert sbc.rank_of(500.5, draws, 100) == int(np.sum(idx < 500.5))
    assert sbc.rank_of(-1.0, draws, 100) == 0
    assert sbc.rank_of(1e9, draws, 100) == 100


def test_exact_posterior_gives_uniform_ranks_and_a_narrow_one_does_not(rng):
    count, bins = 99, 10
    good = sbc.uniformity_tests(_conjugate_ranks(rng, 400, count), count, bins)
    bad = sbc.uniformity_tests(_conjugate_ranks(rng, 400, count, shrink=0.5), count, bins)
    # the chi-square agrees with SciPy's goodness-of-fit test on the same counts
    ref = stats.chisquare(good["counts"])
    assert good["chi2"]["statistic"] == pytest.approx(ref.statistic)
    assert good["chi2"]["p_value"] == pytest.approx(ref.pvalue)
    assert good["chi2"]["df"] == bins - 1 and sum(good["counts"]) == 400
    assert good["chi2"]["p_value"] > 0.01 and good["ks"]["p_value"] > 0.01
    # a posterior half as wide as the truth piles ranks at both ends (a U): the rank fraction
    # is Phi(2 Z), so each end decile holds P(Z < -0.64) = 0.26 of them, 2.6x the uniform 0.1
    assert bad["chi2"]["p_value"] < 1e-6
    assert bad["counts"][0] + bad["counts"][-1] > 2 * 2 * 400 / bins


def test_chi2_bins_divide_the_rank_range_and_keep_five_per_bin():
    s = sbc.CalibrationSettings(ranks=99)
    assert s.chi2_bins(400) == 20
    assert s.chi2_bins(30) == 5
    assert s.chi2_bins(8) == 2
    assert sbc.CalibrationSettings(ranks=59, bins=6).chi2_bins(1000) == 6


def test_bad_settings_are_all_reported():
    with pytest.raises(InputError) as err:
        sbc.CalibrationSettings(simulations=0, ranks=700, bins=7).check()
    text = str(err.value)
    for option in ("--simulations", "--ranks"):
        assert option in text
    with pytest.raises(InputError) as err:
        sbc.CalibrationSettings(ranks=99, bins=7).check()
    assert "--bins" in str(err.value)


def _synthetic_table(rng, n=40, count=19):
    """A ranks table of ``n`` simulations, a quarter flagged and one failed (no ranks)."""
    ranks = {p: rng.integers(0, count + 1, n) for p in sbc.PARAMETERS}
    table = pd.DataFrame({f"rank_{p}": pd.array(r, dtype="Int64") for p, r in ranks.items()})
    table["flagged"] = np.arange(n) % 4 == 0
    table.loc[1, [f"rank_{p}" for p in sbc.PARAMETERS]] = pd.NA
    return table, ranks


def test_rank_tests_run_on_ranked_fits_and_separately_on_unflagged_ones(rng):
    settings = sbc.CalibrationSettings(ranks=19)
    table, ranks = _synthetic_table(rng)
    ranked, tests = sbc.rank_tests(table, sbc.PARAMETERS, settings)
    assert len(ranked) == 39
    keep = np.arange(40) != 1
    clean = keep & (np.arange(40) % 4 != 0)
    for p in sbc.PARAMETERS:
        assert tests[p] | {"unflagged_only": None} == sbc.uniformity_tests(
            ranks[p][keep], 19, settings.chi2_bins(39)) | {"unflagged_only": None}
        assert tests[p]["unflagged_only"] == sbc.uniformity_tests(
            ranks[p][clean], 19, settings.chi2_bins(int(clean.sum())))


def test_write_calibration_writes_the_table_the_summary_and_the_plot(rng, tmp_path):
    from gsf_infer.output.calibration import write_calibration

    settings = sbc.CalibrationSettings(ranks=19)
    table, _ = _synthetic_table(rng)
    ranked, tests = sbc.rank_tests(table, sbc.PARAMETERS, settings)
    summary = {"settings": {"ranks": 19}, "ranked": len(ranked), "misspecified": True,
               "tests": tests}
    out = write_calibration(sbc.CalibrationResult(table, tests, summary), tmp_path / "cal")
    assert {p.name for p in out.iterdir()} == {"ranks.csv", "calibration.json", "ranks.png"}
    assert json.loads((out / "calibration.json").read_text())["tests"]["a"]["n"] == 39
    back = pd.read_csv(out / "ranks.csv")
    assert list(back.columns) == list(table.columns) and back["rank_a"].isna().sum() == 1
    assert (out / "ranks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError):  # an existing folder is kept
        write_calibration(sbc.CalibrationResult(table, tests, summary), out)


def test_misspecified_priors_fix_the_named_parameters():
    priors = cal.misspecified_priors(PriorSet(), sigma=0.005)
    assert priors["sigma"].fixed and priors["sigma"].args == {"value": 0.005}
    assert not PriorSet()["sigma"].fixed
    assert priors["a"] == PriorSet()["a"]


def test_cli_rejects_bad_options_and_existing_output(tmp_path):
    from gsf_infer.cli import app

    runner = CliRunner()
    out = tmp_path / "cal"
    result = runner.invoke(
        app, ["calibrate", "--out", str(out), "--simulations", "0", "--bins", "7"]
    )
    assert result.exit_code == 2
    assert "--simulations" in result.output and "--bins" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["calibrate", "--out", str(out), "--design", "nonexistent.csv"])
    assert result.exit_code == 2 and "nonexistent.csv" in result.output
    out.mkdir()
    (out / "x").write_text("x")
    result = runner.invoke(app, ["calibrate", "--out", str(out)])
    assert result.exit_code == 2 and "exists" in result.output


# --------------------------------------------------------------------------- the fit itself

#: The test suite's SBC: the built-in ``tiny`` design (spectrum and modes: a, b and rho are
#: identified without spectral sums), short chains, 59 ranked draws (ranks 0..59, 6 bins).
SMALL = dict(
    chains=2, warmup=150, draws=150, ranks=59, num_starts=2, prior_draws=200, max_iter=500
)


@pytest.fixture(scope="module")
def tiny_design():
    return cal.design_records("tiny")


@pytest.mark.slow
def test_calibration_survives_releasing_compiled_programs(tiny_design, monkeypatch):
    """numpyro compiles its sampling loop on every run, and every compiled program holds memory
    maps: calibrate releases compiled programs before Linux's map limit and must then go on
    with a new sampler (the old one fails to rerun after JAX's caches are cleared)."""
    from gsf_infer.inference import runtime

    monkeypatch.setattr(runtime, "MAP_BUDGET", 0)  # release after every simulation
    settings = sbc.CalibrationSettings(simulations=3, seed=1, **SMALL)
    result = cal.calibrate(tiny_design, settings)
    assert result.summary["errors"] == 0, result.summary["error_messages"]
    assert result.summary["ranked"] == 3


@pytest.mark.slow
def test_sbc_of_the_fit_shows_no_rank_non_uniformity(tiny_design):
    settings = sbc.CalibrationSettings(simulations=30, seed=0, **SMALL)
    result = cal.calibrate(tiny_design, settings)
    assert result.summary["errors"] == 0
    assert result.summary["ranked"] == 30
    for p in sbc.PARAMETERS:
        test = result.tests[p]
        assert test["chi2"]["p_value"] > 0.01, (p, test)
        assert test["ks"]["p_value"] > 0.01, (p, test)


@pytest.mark.slow
def test_sbc_flags_a_fit_whose_noise_scales_are_fixed_too_small(tiny_design):
    # Negative control: data drawn with sigma ~ HalfNormal(0.1) per kind, fitted with sigma
    # fixed at 0.005: posteriors far too narrow, ranks at the ends.
    # (measured: 20 simulations gave rank counts [10, 1, 8] in 3 bins, chi-square p 0.006 to
    # 0.03, KS p 2e-6 to 3e-4; 24 give 4 bins)
    # (fitted one after the other, as measured; batches give other draws of the same law)
    settings = sbc.CalibrationSettings(simulations=24, seed=1, batch=1, **SMALL)
    wrong = cal.misspecified_priors(PriorSet(), sigma=0.005)
    result = cal.calibrate(tiny_design, settings, fit_priors=wrong)
    assert result.summary["misspecified"]
    assert result.summary["ranked"] >= 20
    p_values = [result.tests[p]["chi2"]["p_value"] for p in sbc.PARAMETERS]
    assert max(p_values) < 0.01, p_values
    for p in sbc.PARAMETERS:  # a U: the ends hold most ranks
        counts = result.tests[p]["counts"]
        assert counts[0] + counts[-1] > 0.6 * sum(counts), (p, counts)


@pytest.mark.slow
def test_cli_writes_ranks_tests_and_plot(tmp_path):
    from gsf_infer.cli import app

    out = tmp_path / "cal"
    args = [
        "calibrate", "--out", str(out), "--design", "tiny", "--simulations", "3",
        "--chains", "1", "--warmup", "60", "--draws", "60", "--ranks", "19", "--starts", "1",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    # no terminal: progress comes as lines, one per tenth of the simulations (here each)
    lines = [line for line in result.output.splitlines() if line.startswith("calibrate: ")]
    assert [line.split(" (")[0] for line in lines] == [
        f"calibrate: {i}/3 simulations fitted" for i in (1, 2, 3)
    ]
    assert {p.name for p in out.iterdir()} == {"ranks.csv", "calibration.json", "ranks.png"}
    summary = json.loads((out / "calibration.json").read_text())
    assert summary["simulations"] == 3 and summary["settings"]["ranks"] == 19
    assert set(summary["tests"]) == set(sbc.PARAMETERS)
    ranks = pd.read_csv(out / "ranks.csv")
    assert len(ranks) == 3
    ranked = ranks.dropna(subset=["rank_a"])
    assert ranked["rank_a"].between(0, 19).all()
    assert (out / "ranks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
