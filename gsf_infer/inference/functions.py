"""A model as functions of its flattened unconstrained vector.

The functions are the potential (negative log density), its gradient, the prior-only potential,
the map to constrained values, and prior draws.

Every compiled program takes the model's inputs as an argument, so models of equal shapes share
them (:class:`ModelFunctions` keeps a cache of the programs built for one model).

Threads may run a model's programs at once (the ``gsf`` and ``deviation`` fits of one data set,
simulation-based calibration's data sets), but not trace them at once: numpyro's effect handlers
live on one stack per process (``numpyro.primitives._PYRO_STACK``), so two threads tracing a
model together would mix their sites. Every call of a program is therefore made under
:data:`TRACE_LOCK`; a call only traces, compiles and dispatches under it (a compiled program runs
asynchronously, after the lock is released), so threads still compute in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer import Predictive
from numpyro.infer import util as infer_util

#: Held while a program may be traced (module docstring). Re-entrant: a program may call another.
TRACE_LOCK = threading.RLock()


class Serialized:
    """A compiled program whose calls (trace, compilation and dispatch) hold :data:`TRACE_LOCK`.

    Attributes other than the call are the program's own (``lower``, ``trace`` ...).
    """

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        """Call the program under :data:`TRACE_LOCK`."""
        with TRACE_LOCK:
            return self.fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fn, name)


def serialized(program: Any) -> Any:
    """Wrap a program (a callable, or a dataclass of callables) in :class:`Serialized`."""
    if is_dataclass(program) and not isinstance(program, type):
        return replace(program, **{f.name: serialized(getattr(program, f.name))
                                   for f in fields(program)})
    return Serialized(program) if callable(program) else program


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
        """Return a compiled program of this model, built once per ``key`` and kept.

        Its calls hold :data:`TRACE_LOCK` while they trace, compile and dispatch
        (:func:`serialized`).
        """
        with TRACE_LOCK:
            if key not in self.programs:
                self.programs[key] = serialized(build())
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
    """Return the compiled ``(z, inputs) -> (potential, gradient)`` of a model."""
    return fns.program("value_and_grad", lambda: jax.jit(jax.value_and_grad(fns.potential)))
