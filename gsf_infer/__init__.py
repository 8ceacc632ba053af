"""gsf-infer: Bayesian inverse inference for the generalized spectral framework of neural scaling.

The Python interface (:mod:`gsf_infer.api`) is available at the top level::

    import gsf_infer as gsf
    records = gsf.read_records("runs.csv")
    fit = gsf.fit(records, model="gsf", g="monomial", seed=0)

The package is importable without JAX, pandas or ArviZ being loaded: the top-level names are
resolved on first use, and the command line imports the heavy modules only inside commands.
"""

from typing import Any

__version__ = "0.1.0"

#: The names of :mod:`gsf_infer.api` offered at the top level.
_API = (
    "Fit",
    "Records",
    "compare",
    "fit",
    "fit_by",
    "ingest",
    "load",
    "read_records",
    "records_from_frame",
    "simulate_gsf",
    "simulate_rf",
)

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from gsf_infer import api  # deferred: the top-level names resolve on first use

        return getattr(api, name)
    raise AttributeError(f"module 'gsf_infer' has no attribute {name!r}")
