"""The executor of many fits: in process, on a local Dask cluster, and --resume.

The tests marked ``slow`` run NUTS on tiny loss-only curves (one chain, 50 + 50 iterations:
enough to exercise the machinery, not to converge) and start real ``LocalCluster`` s of two
worker processes. The others check the bookkeeping without sampling.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gsf_infer.cli import app
from gsf_infer.data.records import read_records
from gsf_infer.errors import InputError
from gsf_infer.executor import (
    ExecutorSettings,
    fit_subset,
    fit_subsets,
    plan_subsets,
    run_tasks,
    subset_sha256,
    verify_folder,
)
from gsf_infer.output import artifacts
from gsf_infer.output.artifacts import read_datatree
from gsf_infer.simulate.gsf import GsfSimConfig, simulate_gsf
from gsf_infer.workflow.batch import subsets

#: one worker builds the module's expensive fixtures once (pytest-xdist's loadgroup)
pytestmark = pytest.mark.xdist_group("test_executor")

#: Four loss curves (one run per model size) of eight points each.
TINY = GsfSimConfig(kinds=("loss",), sizes=(1e6, 3e6, 1e7, 3e7), loss_points=8)
#: Tiny sampler settings: machinery, not convergence (no automatic extension either).
SAMPLER = {"chains": 1, "warmup": 50, "draws": 50, "max_draws": 50, "seed": 3}
CLI_SAMPLER = ["--chains", "1", "--warmup", "50", "--draws", "50", "--max-draws", "50",
               "--seed", "3"]
RUNS = ("P1e+06", "P3e+06", "P1e+07", "P3e+07")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    frame, _ = simulate_gsf(TINY, np.random.default_rng(5))
    return artifacts.write_table(frame, tmp_path_factory.mktemp("tiny") / "tiny.csv")


@pytest.fixture(scope="module")
def on_cluster(tiny, tmp_path_factory):
    """``gsf-infer fit --by run --workers 2``: the four curves on a LocalCluster of two
    worker processes."""
    out = tmp_path_factory.mktemp("cluster") / "by_run"
    result = CliRunner().invoke(app, ["fit", str(tiny), "--by", "run", "--workers", "2",
                                      "--out", str(out), *CLI_SAMPLER])
    assert result.exit_code == 0, (result.output, result.exception)
    table = pd.read_csv(out / "summary.csv")
    return SimpleNamespace(out=out, table=table, stderr=result.stderr, stdout=result.stdout)


def _at(out: Path, run: str) -> Path:
    return out / artifacts.safe_name(run)  # P1e+06 -> P1e_06


def _complete(folder: Path) -> bool:
    return (folder / "posterior.nc").is_file() and (folder / "summary.json").is_file()


# ---------------------------------------------------------------- a real LocalCluster


@pytest.mark.slow
def test_a_local_cluster_of_two_workers_fits_every_run(on_cluster, tiny):
    table, out = on_cluster.table, on_cluster.out
    assert list(table["run"]) == list(RUNS)  # file order, whatever order they finished in
    assert "error" not in table or table["error"].isna().all(), table.get("error")
    assert (table["records"] == TINY.loss_points).all()
    assert table["a_mean"].notna().all() and (table["seconds"] > 0).all()
    assert (out / "by_run.png").is_file()
    parts = dict(subsets(read_records(tiny), "run"))
    for run in RUNS:
        folder = _at(out, run)
        assert _complete(folder) and (folder / "report.html").is_file(), run
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["subset"]["name"] == run
        assert summary["subset"]["sha256"] == subset_sha256(parts[run])
        assert summary["sampler"]["seed"] == SAMPLER["seed"]
    # no half-written folder left behind
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert "4 fit(s) to run on a local Dask cluster of 2 worker process(es)" in on_cluster.stderr
    progress = [line for line in on_cluster.stderr.splitlines() if "fits done" in line]
    assert len(progress) == 4 and progress[-1].startswith("[4/4 fits done, all done in")
    assert "about" in progress[0] and "left" in progress[0]


@pytest.mark.slow
def test_the_same_subset_gives_the_same_numbers_in_process_and_on_the_cluster(
    on_cluster, tiny, tmp_path
):
    tasks, _, _ = plan_subsets(read_records(tiny), "run", tmp_path / "here", SAMPLER)
    [outcome] = run_tasks(fit_subset, tasks[:1])  # in this process
    assert outcome.error == "" and outcome.value["row"]["run"] == RUNS[0]
    here = read_datatree(_at(tmp_path / "here", RUNS[0]) / "posterior.nc")
    there = read_datatree(_at(on_cluster.out, RUNS[0]) / "posterior.nc")
    for name in ("a", "b", "rho", "chi", "gamma"):
        x = np.asarray(here["posterior"][name].values)
        y = np.asarray(there["posterior"][name].values)
        # same seed, same program: identical on one machine (within MCSE would do elsewhere)
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=0, err_msg=name)


@pytest.mark.slow
def test_a_local_cluster_starts_while_dasks_default_http_port_is_taken():
    """Port 8787 held by another program (a second cluster, a notebook's): the cluster the tool
    starts serves its HTTP routes on another port instead of failing (warnings are errors in
    this suite, as Dask's "Port 8787 is already in use" was when two test processes started
    clusters at once)."""
    import contextlib
    import socket

    holder = socket.socket()
    with contextlib.suppress(OSError):  # already held by another process: the same situation
        holder.bind(("", 8787))
        holder.listen()
    try:
        tasks = [SimpleNamespace(name=f"task {i}", value=i) for i in range(2)]
        outcomes = run_tasks(repr, tasks, ExecutorSettings(workers=1))
    finally:
        holder.close()
    assert [o.error for o in outcomes] == ["", ""]
    assert [o.value for o in outcomes] == [repr(t) for t in tasks]


def _dies(task):
    """``fit_subset``, except that the first two runs kill their worker process.

    The first does so on its first attempt only (a marker file beside ``--out`` remembers
    it), the second on every attempt.
    """
    marker = task.folder.parent.parent / f"{task.value}.attempted"
    if task.value == RUNS[1] and not marker.exists():
        marker.touch()
        os._exit(1)
    if task.value == RUNS[2]:
        marker.touch()
        os._exit(1)
    return fit_subset(task)


@pytest.mark.slow
def test_a_killed_worker_is_retried_once_then_reported_and_the_rest_kept(tiny, tmp_path):
    out = tmp_path / "out"
    tasks, _, _ = plan_subsets(read_records(tiny), "run", out, SAMPLER)
    seen = []
    outcomes = run_tasks(_dies, tasks, ExecutorSettings(workers=2),
                         on_done=lambda outcome, done, total, elapsed: seen.append(outcome.name))
    by_run = {o.name: o for o in outcomes}
    assert sorted(seen) == sorted(f"run {r}" for r in RUNS)
    # killed once, run again on a fresh worker: fitted
    assert by_run[f"run {RUNS[1]}"].error == "" and _complete(_at(out, RUNS[1]))
    # killed on both attempts: reported by name, with Dask's error, and no folder
    dead = by_run[f"run {RUNS[2]}"]
    assert dead.value is None and dead.error.startswith("KilledWorker"), dead.error
    assert not _at(out, RUNS[2]).exists()
    # the others are intact
    for run in (RUNS[0], RUNS[3]):
        assert by_run[f"run {run}"].error == "" and _complete(_at(out, run))
        assert json.loads((_at(out, run) / "summary.json").read_text())["subset"]["name"] == run


# ---------------------------------------------------------------- --resume


@pytest.mark.slow
def test_resume_keeps_verified_folders_and_refits_changed_ones(on_cluster, tiny, tmp_path):
    out = tmp_path / "by_run"
    shutil.copytree(on_cluster.out, out)
    kept = {run: (_at(out, run) / "posterior.nc").stat().st_mtime_ns for run in RUNS}

    # everything complete and matching: nothing to fit, the table is rebuilt from the folders
    result = CliRunner().invoke(app, ["fit", str(tiny), "--by", "run", "--out", str(out),
                                      "--resume", *CLI_SAMPLER])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("complete and verified") == 4
    assert "fits done" not in result.stderr
    assert "0 of 4 fits converged" in result.stdout
    again = pd.read_csv(out / "summary.csv")
    np.testing.assert_allclose(again["a_mean"], on_cluster.table["a_mean"], rtol=1e-12)

    # one run's records change, another folder lost its posterior: those two are refitted
    frame = pd.read_csv(tiny)
    frame.loc[frame["run"] == RUNS[0], "loss"] *= 1.01
    changed = artifacts.write_table(frame, tmp_path / "tiny.csv")
    (_at(out, RUNS[3]) / "posterior.nc").unlink()
    lines: list[str] = []
    table = fit_subsets(changed, "run", out, resume=True,
                        notify=lambda line, important: lines.append(line), **SAMPLER)
    text = "\n".join(lines)
    assert f"run {RUNS[0]}: refitted: its records changed" in text
    assert f"run {RUNS[3]}: refitted: incomplete (posterior.nc missing)" in text
    assert "2 fit(s) to run in this process" in text
    for run in (RUNS[1], RUNS[2]):
        assert (_at(out, run) / "posterior.nc").stat().st_mtime_ns == kept[run], run
    assert _complete(_at(out, RUNS[3]))
    assert (_at(out, RUNS[0]) / "posterior.nc").stat().st_mtime_ns != kept[RUNS[0]]
    assert list(table["run"]) == list(RUNS)
    assert table.loc[1:2, "a_mean"].tolist() == on_cluster.table.loc[1:2, "a_mean"].tolist()


def _folder(tmp_path: Path, summary: dict) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "posterior.nc").write_bytes(b"")
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_verify_folder_names_every_setting_that_differs(tiny, tmp_path):
    records = read_records(tiny)
    [task, *_], _, _ = plan_subsets(records, "run", tmp_path / "out", SAMPLER)
    expected = task.fingerprint
    settings = expected["settings"]
    summary = {
        "model": {"name": settings["model"], "g": settings["g"], "tier": settings["tier"],
                  "likelihood": settings["likelihood"]},
        "sampler": {k: settings[k] for k in ("chains", "warmup", "draws", "seed")},
        "subset": expected,
    }
    folder = _folder(tmp_path, summary)
    assert verify_folder(folder, expected)[1] == []

    summary["sampler"]["draws"] = 1000
    summary["model"]["g"] = "ntk"
    summary["subset"] = {**expected, "sha256": "0" * 64,
                         "settings": {**settings, "target_accept": 0.95}}
    (folder / "summary.json").write_text(json.dumps(summary))
    reasons = verify_folder(folder, expected)[1]
    assert reasons == [
        "its records changed (sha256 of the subset differs)",
        "g 'ntk' in summary.json, 'monomial' asked",
        "draws 1000 in summary.json, 50 asked",
        "target_accept 0.95 in summary.json, 0.9 asked",
    ]
    (folder / "summary.json").write_text("{not json")
    assert verify_folder(folder, expected)[1][0].startswith("summary.json unreadable")
    (folder / "posterior.nc").unlink()
    assert verify_folder(folder, expected)[1] == ["incomplete (posterior.nc missing)"]
    assert verify_folder(tmp_path / "absent", expected)[1] == ["not fitted yet"]


def test_a_subsets_digest_ignores_other_runs_and_line_numbers(tiny, tmp_path):
    frame = pd.read_csv(tiny)
    other = frame[frame["run"] == RUNS[0]].assign(run="extra")
    moved = artifacts.write_table(pd.concat([other, frame]), tmp_path / "more.csv")
    before = dict(subsets(read_records(tiny), "run"))
    after = dict(subsets(read_records(moved), "run"))
    for run in RUNS:
        assert subset_sha256(before[run]) == subset_sha256(after[run])
    assert subset_sha256(after["extra"]) != subset_sha256(before[RUNS[0]])


def test_names_that_clean_to_the_same_folder_get_their_own(tiny, tmp_path):
    frame = pd.read_csv(tiny)
    frame["run"] = frame["run"].map({RUNS[0]: "a/b", RUNS[1]: "a_b", RUNS[2]: "a b",
                                     RUNS[3]: "c"})
    path = artifacts.write_table(frame, tmp_path / "names.csv")
    tasks, _, _ = plan_subsets(read_records(path), "run", tmp_path / "out", SAMPLER)
    assert [t.folder.name for t in tasks] == ["a_b", "a_b_2", "a_b_3", "c"]
    assert all(t.folder.is_absolute() for t in tasks)


# ---------------------------------------------------------------- in process, settings


def test_in_process_retries_once_reports_failures_and_never_imports_dask():
    code = textwrap.dedent(
        """
        import sys
        from types import SimpleNamespace
        from gsf_infer.executor import run_tasks

        calls = {}

        def work(task):
            calls[task.name] = calls.get(task.name, 0) + 1
            if task.name == "flaky" and calls["flaky"] == 1:
                raise RuntimeError("lost on the first attempt")
            if task.name == "broken":
                raise ValueError("always")
            return task.name.upper()

        tasks = [SimpleNamespace(name=n) for n in ("ok", "flaky", "broken", "last")]
        done = []
        outcomes = run_tasks(work, tasks, on_done=lambda o, d, t, s: done.append((d, t)))
        print([(o.name, o.value, o.error) for o in outcomes])
        print(calls, done)
        print("dask" in sys.modules, "distributed" in sys.modules)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    outcomes, calls, imported = run.stdout.strip().splitlines()
    assert outcomes == str([("ok", "OK", ""), ("flaky", "FLAKY", ""),
                            ("broken", None, "ValueError: always"), ("last", "LAST", "")])
    assert calls.startswith("{'ok': 1, 'flaky': 2, 'broken': 2, 'last': 1}")
    assert calls.endswith("[(1, 4), (2, 4), (3, 4), (4, 4)]")
    assert imported == "False False"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ExecutorSettings(workers=2, scheduler="tcp://x:8786"), "not both"),
        (ExecutorSettings(workers=0), "--workers must be a positive integer"),
        (ExecutorSettings(scheduler=" "), "--scheduler needs an address"),
    ],
)
def test_unusable_settings_are_refused(settings, message):
    with pytest.raises(InputError, match=message):
        settings.check()


def test_workers_scheduler_and_resume_need_by(tiny, tmp_path):
    for extra in (["--workers", "2"], ["--scheduler", "tcp://x:8786"], ["--resume"]):
        result = CliRunner().invoke(app, ["fit", str(tiny), "--out", str(tmp_path / "o"),
                                          *extra])
        assert result.exit_code == 2, result.output
        assert "--workers, --scheduler and --resume go with --by" in result.output
    help_text = CliRunner().invoke(app, ["fit", "--help"]).output
    for option in ("--workers", "--scheduler", "--resume"):
        assert option in help_text
