"""``compare --workers|--scheduler``: each candidate model's fit as a task.

:func:`compare_on` runs :func:`gsf_infer.workflow.compare.compare_models` with a runner that
sends every candidate's fit (:class:`gsf_infer.workflow.compare.CandidateFit`) through
:func:`gsf_infer.executor.tasks.run_tasks`; the DataTrees come back to this process, which
computes the ELPD table. Every fit has the same seed as in process, so the same numbers. A fit
that still fails after its retry is left out of the table with a warning naming it. Imports
the standard library at module level; the comparison (JAX) inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gsf_infer.executor.tasks import ExecutorSettings, Outcome, run_tasks
from gsf_infer.inference import runtime

__all__ = ["compare_on", "fit_candidate_task"]


def fit_candidate_task(task: Any) -> tuple[Any, float]:
    """Fit one candidate in whichever process runs it, JAX set up first."""
    runtime.configure(host_devices=max(int(task.config.num_chains), 1))
    # deferred: imports JAX, which runtime.configure must precede in a worker process
    from gsf_infer.workflow.compare import fit_candidate

    return fit_candidate(task)


def compare_on(
    data_path: Any,
    executor: ExecutorSettings,
    notify: Callable[[str, bool], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """``gsf-infer compare`` with the fits where ``executor`` says.

    Parameters
    ----------
    data_path : str or Path
    executor : ExecutorSettings
        In this process (exactly :func:`~gsf_infer.workflow.compare.compare_models`), a
        ``LocalCluster`` or a running scheduler.
    notify : callable, optional
        Called as ``notify(line, important)`` as fits finish (a failure is important).
    **options
        Keyword arguments of :func:`~gsf_infer.workflow.compare.compare_models`.

    Returns
    -------
    dict
        The ``compare.json`` object.
    """
    from gsf_infer.workflow.compare import compare_models  # deferred: imports JAX

    executor.check()
    if executor.in_process:
        return compare_models(data_path, **options)
    say = notify or (lambda line, important: None)

    def on_done(outcome: Outcome, done: int, total: int, elapsed: float) -> None:
        status = "fitted" if outcome.value is not None else f"failed: {outcome.error}"
        say(f"[{done}/{total} fits done, {elapsed:.0f} s] {outcome.name}: {status}",
            outcome.value is None)

    def runner(fits: Sequence[Any]) -> list[tuple[Any, float, str]]:
        say(f"{len(fits)} fit(s) to run {executor.describe()}", False)
        outcomes = run_tasks(fit_candidate_task, list(fits), executor, on_done)
        return [(o.value[0], o.value[1], "") if o.value is not None else (None, o.seconds, o.error)
                for o in outcomes]

    return compare_models(data_path, runner=runner, **options)
