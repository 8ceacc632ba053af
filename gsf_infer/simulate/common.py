"""Small pieces the three simulators share: option names, value formatting, records tables.

Imports NumPy-free standard library code and pandas only; every simulator (``gsf``, ``rf``,
``nn``) uses it to name its options the way the command line spells them, to write a setting
back as an option value, to turn its settings into JSON-able values and to build its records
table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import pandas as pd

__all__ = ["finite", "format_value", "is_int", "option_name", "plain_dict", "records_frame"]


def option_name(field_name: str) -> str:
    """Return the CLI option of a settings field (``min_t`` -> ``--min-t``)."""
    return "--" + field_name.replace("_", "-")


def format_value(value: Any) -> str:
    """Write a setting as the command line takes it (lists comma-separated, floats short)."""
    if isinstance(value, (tuple, list)):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return str(value)


def plain_dict(settings: Any) -> dict[str, Any]:
    """Return a settings dataclass as plain JSON-able values (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}


def records_frame(
    rows: list[dict[str, Any]], columns: Sequence[str], int_columns: Sequence[str]
) -> pd.DataFrame:
    """Build a records table: ``columns`` in order, all-empty ones dropped, integers ``Int64``."""
    frame = pd.DataFrame(rows, columns=list(columns))
    frame = frame.dropna(axis=1, how="all")
    for col in int_columns:
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    return frame


def is_int(value: Any, low: int) -> bool:
    """Return whether ``value`` is an integer ``>= low`` (in any numeric type)."""
    try:
        return float(value) == int(value) and int(value) >= low
    except (TypeError, ValueError, OverflowError):
        return False


def finite(value: Any) -> bool:
    """Return whether ``value`` converts to a finite float."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
