"""The one writer of files: tables, JSON, result folders — atomically, never overwriting.

Everything that touches the file system for writing lives here, and nowhere else.
Each writer goes through a temporary sibling and an atomic rename, so an interrupted run leaves
either the old state or the complete new one, never a half-written file. Existing results are
refused unless ``force`` is given.

Provenance travels with a table: in CSV/TSV as leading ``# key: value`` comment lines (which
:func:`gsf_infer.data.records.read_records` understands; line numbers in messages stay the physical
line numbers of the file), in Parquet as key–value metadata under ``gsf_infer.provenance``.
Imports pandas lazily.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsf_infer.data.schema import PROVENANCE_KEY, table_format
from gsf_infer.errors import InputError, OutputExistsError, Problem

if TYPE_CHECKING:
    import pandas as pd

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(path: Path, directory: bool = False) -> None:
    """Give a temporary file or folder the permissions a normal write would have had.

    ``mkstemp``/``mkdtemp`` create them private (0600/0700), which would hide results from
    other users of a shared machine.
    """
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise OutputExistsError(
            Problem(path=str(path), message="already exists; pass --force to overwrite it")
        )


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _publish(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_table(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    provenance: Mapping[str, str] | None = None,
    force: bool = False,
) -> Path:
    """Write a records table (CSV, TSV or Parquet by extension) atomically.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table, one row per record.
    path : str or Path
        Destination; its extension selects the format.
    provenance : mapping of str to str, optional
        Source, licence, citation, … of the data; written as ``# key: value`` lines before the
        header (CSV/TSV) or as Parquet metadata.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    fmt = table_format(path)
    _refuse_existing(path, force)
    provenance = {str(k): str(v) for k, v in (provenance or {}).items()}
    with _atomic_file(path) as tmp:
        if fmt == "parquet":
            # deferred: pyarrow is needed only for Parquet tables
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            meta = dict(table.schema.metadata or {})
            if provenance:
                meta[PROVENANCE_KEY.encode()] = json.dumps(provenance).encode()
            pq.write_table(table.replace_schema_metadata(meta), tmp)
        else:
            sep = "," if fmt == "csv" else "\t"
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                for key, value in provenance.items():
                    flat = " ".join(str(value).split())
                    handle.write(f"# {key}: {flat}\n")
                frame.to_csv(handle, sep=sep, index=False, lineterminator="\n")
    return path


def write_text(text: str, path: str | Path, *, force: bool = False) -> Path:
    """Write a text file atomically (refusing to overwrite without ``force``)."""
    path = Path(path)
    _refuse_existing(path, force)
    with _atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def safe_name(name: str) -> str:
    """Turn a run or group name into a folder name.

    Characters other than letters, digits, ``.``, ``-`` and ``_`` become ``_`` (and an empty or
    dot-only name becomes ``_``).
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", str(name))
    return cleaned if cleaned.strip(".") else "_"


def write_json(obj: Any, path: str | Path, *, force: bool = False) -> Path:
    """Write JSON atomically, with NaN and infinities written as ``null``."""
    return write_text(json.dumps(_json_safe(obj), indent=2) + "\n", path, force=force)


def _json_safe(obj: Any) -> Any:
    """Replace non-finite floats by ``None`` and NumPy scalars by Python ones, recursively."""
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@contextlib.contextmanager
def output_folder(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Collect a result folder in a temporary sibling and move it into place on success.

    An existing non-empty ``path`` is refused (:class:`OutputExistsError`, exit 2) unless
    ``force``; with ``force`` it is replaced only once the new folder is complete. If the body
    raises (or the process is interrupted), the temporary folder is removed and ``path`` is left
    as it was.

    Yields
    ------
    Path
        The temporary folder to write into.
    """
    path = Path(path)
    refuse_existing_output(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        _publish(tmp, directory=True)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def refuse_existing_output(path: str | Path, force: bool) -> None:
    """Refuse early (before any work) an existing non-empty output folder without ``force``."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not force:
        raise OutputExistsError(
            Problem(path=str(path), message="output folder exists and is not empty; pass --force")
        )
    # a folder that cannot be written is refused now, not after the work
    where = path if path.is_dir() else path.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, prefix=".gsf-infer-check-"):
            pass
    except OSError as err:
        raise InputError(
            Problem(path=str(path), message=f"cannot write there: {err.strerror or err}")
        ) from None


def write_datatree(dt: Any, path: str | Path) -> Path:
    """Write a DataTree to netCDF at a new path.

    The ``netcdf4`` engine is named because xarray would otherwise prefer ``h5netcdf``.
    """
    path = Path(path)
    with _atomic_file(path) as tmp:
        dt.to_netcdf(tmp, engine="netcdf4")
    return path


def read_datatree(path: str | Path) -> Any:
    """Read a DataTree written by :func:`write_datatree` into memory, and close the file.

    Everything is loaded at once: a tree opened lazily keeps its netCDF handle in xarray's
    file cache, and the HDF5 library can crash the process (not raise) when such handles
    are evicted and reopened while variable-length strings of the tree are still read.
    """
    import xarray as xr  # deferred: the command line imports this module before xarray

    with xr.open_datatree(path, engine="netcdf4") as dt:
        return dt.load()


def write_fit(result: Any, out: str | Path, *, force: bool = False, extra: Any = None) -> Path:
    """Write a fit's result folder atomically.

    Files: ``posterior.nc``, ``summary.json``, ``summary.csv``, ``checks.json`` (the full
    invariant result and diagnostics), ``posterior_deviation.nc`` when a ``deviation``-model fit
    was run for the invariant, ``holdout.csv`` with ``--holdout``; ``extra(folder)`` may add
    more (plots, report) before the folder is moved into place.
    """
    import pandas as pd  # deferred: the command line imports this module before pandas

    with output_folder(out, force=force) as tmp:
        write_datatree(result.dt, tmp / "posterior.nc")
        if result.deviation_dt is not None:
            write_datatree(result.deviation_dt, tmp / "posterior_deviation.nc")
        write_json(result.summary, tmp / "summary.json")
        rows = []
        for name, entry in result.summary["parameters"].items():
            row = {"parameter": name}
            row.update(entry or {})
            rows.append(row)
        pd.DataFrame(rows).to_csv(tmp / "summary.csv", index=False)
        write_json(
            {
                "invariant": result.invariant_detail,
                "diagnostics": result.diagnostics,
                "warnings": result.warnings,
            },
            tmp / "checks.json",
        )
        if result.holdout is not None:
            result.holdout.to_csv(tmp / "holdout.csv", index=False)
        if extra is not None:
            extra(tmp)
    return Path(out)


# ---------------------------------------------------------------- figures and the report


def write_figure(figure: Any, path: str | Path, *, force: bool = False, dpi: int = 110) -> Path:
    """Save a matplotlib figure as a PNG atomically (refusing to overwrite without ``force``)."""
    path = Path(path)
    _refuse_existing(path, force)
    with _atomic_file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
    return path


def write_checks(checks: Mapping[str, Any], folder: str | Path, *, force: bool = True) -> Path:
    """Write ``checks.json`` into a result folder (it replaces the fit's own by default)."""
    return write_json(checks, Path(folder) / "checks.json", force=force)


def write_report(markdown: str, html: str, folder: str | Path, *, force: bool = True) -> list[Path]:
    """Write ``report.md`` and ``report.html`` into a result folder."""
    folder = Path(folder)
    return [
        write_text(markdown, folder / "report.md", force=force),
        write_text(html, folder / "report.html", force=force),
    ]


def write_check_folder(outcome: Any, out: str | Path, *, force: bool = False) -> Path:
    """Write what ``gsf-infer check`` produced into a new folder (atomically).

    ``checks.json``, and ``posterior_deviation.nc`` when the ``deviation`` model was fitted by
    the check.
    """
    with output_folder(out, force=force) as tmp:
        write_json(outcome.checks, tmp / "checks.json")
        if outcome.new_deviation and outcome.deviation_dt is not None:
            write_datatree(outcome.deviation_dt, tmp / "posterior_deviation.nc")
    return Path(out)


def update_fit_folder(outcome: Any, folder: str | Path) -> list[Path]:
    """Bring a fit folder up to date after ``gsf-infer check DIR``.

    Replaces ``checks.json`` and the ``invariant`` of ``summary.json``, and adds
    ``posterior_deviation.nc`` when the check fitted the ``deviation`` model. Each file is replaced
    atomically.
    """
    folder = Path(folder)
    written = []
    if outcome.new_deviation and outcome.deviation_dt is not None:
        written.append(write_datatree(outcome.deviation_dt, folder / "posterior_deviation.nc"))
    written.append(write_checks(outcome.checks, folder))
    if outcome.summary is not None:
        written.append(write_json(outcome.summary, folder / "summary.json", force=True))
    return written
