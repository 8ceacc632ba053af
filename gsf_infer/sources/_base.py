"""Shared machinery of the published-table adapters: descriptions, raw readers, final checks.

Every adapter module describes one table family with an :class:`Adapter` (origin, licence, citation,
options, which raw files it reads) and a ``convert`` function turning the raw files into a
:class:`Converted` table in the record format of :mod:`gsf_infer.data.schema` plus a plain-words
account of what was done. The helpers here read raw CSV / JSON Lines files keeping each row's
physical line number (so a problem in a raw file is reported at its line), convert raw columns to
numbers collecting every bad cell, and check the finished table against :mod:`gsf_infer.data.schema`
before it leaves the adapter. Imports pandas and NumPy (callers import this package lazily) and
nothing else of the tool but :mod:`gsf_infer.data.schema` and :mod:`gsf_infer.errors`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gsf_infer.data import schema
from gsf_infer.data.schema import ALIASES, COLUMNS, KIND_FORMATS, NUMERIC_COLUMNS, POSITIVE_COLUMNS
from gsf_infer.errors import InputError, Problem

#: Internal bookkeeping columns: raw file and physical line of each row (dropped by finalize).
FILE_COL = "_raw_file"
LINE_COL = "_raw_line"


@dataclass(frozen=True)
class Option:
    """One option of an adapter (``--option name=value`` on the command line).

    Parameters
    ----------
    name : str
        Option name.
    default : str
        Value used when the option is not given.
    help : str
        One sentence saying what it selects.
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
    origin : str
        Where the raw files come from (repository, path, commit).
    license : str
        Licence of the raw files.
    citation : str
        What to cite.
    options : tuple of Option
        Options the adapter accepts.
    select : callable
        ``select(options) -> tuple of file names`` read for these options.
    file_options : mapping
        Raw file name -> options implied when the user passes that file directly.
    convert : callable
        ``convert(paths, options) -> Converted``.
    """

    name: str
    folder: str
    title: str
    origin: str
    license: str
    citation: str
    options: tuple[Option, ...]
    select: Callable[[Mapping[str, str]], tuple[str, ...]]
    file_options: Mapping[str, Mapping[str, str]]
    convert: Callable[[Sequence[Path], Mapping[str, str]], Converted]

    def resolve_options(self, given: Mapping[str, str] | None) -> dict[str, str]:
        """Defaults overlaid with ``given``; unknown names or values are an :class:`InputError`."""
        given = dict(given or {})
        known = {o.name: o for o in self.options}
        problems = []
        for key, value in given.items():
            if key not in known:
                names = ", ".join(known) if known else "none"
                problems.append(
                    Problem(
                        path=self.name,
                        message=f"unknown option '{key}' for source {self.name} "
                        f"(its options: {names})",
                    )
                )
            elif known[key].choices is not None and value not in known[key].choices:
                problems.append(
                    Problem(
                        path=self.name,
                        message=f"option '{key}' must be one of " + ", ".join(known[key].choices),
                        value=value,
                    )
                )
        if problems:
            raise InputError(problems)
        return {o.name: given.get(o.name, o.default) for o in self.options}


# --------------------------------------------------------------------------- raw readers


def read_raw_csv(path: Path) -> pd.DataFrame:
    """Read a raw CSV table as text, adding its file and physical line numbers (header = 1).

    Raises
    ------
    InputError
        If the file cannot be read or parsed as CSV.
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
    frame[FILE_COL] = str(path)
    frame[LINE_COL] = np.arange(len(frame)) + 2
    return frame


def read_raw_jsonl(path: Path) -> pd.DataFrame:
    """Read a JSON Lines file (one object per line), keeping each object's line number."""
    records = []
    lines = []
    problems = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(Problem(path=str(path), message="no such file")) from None
    except UnicodeDecodeError:
        raise InputError(Problem(path=str(path), message="not UTF-8 text")) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(
                Problem(path=str(path), line=number, message=f"invalid JSON: {err.msg}")
            )
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(path=str(path), line=number, message="expected a JSON object"))
            continue
        records.append(obj)
        lines.append(number)
    if problems:
        raise InputError(problems)
    if not records:
        raise InputError(Problem(path=str(path), message="no records in the file"))
    frame = pd.DataFrame.from_records(records)
    frame[FILE_COL] = str(path)
    frame[LINE_COL] = lines
    return frame


def raw_location(frame: pd.DataFrame, index: int) -> tuple[str, int | None]:
    """Raw file and physical line of positional row ``index`` (line ``None`` if unknown)."""
    if FILE_COL not in frame.columns:
        return "ingest", None
    line = frame[LINE_COL].iloc[index]
    return str(frame[FILE_COL].iloc[index]), (int(line) if pd.notna(line) else None)


def require_columns(frame: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    """Raise an :class:`InputError` naming every column of ``columns`` missing from ``frame``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            [
                Problem(str(path), "column missing from the raw table", line=1, column=c)
                for c in missing
            ]
        )


def numeric(
    frame: pd.DataFrame,
    column: str,
    problems: list[Problem],
    *,
    allow_empty: bool = False,
) -> pd.Series:
    """Convert one raw column to float, appending a :class:`Problem` for each bad cell.

    Parameters
    ----------
    frame : pandas.DataFrame
        Raw table from :func:`read_raw_csv` / :func:`read_raw_jsonl`.
    column : str
        Raw column name.
    problems : list of Problem
        Collector; one entry per cell that is not a finite number (or empty, unless allowed).
    allow_empty : bool
        Empty cells become NaN without a problem (the adapter counts them itself).

    Returns
    -------
    pandas.Series
        Float values (NaN where empty or bad).
    """
    raw = frame[column]
    stripped = raw.map(lambda v: v.strip() if isinstance(v, str) else v)
    # JSON true/false are not numbers, whatever Python thinks
    numbers = stripped.map(lambda v: "bool" if isinstance(v, (bool, np.bool_)) else v)
    values = pd.to_numeric(numbers, errors="coerce").astype(float)
    empty = raw.isna().to_numpy() | stripped.isin(["", "nan", "NaN", "None"]).to_numpy()
    bad = ~np.isfinite(values.to_numpy()) & ~(empty & allow_empty)
    for idx in np.flatnonzero(bad):
        path, line = raw_location(frame, int(idx))
        problems.append(
            Problem(
                path=path,
                line=line,
                column=column,
                value=raw.iloc[idx],
                message="not a finite number",
            )
        )
    return values


def require_positive(
    frame: pd.DataFrame, values: pd.Series, column: str, problems: list[Problem]
) -> pd.Series:
    """Return ``values`` with non-positive entries set to NaN, adding a problem for each.

    Use before taking a logarithm of a raw column (perplexities, parameter counts).
    """
    arr = values.to_numpy(dtype=float)
    for idx in np.flatnonzero(np.isfinite(arr) & (arr <= 0)):
        path, line = raw_location(frame, int(idx))
        problems.append(
            Problem(
                path=path,
                line=line,
                column=column,
                value=float(arr[idx]),
                message="must be > 0",
            )
        )
    return values.where(values > 0)


def raise_if(problems: list[Problem]) -> None:
    """Raise the collected problems, if any, as one :class:`InputError`."""
    if problems:
        raise InputError(problems)


# --------------------------------------------------------------------------- final checks


def _check_metadata_names(columns: Sequence[str]) -> None:
    """Metadata columns must not be read back as canonical columns through an alias."""
    for col in columns:
        low = col.lower()
        if col.startswith("_raw_") or col in COLUMNS:
            continue
        if low in ALIASES or low in COLUMNS:
            raise AssertionError(f"adapter bug: metadata column {col!r} collides with an alias")


def finalize(frame: pd.DataFrame, kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """Check a converted table against the schema and return it in the tool's column order.

    Canonical columns come first in :data:`gsf_infer.data.schema.COLUMNS` order, metadata after.
    Every record must carry finite values in the columns its kind needs, positive values where logs
    are taken, ``sparsity`` in [0, 1), and no two records may be identical. Problems point at the
    raw file and line the record came from.

    Raises
    ------
    InputError
        Listing every record that would be refused by the reader.
    """
    problems: list[Problem] = []

    def where(i: int) -> tuple[str, int | None]:
        return raw_location(frame, i)

    kinds_present = list(dict.fromkeys(frame["kind"])) if "kind" in frame.columns else []
    for kind in kinds_present:
        if kind not in KIND_FORMATS or (kinds is not None and kind not in kinds):
            raise AssertionError(f"adapter bug: unexpected kind {kind!r}")
        rows = np.flatnonzero((frame["kind"] == kind).to_numpy())
        for col in KIND_FORMATS[kind].required:
            if col not in frame.columns:
                raise AssertionError(f"adapter bug: kind {kind} without column {col}")
            vals = frame[col].to_numpy(dtype=float)[rows]
            for j in np.flatnonzero(~np.isfinite(vals)):
                path, line = where(int(rows[j]))
                problems.append(
                    Problem(
                        path, "no finite value for a required column", line, col, float(vals[j])
                    )
                )
    for col in POSITIVE_COLUMNS:
        if col in frame.columns:
            vals = frame[col].to_numpy(dtype=float)
            for i in np.flatnonzero(np.isfinite(vals) & (vals <= 0)):
                path, line = where(int(i))
                problems.append(Problem(path, f"{col} must be > 0", line, col, float(vals[i])))
    if "sparsity" in frame.columns:
        vals = frame["sparsity"].to_numpy(dtype=float)
        for i in np.flatnonzero(np.isfinite(vals) & ((vals < 0) | (vals >= 1))):
            path, line = where(int(i))
            problems.append(
                Problem(path, "sparsity must lie in [0, 1)", line, "sparsity", float(vals[i]))
            )

    canonical = [c for c in COLUMNS if c in frame.columns]
    meta = [c for c in frame.columns if c not in COLUMNS and c not in (FILE_COL, LINE_COL)]
    _check_metadata_names(meta)
    out = frame[canonical + meta].reset_index(drop=True)
    for col in canonical:
        if col in NUMERIC_COLUMNS:
            out[col] = out[col].astype(float)
    dup = out.duplicated(keep="first").to_numpy()
    for i in np.flatnonzero(dup):
        path, line = where(int(i))
        problems.append(Problem(path, "record duplicates an earlier one", line))
    problems += _too_few(out, frame)
    raise_if(problems)
    return out


def _too_few(out: pd.DataFrame, frame: pd.DataFrame) -> list[Problem]:
    """Kinds (and, where the schema asks, runs) with fewer records than the reader accepts."""
    problems = []
    per_run = getattr(schema, "MIN_RECORDS_PER_RUN", {})
    keys = ["kind"] + [c for c in ("group", "run") if c in out.columns]
    run_size = out.groupby(keys, sort=False)["kind"].transform("size").to_numpy()
    kind_size = out.groupby("kind", sort=False)["kind"].transform("size").to_numpy()
    need_kind_of = out["kind"].map(lambda k: KIND_FORMATS[k].min_records).to_numpy()
    need_run_of = out["kind"].map(lambda k: per_run.get(k, 0)).to_numpy()
    reported: set[tuple] = set()
    for i in np.flatnonzero((kind_size < need_kind_of) | (run_size < need_run_of)):
        kind = out["kind"].iloc[i]
        need_kind = need_kind_of[i]
        need_run = need_run_of[i]
        if kind_size[i] < need_kind and (kind,) not in reported:
            reported.add((kind,))
            path, line = raw_location(frame, i)
            problems.append(
                Problem(
                    path,
                    f"only {kind_size[i]} '{kind}' record(s) left; the reader needs at least "
                    f"{need_kind}",
                    line,
                )
            )
        elif kind_size[i] >= need_kind and run_size[i] < need_run:
            key = tuple(out[k].iloc[i] for k in keys)
            if key in reported:
                continue
            reported.add(key)
            path, line = raw_location(frame, i)
            problems.append(
                Problem(
                    path,
                    f"run {key[-1]!r} has only {run_size[i]} '{kind}' record(s); each run needs "
                    f"at least {need_run}",
                    line,
                )
            )
    return problems
