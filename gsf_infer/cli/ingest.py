"""``gsf-infer ingest NAME|FILE --out FILE``: published tables to records.

Thin layer over :func:`gsf_infer.sources.ingest` (conversion and provenance) and
:func:`gsf_infer.output.artifacts.write_table` (the file); the adapters (and pandas) are
imported inside the command so ``--help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gsf_infer.cli.app import app, report_errors
from gsf_infer.data.schema import table_format
from gsf_infer.errors import InputError, Problem
from gsf_infer.output.artifacts import write_table


def parse_options(items: list[str] | None) -> dict[str, str]:
    """``["key=value", ...]`` -> ``{"key": "value"}``; malformed items are an InputError."""
    options: dict[str, str] = {}
    problems = []
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            problems.append(Problem("--option", "expected KEY=VALUE", value=item))
            continue
        if key.strip() in options:
            problems.append(Problem("--option", f"option '{key.strip()}' given twice", value=item))
            continue
        options[key.strip()] = value.strip()
    if problems:
        raise InputError(problems)
    return options


@app.command()
@report_errors
def ingest(
    name: Annotated[str | None, typer.Argument(
        metavar="NAME|FILE", show_default=False,
        help="A published source (see --list) or the path of one of its raw files.",
    )] = None,
    out: Annotated[str | None, typer.Option(
        "--out", "-o", show_default=False,
        help="Records file to write (.csv, .tsv or .parquet).",
    )] = None,
    source: Annotated[str | None, typer.Option(
        "--source", show_default=False,
        help="Source NAME for a raw file whose name is not recognised.",
    )] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", show_default=False,
        help="Adapter option KEY=VALUE (repeatable; see --list).",
    )] = None,
    data_dir: Annotated[str | None, typer.Option(
        "--data-dir", show_default=False,
        help="Folder holding the source's raw files (default: $GSF_INFER_DATA/<folder>, else the "
        "repository's data/<folder>).",
    )] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite an existing output file.",
    )] = False,
    list_sources: Annotated[bool, typer.Option(
        "--list", help="List the sources, their raw files and options, and exit.",
    )] = False,
) -> None:
    """Convert a published scaling table to the records format, keeping its provenance.

    The output starts with '# key: value' provenance lines (source, licence, citation, what the
    adapter did, row counts, cross-checks; Parquet: file metadata) and holds one record per row.
    A one-paragraph summary is printed. Exit code 2 for an unknown source (the known ones are
    listed), bad options, unreadable raw files, or an existing output without --force.
    """
    if list_sources:
        from gsf_infer.sources import describe_sources  # deferred: imports pandas

        typer.echo(describe_sources())
        return
    problems = []
    if name is None:
        problems.append(Problem("ingest", "missing NAME|FILE (see gsf-infer ingest --list)"))
    if out is None:
        problems.append(Problem("ingest", "missing --out FILE"))
    if problems:
        raise InputError(problems)

    from gsf_infer.sources import ingest as run_ingest  # deferred: imports pandas
    from gsf_infer.sources import summarize

    table_format(out)  # refuse an unknown extension before doing the work
    frame, provenance = run_ingest(
        name, source=source, options=parse_options(option), data_dir_path=data_dir
    )
    path = write_table(frame, out, provenance=provenance, force=force)
    typer.echo(f"{summarize(frame, provenance)} Written to {path}.")
