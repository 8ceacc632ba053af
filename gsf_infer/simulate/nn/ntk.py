r"""The empirical neural tangent kernel of a network and the modes it defines.

Responsible for the NTK Gram matrix on a set of inputs, its eigen-decomposition, the target
power in each eigen-direction, the learned fraction of each direction and the learning frontier
counted from them, and power-law slopes of a spectrum. JAX for the Gram matrix, NumPy for the
rest; imports :mod:`gsf_infer.simulate.nn.network`.

Definitions
-----------
For a network ``f(x; theta)`` with ``C`` outputs and ``n`` inputs ``x_1..x_n``, the
output-averaged empirical NTK Gram matrix, normalised by ``n``, is

.. math::

    K_{ij} = \frac{1}{C n} \sum_{c=1}^{C}
        \nabla_\theta f_c(x_i) \cdot \nabla_\theta f_c(x_j)

(Jacot, Gabriel and Hongler 2018). With eigenpairs ``K u_k = lambda_k u_k`` (``|u_k| = 1``,
``lambda_1 >= lambda_2 >= ...``), the ``lambda_k`` estimate the eigenvalues of the kernel's
integral operator on the input distribution (the Nyström estimate; Williams and Seeger 2001)
and ``sqrt(n) u_k`` its eigenfunctions at the inputs. The target power of direction ``k`` is

.. math:: p_k = \frac{1}{n} \sum_c (u_k \cdot y_c)^2 ,

so that ``sum_k p_k = n^-1 sum_i |y_i|^2`` is the loss of the zero function. Under gradient
descent on the network linearised about its initial parameters (Lee et al. 2019) with loss
``L = n^-1 sum_i |f(x_i) - y_i|^2`` and learning rate ``eta``, if the kernel has equal
blocks for every output and none between outputs (the infinite-width limit), the residual
along ``u_k`` decays as ``(1 - 2 eta lambda_k)^t``, so its learned fraction

.. math::

    \phi_k(t) = \frac{\sum_c (u_k \cdot \Delta f_c(t)) (u_k \cdot r_c)}{\sum_c (u_k \cdot r_c)^2},
    \qquad \Delta f = f_t - f_0, \quad r = y - f_0

equals ``1 - exp(-g_k)`` with ``g_k = -t log(1 - 2 eta lambda_k) ≈ 2 eta lambda_k t``: the
theory's ``ntk`` family. A network that learns features departs from it, which is what the
``modes`` records measure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from gsf_infer.simulate.nn.network import Params, apply

__all__ = [
    "eigen",
    "frontier_count",
    "learned_fractions",
    "ntk_gram",
    "spectrum_slope",
    "target_power",
]


@partial(jax.jit, static_argnames=("activation",))
def _gradients(params: Params, xs: jax.Array, c: jax.Array, activation: str) -> list[jax.Array]:
    """Per-example gradients of output ``c``, one ``(n, size)`` matrix per parameter tensor."""

    def one(p: Params, xi: jax.Array) -> jax.Array:
        return apply(p, xi[None, :], activation)[0, c]

    g = jax.vmap(jax.grad(one), in_axes=(None, 0))(params, xs)
    return [leaf.reshape(xs.shape[0], -1) for leaf in jax.tree.leaves(g)]


def ntk_gram(params: Params, x: jax.Array, activation: str, chunk: int = 256) -> np.ndarray:
    """Output-averaged empirical NTK Gram matrix divided by ``n`` (see the module notes).

    For one output at a time, the per-example gradients (``vmap`` of ``grad``, ``chunk``
    examples per call) are stacked into an ``(n, P)`` matrix ``G_c``; the Gram matrix is
    ``sum_c G_c G_c^T / (C n)``. Memory: ``n P`` numbers at a time.

    Parameters
    ----------
    params : Params
    x : jax.Array, shape (n, n_in)
    activation : str
    chunk : int
        Examples per call of the compiled per-example gradient.

    Returns
    -------
    numpy.ndarray, shape (n, n)
        Symmetric, positive semi-definite.
    """
    n = int(x.shape[0])
    n_out = int(params[-1]["b"].shape[0])
    gram = np.zeros((n, n))
    for c in range(n_out):
        rows = []
        for start in range(0, n, chunk):
            leaves = _gradients(params, x[start : start + chunk], jnp.asarray(c), activation)
            rows.append(np.concatenate([np.asarray(leaf) for leaf in leaves], axis=1))
        g = np.concatenate(rows, axis=0)
        gram += g @ g.T
    return gram / (n_out * n)


def eigen(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues in decreasing order and the matching unit eigenvectors (columns).

    Parameters
    ----------
    gram : numpy.ndarray, shape (n, n)
        Symmetric matrix.

    Returns
    -------
    lam : numpy.ndarray, shape (n,)
    vectors : numpy.ndarray, shape (n, n)
        ``vectors[:, k-1]`` belongs to ``lam[k-1]``.
    """
    lam, vectors = np.linalg.eigh(0.5 * (gram + gram.T))
    return lam[::-1].copy(), vectors[:, ::-1].copy()


def target_power(vectors: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``p_k = n^-1 sum_c (u_k . y_c)^2`` for every eigen-direction ``k``.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (n, n)
        Unit eigenvectors as columns.
    targets : numpy.ndarray, shape (n, C)

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    proj = vectors.T @ np.asarray(targets, dtype=float)
    return np.sum(proj**2, axis=1) / targets.shape[0]


def learned_fractions(
    vectors: np.ndarray, residual0: np.ndarray, change: np.ndarray, ks: Sequence[int]
) -> np.ndarray:
    """Learned fraction ``phi_k`` of the residual along eigen-directions ``ks``.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (n, n)
        Unit eigenvectors of the Gram matrix at initialisation (columns).
    residual0 : numpy.ndarray, shape (n, C)
        ``y - f_0`` at the Gram matrix's inputs.
    change : numpy.ndarray, shape (n, C)
        ``f_t - f_0`` at the same inputs.
    ks : sequence of int
        1-based direction indices.

    Returns
    -------
    numpy.ndarray, shape (len(ks),)
        ``sum_c (u_k . change_c)(u_k . r_c) / sum_c (u_k . r_c)^2``: 0 before training, 1 when
        the residual along ``u_k`` is gone; outside ``[0, 1]`` when the network overshoots or
        moves against it.
    """
    u = vectors[:, np.asarray(ks, dtype=int) - 1]
    r = u.T @ residual0
    d = u.T @ change
    return np.sum(d * r, axis=1) / np.sum(r * r, axis=1)


def frontier_count(phi: np.ndarray) -> int:
    """Count the directions at least ``1 - 1/e`` learned (the theory's ``g_k >= 1``).

    Parameters
    ----------
    phi : numpy.ndarray
        Learned fractions of the directions considered.

    Returns
    -------
    int
    """
    return int(np.sum(np.asarray(phi) >= 1.0 - math.exp(-1.0)))


def spectrum_slope(values: np.ndarray, k_lo: int, k_hi: int) -> float | None:
    """Least-squares slope of ``log values[k-1]`` against ``log k`` over ``k_lo..k_hi``.

    Parameters
    ----------
    values : numpy.ndarray
        Positive values indexed by ``k - 1``.
    k_lo, k_hi : int
        Inclusive range of ``k``.

    Returns
    -------
    float or None
        ``None`` with fewer than three positive values in the range.
    """
    ks = np.arange(max(1, int(k_lo)), min(int(k_hi), len(values)) + 1)
    v = np.asarray(values, dtype=float)[ks - 1]
    ok = v > 0
    if ok.sum() < 3:
        return None
    return float(np.polyfit(np.log(ks[ok]), np.log(v[ok]), 1)[0])
