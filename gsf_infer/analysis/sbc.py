"""Rank statistics of simulation-based calibration (Talts et al. 2018) and their uniformity tests.

A simulation draws ``theta ~ p(theta)`` and ``y ~ p(y | theta)``; its fit gives posterior
draws ``theta_1..theta_L`` (thinned evenly over all chains). The rank of the truth, the number
``r`` of draws ``theta_l < theta``, is uniform on ``0..L`` whenever the posterior is computed
correctly (Talts et al. 2018, Theorem 1), whatever the prior and however uninformative the
data. A rank histogram shows how it fails: a slope is a bias, a U posteriors too narrow, a
hump posteriors too wide.

Uniformity test: Pearson's chi-square on ``B`` equal-probability bins of the rank (``B``
divides ``L + 1``; by default the largest of 2..20 that leaves at least 5 expected ranks per
bin) — the decision statistic; also the Kolmogorov–Smirnov test of ``(r + 1/2)/(L + 1)``
against the uniform distribution (conservative for discrete ranks, by at most ``1/(2(L+1))``
in the statistic).

The settings of ``gsf-infer calibrate`` are in :mod:`gsf_infer.analysis.sbc_settings`; the driver
is :mod:`gsf_infer.analysis.calibrate`.

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A. and Gelman, A. (2018). Validating
Bayesian inference algorithms with simulation-based calibration. arXiv:1804.06788.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from gsf_infer.analysis.sbc_settings import CalibrationSettings

#: Parameters whose ranks are tested.
PARAMETERS: tuple[str, ...] = ("a", "b", "rho")


@dataclass
class CalibrationResult:
    """What :func:`gsf_infer.analysis.calibrate.calibrate` produced.

    Attributes
    ----------
    ranks : pandas.DataFrame
        One row per simulation: truths, ranks, diagnostics, status.
    tests : dict
        Per parameter: the uniformity tests (all ranked simulations, and unflagged ones).
    summary : dict
        The ``calibration.json`` object: settings, design, counts, tests, wall time.
    """

    ranks: pd.DataFrame
    tests: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)


def rank_of(truth: float, draws: np.ndarray, count: int) -> int:
    """Rank of ``truth`` among ``count`` draws thinned evenly from ``draws`` (all chains).

    Parameters
    ----------
    truth : float
    draws : numpy.ndarray, shape (chain, draw)
    count : int
        ``L``; the rank is in ``0..L``.

    Returns
    -------
    int
        The number of kept draws below ``truth``.
    """
    flat = np.asarray(draws, dtype=float).reshape(-1)
    idx = np.round(np.linspace(0, flat.size - 1, count)).astype(int)
    return int(np.sum(flat[idx] < truth))


def uniformity_tests(ranks: np.ndarray, count: int, bins: int) -> dict[str, Any]:
    """Chi-square (``bins`` equal-probability bins) and KS tests of ranks uniform on ``0..count``.

    With ``n`` ranks and ``O_j`` of them in bin ``j``, the statistic is
    ``sum_j (O_j - n/B)^2 / (n/B)``, chi-square with ``B - 1`` degrees of freedom under
    uniformity.

    Parameters
    ----------
    ranks : numpy.ndarray of int
    count : int
        ``L``.
    bins : int
        Must divide ``count + 1``.

    Returns
    -------
    dict
        ``n``, ``bins``, ``counts``, ``chi2`` (statistic, df, p_value), ``ks`` (statistic,
        p_value). Fewer than two ranks give ``None`` statistics.
    """
    ranks = np.asarray(ranks, dtype=int)
    n = int(ranks.size)
    width = (count + 1) // bins
    counts = np.bincount(ranks // width, minlength=bins)[:bins] if n else np.zeros(bins, int)
    out: dict[str, Any] = {"n": n, "bins": int(bins), "counts": counts.tolist()}
    if n < 2:
        out["chi2"] = {"statistic": None, "df": bins - 1, "p_value": None}
        out["ks"] = {"statistic": None, "p_value": None}
        return out
    expected = n / bins
    chi2 = float(np.sum((counts - expected) ** 2) / expected)
    out["chi2"] = {
        "statistic": chi2,
        "df": bins - 1,
        "p_value": float(stats.chi2.sf(chi2, bins - 1)),
    }
    ks = stats.kstest((ranks + 0.5) / (count + 1), "uniform")
    out["ks"] = {"statistic": float(ks.statistic), "p_value": float(ks.pvalue)}
    return out


def rank_tests(
    table: pd.DataFrame, parameters: tuple[str, ...], settings: CalibrationSettings
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Test every parameter's ranks for uniformity, over all ranked and unflagged fits.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per simulation, with ``rank_<p>`` (missing where the fit failed) and
        ``flagged``.
    parameters : tuple of str
    settings : CalibrationSettings

    Returns
    -------
    ranked : pandas.DataFrame
        The rows with every rank.
    tests : dict
        Per parameter, :func:`uniformity_tests` of all ranked simulations, with the same
        tests on the unflagged ones under ``unflagged_only``.
    """
    ranked = table.dropna(subset=[f"rank_{p}" for p in parameters])
    clean = ranked[~ranked["flagged"].astype(bool)]
    bins = settings.chi2_bins(len(ranked))
    tests = {}
    for p in parameters:
        tests[p] = uniformity_tests(ranked[f"rank_{p}"].to_numpy(int), settings.ranks, bins)
        tests[p]["unflagged_only"] = uniformity_tests(
            clean[f"rank_{p}"].to_numpy(int), settings.ranks, settings.chi2_bins(len(clean))
        )
    return ranked, tests
