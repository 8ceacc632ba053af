"""Run independent tasks in this process, on a local Dask cluster, or on an existing one.

:func:`run_tasks` runs ``work(task)`` for every task where :class:`ExecutorSettings` says: one
after the other in this process (the default, for which this module imports no Dask), on a Dask
``LocalCluster`` of worker processes started for the run, or on a running Dask scheduler. A
task that raised, or whose worker died, is run again up to ``retries`` times; what still fails
is reported by name in its :class:`Outcome`, and every other result is kept. Imports the
standard library only; ``dask.distributed`` only when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gsf_infer.errors import InputError, Problem


@dataclass(frozen=True)
class ExecutorSettings:
    """Where independent tasks run.

    Parameters
    ----------
    workers : int or None
        Start a Dask ``LocalCluster`` of this many worker processes (one thread each) for the
        run, and close it afterwards.
    scheduler : str or None
        Address of a running Dask scheduler (``tcp://host:8786``) to send the tasks to.
    retries : int
        How many times a task that raised or whose worker died is run again before it is
        reported as failed.

    Notes
    -----
    With neither ``workers`` nor ``scheduler`` the tasks run one after the other in this
    process, and Dask is not imported for them. On a cluster started here each worker holds
    one task at a time (a dying worker takes only its own task with it), and a task is
    declared failed once its worker died ``retries + 1`` times. An existing cluster is given
    every task at once, and keeps its own ``distributed.scheduler.allowed-failures`` (Dask's
    default: a task is run on up to 4 workers that die).
    """

    workers: int | None = None
    scheduler: str | None = None
    retries: int = 1

    def check(self) -> None:
        """Raise :class:`~gsf_infer.errors.InputError` for unusable settings."""
        problems = []
        if self.workers is not None and self.scheduler is not None:
            problems.append(Problem("gsf-infer", "give --workers or --scheduler, not both"))
        if self.workers is not None and (int(self.workers) != self.workers or self.workers < 1):
            problems.append(
                Problem("gsf-infer", "--workers must be a positive integer", value=self.workers)
            )
        if self.scheduler is not None and not str(self.scheduler).strip():
            problems.append(Problem("gsf-infer", "--scheduler needs an address"))
        if self.retries < 0:
            problems.append(Problem("gsf-infer", "retries must be >= 0", value=self.retries))
        if problems:
            raise InputError(problems)

    @property
    def in_process(self) -> bool:
        """Whether the tasks run in this process (no Dask)."""
        return self.workers is None and self.scheduler is None

    def describe(self) -> str:
        """Where the tasks run, in words."""
        if self.scheduler is not None:
            return f"on the Dask cluster at {self.scheduler}"
        if self.workers is not None:
            return f"on a local Dask cluster of {self.workers} worker process(es)"
        return "in this process, one after the other"


@dataclass(frozen=True)
class Outcome:
    """What became of one task.

    Attributes
    ----------
    name : str
        The task's name.
    value : object
        What the task returned (``None`` if it failed).
    error : str
        ``"ErrorType: message"`` of the last attempt when the task failed, else ``""``.
    seconds : float
        Wall time of the task, in seconds (NaN when a cluster does not say).
    """

    name: str
    value: Any = None
    error: str = ""
    seconds: float = math.nan


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def run_tasks(
    work: Callable[[Any], Any],
    tasks: Sequence[Any],
    settings: ExecutorSettings = ExecutorSettings(),
    on_done: Callable[[Outcome, int, int, float], None] | None = None,
) -> list[Outcome]:
    """Run ``work(task)`` for every task, where ``settings`` says; keep every result.

    Parameters
    ----------
    work : callable
        Called with one task, returns a picklable value. On a cluster it must be importable
        by the workers (a module-level function of an installed package).
    tasks : sequence
        Independent tasks, each with a ``name`` attribute; picklable for a cluster.
    settings : ExecutorSettings
        In process, a ``LocalCluster`` of ``workers`` processes, or an existing scheduler.
    on_done : callable, optional
        Called in this process as ``on_done(outcome, done, total, elapsed_seconds)`` whenever
        a task finishes or fails for good.

    Returns
    -------
    list of Outcome
        One per task, in the order of ``tasks``. A task that raised (or whose worker died) is
        run again up to ``settings.retries`` times; if it still fails its outcome carries the
        error and the other tasks go on.

    Raises
    ------
    InputError
        For unusable settings, or a scheduler that cannot be reached.
    """
    settings.check()
    if settings.in_process:
        return _run_here(work, tasks, settings.retries, on_done)
    return _run_dask(work, tasks, settings, on_done)


def _run_here(work, tasks, retries, on_done) -> list[Outcome]:
    outcomes = []
    start = time.perf_counter()
    for task in tasks:
        tic = time.perf_counter()
        outcome = None
        for _ in range(retries + 1):
            try:
                outcome = Outcome(task.name, value=work(task), seconds=time.perf_counter() - tic)
                break
            except Exception as err:  # any failure of one task must not cost the others
                outcome = Outcome(task.name, error=_error_text(err),
                                  seconds=time.perf_counter() - tic)
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome, len(outcomes), len(tasks), time.perf_counter() - start)
    return outcomes


def _client(stack: contextlib.ExitStack, settings: ExecutorSettings) -> tuple[Any, int | None]:
    """Connect to the scheduler, or start a ``LocalCluster``; how many tasks to keep in flight.

    ``None`` in flight means every task at once. The client (and a cluster started here) close
    when ``stack`` does.
    """
    import dask  # deferred: Dask only when a cluster is asked for
    from dask.distributed import Client, LocalCluster

    if settings.scheduler is not None:
        try:
            client = stack.enter_context(Client(settings.scheduler, timeout="30s"))
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(
                Problem("gsf-infer", f"cannot reach the Dask scheduler: {err}",
                        value=settings.scheduler)
            ) from None
        return client, None  # every task at once: the cluster's own scheduling (it may scale)
    with dask.config.set({"distributed.scheduler.allowed-failures": settings.retries}):
        # ":0": the scheduler's HTTP routes on a free port (with None Dask still takes 8787,
        # and another cluster or notebook holding it makes the start fail)
        cluster = stack.enter_context(
            LocalCluster(n_workers=int(settings.workers), threads_per_worker=1,
                         processes=True, dashboard_address=":0")
        )
    # one task per worker: the scheduler counts a dying worker against every task queued on
    # it, not only the one that killed it
    return stack.enter_context(Client(cluster)), int(settings.workers)


def _run_dask(work, tasks, settings: ExecutorSettings, on_done) -> list[Outcome]:
    try:
        from dask.distributed import as_completed  # deferred: Dask only for a cluster
    except ImportError as err:  # a dependency, but an environment may lack it
        raise InputError(
            Problem("gsf-infer", f"--workers and --scheduler need dask[distributed]: {err}")
        ) from None

    outcomes: list[Outcome | None] = [None] * len(tasks)
    with contextlib.ExitStack() as stack:  # leaving it closes the client, then the cluster
        client, in_flight = _client(stack, settings)
        run = uuid.uuid4().hex[:8]
        queue = iter(enumerate(tasks))
        where: dict[Any, int] = {}
        running = as_completed()

        def submit_next() -> None:
            for i, task in queue:
                future = client.submit(work, task, key=f"{task.name}-{run}-{i}", pure=False,
                                       retries=settings.retries)
                where[future.key] = i
                running.add(future)
                return

        start = time.perf_counter()
        for _ in range(len(tasks) if in_flight is None else in_flight):
            submit_next()
        for done, future in enumerate(running, start=1):
            i = where[future.key]
            if future.status == "finished":
                outcome = Outcome(tasks[i].name, value=future.result())
            else:
                outcome = Outcome(tasks[i].name, error=_error_text(future.exception()))
            future.release()
            outcomes[i] = outcome
            submit_next()
            if on_done is not None:
                on_done(outcome, done, len(tasks), time.perf_counter() - start)
    return [o for o in outcomes if o is not None]
