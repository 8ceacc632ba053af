"""House style, checked: the linter's rules, and a project that stands alone.

ruff with the configuration in ``pyproject.toml`` (numpydoc docstrings, imports sorted, lines of
100 columns); and no docstring, comment or test that points to documents outside the
repository (specification sections, stack notes, issue numbers).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = ("gsf_infer", "tests", "benchmarks", "examples")


def test_ruff_finds_nothing():
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *TREES],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_references_to_documents_outside_the_repository():
    pattern = re.compile(r"\bSPEC\b|\bSTACK\b|issue [0-9]|\.\./shared")
    hits = []
    for tree in (*TREES, "docs"):
        for path in sorted((ROOT / tree).rglob("*")):
            if path.suffix not in (".py", ".md") or path == Path(__file__):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, "\n".join(hits)
