"""The numpyro models ``gsf``, ``deviation`` and ``chinchilla``, assembled over the data's arrays.

The forward laws (:mod:`gsf_infer.model.forward`) carry the physics; the models add priors
(:mod:`gsf_infer.model.sites`) and likelihoods (:mod:`gsf_infer.model.expected`) around them.
``deviation`` is ``gsf`` plus the parameters of :mod:`gsf_infer.model.deviations`, switched on by
an input (``deviation_mask``), so that both models share one compiled program; it records
``delta_over_rho`` and ``delta``. With ``discrepancy="gp"`` every observed site adds a smooth
function per run to its log expected value (:mod:`gsf_infer.model.discrepancy`).
``chinchilla`` is ``L = E + A/P^alpha + B/D^beta`` on ``loss`` records (Hoffmann et al.,
"Training Compute-Optimal Large Language Models", 2022).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from gsf_infer.data.dataset import ModelData, kind_inputs
from gsf_infer.errors import InputError, Problem
from gsf_infer.model.deviations import (
    DEVIATION_SCALE,
    delta_over_rho,
    deviations_for,
    sample_deviations,
    with_deviations,
)
from gsf_infer.model.discrepancy import (
    discrepancy_inputs,
    function_counts,
    sample_discrepancy,
    typical_length,
)
from gsf_infer.model.expected import (
    chinchilla_expected,
    expected_jit,
    modes_sensitivity_jit,
    noise_distribution,
    observation,
    realisation_factor_jit,
)
from gsf_infer.model.forward import laws
from gsf_infer.model.priors import PriorSet
from gsf_infer.model.realisation import KINDS as REALISATION_KINDS
from gsf_infer.model.realisation import (
    RealisationNormal,
    omitted_variance,
    run_index,
    run_slots,
)
from gsf_infer.model.settings import (
    ModelSettings,
)
from gsf_infer.model.sites import (
    _sample,
    prior_constants,
    sample_nuisance,
    sample_spectral,
)


@dataclass(frozen=True)
class BuiltModel:
    """A numpyro model and the arrays it runs on.

    Attributes
    ----------
    fn : callable
        ``fn(inputs, predict=False, likelihood=True, loo=False)``. ``predict=True`` leaves the
        observed sites free (prior and posterior predictive draws); ``likelihood=False`` drops
        them (the prior alone, for the identification analysis); ``loo=True`` makes correlated
        records' pointwise values their leave-one-out conditional densities.
    inputs : dict
        Every array the model reads (covariates, observations, the numbers the amplitude
        priors take from the data, the deviation switch and prior scales). They are arguments,
        not constants of a compiled program: the ``gsf`` and ``deviation`` models of one data
        set, and data sets of equal shapes, share their compiled programs.
    deviations : tuple of str
        The deviation parameters in the model (empty where the invariant is untestable).
    """

    fn: Callable[..., None]
    inputs: dict[str, Any]
    deviations: tuple[str, ...] = ()

    def replace_inputs(self, **changes: Any) -> BuiltModel:
        """Return the same model on changed inputs (e.g. ``deviation_mask``, observations)."""
        return replace(self, inputs={**self.inputs, **changes})


def model_inputs(
    data: ModelData, deviations: tuple[str, ...], deviation_mask: float, deviation_scale: float
) -> dict[str, Any]:
    """Return the model's arguments for these data (see :class:`BuiltModel`)."""
    inputs: dict[str, Any] = {
        "x": {k: {n: jnp.asarray(v) for n, v in d.items()} for k, d in kind_inputs(data).items()},
        "obs": {},
        "consts": {k: jnp.asarray(v) for k, v in prior_constants(data).items()},
        "deviation_mask": jnp.asarray(float(deviation_mask)),
        "deviation_scale": jnp.full((len(deviations),), float(deviation_scale)),
    }
    for kind, kd in data.kinds.items():
        value, meas = observation(kind, kd.y, kd.stderr)
        inputs["obs"][kind] = (jnp.asarray(value), jnp.asarray(meas))
    if "spectrum" in data.kinds:
        target = data.kinds["spectrum"].x["target"]
        has = np.isfinite(target)
        if has.any():
            inputs["obs"]["spectrum_target"] = (
                jnp.asarray(np.log(target[has])), jnp.zeros(int(has.sum()))
            )
            inputs["target_rows"] = jnp.asarray(np.flatnonzero(has))
    return inputs


def build_model(
    data: ModelData,
    settings: ModelSettings,
    priors: PriorSet,
    deviations: tuple[str, ...] | None = None,
    deviation_scale: float = DEVIATION_SCALE,
) -> BuiltModel:
    """Build the numpyro model for these data and settings.

    ``gsf`` and ``deviation`` are one program: the deviation parameters are sampled in both
    (one coordinate each, :func:`gsf_infer.model.deviations.sample_deviations`) and multiplied
    by the input ``deviation_mask``, 0 for ``gsf`` (where the coordinates are pure prior, not
    reported) and 1 for ``deviation``.

    Parameters
    ----------
    data : ModelData
        Standardized records.
    settings : ModelSettings
        The model's options.
    priors : PriorSet
        Priors of the parameters.
    deviations : tuple of str, optional
        Deviation parameters to include; by default those the data's kinds call for
        (:func:`gsf_infer.model.deviations.deviations_for`).
    deviation_scale : float
        Prior standard deviation of each deviation parameter.

    Raises
    ------
    InputError
        When the data cannot support the model (``chinchilla`` without loss records carrying
        ``params``).
    """
    settings.check()
    if deviations is None:
        deviations = deviations_for(data_kinds(data)) if settings.model != "chinchilla" else ()
    mask = 1.0 if settings.model == "deviation" else 0.0
    inputs = model_inputs(data, deviations, mask, deviation_scale)
    gp = settings.discrepancy == "gp" and settings.model != "chinchilla"
    counts = function_counts(data) if gp else {}
    if gp:
        inputs["discrepancy"] = discrepancy_inputs(data, typical_length(priors))
    spectral = settings.discrepancy == "spectral" and settings.model != "chinchilla"
    runs: dict[str, int] = {}
    if spectral:
        labels = {kind: data.kinds[kind].run for kind in REALISATION_KINDS if kind in data.kinds}
        if "modes" in data.kinds:  # one realised eigenvalue per (run, mode)
            kd = data.kinds["modes"]
            labels["modes"] = np.asarray(
                [f"{r}\x00{k!r}" for r, k in zip(kd.run, kd.x["k"], strict=True)])
        inputs["realisation_run"], inputs["realisation_slots"] = {}, {}
        for kind, label in labels.items():
            index, runs[kind] = run_index(label)
            inputs["realisation_run"][kind] = jnp.asarray(index)
            inputs["realisation_slots"][kind] = tuple(
                jnp.asarray(a) for a in run_slots(index, runs[kind]))

    if settings.model == "chinchilla":
        return BuiltModel(_chinchilla_model(data, settings, priors), inputs)

    kinds = tuple(data.kinds)
    G = data.n_groups

    def model(inputs: dict[str, Any], predict: bool = False, likelihood: bool = True,
              loo: bool = False) -> None:
        """Run the model; see :class:`BuiltModel`."""
        shared = sample_spectral(data, settings, priors, frozenset(kinds), inputs["consts"])
        if deviations:
            values = sample_deviations(deviations, shared, inputs["deviation_scale"],
                                       inputs["deviation_mask"])
            for i, name in enumerate(deviations):
                shared[name] = numpyro.deterministic(name, values[i])
            ratio = numpyro.deterministic("delta_over_rho", delta_over_rho(shared))
            if "rho" in shared:
                rho_f = shared["rho"] * jnp.exp(shared.get("eps_F", 0.0))
                numpyro.deterministic("delta", ratio * rho_f)
        tau = _sample("discrepancy_scale", priors["discrepancy_scale"]) \
            if set(runs) & set(REALISATION_KINDS) else None
        eigen = _sample("discrepancy_eigen", priors["discrepancy_eigen"]) \
            if "modes" in runs else None
        for kind in kinds:
            P = dict(shared)
            P.update(sample_nuisance(kind, data, priors, inputs["consts"]))
            # sampled before the likelihood's switch, so that the prior alone has every site
            sites = (kind, "spectrum_target") if kind == "spectrum" else (kind,)
            shift = {
                site: sample_discrepancy(site, counts[site], inputs["discrepancy"][site], priors)
                for site in sites if site in counts
            }
            if kind == "data_scaling":  # the exponent the records measure
                numpyro.deterministic("alpha", laws.redundancy_alpha(P["b"], P["s"]))
            if not likelihood:
                continue
            P, x = with_deviations(kind, P, inputs["x"][kind])
            mus = expected_jit(kind, P, x, settings, G)
            value, meas = inputs["obs"][kind]
            if kind in runs:
                factor = (
                    eigen * modes_sensitivity_jit(P, x, settings, G)[:, None]
                    if kind == "modes"
                    else tau * realisation_factor_jit(kind, P, x, mus[kind], settings, G)
                )
                omitted = omitted_variance(factor, second_order=kind != "modes")
                records = RealisationNormal(
                    mus[kind], P["sigma"] ** 2 + meas**2 + omitted, factor,
                    inputs["realisation_run"][kind], runs[kind], loo,
                    slots=inputs["realisation_slots"][kind],
                )
            else:
                records = noise_distribution(
                    mus[kind] + shift.get(kind, 0.0), P["sigma"], meas, settings
                )
            if "record_mask" in inputs:  # records padded to a shared width (pad_inputs)
                records = records.mask(inputs["record_mask"][kind])
            numpyro.sample(kind, records, obs=None if predict else value)
            if "spectrum_target" in mus and "spectrum_target" in inputs["obs"]:
                value, meas = inputs["obs"]["spectrum_target"]
                targets = noise_distribution(
                    mus["spectrum_target"][inputs["target_rows"]]
                    + shift.get("spectrum_target", 0.0),
                    P["sigma"], meas, settings,
                )
                if "record_mask" in inputs:
                    targets = targets.mask(inputs["record_mask"]["spectrum_target"])
                numpyro.sample("spectrum_target", targets, obs=None if predict else value)

    return BuiltModel(model, inputs, tuple(deviations))


def data_kinds(data: ModelData) -> dict[str, Any]:
    """Collect what the invariant's rules read of the data: kinds, loss sizes, target powers."""
    sizes = 0
    if "loss" in data.kinds:
        x = data.kinds["loss"].x
        sizes = int(np.unique(x["params"][x["has_params"] > 0]).size)
    return {
        "kinds": tuple(data.kinds),
        "loss_sizes": sizes,
        "target_power": "spectrum_target" in data.centers,
    }


def _chinchilla_model(data: ModelData, settings: ModelSettings, priors: PriorSet):
    """``L = E + A/P^alpha + B/D^beta`` on the loss records (``D = t``)."""
    if "loss" not in data.kinds:
        raise InputError(Problem("gsf-infer", "--model chinchilla needs loss records"))
    kd = data.kinds["loss"]
    if not np.all(kd.x["has_params"] > 0):
        raise InputError(
            Problem("gsf-infer", "--model chinchilla needs params on every loss record")
        )

    def chinchilla(inputs: dict[str, Any], predict: bool = False, likelihood: bool = True,
                   loo: bool = False) -> None:
        consts = inputs["consts"]
        floor = consts["loss_floor_min"]
        typical = jnp.exp(consts["loss_typical"])
        x = inputs["x"]["loss"]
        E = floor * numpyro.sample("E_frac", dist.Uniform(0.0, 1.0))
        P = {
            "E": numpyro.deterministic("E", E),
            "A_std": numpyro.sample("A_std", dist.LogNormal(jnp.log(typical / 2), 2.0)),
            "B_std": numpyro.sample("B_std", dist.LogNormal(jnp.log(typical / 2), 2.0)),
            "alpha": _sample("alpha", priors["alpha"]),
            "beta": _sample("beta", priors["beta"]),
        }
        numpyro.deterministic("A", P["A_std"] * data.scales.params_ref ** P["alpha"])
        numpyro.deterministic("B", P["B_std"] * data.scales.t_ref ** P["beta"])
        sigma = _sample("sigma_loss", priors["sigma"])
        if not likelihood:
            return
        value, meas = inputs["obs"]["loss"]
        numpyro.sample(
            "loss",
            noise_distribution(chinchilla_expected(P, x), sigma, meas, settings),
            obs=None if predict else value,
        )

    return chinchilla
