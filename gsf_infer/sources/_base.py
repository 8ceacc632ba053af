"""Shared machinery of the published-table adapters: descriptions, raw readers, final checks.

Every adapter module describes one table family with an :class:`Adapter` (origin, licence,
citation, options, the :class:`RawFiles` it reads) and a ``convert`` function turning the raw files
into a :class:`Converted` table in the record format of :mod:`gsf_infer.data.schema` plus a
plain-words account of what was done. A raw table is read as a :class:`RawFile`: text cells that
keep each row's physical line (so a problem in a raw file is reported at its line), converted to
numbers column by column while every bad cell is collected, and raised all at once.
:func:`finalize` puts the finished table in the tool's column order and checks it with the
reader's own rules (:func:`gsf_infer.data.records.records_from_frame`), pointing each problem at
the raw line the record came from. Imports pandas, NumPy, :mod:`gsf_infer.data` and
:mod:`gsf_infer.errors`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gsf_infer.data.records import records_from_frame
from gsf_infer.data.rules import RecordsError
from gsf_infer.data.schema import ALIASES, COLUMNS, NUMERIC_COLUMNS
from gsf_infer.errors import InputError, Problem

#: Internal bookkeeping columns: raw file and physical line of each row (dropped by finalize).
FILE_COL = "_raw_file"
LINE_COL = "_raw_line"

#: The commit of IBM ColPret (the aggregation several tables are taken from) the files come from.
COLPRET_COMMIT = "commit 16f23bbe054277ddc4afd07a972dd7cfbe3f48c3"


@dataclass(frozen=True)
class Option:
    """One option of an adapter (``--option name=value`` on the command line).

    ``gsf-infer ingest --list`` shows each option with its choices and default; a raw file given
    by path may imply an option's value (:attr:`Adapter.file_options`).

    Parameters
    ----------
    name, default, help : str
        Option name; value used when the option is not given; one sentence saying what it
        selects.
    choices : tuple of str or None
        Allowed values; ``None`` accepts any text (checked by the adapter itself).
    """

    name: str
    default: str
    help: str
    choices: tuple[str, ...] | None = None


@dataclass
class Converted:
    """What an adapter's ``convert`` returns.

    Parameters
    ----------
    frame : pandas.DataFrame
        Records in the format of :mod:`gsf_infer.data.schema` (canonical columns, then metadata
        columns), still carrying the bookkeeping columns :data:`FILE_COL` and :data:`LINE_COL`.
    notes : list of str
        What was done, in words (recomputations, renames, dropped columns), for the provenance.
    counts : dict of str to int
        Row counts: at least ``rows_in`` and one ``dropped_<why>`` / ``removed_<why>`` entry per
        reason a raw row did not become a record.
    caveats : list of str
        Properties of the data a user must know before fitting it.
    checks : dict of str to str
        Cross-checks against independent numbers (e.g. tokens recomputed vs tokens in the file).
    declares : dict of str to str
        Fit settings the records need, written as header lines (``likelihood: student``) that
        ``gsf-infer fit`` follows unless the user passes the option
        (:func:`gsf_infer.workflow.resolve.resolve_likelihood`).
    """

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    caveats: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)
    declares: dict[str, str] = field(default_factory=dict)


def merge(parts: Sequence[Converted], totals: Sequence[str] = ()) -> Converted:
    """Stack the conversions of several raw files of one table, in file order.

    Frames are concatenated; notes, caveats, counts, checks and declarations are joined in file
    order. Each name in ``totals`` adds a count summing the per-file counts ``<name>_<file>``.
    """
    out = Converted(pd.concat([p.frame for p in parts], ignore_index=True))
    for part in parts:
        out.notes += part.notes
        out.caveats += part.caveats
        out.counts.update(part.counts)
        out.checks.update(part.checks)
        out.declares.update(part.declares)
    for total in totals:
        out.counts[total] = sum(v for k, v in out.counts.items() if k.startswith(f"{total}_"))
    return out


@dataclass(frozen=True)
class Adapter:
    """A published table family and how to turn it into records.

    Parameters
    ----------
    name : str
        Source name given to ``gsf-infer ingest NAME``.
    folder : str
        Folder of ``data/`` holding its raw files.
    title : str
        One line saying what the table is.
    origin, license, citation : str
        Where the raw files come from (repository, path, commit); their licence; what to cite.
    options : tuple of Option
        Options the adapter accepts.
    files : str or mapping of str to str
        The raw file; or, when an option picks it, option value -> file name in reading order.
    convert : callable
        ``convert(paths, options) -> Converted``.
    picked_by : str or None
        The option whose value picks the file from ``files``.
    every : str or None
        The value of ``picked_by`` that reads every file of ``files``, in order.
    """

    name: str
    folder: str
    title: str
    origin: str
    license: str
    citation: str
    options: tuple[Option, ...]
    files: str | Mapping[str, str]
    convert: Callable[[Sequence[Path], Mapping[str, str]], Converted]
    picked_by: str | None = None
    every: str | None = None

    def select(self, options: Mapping[str, str]) -> tuple[str, ...]:
        """Return the names of the raw files read for these (resolved) options."""
        if isinstance(self.files, str):
            return (self.files,)
        if self.picked_by is None or options[self.picked_by] == self.every:
            return tuple(self.files.values())
        return (self.files[options[self.picked_by]],)

    @property
    def file_options(self) -> dict[str, dict[str, str]]:
        """Raw file name -> options implied when the user passes that file directly."""
        if isinstance(self.files, str):
            return {self.files: {}}
        key = self.picked_by
        return {f: ({key: k} if key else {}) for k, f in self.files.items()}

    def resolve_options(self, given: Mapping[str, str] | None) -> dict[str, str]:
        """Defaults overlaid with ``given``; unknown names or values are an :class:`InputError`."""
        given = dict(given or {})
        known = {o.name: o for o in self.options}
        problems = []
        for key, value in given.items():
            if key not in known:
                names = ", ".join(known) if known else "none"
                message = f"unknown option '{key}' for source {self.name} (its options: {names})"
                problems.append(Problem(path=self.name, message=message))
            elif known[key].choices is not None and value not in known[key].choices:
                message = f"option '{key}' must be one of " + ", ".join(known[key].choices)
                problems.append(Problem(path=self.name, message=message, value=value))
        raise_if(problems)
        return {o.name: given.get(o.name, o.default) for o in self.options}


# --------------------------------------------------------------------------- raw readers


def raise_if(problems: list[Problem]) -> None:
    """Raise the collected problems, if any, as one :class:`InputError`."""
    if problems:
        raise InputError(problems)


def raw_location(frame: pd.DataFrame, index: int) -> tuple[str, int | None]:
    """Raw file and physical line of positional row ``index`` (line ``None`` if unknown)."""
    if FILE_COL not in frame.columns:
        return "ingest", None
    line = frame[LINE_COL].iloc[index]
    return str(frame[FILE_COL].iloc[index]), (int(line) if pd.notna(line) else None)


def _flag(
    frame: pd.DataFrame,
    rows: np.ndarray,
    message: str,
    column: str | None,
    values: pd.Series | None,
    problems: list[Problem],
) -> None:
    """Append a problem at the raw line of each row of ``rows`` (a mask), showing its value."""
    for i in np.flatnonzero(rows):
        path, line = raw_location(frame, int(i))
        value = None if values is None else values.iloc[i]
        if isinstance(value, np.generic):
            value = value.item()
        problems.append(Problem(path, message, line, column, value))


def _numeric(
    frame: pd.DataFrame, column: str, problems: list[Problem], allow_empty: bool
) -> pd.Series:
    """Float values of a raw column (NaN where empty or bad), a problem for each bad cell."""
    raw = frame[column]
    stripped = raw.map(lambda v: v.strip() if isinstance(v, str) else v)
    # JSON true/false are not numbers, whatever Python thinks
    numbers = stripped.map(lambda v: "bool" if isinstance(v, (bool, np.bool_)) else v)
    values = pd.to_numeric(numbers, errors="coerce").astype(float)
    empty = raw.isna().to_numpy() | stripped.isin(["", "nan", "NaN", "None"]).to_numpy()
    bad = ~np.isfinite(values.to_numpy()) & ~(empty & allow_empty)
    _flag(frame, bad, "not a finite number", column, raw, problems)
    return values


class RawFile:
    """One raw table being read: text cells, each row's file and line, the problems found.

    The conversions (:meth:`number`, :meth:`flag`) collect a :class:`Problem` per bad cell or
    row instead of stopping at the first; :meth:`check` raises them together.

    Parameters
    ----------
    frame : pandas.DataFrame
        The raw cells (text for CSV files, JSON values for JSON files); the bookkeeping columns
        :data:`FILE_COL` and :data:`LINE_COL` are added to it.
    path : Path
        The raw file.
    lines : array-like or None
        Physical line of each row (``None``: unknown, as in a single JSON object).
    """

    def __init__(self, frame: pd.DataFrame, path: Path, lines: Sequence[int] | None = None):
        frame[FILE_COL] = str(path)
        frame[LINE_COL] = np.nan if lines is None else lines
        self.frame = frame
        self.path = path
        self.problems: list[Problem] = []

    @classmethod
    def csv(cls, path: Path, required: Sequence[str] = ()) -> RawFile:
        """Read a raw CSV table as text (header = line 1) and require ``required`` columns.

        Raises
        ------
        InputError
            If the file cannot be read or parsed as CSV, or lacks a required column.
        """
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
        except FileNotFoundError:
            raise InputError(Problem(path=str(path), message="no such file")) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            msg = " ".join(str(err).split())
            raise InputError(
                Problem(path=str(path), message=f"not a readable CSV table: {msg}")
            ) from None
        raw = cls(frame, path, np.arange(len(frame)) + 2)
        raw.require(required)
        return raw

    @classmethod
    def jsonl(cls, path: Path, required: Sequence[str] = ()) -> RawFile:
        """Read a JSON Lines file (one object per line), keeping each object's line number."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(Problem(path=str(path), message="no such file")) from None
        except UnicodeDecodeError:
            raise InputError(Problem(path=str(path), message="not UTF-8 text")) from None
        records, lines, problems = [], [], []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append(Problem(str(path), f"invalid JSON: {err.msg}", number))
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(str(path), "expected a JSON object", number))
                continue
            records.append(obj)
            lines.append(number)
        raise_if(problems)
        if not records:
            raise InputError(Problem(path=str(path), message="no records in the file"))
        raw = cls(pd.DataFrame.from_records(records), path, lines)
        raw.require(required)
        return raw

    def require(self, columns: Sequence[str]) -> None:
        """Raise an :class:`InputError` naming every column of ``columns`` that is missing."""
        missing = [c for c in columns if c not in self.frame.columns]
        raise_if(
            [
                Problem(str(self.path), "column missing from the raw table", line=1, column=c)
                for c in missing
            ]
        )

    def __len__(self) -> int:
        return len(self.frame)

    def __contains__(self, column: str) -> bool:
        return column in self.frame.columns

    def __getitem__(self, column: str) -> pd.Series:
        return self.frame[column]

    @property
    def columns(self) -> pd.Index:
        """The raw column names (and the bookkeeping columns)."""
        return self.frame.columns

    def keep(self, rows: np.ndarray) -> None:
        """Keep only the rows of mask ``rows`` (renumbered from 0; raw lines kept)."""
        self.frame = self.frame[rows].reset_index(drop=True)

    def number(
        self,
        column: str,
        *,
        allow_empty: bool = False,
        positive: bool = False,
        rows: np.ndarray | None = None,
    ) -> pd.Series:
        """Convert one raw column to float, collecting a problem for each bad cell.

        Parameters
        ----------
        column : str
            Raw column name.
        allow_empty : bool
            Empty cells become NaN without a problem (the adapter counts them itself).
        positive : bool
            Values <= 0 are problems too and become NaN (use before taking a logarithm).
        rows : numpy.ndarray of bool, optional
            Convert only these rows (the result has only them).

        Returns
        -------
        pandas.Series
            Float values (NaN where empty or bad).
        """
        frame = self.frame if rows is None else self.frame[rows]
        values = _numeric(frame, column, self.problems, allow_empty)
        if positive:
            nonpositive = np.isfinite(values.to_numpy()) & (values.to_numpy() <= 0)
            _flag(frame, nonpositive, "must be > 0", column, values, self.problems)
            values = values.where(values > 0)
        return values

    def numbers(self, *columns: str) -> list[pd.Series]:
        """:meth:`number` of each column."""
        return [self.number(c) for c in columns]

    def optional(self, column: str) -> pd.Series | None:
        """:meth:`number` of ``column`` if the raw table has it, else ``None``."""
        return self.number(column) if column in self else None

    def flag(
        self, rows: np.ndarray, message: str, column: str | None, values: pd.Series | None = None
    ) -> None:
        """Collect a problem at the raw line of each row of mask ``rows``, with its value."""
        _flag(self.frame, np.asarray(rows, dtype=bool), message, column, values, self.problems)

    def check(self) -> None:
        """Raise the problems collected so far, if any, as one :class:`InputError`."""
        raise_if(self.problems)

    def located(self, columns: Mapping[str, object]) -> pd.DataFrame:
        """Return a frame of ``columns`` (a row per raw row) carrying its raw file and line."""
        return pd.DataFrame(
            {**columns, FILE_COL: self.frame[FILE_COL], LINE_COL: self.frame[LINE_COL]}
        )


# --------------------------------------------------------------------------- final checks


def _check_metadata_names(columns: Sequence[str]) -> None:
    """Metadata columns must not be read back as canonical columns through an alias."""
    for col in columns:
        low = col.lower()
        if col.startswith("_raw_") or col in COLUMNS:
            continue
        if low in ALIASES or low in COLUMNS:
            raise AssertionError(f"adapter bug: metadata column {col!r} collides with an alias")


def finalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Check a converted table with the reader's rules and return it in the tool's column order.

    Canonical columns come first in :data:`gsf_infer.data.schema.COLUMNS` order, metadata after.
    No two records may be identical; the other records are checked by
    :func:`gsf_infer.data.records.records_from_frame`, exactly as a written file is read back
    (values each kind needs, positivity where logarithms are taken, ranges, fewest records per
    kind and run). Every problem points at the raw file and line the record came from.

    Raises
    ------
    InputError
        Listing every record that the reader would refuse.
    """
    canonical = [c for c in COLUMNS if c in frame.columns]
    meta = [c for c in frame.columns if c not in COLUMNS and c not in (FILE_COL, LINE_COL)]
    _check_metadata_names(meta)
    out = frame[canonical + meta].reset_index(drop=True)
    for col in canonical:
        if col in NUMERIC_COLUMNS:
            out[col] = out[col].astype(float)
    problems: list[Problem] = []
    repeated = out.duplicated(keep="first").to_numpy()
    _flag(frame, repeated, "record duplicates an earlier one", None, None, problems)
    # the reader checks the distinct records; its line k is row k - 2 of what it was given
    distinct = np.flatnonzero(~repeated)
    try:
        records_from_frame(out.iloc[distinct])
    except RecordsError as err:
        for problem in err.all_problems:
            at_row = problem.line is not None and problem.line > 1  # else about the whole table
            row = int(distinct[problem.line - 2]) if at_row else 0
            path, line = raw_location(frame, row) if len(frame) else ("ingest", None)
            problems.append(replace(problem, path=path, line=line if at_row else None))
    raise_if(problems)
    return out
