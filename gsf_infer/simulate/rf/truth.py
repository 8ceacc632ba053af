r"""The known truth of a ``simulate rf`` data set: how the system maps onto the theory.

This module turns the settings and the facts measured during a simulation into the truth
(``truth.json``) and the one-line provenance of the records table. It imports only the
sibling :mod:`.settings`.

Notes
-----
The theory is Zhang, "A Generalized Spectral Framework to Explain Neural Scaling and
Compression Dynamics": modes ``k`` with eigenvalues ``lambda_k ∝ k^-b`` and target powers
``p_k ∝ k^-a`` learned as ``phi_k = 1 - exp(-g(lambda_k, t))``. Here the modes are the kernel
eigenmodes of the features (``lambda_k <-> s_k``, ``p_k <-> r_k^2``) and

- *evolution*: a linear model under gradient descent, ``g_k = -t log(1 - eta s_k) ~ eta s_k t``:
  the ``ntk`` family with ``c = eta``, ``m = n = 1``, hence

  .. math::

      \rho = 1, \qquad \chi = \frac{a-1}{b}, \qquad \gamma = \frac{1+b-a}{b},
      \qquad k_*(t) \propto (\eta t)^{1/b} ;

  with weight decay the ``ridge`` family with ``kap = wd``; ``t`` is the SGD step;
- *capacity*: ``K = N`` kernel modes (``params = N``, ``nu = 1``); spectral pruning cuts at
  ``k_cut = round((1 - r) N)``, i.e. ``kappa = 1``. The loss floor ``L_res(N)`` scales as
  ``N^(1-a)`` but is larger than ``sum_{k>N} p_k``, because modes near ``N`` are only partly
  representable: with ``kappa = 1`` the floor needs an irreducible loss ``E > 0``
  (equivalently an effective ``K < N`` with ``E = 0``); the truth records the ratio
  (``floor_ratio``) and the effective ``K/N`` per width;
- *pruning*: spectral pruning measured as a function distance follows the ``function`` metric
  ``sum p_k (1 - e^-g_k)^2``, not the paper's unweighted one;
- *quantization*: rounding the features follows the unweighted law
  ``sigma^2 sum w_k^2 (1 - e^-g_k)^2`` with ``sigma^2 ∝ 4^-bits`` for ``bits >= 5``.
"""

from __future__ import annotations

from typing import Any

from gsf_infer.simulate.rf.settings import RFSettings

#: Fewest bits at which rounding the features follows the ``4^-bits`` law.
LAW_MIN_BITS = 5

_NOTES = [
    "rho = 1: linear model under gradient descent, g_k = -t log(1 - lr s_k) ~ "
    "lr lambda_k t (m = n = 1); with weight decay the ridge family, kap = weight_decay.",
    "Capacity: K = N kernel modes (params = N, nu = 1); spectral pruning cuts at "
    "k_cut = round((1 - r) N), i.e. kappa = 1. The loss floor is larger than "
    "sum_{k>N} p_k (measured floor_ratio): modes near N are only partly representable, "
    "so with kappa = 1 the floor needs E > 0 (or an effective K = effective_K_over_N * N "
    "with E = 0).",
    "pruning delta_loss (spectral, distance) = E_x (f_P - f)^2 (seed eq. 20) follows the "
    "function metric sum p_k (1 - e^-g_k)^2, not the seed's unweighted one.",
    "quantization rounds the features z = F x (activations): delta_loss = sigma_e^2 |v|^2, "
    "the seed's unweighted sum w_k^2 (1 - e^-g_k)^2, sigma_e^2 proportional to 4^-bits "
    "for bits >= 5.",
]


def pruning_metric(settings: RFSettings) -> str:
    """Return the theory's pruning metric the ``pruning`` records follow, or why none does.

    Parameters
    ----------
    settings : RFSettings

    Returns
    -------
    str
        ``function`` for spectral pruning measured as a distance; otherwise a sentence
        starting with ``none``.
    """
    if settings.pruning == "spectral" and settings.pruning_measure == "distance":
        return "function"
    if settings.pruning == "spectral":
        return "none (loss increase: sum p_k (1 - e^-2g_k), function metric only once learned)"
    return "none (magnitude pruning follows neither law)"


def build_truth(settings: RFSettings, measured: dict[str, Any]) -> dict[str, Any]:
    """Return the known truth, every setting and the measured facts (``truth.json``).

    Parameters
    ----------
    settings : RFSettings
    measured : dict
        Facts measured during the simulation (loss floors, spectral lift, dropped records).

    Returns
    -------
    dict
        JSON-able: ``a``, ``b``, ``rho``, ``m``, ``n``, ``chi``, ``gamma``, ``rho_over_b``,
        the ``g`` family and its parameters, the capacity constants, the pruning metric and
        quantization target, ``settings``, ``measured`` and ``notes``.
    """
    a, b = float(settings.a), float(settings.b)
    quant_law = settings.quantize == "features" and min(settings.bits) >= LAW_MIN_BITS
    return {
        "simulator": "rf",
        "a": a,
        "b": b,
        "rho": 1.0,
        "m": 1.0,
        "n": 1.0,
        "chi": (a - 1.0) / b,
        "gamma": max(0.0, (1.0 + b - a) / b),
        "rho_over_b": 1.0 / b,
        "nu": 1.0,
        "kappa_pruning": 1.0,
        "g": "ridge" if settings.weight_decay > 0 else "ntk",
        "c": float(settings.lr),
        "kap": float(settings.weight_decay),
        "Lam": 1.0,
        "A": 1.0,
        "pruning_metric": pruning_metric(settings),
        "quantization_target": settings.quantize,
        "quantization_follows_law": bool(quant_law),
        "settings": settings.as_dict(),
        "measured": measured,
        "notes": list(_NOTES),
    }


def provenance_of(settings: RFSettings, truth: dict[str, Any]) -> dict[str, str]:
    """Return the one-line facts of the records table's ``# key: value`` header.

    Parameters
    ----------
    settings : RFSettings
    truth : dict
        From :func:`build_truth`.

    Returns
    -------
    dict of str to str
        Includes ``pruning_metric`` when the records carry pruning that follows a metric of
        the theory (``gsf-infer fit`` reads it to choose its ``--pruning-metric``).
    """
    provenance = {
        "source": "gsf-infer simulate rf (power-law random-feature regression trained by SGD)",
        "truth": f"a={settings.a}, b={settings.b}, rho=1 (m=n=1), chi={truth['chi']:.6g}, "
        f"gamma={truth['gamma']:.6g}",
        "quantization": settings.quantize,
        "pruning": f"{settings.pruning} ({settings.pruning_measure}); metric: "
        f"{truth['pruning_metric']}",
        "modes_basis": settings.modes_basis,
    }
    if truth["pruning_metric"] in ("seed", "function") and "pruning" in settings.kinds:
        provenance["pruning_metric"] = truth["pruning_metric"]
    return provenance
