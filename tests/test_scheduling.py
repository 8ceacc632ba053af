"""The suite's test scheduling keeps groups together and goes on after a test process crashes
(``xdist_scheduling``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadGroupScheduling
from xdist_scheduling import pytest_xdist_make_scheduler

HERE = Path(__file__).resolve().parent

TESTS = {
    "test_a.py": """
        import os, time, pytest
        def where(): print(os.environ["PYTEST_XDIST_WORKER"], file=open(f"{__name__}.one", "a"))
        @pytest.mark.xdist_group("one")
        def test_1(): where(); time.sleep(0.2)
        @pytest.mark.xdist_group("one")
        def test_2(): where(); os._exit(1)
        @pytest.mark.xdist_group("one")
        def test_3(): where(); time.sleep(0.2)
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
                "from xdist_scheduling import pytest_collection_modifyitems, "
                "pytest_xdist_make_scheduler\n") if scheduler else ""
    (folder / "conftest.py").write_text(conftest)
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers),
             "--dist", "loadgroup", "--debug", str(folder / "debug.log"), "test_a.py",
             "test_b.py"],
            cwd=folder, capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired as hung:
        # with --debug, pytest-xdist's controller logs every scheduling step to stderr
        err = hung.stderr or b""
        (folder / "stderr.txt").write_bytes(err.encode() if isinstance(err, str) else err)
        return None


def hang_report(folder: Path) -> str:
    """The scheduler's decisions of a toy run that did not end (pytest-xdist's debug log)."""
    lines = (folder / "stderr.txt").read_text(errors="replace").splitlines()
    keep = [line for line in lines if "sending command" in line
            or ("calling method worker_" in line and "worker_testreport" not in line
                and "worker_log" not in line)]
    return "the run hung after a crash; the scheduler's last steps:\n" + "\n".join(
        line[:300] for line in keep[-40:])


class Process:
    """A test process as the scheduler sees it: the tests sent to it, and whether it was told to
    finish; it runs a test once it knows the next one or that there is none."""

    def __init__(self, name):
        self.name, self.sent, self.shutting_down = name, [], False
        self.gateway = SimpleNamespace(id=name)

    def send_runtest_some(self, indices):
        self.sent.extend(indices)

    def shutdown(self):
        self.shutting_down = True

    def runnable(self, done):
        todo = [i for i in self.sent if i not in done]
        return todo[0] if len(todo) >= 2 or todo and self.shutting_down else None

    def __repr__(self):
        return self.name


IDS = ["t.py::g1@one", "t.py::g2@one", "t.py::g3@one", "t.py::x1", "t.py::x2", "t.py::x3"]


def crash_while_a_replacement_starts(sched):
    """Two processes; B crashes on its first test, then A on its second while B's replacement C
    is up but still collecting; C's collection comes in last. The crashed tests, in order."""
    a, b, c = Process("A"), Process("B"), Process("C")
    for node in (a, b):
        sched.add_node(node)
        sched.add_node_collection(node, IDS)
    sched.schedule()
    sched.mark_test_complete(a, a.sent[0])
    crashed = [sched.remove_node(b)]
    sched.add_node(c)
    crashed.append(sched.remove_node(a))
    sched.add_node_collection(c, IDS)
    sched.schedule()
    return crashed, c


def test_a_crash_while_a_replacement_collects_loses_no_test():
    """The run that hung under load (one toy run in about 25): the scheduler gave the second
    crash's tests to a replacement process that had not sent its collection yet."""
    config = SimpleNamespace(getvalue=lambda name: {"tx": ["2*popen"]}[name],
                             option=SimpleNamespace(loadscopereorder=False))
    quiet = Producer("sched", enabled=False)
    sched = pytest_xdist_make_scheduler(config, quiet)
    crashed, c = crash_while_a_replacement_starts(sched)
    assert crashed == ["t.py::x1", "t.py::g2@one"]
    done = {IDS.index(nodeid) for nodeid in crashed} | {0}
    while (index := c.runnable(done)) is not None:
        done.add(index)
        sched.mark_test_complete(c, index)
    assert done == set(range(len(IDS))) and c.shutting_down and sched.tests_finished
    # negative control: pytest-xdist's own scheduling fails on the same sequence
    with pytest.raises(KeyError):
        crash_while_a_replacement_starts(LoadGroupScheduling(config, quiet))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_crashed_test_process_fails_its_test_and_the_run_finishes(tmp_path, workers):
    done = run_toy(tmp_path, scheduler=True, workers=workers, timeout=300)
    assert done is not None, hang_report(tmp_path)
    tail = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 1
    assert "2 failed, 7 passed" in tail, done.stdout[-2000:]
    assert "crashed while running 'test_a.py::test_2@one'" in done.stdout
    assert "crashed while running 'test_b.py::test_b2'" in done.stdout
    # the group ran on one process until the crash, and on its replacement after it
    first, *rest = (tmp_path / "test_a.one").read_text().split()
    assert rest[0] == first and rest[1] != first, (first, rest)


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
