r"""Training the read-out by minibatch SGD on fresh samples, and its exact expected loss.

This module runs SGD on one :class:`~gsf_infer.simulate.rf.system.RFSystem` (two samplers that
draw the same process) and computes the expected population loss of SGD in closed form, the
reference both samplers are tested against. It imports NumPy and the siblings
:mod:`.settings` and :mod:`.system`.

Notes
-----
One step on a fresh batch ``(x_b, y_b)``, ``b = 1..B``, ``z = F x``, ``y = w.x + noise``:

.. math::

    v \leftarrow v - \eta \Big(\frac{1}{B} \sum_b (v \cdot z_b - y_b) z_b + \mathrm{wd}\, v\Big).

Under gradient descent (``B -> infinity``) the whitened kernel coordinates obey
``E u_k(t) = r_k (1 - (1 - eta s_k)^t)``, so mode ``k`` is learned to the fraction
``1 - e^{-g_k}`` with ``g_k = -t log(1 - eta s_k) = eta s_k t (1 + eta s_k/2 + ...)``: the
``ntk`` family ``g = c lambda t`` with ``c = eta`` (``m = n = 1``, ``rho = 1``), the linear
model under gradient descent of Lee et al., "Wide Neural Networks of Any Depth Evolve as
Linear Models Under Gradient Descent" (NeurIPS 2019). Weight decay gives the ``ridge`` family,
``u_k -> r_k s_k/(s_k + wd) (1 - (1 - eta (s_k + wd))^t)``. The iteration diverges beyond
``eta ~ 2 / s_1``.

SGD adds noise. To leading order ``E L_SGD / L_GD - 1 = eta tr(Sigma) / (2B)``; in a mode not
yet learned it adds ``~ eta^2 s_k^2 L t / B`` to ``u_k^2`` against the signal
``p_k (eta s_k t)^2``, and learned fractions scatter by ``~ sqrt(eta L / 2B) / |w_k|``. The
``reduced`` sampler makes the batch size free, which is why the default batch is large.
"""

from __future__ import annotations

import math

import numpy as np

from gsf_infer.simulate.rf.settings import RFSettings
from gsf_infer.simulate.rf.system import RFSystem

#: SGD steps whose random numbers are drawn at once (reduced sampler).
CHUNK = 256


def checkpoint_steps(steps: int, count: int) -> np.ndarray:
    """Log-spaced integer steps in ``[1, steps]`` (duplicates merged), ascending.

    Parameters
    ----------
    steps, count : int

    Returns
    -------
    numpy.ndarray of int64
    """
    return np.unique(np.round(np.geomspace(1, steps, count)).astype(np.int64))


def run_sgd(
    system: RFSystem,
    settings: RFSettings,
    times: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Train the read-out by minibatch SGD on fresh samples from ``v = 0``.

    Parameters
    ----------
    system : RFSystem
    settings : RFSettings
        ``lr``, ``batch``, ``weight_decay``, ``label_noise``, ``sampler``.
    times : numpy.ndarray of int
        Ascending steps at which to record the read-out.
    rng : numpy.random.Generator
        All sampling noise.

    Returns
    -------
    numpy.ndarray, shape (len(times), N)
        The read-out at each checkpoint in kernel-eigenbasis coordinates ``v' = U^T v``.

    Notes
    -----
    ``direct`` draws the ``x_b`` in ``R^D`` (cost ``B D N`` per step). ``reduced`` draws the
    same update from its exact law at cost ``O(N)``: in whitened kernel coordinates
    ``z' = U^T z = sqrt(s) xi`` with ``xi ~ N(0, I_N)`` and ``y = r.xi + n`` with
    ``n ~ N(0, residual + noise^2)`` independent of ``xi``; with ``u = sqrt(s) v'`` and
    ``d = u - r`` the step needs only ``G = sum_b e_b xi_b``, ``e_b = xi_b.d - n_b``. Writing
    ``xi_b = g_b d/|d| + h_b`` (``g_b ~ N(0,1)``, ``h_b ~ N(0, I - dd^T/|d|^2)``) gives
    ``G = (e.g) d/|d| + |e| P_perp zeta`` with ``zeta ~ N(0, I_N)``, exactly in law; and
    ``e.g``, ``|e|^2`` depend on the batch only through the 2x2 Wishart matrix of ``(g, n)``,
    drawn by Bartlett's decomposition (Bartlett, "On the theory of statistical regression",
    Proc. R. Soc. Edinburgh 53, 1933). The batch size therefore costs nothing.
    """
    times = np.asarray(times, dtype=np.int64)
    if settings.sampler == "direct":
        return _sgd_direct(system, settings, times, rng)
    return _sgd_reduced(system, settings, times, rng)


def _sgd_direct(
    system: RFSystem, settings: RFSettings, times: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """SGD with the inputs drawn in ``R^D`` (and the tail as independent feature noise)."""
    F = system.features
    if F is None:
        raise ValueError("the direct sampler needs make_system(..., keep_features=True)")
    out = np.empty((times.size, system.width))
    eta, batch, wd = float(settings.lr), int(settings.batch), float(settings.weight_decay)
    sqrt_lam = np.sqrt(system.lam)
    tail_sd = math.sqrt(system.inputs.tail_lambda / system.width)
    tail_target_sd = math.sqrt(system.inputs.tail_power)
    v = np.zeros(system.width)
    step, i = 0, 0
    while i < times.size:
        while step < times[i]:
            x = rng.standard_normal((batch, system.dim)) * sqrt_lam
            z = x @ F.T + tail_sd * rng.standard_normal((batch, system.width))
            y = x @ system.w + tail_target_sd * rng.standard_normal(batch)
            if settings.label_noise > 0:
                y = y + settings.label_noise * rng.standard_normal(batch)
            err = z @ v - y
            v = v - eta * (z.T @ err / batch + wd * v)
            step += 1
        out[i] = system.U.T @ v
        i += 1
    return out


def _sgd_reduced(
    system: RFSystem, settings: RFSettings, times: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """SGD drawn exactly in law in whitened kernel coordinates (see :func:`run_sgd`)."""
    out = np.empty((times.size, system.width))
    eta, batch, wd = float(settings.lr), int(settings.batch), float(settings.weight_decay)
    noise_sd = math.sqrt(max(system.residual, 0.0) + settings.label_noise**2)
    s, r = system.s, system.r
    decay = 1.0 - eta * wd
    u = np.zeros(system.width)
    done = 0
    for i, stop in enumerate(times):
        while done < stop:
            m = int(min(CHUNK, stop - done))
            zeta = rng.standard_normal((m, system.width))
            s_zeta = s * zeta
            # (g.g, g.n, n.n) of two independent standard normal B-vectors (Bartlett).
            c1 = np.sqrt(rng.chisquare(batch, m))
            c2 = np.sqrt(rng.chisquare(batch - 1, m)) if batch > 1 else np.zeros(m)
            mix = rng.standard_normal(m)
            gg, gn, nn = c1 * c1, c1 * mix, mix * mix + c2 * c2
            for j in range(m):
                d = u - r
                nd2 = float(d @ d)
                nd = math.sqrt(nd2)
                eg = nd * gg[j] - noise_sd * gn[j]
                ee = nd2 * gg[j] - 2.0 * nd * noise_sd * gn[j] + noise_sd**2 * nn[j]
                beta = math.sqrt(max(ee, 0.0))
                step_vec = beta * s_zeta[j]
                if nd > 0:
                    coef = (eg - beta * float(zeta[j] @ d) / nd) / nd
                    step_vec = step_vec + coef * (s * d)
                u = (decay * u if wd else u) - (eta / batch) * step_vec
            done += m
        out[i] = u / np.sqrt(s)
    return out


def expected_sgd_loss(system: RFSystem, settings: RFSettings, times: np.ndarray) -> np.ndarray:
    r"""Exact expected population loss of SGD (over the sampling noise) at the given steps.

    Parameters
    ----------
    system : RFSystem
    settings : RFSettings
    times : numpy.ndarray of int
        Ascending steps.

    Returns
    -------
    numpy.ndarray, shape (len(times),)

    Notes
    -----
    With ``d = u - r`` (whitened kernel coordinates), ``A = 1 - eta wd`` and Gaussian inputs,
    the mean ``mu_k = E d_k`` and the second moments ``q_k = E d_k^2`` close exactly:

    .. math::

        \mu_k' &= (A - \eta s_k) \mu_k - \eta\, \mathrm{wd}\, r_k \\
        q_k' &= q_k \Big[(A - \eta s_k)^2 + \frac{\eta^2 s_k^2}{B}\Big]
               + \frac{\eta^2 s_k^2}{B} \Big(\sum_j q_j + \sigma_n^2\Big)
               - 2 \eta\, \mathrm{wd}\, r_k (A - \eta s_k) \mu_k + (\eta\, \mathrm{wd}\, r_k)^2

    (``E[xi_k^2 (xi.d)^2] = |d|^2 + 2 d_k^2`` for Gaussian ``xi``; ``sigma_n^2`` = residual +
    label noise). The loss is ``sum_k q_k + residual + label_noise^2``. This is independent of
    the sampler and serves as its reference.
    """
    eta, batch, wd = float(settings.lr), int(settings.batch), float(settings.weight_decay)
    s, r = system.s, system.r
    A = 1.0 - eta * wd
    sig2 = max(system.residual, 0.0) + settings.label_noise**2
    mu = -r.copy()
    q = r**2
    contraction = (A - eta * s) ** 2 + eta**2 * s**2 / batch
    inject = eta**2 * s**2 / batch
    out = np.empty(len(times))
    step, i = 0, 0
    times = np.asarray(times, dtype=np.int64)
    while i < times.size:
        while step < times[i]:
            total = float(q.sum())
            q_new = q * contraction + inject * (total + sig2)
            if wd > 0:
                q_new += -2 * eta * wd * r * (A - eta * s) * mu + (eta * wd * r) ** 2
            mu = (A - eta * s) * mu - eta * wd * r
            q = q_new
            step += 1
        out[i] = float(q.sum()) + max(system.residual, 0.0) + settings.label_noise**2
        i += 1
    return out
