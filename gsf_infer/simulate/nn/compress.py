r"""Compression of a trained network: uniform quantization and magnitude pruning.

Responsible for the two post-training compressions of ``simulate nn`` and for measuring what
they cost. Both act on every weight matrix, one tensor at a time, and leave the biases in full
precision (as post-training quantization and pruning usually do: the biases are a small fraction
of the parameters). The compressions are NumPy (exact, no compilation per sparsity or
precision); the cost is evaluated with the compiled network of
:mod:`gsf_infer.simulate.nn.network`.

Quantization
------------
Each weight matrix ``W`` is rounded to ``2^bits`` levels on a symmetric mid-rise grid spanning
its own largest magnitude (per-tensor absmax calibration):

.. math::

    \Delta = \frac{2 \max|W|}{2^{\mathrm{bits}}}, \qquad
    Q(w) = \Delta \left(\left\lfloor \frac{w}{\Delta} \right\rfloor + \tfrac12\right)
    \text{ clipped to } \pm \left(2^{\mathrm{bits}-1} - \tfrac12\right) \Delta .

The step is exactly proportional to ``2^-bits``; for a step small against the spread of the
weights the rounding error is close to uniform on ``[-Delta/2, Delta/2]``, independent of the
weight, with variance ``Delta^2 / 12 ∝ 4^-bits`` (Bennett 1948; Widrow and Kollár 2008).

Pruning
-------
In each weight matrix the ``round(r n)`` entries of smallest magnitude are set to zero (ties
broken by position): per-tensor magnitude pruning (Han, Mao and Dally 2016).

Measures
--------
``loss``: the test-loss increase ``L(theta') - L(theta)``; ``distance``: the mean squared change
of the outputs on the test set, ``n^-1 sum_i |f(x_i; theta') - f(x_i; theta)|^2``.
"""

from __future__ import annotations

import jax
import numpy as np

from gsf_infer.simulate.nn.network import Params, apply_jit

__all__ = [
    "compression_increase",
    "prune",
    "prune_tensor",
    "quantize",
    "quantize_tensor",
]


def quantize_tensor(w: np.ndarray, bits: int) -> np.ndarray:
    """Round one tensor to ``2^bits`` levels of a mid-rise grid spanning ``+-max|w|``."""
    w = np.asarray(w, dtype=float)
    top = float(np.max(np.abs(w))) if w.size else 0.0
    if top == 0.0:
        return w.copy()
    delta = 2.0 * top / 2.0 ** int(bits)
    half = 2.0 ** (int(bits) - 1) - 0.5
    return np.clip(np.floor(w / delta) + 0.5, -half, half) * delta


def prune_tensor(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Zero the ``round(sparsity * w.size)`` entries of smallest magnitude."""
    w = np.asarray(w, dtype=float)
    count = int(round(float(sparsity) * w.size))
    flat = w.ravel().copy()
    if count > 0:
        order = np.argsort(np.abs(flat), kind="stable")
        flat[order[:count]] = 0.0
    return flat.reshape(w.shape)


def quantize(params: Params, bits: int) -> Params:
    """Quantize every weight matrix per tensor (biases unchanged); see the module notes."""
    return [{"w": quantize_tensor(layer["w"], bits), "b": np.asarray(layer["b"])}
            for layer in params]  # fmt: skip


def prune(params: Params, sparsity: float) -> Params:
    """Magnitude-prune every weight matrix per tensor (biases unchanged)."""
    return [{"w": prune_tensor(layer["w"], sparsity), "b": np.asarray(layer["b"])}
            for layer in params]  # fmt: skip


def compression_increase(
    params: Params,
    compressed: Params,
    x: jax.Array,
    y: jax.Array,
    activation: str,
    measure: str = "loss",
) -> float:
    """Return what a compression costs on ``(x, y)``.

    Parameters
    ----------
    params, compressed : Params
        The trained network and its compressed copy.
    x, y : jax.Array
        Test inputs and one-hot targets.
    activation : str
    measure : str
        ``loss``: ``L(compressed) - L(params)`` (:func:`~gsf_infer.simulate.nn.network.mse`);
        ``distance``: ``mean_i |f(x_i; compressed) - f(x_i; params)|^2``.

    Returns
    -------
    float
        May be negative for ``loss`` (a compression can happen to lower the test loss).
    """
    before = np.asarray(apply_jit(params, x, activation))
    after = np.asarray(apply_jit(compressed, x, activation))
    change = after - before
    if measure == "distance":
        return float(np.mean(np.sum(change**2, axis=1)))
    # (a - y)^2 - (b - y)^2 = (a - b)(a + b - 2y): no cancellation between two close losses
    return float(np.mean(np.sum(change * (after + before - 2.0 * np.asarray(y)), axis=1)))
