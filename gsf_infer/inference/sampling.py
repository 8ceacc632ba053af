"""Sampling: multi-start MAP, Laplace, and NUTS from overdispersed starts.

Started from numpyro's default initialisation, NUTS stays stuck on the spectral models (their
scales span many orders of magnitude), so, in order:

1. prior draws (one vectorised :class:`numpyro.infer.Predictive` call; they also become the
   DataTree's ``prior`` group and the reference for prior-to-posterior contraction);
2. several starts — the prior median and prior draws pulled half-way towards it — each
   optimised by L-BFGS-B on the compiled potential and gradient;
3. a Laplace approximation at the best optimum: NUTS runs in the coordinates it whitens;
4. chains started from the Laplace approximation with doubled spread (overdispersed, so that
   R-hat still means something), or from distinct optima of comparable height when the
   optimiser found several (so that a multimodal posterior shows up in R-hat instead of being
   hidden);
5. NUTS (numpyro's kernel) in a compiled program whose arguments are the data and the
   whitening, chains in parallel on the host's devices, iterated in segments so that progress
   can be reported between them.

Everything works on the model's flattened unconstrained vector, and every compiled program
takes the model's inputs as an argument: the ``gsf`` and ``deviation`` fits of one data set
(and any data set of the same shapes) share them, in memory and in JAX's persistent cache.
Imports JAX and numpyro.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer import Predictive
from numpyro.infer import util as infer_util


@dataclass(frozen=True)
class SamplerConfig:
    """Settings of the sampler (numpyro's names).

    Attributes
    ----------
    num_chains, num_warmup, num_samples : int
        Chains, warm-up iterations and kept draws per chain.
    seed : int
        Seed of the PRNG key.
    target_accept_prob : float
        NUTS target acceptance (0.9: the hierarchical amplitudes diverge at numpyro's 0.8).
    max_tree_depth : int
        NUTS tree depth cap.
    num_starts : int
        Starts of the multi-start MAP.
    adam_steps : int
        Adam steps before the BFGS polish.
    prior_draws : int
        Draws from the prior (prior group, contraction, starts).
    overdispersion : float
        Spread of the chains' starting points, in Laplace standard deviations.
    max_iter : int
        L-BFGS iterations per start.
    adaptive : bool
        Act on what the first run shows: divergences rerun the chains once at
        ``retry_target_accept``; otherwise an R-hat in ``(1.01, 1.05]`` or a bulk ESS below
        ``min_ess`` extends the chains (same adaptation) by ``num_samples`` draws at a time,
        up to ``max_draws`` per chain.
    max_draws : int
        Budget of kept draws per chain when extending.
    retry_target_accept : float
        Target acceptance of the rerun after divergences.
    min_ess : float
        Bulk ESS the extension aims at.
    """

    num_chains: int = 4
    num_warmup: int = 1000
    num_samples: int = 1000
    seed: int = 0
    target_accept_prob: float = 0.9
    max_tree_depth: int = 10
    num_starts: int = 8
    adam_steps: int = 300
    prior_draws: int = 1000
    overdispersion: float = 2.0
    max_iter: int = 2000
    adaptive: bool = True
    max_draws: int = 3000
    retry_target_accept: float = 0.97
    min_ess: float = 400.0

    def as_attrs(self) -> dict[str, Any]:
        """As a flat dict (DataTree attributes, summary.json)."""
        return {
            "chains": self.num_chains,
            "warmup": self.num_warmup,
            "draws": self.num_samples,
            "seed": self.seed,
            "target_accept_prob": self.target_accept_prob,
            "max_tree_depth": self.max_tree_depth,
        }


@dataclass
class Optimum:
    """One local optimum of the posterior density (unconstrained coordinates)."""

    z: np.ndarray
    potential: float


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


@dataclass(frozen=True)
class ModelFunctions:
    """A model's potential on a flat unconstrained vector, and the maps around it.

    Every function takes the model's inputs (:class:`gsf_infer.model.build.BuiltModel`) as an
    argument, so that one compiled program serves the ``gsf`` and ``deviation`` fits of a data
    set and every data set of the same shapes.
    """

    model: Callable[..., None]
    unravel: Callable[[jax.Array], dict[str, jax.Array]]
    supports: dict[str, Any]
    observed: tuple[str, ...]
    dim: int
    names: tuple[str, ...]
    programs: dict[Any, Any] = field(default_factory=dict, compare=False, hash=False)

    def potential(self, z: jax.Array, inputs: dict[str, Any]) -> jax.Array:
        """Negative log density of the posterior at the flat unconstrained ``z``."""
        return infer_util.potential_energy(self.model, (inputs,), {}, self.unravel(z))

    def prior_potential(self, z: jax.Array, inputs: dict[str, Any]) -> jax.Array:
        """Negative log density of the prior alone (with the transforms' Jacobians)."""
        return infer_util.potential_energy(
            self.model, (inputs,), {"likelihood": False}, self.unravel(z)
        )

    def constrain(self, flat: jax.Array, inputs: dict[str, Any]) -> dict[str, jax.Array]:
        """Constrained latent values and deterministic sites of one flat vector."""
        return infer_util.constrain_fn(
            self.model, (inputs,), {}, self.unravel(flat), return_deterministic=True
        )

    def unconstrain(self, values: dict[str, jax.Array]) -> jax.Array:
        """Flat unconstrained vector of constrained latent values."""
        z = {name: biject_to(sup).inv(values[name]) for name, sup in self.supports.items()}
        return ravel_pytree(z)[0]

    def program(self, key: Any, build: Callable[[], Any]) -> Any:
        """A compiled program of this model, built once per ``key`` and kept."""
        if key not in self.programs:
            self.programs[key] = build()
        return self.programs[key]


def model_functions(built) -> ModelFunctions:
    """Inspect a model's sites abstractly (no compilation) and build its potential.

    Parameters
    ----------
    built : BuiltModel
        The model and its inputs (:func:`gsf_infer.model.build.build_model`).
    """
    latent: dict[str, Any] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    observed: list[str] = []

    def trace(key: jax.Array) -> jax.Array:
        tr = handlers.trace(handlers.seed(built.fn, key)).get_trace(built.inputs)
        for name, site in tr.items():
            if site["type"] != "sample":
                continue
            if site["is_observed"]:
                observed.append(name)
            else:
                # the supports depend on constants only: evaluate them now, not as tracers
                with jax.ensure_compile_time_eval():
                    latent[name] = site["fn"].support
                shapes[name] = tuple(jnp.shape(site["value"]))
        return jnp.zeros(())

    jax.make_jaxpr(trace)(jax.random.key(0))
    template = {
        name: jnp.zeros(biject_to(sup).inverse_shape(shapes[name])) for name, sup in latent.items()
    }
    flat, unravel = ravel_pytree(template)
    names: list[str] = []
    for name in sorted(template):  # ravel_pytree's order: dict keys sorted
        size = int(np.prod(template[name].shape))
        names += [name] if not template[name].shape else [f"{name}[{i}]" for i in range(size)]
    return ModelFunctions(
        model=built.fn,
        unravel=unravel,
        supports=latent,
        observed=tuple(observed),
        dim=int(flat.shape[0]),
        names=tuple(names),
    )


def draw_prior(
    fns: ModelFunctions, inputs: dict[str, Any], rng_key: jax.Array, num_draws: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Prior draws of latent + deterministic sites, and prior predictive of observed sites."""

    def build():
        def draw(key, inputs):
            return Predictive(fns.model, num_samples=num_draws)(key, inputs, predict=True)

        return jax.jit(draw)

    draws = fns.program(("prior", num_draws), build)(rng_key, inputs)
    draws = {k: np.asarray(v) for k, v in draws.items()}
    predictive = {k: draws.pop(k) for k in fns.observed if k in draws}
    return draws, predictive


def value_and_grad_of(fns: ModelFunctions) -> Callable:
    """The compiled ``(z, inputs) -> (potential, gradient)`` of a model."""
    return fns.program("value_and_grad", lambda: jax.jit(jax.value_and_grad(fns.potential)))


def find_optima(
    value_and_grad: Callable[[jax.Array], tuple[jax.Array, jax.Array]],
    starts: np.ndarray,
    max_iter: int = 2000,
) -> list[Optimum]:
    """Minimise the potential from every start with L-BFGS-B; distinct optima, best first.

    ``value_and_grad`` is compiled once and driven from SciPy (compiling an optimiser around
    the model costs more than the optimisation). A point where the potential or its gradient
    is not finite is returned to the optimiser as an infinite value, so it backtracks; starts
    that never reach a finite value are dropped.
    """
    from scipy.optimize import minimize

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = value_and_grad(jnp.asarray(z))
        value, grad = float(value), np.asarray(grad, dtype=float)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(z)
        return value, grad

    found: list[Optimum] = []
    for z0 in starts:
        if not np.isfinite(fun(np.asarray(z0, dtype=float))[0]):
            continue
        res = minimize(fun, np.asarray(z0, dtype=float), jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter, "maxcor": 20})
        if np.isfinite(res.fun):
            found.append(Optimum(z=np.asarray(res.x), potential=float(res.fun)))
    found.sort(key=lambda o: o.potential)
    optima: list[Optimum] = []
    for o in found:
        if not any(np.max(np.abs(o.z - p.z)) < 0.05 for p in optima):
            optima.append(o)
    return optima


def hessian(
    value_and_grad: Callable[[jax.Array], tuple[jax.Array, jax.Array]], z: np.ndarray
) -> np.ndarray:
    """Hessian of the potential at ``z`` by central differences of the compiled gradient."""
    d = z.shape[0]
    hess = np.empty((d, d))
    for j in range(d):
        h = 1e-5 * max(1.0, abs(z[j]))
        up, down = z.copy(), z.copy()
        up[j] += h
        down[j] -= h
        hess[:, j] = (np.asarray(value_and_grad(jnp.asarray(up))[1])
                      - np.asarray(value_and_grad(jnp.asarray(down))[1])) / (2 * h)
    return 0.5 * (hess + hess.T)


def laplace_factor(hess: np.ndarray) -> np.ndarray:
    """Cholesky factor ``L`` of the inverse of a Hessian, eigenvalues floored.

    Raises
    ------
    FloatingPointError
        If the Hessian has a non-finite entry (the optimum lies where the density is not
        smooth); the caller decides what to do instead.
    """
    if not np.all(np.isfinite(hess)):
        raise FloatingPointError("the Hessian at the optimum is not finite")
    vals, vecs = np.linalg.eigh(hess)
    vals = np.clip(vals, 1e-8 * max(vals.max(), 1.0), None)
    cov = (vecs / vals) @ vecs.T
    return np.linalg.cholesky(0.5 * (cov + cov.T))


def chain_starts(
    optima: list[Optimum],
    factor: np.ndarray,
    num_chains: int,
    overdispersion: float,
    rng: np.random.Generator,
    comparable: float = 3.0,
) -> tuple[np.ndarray, str]:
    """Starting points in whitened coordinates ``u`` (``z = z_best + L u``).

    Around the best optimum with ``overdispersion`` times the Laplace spread, or, when other
    optima lie within ``comparable`` nats of the best, spread round-robin over them.
    """
    best = optima[0]
    modes = [o for o in optima if o.potential - best.potential < comparable]
    centres = [np.linalg.solve(factor, o.z - best.z) for o in modes]
    d = factor.shape[0]
    starts = [centres[c % len(centres)] + overdispersion * rng.standard_normal(d)
              for c in range(num_chains)]
    how = (
        f"{len(modes)} optima of comparable density (within {comparable:g} nats)"
        if len(modes) > 1
        else "one optimum"
    )
    return np.stack(starts), (
        f"{how}; starts drawn from the Laplace approximation with x{overdispersion:g} spread"
    )


def finite_start(
    value_and_grad: Callable, z_best: np.ndarray, factor: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """``u`` halved towards the optimum until the potential and its gradient are finite.

    An overdispersed start can land where the model's expected values overflow (prior draws
    with modes learned to ``logit(phi) ~ 2000``, for example); NUTS cannot start there.
    """
    for _ in range(30):
        value, grad = value_and_grad(z_best + factor @ u)
        if np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad))):
            return u
        u = 0.5 * u
    return u


#: Iterations per call of the compiled chain program (progress is reported between calls).
SEGMENT = 100


@dataclass
class ChainProgram:
    """NUTS chains as two compiled programs, the data and the whitening as arguments.

    ``init(u0, keys, inputs, z0, factor)`` starts the chains; ``segment(state, inputs, z0,
    factor)`` advances them by :data:`SEGMENT` iterations and returns the draws' statistics.
    Warm-up (step size and dense mass matrix adaptation) happens inside the first
    ``num_warmup`` iterations of the same program. Chains run one per device
    (:func:`jax.pmap`) when the host has as many devices, else vectorised.
    """

    init: Callable
    segment: Callable

    @classmethod
    def build(cls, fns: ModelFunctions, config: SamplerConfig) -> ChainProgram:
        from numpyro.infer.hmc import hmc

        def potential_gen(inputs, z0, factor):
            return lambda u: fns.potential(z0 + factor @ u, inputs)

        init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")

        def init_one(u0, key, inputs, z0, factor):
            return init_kernel(
                u0, config.num_warmup, dense_mass=True,
                target_accept_prob=config.target_accept_prob,
                max_tree_depth=config.max_tree_depth,
                model_args=(inputs, z0, factor), rng_key=key,
            )

        def segment_one(state, inputs, z0, factor):
            def body(state, _):
                state = sample_kernel(state, model_args=(inputs, z0, factor))
                stats = (state.diverging, state.energy, state.num_steps, state.accept_prob,
                         state.adapt_state.step_size, state.potential_energy)
                return state, (state.z, stats)

            return jax.lax.scan(body, state, None, length=SEGMENT)

        if jax.local_device_count() >= config.num_chains:
            return cls(
                init=jax.pmap(init_one, in_axes=(0, 0, None, None, None)),
                segment=jax.pmap(segment_one, in_axes=(0, None, None, None)),
            )
        return cls(
            init=jax.jit(jax.vmap(init_one, in_axes=(0, 0, None, None, None))),
            segment=jax.jit(jax.vmap(segment_one, in_axes=(0, None, None, None))),
        )


#: The sampler statistics recorded per draw, under ArviZ's names, in ChainProgram's order.
STAT_NAMES = ("diverging", "energy", "n_steps", "acceptance_rate", "step_size", "lp")


class Chains:
    """NUTS chains in whitened coordinates that can be advanced, then extended.

    Iterations run in segments of :data:`SEGMENT` through one compiled program
    (:class:`ChainProgram`); the first ``num_warmup`` adapt the step size and the mass
    matrix, later ones are draws. :meth:`advance` returns to Python between segments (for
    progress) and can be called again to extend the chains with the same adaptation.
    """

    def __init__(
        self,
        fns: ModelFunctions,
        inputs: dict[str, Any],
        z0: np.ndarray,
        factor: np.ndarray,
        inits: np.ndarray,
        rng_key: jax.Array,
        config: SamplerConfig,
    ):
        key = ("chains", config.num_warmup, config.target_accept_prob, config.max_tree_depth,
               config.num_chains)
        self.program = fns.program(key, lambda: ChainProgram.build(fns, config))
        self.inputs, self.config = inputs, config
        self.z0, self.factor = np.asarray(z0), np.asarray(factor)
        self._z0, self._factor = jnp.asarray(z0), jnp.asarray(factor)
        keys = jax.random.split(rng_key, config.num_chains)
        self.state = self.program.init(jnp.asarray(inits), keys, inputs, self._z0, self._factor)
        self.done = 0
        self._u: list[np.ndarray] = []
        self._stats: list[list[np.ndarray]] = []

    def advance(self, iterations: int, progress: Callable[[int, int], None] | None = None):
        """Run at least ``iterations`` more iterations (whole segments)."""
        target = self.done + iterations
        start = self.done
        while self.done < target:
            self.state, (u, st) = self.program.segment(
                self.state, self.inputs, self._z0, self._factor
            )
            self._u.append(np.asarray(u))
            self._stats.append([np.asarray(v) for v in st])
            self.done += SEGMENT
            if progress is not None:
                progress(min(self.done - start, iterations), iterations)

    def draws(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Flat unconstrained draws ``(chain, draw, dim)`` after warm-up, and statistics."""
        warm = self.config.num_warmup
        u = np.concatenate(self._u, axis=1)[:, warm:]
        flat = self.z0[None, None, :] + u @ self.factor.T
        out = {
            name: np.concatenate([s[j] for s in self._stats], axis=1)[:, warm:]
            for j, name in enumerate(STAT_NAMES)
        }
        out["lp"] = -out["lp"]
        return flat, out


def max_r_hat(flat: np.ndarray) -> float:
    """Largest rank-normalised split R-hat over the coordinates of ``(chain, draw, dim)``."""
    from arviz_stats.base import array_stats

    if flat.shape[0] < 2:
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.asarray(
            array_stats.rhat(flat, chain_axis=0, draw_axis=1), dtype=float
        )
    return float(np.max(np.where(np.isnan(values), np.inf, values)))


def min_ess(flat: np.ndarray) -> float:
    """Smallest bulk ESS over the coordinates of ``(chain, draw, dim)``."""
    from arviz_stats.base import array_stats

    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.asarray(array_stats.ess(flat, chain_axis=0, draw_axis=1), dtype=float)
    return float(np.nanmin(values)) if values.size else float("nan")


def _adaptive_chains(fns, inputs, z_best, factor, inits, rng_key, config, progress):
    """Chains run, and rerun or extended as :class:`SamplerConfig` ``adaptive`` says."""
    from dataclasses import replace

    total = config.num_warmup + config.num_samples
    chains = Chains(fns, inputs, z_best, factor, inits, rng_key, config)
    chains.advance(total, progress)
    flat, stats = chains.draws()
    actions: list[str] = []
    if not config.adaptive:
        return flat, stats, actions, config
    divergences = int(np.asarray(stats["diverging"]).sum())
    if divergences and config.target_accept_prob < config.retry_target_accept:
        retry = replace(config, target_accept_prob=config.retry_target_accept)
        actions.append(
            f"{divergences} divergent transitions at target acceptance "
            f"{config.target_accept_prob:g}: chains rerun at {retry.target_accept_prob:g}"
        )
        chains = Chains(fns, inputs, z_best, factor, inits, rng_key, retry)
        chains.advance(total, progress)
        flat, stats = chains.draws()
        divergences = int(np.asarray(stats["diverging"]).sum())
        config = retry
    while divergences == 0 and flat.shape[1] < config.max_draws:
        r_hat, ess = max_r_hat(flat), min_ess(flat)
        if not ((1.01 < r_hat <= 1.05) or (r_hat <= 1.01 and ess < config.min_ess)):
            break
        more = min(config.num_samples, config.max_draws - flat.shape[1])
        chains.advance(more, progress)
        flat, stats = chains.draws()
        divergences = int(np.asarray(stats["diverging"]).sum())
        actions.append(
            f"R-hat {r_hat:.3f}, bulk ESS {ess:.0f}: chains extended by {more} draws to "
            f"{flat.shape[1]} per chain"
        )
    return flat, stats, actions, config


def sample(
    fns: ModelFunctions,
    inputs: dict[str, Any],
    config: SamplerConfig,
    progress: Callable[[int, int], None] | None = None,
    starts: np.ndarray | None = None,
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

    Returns
    -------
    SamplingResult
    """
    seconds: dict[str, float] = {}
    notes: list[str] = []
    key = jax.random.key(config.seed)
    key_prior, key_nuts = jax.random.split(key)
    rng = np.random.default_rng(config.seed)
    tic = time.perf_counter()
    prior, prior_predictive = draw_prior(fns, inputs, key_prior, config.prior_draws)
    seconds["prior"] = time.perf_counter() - tic

    tic = time.perf_counter()
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
    optima = find_optima(value_and_grad, np.atleast_2d(starts), max_iter=config.max_iter)
    if not optima:
        raise FloatingPointError(
            "the posterior density is not finite at any starting point (prior median and "
            f"{n_random} prior draws): the model cannot be evaluated on these data"
        )
    z_best = optima[0].z
    hess = hessian(value_and_grad, z_best)
    try:
        factor = laplace_factor(hess)
    except FloatingPointError as err:
        factor = np.diag(np.std(z_prior, axis=0))
        notes.append(f"{err}: chains whitened by the prior's spread instead")
    inits, how = chain_starts(optima, factor, config.num_chains, config.overdispersion, rng)
    inits = np.stack([finite_start(value_and_grad, z_best, factor, u) for u in inits])
    seconds["optimize"] = time.perf_counter() - tic

    tic = time.perf_counter()
    flat, stats, actions, used = _adaptive_chains(
        fns, inputs, z_best, factor, inits, key_nuts, config, progress
    )
    seconds["sampling"] = time.perf_counter() - tic

    tic = time.perf_counter()
    chains, draws = flat.shape[:2]
    constrain = fns.program(
        "constrain", lambda: jax.jit(jax.vmap(fns.constrain, in_axes=(0, None)))
    )
    constrained = constrain(jnp.asarray(flat.reshape(chains * draws, -1)), inputs)
    posterior = {
        k: np.asarray(v).reshape((chains, draws) + v.shape[1:]) for k, v in constrained.items()
    }
    map_values = {
        k: np.asarray(v)[0] for k, v in constrain(jnp.asarray(z_best)[None], inputs).items()
    }
    seconds["postprocess"] = time.perf_counter() - tic
    return SamplingResult(
        posterior=posterior,
        sample_stats=stats,
        prior={k: v[None] for k, v in prior.items()},
        prior_predictive={k: v[None] for k, v in prior_predictive.items()},
        optima=optima,
        map_values=map_values,
        seconds=seconds,
        chain_starts=how,
        hessian=hess,
        notes=notes,
        unconstrained=flat,
        actions=actions,
        target_accept_prob=used.target_accept_prob,
    )


def pointwise(
    fns: ModelFunctions,
    inputs: dict[str, Any],
    posterior: dict[str, np.ndarray],
    rng_key: jax.Array,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Pointwise log-likelihood and posterior predictive draws of the observed sites.

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

    def build():
        def both(latent, inputs, key):
            loglik = infer_util.log_likelihood(fns.model, latent, inputs)
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


def curvature_shares(
    fns: ModelFunctions, inputs: dict[str, Any], z: np.ndarray, hess: np.ndarray
) -> list[dict[str, Any]]:
    """How much of the curvature along each principal direction at ``z`` the data give.

    The potential's Hessian ``H`` splits into the prior's ``H_p`` (computed exactly) and the
    likelihood's ``H - H_p``. For each eigenvector ``v`` of ``H`` the likelihood's share of
    the curvature is ``v' (H - H_p) v / v' H v``: near 1 the data pin that direction, near 0
    only the prior does.

    Returns
    -------
    list of dict
        One entry per direction, softest first: ``curvature``, ``likelihood_share`` and
        ``loadings`` (the coordinates with the largest weights, as ``(name, weight)``).
    """
    prior_hessian = fns.program(
        "prior_hessian", lambda: jax.jit(jax.hessian(fns.prior_potential))
    )
    h_prior = np.asarray(prior_hessian(jnp.asarray(z), inputs))
    if not (np.all(np.isfinite(hess)) and np.all(np.isfinite(h_prior))):
        return []
    vals, vecs = np.linalg.eigh(hess)
    out = []
    for j in np.argsort(vals):
        v = vecs[:, j]
        total = float(v @ hess @ v)
        share = float(v @ (hess - h_prior) @ v) / total if total > 0 else 0.0
        order = np.argsort(-np.abs(v))
        loadings = [(fns.names[i], float(v[i])) for i in order[:3] if abs(v[i]) >= 0.2]
        out.append({"curvature": total, "likelihood_share": share, "loadings": loadings})
    return out
