"""The benchmark script (benchmarks/run.py): its cheap section end to end, and its helpers.

No timing is asserted (SPEC §9: performance is measured by the script, never by tests); these
tests only keep the script working.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_merged_seconds_counts_nested_and_overlapping_spans_once(bench):
    # [0, 4] with [1, 2] nested and [3, 6] overlapping, [8, 9] apart: union 6 + 1 = 7
    spans = [(0.0, 4.0), (1.0, 2.0), (3.0, 6.0), (8.0, 9.0)]
    assert bench.merged_seconds(spans, 0.0, 10.0) == pytest.approx(7.0)
    # clipped to a window [2, 8.5]: [2, 6] and [8, 8.5]
    assert bench.merged_seconds(spans, 2.0, 8.5) == pytest.approx(4.5)
    assert bench.merged_seconds([], 0.0, 1.0) == 0.0


def test_quick_help_section_writes_a_report(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "help", "--out", str(out),
         "--work", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "## Machine and versions" in text
    assert "| 4. `gsf-infer --help` | < 0.5 s |" in text
    assert "QUICK MODE" in text
    assert (tmp_path / "work" / "results.json").is_file()


def test_unknown_section_is_refused(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "nonsense", "--out", str(tmp_path / "r.md"),
         "--work", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "unknown section" in proc.stderr
    assert not (tmp_path / "r.md").exists()
