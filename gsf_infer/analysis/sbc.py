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

:class:`CalibrationSettings` holds every setting of ``gsf-infer calibrate`` (the driver is
:mod:`gsf_infer.analysis.calibrate`). Imports NumPy, SciPy and pandas.

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

from gsf_infer.errors import InputError, Problem

#: Parameters whose ranks are tested.
PARAMETERS: tuple[str, ...] = ("a", "b", "rho")


@dataclass(frozen=True)
class CalibrationSettings:
    """How many simulations and how each fit samples.

    Attributes
    ----------
    simulations : int
        Number of ``(theta, y)`` draws, each fitted once.
    chains, warmup, draws : int
        NUTS chains (vectorized), warm-up iterations and kept draws per chain.
    ranks : int
        ``L``: posterior draws kept (evenly thinned over all chains) to rank a truth among;
        ranks take the values ``0..L``.
    seed : int
        Seed of every random choice (generation, starts, NUTS).
    num_starts : int
        Starts of the multi-start MAP (the prior median and prior draws pulled half-way
        towards it, as in :func:`gsf_infer.inference.sampling.sample`).
    prior_draws : int
        Prior draws of the fitting model from which starts are picked.
    max_iter : int
        L-BFGS iterations per start (:func:`gsf_infer.inference.optimize.find_optima`).
    target_accept_prob : float
        NUTS target acceptance (as :class:`gsf_infer.inference.config.SamplerConfig`).
    max_tree_depth : int
        NUTS tree depth cap.
    overdispersion : float
        Spread of the chains' starts in Laplace standard deviations.
    max_r_hat : float
        A fit with a larger R-hat (over every unconstrained coordinate) is flagged; short
        chains make 1.01 too strict a bar here.
    bins : int or None
        Bins of the chi-square test (must divide ``ranks + 1``); ``None`` picks them.
    """

    simulations: int = 100
    chains: int = 2
    warmup: int = 300
    draws: int = 300
    ranks: int = 99
    seed: int = 0
    num_starts: int = 4
    prior_draws: int = 500
    max_iter: int = 2000
    target_accept_prob: float = 0.9
    max_tree_depth: int = 10
    overdispersion: float = 2.0
    max_r_hat: float = 1.05
    bins: int | None = None

    def check(self) -> None:
        """Raise :class:`InputError` listing every invalid setting."""
        problems = []

        def need(ok: bool, option: str, message: str, value: Any) -> None:
            if not ok:
                problems.append(Problem("gsf-infer calibrate", f"{option} {message}", value=value))

        for name in ("simulations", "chains", "warmup", "draws", "ranks", "num_starts",
                     "prior_draws", "max_iter"):
            value = getattr(self, name)
            need(isinstance(value, int) and value >= 1, "--" + name.replace("_", "-"),
                 "must be an integer >= 1", value)
        if isinstance(self.ranks, int) and self.ranks >= 1:
            need(
                self.ranks <= self.chains * self.draws,
                "--ranks",
                f"cannot exceed chains x draws = {self.chains * self.draws}",
                self.ranks,
            )
            if self.bins is not None:
                need(
                    isinstance(self.bins, int)
                    and self.bins >= 2
                    and (self.ranks + 1) % self.bins == 0,
                    "--bins",
                    f"must be an integer >= 2 dividing ranks + 1 = {self.ranks + 1}",
                    self.bins,
                )
        need(0 < self.target_accept_prob < 1, "--target-accept", "must lie in (0, 1)",
             self.target_accept_prob)
        need(self.max_r_hat > 1, "--max-r-hat", "must be > 1", self.max_r_hat)
        if problems:
            raise InputError(problems)

    def chi2_bins(self, n: int) -> int:
        """Bins of the chi-square test for ``n`` ranks (see the module docstring)."""
        if self.bins is not None:
            return self.bins
        divisors = [b for b in range(2, 21) if (self.ranks + 1) % b == 0]
        fitting = [b for b in divisors if n / b >= 5]
        if fitting:
            return max(fitting)
        return min(divisors) if divisors else 1


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
