"""The example analyses in ``examples/`` run from the repository in ``--quick`` mode.

Each test runs one script in a fresh process (as a user would, ``python examples/<name>.py
--quick --out DIR``) and checks its ``results.json`` against numbers that do not come from the
script: Epoch's published re-fit of the Chinchilla points (Besiroglu et al. 2024), and counts
recomputed here from the raw files with the standard library's csv/json readers. Slow: each runs
NUTS (small chains).
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gsf_infer.output.artifacts import safe_name

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = ROOT / "data"
#: Epoch's re-fit (Besiroglu et al. 2024, arXiv:2404.10102), as the issue states it.
EPOCH = {"E": 1.817, "alpha": 0.348, "beta": 0.366}

pytestmark = pytest.mark.slow


def run_example(name: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("GSF_INFER_DATA", None)
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--out", str(out), *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def results(out: Path) -> dict:
    assert (out / "results.md").is_file()
    return json.loads((out / "results.json").read_text())


def holdout_coverage(*files: Path) -> tuple[int, float]:
    """Rows and coverage of ``holdout.csv`` files (``covered`` true or false; comments skipped)."""
    covered = []
    for path in files:
        lines = [x for x in path.read_text().splitlines() if not x.startswith("#")]
        covered += [row["covered"] for row in csv.DictReader(lines)]
    flags = [c == "True" for c in covered if c in ("True", "False")]
    return len(covered), sum(flags) / len(flags)


def finite_interval(entry: dict) -> bool:
    return all(math.isfinite(entry[k]) for k in ("mean", "hdi_low", "hdi_high")) and (
        entry["hdi_low"] <= entry["mean"] <= entry["hdi_high"]
    )


def test_chinchilla_quick_covers_epoch_and_refuses_existing_output(tmp_path):
    out = tmp_path / "chinchilla"
    proc = run_example("chinchilla", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = results(out)
    fit = r["chinchilla"]["fit_chinchilla_student"]
    assert fit["records"] == 245
    for name, value in EPOCH.items():
        entry = fit["parameters"][name]
        assert finite_interval(entry), name
        assert entry["hdi_low"] <= value <= entry["hdi_high"], (name, entry)
    assert r["acceptance_met"] is True
    # the gsf model on the same records, compared by ELPD-LOO, and the extrapolation
    assert finite_interval(r["gsf"]["chi"]) and finite_interval(r["gsf"]["a"])
    assert {row["name"] for row in r["loo_chinchilla_vs_gsf"]["models"]} == {"chinchilla", "gsf"}
    hold = r["holdout"]["chinchilla"]
    raw = csv_rows(DATA / "epoch_chinchilla_svg" / "svg_extracted_data.csv")
    assert hold["rows"] == sum(float(row["Model Size"]) >= 1e9 for row in raw)
    # the summary's coverage is that of the written holdout table
    rows, coverage = holdout_coverage(out / "holdout_chinchilla_student" / "holdout.csv")
    assert rows == hold["rows"] and hold["coverage"] == pytest.approx(coverage, abs=1e-12)
    # the residual statement's counts, against the raw table (tokens = FLOP / 6N)
    tails = r["residual_tails"]
    under = sum(float(row["Training FLOP"]) / 6 < float(row["Model Size"]) ** 2 for row in raw)
    assert tails["under_one_token_per_param"] == under
    assert tails["beyond_6"] <= tails["beyond_3_under_one_token_per_param"] <= tails["beyond_3"]
    assert "| student, all points | 245 |" in (out / "results.md").read_text()
    # an existing result folder is refused without --force, before any work, and kept
    before = (out / "results.json").read_text()
    proc = run_example("chinchilla", out)
    assert proc.returncode == 2 and "--force" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "results.json").read_text() == before


def test_gemstones_quick_chi_per_run_and_pooled(tmp_path):
    out = tmp_path / "gemstones"
    proc = run_example("gemstones", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = results(out)
    path = DATA / "gemstones_loss_curves" / "wandb_df_for_fitting_hot.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    sizes = {row["run_name"]: row["params_active_precise"] for row in lines}
    assert r["records"] == len(lines) and r["runs"] == len(sizes)
    # quick: one per-run fit, the run of median parameter count
    ordered = sorted(sizes, key=sizes.get)
    assert set(r["per_run"]) == {ordered[len(ordered) // 2]}
    for name, fit in r["per_run"].items():
        chi = fit["chi"]
        assert finite_interval(chi) and chi["hdi_low"] > 0, name
        # the irreducible loss lies below every loss of that run
        assert fit["E"]["hdi_high"] < min(x["final_loss"] for x in lines if x["run_name"] == name)
        # chi agrees with an independent least-squares fit of E + B t^-chi to the same curve
        assert fit["least_squares_chi_in_hdi"], (fit["least_squares_chi"], chi)
        # what one curve cannot identify is held by the fit (the defaults), said, and never
        # reported as a finding: K and k_star are not sampled, chi is not decided by a hold
        actions = fit["automatic_actions"]
        assert any(x.startswith("K held") for x in actions), actions
        assert any(x.startswith("k_star held") for x in actions), actions
        assert "chi" not in fit["held"] and "E" not in fit["held"]
        summary = json.loads((out / "fit_runs" / safe_name(name) / "summary.json").read_text())
        assert summary["parameters"].get("K") is None
        assert summary["parameters"].get("k_star") is None
    # quick: the pooled fit of the three runs around the median size
    assert r["pooled_runs"] == ordered[len(ordered) // 2 - 1:len(ordered) // 2 + 2]
    assert finite_interval(r["pooled"]["chi"]) and r["pooled"]["chi"]["hdi_low"] > 0


def test_revisiting_quick_alpha_per_curve_and_holdout(tmp_path):
    out = tmp_path / "revisiting"
    proc = run_example("revisiting", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = results(out)
    raw = csv_rows(DATA / "revisiting_scaling_benchmark" / "revisiting_lang.csv")
    # quick: the NMT curves; the adapter removes exact duplicates
    unique = {tuple(row.values()) for row in raw if row["Domain"] == "NMT"}
    curves = {(row[0], row[1], row[2]) for row in unique}
    held = sum(1 for row in unique if row[5] == "0")
    assert r["curves"] == len(curves) and r["records"] == len(unique)
    assert r["holdout"]["rows"] == held
    rows, coverage = holdout_coverage(*sorted((out / "fits").glob("*/holdout.csv")))
    assert rows == held and r["holdout"]["coverage"] == pytest.approx(coverage, abs=1e-12)
    # one fit per curve (fit --by group), each on that curve's records only
    folders = [p for p in (out / "fits").iterdir() if p.is_dir()]
    assert len(folders) == len(curves) == len(r["per_curve"])
    assert r["workers"] == 0 and r["fits_per_hour"] > 0
    assert r["converged"] + len(r["not_converged"]) == len(curves)
    for name, curve in r["per_curve"].items():
        own = sum(1 for row in unique if "/".join(row[:3]) == name and row[5] == "0")
        assert curve["holdout"]["rows"] == own, name
    # each NMT curve decreases to its held-out point: the prediction there (same run's
    # amplitude, larger n) lies below the curve's smallest training loss, up to noise
    lowest = {}
    for row in unique:
        if row[5] == "1":
            key = "/".join(row[:3])
            lowest[key] = min(lowest.get(key, math.inf), float(row[4]))
    for name, mean in r["holdout_mean"].items():
        assert mean < 1.05 * lowest[name], (name, mean, lowest[name])
    for name, curve in r["per_curve"].items():
        alpha, sb = curve["alpha"], curve["s_times_b"]
        assert 0.0 < alpha["hdi_low"] <= alpha["hdi_high"] < 1.0, name
        # the redundancy law: s*b = alpha / (2 (1 - alpha)), a monotone map of alpha
        assert sb["median"] == pytest.approx(
            alpha["median"] / (2.0 * (1.0 - alpha["median"])), rel=1e-6
        ), name


def test_wanda_quick_single_stage_cannot_see_n(tmp_path):
    out = tmp_path / "wanda"
    proc = run_example("wanda", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = results(out)
    counts = {}
    for model in ("llama2", "llama3"):
        path = DATA / "wanda_repro_pruning" / f"perplexity_results_{model}.csv"
        for row in csv_rows(path):
            if row["Method"] != "dense" and row["Perplexity"].strip():
                key = f"{row['Model']}/{row['Method'].split('_')[0]}"
                counts[key] = counts.get(key, 0) + 1
    assert set(r["curves"]) == set(counts)
    assert set(r["exact"]) == {k for k, n in counts.items() if n >= 3}
    for name, exact in r["exact"].items():
        assert exact["records"] == counts[name]
        # one training stage: the curve does not depend on the time exponent n of g
        assert exact["max_relative_dn"] < 1e-10, name
        assert exact["shape_rank"] <= exact["records"] - 1
    assert "rho_over_b" in "\n".join(r["validate_identifies"])
    assert r["fits"] == {}  # the NUTS fits run in the full mode only


def test_rf_recovery_quick_compares_the_posterior_with_the_truth(tmp_path):
    """simulate rf -> fit -> posterior against the truth file the simulation wrote.

    Reference: the rf system's known exponents (b = 1.5 of its input spectrum, a = 1.75 of its
    target, rho = 1 of gradient descent; chi = (a - 1)/b, gamma = (1 + b - a)/b), read back from
    rf_truth.json here, and the fit's own summary.json.
    """
    out = tmp_path / "rf"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "rf_recovery.py"), "--quick", "--no-check",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    truth = json.loads((out / "rf_truth.json").read_text())
    assert (truth["a"], truth["b"], truth["rho"]) == (1.75, 1.5, 1.0)
    assert truth["chi"] == pytest.approx((truth["a"] - 1) / truth["b"])
    assert truth["gamma"] == pytest.approx((1 + truth["b"] - truth["a"]) / truth["b"])
    rec = json.loads((out / "recovery.json").read_text())
    summary = json.loads((out / "fit" / "summary.json").read_text())
    rows = {r["parameter"]: r for r in rec["rows"]}
    assert set(rows) == {"a", "b", "rho", "chi", "gamma", "rho_over_b"}
    for name, row in rows.items():
        entry = summary["parameters"][name]
        assert row["truth"] == pytest.approx(truth[name])
        assert row["covered"] == (entry["hdi_low"] <= truth[name] <= entry["hdi_high"])
    # the script's exit code says whether b and rho were recovered by a converged fit
    recovered = rows["b"]["covered"] and rows["rho"]["covered"]
    assert proc.returncode == (0 if recovered and rec["diagnostics"]["converged"] else 1), (
        proc.stdout + proc.stderr
    )
    # the acceptance test of a system that actually learns: seed 0 (the default) recovered by a
    # converged fit, with narrow intervals (the data decide them), under the pruning metric the
    # records file declares
    diag = summary["diagnostics"]
    assert diag["divergences"] == 0 and diag["max_r_hat"] <= 1.01, diag
    for name in ("b", "rho"):
        entry = summary["parameters"][name]
        assert rows[name]["covered"] and entry["hdi_high"] - entry["hdi_low"] < 0.1, entry
    from gsf_infer.inference.datatree import read_attrs
    from gsf_infer.workflow.predict import load_fit

    assert read_attrs(load_fit(out / "fit"))["model_settings"]["pruning_metric"] == "function"
    assert (out / "recovery.png").stat().st_size > 10_000


def test_nn_quick_verdict_and_exponents_against_the_measured_spectrum(tmp_path):
    """simulate nn -> fit -> verdict, a and b against the spectrum's slopes, coverage per kind.

    References: the records file and truth file the simulation wrote (read here with the csv
    and json modules; the eigenvalue slope refitted with a plain least-squares line), and the
    fit's own summary.json and checks.json.
    """
    out = tmp_path / "nn"
    proc = run_example("nn", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = results(out)
    assert len(r["per_seed"]) == 1 and r["counts"]["seeds"] == 1
    row = r["per_seed"][0]
    with open(out / "nn_s0.csv", encoding="utf-8") as handle:
        records = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec["kind"]] = counts.get(rec["kind"], 0) + 1
    assert row["records"] == counts
    assert set(counts) == {"loss", "quantization", "pruning", "spectrum", "modes"}
    truth = json.loads((out / "nn_s0_truth.json").read_text())
    assert truth["a"] is None and truth["b"] is None and truth["rho"] is None
    assert row["measured_spectrum"]["b"] == truth["measured_spectrum"]["b"]
    # the measured b is the eigenvalue slope: the recorded eigenvalues follow it closely
    spec = [(math.log(float(x["k"])), math.log(float(x["eigenvalue"]))) for x in records
            if x["kind"] == "spectrum"]  # fmt: skip
    mx = sum(p[0] for p in spec) / len(spec)
    my = sum(p[1] for p in spec) / len(spec)
    slope = sum((x - mx) * (y - my) for x, y in spec) / sum((x - mx) ** 2 for x, _ in spec)
    assert abs(-slope - truth["measured_spectrum"]["b"]) < 0.2
    summary = json.loads((out / "fit_s0" / "summary.json").read_text())
    checks = json.loads((out / "fit_s0" / "checks.json").read_text())
    assert row["verdict"] == summary["invariant"]["status"]
    for name in ("a", "b"):
        entry = summary["parameters"][name]
        assert finite_interval(entry)
        value = row["measured_spectrum"][name]
        assert row["covers_measured"][name] == (entry["hdi_low"] <= value <= entry["hdi_high"])
    for kind, cov in row["coverage"].items():
        assert cov["coverage_90"] == checks["ppc"][kind]["coverage_90"]
    assert "| seed | verdict |" in (out / "results.md").read_text()


def test_notebook_runs_as_a_script_to_its_last_cell(tmp_path):
    """``examples/notebook.py`` (percent format) run as a plain script, as from a fresh clone.

    The folder holds only ``data/example.csv``; the script reads it, validates, fits (2 short
    chains), prints the verdict and ArviZ's summary, writes the trace and predictive figures
    with the Agg backend and predicts three new records, then prints its last line.
    """
    source = (EXAMPLES / "notebook.py").read_text(encoding="utf-8")
    cells = [line for line in source.splitlines() if line.startswith("# %%")]
    assert cells[0] == "# %% [markdown]" and "# %%" in cells and len(cells) >= 10
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "example.csv").write_bytes((DATA / "example.csv").read_bytes())
    env = dict(os.environ)
    env.pop("GSF_INFER_DATA", None)
    env.pop("MPLBACKEND", None)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "notebook.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.rstrip().splitlines()[-1] == "done: 3 predictions; figures in notebook-output/"
    assert "invariant testable: True" in out and "sampler converged:" in out
    assert "invariant chi + gamma = rho:" in out and "ess_bulk" in out
    for name in ("trace.png", "ppc_loss.png"):
        png = tmp_path / "notebook-output" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, name


def test_elastic_quick_recovers_a_drifting_rho(tmp_path):
    """``examples/elastic.py --quick``: one logcorr world fitted with ``--g elastic``.

    Reference: the local elasticity of ``g = c lambda^m t^n log(e + t/tau)``,
    ``(n + x/((e + x) log(e + x)))/m`` with ``x = t/tau``, written out here from the parameters
    in the world's truth file, over the identified range the script reports.
    """
    out = tmp_path / "elastic"
    proc = run_example("elastic", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = results(out)["drift"][0]
    params = json.loads((out / "drift_0_truth.json").read_text())["parameters"]
    lo, hi = row["identified_t"]
    x = np.geomspace(lo, hi, 400) / params["tau"]
    rho = (params["n"] + x / ((np.e + x) * np.log(np.e + x))) / params["m"]
    assert rho.max() / rho.min() - 1 == pytest.approx(row["true_drift"], abs=0.01)
    assert row["true_drift"] >= 0.2
    # the full run's target is 0.9 (measured 0.92-1 over five seeds, examples/README.md);
    # --quick fits seed 0 with the full run's chains (0.944 there): a little room for one
    # grid point more or less on another machine's last bits
    assert row["coverage"] >= 0.85 and row["excludes_constants"] is True
    assert (out / "drift_0_elastic" / "plots" / "rho_t.png").stat().st_size > 10_000


def test_colpret_quick_opt_counts_and_intervals(tmp_path):
    """``examples/colpret.py --quick``: the OPT table, one curve alone and two sizes pooled.

    References: the raw ColPret file read here with the csv module (rows and distinct model
    sizes), and each fit's own summary.json.
    """
    out = tmp_path / "colpret"
    proc = run_example("colpret", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = results(out)
    assert r["sources"] == ["opt"]
    opt = r["opt"]
    raw = csv_rows(DATA / "colpret_opt_trajectories" / "opt_trajectories.csv")
    sizes = {row["model_size"] for row in raw}
    assert opt["records"] == len(raw) and opt["runs"] == len(sizes) == len(opt["run_names"])
    assert {name.removeprefix("OPT-") for name in opt["run_names"]} == sizes
    # quick: one run alone (13B), 13B and 30B pooled
    assert set(opt["per_run"]) == set(opt["fitted_runs"]) == {"OPT-13b"}
    own = sum(row["model_size"] == "13b" for row in raw)
    converged = 0
    for name, fit in opt["per_run"].items():
        assert fit["records"] == own
        summary = json.loads(
            (out / "fit_opt_runs" / safe_name(name) / "summary.json").read_text()
        )
        assert fit["diagnostics"] == summary["diagnostics"]
        converged += summary["diagnostics"]["converged"]
        for param in ("chi", "E"):
            assert finite_interval(fit[param]), (name, param)
            assert fit[param] == summary["parameters"][param]
        assert fit["chi"]["hdi_low"] > 0
        # E lies below every loss of that curve (loss = ln ppl)
        assert fit["E"]["hdi_high"] < min(
            math.log(float(row["ppl"])) for row in raw if row["model_size"] == "13b"
        )
    count = opt["per_run_converged"]
    assert isinstance(count, int) and count == converged <= opt["per_run_fitted"] == 1
    pooled = opt["pooled"]
    assert pooled["runs"] == ["OPT-13b", "OPT-30b"]
    assert pooled["records"] == sum(row["model_size"] in ("13b", "30b") for row in raw)
    summary = json.loads((out / "fit_opt_pooled" / "summary.json").read_text())
    assert opt["pooled_converged"] is bool(summary["diagnostics"]["converged"])
    assert finite_interval(pooled["chi"]) and pooled["chi"] == summary["parameters"]["chi"]
    text = (out / "results.md").read_text()
    assert f"**{count} of 1 per-run fits converged**" in text
    assert r["load_average"]["samples"] >= 1 and len(r["commit"]) >= 7


def _observed_by_line(path: Path) -> dict[int, dict[str, str]]:
    """Rows of a records file keyed by their line in the file (1-based, comments counted)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    reader = csv.DictReader(lines[first:])
    return {first + 2 + i: row for i, row in enumerate(reader)}


def test_extrapolation_quick_predicts_the_largest_model_and_resumes(tmp_path):
    """``examples/extrapolation.py --quick``: fit smaller models, predict the largest, resume.

    References: the raw published files read here with the csv and json modules (the largest
    model's rows and losses: OPT's size labels, Gemstones' parameter counts), the quick records
    files read with pandas and line by line, and each fit's own holdout.csv and summary.json.
    """
    import pandas as pd

    out = tmp_path / "extrapolation"
    # the spectral fits are left out here (they cost most of the quick run's time)
    proc = run_example("extrapolation", out, "--discrepancies", "none")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads((out / "extrapolation.json").read_text())
    assert r["sources"] == ["opt", "gemstones"] and r["quick"] is True
    assert r["discrepancies"] == ["none"]

    # the largest model of each raw table and its losses, without the tool
    unit = {"m": 1e6, "b": 1e9}
    raw_opt = csv_rows(DATA / "colpret_opt_trajectories" / "opt_trajectories.csv")
    size = {row["model_size"]: float(row["model_size"][:-1]) * unit[row["model_size"][-1]]
            for row in raw_opt}
    top = max(size, key=size.get)
    gem_path = DATA / "gemstones_loss_curves" / "wandb_df_for_fitting_hot.jsonl"
    raw_gem = [json.loads(x) for x in gem_path.read_text().splitlines() if x.strip()]
    gem_top = max(row["params_active_precise"] for row in raw_gem)
    largest = {
        "opt": (len(size), size[top], sorted(math.log(float(row["ppl"])) for row in raw_opt
                                             if row["model_size"] == top)),
        "gemstones": (len({row["run_name"] for row in raw_gem}), gem_top,
                      sorted(row["final_loss"] for row in raw_gem
                             if row["params_active_precise"] == gem_top)),
    }

    text = (out / "extrapolation.md").read_text()
    assert "Targets: coverage >= 0.8 and mean half-width <= 3%" in text
    for key, (models, params, losses) in largest.items():
        src = r[key]
        assert src["largest_params"] == params and len(src["held_out_runs"]) == 1
        assert src["runs"] == models and len(src["fitted_runs"]) == 3
        quick = pd.read_csv(out / src["data"], comment="#")
        held = quick[quick["params"] == quick["params"].max()]
        assert quick["params"].max() == params
        assert src["held_out_records"] == len(held) == len(losses)
        full = pd.read_csv(out / src["records_file"], comment="#")
        for name in src["fitted_runs"]:  # quick: every other record of a fitted model, last kept
            mine, all_ = quick[quick["run"] == name], full[full["run"] == name]
            assert len(mine) == (len(all_) + 1) // 2 and mine["t"].max() == all_["t"].max()
        rows = _observed_by_line(out / src["data"])
        held_lines = {n for n, row in rows.items() if float(row["params"]) == params}
        assert len(held_lines) == len(held)
        assert set(src["models"]) == {"gsf, --discrepancy none", "chinchilla"}
        for label, m in src["models"].items():
            assert m["failed"] is False and m["kept"] is False, (key, label)
            assert m["held_out_records"] == m["predicted_records"] == len(held), (key, label)
            assert m["fitted_records"] == len(quick) - len(held), (key, label)
            table = csv_rows(out / m["fit"] / "holdout.csv")
            # exactly the largest model's rows were predicted, and their observed losses are
            # the raw table's
            assert {int(row["line"]) for row in table} == held_lines, (key, label)
            observed = [float(rows[int(row["line"])]["loss"]) for row in table]
            assert sorted(observed) == pytest.approx(losses, rel=1e-9)
            covered = [row["covered"] == "True" for row in table]
            assert 0.0 <= m["coverage"] <= 1.0
            assert m["coverage"] == pytest.approx(sum(covered) / len(covered), abs=1e-12)
            rel = [abs(float(row["median"]) - y) / y for row, y in zip(table, observed,
                                                                      strict=True)]
            half = [(float(row["hdi_high"]) - float(row["hdi_low"])) / (2 * y)
                    for row, y in zip(table, observed, strict=True)]
            assert m["mean_relative_error"] == pytest.approx(sum(rel) / len(rel), rel=1e-9)
            assert m["mean_relative_half_width"] == pytest.approx(sum(half) / len(half),
                                                                  rel=1e-9)
            assert all(float(row["hdi_low"]) <= float(row["median"]) <= float(row["hdi_high"])
                       for row in table)
            assert m["meets_targets"] == (m["coverage"] >= 0.8
                                          and m["mean_relative_half_width"] <= 0.03)
            summary = json.loads((out / m["fit"] / "summary.json").read_text())
            assert m["converged"] == summary["diagnostics"]["converged"]
            assert summary["holdout"]["expr"] == src["holdout"]
            assert f"| {label} | {len(quick) - len(held)} | {len(held)} |" in text

    # a second invocation keeps every finished fit and reports the same numbers
    again = run_example("extrapolation", out, "--discrepancies", "none")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "$ gsf-infer fit" not in again.stdout
    r2 = json.loads((out / "extrapolation.json").read_text())
    for key in largest:
        for label, m in r[key]["models"].items():
            m2 = r2[key]["models"][label]
            assert m2["kept"] is True
            for name in ("coverage", "mean_relative_error", "mean_relative_half_width",
                         "seconds"):
                assert m2[name] == m[name], (key, label, name)
    assert (out / "logs.1").is_dir()
