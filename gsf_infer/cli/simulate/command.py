"""How a ``simulate`` command is made from its table of options, and what the three share.

Each command module writes its options as a table of text, in the order ``--help`` lists them::

    --noise 0.02
        Standard deviation of the multiplicative log-normal noise on every observed value
        (modes: of the normal noise on logit phi); 0 writes the exact laws.
    --sizes 1e6,3e6,1e7,3e7,1e8 (floats)
        Model sizes P of the loss and density records (comma-separated).

A line ``FLAG DEFAULT (NOTE)`` opens an option, the indented lines below it are its help (joined
with single spaces). The default's type is the option's (``True``/``False``, an integer, a
number, else text); the note says how the typed text becomes a setting: ``ints``, ``floats``
(comma-separated numbers), ``names`` (comma-separated, lower-cased), ``choice`` (one name,
lower-cased), ``required`` (no default), ``optional int|float|str`` (default: none) or
``shared`` (the option of :data:`SHARED`, which every simulator takes alike). The
setting's name is the flag's (``--t-min`` sets ``t_min``, ``--E-ds`` sets ``E_ds``), the field
of the simulator's settings. :func:`parse_table` reads such a table, :func:`register` adds the
command (the table's options, the docstring of the function that runs it as its help), and
:func:`refuse_outputs`, :func:`parse_options` and :func:`write_outputs` are the steps every
simulator command takes before and after its simulation.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import typer

from gsf_infer.cli.app import app, report_errors
from gsf_infer.data.schema import table_format
from gsf_infer.errors import InputError, OutputExistsError, Problem
from gsf_infer.output.artifacts import write_json, write_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SHARED",
    "Opt",
    "parse_list",
    "parse_options",
    "parse_table",
    "refuse_outputs",
    "register",
    "simulate_app",
    "write_outputs",
]

simulate_app = typer.Typer(
    help="Write synthetic records with known truth (gsf: the exact forward model; rf: a real "
    "random-feature regression trained by SGD; nn: small neural networks trained by SGD, "
    "measured, with no truth for a, b, rho).",
    no_args_is_help=True,
)
app.add_typer(simulate_app, name="simulate")

#: The notes that say how a list or a name is parsed.
LIST_NOTES = {"ints": int, "floats": float}
_OPTIONAL = {"optional int": int, "optional float": float, "optional str": str}
_NOTES = {"", "names", "choice", "required", "shared", *LIST_NOTES, *_OPTIONAL}
_HEAD = re.compile(r"(?P<flag>--\S+)(?: (?P<default>[^ (]\S*))?(?: \((?P<note>[^)]*)\))?")


class Opt(NamedTuple):
    """One option of a ``simulate`` command, as its table gives it."""

    flag: str
    default: Any
    help: str
    note: str = ""
    kind: Any = None

    @property
    def name(self) -> str:
        """Return the setting this option sets (``--E-ds`` -> ``E_ds``)."""
        return self.flag.split("/")[0].lstrip("-").replace("-", "_")

    @property
    def annotation(self) -> Any:
        """Return the option's type."""
        return self.kind if self.kind is not None else type(self.default)

    @property
    def show_default(self) -> bool:
        """Return whether ``--help`` shows the default (not when the help states its own)."""
        return self.default is not ... and "[default:" not in self.help


def parse_table(text: str) -> list[Opt]:
    """Read a table of options (the format is in this module's docstring)."""
    options: list[Opt] = []
    for block in re.split(r"\n(?=--)", text.strip()):
        head, *lines = block.split("\n")
        match = _HEAD.fullmatch(head)
        if match is None or (match["note"] or "") not in _NOTES:
            raise ValueError(f"not an option line: {head!r}")
        flag, note = match["flag"], match["note"] or ""
        help_text = " ".join(line.strip() for line in lines)
        if note == "shared":
            options.append(SHARED[flag])
        elif note == "required":
            options.append(Opt(flag, ..., help_text, note, kind=str))
        elif note in _OPTIONAL:
            options.append(Opt(flag, None, help_text, note, kind=_OPTIONAL[note] | None))
        else:
            default = match["default"] if note else _literal(match["default"])
            options.append(Opt(flag, default, help_text, note))
    return options


def _literal(text: str) -> Any:
    """Return a default written as text: a bool, an integer, a number, else the text."""
    if text in ("True", "False"):
        return text == "True"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


#: The options every simulator takes alike.
SHARED: dict[str, Opt] = {
    opt.flag: opt
    for opt in parse_table("""
--out (required)
    Records table to write (.csv, .tsv or .parquet).
--force False
    Overwrite existing output files [default: refuse, exit 2].
""")
}


def register(name: str, run: Callable[..., None], options: list[Opt]) -> None:
    """Add ``simulate <name>``: ``options`` in their order, ``run``'s docstring as its help.

    ``run`` receives every option by its setting name (``--t-min`` as ``t_min``).
    """
    params = [
        inspect.Parameter(
            opt.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(
                opt.default, opt.flag, help=opt.help, show_default=opt.show_default
            ),
            annotation=opt.annotation,
        )
        for opt in options
    ]

    def command(**values: Any) -> None:
        run(**values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = run.__doc__
    command.__name__ = command.__qualname__ = name
    simulate_app.command(name)(report_errors(command))


def refuse_outputs(out: str, truth: str | None, force: bool) -> None:
    """Refuse an unknown table format, or an existing output or truth file without --force."""
    table_format(out)
    for path in (out, truth):
        if path is not None and Path(path).exists() and not force:
            raise OutputExistsError(
                Problem(path=str(path), message="already exists; pass --force to overwrite it")
            )


def parse_options(
    options: list[Opt], values: dict[str, Any], fallback: Callable[[str], Any]
) -> tuple[dict[str, Any], list[Problem]]:
    """Turn the typed option values into settings, noting every bad list.

    Lists are split into numbers, names lower-cased; a list that does not parse is noted as a
    problem and replaced by ``fallback(name)``, so that the other options are still checked.

    Returns
    -------
    settings : dict
        Every entry of ``values``, parsed as its row of the table says.
    problems : list of Problem
        One per bad item of a list (naming the option).
    """
    settings: dict[str, Any] = {}
    problems: list[Problem] = []
    for opt in options:
        if opt.name not in values:
            continue
        value = values[opt.name]
        if opt.note in LIST_NOTES:
            try:
                value = parse_list(value, opt.flag, LIST_NOTES[opt.note])
            except InputError as err:
                problems += err.problems
                value = fallback(opt.name)
        elif opt.note == "names":
            value = tuple(item.strip().lower() for item in str(value).split(",") if item.strip())
        elif opt.note == "choice":
            value = value.strip().lower()
        settings[opt.name] = value
    return settings, problems


def parse_list(text: str, option: str, convert: type) -> tuple:
    """Split a comma-separated option value into numbers (InputError naming the option)."""
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise InputError(Problem(path=option, message="needs at least one value", value=text))
    out = []
    problems = []
    for item in items:
        try:
            value = float(item)
            if convert is int:
                if value != int(value):
                    raise ValueError(item)
                value = int(value)
            out.append(value)
        except ValueError:
            kind = "an integer" if convert is int else "a number"
            problems.append(Problem(path=option, message=f"must be {kind}", value=item))
    if problems:
        raise InputError(problems)
    return tuple(out)


def write_outputs(
    frame: pd.DataFrame,
    out: str,
    provenance: dict[str, str],
    counts: dict[str, int],
    truth: str | None,
    payload: dict[str, Any],
    force: bool,
) -> None:
    """Write the records table (and the truth to ``truth`` if given); say what was written.

    ``counts`` gives the records per kind, in the order the summary line lists them.
    """
    written = write_table(frame, out, provenance=provenance, force=force)
    summary = ", ".join(f"{kind}: {count}" for kind, count in counts.items())
    typer.echo(f"wrote {len(frame)} records ({summary}) to {written}")
    if truth is not None:
        write_json(payload, truth, force=force)
        typer.echo(f"wrote the truth to {truth}")
