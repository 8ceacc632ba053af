"""Run independent fits in this process or on a Dask cluster, each into its own result folder.

This package is responsible for many fits at once (``fit --by run|group``).
:mod:`gsf_infer.executor.tasks` runs independent tasks where :class:`ExecutorSettings` says —
one after the other in this process (the default, for which it imports no Dask), on a Dask
``LocalCluster`` of worker processes, or on an existing Dask cluster — retries a failed or
killed task once, reports what still failed by name and keeps every other result.
:mod:`gsf_infer.executor.subsets` makes one task of each subset's fit, skips (``resume``) the
folders that a previous run completed for the same subset and settings, and writes the combined
table. Each task writes its own folder atomically through :mod:`gsf_infer.output.artifacts` and
sets JAX up in the process that runs it (:func:`gsf_infer.inference.runtime.configure`), since a
Dask worker is a process of its own. Nothing here prints: lines for the user go to a ``notify``
callback.
"""

from gsf_infer.executor.subsets import (
    SubsetFit,
    fingerprint,
    fit_subset,
    fit_subsets,
    plan_subsets,
    subset_sha256,
    verify_folder,
)
from gsf_infer.executor.tasks import ExecutorSettings, Outcome, run_tasks

__all__ = ["ExecutorSettings", "Outcome", "SubsetFit", "fingerprint", "fit_subset",
           "fit_subsets", "plan_subsets", "run_tasks", "subset_sha256", "verify_folder"]
