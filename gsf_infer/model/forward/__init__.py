"""The theory's forward laws as pure JAX functions (no numpyro, no I/O).

- :mod:`.families`: the ``g`` families and their elasticities;
- :mod:`.sums`: sums over modes in the ``exact`` and ``continuum`` tiers;
- :mod:`.laws`: expected values of every record kind in every tier;
- :mod:`.derived`: ``rho``, ``chi``, ``gamma``, ``rho/b``, the frontier, the critical pruning rate.
"""

from gsf_infer.model.forward.derived import Exponents, critical_pruning_rate, exponents, k_star
from gsf_infer.model.forward.families import FAMILIES, Family, GParams, get_family
from gsf_infer.model.forward.laws import PRUNING_METRICS, TIERS, Spectrum

__all__ = [
    "FAMILIES",
    "PRUNING_METRICS",
    "TIERS",
    "Exponents",
    "Family",
    "GParams",
    "Spectrum",
    "critical_pruning_rate",
    "exponents",
    "get_family",
    "k_star",
]
