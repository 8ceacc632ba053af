"""Optima of the potential and the local geometry around them.

Multi-start L-BFGS-B (:func:`find_optima`), the Hessian by forward-over-reverse differentiation
(:func:`hessian`), the Laplace factor ``L`` with ``L L^T = H^{-1}`` that whitens NUTS's
coordinates (:func:`laplace_factor`), overdispersed chain starts, and the likelihood's share of
the curvature along each principal direction of the Hessian (:func:`curvature_shares`): a
direction whose curvature comes mostly from the prior is one the data do not identify.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
    threads: int = 1,
) -> list[Optimum]:
    """Minimise the potential from every start with L-BFGS-B; distinct optima, best first.

    ``value_and_grad`` is compiled once and driven from SciPy (compiling an optimiser around
    the model costs more than the optimisation). A point where the potential or its gradient
    is not finite is returned to the optimiser as an infinite value, so it backtracks; starts
    that never reach a finite value are dropped. With ``threads`` above 1, that many starts are
    optimised at once (the compiled program releases Python's lock while it computes); the
    optima do not depend on it. ``value_and_grad`` must then be safe to call from several
    threads at once.
    """

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = value_and_grad(jnp.asarray(z))
        value, grad = float(value), np.asarray(grad, dtype=float)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(z)
        return value, grad

    def one(z0: np.ndarray) -> Optimum | None:
        z0 = np.asarray(z0, dtype=float)
        if not np.isfinite(fun(z0)[0]):
            return None
        res = minimize(fun, z0, jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter, "maxcor": 20})
        return Optimum(z=np.asarray(res.x), potential=float(res.fun)) if np.isfinite(
            res.fun) else None

    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=min(threads, len(starts))) as pool:
            results = list(pool.map(one, starts))
    else:
        results = [one(z0) for z0 in starts]
    found = [o for o in results if o is not None]
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


def laplace_factor(hess: np.ndarray, prior_cov: np.ndarray | None = None) -> np.ndarray:
    """Cholesky factor ``L`` of the inverse of a Hessian, eigenvalues floored.

    Along each eigenvector ``v`` the curvature is at least the prior's, ``1 / (v' C v)`` with
    ``C`` = ``prior_cov`` (the prior draws' covariance in the same coordinates), when given:
    at a saddle or a flat ridge (a noise scale whose likelihood is flat as it falls below the
    records' own error, say) the Hessian's curvature is negative or near zero there, and the
    Laplace spread would exceed the prior's by orders of magnitude, a metric NUTS can only
    follow with tiny steps. Elsewhere the posterior is narrower than the prior and the floor
    changes nothing. Without ``prior_cov`` the eigenvalues are floored at ``1e-8`` times the
    largest.

    Raises
    ------
    FloatingPointError
        If the Hessian has a non-finite entry (the optimum lies where the density is not
        smooth); the caller decides what to do instead.
    """
    if not np.all(np.isfinite(hess)):
        raise FloatingPointError("the Hessian at the optimum is not finite")
    vals, vecs = np.linalg.eigh(hess)
    floor = 1e-8 * max(vals.max(), 1.0)
    if prior_cov is not None:
        spread = np.einsum("ij,ik,kj->j", vecs, prior_cov, vecs)
        # a direction the prior draws do not spread along (all equal) keeps the old floor
        floor = np.maximum(floor, np.divide(1.0, spread, out=np.zeros_like(spread),
                                            where=spread > 0))
    vals = np.maximum(vals, floor)
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
    # a factor with fewer columns than rows samples a subspace (soft_subspace): the other
    # optima are projected onto it
    centres = [np.linalg.lstsq(factor, o.z - best.z, rcond=None)[0] for o in modes]
    d = factor.shape[1]
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


def prior_hessian_program(fns: ModelFunctions) -> Any:
    """Return the compiled ``(z, inputs) -> Hessian`` of the prior potential (built once)."""
    return fns.program("prior_hessian", lambda: jax.jit(jax.hessian(fns.prior_potential)))


def _prior_hessian(fns: ModelFunctions, inputs: dict[str, Any], z: np.ndarray) -> np.ndarray:
    """Compute the prior potential's Hessian at ``z`` exactly (forward over reverse)."""
    return np.asarray(prior_hessian_program(fns)(jnp.asarray(z), inputs))


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
    h_prior = _prior_hessian(fns, inputs, z)
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


@dataclass
class SoftSubspace:
    """Principal directions at the optimum that the data leave to the prior, held fixed.

    Attributes
    ----------
    fixed : np.ndarray
        Unit vectors of the fixed directions, ``(dim, k)`` (``k`` may be 0).
    free : np.ndarray
        An orthonormal basis of the sampled complement, ``(dim, dim - k)``.
    directions : list of dict
        For each fixed direction: ``likelihood_share``, ``loadings`` (as in
        :func:`curvature_shares`) and ``prior_sd`` (its standard deviation under the Laplace
        approximation, nearly the prior's, since the prior gives the curvature).
    coupled : list of dict
        Unidentified directions left free because a reported quantity depends on them: the
        same keys, and ``carries`` (quantity: share of its Laplace variance along it).
    """

    fixed: np.ndarray
    free: np.ndarray
    directions: list[dict[str, Any]]
    coupled: list[dict[str, Any]] = field(default_factory=list)

    def factor(self, hess: np.ndarray, prior_cov: np.ndarray | None = None) -> np.ndarray:
        """Whiten the free subspace: ``z = z_best + factor @ u``, ``factor`` ``(dim, dim - k)``.

        ``prior_cov`` floors the curvature as in :func:`laplace_factor`.
        """
        cov = None if prior_cov is None else self.free.T @ prior_cov @ self.free
        return self.free @ laplace_factor(self.free.T @ hess @ self.free, cov)

    def sensitivity(self, gradients: dict[str, np.ndarray], hess: np.ndarray) -> dict[str, dict]:
        """Say how much of each scalar's Laplace variance the fixed directions carry.

        For a quantity ``q`` with gradient ``g`` at the optimum and the Hessian's eigenpairs
        ``(lambda_j, v_j)``, the Laplace variance ``g' H^-1 g = sum_j (g . v_j)^2 / lambda_j``
        splits by direction; the fixed directions' part is what holding them removes from
        ``q``'s posterior.

        Returns
        -------
        dict
            ``{name: {"share": removed / total, "sd": sqrt(removed)}}``: ``sd`` is how far ``q``
            moves per Laplace (about prior) standard deviation of the fixed directions.
        """
        vals, vecs = np.linalg.eigh(hess)
        vals = np.clip(vals, 1e-8 * max(vals.max(), 1.0), None)
        out = {}
        for name, g in gradients.items():
            g = np.asarray(g, dtype=float)
            if g.shape != (hess.shape[0],) or not np.all(np.isfinite(g)):
                continue
            total = float(np.sum((vecs.T @ g) ** 2 / vals))
            removed = float(sum((g @ v) ** 2 / max(float(v @ hess @ v), float(vals.min()))
                                for v in self.fixed.T))
            if total > 0:
                out[name] = {"share": min(removed / total, 1.0), "sd": float(np.sqrt(removed))}
        return out


def soft_subspace(
    fns: ModelFunctions,
    inputs: dict[str, Any],
    z: np.ndarray,
    hess: np.ndarray,
    threshold: float = 0.2,
    protect: tuple[str, ...] = ("deviation_z", "elastic_", "discrepancy_"),
    reported: dict[str, np.ndarray] | None = None,
    coupling: float = 0.1,
) -> SoftSubspace:
    """Find the directions to hold at the optimum: likelihood share below ``threshold``.

    A direction along which the likelihood gives less than ``threshold`` of the curvature
    (:func:`curvature_shares`) is decided by the prior; sampling it adds nothing the data say
    and, where the likelihood still bends it far from the optimum, costs the sampler its
    geometry. A direction with a weight of 0.2 or more on a coordinate whose name starts with
    one of ``protect`` is never fixed (the deviations behind the verdict, the ``elastic``
    family's drift and the per-run discrepancy must stay free: where the data are silent about
    them their band must be the prior's, not a point). Nor is a direction that carries
    ``coupling`` or more of the Laplace variance of a quantity in ``reported`` (its gradient at
    ``z``): holding it would narrow what the data are asked about to a value the prior chose;
    such a direction stays free and is listed in ``coupled``. At least one direction is left
    free.
    """
    d = hess.shape[0]
    h_prior = _prior_hessian(fns, inputs, z)
    if not (np.all(np.isfinite(hess)) and np.all(np.isfinite(h_prior))):
        return SoftSubspace(fixed=np.zeros((d, 0)), free=np.eye(d), directions=[], coupled=[])
    protected = np.array([n.startswith(protect) for n in fns.names])
    vals, vecs = np.linalg.eigh(hess)
    picked, directions, coupled = [], [], []
    for j in np.argsort(vals):
        v = vecs[:, j]
        total = float(v @ hess @ v)
        if total <= 0 or len(picked) >= d - 1 or np.any(np.abs(v[protected]) >= 0.2):
            continue
        share = float(v @ (hess - h_prior) @ v) / total
        if share >= threshold:
            continue
        order = np.argsort(-np.abs(v))
        entry = {"likelihood_share": share,
                 "loadings": [(fns.names[i], float(v[i])) for i in order[:3] if abs(v[i]) >= 0.2],
                 "prior_sd": float(1.0 / np.sqrt(total))}
        carried = {q: _variance_share(g, v, total, vals, vecs) for q, g in (reported or {}).items()}
        carried = {q: c for q, c in carried.items() if c >= coupling}
        if carried:
            coupled.append({**entry, "carries": carried})
            continue
        picked.append(j)
        directions.append(entry)
    keep = [j for j in range(d) if j not in picked]
    return SoftSubspace(fixed=vecs[:, picked], free=vecs[:, keep], directions=directions,
                        coupled=coupled)


def _variance_share(g: np.ndarray, v: np.ndarray, curvature: float, vals: np.ndarray,
                    vecs: np.ndarray) -> float:
    """Share of a quantity's Laplace variance ``g' H^-1 g`` along the eigenvector ``v``."""
    g = np.asarray(g, dtype=float)
    total = float(np.sum((vecs.T @ g) ** 2 / np.clip(vals, 1e-8 * max(vals.max(), 1.0), None)))
    if not (total > 0 and np.all(np.isfinite(g))):
        return 0.0
    return float((g @ v) ** 2 / curvature / total)
