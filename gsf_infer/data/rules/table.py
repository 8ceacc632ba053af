"""The rules of the records format, as data: exclusions, value rules, what each kind needs.

Each table is read by :mod:`gsf_infer.data.rules.validation`, which applies it; the kinds' columns
and record counts come from :mod:`gsf_infer.data.schema`, the single source of the format. This
module imports NumPy and :mod:`gsf_infer.data.schema`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gsf_infer.data import schema

#: Reasons under which rows are excluded on purpose (keys of ``Records.excluded``).
EXCLUDED_T0 = "t = 0 (initialisation point; the laws are on log t)"
EXCLUDED_UNPRUNED = "pruning at sparsity 0 (the unpruned reference; its delta_loss is 0)"
EXCLUDED_EMPTY = "empty row (every cell blank)"

#: Name of the line-number column of the clean table; a file may not use it.
LINE_COLUMN = "line"

#: Text columns and the value a blank or absent cell takes.
DEFAULT_TEXT = {"run": "run", "group": "all"}


@dataclass(frozen=True)
class KindRule:
    """What the records of one kind need.

    Attributes
    ----------
    kind : str
        The kind.
    required : tuple of str
        Canonical columns every record of the kind must carry a value in.
    observed : str
        The column holding the observed value (optional in points to predict; not required
        of a row excluded on purpose).
    min_records : int
        Fewest records of the kind a file may carry, after exclusions.
    min_per_run : int or None
        Fewest records per ``(group, run)`` where every run is fitted as its own curve.
    """

    kind: str
    required: tuple[str, ...]
    observed: str
    min_records: int
    min_per_run: int | None = None


#: One rule per kind, from the format's kind specifications.
KIND_RULES: dict[str, KindRule] = {
    name: KindRule(
        name, spec.required, spec.observed, spec.min_records, schema.MIN_RECORDS_PER_RUN.get(name)
    )
    for name, spec in schema.KIND_FORMATS.items()
}


@dataclass(frozen=True)
class ValueRule:
    """A rule on the finite values of one numeric column.

    Attributes
    ----------
    column : str
        Canonical column.
    violates : callable
        Maps the column's values (float64, NaN where blank) to a mask of the rows that break
        the rule; NaN and infinite values are never flagged here.
    message : str
        What the rule says, as the problem's message.
    exempt_excluded : bool
        Whether a row excluded on purpose is exempt when the column is its kind's observed
        value (an unpruned reference has ``delta_loss = 0``).
    """

    column: str
    violates: Callable[[np.ndarray], np.ndarray]
    message: str
    exempt_excluded: bool = False


def _not_positive(x: np.ndarray) -> np.ndarray:
    return x <= 0


def _negative(x: np.ndarray) -> np.ndarray:
    return x < 0


def _not_mode_index(x: np.ndarray) -> np.ndarray:
    return (x < 1) | (np.floor(x) != x)


def _outside_zero_to_one(x: np.ndarray) -> np.ndarray:
    return (x < 0) | (x >= 1)


def _outside_open_unit(x: np.ndarray) -> np.ndarray:
    return (x <= 0) | (x >= 1)


#: The value rules, applied in this order: positivity where a logarithm is taken, then ranges.
VALUE_RULES: tuple[ValueRule, ...] = (
    *(
        ValueRule(column, _not_positive, "must be > 0 (a logarithm is taken of it)", True)
        for column in schema.POSITIVE_COLUMNS
    ),
    ValueRule("t", _negative, "must be >= 0 (training progress)"),
    ValueRule("k", _not_mode_index, "must be an integer >= 1 (mode index)"),
    ValueRule("sparsity", _outside_zero_to_one, "must be in [0, 1) (fraction pruned)"),
    ValueRule("learned_fraction", _outside_open_unit, "must be in (0, 1) (learned fraction)", True),
    ValueRule("stderr", _negative, "must be >= 0 (a standard error)"),
)


@dataclass(frozen=True)
class Exclusion:
    """Rows excluded on purpose: records of ``kinds`` whose ``column`` equals ``value``.

    Attributes
    ----------
    reason : str
        The key under which the excluded rows are counted.
    kinds : frozenset of str
    column : str
    value : float
    """

    reason: str
    kinds: frozenset[str]
    column: str
    value: float


#: The exclusions, in order; a row is counted under the first that applies.
EXCLUSIONS: tuple[Exclusion, ...] = (
    Exclusion(
        EXCLUDED_T0,
        frozenset(k for k, s in schema.KIND_FORMATS.items() if "t" in s.required + s.optional),
        "t",
        0.0,
    ),
    Exclusion(EXCLUDED_UNPRUNED, frozenset({"pruning"}), "sparsity", 0.0),
)
