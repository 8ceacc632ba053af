"""Fitting records: the ``gsf`` model and the nested ``deviation`` model that decides the verdict.

:class:`Sampler` builds one model's potential and runs the sampler of
:mod:`gsf_infer.inference.sampling` on it; the ``gsf`` and ``deviation`` models share one compiled
program, the deviations entering as inputs. :func:`fit` runs both (the deviation model only where
the records can test the invariant), assembles the DataTrees, the verdict of
:mod:`gsf_infer.analysis.invariant` and the summary, and returns a :class:`FitResult`.
:func:`weak_directions` is the identification check before sampling (``validate --curvature``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd

from gsf_infer import __version__
from gsf_infer.analysis.identify import held_sentences, identify, soft_directions
from gsf_infer.analysis.invariant import (
    VERDICT_VARIABLES,
    InvariantSettings,
    flat_draws,
    prior_sensitivity,
    untestable,
    verdict,
)
from gsf_infer.analysis.summary import convergence_problems, diagnostics, parameter_table
from gsf_infer.data.dataset import Scales, build_model_data
from gsf_infer.data.records import Records, read_records
from gsf_infer.inference import runtime
from gsf_infer.inference.config import SamplerConfig
from gsf_infer.inference.datatree import build_datatree, read_attrs
from gsf_infer.inference.functions import draw_prior, model_functions, value_and_grad_of
from gsf_infer.inference.optimize import curvature_shares, find_optima, hessian
from gsf_infer.inference.predict import interval_table, predictive_draws
from gsf_infer.inference.sampling import pointwise, sample
from gsf_infer.model.build import build_model
from gsf_infer.model.deviations import DEVIATION_SCALE
from gsf_infer.model.padding import ProgramCache, pad_inputs, shareable, signature, trim
from gsf_infer.model.priors import load_priors
from gsf_infer.model.settings import ModelSettings
from gsf_infer.workflow.options import FitOptions, shows_fit_options
from gsf_infer.workflow.resolve import (
    declared_notes,
    hold_capacity,
    resolve_likelihood,
    resolve_pruning_metric,
    split_holdout,
)


@dataclass
class FitResult:
    """What :func:`fit` produced.

    Attributes
    ----------
    dt : xarray.DataTree
        The full ArviZ DataTree (``posterior.nc``).
    summary : dict
        The ``summary.json`` object.
    diagnostics : dict
        Diagnostics, including those beyond summary.json's keys (tail ESS, E-BFMI, worst).
    identification : Identification
        What the data's kinds can identify.
    invariant_detail : dict
        The full invariant result (for checks.json and the report).
    deviation_dt : xarray.DataTree or None
        The ``deviation``-model fit behind the invariant, when one was run beside the main
        model.
    curvature, deviation_curvature : list of dict
        Likelihood share of the curvature along each principal direction at the optimum of
        the main and the deviation model (:func:`gsf_infer.inference.optimize.curvature_shares`).
    holdout : pandas.DataFrame or None
        Held-out rows with their predictive intervals.
    warnings : list of str
        Everything the user must hear (non-convergence, boundaries, …).
    records_params : float or None
        Geometric mean of the records' parameter counts (for tables over model size).
    """

    dt: Any
    summary: dict[str, Any]
    diagnostics: dict[str, Any]
    identification: Any
    invariant_detail: dict[str, Any]
    deviation_dt: Any = None
    curvature: list[dict[str, Any]] = field(default_factory=list)
    deviation_curvature: list[dict[str, Any]] = field(default_factory=list)
    holdout: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    records_params: float | None = None


def _sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _model_attrs(records, data, settings, priors, config, ci_prob, command, extra) -> dict:
    fixed = {
        name: prior.args["value"] + prior.shift
        for name, prior in priors.priors.items()
        if prior.fixed
    }
    attrs = {
        "gsf_infer_version": __version__,
        "command": command,
        "input_path": records.path,
        "input_sha256": records.sha256,
        "seed": config.seed,
        "ci_prob": ci_prob,
        "model_settings": settings.as_attrs(),
        "sampler": config.as_attrs(),
        "scales": data.scales.as_attrs(),
        "priors": priors.as_attrs(),
        "fixed_parameters": fixed,
        "runs": list(data.runs),
        "groups": list(data.groups),
        "quant_units": list(data.quant_units),
        "kinds": list(data.kinds),
        "records": {k: v.size for k, v in data.kinds.items()},
        "provenance": records.provenance,
    }
    attrs.update(extra)
    return attrs


@dataclass
class ModelRun:
    """One sampled model: its DataTree and what the sampling found on the way.

    Attributes
    ----------
    dt : xarray.DataTree
        The fit's DataTree.
    info : dict
        Timings, how the chains were started, the optima found, notes.
    curvature : list of dict
        Likelihood share of the curvature along each principal direction at the optimum
        (:func:`gsf_infer.inference.optimize.curvature_shares`).
    """

    dt: Any
    info: dict[str, Any]
    curvature: list[dict[str, Any]] = field(default_factory=list)


class Sampler:
    """The models of one data set, compiled once and run under different inputs.

    The ``gsf`` and ``deviation`` models are one program
    (:func:`gsf_infer.model.build.build_model`): :meth:`run` with ``model="deviation"`` switches the
    deviation parameters on through the inputs, so the second fit reuses every compiled program of
    the first. Given a :class:`~gsf_infer.model.padding.ProgramCache`, the records are padded to
    a shared width and the model's functions are those of any earlier data set in the cache
    with the same signature, compiled programs included (``fit --by``).
    """

    def __init__(self, records: Records, settings: Any, priors: Any,
                 assumptions: list[str] | None = None, programs: ProgramCache | None = None):
        self.records = records
        #: what the fit assumed before sampling (:func:`gsf_infer.workflow.resolve.hold_capacity`)
        self.assumptions = list(assumptions or [])
        self.settings = settings
        self.priors = priors
        self.data = build_model_data(records)
        self.built = build_model(self.data, settings, priors)
        #: kind to its number of real records, where the records are padded (else empty)
        self.lengths: dict[str, int] = {}
        self._programs = programs
        self._key = ""
        padded = None
        if programs is not None and shareable(settings):
            try:
                padded = pad_inputs(self.built.inputs, self.data)
            except ValueError:  # an input that is not per record: this fit keeps its own
                padded = None
        if padded is not None:
            inputs, self.lengths = padded
            self.built = replace(self.built, inputs=inputs)
            self._key = signature(inputs, self.data, settings, priors, self.built.deviations)
            self.fns = programs.functions(self._key, lambda: model_functions(self.built))
        else:
            self.fns = model_functions(self.built)
        self._exact: Any = None
        self._exact_lock = threading.Lock()
        self.optima: list[Any] = []
        ident = identify(records)
        #: the quantities the records identify: no direction they depend on is held
        self.reported = tuple(
            name for name, kinds in {**ident.constrained, **ident.others}.items() if kinds
        )

    def exact_gradient(self) -> Any:
        """Return the model's functions with the continuum sums' exact gradient (built once).

        The values are this model's; only the gradient differs (``split_gradient``).
        """
        with self._exact_lock:
            if self._exact is None:
                settings = replace(self.settings, split_gradient=True)
                built = replace(build_model(self.data, settings, self.priors),
                                inputs=self.built.inputs)
                if self._key:
                    self._exact = self._programs.functions(
                        self._key + ":exact", lambda: model_functions(built))
                else:
                    self._exact = model_functions(built)
            return self._exact

    @property
    def deviations(self) -> tuple[str, ...]:
        """The deviation parameters of this data's ``deviation`` model."""
        return self.built.deviations

    def run(
        self,
        model: str,
        config: Any,
        ci_prob: float,
        command: str = "",
        progress: Any = None,
        on_prepared: Any = None,
    ) -> ModelRun:
        """Sample ``model`` (``gsf``, ``deviation``, or the model built) and build its DataTree.

        A ``gsf`` run keeps its optima for the ``deviation`` run (which starts its optimiser
        there) as soon as they are found. ``on_prepared()``, if given, is called once the
        optima and the whitening are found, before the chains start (where another run may
        start, or be waited for).
        """
        start = time.perf_counter()
        settings = replace(self.settings, model=model)
        if model == "chinchilla" and self.settings.model != "chinchilla":
            raise ValueError("a Sampler built for the spectral models cannot run chinchilla")
        if model == "chinchilla":
            # E trades off against A and alpha as alpha -> 0, a curved ridge the Laplace
            # whitening cannot straighten; a smaller step keeps NUTS off its walls
            config = replace(config, target_accept_prob=max(config.target_accept_prob, 0.95))
        if model == "deviation":
            # the deviations bend the posterior (delta_Q ~ gamma b/rho): at 0.9 the bundled
            # example's chains diverged and were rerun; starting at the rerun's acceptance
            # spends one run instead of two
            config = replace(
                config, target_accept_prob=max(config.target_accept_prob,
                                               config.retry_target_accept)
            )
        inputs = dict(self.built.inputs)
        inputs["deviation_mask"] = jax.numpy.asarray(1.0 if model == "deviation" else 0.0)
        # the deviation model nests gsf: its optimiser starts from gsf's optima, where every
        # deviation is zero (at a gsf optimum the deviation coordinates sit at their prior's
        # mode given a, b, rho, where the deviations vanish: sample_deviations)
        starts = None
        if model == "deviation" and self.optima:
            starts = np.stack([o.z for o in self.optima])
        reported = self.reported + (("delta_over_rho",) if model == "deviation" else ())

        def prepared(prep):
            if model != "deviation":
                self.optima = prep.optima
            if on_prepared is not None:
                on_prepared()

        result = sample(self.fns, inputs, config, progress, starts=starts, reported=reported,
                        on_prepared=prepared, exact_gradient=self.exact_gradient)
        tic = time.perf_counter()
        loglik, pred = (trim(values, self.lengths) for values in pointwise(
            self.fns, inputs, result.posterior, jax.random.key(config.seed + 1)
        ))
        curvature = curvature_shares(self.fns, inputs, result.optima[0].z, result.hessian)
        result.seconds["pointwise"] = time.perf_counter() - tic
        hidden = () if model == "deviation" else HIDDEN_DEVIATION_SITES
        if model != "deviation":
            curvature = [c for c in curvature
                         if not any(n.startswith("deviation_z") for n, _ in c["loadings"])]
        info = {
            "seconds": result.seconds,
            "chain_starts": result.chain_starts,
            "optima_potential": [o.potential for o in result.optima[:10]],
            "notes": result.notes,
            "actions": self.assumptions + result.actions + held_sentences(result.fixed),
            "held": result.fixed,
        }
        extra = dict(info)
        extra["deviations"] = list(self.deviations) if model == "deviation" else []
        extra["deviation_scale"] = float(self.built.inputs["deviation_scale"][0]) if len(
            self.deviations) else None
        used = replace(config, target_accept_prob=result.target_accept_prob)
        attrs = _model_attrs(self.records, self.data, settings, self.priors, used, ci_prob,
                             command, extra)
        dt = build_datatree(
            self.data,
            _without(result.posterior, hidden),
            result.sample_stats,
            loglik,
            pred,
            _without(result.prior, hidden),
            trim(result.prior_predictive, self.lengths),
            attrs,
        )
        info["wall"] = time.perf_counter() - start
        return ModelRun(dt=dt, info=info, curvature=curvature)


#: Sites of the shared program that the ``gsf`` model does not report (its deviation
#: coordinates are pure prior there).
HIDDEN_DEVIATION_SITES = ("deviation_z", "delta_Q", "eps_F", "delta_L", "delta_over_rho", "delta")


def _without(draws: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in draws.items() if k not in names}


def run_model(
    records: Records,
    *,
    settings: Any,
    priors: Any,
    config: Any,
    ci_prob: float,
    command: str = "",
) -> tuple[Any, dict[str, Any]]:
    """Sample one model on validated records and assemble its DataTree.

    Returns
    -------
    tuple
        ``(dt, info)`` with ``info`` holding timings, how chains were started and the optima
        found.
    """
    run = Sampler(records, settings, priors).run(settings.model, config, ci_prob, command)
    return run.dt, run.info


@shows_fit_options(library=True)
def fit(
    data_path: str | Path | Records,
    options: FitOptions | None = None,
    *,
    progress: Any = None,
    command: str = "",
    programs: ProgramCache | None = None,
    **values: Any,
) -> FitResult:
    """Fit a model to a records file, without writing anything.

    ``options`` (a :class:`~gsf_infer.workflow.options.FitOptions`, the command's options; see
    ``gsf-infer fit --help``) with ``values`` replacing its fields by name, ``priors_path`` and
    ``check_invariant`` standing for ``priors`` and ``not no_check``. ``check_invariant``
    runs the ``deviation`` model too (the verdict comes from it) when the data make the
    invariant testable and the main model is ``gsf``. ``pruning_metric=None`` and
    ``likelihood=None`` take what the data declare (:func:`resolve_pruning_metric`,
    :func:`resolve_likelihood`). ``progress``, if given, is called as ``progress(stage, done,
    total)`` while chains iterate. ``programs``, if given, pads the records and shares the
    compiled programs with every other fit given the same cache whose data have the same
    kinds, structure and padded shapes (:mod:`gsf_infer.model.padding`; ``fit --by``).

    Returns
    -------
    FitResult
    """
    # the same numbers in this process and on a Dask worker (whose BLAS runs one thread)
    with runtime.one_blas_thread():
        return _fit(data_path, options, progress=progress, command=command, programs=programs,
                    **values)


def _fit(data_path: str | Path | Records, options: FitOptions | None, *, progress: Any,
         command: str, programs: ProgramCache | None, **values: Any) -> FitResult:
    o = FitOptions.of(options, **values)  # checks the numbers
    records = data_path if isinstance(data_path, Records) else read_records(data_path)
    fit_records, held = split_holdout(records, o.holdout)
    settings = ModelSettings(
        model=o.model,
        g=o.g,
        tier=o.tier,
        likelihood=resolve_likelihood(o.likelihood, records),
        pruning_metric=resolve_pruning_metric(o.pruning_metric, records),
        discrepancy=o.discrepancy,
    )
    settings.check()
    priors, assumed = load_priors(o.priors), []
    if o.fix_unidentified and settings.model != "chinchilla":
        priors, assumed = hold_capacity(fit_records, priors)
    config = SamplerConfig(
        num_chains=o.chains, num_warmup=o.warmup, num_samples=o.draws, seed=o.seed,
        target_accept_prob=o.target_accept, max_draws=max(int(o.max_draws), o.draws),
        fix_unidentified=o.fix_unidentified, adapt_mass=o.adapt_mass,
    )
    identification = identify(fit_records)
    tic = time.perf_counter()
    sampler = Sampler(fit_records, settings, priors, assumed, programs)

    def stage(name):
        return None if progress is None else (lambda done, total: progress(name, done, total))

    deviation_runs = (settings.model == "gsf" and identification.invariant_testable
                      and not o.no_check)
    if deviation_runs:
        # the deviation fit starts from gsf's optima, not from its chains: it runs alongside them
        main, dev = _gsf_and_deviation(sampler, config, o.ci_prob, command, stage)
    else:
        main = sampler.run(settings.model, config, o.ci_prob, command, stage(settings.model))
    seconds = main.info["wall"]
    warnings = declared_notes(
        records, likelihood=(o.likelihood, settings.likelihood),
        pruning_metric=(o.pruning_metric, settings.pruning_metric),
    )
    warnings += main.info["notes"]
    diag = diagnostics(main.dt)
    problems = convergence_problems(diag)
    if problems:
        warnings.append("NOT CONVERGED: " + "; ".join(problems))

    if settings.model == "chinchilla" or not identification.invariant_testable:
        missing = list(identification.missing) or ["loss records (chinchilla fits loss only)"]
        check = _InvariantRun(untestable(missing, InvariantSettings(o.rope, o.ci_prob)))
    elif settings.model == "gsf" and o.no_check:
        check = _InvariantRun(untestable(["the deviation-model fit (skipped with --no-check)"],
                                         InvariantSettings(o.rope, o.ci_prob)))
        check.invariant["not_run"] = True
    else:
        dev = main if settings.model == "deviation" else dev
        check = _decide_invariant(dev, dev is main, InvariantSettings(o.rope, o.ci_prob))
        warnings += check.warnings
    seconds_total = time.perf_counter() - tic
    holdout_table = None if held is None else _holdout_intervals(main.dt, held, o)

    summary = _summary_json(records, fit_records, settings, o, main, diag, check,
                            (seconds, seconds_total))
    if held is not None:
        summary["holdout"] = _holdout_summary(holdout_table, held, o)
    params = fit_records.table["params"].dropna() if "params" in fit_records.table else []
    return FitResult(
        records_params=float(np.exp(np.mean(np.log(params)))) if len(params) else None,
        dt=main.dt,
        summary=summary,
        diagnostics=diag,
        identification=identification,
        invariant_detail=check.invariant,
        deviation_dt=check.dt,
        curvature=main.curvature,
        deviation_curvature=check.curvature,
        holdout=holdout_table,
        warnings=warnings,
    )


def _gsf_and_deviation(sampler: Sampler, config: Any, ci_prob: float, command: str,
                       stage: Any) -> tuple[ModelRun, ModelRun]:
    """Run the ``gsf`` and ``deviation`` fits, their chains at the same time.

    The ``gsf`` fit runs in a thread. Once its optima are found it waits while the
    ``deviation`` fit, in this thread, finds its own (its optimiser starts from them: an
    optimiser's many small evaluations would queue behind the chains' long ones); then both
    fits' chains run together. Their compiled programs are shared (each call traces under
    :data:`gsf_infer.inference.functions.TRACE_LOCK`), and the cores idle less than with one
    fit after the other. The draws do not depend on the order: each fit's random keys come
    from the seed alone.
    """
    gsf_ready, deviation_ready = threading.Event(), threading.Event()
    box: dict[str, Any] = {}

    def gsf_prepared() -> None:
        gsf_ready.set()
        deviation_ready.wait()

    def gsf() -> None:
        try:
            box["main"] = sampler.run("gsf", config, ci_prob, command, stage("gsf"),
                                      on_prepared=gsf_prepared)
        except BaseException as err:  # handed to the caller below
            box["error"] = err
        finally:
            gsf_ready.set()

    thread = threading.Thread(target=gsf, name="gsf-fit", daemon=True)
    thread.start()
    gsf_ready.wait()
    dev = None
    try:
        if "error" not in box:
            dev = sampler.run("deviation", config, ci_prob, command, stage("deviation"),
                              on_prepared=deviation_ready.set)
    finally:
        deviation_ready.set()
    # not joined on an error above (an interrupt must not wait for the gsf chains): the
    # thread is a daemon and ends with the process
    thread.join()
    if "error" in box:
        raise box["error"]
    assert dev is not None
    return box["main"], dev


#: The diagnostics and the invariant's keys that summary.json carries.
SUMMARY_DIAGNOSTICS = ("divergences", "max_r_hat", "min_ess_bulk", "converged")
SUMMARY_INVARIANT = ("status", "delta", "p_in_rope", "rope", "missing", "trusted",
                     "why_untrusted", "delta_over_rho", "deviations", "prior_sensitivity")


@dataclass
class _InvariantRun:
    """The verdict and the deviation-model fit behind it (absent where none was run)."""

    invariant: dict[str, Any]
    dt: Any = None
    curvature: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    held: dict[str, Any] = field(default_factory=dict)


def _decide_invariant(dev: ModelRun, is_main: bool, settings: InvariantSettings) -> _InvariantRun:
    """Return the verdict from a deviation-model fit, untrusted where that fit did not converge.

    ``is_main``: the deviation model is the fit's own model (its DataTree is the main one, not
    a second one beside it).
    """
    problems = convergence_problems(diagnostics(dev.dt))
    draws = flat_draws(dev.dt["posterior"], VERDICT_VARIABLES)
    invariant = verdict(draws, settings, problems)
    invariant["prior_sensitivity"] = prior_sensitivity(draws, DEVIATION_SCALE, settings)
    warnings = []
    if problems:
        warnings.append("the deviation-model fit behind the invariant verdict did not converge: "
                        + "; ".join(problems))
    if is_main:
        return _InvariantRun(invariant, None, dev.curvature, warnings=warnings)
    return _InvariantRun(invariant, dev.dt, dev.curvature, dev.info["seconds"],
                         dev.info["actions"], warnings, dev.info.get("held", {}))


def _summary_json(
    records: Records,
    fit_records: Records,
    settings: ModelSettings,
    o: FitOptions,
    main: ModelRun,
    diag: dict[str, Any],
    check: _InvariantRun,
    seconds: tuple[float, float],
) -> dict[str, Any]:
    """Build the ``summary.json`` object (without ``holdout``)."""
    return {
        "version": __version__,
        "data": {
            "path": str(records.path),
            "sha256": records.sha256 or _sha256(str(records.path)),
            "records": {k: int(v) for k, v in fit_records.counts().items()},
        },
        "model": {
            "name": settings.model,
            "g": settings.g,
            "tier": settings.tier,
            "likelihood": settings.likelihood,
            "discrepancy": settings.discrepancy,
        },
        "sampler": {
            "chains": o.chains,
            "warmup": o.warmup,
            "draws": o.draws,
            "seed": o.seed,
            "adapt_mass": o.adapt_mass,
            "seconds": round(seconds[0], 2),
            "seconds_total": round(seconds[1], 2),
        },
        "parameters": parameter_table(main.dt, settings.model, o.ci_prob),
        "diagnostics": {k: diag[k] for k in SUMMARY_DIAGNOSTICS},
        "invariant": {k: check.invariant[k] for k in SUMMARY_INVARIANT if k in check.invariant},
        **_timings_and_actions(settings.model, main, check),
        "identification": {
            "weak_directions": soft_directions(main.curvature),
            "weak_directions_deviation": soft_directions(check.curvature),
            # directions held at the optimum (assumptions) and unidentified ones left free
            "held": main.info.get("held", {}),
            "held_deviation": check.held,
        },
    }


def _timings_and_actions(model: str, main: ModelRun, check: _InvariantRun) -> dict[str, Any]:
    """summary.json's ``timings`` and ``automatic_actions`` of each model that ran."""
    timings = {model: {k: round(v, 2) for k, v in main.info["seconds"].items()}}
    actions = {model: list(main.info["actions"])}
    if check.seconds:
        timings["deviation"] = {k: round(v, 2) for k, v in check.seconds.items()}
        actions["deviation"] = list(check.actions)
    return {"timings": timings, "automatic_actions": actions}


def _holdout_intervals(dt: Any, held: Records, o: FitOptions) -> pd.DataFrame | None:
    """Predictive intervals of the held-out records from the fitted posterior."""
    attrs = read_attrs(dt)
    data_h = build_model_data(
        held,
        scales=Scales(**attrs["scales"]),
        names={
            "runs": tuple(attrs["runs"]),
            "groups": tuple(attrs["groups"]),
            "quant_units": tuple(attrs["quant_units"]),
        },
    )
    pred = predictive_draws(dt, data_h, np.random.default_rng(o.seed + 1), attrs)
    parts = []
    for kind, kd in data_h.kinds.items():
        if kind not in pred:
            continue
        table = interval_table(pred[kind], kd.y, o.ci_prob)
        table.insert(0, "kind", kind)
        table.insert(1, "line", kd.line)
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else None


def _holdout_summary(table: pd.DataFrame | None, held: Records, o: FitOptions) -> dict[str, Any]:
    """summary.json's ``holdout``: the rows held out and the coverage of their intervals."""
    covered = table["covered"].dropna() if table is not None else []
    return {
        "expr": o.holdout,
        "rows": int(len(held.table)),
        "coverage": float(np.mean(covered.astype(float))) if len(covered) else None,
        "ci_prob": o.ci_prob,
    }


def weak_directions(records: Records, threshold: float = 0.2) -> list[str]:
    """Find the directions at the default ``gsf`` model's optimum that the data barely curve.

    Multi-start optimisation as in :func:`gsf_infer.inference.sampling.sample`, then the
    likelihood's share of the curvature along each principal direction of the Hessian
    (:func:`gsf_infer.inference.optimize.curvature_shares`); no sampling.
    """
    sampler = Sampler(records, ModelSettings(likelihood=resolve_likelihood(None, records)),
                      load_priors(None))
    fns, inputs = sampler.fns, dict(sampler.built.inputs)
    config = SamplerConfig()
    prior, _ = draw_prior(fns, inputs, jax.random.key(0), config.prior_draws)
    z_prior = np.asarray(jax.vmap(fns.unconstrain)({n: prior[n] for n in fns.supports}))
    median = np.median(z_prior, axis=0)
    rng = np.random.default_rng(0)
    picks = rng.choice(len(z_prior), size=config.num_starts - 1, replace=False)
    starts = np.vstack([median[None], median + 0.5 * (z_prior[picks] - median)])
    compiled = value_and_grad_of(fns)
    optima = find_optima(lambda z: compiled(z, inputs), starts)
    if not optima:
        return ["the posterior density is not finite at any start: nothing to analyse"]
    hess = hessian(lambda z: compiled(z, inputs), optima[0].z)
    shares = curvature_shares(fns, inputs, optima[0].z, hess)
    shares = [c for c in shares if not any(n.startswith("deviation_z") for n, _ in c["loadings"])]
    return soft_directions(shares, threshold)
