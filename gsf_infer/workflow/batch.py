"""Fits by run or by group (``fit --by``): the subsets of a table and the combined table's rows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from gsf_infer.data.records import Records
from gsf_infer.errors import InputError, Problem
from gsf_infer.workflow.fit import FitResult

#: Columns of the combined table of ``fit --by``.
BY_COLUMNS = ("a", "b", "rho", "chi", "gamma", "rho_over_b", "E", "alpha")


def subsets(records: Records, by: str) -> list[tuple[str, Records]]:
    """Split the records by ``run`` or ``group``, in the order they first appear.

    Raises
    ------
    InputError
        If ``by`` is neither ``run`` nor ``group``.
    """
    if by not in ("run", "group"):
        raise InputError(Problem("gsf-infer", "--by must be run or group", value=by))
    table = records.table
    out = []
    for name in pd.unique(table[by].astype(str)):
        part = table[table[by].astype(str) == name].reset_index(drop=True)
        out.append((str(name), replace(records, table=part)))
    return out


def by_row(name: str, by: str, result: FitResult | None, seconds: float, error: str = "") -> dict:
    """One row of the combined ``summary.csv`` of ``fit --by``."""
    row: dict[str, Any] = {by: name}
    if result is not None:
        params = result.summary["parameters"]
        table = result.summary["data"]["records"]
        row["records"] = int(sum(table.values()))
        for col in BY_COLUMNS:
            entry = params.get(col)
            for key in ("mean", "hdi_low", "hdi_high"):
                row[f"{col}_{key}"] = None if entry is None else entry[key]
        diag = result.summary["diagnostics"]
        row.update(converged=diag["converged"], divergences=diag["divergences"],
                   max_r_hat=diag["max_r_hat"], min_ess_bulk=diag["min_ess_bulk"],
                   verdict=result.summary["invariant"]["status"],
                   actions="; ".join(a for acts in result.summary["automatic_actions"].values()
                                     for a in acts))
        sizes = result.records_params
        row["params"] = sizes
    else:
        row.update(converged=False, error=error)
    row["seconds"] = round(seconds, 2)
    return row
