"""Command line of gsf-infer: a thin typer layer over the library.

Each command lives in its own module here and registers itself on :data:`app`; each only parses
options and calls a library function. The options several commands share are declared once in
:mod:`gsf_infer.cli.options`, with their defaults from
:class:`gsf_infer.workflow.options.FitOptions`. Nothing heavy (JAX, numpyro, ArviZ, pandas) is
imported at module level, so ``--help`` answers at once.
"""

from gsf_infer.cli import (
    calibrate,  # noqa: F401
    check,  # noqa: F401
    compare,  # noqa: F401
    fit,  # noqa: F401  (each import registers its command)
    ingest,  # noqa: F401
    predict,  # noqa: F401
    report,  # noqa: F401
    simulate,  # noqa: F401
    validate,  # noqa: F401
)
from gsf_infer.cli.app import app, main

__all__ = ["app", "main"]
