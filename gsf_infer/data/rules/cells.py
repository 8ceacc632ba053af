"""Converting one cell of a records table, and showing it in a message.

The functions here read a cell as the format means it: blank and NA texts as no value, numbers
from text or typed columns, stripped text, ISO 8601 dates; and shorten names and values for
one-line problem messages. They import the standard library, NumPy and pandas.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

#: Cell texts read as "no value" in numeric and date columns (compared in lower case).
NA_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none"})


def is_missing(value: Any) -> bool:
    """Whether a cell holds no value (None, NaN, NaT, pd.NA, or a blank/NA text)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in NA_TOKENS
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    if value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return False


def _to_float(value: Any) -> tuple[float, bool]:
    """Convert one cell to float; return ``(value, ok)`` (missing cells give ``(nan, True)``)."""
    if is_missing(value):
        return math.nan, True
    if isinstance(value, (bool, np.bool_)):
        return math.nan, False
    if isinstance(value, (int, np.integer)):
        try:
            return float(value), True
        except OverflowError:
            return (math.inf if value > 0 else -math.inf), True
    if isinstance(value, (float, np.floating, decimal.Decimal)):
        try:
            return float(value), True
        except (OverflowError, ValueError):
            return math.nan, False
    if isinstance(value, str):
        try:
            return float(value.strip()), True
        except ValueError:
            return math.nan, False
    return math.nan, False


def convert_numeric(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Convert a column to float64; return ``(values, bad)`` with ``bad`` = not a number."""
    if column.dtype.kind in "fiu":
        return column.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(column), bool)
    if pd.api.types.infer_dtype(column, skipna=False) == "string":
        # all text (every CSV column): convert each distinct text once
        uniques = pd.unique(column.to_numpy(dtype=object))
        converted = [_to_float(u) for u in uniques]
        where = pd.Index(uniques, dtype=object).get_indexer(column.to_numpy(dtype=object))
        values = np.array([c[0] for c in converted], dtype=np.float64)[where]
        bad = ~np.array([c[1] for c in converted], dtype=bool)[where]
        return values, bad
    values = np.full(len(column), np.nan)
    bad = np.zeros(len(column), dtype=bool)
    cache: dict[Any, tuple[float, bool]] = {}
    for i, cell in enumerate(column.tolist()):
        try:
            hit = cache.get((type(cell), cell))
        except TypeError:  # unhashable cell (a list from Parquet, …)
            values[i], bad[i] = math.nan, True
            continue
        if hit is None:
            converted, ok = _to_float(cell)
            hit = (converted, not ok)
            cache[(type(cell), cell)] = hit
        values[i], bad[i] = hit
    return values, bad


def to_text(value: Any) -> str | None:
    """Return a text cell stripped, or ``None`` when blank."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if is_missing(value):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip() or None


def to_date(value: Any) -> pd.Timestamp | None:
    """Parse one date cell (ISO 8601), naive UTC, nanosecond unit; ``None`` if unparsable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date, np.datetime64)):
                stamp = pd.Timestamp(value)
            else:
                text = to_text(value)
                if text is None:
                    return None
                stamp = pd.to_datetime(text, format="ISO8601")
            if stamp is pd.NaT or not isinstance(stamp, pd.Timestamp):
                return None
            if stamp.tzinfo is not None:
                stamp = stamp.tz_convert(None)
            return stamp.as_unit("ns")
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return None


def printable(name: str) -> str:
    """Return a name fit for a one-line message (control characters escaped, shortened)."""
    if not name.isprintable():
        name = name.encode("unicode_escape").decode("ascii")
    return name if len(name) <= 60 else name[:57] + "..."


def display(value: Any) -> Any:
    """Return the offending value as a message shows it (short; printed with ``repr``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) or value is None:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**30:
        return value
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def hashable(value: Any) -> Any:
    """Return a hashable stand-in for a metadata cell (missing cells compare equal)."""
    if is_missing(value):
        return None
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return (type(value).__name__, value)


def metadata_column(column: pd.Series, keep: np.ndarray) -> pd.Series:
    """Return a metadata column: float64 if every value is a number, else text (None if blank)."""
    kept = column.iloc[keep].reset_index(drop=True)
    values, bad = convert_numeric(kept)
    if not bad.any() and (len(kept) == 0 or not np.isnan(values).all()):
        return pd.Series(values, dtype="float64")
    return pd.Series([to_text(v) for v in kept.tolist()], dtype=object)
