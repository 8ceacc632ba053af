"""The settings of a model: which model, evolution function, tier, likelihood and pruning metric.

:class:`ModelSettings` is hashable (a static argument of compiled programs) and checks its values
against the names the forward laws know. The constants name the models, likelihoods, the kinds
that see the learning frontier or the capacity, the margin of the loss floor's prior and the
exponents every fit reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gsf_infer.errors import InputError, Problem

MODELS = ("gsf", "deviation", "chinchilla")


LIKELIHOODS = ("lognormal", "student")


#: Discrepancies between a run's records and the law (:mod:`gsf_infer.model.discrepancy`).
DISCREPANCIES = ("none", "gp", "spectral")


#: Kinds whose law involves the learning frontier, and those that involve capacity.
FRONTIER_KINDS = frozenset({"loss", "quantization", "pruning", "density", "modes"})


CAPACITY_KINDS = frozenset({"loss", "quantization", "pruning", "density"})


#: Upper bound of the irreducible loss ``E`` as a multiple of the smallest observed loss.
E_MARGIN = 1.1


#: The named exponents reported for every fit.
EXPONENTS = ("a", "b", "rho", "chi", "gamma", "rho_over_b")


@dataclass(frozen=True)
class ModelSettings:
    """How the model is built.

    Attributes
    ----------
    model : str
        ``gsf``, ``deviation`` or ``chinchilla``.
    g : str
        Family of ``g`` (:data:`gsf_infer.model.forward.FAMILIES`).
    tier : str
        ``continuum`` (default), ``asymptotic`` or ``exact``.
    likelihood : str
        ``lognormal`` or ``student``.
    pruning_metric : str
        ``seed`` (unweighted, the default) or ``function`` (lambda-weighted).
    student_df : float
        Degrees of freedom of the Student-t likelihood.
    k_max : int
        Capacity cap of the ``exact`` tier (its cost grows with it).
    discrepancy : str
        ``none`` (records independent given the law), ``gp`` (a smooth function per run and
        kind added to the law, :mod:`gsf_infer.model.discrepancy`) or ``spectral`` (each run's
        realised target powers, marginalised into a low-rank covariance of its records,
        :mod:`gsf_infer.model.realisation`).
    split_gradient : bool
        Differentiate the continuum sums' quadrature split points too (the exact gradient of
        the sums, about 1.5x the cost per gradient). The sampler switches it on where the
        cheaper gradient disagrees with the density's own
        (:func:`gsf_infer.inference.sampling.gradient_mismatch`).
    """

    model: str = "gsf"
    g: str = "monomial"
    tier: str = "continuum"
    likelihood: str = "lognormal"
    pruning_metric: str = "seed"
    student_df: float = 4.0
    k_max: int = 20_000
    discrepancy: str = "none"
    split_gradient: bool = False

    def check(self) -> None:
        """Raise :class:`InputError` for an unknown option value."""
        # deferred: the settings are checked by the CLI before JAX is configured
        from gsf_infer.model.forward import FAMILIES, PRUNING_METRICS, TIERS

        problems = []
        for label, value, allowed in (
            ("--model", self.model, MODELS),
            ("--g", self.g, tuple(FAMILIES)),
            ("--tier", self.tier, TIERS),
            ("--likelihood", self.likelihood, LIKELIHOODS),
            ("--pruning-metric", self.pruning_metric, PRUNING_METRICS),
            ("--discrepancy", self.discrepancy, DISCREPANCIES),
        ):
            if value not in allowed:
                problems.append(
                    Problem(
                        "gsf-infer", f"{label} must be one of {', '.join(allowed)}", value=value
                    )
                )
        if self.discrepancy == "spectral" and self.likelihood != "lognormal":
            problems.append(Problem(
                "gsf-infer", "--discrepancy spectral needs --likelihood lognormal (its "
                "covariance is that of a normal on the log scale)", value=self.likelihood,
            ))
        if problems:
            raise InputError(problems)

    def as_attrs(self) -> dict[str, Any]:
        """As a flat dict for DataTree attributes and summary.json."""
        return {
            "model": self.model,
            "g": self.g,
            "tier": self.tier,
            "likelihood": self.likelihood,
            "pruning_metric": self.pruning_metric,
            "student_df": self.student_df,
            "discrepancy": self.discrepancy,
        }
