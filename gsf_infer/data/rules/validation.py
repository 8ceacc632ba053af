"""Applying the rules of the records format to a parsed table.

A parsed table (:class:`RawTable`: names as written, cells by position, physical lines) is
checked in a fixed order: column names (aliases, duplicates, reserved names), cell conversion
(kinds, text, numbers, dates), the rows excluded on purpose, the value rules of each column,
the columns and values each kind needs, duplicated rows, and the fewest records each kind and
run needs. Every problem names the file, the physical line, the column as written and the
offending value; all of them are raised at once as one :class:`RecordsError`, or the clean
typed table is returned. This module imports NumPy, pandas, :mod:`gsf_infer.data.schema`,
:mod:`gsf_infer.errors` and its siblings; it reads and writes no files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gsf_infer.data import schema
from gsf_infer.data.rules.cells import (
    convert_numeric,
    display,
    hashable,
    is_missing,
    metadata_column,
    printable,
    to_date,
    to_text,
)
from gsf_infer.data.rules.table import (
    DEFAULT_TEXT,
    EXCLUDED_EMPTY,
    EXCLUSIONS,
    KIND_RULES,
    LINE_COLUMN,
    VALUE_RULES,
    KindRule,
)
from gsf_infer.errors import InputError, Problem

#: Most problems listed for one file; the rest are counted in a final line.
MAX_PROBLEMS_SHOWN = 50


class RecordsError(InputError):
    """A records table breaks the data format (exit code 2).

    :attr:`problems` holds at most :data:`MAX_PROBLEMS_SHOWN` problems and a final line counting
    the rest; :attr:`all_problems` holds every one.
    """

    def __init__(self, problems: list[Problem], path: str):
        self.all_problems: list[Problem] = list(problems)
        shown = self.all_problems[:MAX_PROBLEMS_SHOWN]
        hidden = len(self.all_problems) - len(shown)
        if hidden > 0:
            shown.append(
                Problem(
                    path=path,
                    message=f"… and {hidden} more problems ({len(self.all_problems)} in all)",
                )
            )
        super().__init__(shown)


@dataclass
class RawTable:
    """A parsed but unchecked table: names as written, cells by position, physical lines.

    Attributes
    ----------
    names : list of str
        Column names as written.
    cells : pandas.DataFrame
        Cells, columns by position ``0..len(names)-1``, rows in file order.
    lines : numpy.ndarray of int64
        Physical line of each row.
    header_line : int
        Physical line of the header.
    provenance : dict of str to str
    problems : list of Problem
        Problems the parser found (rows it dropped, a wrong separator, ...).
    empty_rows : int
        Rows whose every cell is blank (excluded and counted).
    dropped_rows : int
        Rows the parser could not read (the minimum counts are then not checked).
    """

    names: list[str]
    cells: pd.DataFrame
    lines: np.ndarray
    header_line: int
    provenance: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    empty_rows: int = 0
    dropped_rows: int = 0


@dataclass(frozen=True)
class CleanTable:
    """The result of :func:`validate` on a table without problems.

    Attributes
    ----------
    table : pandas.DataFrame
        Canonical columns, then :data:`LINE_COLUMN`, then the metadata columns.
    excluded : dict of str to int
        Rows excluded on purpose, by reason (reasons with no row absent).
    metadata_columns : tuple of str
    """

    table: pd.DataFrame
    excluded: dict[str, int]
    metadata_columns: tuple[str, ...]


@dataclass
class _Columns:
    """Where each canonical column is, which columns are metadata, and names as written."""

    canonical: dict[int, str]  # position -> canonical name
    metadata: dict[int, str]  # position -> name as written
    shown: list[str]  # every name as written, printable

    @property
    def position(self) -> dict[str, int]:
        return {canon: pos for pos, canon in self.canonical.items()}

    def written(self) -> dict[str, str]:
        return {canon: self.shown[pos] for pos, canon in self.canonical.items()}


@dataclass
class _Found:
    """The problems of one table, and how a cell problem names its line and column."""

    path: str
    lines: np.ndarray
    problems: list[Problem]
    written: dict[str, str] = field(default_factory=dict)

    def column(self, canon: str) -> str:
        return self.written.get(canon, canon)

    def add(self, row: int, canon: str, message: str, value: Any = None) -> None:
        self.problems.append(
            Problem(
                self.path,
                message,
                line=int(self.lines[row]),
                column=self.column(canon),
                value=value,
            )
        )

    def fail(self) -> RecordsError:
        return RecordsError(sorted_problems(self.problems), self.path)


@dataclass
class _Converted:
    """Every canonical column converted, one entry per row (absent columns filled)."""

    cells: dict[str, pd.Series]  # canonical name -> raw cells, for columns in the file
    kinds: np.ndarray  # lower-case kind or None
    valid_kind: np.ndarray
    text: dict[str, np.ndarray]
    num: dict[str, np.ndarray]
    bad: dict[str, np.ndarray]
    dates: list[pd.Timestamp | None]

    def of_kind(self, kind: str) -> np.ndarray:
        return (self.kinds == kind) & self.valid_kind


def validate(raw: RawTable, path: str, prediction: bool = False) -> CleanTable:
    """Apply every rule to a parsed table; raise all problems at once or return the clean table.

    Parameters
    ----------
    raw : RawTable
    path : str
        Name used in messages.
    prediction : bool
        Points to predict: the observed value may be blank, and the minimum record counts and
        the duplicate rule do not apply.

    Returns
    -------
    CleanTable

    Raises
    ------
    RecordsError
        With every problem, in reading order (whole-file problems first, then by line).
    """
    found = _Found(path, raw.lines, list(raw.problems))
    columns = _map_columns(raw, path, found.problems)
    if "kind" not in columns.position:
        found.problems.append(
            Problem(
                path,
                "no 'kind' column: every row must say what it records (one of "
                + ", ".join(schema.KINDS)
                + ")",
                line=raw.header_line,
            )
        )
        raise found.fail()
    if len(raw.cells) == 0:
        if not found.problems:
            found.problems.append(
                Problem(path, "has a header but no records", line=raw.header_line)
            )
        raise found.fail()
    found.written = columns.written()
    cells = {canon: raw.cells[pos] for canon, pos in columns.position.items()}
    conv = _convert(cells, len(raw.cells), found)
    excluded = _exclusions(conv)
    excluded_any = np.logical_or.reduce(list(excluded.values()))
    _check_values(conv, excluded_any, found)
    _check_required(conv, excluded_any, found, prediction)
    if not prediction:
        _check_duplicates(conv, raw, columns.metadata, found)
    kept = conv.valid_kind & ~excluded_any
    if raw.dropped_rows == 0 and not prediction:
        _check_counts(conv, kept, found)
    if found.problems:
        raise found.fail()
    counts = {reason: int(np.count_nonzero(mask)) for reason, mask in excluded.items()}
    counts[EXCLUDED_EMPTY] = raw.empty_rows
    return CleanTable(
        table=_clean_table(conv, raw, columns.metadata, np.flatnonzero(kept)),
        excluded={reason: count for reason, count in counts.items() if count},
        metadata_columns=tuple(columns.metadata.values()),
    )


def _map_columns(raw: RawTable, path: str, problems: list[Problem]) -> _Columns:
    """Map names and aliases to canonical columns; flag unnamed, duplicated and reserved ones."""
    columns = _Columns({}, {}, [printable(name) for name in raw.names])
    shown, header = columns.shown, raw.header_line
    seen: dict[str, int] = {}  # case-folded target name -> first position
    for pos, written in enumerate(raw.names):
        key = written.strip().lower()
        if not key:
            if all(is_missing(v) for v in raw.cells[pos].tolist()):
                continue  # an unnamed, empty column (a trailing separator)
            problems.append(
                Problem(
                    path, "column has no name but holds values", line=header, column=f"#{pos + 1}"
                )
            )
            continue
        target = schema.ALIASES.get(key, key)
        if target in seen:
            meaning = f"both mean '{target}'" if target in schema.COLUMNS else "have the same name"
            problems.append(
                Problem(
                    path,
                    f"columns '{shown[seen[target]]}' and '{shown[pos]}' {meaning}; keep one",
                    line=header,
                    column=shown[pos],
                )
            )
            continue
        seen[target] = pos
        if target in schema.COLUMNS:
            columns.canonical[pos] = target
        elif key == LINE_COLUMN:
            problems.append(
                Problem(
                    path,
                    f"column name '{LINE_COLUMN}' is reserved (gsf-infer stores line numbers "
                    "under it); rename the column",
                    line=header,
                    column=shown[pos],
                )
            )
        else:
            columns.metadata[pos] = written
    return columns


def _convert(cells: dict[str, pd.Series], n: int, found: _Found) -> _Converted:
    """Convert kinds, text, numbers and dates; flag what cannot be converted."""
    kinds = np.array([to_text(v) for v in cells["kind"].tolist()], dtype=object)
    kinds = np.array([k.lower() if k is not None else None for k in kinds], dtype=object)
    valid_kind = np.array([k in schema.KIND_FORMATS for k in kinds], dtype=bool)
    for row in np.flatnonzero(~valid_kind):
        if kinds[row] is None:
            found.add(row, "kind", "missing kind (one of " + ", ".join(schema.KINDS) + ")")
        else:
            found.add(
                row,
                "kind",
                "unknown kind; valid kinds: " + ", ".join(schema.KINDS),
                display(cells["kind"].iloc[row]),
            )
    text: dict[str, np.ndarray] = {}
    for canon, default in DEFAULT_TEXT.items():
        if canon in cells:
            values = [to_text(v) for v in cells[canon].tolist()]
            text[canon] = np.array([v if v is not None else default for v in values], dtype=object)
        else:
            text[canon] = np.full(n, default, dtype=object)
    num: dict[str, np.ndarray] = {}
    bad: dict[str, np.ndarray] = {}
    for canon in schema.NUMERIC_COLUMNS:
        if canon not in cells:
            num[canon], bad[canon] = np.full(n, np.nan), np.zeros(n, dtype=bool)
            continue
        num[canon], bad[canon] = convert_numeric(cells[canon])
        for row in np.flatnonzero(bad[canon]):
            found.add(row, canon, "not a number", display(cells[canon].iloc[row]))
        for row in np.flatnonzero(np.isinf(num[canon])):
            message = "infinite value (every number must be finite)"
            found.add(row, canon, message, display(cells[canon].iloc[row]))
    dates = _convert_dates(cells.get("date"), n, found)
    return _Converted(cells, kinds, valid_kind, text, num, bad, dates)


def _convert_dates(column: pd.Series | None, n: int, found: _Found) -> list[pd.Timestamp | None]:
    dates: list[pd.Timestamp | None] = [None] * n
    if column is None:
        return dates
    for row, value in enumerate(column.tolist()):
        if is_missing(value):
            continue
        stamp = to_date(value)
        if stamp is None:
            message = "unparsable date (expected ISO 8601, e.g. 2024-03-01)"
            found.add(row, "date", message, display(value))
        else:
            dates[row] = stamp
    return dates


def _exclusions(conv: _Converted) -> dict[str, np.ndarray]:
    """Rows excluded on purpose, by reason (:data:`EXCLUSIONS`; each row under one reason)."""
    n = len(conv.kinds)
    out: dict[str, np.ndarray] = {}
    taken = np.zeros(n, dtype=bool)
    for rule in EXCLUSIONS:
        of_kinds = np.zeros(n, dtype=bool)
        for kind in sorted(rule.kinds):
            of_kinds |= conv.of_kind(kind)
        with np.errstate(invalid="ignore"):
            mask = of_kinds & (conv.num[rule.column] == rule.value) & ~taken
        out[rule.reason] = mask
        taken |= mask
    return out


def _check_values(conv: _Converted, excluded: np.ndarray, found: _Found) -> None:
    """Apply :data:`VALUE_RULES` to the finite values of each column."""
    observed = np.array(
        [
            KIND_RULES[k].observed if ok else ""
            for k, ok in zip(conv.kinds, conv.valid_kind, strict=True)
        ],
        dtype=object,
    )
    for rule in VALUE_RULES:
        values = conv.num[rule.column]
        with np.errstate(invalid="ignore"):
            mask = rule.violates(values) & np.isfinite(values)
        if rule.exempt_excluded:
            mask &= ~(excluded & (observed == rule.column))
        for row in np.flatnonzero(mask):
            found.add(row, rule.column, rule.message, display(conv.cells[rule.column].iloc[row]))


def _check_required(
    conv: _Converted, excluded: np.ndarray, found: _Found, prediction: bool
) -> None:
    """Every record carries the values its kind needs (:attr:`KindRule.required`)."""
    for rule in KIND_RULES.values():
        rows = np.flatnonzero(conv.of_kind(rule.kind))
        if rows.size == 0:
            continue
        for canon in rule.required:
            if prediction and canon == rule.observed:
                continue  # points to predict: the observed value is optional
            if canon not in conv.cells:
                found.problems.append(_missing_column(found.path, rule, canon, rows, found.lines))
                continue
            missing = np.isnan(conv.num[canon][rows]) & ~conv.bad[canon][rows]
            if canon == rule.observed:  # an excluded row's observed value carries nothing
                missing &= ~excluded[rows]
            for row in rows[missing]:
                found.add(row, canon, f"missing value: a '{rule.kind}' record needs '{canon}'")


def _missing_column(
    path: str, rule: KindRule, canon: str, rows: np.ndarray, lines: np.ndarray
) -> Problem:
    aliases = sorted(a for a, c in schema.ALIASES.items() if c == canon)
    also = f" (or an alias: {', '.join(aliases)})" if aliases else ""
    return Problem(
        path,
        f"no '{canon}' column{also}, which every '{rule.kind}' record needs "
        f"({rows.size} such rows, the first here)",
        line=int(lines[rows[0]]),
        column=canon,
    )


def _check_duplicates(
    conv: _Converted, raw: RawTable, metadata: dict[int, str], found: _Found
) -> None:
    """Rows identical in every column: each repeat names the line of the first occurrence."""
    keyed: list[list[Any]] = [conv.kinds.tolist(), conv.text["run"].tolist()]
    keyed.append(conv.text["group"].tolist())
    keyed += [conv.num[c] for c in schema.NUMERIC_COLUMNS]  # NaN matches NaN in duplicated()
    keyed.append(conv.dates)
    keyed += [[hashable(v) for v in raw.cells[pos].tolist()] for pos in metadata]
    repeated = pd.DataFrame(dict(enumerate(keyed))).duplicated(keep=False).to_numpy()
    first_line: dict[tuple[Any, ...], int] = {}
    for row in np.flatnonzero(repeated):
        key = tuple(_key(column[row]) for column in keyed)
        earlier = first_line.setdefault(key, int(found.lines[row]))
        if earlier != int(found.lines[row]):
            found.problems.append(
                Problem(
                    found.path,
                    f"duplicated row: identical in every column to line {earlier}",
                    line=int(found.lines[row]),
                )
            )


def _check_counts(conv: _Converted, kept: np.ndarray, found: _Found) -> None:
    """Each kind present has :attr:`KindRule.min_records` records, each run its minimum."""
    for rule in KIND_RULES.values():
        of_kind = conv.of_kind(rule.kind)
        rows = np.flatnonzero(of_kind)
        if rows.size == 0:
            continue
        count = int(np.count_nonzero(kept & of_kind))
        if count < rule.min_records:
            dropped = rows.size - count
            note = f" after excluding {dropped} row(s) (t = 0 / sparsity 0)" if dropped else ""
            message = (
                f"only {count} '{rule.kind}' record(s){note}; a kind needs at least "
                f"{rule.min_records}"
            )
            found.add(rows[0], "kind", message, rule.kind)
        elif rule.min_per_run is not None:
            _check_runs(conv, np.flatnonzero(kept & of_kind), rule, found)


def _check_runs(conv: _Converted, rows: np.ndarray, rule: KindRule, found: _Found) -> None:
    per_run: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        per_run.setdefault((conv.text["group"][row], conv.text["run"][row]), []).append(int(row))
    for (group, run), members in per_run.items():
        if len(members) < rule.min_per_run:
            found.problems.append(
                Problem(
                    found.path,
                    f"run '{printable(run)}' (group '{printable(group)}') has only "
                    f"{len(members)} '{rule.kind}' record(s); each run is its own curve and "
                    f"needs at least {rule.min_per_run}",
                    line=int(found.lines[members[0]]),
                    column=found.column("run"),
                    value=display(run),
                )
            )


def _clean_table(
    conv: _Converted, raw: RawTable, metadata: dict[int, str], keep: np.ndarray
) -> pd.DataFrame:
    """Build the clean table: kept rows, typed canonical columns, line numbers, metadata."""
    out: dict[str, Any] = {}
    for canon in schema.COLUMNS:
        if canon == "kind":
            out[canon] = pd.Series(conv.kinds[keep], dtype="str")
        elif canon in DEFAULT_TEXT:
            out[canon] = pd.Series(conv.text[canon][keep], dtype="str")
        elif canon == "date":
            out[canon] = pd.Series([conv.dates[i] for i in keep], dtype="datetime64[ns]")
        else:
            out[canon] = pd.Series(conv.num[canon][keep], dtype="float64")
    out[LINE_COLUMN] = pd.Series(raw.lines[keep], dtype="int64")
    for pos, written in metadata.items():
        out[written] = metadata_column(raw.cells[pos], keep)
    return pd.DataFrame(out)


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    """Return problems in reading order: whole-file first, then by line (stable)."""
    return sorted(problems, key=lambda p: -1 if p.line is None else p.line)


def _key(value: Any) -> Any:
    """Return a cell of a duplicate key with NaN as ``None`` (NaN is unequal to itself)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
