"""``gsf-infer validate DATA``: check a records table and say what it can identify.

Thin layer over :func:`gsf_infer.data.records.read_records` and
:func:`gsf_infer.analysis.identify.identify`; :func:`format_validation` renders their results as
text (and returns it: the command prints). pandas and the library modules are imported inside the
functions so ``--help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from gsf_infer.cli.app import app, report_errors
from gsf_infer.inference import runtime

if TYPE_CHECKING:
    from gsf_infer.analysis.identify import Identification
    from gsf_infer.data.records import Records

#: Most runs listed in the per-run table; the rest are counted.
MAX_RUNS_SHOWN = 30

#: Width at which the list of routes of one parameter is wrapped.
ROUTES_WIDTH = 64


@app.command()
@report_errors
def validate(
    data: Annotated[str, typer.Argument(
        metavar="DATA", show_default=False,
        help="Records table: .csv, .tsv/.tab or .parquet/.pq (format chosen by extension).",
    )],
    curvature: Annotated[bool, typer.Option(
        "--curvature",
        help="Also find the posterior's optimum under the default gsf model and list the "
        "directions along which the data give less than 20% of the curvature (the prior "
        "decides them), by their loadings on named parameters. Compiles the model: tens of "
        "seconds.",
    )] = False,
) -> None:
    """Check a records table against the data format and say what it can identify.

    Reads DATA (one row per measurement; columns kind, run, group, t, params, compute, loss,
    delta_loss, bits, sparsity, density, k, eigenvalue, target_power, learned_fraction,
    samples, stderr, date; names case-insensitive, aliases such as step/tokens -> t, n_params/N
    -> params, flops -> compute; other columns kept as metadata; leading '# key: value' lines
    are provenance) and checks every rule: known kinds, the values each kind needs, numbers
    that are numbers and finite, positive values where a logarithm is taken, sparsity in
    [0, 1), learned_fraction in (0, 1), integer mode indices k >= 1, stderr >= 0, ISO dates,
    no duplicated rows, and at least 3 records per kind (per run for data_scaling).

    Rows at t = 0 and pruning rows at sparsity 0 are excluded on purpose and counted.

    On success prints the file's sha256, the records per kind and per run, the excluded rows,
    which parameters (a, b, rho, chi, gamma, rho_over_b, ...) the data constrain and through
    which kinds, and whether the invariant chi + gamma = rho is testable (or which kinds are
    missing). Exit code 0 when the table is valid; 2 with one line per problem (file:line,
    column, value: what is wrong) when it is not.
    """
    from gsf_infer.analysis.identify import identify  # deferred: imports JAX
    from gsf_infer.data.records import read_records  # deferred: imports pandas

    records = read_records(data)
    typer.echo(format_validation(records, identify(records)))
    if curvature:
        runtime.configure()
        from gsf_infer.workflow.fit import weak_directions  # deferred: imports JAX

        lines = weak_directions(records)
        typer.echo("\nat the optimum of the gsf model:")
        typer.echo("\n".join(f"  weakly identified: {line}" for line in lines)
                   or "  every direction gets at least 20% of its curvature from the data")


def format_validation(records: Records, identification: Identification) -> str:
    """Render a validation report as plain text.

    Parameters
    ----------
    records : Records
        The validated table.
    identification : Identification
        What it identifies (from :func:`gsf_infer.analysis.identify.identify`).

    Returns
    -------
    str
        The report, lines joined by newlines (no trailing newline).
    """
    from gsf_infer.analysis.identify import (  # deferred: imports JAX
        NAMED_PARAMETERS,
        OTHER_PARAMETERS,
    )

    counts = records.counts()
    total = sum(counts.values())
    lines = [
        f"file        {records.path}",
        f"sha256      {records.sha256 or '(in-memory table)'}",
        f"records     {total} in {len(counts)} kind(s)",
    ]
    if records.metadata_columns:
        lines.append(f"metadata    {', '.join(records.metadata_columns)}")
    for key, value in records.provenance.items():
        lines.append(f"provenance  {key}: {value}")

    lines += ["", "records per kind"]
    rows = [("kind", "records", "identifies")]
    rows += [
        (kind, str(count), ", ".join(identification.identifies.get(kind, ())))
        for kind, count in counts.items()
    ]
    lines += _table(rows, right={1})

    lines += ["", "records per run"]
    per_run = records.runs()
    kinds = list(counts)
    grid = per_run.pivot_table(
        index=["group", "run"], columns="kind", values="records", aggfunc="sum", fill_value=0
    )
    rows = [("group", "run", *kinds)]
    for (group, run), counts_of_run in grid.iterrows():
        cells = [int(counts_of_run.get(k, 0)) for k in kinds]
        rows.append((str(group), str(run), *(str(c) if c else "-" for c in cells)))
    shown = rows[: MAX_RUNS_SHOWN + 1]
    lines += _table(shown, right=set(range(2, 2 + len(kinds))))
    if len(rows) - 1 > MAX_RUNS_SHOWN:
        lines.append(f"  … and {len(rows) - 1 - MAX_RUNS_SHOWN} more runs ({len(rows) - 1} in all)")

    lines += ["", "excluded rows (on purpose, not errors)"]
    if records.excluded:
        lines += _table(
            [("rows", "reason")] + [(str(n), reason) for reason, n in records.excluded.items()],
            right={0},
        )
    else:
        lines.append("  none")

    lines += [
        "",
        "what the data constrain (shared gsf model; each route is a minimal combination of",
        "kinds that determines the parameter; 'prior only' = left to the prior)",
    ]
    rows = [("parameter", "constrained", "through")]
    for name in NAMED_PARAMETERS + OTHER_PARAMETERS:
        routes = identification.routes.get(name, ())
        if not routes:
            rows.append((name, "no", "prior only"))
            continue
        texts = ["+".join(route) for route in routes]
        wrapped = _wrap(texts, ROUTES_WIDTH)
        rows.append((name, "yes", wrapped[0]))
        rows += [("", "", more) for more in wrapped[1:]]
    lines += _table(rows)

    lines.append("")
    if identification.invariant_testable:
        lines.append("invariant chi + gamma = rho: testable")
    else:
        lines.append(
            "invariant chi + gamma = rho: untestable: missing " + "; ".join(identification.missing)
        )
    return "\n".join(lines)


def _wrap(items: list[str], width: int) -> list[str]:
    """Join ``items`` with " | " into lines no wider than ``width`` (an item is never split)."""
    out: list[str] = []
    for item in items:
        if out and len(out[-1]) + 3 + len(item) <= width:
            out[-1] += " | " + item
        else:
            out.append(item)
    return out


def _table(rows: list[tuple[str, ...]], right: set[int] | None = None) -> list[str]:
    """Align rows into columns (two-space indent); ``right`` = indices of right-aligned columns."""
    right = right or set()
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        out.append(("  " + "  ".join(cells)).rstrip())
    return out
