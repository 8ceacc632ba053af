"""Command line of gsf-infer: a thin typer layer over the library.

Each command lives in its own module here and registers itself on :data:`app`; each only parses
options and calls a library function. Nothing heavy (JAX, numpyro, ArviZ, pandas) is imported
at module level, so ``--help`` answers at once.
"""

from gsf_infer.cli.app import app, main
from gsf_infer.cli import fit  # noqa: F401  (each import registers its command)
from gsf_infer.cli import predict  # noqa: F401
from gsf_infer.cli import simulate  # noqa: F401
from gsf_infer.cli import ingest  # noqa: F401
from gsf_infer.cli import validate  # noqa: F401
from gsf_infer.cli import check  # noqa: F401
from gsf_infer.cli import compare  # noqa: F401
from gsf_infer.cli import report  # noqa: F401
from gsf_infer.cli import calibrate  # noqa: F401


__all__ = ["app", "main"]
