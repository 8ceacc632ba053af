"""Read a records table from a file or a frame and hand back a validated :class:`Records`.

This module owns the reading side of the data format: it parses CSV, TSV and Parquet files (or
takes an in-memory frame) into a :class:`~gsf_infer.data.rules.RawTable` of cells with their
physical lines and provenance, has :func:`gsf_infer.data.rules.validate` apply every rule of the
format to it, and wraps the clean table with its path, checksum, exclusions and provenance.
Every problem of a file is raised at once as one :class:`RecordsError` (or, for a file that
cannot be read at all, an :class:`~gsf_infer.errors.InputError`) whose
:class:`~gsf_infer.errors.Problem` entries name the file, the physical line, the column as
written and the offending value; nothing else escapes, whatever the bytes. It imports the
standard library, NumPy, pandas (and pyarrow for Parquet, lazily), :mod:`gsf_infer.data.schema`,
:mod:`gsf_infer.data.rules`, :mod:`gsf_infer.errors` and the format helpers of
:mod:`gsf_infer.output.artifacts`; it never writes files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gsf_infer.data import schema
from gsf_infer.data.rules import (
    EXCLUDED_EMPTY,
    EXCLUDED_T0,
    EXCLUDED_UNPRUNED,
    LINE_COLUMN,
    MAX_PROBLEMS_SHOWN,
    NA_TOKENS,
    RawTable,
    RecordsError,
    printable,
    validate,
)
from gsf_infer.data.schema import PROVENANCE_KEY, table_format
from gsf_infer.errors import InputError, Problem

__all__ = [
    "EXCLUDED_EMPTY",
    "EXCLUDED_T0",
    "EXCLUDED_UNPRUNED",
    "LINE_COLUMN",
    "MAX_PROBLEMS_SHOWN",
    "NA_TOKENS",
    "Records",
    "RecordsError",
    "read_records",
    "records_from_frame",
]


@dataclass(frozen=True, eq=False)
class Records:
    """A validated records table.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per kept record. Every canonical column of :data:`gsf_infer.data.schema.COLUMNS` is
        present, in that order (NaN where the file has no value): ``kind``, ``run`` (default
        ``"run"``) and ``group`` (default ``"all"``) as ``str``; ``date`` as ``datetime64[ns]``;
        all other canonical columns as ``float64``. Then ``line`` (int64: the physical line of
        the record in the file, header = line 1 when there are no comment lines), then the
        metadata columns under their original names (``float64`` when every value is a number,
        else text).
    path : str
        Where the table came from.
    sha256 : str
        SHA-256 of the file's bytes (``""`` for an in-memory frame).
    excluded : dict of str to int
        Rows excluded on purpose, by reason (see :data:`EXCLUDED_T0`, :data:`EXCLUDED_UNPRUNED`,
        :data:`EXCLUDED_EMPTY`); reasons with no row are absent.
    metadata_columns : tuple of str
        Extra columns, carried through unchanged.
    provenance : dict of str to str
        Source, licence, citation, … from ``# key: value`` lines before a CSV/TSV header or the
        Parquet metadata key ``gsf_infer.provenance``.
    """

    table: pd.DataFrame
    path: str
    sha256: str
    excluded: dict[str, int] = field(default_factory=dict)
    metadata_columns: tuple[str, ...] = ()
    provenance: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, path: str = "<table>", provenance: Mapping[str, Any] | None = None
    ) -> Records:
        """Validate an in-memory table in the records format (:func:`records_from_frame`)."""
        return records_from_frame(frame, path, provenance)

    def counts(self) -> dict[str, int]:
        """Return the number of records per kind, in :data:`gsf_infer.data.schema.KINDS` order.

        Returns
        -------
        dict of str to int
            Only kinds present in the table.
        """
        found = self.table["kind"].value_counts()
        return {kind: int(found[kind]) for kind in schema.KINDS if kind in found.index}

    def runs(self) -> pd.DataFrame:
        """Return the number of records per ``(group, run, kind)``.

        Returns
        -------
        pandas.DataFrame
            Columns ``group``, ``run``, ``kind``, ``records``; sorted by group and run, kinds in
            :data:`gsf_infer.data.schema.KINDS` order.
        """
        order = {kind: i for i, kind in enumerate(schema.KINDS)}
        out = (
            self.table.groupby(["group", "run", "kind"], sort=False)
            .size()
            .rename("records")
            .reset_index()
        )
        out["_order"] = out["kind"].map(order)
        out = out.sort_values(["group", "run", "_order"], kind="stable").drop(columns="_order")
        out["records"] = out["records"].astype("int64")
        return out.reset_index(drop=True)

    def of_kind(self, kind: str) -> pd.DataFrame:
        """Return the records of one kind (an empty frame if there are none).

        Parameters
        ----------
        kind : str
            One of :data:`gsf_infer.data.schema.KINDS`.

        Raises
        ------
        ValueError
            If ``kind`` is not a known kind.
        """
        if kind not in schema.KIND_FORMATS:
            raise ValueError(f"unknown kind {kind!r}; known kinds: {', '.join(schema.KINDS)}")
        return self.table[self.table["kind"] == kind]


# --------------------------------------------------------------------------- entry points


def read_records(path: str | Path, *, prediction: bool = False) -> Records:
    """Read and validate a records table from a CSV, TSV or Parquet file.

    Parameters
    ----------
    path : str or Path
        The file; its extension (``.csv``, ``.tsv``/``.tab``, ``.parquet``/``.pq``) selects the
        format.
    prediction : bool
        Validate points to predict (``gsf-infer predict``): observed values may be blank, and
        the minimum record counts and the duplicate rule do not apply.

    Returns
    -------
    Records
        The validated table.

    Raises
    ------
    InputError
        For any problem with the file, all problems at once (a :class:`RecordsError` when the
        content breaks the format), each naming the file, line, column and value.
    """
    name = str(path)
    where = Path(path)
    if not where.exists():
        raise InputError(Problem(name, "no such file"))
    if where.is_dir():
        raise InputError(Problem(name, "is a directory; expected a .csv, .tsv or .parquet file"))
    fmt = table_format(where)
    try:
        data = where.read_bytes()
    except OSError as err:
        raise InputError(Problem(name, f"cannot be read: {err.strerror or err}")) from None
    if not data:
        raise InputError(Problem(name, "is empty (0 bytes); expected a header line and records"))
    sha256 = hashlib.sha256(data).hexdigest()
    if fmt == "parquet":
        raw = _parse_parquet(data, name)
    else:
        raw = _parse_text(data, name, fmt)
    return _records(raw, name, sha256, prediction)


def records_from_frame(
    frame: pd.DataFrame,
    path: str = "<table>",
    provenance: Mapping[str, Any] | None = None,
    *,
    prediction: bool = False,
) -> Records:
    """Validate an in-memory table exactly as :func:`read_records` validates a file.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per record, columns as in a file (names case-insensitive, aliases accepted).
    path : str
        Name used in messages and in :attr:`Records.path`.
    provenance : mapping, optional
        Carried to :attr:`Records.provenance` (values converted to ``str``).
    prediction : bool
        As in :func:`read_records`.

    Returns
    -------
    Records
        The validated table; line numbers are the row position + 2 (as if written to a file
        whose header is line 1). ``sha256`` is ``""``.

    Raises
    ------
    InputError
        For any problem, all at once.
    TypeError
        If ``frame`` is not a DataFrame.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"records_from_frame needs a pandas DataFrame, not {type(frame).__name__}")
    names = [str(c) for c in frame.columns]
    cells = frame.copy()
    cells.columns = range(len(names))
    cells = cells.reset_index(drop=True)
    raw = RawTable(
        names=names,
        cells=cells,
        lines=np.arange(len(cells), dtype=np.int64) + 2,
        header_line=1,
        provenance={str(k): str(v) for k, v in (provenance or {}).items()},
    )
    return _records(raw, path, "", prediction)


def _records(raw: RawTable, path: str, sha256: str, prediction: bool) -> Records:
    """Validate a parsed table (raising every problem at once) and wrap it as :class:`Records`."""
    clean = validate(raw, path, prediction=prediction)
    return Records(
        table=clean.table,
        path=path,
        sha256=sha256,
        excluded=clean.excluded,
        metadata_columns=clean.metadata_columns,
        provenance=dict(raw.provenance),
    )


# --------------------------------------------------------------------------- parsing


def _parse_text(data: bytes, name: str, fmt: str) -> RawTable:
    """Parse CSV/TSV bytes: provenance comment lines, header, records with physical lines."""
    label = fmt.upper()
    stream = io.StringIO(_decode_text(data, name, label), newline="")
    provenance, header_text, lineno = _read_preamble(stream, name)
    offset = lineno - 1  # physical line = offset + the reader's own line count
    sep = "," if fmt == "csv" else "\t"
    reader = csv.reader(itertools.chain([header_text], stream), delimiter=sep, strict=True)
    parsed = _read_rows(reader, offset, name, label)
    names = [h.strip() for h in parsed.header]
    hint = _separator_problem(names, sep, name, label, line=offset + 1)
    if hint is not None:
        parsed.problems.append(hint)
    return RawTable(
        names=names,
        cells=pd.DataFrame(parsed.rows, columns=range(len(parsed.header)), dtype=object),
        lines=np.asarray(parsed.lines, dtype=np.int64),
        header_line=offset + 1,
        provenance=provenance,
        problems=parsed.problems,
        empty_rows=parsed.empty_rows,
        dropped_rows=parsed.dropped_rows,
    )


def _decode_text(data: bytes, name: str, label: str) -> str:
    """Decode UTF-8 text (a byte-order mark allowed); refuse binary and other encodings."""
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise InputError(
            Problem(
                name,
                f"contains NUL bytes: a binary file, not a {label} text table "
                "(UTF-16 text must be saved as UTF-8)",
                line=line,
            )
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError(
            Problem(
                name,
                f"is not UTF-8 text (byte 0x{data[err.start]:02x}); save it as UTF-8",
                line=line,
            )
        ) from None


def _read_preamble(stream: io.StringIO, name: str) -> tuple[dict[str, str], str, int]:
    """Read blank and ``# key: value`` lines up to the header; return provenance, header, line."""
    provenance: dict[str, str] = {}
    lineno = 0
    for physical in stream:
        lineno += 1
        stripped = physical.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            key, colon, value = stripped[1:].partition(":")
            if colon and key.strip():
                provenance[key.strip()] = value.strip()
            continue
        return provenance, physical, lineno
    raise InputError(
        Problem(name, "has no header line (only blank or '#' comment lines)", line=lineno)
    )


@dataclass
class _Rows:
    """The header and records of a text table, with the physical line each record starts on."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    empty_rows: int = 0
    dropped_rows: int = 0


def _read_rows(reader: Any, offset: int, name: str, label: str) -> _Rows:
    """Read every record; skip blank lines, count empty rows, drop rows of the wrong width."""
    start = offset + 1
    try:
        out = _Rows(header=next(reader))
        previous = reader.line_num
        width = len(out.header)
        while True:
            start = offset + previous + 1  # the line the next record starts on
            fields = next(reader, None)
            if fields is None:
                return out
            previous = reader.line_num
            if not fields:
                continue  # a blank line
            if all(not f.strip() for f in fields):
                out.empty_rows += 1
                continue
            if len(fields) > width and not any(f.strip() for f in fields[width:]):
                fields = fields[:width]  # trailing separators
            if len(fields) != width:
                message = f"the row has {len(fields)} fields but the header has {width}"
                out.problems.append(Problem(name, message, line=start))
                out.dropped_rows += 1
                continue
            out.rows.append(fields)
            out.lines.append(start)
    except csv.Error as err:
        hint = " (a quote opened here is never closed?)" if "end of data" in str(err) else ""
        raise InputError(
            Problem(name, f"cannot be parsed as {label}: {_one_line(err)}{hint}", line=start)
        ) from None


def _separator_problem(
    names: list[str], sep: str, name: str, label: str, line: int
) -> Problem | None:
    """Return a problem if a one-column header holds another separator than ``sep``."""
    if len(names) != 1:
        return None
    other = {"\t": "tabs", ";": "semicolons", ",": "commas"}
    for char, word in other.items():
        if char != sep and char in names[0]:
            hint = ".tsv" if char == "\t" else ".csv"
            return Problem(
                name,
                f"the header has one column but contains {word}: a {label} file must "
                f"be separated by {'commas' if sep == ',' else 'tabs'}"
                + (f" (name a {word}-separated file {hint})" if char != ";" else ""),
                line=line,
                column=printable(names[0]),
            )
    return None


def _parse_parquet(data: bytes, name: str) -> RawTable:
    """Parse Parquet bytes; provenance from the ``gsf_infer.provenance`` metadata key."""
    # deferred: pyarrow is needed only for Parquet tables
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
        names = [str(c) for c in table.column_names]
        columns: dict[int, Any] = {}
        for i in range(table.num_columns):
            column = table.column(i)
            if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
                columns[i] = column.to_pandas()  # numbers (nulls become NaN)
            else:
                columns[i] = pd.Series(column.to_pylist(), dtype=object)
    except Exception as err:  # pyarrow raises many types for damaged files
        raise InputError(
            Problem(
                name, f"is not a readable Parquet file ({type(err).__name__}: {_one_line(err)})"
            )
        ) from None
    problems: list[Problem] = []
    provenance: dict[str, str] = {}
    meta = table.schema.metadata or {}
    blob = meta.get(PROVENANCE_KEY.encode())
    if blob is not None:
        try:
            loaded = json.loads(blob.decode("utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError("not a JSON object")
            provenance = {str(k): str(v) for k, v in loaded.items()}
        except (ValueError, UnicodeDecodeError) as err:
            problems.append(
                Problem(
                    name, f"metadata '{PROVENANCE_KEY}' is not a JSON object of strings ({err})"
                )
            )
    cells = pd.DataFrame(columns, index=range(table.num_rows))
    return RawTable(
        names=names,
        cells=cells.reset_index(drop=True),
        lines=np.arange(table.num_rows, dtype=np.int64) + 2,
        header_line=1,
        provenance=provenance,
        problems=problems,
    )


# --------------------------------------------------------------------------- helpers


def _one_line(err: object, limit: int = 200) -> str:
    """Return an error's text on one line, shortened."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
