"""The benchmark (benchmarks/run.py, workers.py, report.py): its pieces, and a quick run.

No timing is asserted: performance is measured by the script on a quiet machine, never by
tests. These tests keep the script working: process measurement, the draws' statistics, the
report from raw results (every section, with the summary's derived numbers), the quick mode
of the cheapest section end to end, and the gradient section's worker on its quick settings.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run():
    return load("run")


@pytest.fixture(scope="module")
def workers():
    return load("workers")


@pytest.fixture(scope="module")
def report():
    return load("report")


def test_measure_reports_the_child_alone(run):
    grow = "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])"
    big = run.measure([sys.executable, "-c", grow])
    small = run.measure([sys.executable, "-c", "pass"])
    assert big["exit"] == 0 and small["exit"] == 0
    assert big["maxrss_mb"] > 200 > small["maxrss_mb"]
    assert big["wall"] > 0 and big["cpu"] > 0
    failed = run.measure([sys.executable, "-c", "import sys; sys.exit('boom')"])
    assert failed["exit"] == 1 and "boom" in failed["stderr_tail"]


def test_merged_seconds_counts_nested_and_overlapping_spans_once(workers):
    # [0, 4] with [1, 2] nested and [3, 6] overlapping, [8, 9] apart: union 6 + 1 = 7
    assert workers.merged_seconds([(0.0, 4.0), (1.0, 2.0), (3.0, 6.0), (8.0, 9.0)]) == 7.0
    assert workers.merged_seconds([]) == 0.0


def test_posterior_stats_names_the_worst_scalar(workers, rng):
    chains, draws = 4, 200
    good = rng.standard_normal((chains, draws))
    stuck = good + 3.0 * np.arange(chains)[:, None]  # chains apart: large R-hat, small ESS
    dt = xr.DataTree.from_dict({
        "posterior": xr.Dataset({
            "chi": (("chain", "draw"), good),
            "v": (("chain", "draw", "i"), np.stack([good, stuck], axis=-1)),
        }),
        "sample_stats": xr.Dataset({
            "diverging": (("chain", "draw"), np.zeros((chains, draws), bool)),
            "n_steps": (("chain", "draw"), np.full((chains, draws), 7.0)),
        }),
    })
    dt["sample_stats"]["diverging"][0, :3] = True
    stats = workers.posterior_stats(dt)
    assert stats["scalars"] == 3
    assert stats["min_ess_name"] == "v[1]" and stats["max_r_hat_name"] == "v[1]"
    assert stats["max_r_hat"] > 1.5
    assert stats["divergences"] == 3 and stats["steps_mean"] == 7.0
    assert set(stats["ess_bulk"]) == {"chi"} and set(stats["means"]) == {"chi"}


def test_low_rank_adaptation_follows_the_installed_signature(workers):
    def new(model, *, adaptation="diag"):
        pass

    def old(model, **kwargs):
        pass

    assert workers.low_rank_kwargs(new) == {"adaptation": "low_rank"}
    assert workers.low_rank_kwargs(old) == {"low_rank_modified_mass_matrix": True}


def fake_results() -> dict:
    """Raw results of every section, with round numbers the summary's verdicts follow from."""
    load = {"load_start": [0.1, 0.2, 0.3], "load_end": [1.0, 1.0, 1.0]}
    proc = {"wall": 50.0, "cpu": 90.0, "maxrss_mb": 1500.0, "exit": 0, "stderr_tail": ""}
    timings = {"gsf": {"prior": 1.0, "optimize": 4.0, "sampling": 14.0, "postprocess": 0.5,
                       "pointwise": 0.5},
               "deviation": {"prior": 0.5, "optimize": 2.0, "sampling": 7.0,
                             "postprocess": 0.25, "pointwise": 0.25}}

    def stats(ess, **extra):
        return {"chains": 4, "draws": 1000, "scalars": 20, "min_ess_bulk": 900.0,
                "min_ess_name": "K", "max_r_hat": 1.004, "max_r_hat_name": "k_star",
                "ess_bulk": ess, "divergences": 0, "steps_mean": 7.5, "step_size": 0.5,
                "means": {"chi": {"mean": 0.53, "sd": 0.001, "mcse": 1e-5}}, **extra}

    def fit_run(phase, wall):
        return {"phase": phase, "repeat": 0, "argv": ["fit", "data/example.csv", "--quiet"],
                "process": {**proc, "wall": wall}, "cache": {"requests": 40, "hits": 0,
                                                             "written": 9, "saved_s": 0.0},
                "compile_s": 20.0, "timings": timings, "verdict": "supported",
                "models": {"gsf": stats({"chi": 2000.0, "rho": 1000.0}),
                           "deviation": stats({"chi": 1500.0, "delta_over_rho": 500.0})},
                "load": [1.0, 1.0, 1.0]}

    def nutpie_run(model, adaptation, ess):
        return {"model": model, "adaptation": adaptation,
                "sample_kwargs": {"adaptation": "low_rank"} if adaptation == "low_rank" else {},
                "seconds": {"import": 3.0, "build": 1.0, "compile": 9.0, "sample": 30.0},
                "stats": stats(ess, warmup_steps_mean=40.0), "process": proc, "n_dim": 20}

    parity = {"max_abs_logp_diff": 1e-7, "max_rel_logp_diff": 1e-12,
              "max_rel_grad_diff": 1e-13, "posterior_points": 8, "prior_points": 3}
    timing = {"median_ms": 1.0, "min_ms": 0.9, "p10_ms": 0.95, "p90_ms": 1.2,
              "first_call_s": 5.0, "finite": True}
    return {
        "config": {"quick": False, "chains": 4, "warmup": 1000, "draws": 1000, "repeats": 1},
        "machine": {"date": "today", "commit": "abc", "cpu": "cpu", "cores": 2, "ram_gb": 8.0,
                    "os": "Linux", "python": "3.12", "versions": {"jax": "0"}},
        "command": "python benchmarks/run.py", "elapsed": 600.0,
        "load_start": [0.1, 0.2, 0.3], "load_end": [1.0, 1.0, 1.0],
        "sections": {
            # cold 50 s (target 60: met), warm 40 s (target 30: not met)
            "fit": {**load, "runs": [fit_run("cold", 50.0), fit_run("warm", 40.0)]},
            # tool: chi/rho 1000 ESS / 20 s = 50 ESS/s, delta_over_rho 500 / 10 s = 50;
            # nutpie's best: 1600 / 40 s = 40 (ratio 1.25), 4000 / 40 s = 100 (ratio 0.5)
            "nutpie": {**load, "parity": {"models": {"gsf": parity, "deviation": parity},
                                          "process": proc},
                       "runs": [nutpie_run("gsf", "diag", {"chi": 800.0, "rho": 900.0}),
                                nutpie_run("gsf", "low_rank", {"chi": 1600.0, "rho": 1700.0}),
                                nutpie_run("deviation", "diag", {"delta_over_rho": 4000.0}),
                                nutpie_run("deviation", "low_rank",
                                           {"delta_over_rho": 100.0})]},
            "help": {**load, "rows": [{"command": "gsf-infer --help", "median": 0.2,
                                       "min": 0.19, "max": 0.3, "n": 15, "maxrss_mb": 30.0}]},
            "gradient": {**load, "process": proc,
                         "records": [{"records": n, "dim": 20, **timing, "median_ms": n / 1e3}
                                     for n in (1_000, 10_000, 100_000)],
                         "capacity": [{"K": k, "records": 493, **timing} for k in (1e3, 1e7)],
                         "models": [{"model": m, "dim": 20, "records": 493, **timing}
                                    for m in ("gsf", "deviation")]},
            # 100 simulations: 3600 s one after the other (100 fits/hour), 1000 s batched
            # (360 fits/hour, 3.6x: met), 1800 s on two workers (2x: not met)
            "many": {**load, "simulations": 100, "design": "small", "batch": 8,
                     "runs": [{"name": n, "argv": ["calibrate", "--out", "x"],
                               "process": {**proc, "wall": w}, "load_before": [1.0, 1.0, 1.0],
                               "load_after": [2.0, 2.0, 2.0], "ranked": 100, "flagged": 3,
                               "errors": 0}
                              for n, w in (("sequential", 3600.0), ("batched", 1000.0),
                                           ("cluster2", 1800.0))]},
        },
    }


def test_report_renders_every_section_and_the_summary_follows_the_numbers(report):
    text = report.render(fake_results())
    for heading in ("## Summary", "## a. The default `fit`", "## b. The same log densities",
                    "## c. Command-line start-up", "## d. One value and gradient",
                    "## e. Peak memory", "## g. Many fits"):
        assert heading in text
    summary = {line.split(" | ")[0]: line for line in text.splitlines()
               if line.startswith("| ")}

    def row(prefix):
        return next(v for k, v in summary.items() if k.startswith(f"| {prefix}"))

    assert row("default `fit`, empty").endswith("| 50 s | **met** |")
    assert row("default `fit`, warm").endswith("| 40 s | **not met** |")
    assert "**met**" in row("both models converge")
    assert "1.25x (50 vs 40 ESS/s)" in row("ESS/s of `chi`, `rho`")
    assert "0.5x (50 vs 100 ESS/s)" in row("ESS/s of `delta_over_rho`")
    assert row("ESS/s of `delta_over_rho`").endswith("**not met** |")
    assert "| 1 | **met** |" in row("gradient cost against records")  # slope 1
    assert row("`calibrate` batched").endswith("| 3.6x | **met** |")
    assert row("`calibrate` on 2 workers").endswith("| 2x | **not met** |")
    assert "| `batched` | 1,000 | 360 | 3.6 |" in text
    assert "QUICK MODE" not in text
    # every table row has as many cells as its header
    tables = [block.splitlines() for block in text.split("\n\n") if block.startswith("| ")]
    for lines in tables:
        assert len({line.count(" | ") for line in lines}) == 1, lines[0]


def test_quick_help_section_writes_a_report_that_renders_again(run, tmp_path):
    """The script end to end on its cheapest section; ``--render`` rewrites the same report."""
    out, work = tmp_path / "RESULTS.md", tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--only", "help",
         "--out", str(out), "--work", str(work)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "QUICK MODE" in text and "## c. Command-line start-up" in text
    assert "| `gsf-infer --help` |" in text
    results = json.loads((work / "results.json").read_text())
    assert set(results["sections"]) == {"help"}
    rows = results["sections"]["help"]["rows"]
    assert [r["command"] for r in rows] == ["gsf-infer --help", "gsf-infer fit --help",
                                            "python -c pass"]
    assert all(r["n"] == 3 and r["min"] > 0 and r["maxrss_mb"] > 0 for r in rows)
    # the report renders again from the raw results alone (in this process: no JAX is needed)
    again = tmp_path / "again.md"
    run.main(["--render", str(work / "results.json"), "--out", str(again)])
    assert again.read_text() == text


@pytest.mark.slow  # rendering or benchmark plumbing, not the statistical core
def test_gradient_worker_times_every_row(workers):
    """The gradient section's worker on its quick settings, in this process (JAX loaded once).

    ``run.py`` starts it in a fresh process with the same arguments; here one table of 100
    records serves the records, capacity and model rows, compiled once.
    """
    args = argparse.Namespace(data=workers.EXAMPLE, sizes=[100.0], capacities=[1e3, 1e7],
                              repeats=2, capacity_records=100)
    result = workers.worker_gradient(args)
    rows = result["records"] + result["capacity"] + result["models"]
    assert all(r["finite"] for r in rows)
    assert all(r["min_ms"] > 0 and r["first_call_s"] > 0 for r in rows)
    assert [r["K"] for r in result["capacity"]] == [1e3, 1e7]
    assert [r["model"] for r in result["models"]] == ["gsf", "deviation"]
    # at least 6 records of each of the example's kinds, about 100 in all
    assert 100 <= result["records"][0]["records"] <= 130
    assert result["records"][0]["dim"] == result["models"][0]["dim"] > 10


def test_unknown_section_is_refused(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--only", "nonsense", "--out",
         str(tmp_path / "r.md"), "--work", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "unknown section" in proc.stderr
    assert not (tmp_path / "r.md").exists()
