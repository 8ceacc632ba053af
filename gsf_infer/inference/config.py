"""The sampler's settings (:class:`SamplerConfig`).

They cover the chains, warm-up, draws, target acceptance, the adaptive budget and the optimiser's
starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SamplerConfig:
    """Settings of the sampler (numpyro's names).

    Attributes
    ----------
    num_chains, num_warmup, num_samples : int
        Chains, warm-up iterations and kept draws per chain.
    seed : int
        Seed of the PRNG key.
    target_accept_prob : float
        NUTS target acceptance (0.9: the hierarchical amplitudes diverge at numpyro's 0.8).
    max_tree_depth : int
        NUTS tree depth cap.
    num_starts : int
        Starts of the multi-start MAP.
    adam_steps : int
        Adam steps before the BFGS polish.
    prior_draws : int
        Draws from the prior (prior group, contraction, starts).
    overdispersion : float
        Spread of the chains' starting points, in Laplace standard deviations.
    max_iter : int
        L-BFGS iterations per start.
    adaptive : bool
        Act on what the first run shows: chains on the Laplace metric that diverge rarely (at
        most one transition in a thousand) and mix well are rerun on it at the next target
        acceptance; chains on it that diverge more (or still), disagree
        or mix badly are rerun adapting a dense mass matrix (``adapt_mass``); divergences rerun
        the chains at ``retry_target_accept``, and those that remain at ``final_target_accept``;
        otherwise an R-hat in ``(1.01, 1.05]`` or a
        bulk ESS below ``min_ess`` extends the chains (same adaptation) by ``num_samples`` draws
        at a time, up to ``max_draws`` per chain.
    max_draws : int
        Budget of kept draws per chain when extending.
    retry_target_accept : float
        Target acceptance of the rerun after divergences.
    final_target_accept : float
        Target acceptance of the last rerun, when divergences remain at ``retry_target_accept``
        (smaller steps still, longer trees).
    min_ess : float
        Bulk ESS the extension aims at.
    fix_unidentified : bool
        With ``adaptive``: fix at the optimum the principal directions of the Hessian whose
        curvature comes less than ``identified_share`` from the likelihood (the data are silent
        there), and sample the others (:func:`gsf_infer.inference.optimize.soft_subspace`).
    identified_share : float
        The likelihood share of the curvature below which a direction counts as unidentified.
    adapt_mass : bool
        Adapt a dense mass matrix during warm-up (numpyro's windowed adaptation). Off, the
        metric is the Laplace approximation's (the chains run in coordinates it whitens) and
        warm-up tunes the step size only, which a short warm-up does well; a dense estimate
        from a short warm-up is noisy and makes the trees longer, not shorter.
    """

    num_chains: int = 4
    num_warmup: int = 300
    num_samples: int = 1000
    seed: int = 0
    target_accept_prob: float = 0.9
    max_tree_depth: int = 10
    num_starts: int = 8
    adam_steps: int = 300
    prior_draws: int = 1000
    overdispersion: float = 2.0
    max_iter: int = 2000
    adaptive: bool = True
    max_draws: int = 3000
    retry_target_accept: float = 0.97
    final_target_accept: float = 0.99
    min_ess: float = 400.0
    fix_unidentified: bool = True
    identified_share: float = 0.2
    adapt_mass: bool = False

    def as_attrs(self) -> dict[str, Any]:
        """As a flat dict (DataTree attributes, summary.json)."""
        return {
            "chains": self.num_chains,
            "warmup": self.num_warmup,
            "draws": self.num_samples,
            "seed": self.seed,
            "target_accept_prob": self.target_accept_prob,
            "max_tree_depth": self.max_tree_depth,
            "fix_unidentified": int(self.adaptive and self.fix_unidentified),
            "adapt_mass": int(self.adapt_mass),
        }
