r"""The realisation one run shares: a spectral random effect, marginalised to a low-rank covariance.

The laws give every kind's expected value from the mean spectrum (target power ``p_k``). One
trained system realises one spectrum: the target power of each of its modes scatters about
``p_k``, and every record of the run (its loss at every time, its quantization and pruning
losses) sums the same realised modes. With ``--discrepancy spectral`` each run ``r`` carries a
multiplicative effect per mode, ``p_k -> p_k (1 + u_{r,k})``, independent across modes and runs,
of variance ``2 tau^2`` (``tau = 1``: the ``chi^2_1`` scatter of a Gaussian mode's power), and
the likelihood integrates it out to first order.

To first order in ``u`` a record's log expected value moves by
``sum_k (c_i(k) / mu_i) u_{r,k}``, ``c_i(k)`` the record's per-mode term (the summand of its law).
The modes are grouped into bins on one grid in ``k`` shared by every record: the head modes
``k = 1 .. 8`` one by one, then :data:`BINS` bins uniform in ``log k`` up to :data:`REACH`
times the largest capacity. A bin of ``n_j`` modes around ``k_j`` contributes the sum of
``n_j`` independent effects, variance ``2 tau^2 n_j c_i(k_j)^2`` (midpoint rule), so the
records of run ``r`` (on the likelihood's log scale, residuals ``e = log y - log mu``) are

.. math::

    e_r \sim \mathcal N\big(0,\ D_r + F_r F_r^\top\big), \qquad
    F_{ij} = \tau \sqrt{2 n_j}\ \frac{c_i(k_j)}{\mu_i}, \qquad
    D_r = \operatorname{diag}(\sigma_c^2 + \mathrm{se}_i^2 + \omega_i^2),

where ``mu_i`` is the part of the expected value the modes make (the loss above its floor ``E``
counts in ``c``, the floor in ``mu``), and ``omega_i^2`` the variance the first-order, binned
form leaves out (:func:`omitted_variance`: with ``s_i^2 = |F_i|^2``, ``s_i^4 / 2`` from the
second-order term and ``(0.1 s_i)^2`` for the bins' own error; the second-order term's mean,
``-s_i^2 / 2``, is not modelled). The covariance has rank :data:`RANK` per run, so the
density costs ``O(N R^2)`` by the Woodbury identity and the matrix determinant lemma, and the
model has one parameter more (``tau``, ``discrepancy_scale``), no latent coordinates. The effect
is heteroscedastic (few modes near the frontier early in training, so a large relative scatter)
and correlated along each curve over the ``log t`` in which the frontier crosses a bin.

Per-mode terms ``c_i(k)`` (``phi = 1 - e^{-g}``, ``w_k^2 = p_k / lambda_k``):

- ``loss``: ``p_k e^{-2 g(lambda_k, t)}`` for ``k <= K`` and ``p_k`` beyond (the modes the model
  cannot hold), times the run's amplitude over the law's value at the reference;
- ``quantization``: ``w_k^2 phi_k^2`` for ``k <= K``;
- ``pruning``: ``w_k^2 phi_k^2`` (metric ``seed``) or ``p_k phi_k^2`` (``function``) for the
  removed modes ``k_cut < k <= K``.

A bin partly inside a record's range counts with the fraction of its modes inside. The other
kinds do not sum target powers and keep the independent likelihood: ``density`` and ``modes``
(they follow the eigenvalues, not the target), ``spectrum`` (each target-power record is one
mode's realised power, already independent), ``data_scaling``. The covariance is built per kind
(records of different kinds of one run are not correlated through it).

Pointwise values. The likelihood's per-record values sum to each run's joint log density (what
the sampler uses). For leave-one-out the model returns instead the exact conditional densities
``log p(e_i | e_{-i})`` of the multivariate normal, from the diagonal of the precision matrix
[NF]_: with ``Q = Sigma^{-1}`` and ``g = Q e``, ``log p(e_i | e_{-i}) = -(1/2) log(2 pi)
+ (1/2) log Q_ii - g_i^2 / (2 Q_ii)``.

References
----------
.. [NF] Paul-Christian Bürkner, Jonah Gabry and Aki Vehtari, "Efficient leave-one-out
   cross-validation for Bayesian non-factorized normal and Student-t models", Computational
   Statistics 36, 1243-1261 (2021).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.linalg import cho_solve
from numpyro.distributions import constraints

#: Kinds whose law sums target powers over modes: the ones the effect reaches.
KINDS = ("loss", "quantization", "pruning")
#: Modes that are bins of their own (the first, each a large share of an early loss).
HEAD = 8
#: Bins uniform in ``log k`` beyond the head modes.
BINS = 16
#: The grid reaches this multiple of the largest capacity (the unlearned tail of the loss).
REACH = 30.0
#: Columns of a run's covariance factor.
RANK = HEAD + BINS
#: Relative error of a record's binned factor row (the bins' terms, summed, match each law's
#: own value to a few per cent; the rows, evaluated at the bins' centres, to no better).
FACTOR_ERROR = 0.1


def mode_grid(k_top: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Return the bins: representative mode ``k_j``, lower and upper edges (``(RANK,)`` each).

    The head modes ``1 .. HEAD`` are bins of one mode (edges ``k -+ 1/2``); beyond, :data:`BINS`
    bins uniform in ``log k`` from ``HEAD + 1/2`` to ``k_top`` (at least twice that), ``k_j``
    their geometric centres.
    """
    head = jnp.arange(1.0, HEAD + 1.0)
    top = jnp.maximum(k_top, 2.0 * (HEAD + 0.5))
    edges = jnp.exp(jnp.linspace(jnp.log(HEAD + 0.5), jnp.log(top), BINS + 1))
    k = jnp.concatenate([head, jnp.sqrt(edges[:-1] * edges[1:])])
    lo = jnp.concatenate([head - 0.5, edges[:-1]])
    hi = jnp.concatenate([head + 0.5, edges[1:]])
    return k, lo, hi


def omitted_variance(factor: jax.Array, second_order: bool = True) -> jax.Array:
    """Each record's variance that the first-order, binned effect leaves out (``(N,)``).

    With ``s^2 = |F_i|^2`` the record's realisation variance on the likelihood's scale, it is
    ``s^2 (c^2 + s^2 / 2)``: the factor row's own error, a fraction ``c =``
    :data:`FACTOR_ERROR` of ``s``, and (``second_order``, the kinds that sum target powers) the
    second-order term of ``log(1 + x) = x - x^2/2 + ...`` (``x`` the record's relative shift,
    variance ``s^2``; ``x^2 / 2`` has variance ``s^4 / 2`` for a normal ``x``). For ``modes``
    records (a mode's shared eigenvalue, first order in ``logit phi``) only the first part.

    It keeps the density from treating a run's span as exact. Where a run has no more records
    than the factor has columns, every residual lies in that span, the independent noise
    ``sigma`` has nothing left to explain and falls towards zero, and the posterior's curvature
    grows without bound along whatever moves a residual out of the span. Where the law is far
    off (a ``modes`` record's ``g`` of 1e12, say), the residuals and the factor's column grow
    together, the residuals stay in the span, and without this floor the density grows
    without bound as ``sigma`` falls.
    """
    s2 = jnp.sum(factor**2, axis=-1)
    return s2 * (FACTOR_ERROR**2 + 0.5 * s2) if second_order else FACTOR_ERROR**2 * s2


def inside(k: jax.Array, lo: jax.Array, hi: jax.Array, k_lo: jax.Array, k_hi: jax.Array
           ) -> tuple[jax.Array, jax.Array]:
    """Locate each bin's part in the range ``(k_lo, k_hi]`` (as ``[k_lo+1/2, k_hi+1/2]``).

    Returns the fraction of the bin's modes inside, and where a bin's term is evaluated: ``log
    k_j`` for a whole bin, moved by the log-ratio of the inside part's geometric centre to the
    bin's for a partly covered one (continuous as the part grows to the whole bin).
    """
    top = jnp.minimum(hi, k_hi + 0.5)
    bottom = jnp.maximum(lo, k_lo + 0.5)
    frac = jnp.clip((top - bottom) / (hi - lo), 0.0, 1.0)
    centre = 0.5 * (jnp.log(jnp.maximum(bottom, lo)) + jnp.log(jnp.maximum(top, bottom)))
    shift = jnp.where(frac > 0.0, centre - 0.5 * (jnp.log(lo) + jnp.log(hi)), 0.0)
    return frac, jnp.log(k) + shift


class RealisationNormal(dist.Distribution):
    """Records of several runs, each run normal with covariance ``diag(d) + F F^T`` (rank R).

    ``batch_shape`` is the records' (one value per record): :meth:`log_prob` returns per-record
    values that sum to each run's joint log density (the independent part of each record plus
    an even share of its run's correction), or (``loo``) each record's leave-one-out
    conditional log density. Records of different runs are independent.

    Parameters
    ----------
    loc : array (N,)
        Means.
    diag : array (N,)
        Independent variances ``d_i``.
    factor : array (N, R)
        Each record's row of its run's covariance factor.
    run : int array (N,)
        Each record's run, ``0 .. n_runs - 1``.
    n_runs : int
        Number of runs (static).
    loo : bool
        The leave-one-out conditional densities instead of shares of the joint (static: the
        pointwise program is traced with it, the sampler's without).
    slots : tuple of arrays, optional
        :func:`run_slots` of ``run`` (computed from it when not given; a traced ``run``
        needs them given).
    """

    arg_constraints = {"loc": constraints.real_vector, "diag": constraints.positive}
    support = constraints.real
    reparametrized_params = ["loc"]

    def __init__(self, loc, diag, factor, run, n_runs: int, loo: bool = False, *,
                 slots=None, validate_args=None):
        self.loc, self.diag, self.factor = loc, diag, factor
        self.run, self.n_runs, self.loo = run, int(n_runs), bool(loo)
        self.slots = run_slots(np.asarray(run), self.n_runs) if slots is None else slots
        super().__init__(batch_shape=jnp.shape(loc), event_shape=(),
                         validate_args=validate_args)

    def _blocks(self, e):
        """Per run, on its padded block of records (:func:`run_slots`).

        Returns ``fw = D^-1 F`` ``(runs, L, R)`` (padding rows zero), the Cholesky factor of
        the capacitance ``I + F_r^T D_r^-1 F_r`` and ``b_r = F_r^T D_r^-1 e_r``. Gathered into
        blocks, the capacitance is one batched matrix product: a scatter of per-record outer
        products into the runs (and its transpose in the gradient) costs about twenty times as
        much on a CPU.
        """
        index, mask, _ = self.slots
        f = self.factor[index] * mask[..., None]
        fw = f / jnp.where(mask, self.diag[index], 1.0)[..., None]
        cap = jnp.einsum("rnj,rnk->rjk", fw, f) + jnp.eye(self.factor.shape[-1])
        b = jnp.einsum("rnj,rn->rj", fw, jnp.where(mask, e[index], 0.0))
        return fw, jnp.linalg.cholesky(cap), b

    def log_prob(self, value):
        """Per-record values: shares of the joint, or the leave-one-out conditionals (``loo``)."""
        e = value - self.loc
        fw, chol, b = self._blocks(e)
        solve = jax.vmap(lambda c, y: cho_solve((c, True), y))
        v = solve(chol, b)  # C^-1 b per run
        _, mask, position = self.slots
        if not self.loo:
            # -1/2 [sum e^2/d + log(2 pi d)] + 1/2 b.v - 1/2 log det C per run, the run's
            # correction spread evenly over its records
            logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
            correction = (0.5 * jnp.sum(b * v, -1) - 0.5 * logdet) / jnp.sum(mask, axis=-1)
            iid = -0.5 * (e**2 / self.diag + jnp.log(2.0 * jnp.pi * self.diag))
            return iid + correction[self.run]
        # precision Q = D^-1 - D^-1 F C^-1 F^T D^-1: its diagonal and Q e, per block
        cinv = solve(chol, jnp.broadcast_to(jnp.eye(chol.shape[-1]), chol.shape))
        quad = jnp.einsum("rnj,rjk,rnk->rn", fw, cinv, fw)[self.run, position]
        q = 1.0 / self.diag - quad
        g = e / self.diag - jnp.einsum("rnj,rj->rn", fw, v)[self.run, position]
        return -0.5 * jnp.log(2.0 * jnp.pi) + 0.5 * jnp.log(q) - 0.5 * g**2 / q

    def sample(self, key, sample_shape=()):
        """Draws ``loc + sqrt(d) eps + F_r z_r`` with ``eps``, ``z_r`` standard normal."""
        k1, k2 = jax.random.split(key)
        shape = sample_shape + self.batch_shape
        eps = jax.random.normal(k1, shape)
        z = jax.random.normal(k2, sample_shape + (self.n_runs, self.factor.shape[-1]))
        shared = jnp.sum(self.factor * jnp.take(z, self.run, axis=-2), axis=-1)
        return self.loc + jnp.sqrt(self.diag) * eps + shared

    @property
    def mean(self):
        """The law's log expected values."""
        return self.loc

    @property
    def variance(self):
        """Each record's marginal variance, ``d_i + |F_i|^2``."""
        return self.diag + jnp.sum(self.factor**2, axis=-1)


def run_slots(index: np.ndarray, n_runs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each run's records as a padded block: ``(slots, mask, position)``.

    ``slots[r, j]`` (``(n_runs, longest)``) is the ``j``-th record of run ``r``, 0 beyond its
    records, where ``mask`` is false; ``position[i]`` is record ``i``'s place ``j`` in its
    run's block; from each record's run ``index`` (``0 .. n_runs - 1``).
    """
    index = np.asarray(index)
    counts = np.bincount(index, minlength=n_runs) if index.size else np.zeros(n_runs, int)
    slots = np.zeros((n_runs, max(int(counts.max(initial=0)), 1)), dtype=np.int32)
    mask = np.zeros(slots.shape, dtype=bool)
    position = np.zeros(index.shape, dtype=np.int32)
    for r in range(n_runs):
        mine = np.flatnonzero(index == r)
        slots[r, :mine.size], mask[r, :mine.size] = mine, True
        position[mine] = np.arange(mine.size)
    return slots, mask, position


def run_index(runs: np.ndarray) -> tuple[np.ndarray, int]:
    """Each record's run as ``0 .. n - 1`` and the number of runs ``n``."""
    _, index = np.unique(np.asarray(runs), return_inverse=True)
    return index.astype(np.int32), int(index.max()) + 1 if index.size else 0
