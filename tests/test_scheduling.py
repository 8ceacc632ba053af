"""The suite's test scheduling goes on after a test process crashes (``xdist_scheduling``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

TESTS = {
    "test_a.py": """
        import os, time, pytest
        @pytest.mark.xdist_group("one")
        def test_1(): time.sleep(0.2)
        @pytest.mark.xdist_group("one")
        def test_2(): os._exit(1)
        @pytest.mark.xdist_group("one")
        def test_3(): time.sleep(0.2)
        def test_4(): time.sleep(0.2)
        def test_5(): time.sleep(0.5)
    """,
    "test_b.py": """
        import os, time
        def test_b1(): time.sleep(0.2)
        def test_b2(): os._exit(1)
        def test_b3(): time.sleep(0.5)
        def test_b4(): time.sleep(0.2)
    """,
}


def run_toy(folder: Path, scheduler: bool, workers: int, timeout: float):
    """Run the toy tests with ``--dist loadgroup``; the completed process, or None on timeout."""
    for name, text in TESTS.items():
        (folder / name).write_text(textwrap.dedent(text))
    (folder / "pytest.ini").write_text("[pytest]\n")
    conftest = (f"import sys\nsys.path.insert(0, {str(HERE)!r})\n"
                "from xdist_scheduling import pytest_xdist_make_scheduler\n") if scheduler else ""
    (folder / "conftest.py").write_text(conftest)
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers),
             "--dist", "loadgroup", "test_a.py", "test_b.py"],
            cwd=folder, capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.parametrize("workers", [1, 2])
def test_a_crashed_test_process_fails_its_test_and_the_run_finishes(tmp_path, workers):
    done = run_toy(tmp_path, scheduler=True, workers=workers, timeout=300)
    assert done is not None, "the run hung after a crash"
    tail = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 1
    assert "2 failed, 7 passed" in tail, done.stdout[-2000:]
    assert "crashed while running 'test_a.py::test_2'" in done.stdout
    assert "crashed while running 'test_b.py::test_b2'" in done.stdout


@pytest.mark.slow
def test_without_it_the_run_hangs_or_loses_tests_after_a_crash(tmp_path):
    """Negative control: pytest-xdist's own ``loadgroup`` scheduling (fails once upstream is
    fixed, and then ``xdist_scheduling`` can go). The same suite finishes in about 5 s with
    the project's scheduling, all nine tests reported. Upstream, after a crash, the run either
    hangs (20 s without an end) or stops with an internal error before every test ran (seen
    once in a fresh-clone run: ``1 failed, 3 passed``), depending on timing."""
    done = run_toy(tmp_path, scheduler=False, workers=2, timeout=20)
    if done is not None:
        assert "2 failed, 7 passed" not in done.stdout, done.stdout[-2000:]
        assert "INTERNALERROR" in done.stdout, done.stdout[-2000:]
