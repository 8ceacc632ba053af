"""The spectral evolution families ``g(lambda, t)`` of [GSF]_, as pure JAX functions.

A family maps an eigenvalue ``lambda`` and a training time ``t`` to the learned fraction of the
mode, ``phi = theta_k / w_k = 1 - exp(-g(lambda, t))``, and to its complement
``resid = 1 - phi = exp(-g)``, each computed without cancellation. It also gives the log of
``g``, whose partial derivatives in ``log lambda`` and ``log t`` are the elasticities
``E_lambda`` and ``E_t`` of [GSF]_ eq. 4 (``rho = E_t / E_lambda > 0``; the paper writes a minus
sign, ``docs/theory.md`` says why it is dropped), and the frontier eigenvalue ``lambda_*(t)``
where ``g = 1``.

| family | g(lambda, t) | shape parameters |
| --- | --- | --- |
| ``ntk`` | ``c * lambda * t`` | — |
| ``feature`` | ``c * lambda * t^n`` | ``n >= 1`` |
| ``monomial`` | ``c * lambda^m * t^n`` | ``m, n`` |
| ``logcorr`` | ``c * lambda^m * t^n * log(e + t/tau)`` | ``m, n, tau`` |
| ``ridge`` | ``phi = lambda/(lambda+kap) * (1 - exp(-(lambda+kap) c t))`` | ``kap`` |
| ``elastic`` | ``c * lambda^m * exp(H(log t))``, ``H(tau) = int_0^tau n(s) ds`` | ``m, n(tau)`` |

(``ridge`` is gradient flow with weight decay [RF]_; its ``g = -log(1 - phi)``. ``feature`` is
the feature-learning regime of [BP]_, with ``n = max(1, 2/(1+beta))``. ``elastic`` is the
semi-parametric ``g`` of [GSF]_ Section 6 item 4: its temporal elasticity ``n(tau) = m rho(tau)``
is a curve in ``tau = log t``, given by its values ``ngrid`` on a uniform grid ``tgrid`` and
integrated once into ``hgrid`` (:func:`elastic_integral`); ``H`` between nodes is the cubic
Hermite interpolant of ``(hgrid, ngrid)``, so ``E_t = dH/dtau`` equals ``n`` at every node,
and ``H`` continues linearly, with the end slopes, outside the grid.) Everything here is
jit/vmap/grad-safe and imports only JAX.

References
----------
.. [GSF] Yizhou Zhang, "A Generalized Spectral Framework to Explain Neural Scaling and
   Compression Dynamics".
.. [RF] "Dynamics of neural scaling laws in random feature regression with powerlaw-distributed
   kernel eigenvalues", arXiv:2602.23039.
.. [BP] Blake Bordelon and Cengiz Pehlevan, "Feature learning in infinite-width networks beyond
   the NTK", arXiv:2402.01092.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

#: Newton steps used to solve g(lambda, t) = 1 where no closed form exists (ridge).
_NEWTON_STEPS = 40


class GParams(NamedTuple):
    """Parameters of ``g``: amplitude ``c`` and the shape parameters of every family.

    Parameters a family does not use are ignored by it. All are positive.

    Attributes
    ----------
    c : float
        Amplitude (rate) of ``g``, in units that make ``c * lambda^m * t^n`` dimensionless.
    m : float
        Spectral elasticity ``E_lambda`` (``monomial``, ``logcorr``).
    n : float
        Temporal exponent (``feature``, ``monomial``, ``logcorr``).
    tau : float
        Time scale of the logarithmic correction (``logcorr``), in units of ``t``.
    kap : float
        Weight-decay eigenvalue (``ridge``), in units of ``lambda``.
    tgrid : array
        Uniform grid of ``tau = log t`` (``elastic``), shape ``(J,)``, ``J >= 2``.
    ngrid : array
        Temporal elasticity ``n(tau) = E_t`` at the nodes (``elastic``), shape ``(J,)``.
    hgrid : array
        ``H(tau_j) = int_0^tau_j n(s) ds`` at the nodes (``elastic``; :func:`elastic_integral`).
    """

    c: Array | float = 1.0
    m: Array | float = 1.0
    n: Array | float = 1.0
    tau: Array | float = 1.0
    kap: Array | float = 0.0
    tgrid: Array | float = 0.0
    ngrid: Array | float = 0.0
    hgrid: Array | float = 0.0


def hermite(x: Array, grid: Array, values: Array, slopes: Array) -> Array:
    """Cubic Hermite interpolant of ``(values, slopes)`` on a uniform ``grid``, at ``x``.

    Between nodes ``tau_i`` and ``tau_i + h``, with ``s = (x - tau_i)/h``,

    .. math::

        H(x) = h_{00}(s) H_i + h h_{10}(s) n_i + h_{01}(s) H_{i+1} + h h_{11}(s) n_{i+1},

    ``h_00 = 2s^3 - 3s^2 + 1``, ``h_10 = s^3 - 2s^2 + s``, ``h_01 = 3s^2 - 2s^3``,
    ``h_11 = s^3 - s^2``: ``H`` is C^1, equals ``values`` at the nodes and has derivative
    ``slopes`` there; it is exact for cubics. Outside the grid it continues linearly with the
    end slopes. ``x`` may have any shape; ``grid``, ``values``, ``slopes`` are ``(J,)``.
    """
    x = jnp.asarray(x, dtype=float)
    lo, hi = grid[0], grid[-1]
    h = grid[1] - grid[0]
    # where, not clip: at a node on the grid's edge the derivative is the inside one
    xc = jnp.where(x < lo, lo, jnp.where(x > hi, hi, x))
    u = (xc - lo) / h
    i = jax.lax.stop_gradient(jnp.clip(jnp.floor(u), 0, grid.shape[-1] - 2).astype(jnp.int32))
    s = u - i
    s2, s3 = s * s, s * s * s
    inside = (
        (2.0 * s3 - 3.0 * s2 + 1.0) * values[i]
        + h * (s3 - 2.0 * s2 + s) * slopes[i]
        + (3.0 * s2 - 2.0 * s3) * values[i + 1]
        + h * (s3 - s2) * slopes[i + 1]
    )
    below = jnp.where(x < lo, slopes[0] * (x - lo), 0.0)
    above = jnp.where(x > hi, slopes[-1] * (x - hi), 0.0)
    return inside + below + above


def elastic_integral(grid: Array, slopes: Array) -> Array:
    """``H(tau_j) = int_0^tau_j n(s) ds`` at the nodes of a uniform grid (cumulative quadrature).

    The cumulative trapezoid rule from the first node, ``C_j = sum_{i<j} h (n_i + n_{i+1})/2``
    (error ``-(h^2/12) int n''``, exact for ``n`` linear), less its Hermite interpolant at
    ``tau = 0`` so that ``H(0) = 0`` (the amplitude ``c`` of ``g`` is fixed at ``t_ref``).
    """
    h = grid[1] - grid[0]
    steps = 0.5 * h * (slopes[1:] + slopes[:-1])
    cum = jnp.concatenate([jnp.zeros((1,), dtype=steps.dtype), jnp.cumsum(steps)])
    return cum - hermite(0.0, grid, cum, slopes)


@dataclass(frozen=True)
class Family:
    """One ``g`` family: its name, its free shape parameters and its source.

    Attributes
    ----------
    name : str
        ``ntk``, ``feature``, ``monomial``, ``logcorr``, ``ridge`` or ``elastic``.
    shape : tuple of str
        Names of the free shape parameters (fields of :class:`GParams` besides ``c``).
    source : str
        Where the family comes from.
    """

    name: str
    shape: tuple[str, ...]
    source: str

    # ----------------------------------------------------------------------------------------
    def effective(self, p: GParams) -> tuple[Array, Array]:
        """Return the ``(m, n)`` this family actually uses (fixed ones filled in)."""
        one = jnp.ones_like(jnp.asarray(p.c, dtype=float))
        if self.name in ("ntk", "ridge"):
            return one, one
        if self.name == "feature":
            return one, jnp.asarray(p.n) * one
        return jnp.asarray(p.m) * one, jnp.asarray(p.n) * one

    def log_g(self, log_lam: Array, log_t: Array, p: GParams) -> Array:
        """``log g(lambda, t)``; its gradients are the log-elasticities of [GSF]_ eq. 4."""
        if self.name == "ridge":
            lam, t = jnp.exp(log_lam), jnp.exp(log_t)
            return jnp.log(-jnp.log(self._ridge_resid(lam, t, p)))
        m, n = self.effective(p)
        if self.name == "elastic":
            return jnp.log(p.c) + m * log_lam + hermite(log_t, p.tgrid, p.hgrid, p.ngrid)
        out = jnp.log(p.c) + m * log_lam + n * log_t
        if self.name == "logcorr":
            out = out + jnp.log(jnp.log(jnp.e + jnp.exp(log_t) / p.tau))
        return out

    def _ridge_resid(self, lam: Array, t: Array, p: GParams) -> Array:
        rate = lam + p.kap
        # 1 - lam/(lam+kap) * (1 - exp(-rate c t)) = kap/rate + lam/rate * exp(-rate c t)
        return (p.kap + lam * jnp.exp(-rate * p.c * t)) / rate

    def phi_resid(self, lam: Array, t: Array, p: GParams) -> tuple[Array, Array]:
        """Learned fraction ``phi = 1 - exp(-g)`` and residual ``1 - phi``, both accurate.

        Parameters
        ----------
        lam : array
            Eigenvalues ``lambda_k`` (> 0).
        t : array
            Training times (> 0), broadcastable against ``lam``.
        p : GParams
            Parameters of ``g``.

        Returns
        -------
        tuple of arrays
            ``(phi, resid)``, broadcast shape of ``lam`` and ``t``.
        """
        if self.name == "ridge":
            rate = lam + p.kap
            phi = lam / rate * -jnp.expm1(-rate * p.c * t)
            return phi, self._ridge_resid(lam, t, p)
        g = jnp.exp(self.log_g(jnp.log(lam), jnp.log(t), p))
        return -jnp.expm1(-g), jnp.exp(-g)

    def log_resid(self, log_lam: Array, log_t: Array, p: GParams) -> Array:
        """``log(1 - phi) = -g`` (cheap: no exponential of ``lambda`` for the g-families)."""
        if self.name == "ridge":
            return jnp.log(self._ridge_resid(jnp.exp(log_lam), jnp.exp(log_t), p))
        return -jnp.exp(self.log_g(log_lam, log_t, p))

    def phi_from_log(self, log_lam: Array, log_t: Array, p: GParams) -> Array:
        """Learned fraction ``phi`` from ``log lambda`` and ``log t``, without cancellation."""
        if self.name == "ridge":
            lam = jnp.exp(log_lam)
            rate = lam + p.kap
            return lam / rate * -jnp.expm1(-rate * p.c * jnp.exp(log_t))
        return -jnp.expm1(-jnp.exp(self.log_g(log_lam, log_t, p)))

    def log_lambda_star(self, log_t: Array, p: GParams) -> Array:
        """``log lambda_*(t)``: the frontier eigenvalue where ``g(lambda_*, t) = 1`` ([GSF]_ eq. 3).

        For ``ridge`` the frontier stops at the weight-decay scale: modes with
        ``lambda/(lambda + kap) < 1 - 1/e`` never reach ``g = 1``; there the returned value is
        the limit ``lambda = kap (e - 1)`` that no later time crosses.
        """
        if self.name == "elastic":
            m, _ = self.effective(p)
            return -(jnp.log(p.c) + hermite(log_t, p.tgrid, p.hgrid, p.ngrid)) / m
        if self.name != "ridge":
            m, n = self.effective(p)
            rest = jnp.log(p.c) + n * log_t
            if self.name == "logcorr":
                rest = rest + jnp.log(jnp.log(jnp.e + jnp.exp(log_t) / p.tau))
            return -rest / m
        return self._ridge_log_lambda_star(log_t, p)

    def _ridge_log_lambda_star(self, log_t: Array, p: GParams) -> Array:
        # Solve log g(lambda, t) = 0 in x = log lambda by Newton's method. log g is increasing
        # and concave-ish in x; start right of the root (where g > 1) from the no-decay solution
        # lambda = 1/(c t) or the decay floor, and take safeguarded steps.
        floor = jnp.log(jnp.maximum(p.kap, 1e-300) * (jnp.e - 1.0))
        x0 = jnp.maximum(-jnp.log(p.c) - log_t, floor) + 1.0

        def step(x, _):
            val = self.log_g(x, log_t, p)
            # log g is elementwise in x, so the gradient of the sum is the elementwise slope
            slope = jax.grad(lambda z: jnp.sum(self.log_g(z, log_t, p)))(x)
            new = x - val / jnp.maximum(slope, 1e-6)
            return jnp.clip(new, x - 5.0, x + 5.0), None

        x, _ = jax.lax.scan(step, x0, None, length=_NEWTON_STEPS)
        return jnp.maximum(x, floor)

    def elasticities(self, log_lam: Array, log_t: Array, p: GParams) -> tuple[Array, Array]:
        """``(E_lambda, E_t)`` = partial derivatives of ``log g`` in ``log lambda``, ``log t``."""
        e_lam = jax.grad(lambda x: jnp.sum(self.log_g(x, log_t, p)))(log_lam)
        e_t = jax.grad(lambda x: jnp.sum(self.log_g(log_lam, x, p)))(log_t)
        return e_lam, e_t

    def rho(self, log_t: Array, p: GParams) -> Array:
        """Elasticity ratio ``rho(t) = E_t / E_lambda`` at the frontier ``lambda_*(t)``.

        Constant (``n/m``) for ``ntk``, ``feature``, ``monomial``; a function of ``t`` for
        ``logcorr``, ``ridge`` and ``elastic`` (there ``dH/dtau / m``, which is
        ``n(tau_j)/m`` at the nodes).
        """
        log_t = jnp.asarray(log_t, dtype=float)
        if self.name in ("ntk", "feature", "monomial"):
            m, n = self.effective(p)
            return n / m + 0.0 * log_t
        x = self.log_lambda_star(log_t, p)
        e_lam, e_t = jnp.vectorize(
            lambda a, b: self.elasticities(a, b, p), signature="(),()->(),()"
        )(x, log_t)
        return e_t / e_lam


FAMILIES: dict[str, Family] = {
    "ntk": Family("ntk", (), "lazy / kernel regime ([GSF] Section 1.2)"),
    "feature": Family(
        "feature", ("n",), "Bordelon–Pehlevan feature learning, n = p(beta) = max(1, 2/(1+beta))"
    ),
    "monomial": Family("monomial", ("m", "n"), "[GSF] eq. 2"),
    "logcorr": Family(
        "logcorr", ("m", "n", "tau"), "[GSF] Section 6 item 3 (logarithmic correction)"
    ),
    "ridge": Family("ridge", ("kap",), "[RF], gradient flow with weight decay"),
    "elastic": Family(
        "elastic", ("m", "n"), "[GSF] Section 6 item 4 (elasticity rho(t) learned as a curve)"
    ),
}


def get_family(name: str) -> Family:
    """Return the family called ``name``.

    Raises
    ------
    KeyError
        With the list of known families, if ``name`` is unknown.
    """
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown g family {name!r}; known: {', '.join(FAMILIES)}") from None
