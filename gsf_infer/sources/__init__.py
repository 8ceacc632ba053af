"""Published scaling tables to records (``gsf-infer ingest``).

Converts published tables to the record format of :mod:`gsf_infer.data.schema`. One adapter per
table family (a module each); this module holds the registry, finds the raw files, dispatches a
raw file given by path on its name, and assembles the provenance (origin, licence, citation, what
the adapter did, row counts, cross-checks) that travels with the records. Raw files are looked up
in: an explicit folder or file; else ``$GSF_INFER_DATA/<folder>``; else
``<repository root>/data/<folder>`` (the parent of the ``gsf_infer`` package). Imports pandas
through the adapters, so import this package lazily from the command line.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from gsf_infer import __version__
from gsf_infer.errors import InputError, Problem
from gsf_infer.sources import chinchilla, datablations, gemstones, olmo, opt, revisiting, wanda
from gsf_infer.sources._base import Adapter, Converted, Option, finalize

__all__ = [
    "ADAPTERS",
    "Adapter",
    "Option",
    "data_dir",
    "describe_sources",
    "find_adapter",
    "ingest",
    "summarize",
]

#: Source name -> adapter.
ADAPTERS: dict[str, Adapter] = {
    a.name: a
    for a in (
        chinchilla.ADAPTER,
        gemstones.CURVES,
        gemstones.OPEN_MODELS,
        opt.ADAPTER,
        olmo.ADAPTER,
        datablations.ADAPTER,
        revisiting.ADAPTER,
        wanda.ADAPTER,
    )
}

DATA_ENV = "GSF_INFER_DATA"


def _unknown_source(name: str) -> InputError:
    return InputError(
        Problem(
            path=name,
            message="unknown source; known sources: "
            + ", ".join(ADAPTERS)
            + " (or give the path of one of their raw files)",
        )
    )


def find_adapter(name: str) -> Adapter:
    """Return the adapter registered as ``name``.

    Raises
    ------
    InputError
        Naming the known sources if ``name`` is not one of them.
    """
    try:
        return ADAPTERS[name]
    except KeyError:
        raise _unknown_source(name) from None


def data_dir(adapter: Adapter, explicit: str | Path | None = None) -> Path:
    """Folder holding ``adapter``'s raw files.

    Parameters
    ----------
    adapter : Adapter
        The source.
    explicit : str or Path, optional
        A folder given by the user: used as is.

    Returns
    -------
    Path
        ``explicit``; else ``$GSF_INFER_DATA/<folder>``; else ``<repository>/data/<folder>``.
    """
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env) / adapter.folder
    return Path(__file__).resolve().parents[2] / "data" / adapter.folder


def _dispatch_file(path: Path, source: str | None) -> tuple[Adapter, dict[str, str]]:
    """Adapter and implied options for a raw file given by path."""
    if source is not None:
        adapter = find_adapter(source)
        if path.name in adapter.file_options:
            return adapter, dict(adapter.file_options[path.name])
        return adapter, {}
    for adapter in ADAPTERS.values():
        if path.name in adapter.file_options:
            return adapter, dict(adapter.file_options[path.name])
    known = sorted({f for a in ADAPTERS.values() for f in a.file_options})
    raise InputError(
        Problem(
            path=str(path),
            message="file name not recognised; name the table with --source NAME (known: "
            + ", ".join(ADAPTERS)
            + ") or use one of the raw file names: "
            + ", ".join(known),
        )
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _for_file(
    path: Path, source: str | None, given: Mapping[str, str]
) -> tuple[Adapter, dict[str, str]]:
    """Adapter and resolved options for a raw file given by path (options must fit its name)."""
    adapter, implied = _dispatch_file(path, source)
    clash = {k: v for k, v in given.items() if k in implied and implied[k] != v}
    if clash:
        raise InputError(
            [
                Problem(
                    str(path),
                    f"option {k}={v} contradicts the file name (which implies {k}={implied[k]})",
                )
                for k, v in clash.items()
            ]
        )
    opts = adapter.resolve_options({**given, **implied})
    if len(adapter.select(opts)) != 1:
        raise InputError(
            Problem(
                str(path),
                f"{adapter.name} cannot tell from this file name which of its tables it is",
            )
        )
    return adapter, opts


def _raw_paths(
    adapter: Adapter, opts: Mapping[str, str], data_dir_path: str | Path | None
) -> list[Path]:
    """Return the raw files ``adapter`` reads for ``opts``; missing ones are an InputError."""
    folder = data_dir(adapter, data_dir_path)
    paths = [folder / f for f in adapter.select(opts)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise InputError(
            [
                Problem(
                    str(p),
                    f"raw file of {adapter.name} not found (give its folder with --data-dir "
                    f"or set ${DATA_ENV} to a folder containing {adapter.folder}/)",
                )
                for p in missing
            ]
        )
    return paths


def ingest(
    name_or_path: str | Path,
    *,
    source: str | None = None,
    options: Mapping[str, str] | None = None,
    data_dir_path: str | Path | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Convert a published table to records (:mod:`gsf_infer.data.schema`) with its provenance.

    Parameters
    ----------
    name_or_path : str or Path
        A source name (see :data:`ADAPTERS`) or the path of one of their raw files (dispatched
        on the file name, or on ``source``).
    source : str, optional
        Source name to use for a file whose name the tool does not recognise.
    options : mapping of str to str, optional
        Adapter options (e.g. ``{"variant": "cool_end"}``); unknown names or values are refused.
    data_dir_path : str or Path, optional
        Folder holding the source's raw files (overrides ``$GSF_INFER_DATA`` and ``data/``).

    Returns
    -------
    frame : pandas.DataFrame
        One row per record: canonical columns first, metadata after.
    provenance : dict of str to str
        ``source``, ``license``, ``citation``, ``adapter`` (what was done), ``caveats``,
        ``checks``, row counts and the raw files with their sha256.

    Raises
    ------
    InputError
        Unknown source (listing the known ones), bad options, missing or malformed raw files.
    """
    text = str(name_or_path)
    path = Path(name_or_path)
    given = dict(options or {})
    if path.is_file():
        adapter, opts = _for_file(path, source, given)
        paths = [path]
    elif text in ADAPTERS:
        if source not in (None, text):
            raise InputError(Problem(text, f"two source names given: {text} and --source {source}"))
        adapter = ADAPTERS[text]
        opts = adapter.resolve_options(given)
        paths = _raw_paths(adapter, opts, data_dir_path)
    elif path.suffix or os.sep in text or "/" in text:
        raise InputError(Problem(text, "no such file"))
    else:
        raise _unknown_source(text)

    converted: Converted = adapter.convert(paths, opts)
    frame = finalize(converted.frame)
    return frame, _provenance(adapter, opts, paths, converted, frame)


def _provenance(
    adapter: Adapter,
    opts: Mapping[str, str],
    paths: list[Path],
    converted: Converted,
    frame: pd.DataFrame,
) -> dict[str, str]:
    counts = dict(converted.counts)
    counts["rows_out"] = len(frame)
    prov = {
        "source": adapter.origin,
        "license": adapter.license,
        "citation": adapter.citation,
        "adapter": "; ".join(converted.notes),
        "caveats": "; ".join(converted.caveats) if converted.caveats else "none",
        "ingest_source": adapter.name,
        "ingest_options": ", ".join(f"{k}={v}" for k, v in opts.items()) or "none",
        "raw_files": "; ".join(f"{p.name} (sha256 {_sha256(p)})" for p in paths),
        "rows": ", ".join(f"{k} {v}" for k, v in counts.items()),
        "generated_by": f"gsf-infer {__version__} ingest",
    }
    if converted.checks:
        prov["checks"] = "; ".join(f"{k}: {v}" for k, v in converted.checks.items())
    prov.update(converted.declares)
    return prov


def summarize(frame: pd.DataFrame, provenance: Mapping[str, str]) -> str:
    """One paragraph for the terminal: records per kind, runs, groups, and what was done."""
    kinds = frame["kind"].value_counts(sort=False)
    per_kind = ", ".join(f"{k} {n}" for k, n in kinds.items())
    runs = frame["run"].nunique() if "run" in frame.columns else 1
    groups = frame["group"].nunique() if "group" in frame.columns else 1
    return (
        f"{provenance.get('ingest_source', 'ingest')}: {len(frame)} records ({per_kind}) in "
        f"{runs} run(s) and {groups} group(s). Rows: {provenance.get('rows', '')}. "
        f"Done: {provenance.get('adapter', '')}. Caveats: {provenance.get('caveats', 'none')}. "
        f"Licence: {provenance.get('license', '')}."
    )


def describe_sources() -> str:
    """Text listing every source, its raw files and options (for ``ingest --list``)."""
    lines = []
    for a in ADAPTERS.values():
        lines.append(f"{a.name}: {a.title}")
        lines.append(f"    raw files ({a.folder}/): " + ", ".join(a.file_options))
        for o in a.options:
            choices = f" [{'|'.join(o.choices)}]" if o.choices else ""
            lines.append(f"    --option {o.name}=...{choices} (default {o.default}): {o.help}")
    return "\n".join(lines)
