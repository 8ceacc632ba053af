"""``gsf-infer validate``: output on valid tables, exit 2 and the tool's own message on bad ones."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gsf_infer.analysis.identify import identify
from gsf_infer.cli import app
from gsf_infer.cli.validate import MAX_RUNS_SHOWN, format_validation
from gsf_infer.data import schema
from gsf_infer.data.records import EXCLUDED_T0, EXCLUDED_UNPRUNED, records_from_frame
from gsf_infer.output.artifacts import write_table

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["validate", *args])


def assert_refused(result, *fragments: str) -> None:
    """Exit 2 through the tool's own handler: no traceback, every stderr line an 'error:'."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def test_valid_file_with_every_kind_prints_the_identification_table() -> None:
    result = run(str(DATA / "all_kinds.csv"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"file        {DATA / 'all_kinds.csv'}" in out
    assert "sha256      " in out and len(out.split("sha256")[1].split()[0]) == 64
    for kind in schema.KINDS:
        assert f"  {kind}" in out
    assert "records     26 in 7 kind(s)" in out
    assert EXCLUDED_T0 in out and EXCLUDED_UNPRUNED in out
    table = out.split("what the data constrain")[1]
    for name in ("a", "b", "rho", "chi", "gamma", "rho_over_b"):
        assert any(line.split()[:2] == [name, "yes"] for line in table.splitlines() if line.strip())
    assert "  b           yes          spectrum | loss+quantization | loss+pruning" in table
    assert out.rstrip().endswith("invariant chi + gamma = rho: testable")


def test_loss_only_is_untestable_and_names_the_missing_kinds() -> None:
    result = run(str(DATA / "loss_only.csv"))
    assert result.exit_code == 0, result.output
    assert (
        "invariant chi + gamma = rho: untestable: missing quantization; pruning or density; "
        "spectrum or (pruning and loss at several model sizes)"
    ) in result.stdout
    lines = result.stdout.split("what the data constrain")[1].splitlines()
    assert any(line.split()[:3] == ["a", "no", "prior"] for line in lines)
    assert any(line.split()[:3] == ["chi", "yes", "loss"] for line in lines)
    assert "  none" in result.stdout  # no excluded rows


def test_provenance_and_metadata_are_shown() -> None:
    result = run(str(DATA / "provenance.csv"))
    assert result.exit_code == 0, result.output
    assert "provenance  licence: CC0-1.0" in result.stdout
    assert "metadata    lr" in result.stdout


def test_parquet_file(tmp_path: Path) -> None:
    path = write_table(pd.read_csv(DATA / "all_kinds.csv"), tmp_path / "t.parquet")
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert "testable" in result.stdout


def test_bad_file_exit_2_with_line_and_column() -> None:
    result = run(str(DATA / "too_few.csv"))
    assert_refused(result, f"{DATA / 'too_few.csv'}:2, column 'kind', value 'loss': only 1")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert_refused(run(str(tmp_path / "absent.csv")), "no such file")
    assert_refused(run(str(tmp_path)), "is a directory")


def test_problem_list_is_capped() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "many.csv"
        path.write_text("kind,t,loss\n" + "".join(f"loss,{t},x\n" for t in range(1, 2001)))
        result = run(str(path))
    assert_refused(result, "… and 1950 more problems (2000 in all)")
    assert len(result.stderr.splitlines()) == 51


def test_help_teaches_formats_and_rules() -> None:
    result = runner.invoke(app, ["validate", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for word in (".csv", ".tsv", ".parquet", "aliases", "sparsity in [0, 1)", "Exit code 0"):
        assert word in text


def test_many_runs_are_summarised() -> None:
    runs = MAX_RUNS_SHOWN + 5
    frame = pd.DataFrame(
        {
            "kind": "loss",
            "run": [f"r{i:03d}" for i in range(runs) for _ in range(3)],
            "t": [10.0, 100.0, 1000.0] * runs,
            "loss": [3.0, 2.0, 1.5] * runs,
        }
    )
    records = records_from_frame(frame)
    text = format_validation(records, identify(records))
    assert f"… and 5 more runs ({runs} in all)" in text
    assert "r000" in text and f"r{runs - 1:03d}" not in text
    assert "(in-memory table)" in text


# --------------------------------------------------------------------------- property tests
#
# Arbitrary malformed tables through the CLI end in exit 2 with the tool's own message. Each
# strategy guarantees a defect, so exit 0 would be a bug too.

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
BASE = [
    ["kind", "run", "t", "params", "loss", "stderr"],
    ["loss", "small", "10", "1e6", "3.9", "0.01"],
    ["loss", "small", "100", "1e6", "3.1", "0.01"],
    ["loss", "small", "1000", "1e6", "2.7", "0.01"],
]
_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
_any_cell = st.one_of(
    _text,
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.sampled_from(["", "nan", "inf", "-inf", "1e400", "-1e-400", "0", "-0", "TRUE", "1,5"]),
)


def _to_csv(rows: list[list[str]], sep: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _positive_finite(text: str) -> bool:
    try:
        value = float(text.strip())
    except ValueError:
        return False
    return math.isfinite(value) and value > 0


def _invoke_on(content: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{suffix}"
        path.write_bytes(content)
        return run(str(path))


@SETTINGS
@given(content=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".tsv", ".parquet"]))
def test_random_bytes(content: bytes, suffix: str) -> None:
    assert_refused(_invoke_on(content, suffix))


@SETTINGS
@given(
    row=st.integers(min_value=1, max_value=3),
    column=st.sampled_from([2, 4]),  # t, loss: required by every loss row
    value=_any_cell,
)
def test_random_bad_cell_in_a_required_column(row: int, column: int, value: str) -> None:
    if column == 2:  # t: finite >= 0; t = 0 is excluded, leaving too few records
        try:
            parsed = float(value.strip())
            assume(not (math.isfinite(parsed) and parsed > 0))
        except ValueError:
            pass
    else:  # loss: finite > 0
        assume(not _positive_finite(value))
    rows = [list(r) for r in BASE]
    rows[row][column] = value
    assert_refused(_invoke_on(_to_csv(rows).encode("utf-8"), ".csv"))


@SETTINGS
@given(
    names=st.lists(_text, min_size=len(BASE[0]), max_size=len(BASE[0])),
    sep=st.sampled_from([",", "\t"]),
)
def test_random_column_names(names: list[str], sep: str) -> None:
    keys = [schema.ALIASES.get(n.strip().lower(), n.strip().lower()) for n in names]
    # without a kind column, or without the t / loss the loss rows need, the table is bad
    assume("kind" not in keys or "t" not in keys or "loss" not in keys)
    rows = [names] + [list(r) for r in BASE[1:]]
    content = _to_csv(rows, sep).encode("utf-8")
    assert_refused(_invoke_on(content, ".csv" if sep == "," else ".tsv"))


@SETTINGS
@given(drop=st.sampled_from(["kind", "t", "loss"]), extra_rows=st.integers(0, 3))
def test_missing_columns(drop: str, extra_rows: int) -> None:
    header = BASE[0]
    keep = [i for i, name in enumerate(header) if name != drop]
    rows = [[r[i] for i in keep] for r in BASE + BASE[1:2] * extra_rows]
    assert_refused(_invoke_on(_to_csv(rows).encode("utf-8"), ".csv"))


@SETTINGS
@given(
    grid=st.lists(st.lists(_any_cell, min_size=6, max_size=6), min_size=1, max_size=6),
    kinds=st.lists(st.sampled_from([*schema.KINDS, "", "Loss ", "other"]), min_size=6, max_size=6),
)
def test_random_cells_under_a_loss_header(grid: list[list[str]], kinds: list[str]) -> None:
    """Random cells may, rarely, form a valid table; anything else must be exit 2."""
    header = ["kind", "t", "loss", "params", "sparsity", "k", "note"]
    rows = [header] + [[kinds[i % len(kinds)], *cells] for i, cells in enumerate(grid)]
    result = _invoke_on(_to_csv(rows).encode("utf-8"), ".csv")
    if result.exit_code == 0:
        # only loss rows can be valid under this header (every other kind needs a column it
        # lacks), and there must be at least three with a positive loss
        assert all(r[0].strip().lower() == "loss" for r in rows[1:])
        assert sum(_positive_finite(r[2]) for r in rows[1:]) >= 3
        assert result.stderr == ""
    else:
        assert_refused(result)


@SETTINGS
@given(
    values=st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
        ),
        min_size=3,
        max_size=3,
    )
)
def test_typed_parquet_with_nan_inf_huge_and_negative(values: list[float]) -> None:
    assume(not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values))
    frame = pd.DataFrame({"kind": ["loss"] * 3, "t": [10.0, 100.0, 1000.0], "loss": values})
    with tempfile.TemporaryDirectory() as folder:
        path = write_table(frame, Path(folder) / "t.parquet")
        assert_refused(run(str(path)))


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfek\x00i\x00n\x00d\x00",  # UTF-16
        b"PAR1garbagePAR1",
        b'kind,t,loss\nloss,1,2\nloss,"3\n',
        b"\n\n\n",
        b"kind,t,loss\n" + b"loss," + b"9" * 200_000 + b",1\n",
    ],
    ids=["utf16", "fake-parquet-magic", "open-quote", "blank-lines", "huge-field"],
)
def test_specific_garbage(content: bytes) -> None:
    assert_refused(_invoke_on(content, ".csv"))
