"""The settings of simulation-based calibration (``gsf-infer calibrate``), with their defaults.

Standard library only, so that the command line can take its defaults from here without
loading NumPy, SciPy or pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gsf_infer.errors import InputError, Problem


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
    batch : int
        Simulations fitted together (their optimisers' gradients evaluated in one vectorised
        call, their chains advanced by one compiled program); 1 fits them one after the other.
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
    batch: int = 8

    def check(self) -> None:
        """Raise :class:`InputError` listing every invalid setting."""
        problems = []

        def need(ok: bool, option: str, message: str, value: Any) -> None:
            if not ok:
                problems.append(Problem("gsf-infer calibrate", f"{option} {message}", value=value))

        for name in ("simulations", "chains", "warmup", "draws", "ranks", "num_starts",
                     "prior_draws", "max_iter", "batch"):
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
