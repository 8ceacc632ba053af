r"""The invariant ``chi + gamma = rho``: when it can be tested, and the verdict on it.

This is the one place the verdict is decided: it turns the ``deviation`` model's posterior into a
verdict (:func:`verdict`), after the testability rules stated with the model
(:func:`gsf_infer.model.deviations.missing_requirements`,
:func:`gsf_infer.model.deviations.deviations_for`).

The deviation model is the ``gsf`` model plus one parameter per way the invariant can break,
each zero under the theory:

- ``delta_Q``: quantization weights mode ``k`` by ``k^(b - a + delta_Q)`` instead of
  ``w_k^2 ∝ k^(b - a)``, so that its growth exponent is ``gamma_Q = (1 + b - a + delta_Q) rho/b``;
- ``eps_F``: the frontier that pruning and density see moves at ``(rho/b) exp(eps_F)``, so that
  the elasticity they measure is ``rho_F = rho exp(eps_F)``;
- ``delta_L``: the loss's target power falls as ``k^-(a + delta_L)``, so that
  ``chi_L = (a + delta_L - 1) rho/b`` (only where both ``a`` and the dynamics' rate are
  measured without the loss: spectrum records with target powers, and ``modes`` records).

Then ``delta = chi_L + gamma_Q - rho_F`` and

.. math:: \frac{\delta}{\rho_F} = \left(1 + \frac{\delta_L + \delta_Q}{b}\right)
          e^{-\varepsilon_F} - 1 ,

zero exactly when the invariant of Zhang, "A Generalized Spectral Framework to Explain Neural
Scaling and Compression Dynamics", holds (``docs/theory.md`` gives the derivation).

Verdict at the highest-density interval of ``delta/rho`` (probability ``ci_prob``) against a
region of practical equivalence ``|delta/rho| <= rope``: ``supported`` (inside), ``violated``
(wholly outside), ``inconclusive`` (otherwise), ``untestable`` (a needed kind is missing, named)
and ``out_of_domain`` (most posterior mass on ``1 + b - a <= 0``, where quantization saturates
and the relation is not expected to hold). A verdict from a fit that did not converge is marked
untrusted, with the reason. Pure NumPy on draws (and ArviZ's array statistics).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from arviz_stats.base import array_stats

from gsf_infer.model.deviations import DEVIATIONS

STATUSES = ("supported", "violated", "inconclusive", "untestable", "out_of_domain")

@dataclass(frozen=True)
class InvariantSettings:
    """Settings of the check: ROPE half-width on ``delta/rho`` and interval probability."""

    rope: float = 0.1
    ci_prob: float = 0.94


def hdi(values: np.ndarray, prob: float) -> tuple[float, float]:
    """Highest-density interval of a 1-d sample (ArviZ's array implementation)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    low, high = array_stats.hdi(values, prob)
    return float(low), float(high)


def untestable(missing: Iterable[str], settings: InvariantSettings) -> dict[str, Any]:
    """Return the invariant object when a needed kind is missing."""
    return {
        "status": "untestable",
        "delta": {"mean": None, "hdi_low": None, "hdi_high": None},
        "p_in_rope": None,
        "rope": settings.rope,
        "missing": list(missing),
        "trusted": True,
    }


def status_of(low: float, high: float, p_saturated: float, rope: float) -> str:
    """Decide the verdict's status from the HDI of ``delta/rho`` and ``P(1 + b - a <= 0)``."""
    if p_saturated > 0.5:
        return "out_of_domain"
    if -rope <= low and high <= rope:
        return "supported"
    if high < -rope or low > rope:
        return "violated"
    return "inconclusive"


def verdict(
    draws: Mapping[str, np.ndarray],
    settings: InvariantSettings,
    convergence_problems: Iterable[str] = (),
) -> dict[str, Any]:
    """Build the invariant object (``summary.json``'s ``invariant``) from deviation-model draws.

    Parameters
    ----------
    draws : mapping
        Flat posterior draws of ``delta_over_rho``, ``delta``, ``a``, ``b`` and of the
        deviation parameters present.
    settings : InvariantSettings
        ROPE and interval probability.
    convergence_problems : iterable of str
        What went wrong with the sampler (empty when it converged); a verdict from a fit with
        problems is marked untrusted, with them as the reason.

    Returns
    -------
    dict
        ``status``, ``delta`` (mean and HDI), ``p_in_rope``, ``rope``, ``missing``,
        ``delta_over_rho`` (mean and HDI), ``p_saturated``, ``deviations`` (mean and HDI of
        each), ``trusted`` and ``why_untrusted``.
    """
    ratio = np.asarray(draws["delta_over_rho"], dtype=float).ravel()
    delta = np.asarray(draws["delta"], dtype=float).ravel()
    slope = (1.0 + np.asarray(draws["b"], float) - np.asarray(draws["a"], float)).ravel()
    ok = np.isfinite(ratio) & np.isfinite(delta)
    low, high = hdi(ratio[ok], settings.ci_prob)
    d_low, d_high = hdi(delta[ok], settings.ci_prob)
    p_saturated = float(np.mean(slope <= 0.0))
    problems = list(convergence_problems)
    out = {
        "status": status_of(low, high, p_saturated, settings.rope),
        "delta": {"mean": float(np.mean(delta[ok])), "hdi_low": d_low, "hdi_high": d_high},
        "p_in_rope": float(np.mean(np.abs(ratio[ok]) <= settings.rope)),
        "rope": settings.rope,
        "missing": [],
        "delta_over_rho": {"mean": float(np.mean(ratio[ok])), "hdi_low": low, "hdi_high": high},
        "p_saturated": p_saturated,
        "deviations": {},
        "trusted": not problems,
        "why_untrusted": "; ".join(problems),
    }
    for name in DEVIATIONS:
        if name in draws:
            values = np.asarray(draws[name], dtype=float).ravel()
            lo, hi = hdi(values, settings.ci_prob)
            out["deviations"][name] = {"mean": float(np.mean(values)), "hdi_low": lo,
                                       "hdi_high": hi}
    return out


def prior_sensitivity(
    draws: Mapping[str, np.ndarray],
    deviation_scale: float,
    settings: InvariantSettings,
    factor: float = 2.0,
) -> dict[str, Any]:
    """Redo the verdict under deviation priors ``factor`` times as wide, by importance reweighting.

    The deviation parameters have independent ``Normal(0, s)`` priors; widening them to
    ``Normal(0, factor s)`` multiplies the posterior by the ratio of the priors, so the draws
    are reweighted by it (Pareto-smoothed importance sampling) and resampled. The Pareto
    shape ``k`` of the weights says whether the reweighting can be trusted (``k < 0.7``).
    """
    names = [n for n in DEVIATIONS if n in draws]
    ratio = np.asarray(draws["delta_over_rho"], dtype=float).ravel()
    log_w = np.zeros_like(ratio)
    for name in names:
        x = np.asarray(draws[name], dtype=float).ravel()
        log_w += 0.5 * x**2 / deviation_scale**2 * (1.0 - 1.0 / factor**2)
    # ArviZ's psislw takes the negative log ratios (the log-likelihood, for LOO)
    log_w, khat = array_stats.psislw(-log_w)
    w = np.exp(np.asarray(log_w) - np.max(log_w))
    w /= w.sum()
    rng = np.random.default_rng(0)
    pick = rng.choice(ratio.size, size=ratio.size, p=w)
    low, high = hdi(ratio[pick], settings.ci_prob)
    slope = (1.0 + np.asarray(draws["b"], float) - np.asarray(draws["a"], float)).ravel()[pick]
    return {
        "factor": factor,
        "status": status_of(low, high, float(np.mean(slope <= 0)), settings.rope),
        "delta_over_rho": {"hdi_low": low, "hdi_high": high},
        "pareto_k": float(np.asarray(khat)),
        "reliable": bool(float(np.asarray(khat)) < 0.7),
    }


def flat_draws(posterior, names: Iterable[str]) -> dict[str, np.ndarray]:
    """Flat draws of the named variables present in a posterior Dataset."""
    return {
        name: np.asarray(posterior[name].values, dtype=float).ravel()
        for name in names
        if name in posterior.data_vars
    }


#: The variables :func:`verdict` and :func:`prior_sensitivity` read.
VERDICT_VARIABLES = ("delta_over_rho", "delta", "a", "b", *DEVIATIONS)
