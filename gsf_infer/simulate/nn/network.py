r"""The networks of ``simulate nn``: fully connected, NTK parametrization, trained by SGD.

Responsible for initialising a network, evaluating it, its loss, and training it with optax's
SGD to a list of checkpoints. Pure JAX and optax; no I/O, no NumPy randomness (every draw comes
from an explicit ``rng_key``).

Parameters are a list of layers, each a dict with a weight matrix ``"w"`` of shape
``(fan_in, fan_out)`` and a bias ``"b"`` of shape ``(fan_out,)``. The forward map is

.. math::

    h_0 = x, \qquad h_l = \sigma\!\left(\frac{h_{l-1} W_l}{\sqrt{n_{l-1}}} + b_l\right),
    \qquad f(x) = \frac{h_L W_{L+1}}{\sqrt{n_L}} + b_{L+1},

the NTK parametrization of Jacot, Gabriel and Hongler (2018): hidden weights are standard
normal, the read-out weights normal with standard deviation ``readout_scale``, biases start at
zero. With it the empirical NTK has a finite limit as the width grows, so one learning rate
serves every width of the family.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "Params",
    "activation_function",
    "apply",
    "apply_jit",
    "count_params",
    "init_params",
    "layer_sizes",
    "mse",
    "train",
]

#: A network's parameters: one ``{"w": (fan_in, fan_out), "b": (fan_out,)}`` dict per layer.
Params = list[dict[str, jax.Array]]


def activation_function(name: str) -> Callable[[jax.Array], jax.Array]:
    """Return the hidden nonlinearity called ``name`` (``relu`` or ``tanh``)."""
    return {"relu": jax.nn.relu, "tanh": jnp.tanh}[name]


def layer_sizes(n_in: int, width: int, depth: int, n_out: int) -> list[int]:
    """Sizes ``[n_in, width, ..., width, n_out]`` of a network with ``depth`` hidden layers."""
    return [int(n_in)] + [int(width)] * int(depth) + [int(n_out)]


def count_params(n_in: int, width: int, depth: int, n_out: int) -> int:
    """Return the number of weights and biases, ``sum_l (n_{l-1} + 1) n_l``."""
    sizes = layer_sizes(n_in, width, depth, n_out)
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def init_params(
    rng_key: jax.Array, n_in: int, width: int, depth: int, n_out: int, readout_scale: float
) -> Params:
    """Draw the initial parameters (NTK parametrization).

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key.
    n_in, width, depth, n_out : int
        Input size, hidden width, number of hidden layers, number of outputs.
    readout_scale : float
        Standard deviation of the read-out weights (hidden weights: 1).

    Returns
    -------
    Params
    """
    sizes = layer_sizes(n_in, width, depth, n_out)
    keys = jax.random.split(rng_key, len(sizes) - 1)
    params: Params = []
    for i, (key, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        scale = readout_scale if i == len(sizes) - 2 else 1.0
        params.append({"w": scale * jax.random.normal(key, (a, b)), "b": jnp.zeros(b)})
    return params


def apply(params: Params, x: jax.Array, activation: str = "relu") -> jax.Array:
    """Evaluate the network.

    Parameters
    ----------
    params : Params
    x : jax.Array, shape (n, n_in)
    activation : str

    Returns
    -------
    jax.Array, shape (n, n_out)
    """
    sigma = activation_function(activation)
    h = x
    for layer in params[:-1]:
        h = sigma(h @ layer["w"] / jnp.sqrt(h.shape[-1]) + layer["b"])
    last = params[-1]
    return h @ last["w"] / jnp.sqrt(h.shape[-1]) + last["b"]


#: :func:`apply` compiled (``activation`` static): one compilation per network shape.
apply_jit = jax.jit(apply, static_argnames=("activation",))


def mse(outputs: jax.Array, targets: jax.Array) -> jax.Array:
    r"""Return the loss: squared error summed over outputs, averaged over examples.

    .. math:: L = \frac{1}{n} \sum_{i=1}^{n} \sum_{c=1}^{C} (f_c(x_i) - y_{ic})^2
    """
    return jnp.mean(jnp.sum((outputs - targets) ** 2, axis=-1))


def train(
    params: Params,
    x: jax.Array,
    y: jax.Array,
    checkpoints: Sequence[int],
    *,
    lr: float,
    batch: int,
    activation: str,
    rng_key: jax.Array,
) -> Iterator[tuple[int, Params]]:
    """Train by minibatch SGD (``optax.sgd``) and yield the parameters at each checkpoint.

    Each step draws ``batch`` training examples without replacement (all of them, in order,
    when ``batch`` is at least the training set size: full-batch gradient descent) and moves
    the parameters by ``-lr`` times the gradient of :func:`mse` on them.

    Parameters
    ----------
    params : Params
        Initial parameters (not modified).
    x, y : jax.Array
        Training inputs ``(n, n_in)`` and one-hot targets ``(n, n_out)``.
    checkpoints : sequence of int
        Increasing steps ``>= 1`` at which to yield.
    lr : float
    batch : int
    activation : str
    rng_key : jax.Array
        PRNG key of the minibatch draws.

    Yields
    ------
    (int, Params)
        The step and the parameters after it.
    """
    # deferred: imports optax, needed only to train
    import optax

    optimizer = optax.sgd(lr)
    n = x.shape[0]
    full = batch >= n

    def loss(p: Params, xb: jax.Array, yb: jax.Array) -> jax.Array:
        return mse(apply(p, xb, activation), yb)

    def step(_: Any, carry: tuple) -> tuple:
        p, state, key = carry
        key, sub = jax.random.split(key)
        if full:
            xb, yb = x, y
        else:
            idx = jax.random.choice(sub, n, (batch,), replace=False)
            xb, yb = x[idx], y[idx]
        updates, state = optimizer.update(jax.grad(loss)(p, xb, yb), state, p)
        return optax.apply_updates(p, updates), state, key

    @jax.jit
    def advance(carry: tuple, count: jax.Array) -> tuple:
        return jax.lax.fori_loop(0, count, step, carry)

    carry = (params, optimizer.init(params), rng_key)
    done = 0
    for t in checkpoints:
        carry = advance(carry, jnp.asarray(int(t) - done))
        done = int(t)
        yield done, carry[0]
