"""The records table of a simulator: its columns in order, integers as nullable ``Int64``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["records_frame"]


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
