"""A saved fit read back (:func:`load_fit`) and evaluated on new records (:func:`predict`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gsf_infer.data.records import read_records, records_from_frame
from gsf_infer.errors import InputError, Problem
from gsf_infer.inference.datatree import read_attrs
from gsf_infer.inference.predict import predict_records, unsupported_kinds
from gsf_infer.output.artifacts import read_datatree
from gsf_infer.workflow.resolve import parse_at


def load_fit(fit_dir: str | Path):
    """Open ``posterior.nc`` of a result folder.

    Raises
    ------
    InputError
        If the folder or its ``posterior.nc`` is missing or unreadable.
    """
    path = Path(fit_dir) / "posterior.nc"
    if not path.is_file():
        raise InputError(Problem(str(fit_dir), "not a fit folder: no posterior.nc inside"))
    try:
        return read_datatree(path)
    except Exception as err:  # netCDF/HDF5 raise many types
        raise InputError(Problem(str(path), f"cannot be read as a DataTree: {err}")) from None


def predict(
    fit_dir: str | Path,
    *,
    at: list[str] | None = None,
    points: str | Path | None = None,
    ci_prob: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Posterior predictive summaries for new records (``gsf-infer predict``).

    Returns
    -------
    pandas.DataFrame
        See :func:`gsf_infer.inference.predict.predict_records`.
    """
    if bool(at) == (points is not None):
        raise InputError(Problem("gsf-infer predict", "give either --at (one or more) or --points"))
    if ci_prob is not None and not 0 < ci_prob < 1:
        raise InputError(Problem("gsf-infer predict", "--ci-prob must be in (0, 1)", value=ci_prob))
    dt = load_fit(fit_dir)
    if points is not None:
        records = read_records(points, prediction=True)
    else:
        records = records_from_frame(parse_at(at or []), path="--at", prediction=True)
    attrs = read_attrs(dt)
    bad = unsupported_kinds(records, attrs)
    if bad:
        raise InputError(
            Problem(
                records.path,
                f"this fit cannot predict kind(s) {', '.join(bad)} (fitted: "
                f"{', '.join(attrs.get('kinds', []))}; model {attrs['model_settings']['model']})",
            )
        )
    return predict_records(dt, records, ci_prob=ci_prob, seed=seed)
