"""The record format as constants: kinds, columns, aliases and per-kind requirements.

This module is the single source of truth for the table format; the reader, the simulators, the
adapters and the docs take their column names from here. It imports nothing but the standard
library.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gsf_infer.errors import InputError, Problem

KINDS: tuple[str, ...] = (
    "loss",
    "quantization",
    "pruning",
    "density",
    "spectrum",
    "modes",
    "data_scaling",
)

#: Canonical columns and their meaning (order = order written by the tool).
COLUMNS: dict[str, str] = {
    "kind": "record kind: " + ", ".join(KINDS),
    "run": "run / model identifier (default: one run)",
    "group": "task family sharing spectral exponents (default: one group)",
    "t": "training progress (steps, tokens, seconds: any monotone unit)",
    "params": "parameter count P",
    "compute": "training compute C",
    "loss": "observed loss",
    "delta_loss": "observed loss increase over the uncompressed model",
    "bits": "precision of quantization (optional)",
    "sparsity": "fraction pruned r in [0, 1)",
    "density": "observed model density",
    "k": "mode index (1-based)",
    "eigenvalue": "kernel eigenvalue lambda_k",
    "target_power": "target power p_k (optional)",
    "learned_fraction": "learned fraction phi_k(t) in (0, 1)",
    "samples": "number of training samples",
    "stderr": "measurement standard error of the observed value (optional)",
    "date": "release date, ISO (optional)",
}

#: Accepted aliases (lower case) -> canonical column.
ALIASES: dict[str, str] = {
    "step": "t",
    "steps": "t",
    "tokens": "t",
    "n_params": "params",
    "n": "params",
    "flops": "compute",
    "n_samples": "samples",
    "examples": "samples",
}

#: Columns holding text.
TEXT_COLUMNS: tuple[str, ...] = ("kind", "run", "group", "date")

#: Numeric columns.
NUMERIC_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in TEXT_COLUMNS)

#: Numeric columns that enter a logarithm wherever they are used: must be > 0.
POSITIVE_COLUMNS: tuple[str, ...] = (
    "params",
    "compute",
    "loss",
    "delta_loss",
    "bits",
    "density",
    "eigenvalue",
    "target_power",
    "samples",
)


@dataclass(frozen=True)
class KindFormat:
    """What a record kind needs.

    Parameters
    ----------
    name : str
        The kind.
    required : tuple of str
        Columns every record of this kind must carry.
    optional : tuple of str
        Columns the kind uses when present.
    observed : str
        The column holding the observed value (the likelihood's target).
    min_records : int
        Fewest records of this kind a file may carry.
    """

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    observed: str
    min_records: int = 3


#: The format of each record kind: its required and optional columns and its observed value.
KIND_FORMATS: dict[str, KindFormat] = {
    "loss": KindFormat("loss", ("t", "loss"), ("params", "stderr"), "loss"),
    "quantization": KindFormat(
        "quantization", ("t", "delta_loss"), ("bits", "params", "stderr"), "delta_loss"
    ),
    "pruning": KindFormat(
        "pruning", ("t", "sparsity", "delta_loss"), ("params", "stderr"), "delta_loss"
    ),
    "density": KindFormat(
        "density", ("compute", "params", "density"), ("date", "stderr"), "density"
    ),
    "spectrum": KindFormat(
        "spectrum", ("k", "eigenvalue"), ("target_power", "stderr"), "eigenvalue"
    ),
    "modes": KindFormat(
        "modes", ("k", "t", "learned_fraction"), ("params", "stderr"), "learned_fraction"
    ),
    "data_scaling": KindFormat("data_scaling", ("samples", "loss"), ("stderr",), "loss"),
}

#: Fewest records per (group, run) for kinds whose every run is fitted as its own curve
#: (``data_scaling``: each run is its own ``E + B n^-alpha``, three parameters).
MIN_RECORDS_PER_RUN: dict[str, int] = {"data_scaling": 3}

#: The table files the tool reads and writes, by suffix (the separator; ``None`` for Parquet), and
#: the Parquet metadata key of a table's provenance.
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".parquet": None, ".pq": None}
PROVENANCE_KEY = "gsf_infer.provenance"


def table_format(path: str | Path) -> str:
    """Return ``"csv"``, ``"tsv"`` or ``"parquet"`` from a path's extension.

    Raises
    ------
    InputError
        If the extension is not one the tool reads or writes.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise InputError(
        Problem(
            path=str(path),
            message="unknown table format: use a .csv, .tsv or .parquet file name",
        )
    )
