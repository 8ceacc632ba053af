"""The records reader: every validation rule, exclusions, aliases, formats, provenance."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsf_infer.data import schema
from gsf_infer.data.records import (
    EXCLUDED_EMPTY,
    EXCLUDED_T0,
    EXCLUDED_UNPRUNED,
    MAX_PROBLEMS_SHOWN,
    Records,
    RecordsError,
    read_records,
    records_from_frame,
)
from gsf_infer.errors import InputError
from gsf_infer.output.artifacts import write_table

DATA = Path(__file__).parent / "data"
LOSS_ROWS = "loss,10,3.9\nloss,100,3.1\nloss,1000,2.7\n"


def write(tmp_path: Path, text: str | bytes, name: str = "table.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as info:
        read_records(path)
    return [str(p) for p in info.value.problems]


def has(messages: list[str], path: Path, line: int | None, column: str | None, *words: str) -> bool:
    """Whether one message names this file and line, this column, and every word."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    for message in messages:
        if not message.startswith(where + (", " if column else ":")):
            continue
        if column is not None and f"column '{column}'" not in message:
            continue
        if all(w in message for w in words):
            return True
    return False


def check(path: Path, line: int | None, column: str | None, *words: str) -> list[str]:
    messages = problems(path)
    assert has(messages, path, line, column, *words), messages
    return messages


# --------------------------------------------------------------------------- a valid file


def test_every_kind_fixture_is_read() -> None:
    records = read_records(DATA / "all_kinds.csv")
    assert records.counts() == {
        "loss": 6,
        "quantization": 3,
        "pruning": 3,
        "density": 3,
        "spectrum": 4,
        "modes": 4,
        "data_scaling": 3,
    }
    assert records.excluded == {EXCLUDED_T0: 1, EXCLUDED_UNPRUNED: 1}
    table = records.table
    assert list(table.columns) == [*schema.COLUMNS, "line", "note"]
    assert records.metadata_columns == ("note",)
    for column in schema.NUMERIC_COLUMNS:
        assert table[column].dtype == np.float64, column
    assert table["line"].dtype == np.int64
    assert str(table["date"].dtype) == "datetime64[ns]"
    # lines are the physical lines: row 2 (t = 0) and 12 (sparsity 0) are excluded
    assert 2 not in set(table["line"]) and 12 not in set(table["line"])
    assert table.loc[table["line"] == 3, "loss"].item() == 3.9
    assert set(table["group"]) == {"all", "task-b"}
    assert table.loc[table["kind"] == "density", "date"].iloc[0] == pd.Timestamp("2023-02-01")
    assert len(records.sha256) == 64
    runs = records.runs()
    assert list(runs.columns) == ["group", "run", "kind", "records"]
    small = runs[(runs["run"] == "small")].set_index("kind")["records"].to_dict()
    assert small == {"loss": 3, "quantization": 3, "pruning": 3, "modes": 4}
    assert len(records.of_kind("spectrum")) == 4
    assert records.of_kind("spectrum")["k"].tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="unknown kind"):
        records.of_kind("los")


def test_defaults_for_run_and_group(tmp_path: Path) -> None:
    records = read_records(write(tmp_path, "kind,t,loss\n" + LOSS_ROWS))
    assert set(records.table["run"]) == {"run"}
    assert set(records.table["group"]) == {"all"}
    assert records.table["params"].isna().all()
    assert records.table["line"].tolist() == [2, 3, 4]


def test_aliases_and_case_insensitivity(tmp_path: Path) -> None:
    text = " KIND , Steps,LOSS,N, Flops ,Examples\n" + "\n".join(
        f"Loss ,{t},{loss},1e6,1e12," for t, loss in [(10, 3.9), (100, 3.1), (1000, 2.7)]
    )
    records = read_records(write(tmp_path, text))
    table = records.table
    assert table["t"].tolist() == [10.0, 100.0, 1000.0]
    assert table["params"].tolist() == [1e6] * 3
    assert table["compute"].tolist() == [1e12] * 3
    assert table["samples"].isna().all()
    assert set(table["kind"]) == {"loss"}
    assert records.metadata_columns == ()


@pytest.mark.parametrize(
    ("alias", "canonical"), sorted(schema.ALIASES.items()), ids=sorted(schema.ALIASES)
)
def test_each_alias_maps_to_its_column(tmp_path: Path, alias: str, canonical: str) -> None:
    frame = pd.DataFrame(
        {"kind": ["loss"] * 3, "t": [10.0, 100.0, 1000.0], "loss": [3.9, 3.1, 2.7]}
    )
    if canonical == "t":
        frame = frame.rename(columns={"t": alias.upper()})
    else:
        frame[alias.upper()] = [5.0, 6.0, 7.0]
    records = records_from_frame(frame)
    assert records.table[canonical].tolist() == (
        [10.0, 100.0, 1000.0] if canonical == "t" else [5.0, 6.0, 7.0]
    )


def test_tsv(tmp_path: Path) -> None:
    records = read_records(DATA / "loss.tsv")
    assert records.table["t"].tolist() == [10.0, 100.0, 1000.0]
    assert records.table["params"].tolist() == [1e6] * 3
    assert records.table["line"].tolist() == [2, 3, 4]
    # a comma-separated file named .tsv gets a hint, not a traceback
    path = write(tmp_path, "kind,t,loss\n" + LOSS_ROWS, "commas.tsv")
    check(path, 1, "kind,t,loss", "commas")


def test_provenance_comment_lines_keep_physical_line_numbers(tmp_path: Path) -> None:
    records = read_records(DATA / "provenance.csv")
    assert records.provenance == {
        "source": "hand-written fixture for gsf-infer's reader tests",
        "licence": "CC0-1.0",
        "citation": "none",
    }
    # four comment/blank lines, header on line 5
    assert records.table["line"].tolist() == [6, 7, 8]
    assert records.metadata_columns == ("lr",)
    assert records.table["lr"].tolist() == [3e-4] * 3
    text = (DATA / "provenance.csv").read_text().replace("loss,100,3.1", "loss,100,-3.1")
    path = write(tmp_path, text)
    check(path, 7, "Loss", "must be > 0", "'-3.1'")


def test_parquet_round_trip_with_provenance(tmp_path: Path) -> None:
    source = read_records(DATA / "all_kinds.csv")
    provenance = {"source": "fixture", "licence": "CC0-1.0", "citation": "none: hand-written"}
    frame = pd.read_csv(DATA / "all_kinds.csv")
    path = write_table(frame, tmp_path / "all_kinds.parquet", provenance=provenance)
    records = read_records(path)
    assert records.provenance == provenance
    assert records.counts() == source.counts()
    assert records.excluded == source.excluded
    columns = [*schema.COLUMNS]
    pd.testing.assert_frame_equal(
        records.table[columns].reset_index(drop=True), source.table[columns].reset_index(drop=True)
    )
    # row i of a Parquet file is line i + 1 (as if the header were line 1)
    assert records.table["line"].tolist() == source.table["line"].tolist()
    # and a CSV written by the same writer keeps its provenance and line numbers right
    csv_path = write_table(frame, tmp_path / "again.csv", provenance=provenance)
    again = read_records(csv_path)
    assert again.provenance == provenance
    assert again.table["line"].tolist() == [n + 3 for n in source.table["line"]]


def test_parquet_problem_names_row_and_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"kind": ["loss"] * 3, "t": [10, 100, 1000], "loss": [3.9, -1.0, 2.7]})
    path = write_table(frame, tmp_path / "bad.parquet")
    check(path, 3, "loss", "must be > 0", "-1.0")


def test_records_from_frame_uses_row_position_plus_two() -> None:
    frame = pd.DataFrame(
        {"kind": ["loss"] * 4, "t": [0, 10, 100, 1000], "loss": [5, 3.9, 3.1, 2.7], "seed": 7},
        index=[40, 41, 42, 43],
    )
    records = records_from_frame(frame, path="sim", provenance={"tool": "test"})
    assert records.table["line"].tolist() == [3, 4, 5]
    assert records.excluded == {EXCLUDED_T0: 1}
    assert records.sha256 == ""
    assert records.provenance == {"tool": "test"}
    frame.loc[42, "loss"] = math.inf
    with pytest.raises(InputError) as info:
        records_from_frame(frame, path="sim")
    assert "sim:4, column 'loss', value inf: infinite value" in str(info.value)
    with pytest.raises(TypeError):
        records_from_frame([["loss", 1, 2]])  # type: ignore[arg-type]


def test_a_validated_table_validates_again_unchanged() -> None:
    records = read_records(DATA / "all_kinds.csv")
    again = records_from_frame(records.table.drop(columns="line"))
    columns = [c for c in records.table.columns if c != "line"]
    pd.testing.assert_frame_equal(again.table[columns], records.table[columns])
    assert again.excluded == {}


def test_metadata_text_and_numbers_are_kept(tmp_path: Path) -> None:
    text = "kind,t,loss,Optimizer,seed\nloss,10,3.9,adam,1\nloss,100,3.1,,2\nloss,1000,2.7,sgd,3\n"
    records = read_records(write(tmp_path, text))
    assert records.metadata_columns == ("Optimizer", "seed")
    assert records.table["Optimizer"].tolist() == ["adam", None, "sgd"]
    assert records.table["seed"].tolist() == [1.0, 2.0, 3.0]


# --------------------------------------------------------------------------- whole-file rules


def test_missing_file(tmp_path: Path) -> None:
    check(tmp_path / "nope.csv", None, None, "no such file")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    check(folder, None, None, "is a directory")


def test_unknown_extension(tmp_path: Path) -> None:
    check(write(tmp_path, "kind,t,loss\n" + LOSS_ROWS, "table.xlsx"), None, None, ".csv")


def test_empty_file(tmp_path: Path) -> None:
    check(write(tmp_path, b""), None, None, "empty (0 bytes)")


def test_binary_garbage(tmp_path: Path) -> None:
    check(write(tmp_path, b"kind,t\nloss,\x00\x01\x02"), 2, None, "NUL bytes")


def test_undecodable_bytes(tmp_path: Path) -> None:
    check(write(tmp_path, b"kind,t,loss\nloss,1,2\n" + b"r\xe9sum\xe9\n"), 3, None, "UTF-8")


def test_unparsable_csv(tmp_path: Path) -> None:
    check(
        write(tmp_path, 'kind,t,loss\nloss,1,2\nloss,"2,3\nloss,3,4\n'), 3, None, "cannot be parsed"
    )


def test_ragged_row(tmp_path: Path) -> None:
    check(
        write(tmp_path, "kind,t,loss\n" + LOSS_ROWS + "loss,1,2,3,4\n"),
        5,
        None,
        "5 fields",
        "header has 3",
    )


def test_only_comments(tmp_path: Path) -> None:
    check(write(tmp_path, "# source: x\n\n"), 2, None, "no header")


def test_header_without_rows(tmp_path: Path) -> None:
    check(write(tmp_path, "kind,t,loss\n"), 1, None, "no records")


def test_no_kind_column(tmp_path: Path) -> None:
    messages = check(write(tmp_path, "t,loss\n1,2\n"), 1, None, "no 'kind' column")
    assert all(kind in messages[0] for kind in schema.KINDS)


def test_two_columns_with_one_meaning(tmp_path: Path) -> None:
    text = "kind,t,Steps,loss\n" + "loss,10,10,3.9\nloss,100,100,3.1\nloss,1000,1000,2.7\n"
    messages = check(write(tmp_path, text), 1, "Steps", "'t'", "'Steps'", "both mean 't'")
    assert len(messages) == 1


def test_reserved_line_column(tmp_path: Path) -> None:
    text = "kind,t,loss,Line\nloss,10,3.9,1\nloss,100,3.1,2\nloss,1000,2.7,3\n"
    check(write(tmp_path, text), 1, "Line", "reserved")


def test_unnamed_column_with_values(tmp_path: Path) -> None:
    text = "kind,t,loss,\nloss,10,3.9,a\nloss,100,3.1,\nloss,1000,2.7,\n"
    check(write(tmp_path, text), 1, "#4", "no name")
    # an unnamed, empty column (trailing commas) is harmless
    text = "kind,t,loss,\nloss,10,3.9,\nloss,100,3.1,\nloss,1000,2.7,\n"
    assert len(read_records(write(tmp_path, text, "ok.csv")).table) == 3


# --------------------------------------------------------------------------- cell rules


def test_unknown_kind_lists_the_valid_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "kind,t,loss\n" + LOSS_ROWS + "lossy,1,2\n")
    messages = check(path, 5, "kind", "unknown kind", "'lossy'")
    assert all(kind in messages[0] for kind in schema.KINDS)


def test_missing_kind(tmp_path: Path) -> None:
    check(write(tmp_path, "kind,t,loss\n" + LOSS_ROWS + ",1,2\n"), 5, "kind", "missing kind")


def test_non_numeric_value(tmp_path: Path) -> None:
    path = write(tmp_path, "kind,Tokens,loss\nloss,10,3.9\nloss,1e2x,3.1\nloss,1000,2.7\n")
    messages = check(path, 3, "Tokens", "not a number", "'1e2x'")
    assert len(messages) == 1  # no second complaint about the same cell


#: One bad cell: a table with ``{}`` where the value goes, the line and column named, the words
#: the message must hold, and the bad values tried.
BAD_CELLS = {
    "infinite": ("kind,t,loss\nloss,10,3.9\nloss,100,{}\nloss,1000,2.7\n", 3, "loss",
                 "infinite", ["inf", "-Infinity", "1e999"]),
    "k": ("kind,k,eigenvalue\nspectrum,1,1\nspectrum,{},0.5\nspectrum,3,0.3\n", 3, "k",
          "integer >= 1", ["0", "-1", "1.5"]),
    "sparsity": ("kind,t,sparsity,delta_loss\npruning,10,0.3,0.01\npruning,10,0.5,0.02\n"
                 "pruning,10,{},0.05\npruning,10,0.7,0.09\n", 4, "sparsity", "[0, 1)",
                 ["1", "1.2", "-0.1"]),
    "learned_fraction": ("kind,k,t,learned_fraction\nmodes,1,10,0.5\nmodes,2,10,0.2\n"
                         "modes,3,10,{}\nmodes,4,10,0.05\n", 4, "learned_fraction", "(0, 1)",
                         ["0", "1", "1.5", "-0.2"]),
    "date": ("kind,compute,params,density,date\ndensity,1e18,1e8,0.01,2023-01-01\n"
             "density,1e19,3e8,0.009,{}\ndensity,1e20,1e9,0.007,\n", 3, "date",
             "unparsable date", ["yesterday", "2024-13-01", "01/02/2024"]),
}


@pytest.mark.parametrize(
    ("rule", "value"), [(rule, v) for rule, case in BAD_CELLS.items() for v in case[-1]]
)
def test_one_bad_cell_names_its_line_column_and_value(tmp_path: Path, rule: str,
                                                       value: str) -> None:
    template, line, column, words, _ = BAD_CELLS[rule]
    check(write(tmp_path, template.format(value)), line, column, words, repr(value))


@pytest.mark.parametrize("column", schema.POSITIVE_COLUMNS)
@pytest.mark.parametrize("value", ["0", "-2.5"])
def test_non_positive_where_a_log_is_taken(tmp_path: Path, column: str, value: str) -> None:
    frame = pd.read_csv(DATA / "all_kinds.csv", dtype=str, keep_default_na=False)
    # the first row that carries a value in this column and is not excluded on purpose
    row = next(
        i
        for i in range(len(frame))
        if frame.loc[i, column] and frame.loc[i, "t"] != "0" and frame.loc[i, "sparsity"] != "0"
    )
    frame.loc[row, column] = value
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    check(path, row + 2, column, "must be > 0", repr(value))


def test_negative_t(tmp_path: Path) -> None:
    check(write(tmp_path, "kind,t,loss\nloss,-10,3.9\n" + LOSS_ROWS), 2, "t", "must be >= 0")


def test_negative_stderr(tmp_path: Path) -> None:
    text = "kind,t,loss,stderr\nloss,10,3.9,0.1\nloss,100,3.1,-0.1\nloss,1000,2.7,0\n"
    check(write(tmp_path, text), 3, "stderr", ">= 0", "'-0.1'")


@pytest.mark.parametrize("kind", schema.KINDS)
def test_missing_value_a_kind_needs(tmp_path: Path, kind: str) -> None:
    frame = pd.read_csv(DATA / "all_kinds.csv", dtype=str, keep_default_na=False)
    spec = schema.KIND_FORMATS[kind]
    for column in spec.required:
        broken = frame.copy()
        kept = (broken["kind"] == kind) & (broken["t"] != "0") & (broken["sparsity"] != "0")
        row = int(np.flatnonzero(kept)[0])
        broken.loc[row, column] = ""
        path = tmp_path / f"{kind}-{column}.csv"
        broken.to_csv(path, index=False)
        check(path, row + 2, column, "missing value", f"'{kind}'", f"'{column}'")


def test_missing_column_a_kind_needs(tmp_path: Path) -> None:
    text = "kind,k\nspectrum,1\nspectrum,2\nspectrum,3\n"
    messages = check(
        write(tmp_path, text), 2, "eigenvalue", "no 'eigenvalue' column", "3 such rows"
    )
    assert len(messages) == 1  # one line for the column, not one per row


def test_duplicated_rows_name_both_lines(tmp_path: Path) -> None:
    text = "kind,t,loss,note\nloss,10,3.9,a\nloss,100,3.1,a\nloss,1e1,3.90,a\nloss,100,3.1,b\n"
    messages = check(write(tmp_path, text), 4, None, "duplicated row", "line 2")
    assert len(messages) == 1  # line 5 differs in its metadata


def test_too_few_records(tmp_path: Path) -> None:
    check(DATA / "too_few.csv", 2, "kind", "only 1 'loss' record", "at least 3")


def test_too_few_after_exclusions(tmp_path: Path) -> None:
    path = write(tmp_path, "kind,t,loss\nloss,0,5\nloss,10,3.9\nloss,100,3.1\n")
    check(path, 2, "kind", "only 2 'loss' record", "excluding 1")


def test_too_few_data_scaling_records_in_one_run(tmp_path: Path) -> None:
    rows = [f"data_scaling,a,{n},{1 / n**0.3}" for n in (1e3, 1e4, 1e5)]
    rows += [f"data_scaling,b,{n},{1 / n**0.3}" for n in (1e3, 1e4)]
    path = write(tmp_path, "kind,RUN,samples,loss\n" + "\n".join(rows) + "\n")
    check(path, 5, "RUN", "run 'b'", "only 2 'data_scaling'", "at least 3")


def test_dates_in_iso_forms(tmp_path: Path) -> None:
    text = (
        "kind,compute,params,density,date\ndensity,1e18,1e8,0.01,2023\n"
        "density,1e19,3e8,0.009,2023-06\ndensity,1e20,1e9,0.007,2024-01-02T12:00:00+02:00\n"
    )
    dates = read_records(write(tmp_path, text)).table["date"].tolist()
    assert dates == [
        pd.Timestamp("2023-01-01"),
        pd.Timestamp("2023-06-01"),
        pd.Timestamp("2024-01-02 10:00:00"),
    ]


# --------------------------------------------------------------------------- exclusions


def test_excluded_rows_are_counted_not_refused(tmp_path: Path) -> None:
    text = (
        "kind,t,sparsity,delta_loss,loss,k,learned_fraction\n"
        "loss,0,,,5.0,,\n"
        + "".join(f"loss,{t},,,{4 - i / 2},,\n" for i, t in enumerate((10, 100, 1000)))
        + "pruning,100,0,0,,,\n"  # unpruned reference: delta_loss 0 is fine
        + "".join(f"pruning,100,{r},{r / 10},,,\n" for r in (0.3, 0.5, 0.7))
        + "quantization,0,,0,,,\n"  # quantization at t = 0: no loss increase yet
        + "".join(f"quantization,{t},,{t / 1e4},,,\n" for t in (10, 100, 1000))
        + "modes,0,,,,1,0\n"  # nothing learned at t = 0
        + "".join(f"modes,{t},,,,1,{t / 2000}\n" for t in (10, 100, 1000))
        + ",,,,,,\n"
    )
    records = read_records(write(tmp_path, text))
    assert records.excluded == {EXCLUDED_T0: 3, EXCLUDED_UNPRUNED: 1, EXCLUDED_EMPTY: 1}
    assert records.counts() == {"loss": 3, "quantization": 3, "pruning": 3, "modes": 3}
    assert 2 not in set(records.table["line"])


def test_excluded_rows_may_leave_their_observed_value_blank(tmp_path: Path) -> None:
    text = "kind,t,sparsity,delta_loss\npruning,100,0,\n" + "".join(
        f"pruning,100,{r},{r / 10}\n" for r in (0.3, 0.5, 0.7)
    )
    assert read_records(write(tmp_path, text)).excluded == {EXCLUDED_UNPRUNED: 1}


def test_excluded_rows_other_values_are_still_checked(tmp_path: Path) -> None:
    text = "kind,t,loss,params\nloss,0,5,-1\n" + "".join(
        f"loss,{t},{v},1e6\n" for t, v in ((10, 3.9), (100, 3.1), (1000, 2.7))
    )
    check(write(tmp_path, text), 2, "params", "must be > 0")


def test_t_zero_is_not_excluded_for_kinds_without_t(tmp_path: Path) -> None:
    text = "kind,t,k,eigenvalue\nspectrum,0,1,1\nspectrum,0,2,0.5\nspectrum,0,3,0.3\n"
    records = read_records(write(tmp_path, text))
    assert records.excluded == {}
    assert len(records.table) == 3


# --------------------------------------------------------------------------- many problems


def test_all_problems_are_collected_and_capped(tmp_path: Path) -> None:
    rows = "".join(f"loss,{t},-1\n" for t in range(1, 10_001))
    path = write(tmp_path, "kind,t,loss\n" + rows)
    with pytest.raises(RecordsError) as info:
        read_records(path)
    err = info.value
    assert len(err.all_problems) == 10_000
    assert len(err.problems) == MAX_PROBLEMS_SHOWN + 1
    assert [p.line for p in err.problems[:3]] == [2, 3, 4]
    assert re.search(r"and 9950 more problems \(10000 in all\)", err.problems[-1].message)


def test_problems_of_different_rules_are_reported_together(tmp_path: Path) -> None:
    text = "kind,t,loss,sparsity\nloss,10,3.9,\nloss,x,3.1,\nfoo,1000,2.7,\nloss,1000,0,\n"
    messages = problems(write(tmp_path, text))
    assert len(messages) == 3
    assert has(messages, tmp_path / "table.csv", 3, "t", "not a number")
    assert has(messages, tmp_path / "table.csv", 4, "kind", "unknown kind")
    assert has(messages, tmp_path / "table.csv", 5, "loss", "must be > 0")


# --------------------------------------------------------------------------- property


_cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(list(schema.KINDS) + ["", "nan", "inf", "-1", "0", "1e400"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(
        st.one_of(
            st.sampled_from([*schema.COLUMNS, *schema.ALIASES, "line", ""]), st.text(max_size=6)
        ),
        min_size=0,
        max_size=6,
    ),
    data=st.data(),
)
def test_arbitrary_frames_give_records_or_input_error(
    names: list[str], data: st.DataObject
) -> None:
    rows = data.draw(st.integers(min_value=0, max_value=6))
    columns = {
        i: data.draw(st.lists(_cells, min_size=rows, max_size=rows)) for i in range(len(names))
    }
    frame = pd.DataFrame(columns, index=range(rows), dtype=object)
    frame.columns = names
    try:
        records = records_from_frame(frame, path="frame")
    except InputError as err:
        assert err.problems
        assert all(str(p).startswith("frame") for p in err.problems)
    else:
        assert records.table["kind"].isin(schema.KINDS).all()
        # every record is one of the frame's rows, named by its position + 2
        lines = records.table["line"].to_numpy()
        assert len(set(lines)) == len(lines) and set(lines) <= set(range(2, rows + 2))


# --------------------------------------------------------------------------- docs in sync


def test_readme_documents_the_whole_format() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for name in [*schema.COLUMNS, *schema.KINDS, *schema.ALIASES]:
        assert f"`{name}`" in readme, name
    for kind, spec in schema.KIND_FORMATS.items():
        row = " | ".join(
            [
                f"| `{kind}`",
                ", ".join(f"`{c}`" for c in spec.required),
                ", ".join(f"`{c}`" for c in spec.optional),
                f"`{spec.observed}` |",
            ]
        )
        assert row in readme, row
    rule = readme.split("values that enter a logarithm are > 0:")[1].split(";")[0]
    assert [c.strip(" `\n") for c in rule.split(",")] == list(schema.POSITIVE_COLUMNS)
    for reason_word in ("initialisation points", "unpruned reference", "every cell is blank"):
        assert reason_word in readme


def test_records_from_frame_classmethod_equals_the_file_reader() -> None:
    """``Records.from_frame`` validates a frame as ``read_records`` validates the file."""
    path = Path(__file__).resolve().parents[1] / "data" / "example.csv"
    from_file = read_records(path)
    frame = pd.read_csv(path, comment="#")
    from_frame = Records.from_frame(frame, provenance={"source": "test"})
    assert from_frame.counts() == from_file.counts()
    cols = [c for c in from_file.table.columns if c != "line"]
    pd.testing.assert_frame_equal(from_frame.table[cols], from_file.table[cols])
    assert from_frame.provenance == {"source": "test"}
    with pytest.raises(InputError):
        Records.from_frame(frame.assign(kind="nonsense"))
