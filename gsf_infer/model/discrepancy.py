r"""A per-run discrepancy: a smooth function shared by the records of one run, one per kind.

The iid likelihood treats every record as independent. The records of one run share one
realisation of the learner (one feature draw fixes the kernel eigenvalues; the target power of
each mode scatters about ``p_k``), so their errors about the law are correlated along the
record's natural axis. With ``--discrepancy gp`` every observed site ``c`` (a kind, or the
spectrum's target powers) gets, for each run ``r`` that has records of it, a latent smooth
function ``f_{r,c}`` added to the log expected value (logit for ``modes``):

.. math::

    \log y_i = \mu_c(\theta; x_i) + f_{r_i, c}(s_i) + \varepsilon_i, \qquad
    \varepsilon_i \sim \mathcal N(0, \sigma_c^2 + \mathrm{se}_i^2)\ \text{(or Student-t)},

so the likelihood stays a product over records given ``f`` (pointwise log-likelihoods, PSIS-LOO
and the predictive checks apply unchanged). The axis ``s`` is where one realisation's error is
smooth:

- ``log(t/t_ref)`` for ``loss``, ``quantization``, ``pruning`` and ``density``: the scatter of
  the target power of the modes near the learning frontier ``k_*(t) ~ t^{n/(bm)}`` reaches the
  records over about ``1/n`` in ``log t``;
- ``log k`` for ``spectrum`` (and its target powers) and for ``modes``: a mode-resolved record's
  error is that mode's realised eigenvalue, ``logit phi_k(t) ~ log g(lambda_k, t)`` moves with
  ``m delta log lambda_k`` at every ``t``, a function of ``k`` and not of ``t``;
- ``log(samples)`` for ``data_scaling``.

Each ``f_{r,c}`` is a zero-mean Gaussian process with the squared-exponential kernel
``s_c^2 exp(-(s - s')^2 / (2 l^2))``, in the Hilbert-space reduced-rank approximation [HSGP]_
(``numpyro.contrib.hsgp``, the helpers of :mod:`gsf_infer.model.elastic`): with
``u = (s - centre_c)/h_c`` the axis scaled to ``[-1, 1]`` over the site's records and
``L = max(1.5, 4.5 l/h_c)`` the boundary factor,

.. math::

    f_{r,c}(s) = s_c \sum_{j=1}^{M} \phi_j(u)\, \sqrt{S_1(\sqrt{\lambda_j}; l/h_c)}\, z_{r,c,j},
    \qquad \phi_j(u) = L^{-1/2} \sin\!\big(\sqrt{\lambda_j}(u + L)\big),\
    \sqrt{\lambda_j} = \frac{j\pi}{2L},

``S_1(\omega; l) = \sqrt{2\pi}\, l\, e^{-l^2\omega^2/2}`` the unit-variance spectral density,
``z_{r,c,j} ~ N(0, 1)`` (non-centred: the weights' prior does not depend on ``s_c``) and
``M = 8``. By Riutort-Mayol et al. the approximation is accurate for ``L >= 3.2 l/h_c`` and
``M >= 1.75 L h_c / l``, so up to ``h_c / l = 3``; on a wider axis the approximated process
lacks the shortest wavelengths, a smoother discrepancy.

Choices:

- one function per (run, site), not one per run shared by the kinds. The kinds see a run's
  realisation through different weightings of the modes (the loss the frontier's target
  powers, quantization the learned modes', pruning the removed ones'), so a shared function
  needs a loading per kind whose sign is not known; a signed loading times a shared function
  is a two-mode posterior (``(w, f)`` and ``(-w, -f)``). Independent functions never assume the
  sign; the price is that the correlation across kinds is not modelled.
- a run with few distinct axis values keeps only the first ``d_r // 2`` eigenfunctions (the
  smoothest, :func:`run_basis`): with as many as it has values a function interpolates them and
  the iid noise scale collapses to zero.
- the amplitude ``s_c`` is fixed by default (prior ``discrepancy_sd``, 0.02 on the log scale,
  the size of a finite system's departure from its law), the same for every site. A priors-file
  table (e.g. ``HalfNormal``) samples one per site (``discrepancy_sd_<site>``), shared by the
  runs; sampled, it enters only through the product ``s_c z``, which records that pin a curve
  fix jointly: a curved ridge, and where a function nearly interpolates a run's records the
  iid noise scale collapses towards zero, a funnel (both make NUTS exhaust its tree depth).
- the length scale ``l`` is fixed (prior ``discrepancy_length``, one e-fold of the axis): in
  ``log t`` the correlation length ``1/n`` is one e-fold for the gradient-descent learners
  (``n = 1``); in ``log k`` one e-fold is the frontier's width ``1/(bm)`` within a factor 2. A
  sampled length scale adds a coordinate per site whose posterior the few records of a run
  barely inform, and a funnel against ``s_c``; a priors-file table frees it.

The latent dimension grows by ``M`` per (run, site) (and one amplitude per site where sampled).
The sites are ``discrepancy_z_<site>`` (``(runs, M)`` weights) and, with a sampled amplitude,
``discrepancy_sd_<site>`` (reported as nuisance, never as findings).

References
----------
.. [HSGP] Arno Solin and Simo Särkkä, "Hilbert space methods for reduced-rank Gaussian process
   regression", Statistics and Computing 30, 419-446 (2020); Gabriel Riutort-Mayol, Paul-Christian
   Bürkner, Michael R. Andersen, Arno Solin and Aki Vehtari, "Practical Hilbert space approximate
   Bayesian Gaussian processes for probabilistic programming", Statistics and Computing 33, 17
   (2023).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.contrib.hsgp.laplacian import eigenfunctions, sqrt_eigenvalues
from numpyro.contrib.hsgp.spectral_densities import spectral_density_squared_exponential

from gsf_infer.data.dataset import ModelData
from gsf_infer.model.elastic import BOUNDARY
from gsf_infer.model.priors import PriorSet

#: Laplacian eigenfunctions per function.
BASIS = 8
#: Smallest half-width of an axis (a site whose records share one axis value).
MIN_HALF = 0.5
#: The covariate whose log is each site's axis (``spectrum_target``: the spectrum's records
#: that carry a target power).
AXES = {
    "loss": "t",
    "quantization": "t",
    "pruning": "t",
    "density": "t",
    "data_scaling": "samples",
    "modes": "k",
    "spectrum": "k_std",
    "spectrum_target": "k_std",
}
#: Prefix of the discrepancy's sites (kept free when the fit holds unidentified directions).
PREFIX = "discrepancy_"


def site_axes(data: ModelData) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per observed site: the log axis value and the run of each of its records."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind, kd in data.kinds.items():
        out[kind] = (np.log(np.asarray(kd.x[AXES[kind]], dtype=float)), np.asarray(kd.run))
        if kind == "spectrum":
            has = np.isfinite(kd.x["target"])
            if has.any():
                out["spectrum_target"] = (out[kind][0][has], out[kind][1][has])
    return out


def boundary(half: float, length: float) -> float:
    """Boundary factor ``c = L/h``: at least 1.5, and ``4.5 l/h`` for long length scales.

    Riutort-Mayol et al. (2023, section 4) find the squared-exponential approximation accurate
    for ``c >= max(1.2, 3.2 l/h)`` and ``M >= 1.75 c h/l``; the margin above ``3.2 l/h`` keeps
    the boundary's pull on the variance near the axis' ends small. With ``M = 8`` the rule
    holds up to ``h/l = 3``.
    """
    return max(BOUNDARY, 4.5 * length / half)


def axis_basis(values: np.ndarray, length: float) -> dict[str, np.ndarray]:
    """HSGP eigenfunctions at the records' axis values, for a length scale near ``length``.

    The axis is centred on the middle of its range and scaled by its half-width ``h`` (at least
    :data:`MIN_HALF`) to ``u`` in ``[-1, 1]``; the domain is ``[-c, c]`` (:func:`boundary`).

    Returns
    -------
    dict
        ``phi`` (``(n, M)``), ``omega`` (the square roots of the Laplacian's eigenvalues, in
        units of ``1/h``, ``(M,)``) and ``half`` (``h``, in which the length scale is
        expressed).
    """
    values = np.asarray(values, dtype=float)
    lo, hi = float(values.min()), float(values.max())
    half = max(0.5 * (hi - lo), MIN_HALF)
    c = boundary(half, length)
    u = (values - 0.5 * (lo + hi)) / half
    return {
        "phi": np.asarray(eigenfunctions(jnp.asarray(u), c, BASIS)),
        "omega": np.asarray(sqrt_eigenvalues(c, BASIS, 1))[0],
        "half": np.float64(half),
    }


def discrepancy_inputs(data: ModelData, length: float) -> dict[str, dict[str, np.ndarray]]:
    """Return the arrays the discrepancy reads, per observed site.

    Those of :func:`axis_basis` (its boundary set for the length scale ``length``, the prior's
    value) and ``index``: each record's function, its run's position among the runs with
    records of the site.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    for site, (values, runs) in site_axes(data).items():
        _, index = np.unique(runs, return_inverse=True)
        basis = axis_basis(values, length)
        basis["phi"] = basis["phi"] * (np.arange(BASIS)[None, :] < run_basis(values, runs)[:, None])
        out[site] = {**basis, "index": index.astype(np.int32)}
    return out


def run_basis(values: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """Eigenfunctions each record's function keeps: half its run's distinct axis values.

    A function with as many eigenfunctions as its run has distinct axis values interpolates
    them, and the iid noise scale collapses to zero (a funnel NUTS cannot cross); the first
    ``max(1, d_r // 2)`` (at most :data:`BASIS`) are kept, the smoothest. The weights of the
    others are left to their prior.
    """
    keep = np.empty(len(values), dtype=int)
    for run in np.unique(runs):
        mine = runs == run
        keep[mine] = min(BASIS, max(1, np.unique(np.round(values[mine], 9)).size // 2))
    return keep


def typical_length(priors: PriorSet) -> float:
    """Return the length scale the basis is built for: the prior's value, else its median."""
    prior = priors["discrepancy_length"]
    if prior.fixed:
        return float(prior.args["value"] + prior.shift)
    if prior.dist == "LogNormal":
        return float(np.exp(prior.args["loc"]) + prior.shift)
    return 1.0


def function_counts(data: ModelData) -> dict[str, int]:
    """Count the functions (runs with records) per observed site: static shapes of the model."""
    return {site: int(np.unique(runs).size) for site, (_, runs) in site_axes(data).items()}


def unit_weights(length: Any, inputs: dict[str, Any]) -> jax.Array:
    """``sqrt(S_1(omega_j; l/h))``: the weights of a unit-variance process, length ``length``."""
    spd = spectral_density_squared_exponential(
        1, jnp.asarray(inputs["omega"])[:, None], 1.0, length / inputs["half"]
    )
    return jnp.sqrt(spd)


def evaluate(sd: Any, length: Any, z: Any, inputs: dict[str, Any]) -> jax.Array:
    """``f_{r_i, c}(s_i)`` at every record of a site from the weights ``z`` ``(runs, M)``."""
    w = jnp.asarray(z) * unit_weights(length, inputs)
    return sd * jnp.sum(jnp.asarray(inputs["phi"]) * w[jnp.asarray(inputs["index"])], axis=-1)


def sample_discrepancy(
    site: str, n_functions: int, inputs: dict[str, Any], priors: PriorSet
) -> jax.Array:
    """Sample one site's discrepancy; return its value at each of the site's records."""

    def param(name: str) -> jax.Array:
        prior = priors[name]
        if prior.fixed:
            return jnp.asarray(prior.args["value"] + prior.shift)
        return numpyro.sample(f"{name}_{site}", prior.numpyro())

    sd, length = param("discrepancy_sd"), param("discrepancy_length")
    z = numpyro.sample(
        f"{PREFIX}z_{site}", dist.Normal(0.0, 1.0).expand((n_functions, BASIS)).to_event(2)
    )
    return evaluate(sd, length, z, inputs)
