"""Tests of the published-table adapters (gsf_infer.sources) and ``gsf-infer ingest``.

Every number checked here is recomputed independently from the raw files with the standard
library's csv/json readers (not with the adapters' code paths), or from closed forms.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gsf_infer.cli import app
from gsf_infer.data.records import read_records, records_from_frame
from gsf_infer.errors import InputError
from gsf_infer.sources import ADAPTERS, data_dir, ingest, summarize
from gsf_infer.sources.chinchilla import quantisation_step
from gsf_infer.workflow.resolve import resolve_likelihood

DATA = Path(__file__).resolve().parents[1] / "data"
runner = CliRunner()

#: (source, options) pairs covering every adapter and every file it can read.
CASES = [
    ("epoch_chinchilla_svg", {}),
    ("epoch_chinchilla_svg", {"stderr": "quantization"}),
    ("gemstones_loss_curves", {}),
    ("gemstones_loss_curves", {"variant": "hot"}),
    ("gemstones_loss_curves", {"variant": "cool_end"}),
    ("gemstones_loss_curves", {"variant": "cool_begin"}),
    ("gemstones_open_models", {}),
    ("colpret_opt_trajectories", {}),
    ("colpret_olmo", {}),
    ("colpret_olmo", {"column": "c4_en", "t": "step"}),
    ("colpret_datablations", {}),
    ("colpret_datablations", {"table": "contour"}),
    ("revisiting_scaling_benchmark", {"subset": "lang"}),
    ("revisiting_scaling_benchmark", {"subset": "vision", "group_by": "task"}),
    ("wanda_repro_pruning", {}),
    ("wanda_repro_pruning", {"sparsity": "achieved"}),
]


def raw_rows(folder: str, name: str) -> list[dict[str, str]]:
    with open(DATA / folder / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(autouse=True)
def _no_env_data(monkeypatch):
    monkeypatch.delenv("GSF_INFER_DATA", raising=False)


# --------------------------------------------------------------------------- every adapter


@pytest.mark.parametrize(("name", "options"), CASES, ids=lambda v: str(v))
def test_every_adapter_passes_the_reader(name, options):
    frame, prov = ingest(name, options=options)
    records = records_from_frame(frame, path=name, provenance=prov)
    assert sum(records.counts().values()) == len(frame) > 0
    assert records.excluded == {}
    for key in ("source", "license", "citation", "adapter", "caveats", "raw_files", "rows"):
        assert prov[key], key
    assert all(isinstance(v, str) for v in prov.values())
    assert f"rows_out {len(frame)}" in prov["rows"]
    assert "/work/shared" not in prov["raw_files"]


def test_registry_covers_every_shipped_folder():
    folders = {p.name for p in DATA.iterdir() if p.is_dir()}
    assert {a.folder for a in ADAPTERS.values()} == folders
    for adapter in ADAPTERS.values():
        for file in adapter.file_options:
            assert (DATA / adapter.folder / file).is_file(), file
        assert (DATA / adapter.folder / "SOURCE.md").is_file()


def test_default_data_folder_is_the_repository_data_dir():
    assert data_dir(ADAPTERS["colpret_olmo"]) == DATA / "colpret_olmo"


# --------------------------------------------------------------------------- Chinchilla


def test_chinchilla_tokens_are_flop_over_6n_and_no_row_is_dropped():
    raw = raw_rows("epoch_chinchilla_svg", "svg_extracted_data.csv")
    frame, prov = ingest("epoch_chinchilla_svg")
    assert len(raw) == len(frame) == 245
    assert frame["run"].nunique() == 245
    for i in (0, 1, 57, 180, 244):
        n, c = float(raw[i]["Model Size"]), float(raw[i]["Training FLOP"])
        assert frame["t"].iloc[i] == pytest.approx(c / (6.0 * n), rel=1e-12)
        assert frame["params"].iloc[i] == n and frame["compute"].iloc[i] == c
        assert frame["loss"].iloc[i] == float(raw[i]["loss"])
    # row 0 by hand: 9.993852799709755e18 / (6 * 6795600349.289497) = 2.4510596e8
    assert frame["t"].iloc[0] == pytest.approx(2.4510596e8, rel=1e-7)
    assert "stderr" not in frame.columns
    assert not {"x", "y", "color", "hex_color"} & set(frame.columns)
    assert "dropped columns x, y, color, hex_color" in prov["adapter"]


def test_chinchilla_records_declare_the_robust_likelihood_that_fit_takes(tmp_path):
    """The written header says ``likelihood: student``; ``fit`` takes it unless asked otherwise.

    Reference for why: examples/chinchilla.py (14 of 245 residuals beyond 3 robust sd; Epoch's
    re-fit is a Huber loss, nearly least absolute deviations).
    """
    out = tmp_path / "chinchilla.csv"
    result = CliRunner().invoke(app, ["ingest", "epoch_chinchilla_svg", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "# likelihood: student" in out.read_text().splitlines()[:40]
    records = read_records(out)
    assert resolve_likelihood(None, records) == "student"
    assert resolve_likelihood("lognormal", records) == "lognormal"
    # without a declaration (or with one the tool does not know): the default, lognormal
    other = records_from_frame(
        records.table[["kind", "t", "params", "loss"]].head(10), provenance={"likelihood": "cauchy"}
    )
    assert resolve_likelihood(None, other) == "lognormal"
    assert (
        resolve_likelihood(None, records_from_frame(other.table[["kind", "t", "params", "loss"]]))
        == "lognormal"
    )


def test_quantisation_step_recovers_a_known_log_grid(rng):
    step = 0.0045
    grid = np.exp(np.log(2.0) + step * np.arange(300))
    loss = rng.choice(grid, size=2000)  # every level hit many times
    loss = np.concatenate([loss, grid[::7] * 1.0])
    assert quantisation_step(loss) == pytest.approx(step, rel=1e-9)
    # with a few levels missing (gaps of 2-3 steps) the median is unchanged
    sparse = np.delete(grid, [10, 11, 40, 90, 91, 92, 200])
    assert quantisation_step(sparse) == pytest.approx(step, rel=1e-9)


def test_chinchilla_stderr_is_the_quantisation_error():
    raw = raw_rows("epoch_chinchilla_svg", "svg_extracted_data.csv")
    levels = sorted({math.log(float(r["loss"])) for r in raw})
    gaps = sorted(b - a for a, b in zip(levels, levels[1:], strict=False))
    median_gap = (
        gaps[len(gaps) // 2]
        if len(gaps) % 2
        else 0.5 * (gaps[len(gaps) // 2 - 1] + gaps[len(gaps) // 2])
    )
    frame, prov = ingest("epoch_chinchilla_svg", options={"stderr": "quantization"})
    expected = frame["loss"] * median_gap / math.sqrt(12.0)
    np.testing.assert_allclose(frame["stderr"], expected, rtol=1e-12)
    # the grid step is ~0.0045 in ln(loss): stderr ~ 0.0013 * loss
    assert 0.004 < median_gap < 0.005
    assert "sqrt(12)" in prov["adapter"]


# --------------------------------------------------------------------------- Gemstones


def test_gemstones_default_is_hot_477_and_file_path_dispatch_picks_the_variant():
    frame, prov = ingest("gemstones_loss_curves")
    assert len(frame) == 1100 and frame["run"].nunique() == 22
    assert prov["ingest_options"] == "variant=hot_477"
    path = DATA / "gemstones_loss_curves" / "wandb_df_for_fitting_cool_end.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    frame, prov = ingest(path)
    assert prov["ingest_options"] == "variant=cool_end"
    assert len(frame) == len(lines) == 199
    assert frame["t"].tolist() == [float(r["tokens"]) for r in lines]
    assert frame["loss"].tolist() == [float(r["final_loss"]) for r in lines]
    assert frame["params"].tolist() == [float(r["params_active_precise"]) for r in lines]
    assert "step" not in frame.columns and "optimizer_step" in frame.columns


def test_gemstones_open_models_is_labelled_cross_family():
    data = json.loads((DATA / "gemstones_loss_curves" / "our_val_loss_data.json").read_text())
    frame, prov = ingest("gemstones_open_models")
    assert frame["run"].tolist() == data["hf_name"]
    assert frame["loss"].tolist() == data["loss"]
    assert "CROSS-FAMILY" in prov["adapter"]
    assert frame["t_source"].str.len().min() > 10
    llama2 = frame[frame["run"].str.startswith("meta-llama/Llama-2")]
    assert (llama2["t"] == 2e12).all()


# --------------------------------------------------------------------------- OPT


def test_opt_tokens_recomputed_from_steps_match_num_token():
    raw = raw_rows("colpret_opt_trajectories", "opt_trajectories.csv")
    frame, prov = ingest("colpret_opt_trajectories")
    assert len(frame) == len(raw) == 142
    reported = np.array([10.0 ** float(r["num_token"]) for r in raw])
    np.testing.assert_allclose(frame["t"], reported, rtol=1e-9)
    # by hand: OPT-13b at step 70000 with 4M tokens per step = 2.8e11 tokens
    row = next(i for i, r in enumerate(raw) if r["model_size"] == "13b" and r["steps"] == "70000")
    assert frame["t"].iloc[row] == 2.8e11
    assert frame["params"].iloc[row] == 13e9
    np.testing.assert_allclose(frame["loss"], [math.log(float(r["ppl"])) for r in raw])
    assert "tokens_vs_10**num_token_max_rel_diff" in prov["checks"]


# --------------------------------------------------------------------------- OLMo


def test_olmo_counts_empty_cells_of_the_chosen_column():
    raw = raw_rows("colpret_olmo", "olmo.csv")
    empty = {}
    for r in raw:
        model = r["model_name"].strip()
        col = (
            "v2-small-c4_en-validation/CrossEntropyLoss"
            if model == "OLMo-1B"
            else "c4_en-validation/CrossEntropyLoss"
        )
        empty[model] = empty.get(model, 0) + (r[col].strip() == "")
    assert empty == {"OLMo-7B-Twin-2T": 444, "OLMo-1B": 0, "OLMo-7B": 0}
    frame, prov = ingest("colpret_olmo", options={"column": "c4_en"})
    assert len(frame) == len(raw) - sum(empty.values()) == 1264
    for model, n in empty.items():
        assert f"dropped_empty_{model} {n}" in prov["rows"]
    assert set(frame["run"]) == {"OLMo-1B", "OLMo-7B"}


def test_olmo_tokens_and_parameter_counts():
    frame, _ = ingest("colpret_olmo")
    assert len(frame) == 1708
    one_b = frame[frame["run"] == "OLMo-1B"]
    seven = frame[frame["run"] == "OLMo-7B"]
    np.testing.assert_array_equal(one_b["t"], one_b["optimizer_step"] * 2048 * 2048)
    np.testing.assert_array_equal(seven["t"], seven["optimizer_step"] * 2160 * 2048)
    # published sizes: OLMo-1B 1.18B, OLMo-7B 6.89B parameters
    assert one_b["params"].iloc[0] == pytest.approx(1.18e9, rel=5e-3)
    assert seven["params"].iloc[0] == pytest.approx(6.89e9, rel=5e-3)
    # the 7B checkpoint names (e.g. step556000-tokens2460B) agree with 2160 x 2048 per step
    assert seven["tokens_per_step"].iloc[0] * 556000 == pytest.approx(2460e9, rel=1e-3)


def test_olmo_unknown_column_lists_available_sets():
    with pytest.raises(InputError) as err:
        ingest("colpret_olmo", options={"column": "no_such_set"})
    assert "mc4_en" in str(err.value)


# --------------------------------------------------------------------------- datablations


def test_datablations_compute_is_6nd_and_increases_along_each_run():
    raw = raw_rows("colpret_datablations", "datablations_losses.csv")
    frame, prov = ingest("colpret_datablations")
    assert len(frame) == len(raw) == 9261
    for i in (0, 1, 5000, 9260):
        n = float(raw[i]["num_params"].rstrip("B")) * 1e9
        d = float(raw[i]["token_num"])
        assert frame["compute"].iloc[i] == pytest.approx(6.0 * n * d, rel=1e-12)
    # the raw flops decrease within a run, the recomputed compute increases
    by_run: dict[str, list[tuple[float, float]]] = {}
    for r in raw:
        by_run.setdefault(r["model_args"], []).append((float(r["token_num"]), float(r["flops"])))
    assert len(by_run) == 48
    for points in by_run.values():
        flops = [f for _, f in points]
        assert all(b < a for a, b in zip(flops, flops[1:], strict=False))
    for _, run in frame.groupby("run"):
        assert np.all(np.diff(run["compute"].to_numpy()) > 0)
        assert np.all(np.diff(run["flops_reported"].to_numpy()) < 0)
    assert frame["run"].nunique() == 48
    assert "RECOMPUTED" in prov["adapter"]


def test_datablations_contour_unique_tokens():
    raw = raw_rows("colpret_datablations", "datablations_contour_losses.csv")
    frame, _ = ingest("colpret_datablations", options={"table": "contour"})
    assert len(frame) == len(raw) == 229
    # run name 421m32b1b5 = 421M params, 32B tokens, 1.5B unique tokens
    row = frame[frame["run"] == "contour-421m32b1b5"].iloc[0]
    assert row["t"] == 32e9 and row["unique_tokens"] == pytest.approx(1.5e9)


# --------------------------------------------------------------------------- Revisiting


def test_revisiting_lang_deduplication():
    raw = raw_rows("revisiting_scaling_benchmark", "revisiting_lang.csv")
    keys = [tuple(r.values()) for r in raw]
    distinct = len(set(keys))
    assert len(raw) - distinct == 687
    frame, prov = ingest("revisiting_scaling_benchmark", options={"subset": "lang"})
    assert len(frame) == distinct == 1399 - 687
    assert "removed_exact_duplicates 687" in prov["rows"]
    assert set(frame["training_split"]) == {0, 1}
    assert (frame["run"] == frame["group"]).all()
    assert frame["kind"].eq("data_scaling").all()


def test_revisiting_both_and_task_grouping():
    frame, prov = ingest("revisiting_scaling_benchmark", options={"group_by": "task"})
    assert len(frame) == 712 + 18883
    assert frame["run"].nunique() == 92
    assert (frame["group"] == frame["domain"] + "/" + frame["task"]).all()
    path = DATA / "revisiting_scaling_benchmark" / "revisiting_vision.csv"
    frame, prov = ingest(path)
    assert len(frame) == 18883 and prov["ingest_options"].startswith("subset=vision")


# --------------------------------------------------------------------------- Wanda


def test_wanda_delta_loss_from_raw_perplexities_and_nan_reported():
    frame, prov = ingest("wanda_repro_pruning")
    raw = raw_rows("wanda_repro_pruning", "perplexity_results_llama2.csv") + raw_rows(
        "wanda_repro_pruning", "perplexity_results_llama3.csv"
    )
    dense = {r["Model"]: float(r["Perplexity"]) for r in raw if r["Method"] == "dense"}
    expected = {
        (r["Model"], r["Method"]): math.log(float(r["Perplexity"]) / dense[r["Model"]])
        for r in raw
        if r["Method"] != "dense" and r["Perplexity"].strip()
    }
    assert len(expected) == len(frame) == 11
    got = {
        (m, f"{meth}_{round(s * 100)}"): d
        for m, meth, s, d in zip(
            frame["model"], frame["method"], frame["sparsity"], frame["delta_loss"], strict=True
        )
    }
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12)
    # by hand: Llama-2 wanda_50: ln(6.415358066558838 / 5.114044666290283) = 0.226704
    assert got[("Llama-2-7b-hf", "wanda_50")] == pytest.approx(0.226704, abs=1e-6)
    assert "magnitude_70: perplexity EMPTY" in prov["adapter"]
    assert "dropped_empty_perplexity 1" in prov["rows"]
    assert "dense_reference 2" in prov["rows"]
    assert "too small to identify much" in prov["caveats"]
    assert frame.groupby("model")["t"].nunique().eq(1).all()


def test_wanda_single_model_by_path_and_achieved_sparsity():
    path = DATA / "wanda_repro_pruning" / "perplexity_results_llama3.csv"
    frame, prov = ingest(path, options={"sparsity": "achieved"})
    assert len(frame) == 6 and set(frame["model"]) == {"Llama-3.1-8B"}
    layers = raw_rows("wanda_repro_pruning", "layer_sparsity_llama3.csv")
    mags = [float(r["Sparsity"]) for r in layers if r["Configuration"] == "magnitude_50"]
    row = frame[(frame["method"] == "magnitude") & (frame["sparsity_nominal"] == 0.5)]
    assert row["sparsity"].iloc[0] == pytest.approx(sum(mags) / len(mags), rel=1e-12)


# --------------------------------------------------------------------------- lookup and errors


def test_unknown_source_lists_known_names():
    with pytest.raises(InputError) as err:
        ingest("no_such_table")
    message = str(err.value)
    for name in ADAPTERS:
        assert name in message


def test_bad_option_is_refused():
    with pytest.raises(InputError, match="unknown option 'colour'"):
        ingest("epoch_chinchilla_svg", options={"colour": "red"})
    with pytest.raises(InputError, match="must be one of"):
        ingest("gemstones_loss_curves", options={"variant": "lukewarm"})


def test_env_data_folder_and_missing_files(tmp_path, monkeypatch):
    target = tmp_path / "epoch_chinchilla_svg"
    target.mkdir()
    shutil.copy(DATA / "epoch_chinchilla_svg" / "svg_extracted_data.csv", target)
    monkeypatch.setenv("GSF_INFER_DATA", str(tmp_path))
    frame, prov = ingest("epoch_chinchilla_svg")
    assert len(frame) == 245
    with pytest.raises(InputError, match="raw file of colpret_olmo not found"):
        ingest("colpret_olmo")


def test_renamed_file_needs_source_and_bad_cells_name_their_line(tmp_path):
    lines = (DATA / "colpret_opt_trajectories" / "opt_trajectories.csv").read_text().splitlines()
    fields = lines[4].split(",")
    fields[-1] = "oops"
    lines[4] = ",".join(fields)
    path = tmp_path / "my_opt.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="file name not recognised"):
        ingest(path)
    with pytest.raises(InputError) as err:
        ingest(path, source="colpret_opt_trajectories")
    (problem,) = err.value.problems
    assert problem.line == 5 and problem.column == "ppl" and problem.value == "oops"


def test_records_the_reader_refuses_are_reported_at_their_raw_line(tmp_path):
    """The finished table is checked with the reader's own rules (here t >= 0, which no adapter
    checks itself) and every problem names the raw file and line the record came from."""
    name = "wandb_df_for_fitting_hot.jsonl"
    lines = (DATA / "gemstones_loss_curves" / name).read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[3])
    record["tokens"] = -1.0
    lines[3] = json.dumps(record)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        ingest(path)
    (problem,) = err.value.problems
    assert (problem.path, problem.line, problem.column) == (str(path), 4, "t")
    assert problem.value == -1.0 and "must be >= 0" in problem.message


def test_a_repeated_raw_row_is_reported_at_the_line_of_the_repeat(tmp_path):
    lines = (DATA / "colpret_opt_trajectories" / "opt_trajectories.csv").read_text().splitlines()
    lines.append(lines[4])
    path = tmp_path / "opt_trajectories.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        ingest(path)
    (problem,) = err.value.problems
    assert (problem.path, problem.line) == (str(path), len(lines))
    assert "duplicates an earlier one" in problem.message


#: Small raw files for the damage test: (folder, file name).
SMALL_RAW = [
    ("epoch_chinchilla_svg", "svg_extracted_data.csv"),
    ("colpret_opt_trajectories", "opt_trajectories.csv"),
    ("wanda_repro_pruning", "perplexity_results_llama3.csv"),
    ("gemstones_loss_curves", "wandb_df_for_fitting_hot.jsonl"),
    ("gemstones_loss_curves", "our_val_loss_data.json"),
    ("colpret_datablations", "datablations_contour_losses.csv"),
]
JUNK = st.text(alphabet=',\n"{}[]:;0123456789.-+eEabcNnaIinf \t', max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    which=st.sampled_from(SMALL_RAW),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 12), JUNK), min_size=1, max_size=4),
)
def test_damaged_raw_files_raise_only_input_errors(which, edits):
    """Whatever a raw file holds, ingest either refuses it with an InputError or returns
    records that the reader accepts."""
    folder, name = which
    text = (DATA / folder / name).read_text(encoding="utf-8")
    for where, length, junk in edits:
        at = int(where * len(text))
        text = text[:at] + junk + text[at + length :]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        try:
            frame, prov = ingest(path)
        except InputError as err:
            assert err.problems and all(p.message for p in err.problems)
            return
        records_from_frame(frame, provenance=prov)


# --------------------------------------------------------------------------- command line


def test_cli_writes_a_file_the_reader_accepts(tmp_path):
    out = tmp_path / "x.csv"
    result = runner.invoke(app, ["ingest", "epoch_chinchilla_svg", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "245 records (loss 245)" in result.stdout
    records = read_records(out)
    assert records.counts() == {"loss": 245}
    _, prov = ingest("epoch_chinchilla_svg")
    for key in ("source", "license", "citation", "adapter", "rows"):
        assert records.provenance[key] == " ".join(prov[key].split())


@pytest.mark.parametrize(("name", "options"), CASES, ids=lambda v: str(v))
def test_every_adapter_output_passes_validate(tmp_path, name, options):
    """``gsf-infer ingest NAME --out F`` then ``gsf-infer validate F`` exits 0."""
    out = tmp_path / "records.csv"
    args = ["ingest", name, "--out", str(out)]
    for key, value in options.items():
        args += ["--option", f"{key}={value}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["validate", str(out)])
    assert result.exit_code == 0, result.output
    frame, _ = ingest(name, options=options)
    assert f"records     {len(frame)} in" in result.stdout
    assert "provenance  license:" in result.stdout


def test_cli_refuses_overwrite_without_force(tmp_path):
    out = tmp_path / "x.csv"
    out.write_text("keep me\n")
    result = runner.invoke(app, ["ingest", "epoch_chinchilla_svg", "--out", str(out)])
    assert result.exit_code == 2
    assert "--force" in result.stderr and "Traceback" not in result.stderr
    assert out.read_text() == "keep me\n"
    result = runner.invoke(app, ["ingest", "epoch_chinchilla_svg", "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert read_records(out).counts() == {"loss": 245}


def test_cli_unknown_name_exits_2_listing_known_names(tmp_path):
    result = runner.invoke(app, ["ingest", "chinchila", "--out", str(tmp_path / "y.csv")])
    assert result.exit_code == 2
    for name in ADAPTERS:
        assert name in result.stderr
    assert not (tmp_path / "y.csv").exists()


def test_cli_file_path_options_and_parquet(tmp_path):
    raw = DATA / "colpret_datablations" / "datablations_contour_losses.csv"
    out = tmp_path / "contour.parquet"
    result = runner.invoke(app, ["ingest", str(raw), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = read_records(out)
    assert records.counts() == {"loss": 229}
    assert records.provenance["ingest_options"] == "table=contour"
    result = runner.invoke(
        app, ["ingest", "colpret_olmo", "--out", str(tmp_path / "o.csv"), "--option", "t"]
    )
    assert result.exit_code == 2 and "KEY=VALUE" in result.stderr


def test_cli_list_and_summary():
    result = runner.invoke(app, ["ingest", "--list"])
    assert result.exit_code == 0
    for name in ADAPTERS:
        assert name in result.stdout
    frame, prov = ingest("wanda_repro_pruning")
    text = summarize(frame, prov)
    assert "11 records (pruning 11)" in text and "\n" not in text
