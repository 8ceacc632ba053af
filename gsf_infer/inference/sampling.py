"""Sampling: multi-start MAP, Laplace, and NUTS from overdispersed starts.

Started from numpyro's default initialisation, NUTS stays stuck on the spectral models (their
scales span many orders of magnitude), so, in order:

1. prior draws (one vectorised :class:`numpyro.infer.Predictive` call; they also become the
   DataTree's ``prior`` group and the reference for prior-to-posterior contraction);
2. several starts — the prior median and prior draws pulled half-way towards it — each
   optimised by L-BFGS-B on the compiled potential and gradient;
3. a Laplace approximation at the best optimum: NUTS runs in the coordinates it whitens;
   principal directions whose curvature the data barely give (likelihood share below 0.2 of
   the Hessian's) are held at the optimum and NUTS samples the rest, unless switched off
   (``fix_unidentified``): the result is then conditional on them, and says so; along no
   direction does the whitening's spread exceed the prior draws' (a saddle or a flat ridge at
   the optimum would otherwise give it an unbounded one);
4. chains started from the Laplace approximation with doubled spread (overdispersed, so that
   R-hat still means something), or from distinct optima of comparable height when the
   optimiser found several (so that a multimodal posterior shows up in R-hat instead of being
   hidden);
5. a check of the gradient NUTS will follow (:func:`gradient_mismatch`): along random
   directions at draws of the Laplace approximation, the compiled gradient against central
   differences of the potential itself. The continuum sums do not differentiate where their
   quadrature panels are split (cheaper, and exact up to the derivative of the quadrature
   error); where that makes the gradient disagree with the density by more than
   :data:`GRADIENT_TOLERANCE` (hundreds of precise points on one curve), the chains run on the
   model with the exact gradient (``split_gradient``), an automatic action reported with the
   fit: with a gradient that is not the potential's, the energy error of a trajectory does not
   vanish as the step shrinks, and the step-size adaptation collapses;
6. NUTS (numpyro's kernel) in a compiled program whose arguments are the data and the
   whitening, chains in parallel on the host's devices, iterated in segments so that progress
   can be reported between them.

Everything works on the model's flattened unconstrained vector, and every compiled program
takes the model's inputs as an argument: the ``gsf`` and ``deviation`` fits of one data set
(and any data set of the same shapes) share them, in memory and in JAX's persistent cache.
The steps live in :mod:`gsf_infer.inference.functions` (potential, gradient, prior draws),
:mod:`gsf_infer.inference.optimize` (optima, Hessian, Laplace factor, starts) and
:mod:`gsf_infer.inference.chains` (the compiled NUTS program and its adaptive use); this module
puts them together (:func:`sample`) and computes pointwise log-likelihoods (:func:`pointwise`).
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import Predictive
from numpyro.infer import util as infer_util

from gsf_infer.inference.chains import _adaptive_chains, chain_program
from gsf_infer.inference.config import SamplerConfig
from gsf_infer.inference.functions import (
    TRACE_LOCK,
    ModelFunctions,
    draw_prior,
    value_and_grad_of,
)
from gsf_infer.inference.optimize import (
    Optimum,
    chain_starts,
    find_optima,
    finite_start,
    hessian,
    laplace_factor,
    prior_hessian_program,
    soft_subspace,
)


@dataclass
class SamplingResult:
    """Everything sampling produced, as NumPy arrays.

    Attributes
    ----------
    posterior : dict
        Constrained latent and deterministic sites, shape ``(chain, draw, ...)``.
    sample_stats : dict
        Per-draw sampler statistics under ArviZ names, ``(chain, draw)``.
    prior : dict
        Prior draws of the latent and deterministic sites, ``(1, draw, ...)``.
    prior_predictive : dict
        Prior predictive draws of the observed sites (likelihood scale), ``(1, draw, n)``.
    optima : list of Optimum
        Local optima found, best first.
    map_values : dict
        Constrained values at the best optimum.
    seconds : dict
        Wall time of each stage.
    chain_starts : str
        How the chains were started.
    hessian : np.ndarray
        Hessian of the potential at the best optimum (unconstrained coordinates).
    notes : list of str
        What the procedure had to do differently (e.g. a Laplace approximation that failed).
    unconstrained : np.ndarray
        The draws as flat unconstrained vectors, ``(chain, draw, dim)``.
    actions : list of str
        What the sampler did by itself (chains extended, target acceptance raised), in words.
    target_accept_prob : float
        The target acceptance of the chains kept (raised when divergences made them rerun).
    fixed : dict
        Directions held at the optimum because the data are silent along them
        (:func:`gsf_infer.inference.optimize.soft_subspace`): ``directions`` (likelihood share,
        loadings, Laplace standard deviation) and ``quantities`` (for each scalar site, the
        share of its Laplace variance they carry and the standard deviation it would move by);
        ``coupled``: unidentified directions left free because a reported site depends on
        them. Empty when there was neither.
    """

    posterior: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    prior: dict[str, np.ndarray]
    prior_predictive: dict[str, np.ndarray]
    optima: list[Optimum]
    map_values: dict[str, np.ndarray]
    seconds: dict[str, float] = field(default_factory=dict)
    chain_starts: str = ""
    hessian: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    unconstrained: np.ndarray | None = None
    actions: list[str] = field(default_factory=list)
    target_accept_prob: float | None = None
    fixed: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    """One data set's state before NUTS: steps 1-4 of the module docstring (:func:`prepare`).

    ``soft`` is the subspace of held directions (``None`` when nothing is held), ``gradients``
    the reported sites' gradients at the optimum it was judged with, ``coupled`` the
    unidentified directions left free; ``seconds`` the wall times of ``prior`` and
    ``optimize``.
    """

    prior: dict[str, np.ndarray]
    prior_predictive: dict[str, np.ndarray]
    optima: list[Optimum]
    hessian: np.ndarray
    factor: np.ndarray
    inits: np.ndarray
    key_nuts: jax.Array
    chain_starts: str
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    soft: Any = None
    gradients: dict[str, np.ndarray] = field(default_factory=dict)
    coupled: list[Any] = field(default_factory=list)

    @property
    def z_best(self) -> np.ndarray:
        """The best optimum (the whitening's centre)."""
        return self.optima[0].z


def prepare(
    fns: ModelFunctions,
    inputs: dict[str, Any],
    config: SamplerConfig,
    value_and_grad: Callable | None = None,
    starts: np.ndarray | None = None,
    reported: tuple[str, ...] = (),
) -> Prepared:
    """Run steps 1-4 of the module docstring: prior draws, optima, whitening, chain starts.

    The keys and the generator are seeded by ``config.seed``, so two calls on the same data
    give the same state. ``value_and_grad`` (of the flat unconstrained vector) defaults to the
    model's compiled one on ``inputs``; simulation-based calibration passes a pooled one
    (:class:`gsf_infer.inference.batch.GradientPool`). ``starts`` and ``reported`` are
    :func:`sample`'s.
    """
    seconds: dict[str, float] = {}
    notes: list[str] = []
    key_prior, key_nuts = jax.random.split(jax.random.key(config.seed))
    rng = np.random.default_rng(config.seed)
    tic = time.perf_counter()
    prior, prior_predictive = draw_prior(fns, inputs, key_prior, config.prior_draws)
    seconds["prior"] = time.perf_counter() - tic

    tic = time.perf_counter()
    pooled = value_and_grad
    if value_and_grad is None:
        compiled = value_and_grad_of(fns)

        def value_and_grad(z):
            return compiled(z, inputs)

    latent = {name: jnp.asarray(prior[name]) for name in fns.supports}
    z_prior = np.asarray(jax.vmap(fns.unconstrain)(latent))
    z_median = np.median(z_prior, axis=0)
    n_random = max(config.num_starts - 1, 0)
    if starts is None:
        picks = rng.choice(z_prior.shape[0], size=n_random, replace=False)
        starts = np.vstack([z_median[None], z_median + 0.5 * (z_prior[picks] - z_median)])
    # the model's own program may be called from several threads; a pooled one may not
    threads = (os.cpu_count() or 1) if pooled is None else 1
    optima = find_optima(value_and_grad, np.atleast_2d(starts), max_iter=config.max_iter,
                         threads=threads)
    if not optima:
        raise FloatingPointError(
            "the posterior density is not finite at any starting point (prior median and "
            f"{n_random} prior draws): the model cannot be evaluated on these data"
        )
    z_best = optima[0].z
    hess = hessian(value_and_grad, z_best)
    soft, gradients, coupled = None, {}, []
    if config.adaptive and config.fix_unidentified and np.all(np.isfinite(hess)):
        gradients = _gradients(fns, inputs, z_best)
        soft = soft_subspace(fns, inputs, z_best, hess, config.identified_share,
                             reported={q: gradients[q] for q in reported if q in gradients})
        coupled = soft.coupled
        soft = soft if soft.directions else None
    try:
        # the prior's spread bounds the Laplace spread where the optimum is a saddle or a ridge
        prior_cov = np.atleast_2d(np.cov(z_prior[np.all(np.isfinite(z_prior), axis=1)].T))
        factor = soft.factor(hess, prior_cov) if soft is not None \
            else laplace_factor(hess, prior_cov)
    except FloatingPointError as err:
        factor = np.diag(np.std(z_prior, axis=0))
        soft = None
        notes.append(f"{err}: chains whitened by the prior's spread instead")
    inits, how = chain_starts(optima, factor, config.num_chains, config.overdispersion, rng)
    inits = np.stack([finite_start(value_and_grad, z_best, factor, u) for u in inits])
    seconds["optimize"] = time.perf_counter() - tic
    return Prepared(prior=prior, prior_predictive=prior_predictive, optima=optima, hessian=hess,
                    factor=factor, inits=inits, key_nuts=key_nuts, chain_starts=how,
                    notes=notes, seconds=seconds, soft=soft, gradients=gradients,
                    coupled=coupled)


#: Largest relative disagreement between the compiled gradient and the potential's central
#: differences, in whitened units, that the sampler accepts (:func:`gradient_mismatch`). A
#: trajectory of length ``l`` gathers an energy error of about ``l`` times it, whatever the step
#: size (``docs/decisions.md`` has the values measured on the bundled example and real curves).
GRADIENT_TOLERANCE = 0.01


def gradient_mismatch(
    value_and_grad: Callable,
    z_best: np.ndarray,
    factor: np.ndarray,
    rng: np.random.Generator,
    draws: int = 4,
    directions: int = 3,
    step: float = 1e-4,
) -> float:
    """Largest disagreement of the gradient with the potential's own slope, in whitened units.

    At ``draws`` points of the Laplace approximation ``z = z_best + factor u`` (``u`` standard
    normal), along ``directions`` random unit directions ``v`` of ``u`` each, the slope
    ``s = (U(z + step factor v) - U(z - step factor v)) / (2 step)`` against the gradient's
    ``grad U . factor v``: ``|grad U . factor v - s| / (1 + |s|)``. On the whitened scale the
    posterior's own slopes are of order one (far steeper where the approximation is poor, and
    the gap is relative there); central differences are exact to ``step**2`` times the third
    derivative. Points where the potential is not finite are skipped; 0.0 when none is.
    """
    worst = 0.0
    dim = factor.shape[1]
    for _ in range(draws):
        z = z_best + factor @ rng.standard_normal(dim)
        value, grad = value_and_grad(z)
        if not np.isfinite(float(value)):
            continue
        slopes = factor.T @ np.asarray(grad)
        for _ in range(directions):
            v = rng.standard_normal(dim)
            v /= np.linalg.norm(v)
            dz = step * (factor @ v)
            up, down = float(value_and_grad(z + dz)[0]), float(value_and_grad(z - dz)[0])
            if np.isfinite(up) and np.isfinite(down):
                slope = (up - down) / (2 * step)
                worst = max(worst, abs(slopes @ v - slope) / (1.0 + abs(slope)))
    return float(worst)


def sample(
    fns: ModelFunctions,
    inputs: dict[str, Any],
    config: SamplerConfig,
    progress: Callable[[int, int], None] | None = None,
    starts: np.ndarray | None = None,
    reported: tuple[str, ...] = (),
    on_prepared: Callable[[Prepared], None] | None = None,
    exact_gradient: Callable[[], ModelFunctions] | None = None,
) -> SamplingResult:
    """Run the whole sampling procedure of the module docstring.

    Parameters
    ----------
    fns : ModelFunctions
        The model's functions (:func:`model_functions`).
    inputs : dict
        The model's inputs (the ``deviation_mask`` among them chooses ``gsf`` or
        ``deviation``).
    config : SamplerConfig
        Sampler settings.
    progress : callable, optional
        Called as ``progress(done, total)`` as the chains iterate.
    starts : np.ndarray, optional
        Starting points of the optimiser (flat unconstrained, one per row), e.g. the optimum
        of a nested model; by default the prior median and prior draws pulled half-way
        towards it.
    reported : tuple of str
        Sites the data are asked about: an unidentified direction that carries a tenth or more
        of one's Laplace variance is sampled, never held (``fix_unidentified``).
    on_prepared : callable, optional
        Called with the :class:`Prepared` state (optima, whitening) before the chains start.
    exact_gradient : callable, optional
        Returns the same model's functions with the exact gradient of the continuum sums
        (``split_gradient``); the chains run on them when :func:`gradient_mismatch` exceeds
        :data:`GRADIENT_TOLERANCE`. Without it the chains run on ``fns`` whatever the check.

    Returns
    -------
    SamplingResult
    """
    compile_ahead(fns, inputs, config)
    prep = prepare(fns, inputs, config, starts=starts, reported=reported)
    # the chains follow the gradient; every value (potential, draws' quantities) is the same
    chain_fns, switched = fns, []
    gap = 0.0
    if exact_gradient is not None:
        compiled = value_and_grad_of(fns)
        # its own generator: the check must not change the chains' starts or keys
        gap = gradient_mismatch(lambda z: compiled(z, inputs), prep.z_best, prep.factor,
                                np.random.default_rng([config.seed, 1]))
    if gap > GRADIENT_TOLERANCE:
        chain_fns = exact_gradient()
        switched.append(
            f"the gradient disagreed with the density's own slope by "
            f"{gap:.2g} (whitened units; tolerance {GRADIENT_TOLERANCE:g}), "
            "the continuum sums' quadrature split points not being differentiated: chains run "
            "on the exact gradient (split points differentiated, about 1.5x the cost per "
            "gradient)"
        )
    if on_prepared is not None:
        on_prepared(prep)
    tic = time.perf_counter()
    constrain = _constrain_program(fns)

    def derived(flat: np.ndarray) -> np.ndarray:
        """Every posterior quantity of the draws, ``(chain, draw, k)``."""
        chains, draws = flat.shape[:2]
        out = constrain(jnp.asarray(flat.reshape(chains * draws, -1)), inputs)
        return np.concatenate([np.asarray(v).reshape(chains, draws, -1) for v in out.values()],
                              axis=-1)

    flat, stats, actions, used = _adaptive_chains(
        chain_fns, inputs, prep.z_best, prep.factor, prep.inits, prep.key_nuts, config, progress,
        derived=derived,
    )
    actions = switched + actions
    seconds = {**prep.seconds, "sampling": time.perf_counter() - tic}
    return assemble(fns, inputs, prep, flat, stats, seconds, actions, used.target_accept_prob)


def compile_ahead(fns: ModelFunctions, inputs: dict[str, Any], config: SamplerConfig
                  ) -> threading.Thread | None:
    """Compile the programs :func:`sample` needs after its prior draws, in a background thread.

    The value and gradient (the optimiser's), the prior's Hessian (the identification step's),
    the map from draws to posterior quantities and the chain programs of ``config``
    (:func:`gsf_infer.inference.chains.chain_program`) are traced under :data:`TRACE_LOCK` and
    compiled outside it (XLA compiles without holding Python's lock), so that with an empty
    compilation cache they compile on a second core while the first draws from the prior and
    searches the optima, instead of one after the other on the way to the chains. All but the
    chain segment are traced here, before the caller goes on to the prior draws (whose own
    compilation holds the lock); the segment in the thread, on the state the init program
    returns, so that the state's placement on the devices is that of the real call. The thread
    is not a daemon: a process that ends (a fit that failed) waits for its compilation, which
    takes seconds, rather than stopping it inside XLA.
    A later call of a program finds it compiled (JAX keeps the executable of the same trace)
    and runs it; the numbers are those of a call that compiled it itself. Once per model and
    sampler settings (the ``deviation`` fit of the same model finds them started); anything
    that fails here fails again, and is reported, where the program is first called.

    Returns
    -------
    threading.Thread or None
        The thread compiling them; None when an earlier call started it, or tracing failed.
    """
    key = ("ahead", config.adapt_mass, config.num_warmup, config.max_tree_depth,
           config.num_chains, config.num_samples, config.adaptive and config.fix_unidentified)
    made: list[bool] = []
    fns.program(key, lambda: made.append(True))  # a marker among the programs: once per key
    if not made:
        return None
    try:
        chains, dim = config.num_chains, fns.dim
        program = chain_program(fns, config)
        z0, factor = jnp.zeros(dim), jnp.eye(dim)
        target = jnp.asarray(float(config.target_accept_prob))
        start = (jnp.zeros((chains, dim)), jnp.zeros(chains), jnp.zeros((chains, dim)),
                 jax.random.split(jax.random.key(0), chains), inputs, z0, factor, target)
        with TRACE_LOCK:
            lowered = [
                value_and_grad_of(fns).fn.lower(np.zeros(dim), inputs),
                program.init.fn.lower(*start),
                _constrain_program(fns).fn.lower(
                    jnp.zeros((chains * config.num_samples, dim)), inputs),
            ]
            if config.adaptive and config.fix_unidentified:
                lowered.append(prior_hessian_program(fns).fn.lower(jnp.zeros(dim), inputs))
    except Exception as err:  # ahead of time only: the first call traces, or fails, itself
        logging.getLogger(__name__).debug("tracing ahead failed: %r", err)
        return None
    thread = threading.Thread(target=_compile, args=(lowered, program, start),
                              name="compile-ahead")
    thread.start()
    return thread


def _compile(lowered: list[Any], program: Any, start: tuple[Any, ...]) -> None:
    """Compile :func:`compile_ahead`'s traced programs, then trace and compile the segment."""
    try:
        for low in lowered:
            low.compile()
        state = program.init(*start)
        with TRACE_LOCK:
            segment = program.segment.fn.lower(state, *start[4:])
        segment.compile()
    except Exception as err:  # ahead of time only: the first call compiles, or fails, itself
        logging.getLogger(__name__).debug("compiling ahead failed: %r", err)


def _constrain_program(fns: ModelFunctions):
    """Compile (once per model) the map from flat draws ``(n, dim)`` to every posterior site."""
    return fns.program("constrain", lambda: jax.jit(jax.vmap(fns.constrain, in_axes=(0, None))))


def assemble(
    fns: ModelFunctions,
    inputs: dict[str, Any],
    prep: Prepared,
    flat: np.ndarray,
    stats: dict[str, np.ndarray],
    seconds: dict[str, float],
    actions: list[str],
    target_accept_prob: float | None,
) -> SamplingResult:
    """Constrain the chains' draws ``(chain, draw, dim)`` and assemble the result."""
    tic = time.perf_counter()
    chains, draws = flat.shape[:2]
    constrain = _constrain_program(fns)
    constrained = constrain(jnp.asarray(flat.reshape(chains * draws, -1)), inputs)
    posterior = {
        k: np.asarray(v).reshape((chains, draws) + v.shape[1:]) for k, v in constrained.items()
    }
    map_values = {
        k: np.asarray(v)[0]
        for k, v in constrain(jnp.asarray(prep.z_best)[None], inputs).items()
    }
    fixed = {}
    if prep.soft is not None:
        fixed = {"directions": prep.soft.directions,
                 "quantities": prep.soft.sensitivity(prep.gradients, prep.hessian)}
    if prep.coupled:
        fixed["coupled"] = prep.coupled
    return SamplingResult(
        posterior=posterior,
        sample_stats=stats,
        prior={k: v[None] for k, v in prep.prior.items()},
        prior_predictive={k: v[None] for k, v in prep.prior_predictive.items()},
        optima=prep.optima,
        map_values=map_values,
        seconds={**seconds, "postprocess": time.perf_counter() - tic},
        chain_starts=prep.chain_starts,
        hessian=prep.hessian,
        notes=list(prep.notes),
        unconstrained=flat,
        actions=actions,
        target_accept_prob=target_accept_prob,
        fixed=fixed,
    )


def _gradients(fns: ModelFunctions, inputs: dict[str, Any], z: np.ndarray) -> dict:
    """Gradient of every scalar site (latent and derived) in the unconstrained coordinates."""
    jacobian = fns.program(
        "constrain_jacobian", lambda: jax.jit(jax.jacfwd(fns.constrain, argnums=0))
    )
    return {k: np.asarray(v) for k, v in jacobian(jnp.asarray(z), inputs).items()
            if np.ndim(v) == 1}


def pointwise(
    fns: ModelFunctions,
    inputs: dict[str, Any],
    posterior: dict[str, np.ndarray],
    rng_key: jax.Array,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Pointwise log-likelihood and posterior predictive draws of the observed sites.

    Where records of a run are correlated (``--discrepancy spectral``) the pointwise values are
    each record's leave-one-out conditional density given the others of its run (what PSIS-LOO
    and LOO-PIT read), not shares of the joint density the sampler uses.

    Returns
    -------
    tuple of dict
        ``(log_likelihood, predictive)``, each ``(chain, draw, n)`` on the likelihood's scale.
    """
    chains, draws = next(iter(posterior.values())).shape[:2]
    latent = {
        k: jnp.asarray(v.reshape((chains * draws,) + v.shape[2:]))
        for k, v in posterior.items()
        if k in fns.supports
    }

    # the tool's models take ``loo`` (leave-one-out values of correlated records)
    loo = {"loo": True} if "loo" in inspect.signature(fns.model).parameters else {}

    def build():
        def both(latent, inputs, key):
            loglik = infer_util.log_likelihood(fns.model, latent, inputs, **loo)
            pred = Predictive(fns.model, posterior_samples=latent,
                              return_sites=list(fns.observed))(key, inputs, predict=True)
            return loglik, pred

        return jax.jit(both)

    loglik, pred = fns.program(("pointwise", chains * draws), build)(latent, inputs, rng_key)

    def shape(v):
        v = np.asarray(v)
        return v.reshape((chains, draws) + v.shape[1:])

    return (
        {k: shape(v) for k, v in loglik.items() if k in fns.observed},
        {k: shape(v) for k, v in pred.items() if k in fns.observed},
    )
