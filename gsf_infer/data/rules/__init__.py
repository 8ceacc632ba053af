"""The validation rules of the records format, as tables, and the functions that apply them.

:mod:`.table` holds the rules as data (rows excluded on purpose, the value rules of each
column, what each kind needs), :mod:`.cells` reads one cell and shows it in a message, and
:mod:`.validation` applies every rule to a parsed table, raising all problems at once or
returning the clean typed table. :mod:`gsf_infer.data.records` parses files into the
:class:`RawTable` this package checks. Imports NumPy, pandas, :mod:`gsf_infer.data.schema` and
:mod:`gsf_infer.errors`.
"""

from gsf_infer.data.rules.cells import NA_TOKENS, display, printable
from gsf_infer.data.rules.table import (
    EXCLUDED_EMPTY,
    EXCLUDED_T0,
    EXCLUDED_UNPRUNED,
    EXCLUSIONS,
    KIND_RULES,
    LINE_COLUMN,
    VALUE_RULES,
    Exclusion,
    KindRule,
    ValueRule,
)
from gsf_infer.data.rules.validation import (
    MAX_PROBLEMS_SHOWN,
    CleanTable,
    RawTable,
    RecordsError,
    validate,
)

__all__ = [
    "EXCLUDED_EMPTY",
    "EXCLUDED_T0",
    "EXCLUDED_UNPRUNED",
    "EXCLUSIONS",
    "KIND_RULES",
    "LINE_COLUMN",
    "MAX_PROBLEMS_SHOWN",
    "NA_TOKENS",
    "VALUE_RULES",
    "CleanTable",
    "Exclusion",
    "KindRule",
    "RawTable",
    "RecordsError",
    "ValueRule",
    "display",
    "printable",
    "validate",
]
