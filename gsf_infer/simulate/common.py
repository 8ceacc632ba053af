"""Small pieces the three simulators share: option names, value formatting, value checks.

Imports the standard library only (the command line loads it with the settings): every
simulator (``gsf``, ``rf``, ``nn``) uses it to name its options the way the command line spells
them, to write a setting back as an option value, to turn its settings into JSON-able values and
to check numbers. :mod:`gsf_infer.simulate.table` builds the records tables.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

__all__ = ["finite", "format_value", "is_int", "option_name", "plain_dict"]


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
