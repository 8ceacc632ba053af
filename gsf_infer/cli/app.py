"""The typer application and the one place where errors become exit codes and messages."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any

import typer

from gsf_infer import __version__
from gsf_infer.errors import GsfInferError, InputError

app = typer.Typer(
    name="gsf-infer",
    help=(
        "Fit the generalized spectral framework of neural scaling to measured training records "
        "(loss curves, quantization and pruning losses, densities, spectra, mode curves, data "
        "sweeps) with NUTS, and test its invariant chi + gamma = rho."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"gsf-infer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version_callback,
        is_eager=True,
    ),
) -> None:
    """Fit the generalized spectral framework of neural scaling to measured training records."""


def report_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the tool's own errors into one line per problem on stderr and their exit code.

    Bad input (:class:`InputError`) exits 2 without a traceback; other :class:`GsfInferError`
    exit with their own code; anything else is an internal error (exit 1, traceback shown).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as err:
            for problem in err.problems:
                typer.echo(f"error: {problem}", err=True)
            raise typer.Exit(code=err.exit_code) from None
        except GsfInferError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(code=err.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: nothing was written", err=True)
            raise typer.Exit(code=130) from None

    return wrapper


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit:
        raise
    except Exception:  # an internal error: a bug, reported as such
        traceback.print_exc()
        sys.stderr.write(
            "gsf-infer: internal error (exit 1); please report it with the traceback\n"
        )
        sys.exit(1)
