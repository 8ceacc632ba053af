"""Sums over spectral modes, ``sum_{k_lo < k <= k_hi} f(k)``.

It provides them in the ``exact`` and ``continuum`` tiers.

Bounds may be fractional (capacity ``K = kappa * P^nu`` is a real number). Mode ``k`` is read as
the unit interval ``[k - 1/2, k + 1/2]`` and the range ``(k_lo, k_hi]`` as
``[k_lo + 1/2, k_hi + 1/2]``; a mode counts with the length of its overlap with the range. For
integer bounds this is the plain discrete sum; for real ones it interpolates linearly, so the sums
are continuous (and almost everywhere differentiable) in the bounds.

- ``exact``: every mode up to a static ``k_max``, accumulated in chunks (memory independent of
  ``k_max``; cost proportional to it). The reference the other tiers are tested against.
- ``continuum``: the modes ``k <= k0`` exactly, the rest by the midpoint-corrected
  integral ``∫ f(k) dk`` over ``[max(k_lo, k0) + 1/2, k_hi + 1/2]``, evaluated by fixed
  Gauss–Legendre quadrature in ``log k`` on three panels split around a hint of where the
  integrand changes fastest (the learning frontier). Cost per record is independent of ``K``.

Imports only JAX and NumPy (for the quadrature nodes).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Term = Callable[[Array, Array], Array]

#: Modes summed exactly in the continuum tier.
K0 = 16
#: Gauss–Legendre nodes per panel (three panels). With ``K0 = 16`` the continuum tier stays
#: within a few 1e-4 of the exact sums; more head modes and nodes buy little accuracy at several
#: times the cost (``docs/decisions.md``).
NODES = 12
#: Chunk length of the exact tier's loop.
CHUNK = 4096

_X, _W = np.polynomial.legendre.leggauss(NODES)


def overlap(k: Array, k_lo: Array, k_hi: Array) -> Array:
    """Weight of mode ``k`` in the range ``(k_lo, k_hi]`` (1 inside, 0 outside, linear between)."""
    hi = jnp.minimum(k_hi + 0.5, k + 0.5)
    lo = jnp.maximum(k_lo + 0.5, k - 0.5)
    return jnp.clip(hi - lo, 0.0, 1.0)


def exact_sum(term: Term, k_lo: Array, k_hi: Array, k_max: int) -> Array:
    """``sum_{k_lo < k <= k_hi} term(k)`` over every mode up to the static ``k_max``.

    Parameters
    ----------
    term : callable
        ``term(k, log_k)`` for float arrays of shape ``batch + (CHUNK,)``, returning the same
        shape; it closes over the per-record arrays (shape ``batch + (1,)``).
    k_lo, k_hi : array
        Bounds, shape ``batch``.
    k_max : int
        Largest mode ever summed (static); bounds above it are cut at it.

    Returns
    -------
    array
        Shape ``batch``.
    """
    k_lo = jnp.asarray(k_lo, dtype=float)
    k_hi = jnp.asarray(k_hi, dtype=float)
    batch = jnp.broadcast_shapes(k_lo.shape, k_hi.shape)
    n_chunks = int(np.ceil(k_max / CHUNK))
    base = jnp.arange(1, CHUNK + 1, dtype=float)
    lo, hi = k_lo[..., None], k_hi[..., None]

    def body(i, acc):
        k = base + i * CHUNK
        k_b = jnp.broadcast_to(k, batch + (CHUNK,))
        w = overlap(k_b, lo, hi) * (k_b <= k_max)
        vals = jnp.where(w > 0, term(k_b, jnp.log(k_b)), 0.0)
        return acc + jnp.sum(w * vals, axis=-1)

    return jax.lax.fori_loop(0, n_chunks, body, jnp.zeros(batch))


def continuum_sum(
    term: Term,
    k_lo: Array,
    k_hi: Array,
    log_k_hint: Array,
    half_width: Array,
    k0: int = K0,
    split_gradient: bool = False,
) -> Array:
    """``sum_{k_lo < k <= k_hi} term(k)``: exact head ``k <= k0``, quadrature for the tail.

    Parameters
    ----------
    term : callable
        ``term(k, log_k)`` for float arrays of shape ``batch + (M,)``; must be smooth in
        ``log k`` above ``k0`` apart from the feature located by ``log_k_hint``.
    k_lo, k_hi : array
        Bounds, shape ``batch``; both finite.
    log_k_hint : array
        ``log k`` where the integrand changes fastest (the frontier), shape ``batch``.
    half_width : array
        Half-width, in ``log k``, of the panel centred on the hint.
    k0 : int
        Modes summed exactly.
    split_gradient : bool
        Differentiate the panels' split points too. Where the panels are split does not change
        the integral, only the quadrature error, so by default no gradient flows through them
        (about 40% cheaper). The gradient then misses the derivative of the quadrature error,
        negligible against noisy data but not against hundreds of precise points on one curve,
        where it slows the sampler down: with ``True`` the gradient is exactly the sum's.

    Returns
    -------
    array
        Shape ``batch``.
    """
    k_lo = jnp.asarray(k_lo, dtype=float)
    k_hi = jnp.asarray(k_hi, dtype=float)
    batch = jnp.broadcast_shapes(k_lo.shape, k_hi.shape, jnp.shape(log_k_hint))
    lo, hi = k_lo[..., None], k_hi[..., None]

    ints = np.arange(1, k0 + 1, dtype=float)
    k_head = jnp.broadcast_to(jnp.asarray(ints), batch + (k0,))
    log_head = jnp.broadcast_to(jnp.asarray(np.log(ints)), batch + (k0,))
    w_head = overlap(k_head, lo, hi)
    head = jnp.sum(jnp.where(w_head > 0, w_head * term(k_head, log_head), 0.0), axis=-1)

    edge = k0 + 0.5
    u1 = jnp.log(jnp.maximum(k_lo + 0.5, edge))
    u2 = jnp.log(jnp.maximum(k_hi + 0.5, edge))
    u2 = jnp.maximum(u2, u1)
    hint = jnp.broadcast_to(jnp.asarray(log_k_hint, dtype=float), batch)
    if not split_gradient:
        hint = jax.lax.stop_gradient(hint)
    p1 = jnp.clip(hint - half_width, u1, u2)
    p2 = jnp.clip(hint + half_width, u1, u2)
    starts = jnp.stack([u1, p1, p2], axis=-1)  # batch + (3,)
    ends = jnp.stack([p1, p2, u2], axis=-1)
    half = 0.5 * (ends - starts)
    mid = 0.5 * (ends + starts)
    x = jnp.asarray(_X)
    w = jnp.asarray(_W)
    u = mid[..., :, None] + half[..., :, None] * x  # batch + (3, NODES)
    u = u.reshape(batch + (3 * NODES,))
    k = jnp.exp(u)
    weights = (half[..., :, None] * w).reshape(batch + (3 * NODES,))
    tail = jnp.sum(weights * term(k, u) * k, axis=-1)
    return head + tail
