"""Optima of the potential and the local geometry around them.

Multi-start L-BFGS-B (:func:`find_optima`), the Hessian by forward-over-reverse differentiation
(:func:`hessian`), the Laplace factor ``L`` with ``L L^T = H^{-1}`` that whitens NUTS's
coordinates (:func:`laplace_factor`), overdispersed chain starts, and the likelihood's share of
the curvature along each principal direction of the Hessian (:func:`curvature_shares`): a
direction whose curvature comes mostly from the prior is one the data do not identify.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from gsf_infer.inference.functions import (
    ModelFunctions,
)


@dataclass
class Optimum:
    """One local optimum of the posterior density (unconstrained coordinates)."""

    z: np.ndarray
    potential: float


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
    """Choose starting points in whitened coordinates ``u`` (``z = z_best + L u``).

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
