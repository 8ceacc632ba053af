"""Simulation-based calibration of the fit (Talts et al. 2018): ``gsf-infer calibrate``.

Draws pairs ``(theta, y)`` from the joint distribution of the ``deviation`` model (the ``gsf``
model where the design cannot test the invariant) on a fixed design
— every latent site from its prior and every record from the likelihood, in one call of
numpyro's ``Predictive`` on the model with its observed sites left free — fits each ``y`` with
the sampler of :mod:`gsf_infer.inference.sampling` (multi-start MAP, Laplace whitening, NUTS from
overdispersed starts), and ranks each true ``a``, ``b``, ``rho`` and ``delta_over_rho`` (the
invariant's relative discrepancy, where the model has deviation parameters) among ``L``
thinned posterior draws. If the posterior is computed correctly, every rank is uniform on ``0..L``
(Talts et al. 2018, Theorem 1), whatever the prior, however uninformative the data; a rank
histogram shows how it fails (a slope: bias; a U: posteriors too narrow; a hump: too wide).

Choices, and why:

- *The model's own joint, on a design laid out by* ``simulate gsf``. The design (which ``t``,
  ``params``, ``bits``, ``sparsity``, ``k`` the records have) comes from a small ``simulate
  gsf`` run (or any records file); the values are drawn from the model. ``simulate gsf``
  itself cannot generate from the model's prior: its parametrisation ties amplitudes the
  model keeps free (the eigenvalue, target-power and loss amplitudes share ``Lam`` and ``A``)
  and it has one noise level where the model has one per kind, so data drawn from it are not
  draws from the model's joint distribution, and ranks would test that mismatch, not the
  posterior. (The model's ``continuum`` tier differs from the simulator's ``exact`` sums by
  about 3e-4, far below any noise.)
- *Fixed priors.* The model centres its amplitude priors and bounds ``E`` on the data it is
  given (:mod:`gsf_infer.model.build`). Here both the generating and the fitting model are built
  once, on the design's records, so the prior is the same for every simulation and does not
  depend on the simulated values: the joint distribution SBC needs. Each fit conditions that
  model on the simulated values (they replace the observations in the model's inputs).
- *The full prior.* Nothing is restricted or redrawn: worlds where a kind is uninformative
  (frontier outside the time range, capacity below a mode) or ``1 + b - a <= 0`` (saturated
  quantization; counted as ``out_of_domain``) are part of the prior, and SBC stays exact there.
- *One compilation.* The data enter every compiled program as arguments
  (:func:`gsf_infer.inference.sampling.sample`), so the optimiser's gradient and the NUTS program
  are compiled once for all simulations; each fit is the tool's own sampler, step for step,
  without its automatic reruns and extensions (every simulation costs the same, and flags
  say where a fit would have needed them).
- *Failures are kept.* A fit with divergences, ``R-hat > max_r_hat`` or a bulk ESS of ``a``,
  ``b`` or ``rho`` below the number of ranked draws is *flagged* but still ranked; the test
  is run on all ranked simulations and, separately, on the unflagged ones (conditioning on
  diagnostics can itself bias ranks, so the first is the test). A simulation whose fit raised
  an error has no rank; errors are counted and listed.

Uniformity test: Pearson's chi-square on ``B`` equal-probability bins of the rank (``B``
divides ``L + 1``; by default the largest of 2..20 that leaves at least 5 expected ranks per
bin) — the decision statistic; also the Kolmogorov–Smirnov test of ``(rank + 1/2)/(L + 1)``
against the uniform distribution (conservative for discrete ranks, by at most ``1/(2(L+1))``
in the statistic).

Imports NumPy, SciPy, pandas, JAX and numpyro (ArviZ for R-hat and ESS, matplotlib for the
plot); :mod:`gsf_infer.output.artifacts` writes the files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gsf_infer.data.records import Records
from gsf_infer.errors import InputError, Problem

#: Parameters whose ranks are tested.
PARAMETERS: tuple[str, ...] = ("a", "b", "rho")
#: Designs built in (``simulate gsf`` settings); any records file serves as well.
DESIGNS: tuple[str, ...] = ("small", "tiny")


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
        L-BFGS iterations per start (:func:`gsf_infer.inference.sampling.find_optima`).
    target_accept_prob : float
        NUTS target acceptance (as :class:`gsf_infer.inference.sampling.SamplerConfig`).
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

        for name, low in (
            ("simulations", 1),
            ("chains", 1),
            ("warmup", 1),
            ("draws", 1),
            ("ranks", 1),
            ("num_starts", 1),
            ("prior_draws", 1),
            ("max_iter", 1),
        ):
            value = getattr(self, name)
            need(
                isinstance(value, int) and value >= low,
                "--" + name.replace("_", "-"),
                f"must be an integer >= {low}",
                value,
            )
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
    """What :func:`calibrate` produced.

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


# ----------------------------------------------------------------------------------- design


def design_config(name: str):
    """The ``simulate gsf`` settings of a built-in design (:data:`DESIGNS`).

    ``small``: five kinds, about 50 records (two sizes); ``tiny``: spectrum and modes, about
    20 records, no spectral sums (for the test suite).
    """
    from gsf_infer.simulate.gsf import GsfSimConfig

    if name == "small":
        return GsfSimConfig(
            sizes=(1e6, 1e7),
            kinds=("loss", "quantization", "pruning", "spectrum", "modes"),
            loss_points=8,
            bits=(3, 5),
            quantization_points=5,
            pruning_times=(1e3, 1e5),
            sparsity_points=5,
            spectrum_points=8,
            modes_k=(1, 4, 16, 64, 256),
            modes_points=4,
        )
    if name == "tiny":
        return GsfSimConfig(
            kinds=("spectrum", "modes"),
            spectrum_points=6,
            modes_k=(1, 4, 16, 64, 256),
            modes_points=4,
        )
    raise InputError(
        Problem("gsf-infer calibrate", f"--design must be one of {', '.join(DESIGNS)} or a "
                "records file", value=name)
    )


def design_records(design: str | Path) -> Records:
    """Records whose covariates lay out the simulations (and whose values centre the priors).

    Parameters
    ----------
    design : str or Path
        A built-in design (:data:`DESIGNS`, simulated with seed 0) or a records file.

    Returns
    -------
    Records
    """
    from gsf_infer.data.records import read_records, records_from_frame

    if str(design) in DESIGNS:
        from gsf_infer.simulate.gsf import simulate_gsf

        frame, _ = simulate_gsf(design_config(str(design)), np.random.default_rng(0))
        return records_from_frame(frame, path=f"design:{design}")
    return read_records(design)


# ----------------------------------------------------------------------------------- fitting


class _Fitter:
    """:func:`gsf_infer.inference.sampling.sample` on simulated values, its programs compiled once.

    The data enter every compiled program as arguments, so one compilation serves all
    simulations; each fit replaces the observations in the model's inputs.
    """

    def __init__(self, built, settings: CalibrationSettings):
        from gsf_infer.inference import sampling as inference

        self.built = built
        self.settings = settings
        self.fns = inference.model_functions(built)
        self.parameters = PARAMETERS + (("delta_over_rho",) if built.deviations else ())

    def config(self, seed: int):
        """The sampler's settings for one simulation."""
        from gsf_infer.inference.sampling import SamplerConfig

        s = self.settings
        return SamplerConfig(
            num_chains=s.chains, num_warmup=s.warmup, num_samples=s.draws, seed=seed,
            target_accept_prob=s.target_accept_prob, max_tree_depth=s.max_tree_depth,
            num_starts=s.num_starts, prior_draws=s.prior_draws, overdispersion=s.overdispersion,
            max_iter=s.max_iter, adaptive=False,
        )

    def fit(self, ys: dict[str, Any], seed: int) -> dict[str, Any]:
        """Posterior draws of the ranked parameters (``(chain, draw)``) and diagnostics."""
        import jax.numpy as jnp

        from gsf_infer.inference import sampling as inference

        obs = dict(self.built.inputs["obs"])
        for name, value in ys.items():
            obs[name] = (jnp.asarray(value), obs[name][1])
        inputs = {**self.built.inputs, "obs": obs}
        result = inference.sample(self.fns, inputs, self.config(seed))
        stats = result.sample_stats
        return {
            "posterior": {p: result.posterior[p] for p in self.parameters},
            "u": result.unconstrained,
            "divergences": int(np.asarray(stats["diverging"]).sum()),
            "optima": len(result.optima),
            "optimize_seconds": result.seconds["optimize"],
            "sampling_seconds": result.seconds["sampling"],
        }


def _diagnostics(fit: dict[str, Any]) -> dict[str, float]:
    import arviz as az
    import numpyro  # noqa: F401  (before arviz: lazy-loader interplay)

    u = fit["u"]
    # a chain stuck at one point has zero within-chain variance: ArviZ divides by it (numpy
    # warns); its R-hat is then infinite or NaN, and such a fit is flagged, not an error
    with np.errstate(divide="ignore", invalid="ignore"):
        if u.shape[0] > 1:
            r_hat = np.asarray(az.rhat(u), dtype=float)
            max_r_hat = float(np.max(np.where(np.isnan(r_hat), np.inf, r_hat)))
        else:
            max_r_hat = float("nan")
        ess = [float(np.asarray(az.ess(v, method="bulk"))) for v in fit["posterior"].values()]
    return {"max_r_hat": max_r_hat, "min_ess_bulk": float(min(ess)) if ess else float("nan")}


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


# ----------------------------------------------------------------------------------- tests


def uniformity_tests(ranks: np.ndarray, count: int, bins: int) -> dict[str, Any]:
    """Chi-square (``bins`` equal-probability bins) and KS tests of ranks uniform on ``0..count``.

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
    from scipy import stats

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


# ----------------------------------------------------------------------------------- driver


def calibrate(
    design: Records,
    settings: CalibrationSettings | None = None,
    *,
    priors: Any = None,
    fit_priors: Any = None,
    model_settings: Any = None,
    on_simulation: Callable[[int, dict[str, Any]], None] | None = None,
) -> CalibrationResult:
    """Run simulation-based calibration of the ``gsf`` model's fit on a design.

    Parameters
    ----------
    design : Records
        Covariates of the simulated records, and the values that centre the model's
        data-dependent priors (:func:`design_records`).
    settings : CalibrationSettings, optional
    priors : PriorSet, optional
        Priors of the generating model (default: the default priors).
    fit_priors : PriorSet, optional
        Priors of the fitting model; by default the generating ones. Anything else is a
        deliberately mis-specified fit (a negative control): its ranks need not be uniform.
    model_settings : ModelSettings, optional
        The model (``gsf`` with a family whose ``rho`` exists); default ``ModelSettings()``.
    on_simulation : callable, optional
        Called as ``on_simulation(i, row)`` after each simulation (progress display).

    Returns
    -------
    CalibrationResult

    Notes
    -----
    JAX must have been configured (:func:`gsf_infer.inference.runtime.configure`); float64 is
    expected.
    """
    import jax

    from gsf_infer.data.dataset import build_model_data
    from gsf_infer.inference.runtime import release_compiled
    from gsf_infer.inference.sampling import model_functions
    from gsf_infer.model.build import build_model
    from gsf_infer.model.priors import PriorSet
    from gsf_infer.model.settings import ModelSettings

    settings = settings or CalibrationSettings()
    settings.check()
    model_settings = model_settings or ModelSettings(model="deviation")
    if model_settings.model not in ("gsf", "deviation"):
        raise InputError(Problem("gsf-infer calibrate", "calibrates the gsf or deviation model",
                                 value=model_settings.model))
    priors = priors or PriorSet()
    fit_priors = fit_priors or priors
    tic_total = time.perf_counter()

    data = build_model_data(design)
    generator = build_model(data, model_settings, priors)
    fitted = build_model(data, model_settings, fit_priors)
    key_gen = jax.random.key(settings.seed)
    gen_fns = model_functions(generator)
    from numpyro.infer import Predictive

    joint = Predictive(generator.fn, num_samples=settings.simulations)(
        key_gen, generator.inputs, predict=True
    )
    joint = {k: np.asarray(v) for k, v in joint.items()}
    tic = time.perf_counter()
    fitter = _Fitter(fitted, settings)
    parameters = fitter.parameters
    missing = [p for p in parameters if p not in joint]
    if missing:
        raise InputError(Problem("gsf-infer calibrate", "the model has no site(s) "
                                 + ", ".join(missing) + " to calibrate"))
    observed = [name for name in gen_fns.observed if name in joint]
    setup_seconds = time.perf_counter() - tic

    rows = []
    for i in range(settings.simulations):
        truth = {p: float(joint[p][i]) for p in parameters}
        row: dict[str, Any] = {"simulation": i}
        row.update({f"true_{p}": truth[p] for p in parameters})
        row["out_of_domain"] = bool(1.0 + truth["b"] - truth["a"] <= 0)
        ys = {name: joint[name][i] for name in observed}
        tic = time.perf_counter()
        if not all(np.all(np.isfinite(v)) for v in ys.values()):
            row.update(status="error: non-finite simulated values", flagged=True)
        else:
            try:
                fit = fitter.fit(ys, settings.seed * 100_003 + i)
                diag = _diagnostics(fit)
                for p in parameters:
                    row[f"rank_{p}"] = rank_of(truth[p], fit["posterior"][p], settings.ranks)
                    row[f"mean_{p}"] = float(np.mean(fit["posterior"][p]))
                row["divergences"] = fit["divergences"]
                row["max_r_hat"] = diag["max_r_hat"]
                row["min_ess_bulk"] = diag["min_ess_bulk"]
                row["optima"] = fit["optima"]
                row["optimize_seconds"] = fit["optimize_seconds"]
                row["sampling_seconds"] = fit["sampling_seconds"]
                flags = []
                if fit["divergences"] > 0:
                    flags.append("divergences")
                if not math.isnan(diag["max_r_hat"]) and diag["max_r_hat"] > settings.max_r_hat:
                    flags.append("r_hat")
                if not diag["min_ess_bulk"] >= settings.ranks:
                    flags.append("ess")
                row["flagged"] = bool(flags)
                row["status"] = "ok" if not flags else "flagged: " + ", ".join(flags)
            except Exception as err:  # one bad world must not cost the others; it is counted
                row.update(status=f"error: {type(err).__name__}: {err}", flagged=True)
        row["seconds"] = time.perf_counter() - tic
        rows.append(row)
        # a long run must stay below Linux's limit of memory maps (compiled programs)
        if release_compiled():
            fitter.fns.programs.clear()
        if on_simulation is not None:
            on_simulation(i, row)

    columns = (
        ["simulation"]
        + [f"true_{p}" for p in parameters]
        + [f"rank_{p}" for p in parameters]
        + [f"mean_{p}" for p in parameters]
        + ["out_of_domain", "divergences", "max_r_hat", "min_ess_bulk", "optima", "flagged",
           "status", "seconds", "optimize_seconds", "sampling_seconds"]
    )
    table = pd.DataFrame(rows).reindex(columns=columns)
    for p in parameters:
        table[f"rank_{p}"] = table[f"rank_{p}"].astype("Int64")
    table["divergences"] = table["divergences"].astype("Int64")
    table["optima"] = table["optima"].astype("Int64")

    ranked = table.dropna(subset=[f"rank_{p}" for p in parameters])
    clean = ranked[~ranked["flagged"].astype(bool)]
    bins = settings.chi2_bins(len(ranked))
    tests = {}
    for p in parameters:
        tests[p] = uniformity_tests(ranked[f"rank_{p}"].to_numpy(int), settings.ranks, bins)
        tests[p]["unflagged_only"] = uniformity_tests(
            clean[f"rank_{p}"].to_numpy(int), settings.ranks, settings.chi2_bins(len(clean))
        )
    statuses = table["status"].astype(str)
    summary = {
        "method": "simulation-based calibration (Talts et al. 2018): (theta, y) from the gsf "
        "model's prior and likelihood on a fixed design; rank of each truth among thinned "
        "posterior draws; uniformity by Pearson's chi-square on equal-probability rank bins "
        "(decision) and Kolmogorov-Smirnov on (rank + 1/2)/(L + 1)",
        "design": {
            "path": design.path,
            "records": {k: int(v) for k, v in design.counts().items()},
        },
        "model": model_settings.as_attrs(),
        "priors": priors.as_attrs(),
        "fit_priors": fit_priors.as_attrs(),
        "misspecified": fit_priors.as_attrs() != priors.as_attrs(),
        "settings": asdict(settings),
        "simulations": int(len(table)),
        "ranked": int(len(ranked)),
        "flagged": int(ranked["flagged"].astype(bool).sum()),
        "errors": int(statuses.str.startswith("error").sum()),
        "error_messages": sorted(set(statuses[statuses.str.startswith("error")])),
        "divergent_fits": int((ranked["divergences"] > 0).sum()),
        "r_hat_flagged": int(statuses.str.contains("r_hat").sum()),
        "ess_flagged": int(statuses.str.contains("ess").sum()),
        "out_of_domain": int(table["out_of_domain"].sum()),
        "tests": tests,
        "seconds": {
            "total": time.perf_counter() - tic_total,
            "setup": setup_seconds,
            "per_simulation_median": float(table["seconds"].median()),
        },
    }
    return CalibrationResult(ranks=table, tests=tests, summary=summary)


# ----------------------------------------------------------------------------------- outputs


def plot_ranks(result: CalibrationResult, ci: float = 0.99):
    """Rank histograms of ``a``, ``b``, ``rho`` with the band of a uniform histogram.

    Parameters
    ----------
    result : CalibrationResult
    ci : float
        Probability of the grey band: per bin, the central interval of the
        ``Binomial(n, 1/B)`` count a uniform rank would give.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    names = list(result.tests)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6))
    for ax, p in zip(np.atleast_1d(axes), names, strict=True):
        test = result.tests[p]
        n, bins, counts = test["n"], test["bins"], np.asarray(test["counts"])
        lo = stats.binom.ppf((1 - ci) / 2, n, 1 / bins)
        hi = stats.binom.ppf(1 - (1 - ci) / 2, n, 1 / bins)
        x = np.arange(bins)
        ax.axhspan(lo, hi, color="0.85", zorder=0, label=f"{ci:.0%} band if uniform")
        ax.axhline(n / bins, color="0.5", linewidth=1.0)
        ax.bar(x, counts, width=0.9, color="tab:blue", zorder=2)
        ax.set_xticks(x)
        width = (result.summary["settings"]["ranks"] + 1) // bins
        ax.set_xticklabels([f"{i * width}" for i in x], fontsize=7, rotation=90)
        ax.set_xlabel(f"rank bin (start), ranks 0..{result.summary['settings']['ranks']}")
        ax.set_ylabel("simulations")
        chi2_p = test["chi2"]["p_value"]
        ks_p = test["ks"]["p_value"]
        fmt = lambda v: "-" if v is None else f"{v:.3g}"  # noqa: E731
        ax.set_title(f"{p}: chi2 p = {fmt(chi2_p)}, KS p = {fmt(ks_p)}", fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="lower left")
    title = f"SBC rank histograms, {result.summary['ranked']} simulations"
    if result.summary.get("misspecified"):
        title += " (mis-specified fit: negative control)"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def write_calibration(result: CalibrationResult, out: str | Path, *, force: bool = False) -> Path:
    """Write ``ranks.csv``, ``calibration.json`` and ``ranks.png`` into a new folder (atomically).

    Returns
    -------
    Path
        The folder.
    """
    import matplotlib.pyplot as plt

    from gsf_infer.output import artifacts

    fig = plot_ranks(result)
    try:
        with artifacts.output_folder(out, force=force) as tmp:
            artifacts.write_table(result.ranks, tmp / "ranks.csv")
            artifacts.write_json(result.summary, tmp / "calibration.json")
            artifacts.write_figure(fig, tmp / "ranks.png")
    finally:
        plt.close(fig)
    return Path(out)


def misspecified_priors(priors: Any, **fixed: float) -> Any:
    """A copy of ``priors`` with some parameters fixed (``Fixed(value)``): a negative control.

    Parameters
    ----------
    priors : PriorSet
    **fixed : float
        Parameter name to value, e.g. ``sigma=0.005`` (every kind's noise scale).

    Returns
    -------
    PriorSet
    """
    from gsf_infer.model.priors import PriorSet

    table = dict(priors.priors)
    for name, value in fixed.items():
        table[name] = replace(table[name], dist="Fixed", args={"value": float(value)}, shift=0.0)
    return PriorSet(priors=table, source=f"{priors.source} with {fixed} fixed")
