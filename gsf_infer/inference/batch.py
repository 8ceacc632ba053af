"""Many fits of one model on data sets of the same shapes, sampled together.

Simulation-based calibration fits one model to many simulated data sets that differ only in
their observed values. :func:`sample_batch` runs, for each of them, exactly the procedure of
:func:`gsf_infer.inference.sampling.sample` without its automatic reruns and extensions — prior
draws, multi-start L-BFGS-B, Laplace whitening at the best optimum, overdispersed chain starts,
NUTS with warm-up — with the same random keys and generators, but shares the work:

- *Optimisation.* Every data set's optimiser runs in a thread of its own (SciPy's L-BFGS-B,
  unchanged); their requests for the potential and its gradient are gathered by a
  :class:`GradientPool` and evaluated together, one :func:`jax.vmap` call for every data set
  still optimising. A round waits for every data set, so which requests are evaluated together
  does not depend on timing.
- *Sampling.* Each data set's chains run in the sequential sampler's compiled program
  (:class:`gsf_infer.inference.chains.Chains`, the same draws as ``sample`` from the same
  state), several data sets at once in threads (a compiled program releases Python's lock).
  Vectorising NUTS over data sets as well does not pay here: under :func:`jax.vmap` the
  tree-building loop runs until the deepest tree of the batch is built, so one data set that
  needs deep trees slows its whole batch (``benchmarks/RESULTS.md``).

Each data set's chains keep their own step size and mass matrix adaptation (Hoffman and Gelman
2014; numpyro's windowed adaptation), so the draws have the distribution of the sequential
procedure's.

References
----------
Hoffman, M. D. and Gelman, A. (2014). The No-U-Turn sampler: adaptively setting path lengths in
Hamiltonian Monte Carlo. JMLR 15, 1593-1623.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gsf_infer.inference.chains import SEGMENT, Chains
from gsf_infer.inference.config import SamplerConfig
from gsf_infer.inference.functions import TRACE_LOCK, ModelFunctions, draw_prior
from gsf_infer.inference.sampling import Prepared, SamplingResult, assemble, prepare

__all__ = ["GradientPool", "Prepared", "prepare", "prepare_batch", "sample_batch", "sample_one",
           "sample_prepared", "submit_prepared", "with_observations"]


def with_observations(inputs: dict[str, Any], ys: dict[str, Any]) -> dict[str, Any]:
    """Return the model's inputs with the observed values of the sites in ``ys`` replaced."""
    obs = dict(inputs["obs"])
    for name, value in ys.items():
        obs[name] = (value, obs[name][1])
    return {**inputs, "obs": obs}


def _width(n: int) -> int:
    """Return the padded batch width: the next power of two (few compiled shapes)."""
    return 1 << max(n - 1, 0).bit_length()


def _stack(items: Sequence[Any], width: int) -> Any:
    """Stack pytrees along a new leading axis, padded to ``width`` with copies of the first."""
    items = list(items) + [items[0]] * (width - len(items))
    return jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *items)


class GradientPool:
    """The potential and its gradient for many data sets, evaluated together.

    Each member (a thread optimising one data set) calls :meth:`function` to get its own
    ``value_and_grad(z)``; a call blocks until every member still active has asked for a
    value, then all are evaluated in one vectorised call of the compiled
    ``jax.vmap(jax.value_and_grad(potential))`` (padded to a power of two). A member leaves
    with :meth:`leave` when it has no more requests.

    Parameters
    ----------
    fns : ModelFunctions
    inputs : dict
        The model's inputs shared by every data set (their observed values are replaced).
    members : int
        How many members will call.
    """

    def __init__(self, fns: ModelFunctions, inputs: dict[str, Any], members: int):
        def potential(z, ys, inputs):
            return fns.potential(z, with_observations(inputs, ys))

        self._compiled = fns.program(
            "batch_value_and_grad",
            lambda: jax.jit(jax.vmap(jax.value_and_grad(potential), in_axes=(0, 0, None))),
        )
        self._inputs = inputs
        self._cond = threading.Condition()
        self._active = members
        self._pending: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}
        self._results: dict[int, Any] = {}
        self.rounds = 0

    def function(self, member: int, ys: dict[str, Any]) -> Callable:
        """``value_and_grad(z)`` of member ``member`` whose observed values are ``ys``."""

        def value_and_grad(z):
            with self._cond:
                self._pending[member] = (np.asarray(z, dtype=float), ys)
                self._run_if_complete()
                while member not in self._results:
                    self._cond.wait()
                out = self._results.pop(member)
            if isinstance(out, BaseException):
                raise out
            return out

        return value_and_grad

    def leave(self) -> None:
        """Withdraw a member (it has finished, or failed)."""
        with self._cond:
            self._active -= 1
            self._run_if_complete()

    def _run_if_complete(self) -> None:
        """Evaluate the pending requests once every active member has one (lock held)."""
        if not self._pending or len(self._pending) < self._active:
            return
        members = sorted(self._pending)
        width = _width(len(members))
        try:
            z = _stack([self._pending[m][0] for m in members], width)
            ys = _stack([self._pending[m][1] for m in members], width)
            with TRACE_LOCK:  # a new width is traced
                values, grads = self._compiled(jnp.asarray(z), ys, self._inputs)
            values, grads = np.asarray(values), np.asarray(grads)
            for j, m in enumerate(members):
                self._results[m] = (values[j], grads[j])
        except Exception as err:  # every waiting member must learn of it, not hang
            for m in members:
                self._results[m] = err
        self._pending.clear()
        self.rounds += 1
        self._cond.notify_all()


def prepare_batch(
    fns: ModelFunctions,
    inputs: dict[str, Any],
    ys: Sequence[dict[str, Any]],
    configs: Sequence[SamplerConfig],
) -> list[Prepared | BaseException]:
    """:func:`prepare` every data set in a thread of its own, their gradients pooled.

    Returns
    -------
    list
        Per data set, its :class:`Prepared` state or the exception its preparation raised.
    """
    pool = GradientPool(fns, inputs, len(ys))
    out: list[Prepared | BaseException | None] = [None] * len(ys)
    with TRACE_LOCK:  # the prior's program traced here, once, not by every thread at once
        draw_prior(fns, inputs, jax.random.key(0), configs[0].prior_draws)

    def work(i: int) -> None:
        try:
            # never holding directions: every data set runs the same non-adaptive procedure
            config = replace(configs[i], adaptive=False)
            out[i] = prepare(fns, with_observations(inputs, ys[i]), config,
                             pool.function(i, ys[i]))
        except Exception as err:  # one data set's failure is its own
            out[i] = err
        finally:
            pool.leave()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(ys))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out  # type: ignore[return-value]


def _chains_key(config: SamplerConfig) -> tuple:
    return ("chains", config.num_warmup, config.target_accept_prob, config.max_tree_depth,
            config.num_chains)


def sample_one(
    fns: ModelFunctions,
    inputs: dict[str, Any],
    ys: dict[str, Any],
    prep: Prepared | BaseException,
    config: SamplerConfig,
) -> SamplingResult | BaseException:
    """Run one prepared data set's chains by the sequential program; its result.

    Safe to call from several threads at once: the first call traces the shared chain
    program under the trace lock, the others then run it side by side (a compiled program
    releases Python's lock). An exception (of the preparation or of the chains) is returned,
    not raised: one data set's failure is its own.
    """
    if isinstance(prep, BaseException):
        return prep
    try:
        tic = time.perf_counter()
        own = with_observations(inputs, ys)
        total = config.num_warmup + config.num_samples
        key = _chains_key(config)
        chains = None
        if ("traced", key) not in fns.programs:
            with TRACE_LOCK:  # the first data set's first segment traces the shared program
                if ("traced", key) not in fns.programs:
                    chains = Chains(fns, own, prep.z_best, prep.factor, prep.inits,
                                    prep.key_nuts, config)
                    chains.advance(min(SEGMENT, total))
                    fns.programs[("traced", key)] = True
        if chains is None:
            chains = Chains(fns, own, prep.z_best, prep.factor, prep.inits, prep.key_nuts,
                            config)
        chains.advance(total - chains.done)
        flat, stats = chains.draws()
        seconds = {"optimize": sum(prep.seconds.values()), "sampling": time.perf_counter() - tic}
        with TRACE_LOCK:  # traced on a first call, maybe while another batch is optimised
            return assemble(fns, own, prep, flat, stats, seconds, [], config.target_accept_prob)
    except Exception as err:  # one data set's failure is its own
        return err


def submit_prepared(
    pool: Executor,
    fns: ModelFunctions,
    inputs: dict[str, Any],
    ys: Sequence[dict[str, Any]],
    prepared: Sequence[Prepared | BaseException],
    configs: Sequence[SamplerConfig],
) -> list[Future]:
    """Queue every prepared data set's chains on ``pool`` (:func:`sample_one`); their futures.

    A pool of threads shared by successive batches keeps every thread busy: the chains of the
    next batch start as soon as a thread is free, not when the slowest data set of this batch
    has finished.
    """
    return [pool.submit(sample_one, fns, inputs, y, p, c)
            for y, p, c in zip(ys, prepared, configs, strict=True)]


def sample_prepared(
    fns: ModelFunctions,
    inputs: dict[str, Any],
    ys: Sequence[dict[str, Any]],
    prepared: Sequence[Prepared | BaseException],
    configs: Sequence[SamplerConfig],
    *,
    threads: int = 1,
) -> list[SamplingResult | BaseException]:
    """Run the chains of data sets :func:`prepare_batch` prepared; their results.

    Parameters
    ----------
    fns, inputs, ys, configs
        As for :func:`sample_batch`.
    prepared : sequence
        :func:`prepare_batch`'s output (an exception is passed through).
    threads : int
        Data sets sampled at once: each data set's chains run in the sequential sampler's
        program (:class:`gsf_infer.inference.chains.Chains`), in threads of their own (compiled
        programs release Python's lock, so threads use several cores).
    """
    with ThreadPoolExecutor(max_workers=max(int(threads), 1)) as pool:
        futures = submit_prepared(pool, fns, inputs, ys, prepared, configs)
        return [f.result() for f in futures]


def sample_batch(
    fns: ModelFunctions,
    inputs: dict[str, Any],
    ys: Sequence[dict[str, Any]],
    configs: Sequence[SamplerConfig],
    *,
    threads: int = 1,
) -> list[SamplingResult | BaseException]:
    """Fit one model to several data sets of the same shapes, sharing the work.

    Parameters
    ----------
    fns : ModelFunctions
    inputs : dict
        The model's inputs; each data set replaces the observed values named in its ``ys``.
    ys : sequence of dict
        Per data set, observed site name to values (the shapes of ``inputs``'s).
    configs : sequence of SamplerConfig
        Per data set; they may differ in ``seed`` only (``adaptive`` is ignored: no reruns or
        extensions, as every data set runs the same number of iterations).
    threads : int
        Data sets whose chains run at once (:func:`sample_prepared`).

    Returns
    -------
    list
        Per data set, its :class:`~gsf_infer.inference.sampling.SamplingResult` (constrained
        posterior, statistics, prior draws, optima, wall times; ``optimize`` is the data set's
        own preparation, waits for the pool included, ``sampling`` the wall time of its own
        chains) or the exception its fit raised.
    """
    if not ys:
        return []
    prepared = prepare_batch(fns, inputs, list(ys), list(configs))
    return sample_prepared(fns, inputs, list(ys), prepared, list(configs), threads=threads)
