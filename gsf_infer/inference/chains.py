"""NUTS chains in one compiled program, run in segments, and their adaptive use.

:class:`ChainProgram` wraps numpyro's ``hmc`` kernel on a potential in whitened coordinates,
chains in parallel on the host's devices; :class:`Chains` advances them segment by segment (so
progress can be reported) and extends them from where they stopped. :func:`_adaptive_chains`
reruns once at a higher target acceptance after divergences and extends chains whose R-hat or
bulk ESS falls short, up to a budget of draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from arviz_stats.base import array_stats
from numpyro.infer.hmc import hmc
from numpyro.infer.util import ParamInfo

from gsf_infer.inference.config import SamplerConfig
from gsf_infer.inference.functions import ModelFunctions, value_and_grad_of

#: Iterations per call of the compiled chain program (progress is reported between calls).
SEGMENT = 100


@dataclass
class ChainProgram:
    """NUTS chains as two compiled programs, the data, the whitening and the target as arguments.

    ``init(u0, potential, gradient, keys, inputs, z0, factor, target)`` starts the chains at
    whitened points ``u0`` whose potential and gradient are given (so the program does not hold
    the model and compiles in a fraction of the time); ``segment(state, inputs, z0, factor,
    target)`` advances them by :data:`SEGMENT` iterations and returns the draws'
    statistics. Warm-up (step size, and with ``adapt_mass`` a dense mass matrix) happens inside
    the first ``num_warmup`` iterations of the same program. The target acceptance probability
    of the step-size adaptation is an argument, not a constant of the program, so that runs at
    different targets (the ``gsf`` and ``deviation`` fits, reruns at higher targets) share one
    compiled program. Chains run one per device (:func:`jax.pmap`) when the host has as many
    devices, else vectorised.
    """

    init: Callable
    segment: Callable

    @classmethod
    def build(cls, fns: ModelFunctions, config: SamplerConfig) -> ChainProgram:
        """Compile the chain programs of a model under ``config``'s sampler settings.

        Every setting but ``target_accept_prob`` is fixed in the programs.
        """

        def potential_gen(inputs, z0, factor):
            return lambda u: fns.potential(z0 + factor @ u, inputs)

        def kernels(init_params, key, inputs, z0, factor, target):
            # numpyro's sample kernel reads its warm-up adapter (which holds the target) from
            # the closure its init kernel sets; a segment therefore calls the init kernel on
            # its own state, whose potential and gradient are given (nothing is evaluated, and
            # what the call computes besides the closure is unused and compiled away)
            init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")
            state = init_kernel(
                init_params, config.num_warmup, dense_mass=config.adapt_mass,
                adapt_mass_matrix=config.adapt_mass, target_accept_prob=target,
                max_tree_depth=config.max_tree_depth,
                model_args=(inputs, z0, factor), rng_key=key,
            )
            return state, sample_kernel

        def init_one(u0, potential, gradient, key, inputs, z0, factor, target):
            info = ParamInfo(u0, potential, gradient)
            return kernels(info, key, inputs, z0, factor, target)[0]

        def segment_one(state, inputs, z0, factor, target):
            info = ParamInfo(state.z, state.potential_energy, state.z_grad)
            _, sample_kernel = kernels(info, state.rng_key, inputs, z0, factor, target)

            def body(state, _):
                state = sample_kernel(state, model_args=(inputs, z0, factor))
                stats = (state.diverging, state.energy, state.num_steps, state.accept_prob,
                         state.adapt_state.step_size, state.potential_energy)
                return state, (state.z, stats)

            return jax.lax.scan(body, state, None, length=SEGMENT)

        if jax.local_device_count() >= config.num_chains:
            return cls(
                init=jax.pmap(init_one, in_axes=(0, 0, 0, 0, None, None, None, None)),
                segment=jax.pmap(segment_one, in_axes=(0, None, None, None, None)),
            )
        return cls(
            init=jax.jit(jax.vmap(init_one, in_axes=(0, 0, 0, 0, None, None, None, None))),
            segment=jax.jit(jax.vmap(segment_one, in_axes=(0, None, None, None, None))),
        )


def chain_program(fns: ModelFunctions, config: SamplerConfig) -> ChainProgram:
    """Return the model's chain program for ``config``'s settings (built once, then kept)."""
    key = ("chains", config.adapt_mass, config.num_warmup, config.max_tree_depth,
           config.num_chains)
    return fns.program(key, lambda: ChainProgram.build(fns, config))


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
        self.program = chain_program(fns, config)
        self.inputs, self.config = inputs, config
        self.z0, self.factor = np.asarray(z0), np.asarray(factor)
        self._z0, self._factor = jnp.asarray(z0), jnp.asarray(factor)
        self._target = jnp.asarray(float(config.target_accept_prob))
        keys = jax.random.split(rng_key, config.num_chains)
        # the potential in whitened coordinates, u -> U(z0 + factor u), and its gradient
        # factor^T grad U, at the starts, by the model's compiled value and gradient
        value_and_grad = value_and_grad_of(fns)
        inits = np.asarray(inits, dtype=float)
        starts = [value_and_grad(jnp.asarray(self.z0 + self.factor @ u), inputs) for u in inits]
        potential = np.array([float(v) for v, _ in starts])
        gradient = np.stack([self.factor.T @ np.asarray(g) for _, g in starts])
        self.state = self.program.init(jnp.asarray(inits), jnp.asarray(potential),
                                       jnp.asarray(gradient), keys, inputs, self._z0,
                                       self._factor, self._target)
        self.done = 0
        self._u: list[np.ndarray] = []
        self._stats: list[list[np.ndarray]] = []

    def advance(self, iterations: int, progress: Callable[[int, int], None] | None = None):
        """Run at least ``iterations`` more iterations (whole segments)."""
        target = self.done + iterations
        start = self.done
        while self.done < target:
            self.state, (u, st) = self.program.segment(
                self.state, self.inputs, self._z0, self._factor, self._target
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


#: Relative spread over the draws below which a quantity counts as constant: one held at the
#: optimum varies only by rounding (its draws are ``z0 + L u`` with ``L`` zero along it).
CONSTANT_SPREAD = 1e-10


def constant_over_draws(values: np.ndarray) -> np.ndarray:
    """Whether each element of ``(chain, draw, ...)`` draws is constant up to rounding.

    Such an element has no R-hat, ESS or density: computed on rounding noise they are
    arbitrary (or, for a density, fail).
    """
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        spread = np.ptp(values, axis=(0, 1))
        scale = np.maximum(np.max(np.abs(values), axis=(0, 1)), 1.0)
        return ~(spread > CONSTANT_SPREAD * scale)


def _varying(flat: np.ndarray) -> np.ndarray:
    """Keep the coordinates of ``(chain, draw, dim)`` that vary (a held one has no R-hat)."""
    return flat[..., ~constant_over_draws(flat)]


def max_r_hat(flat: np.ndarray) -> float:
    """Largest rank-normalised split R-hat over the coordinates of ``(chain, draw, dim)``.

    Coordinates constant over every chain and draw (held at the optimum) are left out.
    """
    flat = _varying(flat)
    if flat.shape[0] < 2:
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.asarray(
            array_stats.rhat(flat, chain_axis=0, draw_axis=1), dtype=float
        )
    return float(np.max(np.where(np.isnan(values), np.inf, values)))


def min_ess(flat: np.ndarray) -> float:
    """Smallest bulk ESS over the varying coordinates of ``(chain, draw, dim)``."""
    flat = _varying(flat)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.asarray(array_stats.ess(flat, chain_axis=0, draw_axis=1), dtype=float)
    return float(np.nanmin(values)) if values.size else float("nan")


#: Divergent transitions, as a share of the draws, that the Laplace metric keeps (the chains
#: are rerun on it at a higher target acceptance) instead of a dense adaptation.
FEW_DIVERGENCES = 0.001

#: Warm-up iterations when a rerun adapts the mass matrix (numpyro's windows need several
#: hundred draws to estimate a dense matrix).
ADAPT_WARMUP = 1000


def _state(divergences: int, r_hat: float, ess: float) -> str:
    """Say what the chains showed, in words."""
    if divergences:
        return f"{divergences} divergent transitions"
    return f"R-hat {r_hat:.3f}, bulk ESS {ess:.0f}"


def _rerun(fns, inputs, z_best, factor, inits, rng_key, config, progress):
    """Run fresh chains under ``config``: the chains, their draws, statistics and divergences."""
    chains = Chains(fns, inputs, z_best, factor, inits, rng_key, config)
    chains.advance(config.num_warmup + config.num_samples, progress)
    flat, stats = chains.draws()
    return chains, flat, stats, int(np.asarray(stats["diverging"]).sum())


def _mixing(flat: np.ndarray, derived) -> tuple[float, float]:
    """Largest R-hat and smallest bulk ESS of the chains.

    Over the coordinates and what ``derived`` makes of them (``(chain, draw, k)``: the
    posterior's quantities, which the convergence verdict reads).
    """
    if derived is not None:
        flat = np.concatenate([flat, derived(flat)], axis=-1)
    return max_r_hat(flat), min_ess(flat)


def _next_rung(config, divergences: int, r_hat: float, ess: float, poor_ess: float,
               transitions: int = 0):
    """Choose the next, more careful sampler settings after chains that failed (or None).

    The ladder: the Laplace approximation as metric, then a dense mass matrix adapted over
    :data:`ADAPT_WARMUP` warm-up iterations (for divergences, R-hat above 1.05 or a bulk ESS
    under ``poor_ess``), then target acceptance ``retry_target_accept`` and
    ``final_target_accept`` (for divergences). Chains on the Laplace metric that otherwise mix
    well and diverge rarely (at most :data:`FEW_DIVERGENCES` of their ``transitions``) first
    take the next target acceptance on the same metric: a few divergent transitions say the
    steps are too long somewhere, not that the metric is wrong, and the dense adaptation's
    long warm-up costs several times more. Returns ``(config, action)``.
    """
    target = _higher_target(config)
    few = 0 < divergences <= max(1.0, FEW_DIVERGENCES * transitions)
    if not config.adapt_mass and few and r_hat <= 1.05 and ess >= poor_ess and target:
        return replace(config, target_accept_prob=target), (
            f"{divergences} divergent transitions with the Laplace approximation as metric at "
            f"target acceptance {config.target_accept_prob:g}: chains rerun at {target:g} on "
            "the same metric"
        )
    if not config.adapt_mass and (divergences or r_hat > 1.05 or ess < poor_ess):
        # the Laplace approximation is a poor metric here (a curved or skewed posterior):
        # learn one from the chains instead, over a warm-up long enough to estimate it
        retry = replace(config, adapt_mass=True, num_warmup=max(config.num_warmup, ADAPT_WARMUP))
        return retry, (
            f"{_state(divergences, r_hat, ess)} with the Laplace approximation as metric: chains "
            f"rerun adapting a dense mass matrix over {retry.num_warmup} warm-up iterations"
        )
    if divergences and target:
        return replace(config, target_accept_prob=target), (
            f"{divergences} divergent transitions at target acceptance "
            f"{config.target_accept_prob:g}: chains rerun at {target:g}"
        )
    return None


def _higher_target(config) -> float | None:
    """Return the ladder's next target acceptance above ``config``'s (retry, then final)."""
    for target in (config.retry_target_accept, config.final_target_accept):
        if config.target_accept_prob < target:
            return target
    return None


def _adaptive_chains(fns, inputs, z_best, factor, inits, rng_key, config, progress,
                     derived=None):
    """Chains run, and rerun or extended as :class:`SamplerConfig` ``adaptive`` says.

    Chains that diverge, disagree (R-hat above 1.05) or mix badly (bulk ESS under half of
    ``min_ess``, or under 5% of the draws when there are fewer than ``10 min_ess``) are rerun
    one rung up :func:`_next_rung`'s ladder, until they do not or the ladder ends; chains
    without divergences whose R-hat is in ``(1.01, 1.05]`` or whose bulk ESS is under
    ``min_ess`` are extended (divergences in the extension send them up the ladder too).
    R-hat and ESS are read over the coordinates and, given ``derived`` (draws
    ``(chain, draw, dim)`` to ``(chain, draw, k)``), over the quantities it derives from
    them: a ratio of two sampled sites can mix worse than either.
    """
    total = config.num_warmup + config.num_samples
    chains = Chains(fns, inputs, z_best, factor, inits, rng_key, config)
    chains.advance(total, progress)
    flat, stats = chains.draws()
    actions: list[str] = []
    if not config.adaptive:
        return flat, stats, actions, config
    # mixing badly: a bulk ESS under half the target, or under 5% of the draws when there are
    # too few draws for the target (short chains asked for are not rerun for their length)
    poor_ess = 0.5 * min(config.min_ess, 0.1 * flat.shape[0] * flat.shape[1])
    while True:
        divergences = int(np.asarray(stats["diverging"]).sum())
        r_hat, ess = _mixing(flat, derived)
        rung = _next_rung(config, divergences, r_hat, ess, poor_ess,
                          transitions=flat.shape[0] * flat.shape[1])
        if rung is not None:
            config, action = rung
            actions.append(action)
            chains, flat, stats, _ = _rerun(fns, inputs, z_best, factor, inits, rng_key,
                                            config, progress)
            continue
        extend = (1.01 < r_hat <= 1.05) or (r_hat <= 1.01 and ess < config.min_ess)
        if divergences or not extend or flat.shape[1] >= config.max_draws:
            return flat, stats, actions, config
        more = min(config.num_samples, config.max_draws - flat.shape[1])
        chains.advance(more, progress)
        flat, stats = chains.draws()
        actions.append(
            f"R-hat {r_hat:.3f}, bulk ESS {ess:.0f}: chains extended by {more} draws to "
            f"{flat.shape[1]} per chain"
        )
