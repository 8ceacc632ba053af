"""Synthetic records from the theory's exact forward model, with known truth.

This module is ``gsf-infer simulate gsf``: given a :class:`GsfSimConfig` (the ``g`` family,
every parameter, capacities, grids, kinds and noise level) and a NumPy generator, it evaluates
the ``exact`` tier of :mod:`gsf_infer.model.forward.laws` (jit-compiled, summing every mode up to
the largest capacity a kind needs) on the configured grids, multiplies every observed value by
log-normal noise (``modes``: normal noise on ``logit(phi)``) and returns the records table and
the truth. It imports NumPy, JAX and :mod:`gsf_infer.model.forward` (pandas lazily), validates its
configuration with :class:`~gsf_infer.errors.InputError`, and writes nothing: the CLI hands the
table to :func:`gsf_infer.output.artifacts.write_table`.

What each kind records (``K = kappa * P^nu`` modes for a model of ``P`` parameters):

- ``loss``: every size, ``loss_points`` log-spaced ``t`` in ``[t_min, t_max]``; run ``P{size:g}``.
- ``quantization``: at ``quantization_size`` (default the largest), ``sigma^2 = sigma0_sq *
  4^-bits`` for every ``bits``, ``quantization_points`` log-spaced ``t``.
- ``pruning``: at ``pruning_size``, every ``pruning_times`` stage, ``sparsity_points``
  sparsities log-spaced in ``1 - r`` over ``[sparsity_min, sparsity_max]`` (plateau, power law
  and saturation); ``delta_loss = pruning_scale * sum`` (the unweighted sum of [GSF]_ eq. 20
  is in weight units, so it carries an amplitude of its own).
- ``density``: every size, ``C = P t`` for ``density_points`` log-spaced ``t``;
  ``delta = density_scale * min(k_*(t), K) / P``.
- ``spectrum``: ``spectrum_points`` distinct integer ``k`` log-spaced in ``[1, spectrum_k_max]``,
  eigenvalue ``Lam k^-b`` and target power ``A k^-a``; run ``spectrum``.
- ``modes`` (optional): ``phi_k(t)`` for ``modes_k`` at ``modes_points`` times of the loss grid,
  at the largest size, kept only where the noiseless ``phi`` lies in ``(modes_min, modes_max)``.
- ``data_scaling`` (optional): ``R(n) = E_ds + B_ds n^-alpha``, ``alpha = 2s/(2s + 1/b)``, at
  ``data_points`` log-spaced sample counts; run ``data_scaling``.

Every grid value is rounded to 10 significant digits before the laws are evaluated on it, so the
written inputs are exactly the ones the values belong to. Each kind draws its noise from its own
child of the generator (``rng.spawn``), so switching a kind on or off leaves the others' noise
unchanged.

References
----------
.. [GSF] Yizhou Zhang, "A Generalized Spectral Framework to Explain Neural Scaling and
   Compression Dynamics".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from gsf_infer import __version__
from gsf_infer.data import schema
from gsf_infer.errors import InputError, Problem

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_KINDS",
    "GsfSimConfig",
    "check_config",
    "command_line",
    "exponents_truth",
    "simulate_gsf",
    "simulation_provenance",
]

#: Kinds written by default (the bundled example); ``modes`` and ``data_scaling`` on request.
DEFAULT_KINDS: tuple[str, ...] = ("loss", "quantization", "pruning", "density", "spectrum")
FAMILY_NAMES: tuple[str, ...] = ("ntk", "feature", "monomial", "logcorr", "ridge")
PRUNING_METRICS: tuple[str, ...] = ("seed", "function")

_SIG = 10  # significant digits of every grid value


@dataclass(frozen=True)
class GsfSimConfig:
    """Everything that defines one ``simulate gsf`` data set (besides the seed).

    Parameters
    ----------
    family : str
        ``g`` family: ``ntk``, ``feature``, ``monomial``, ``logcorr`` or ``ridge``.
    a, b : float
        Target-power and eigenvalue exponents (``p_k = A k^-a``, ``lambda_k = Lam k^-b``; > 1).
    m, n : float
        Spectral and temporal exponents of ``g`` (``monomial``, ``logcorr``; ``feature`` uses
        ``n`` only; ``ntk`` and ``ridge`` neither).
    c : float
        Amplitude of ``g``.
    A, Lam : float
        Target-power and eigenvalue amplitudes.
    E : float
        Irreducible loss of the ``loss`` records.
    tau : float
        Time scale of the ``logcorr`` correction (used by that family only).
    kap : float
        Weight-decay eigenvalue of ``ridge`` (used by that family only).
    kappa, nu : float
        Capacity ``K = kappa * P^nu`` (modes) of a model with ``P`` parameters.
    sizes : tuple of float
        Model sizes ``P`` of the ``loss`` and ``density`` records.
    kinds : tuple of str
        Record kinds to write.
    noise : float
        Standard deviation of the multiplicative log-normal noise on every observed value
        (``modes``: of the normal noise on ``logit(phi)``); 0 gives the exact laws.
    t_min, t_max : float
        Range of the training-time grids (``loss``, ``quantization``, ``density``, ``modes``).
    loss_points : int
        Log-spaced times of each loss curve.
    sigma0_sq : float
        Quantization noise variance at 0 bits: ``sigma^2 = sigma0_sq * 4^-bits``.
    bits : tuple of int
        Precisions of the ``quantization`` records.
    quantization_points : int
        Log-spaced times of each quantization curve.
    quantization_size : float or None
        Model size of the quantization records (``None``: the largest of ``sizes``).
    pruning_size : float
        Model size of the pruning records.
    pruning_times : tuple of float
        Training stages ``t`` of the pruning curves.
    sparsity_min, sparsity_max : float
        Range of the pruned fraction ``r`` (in ``(0, 1)``).
    sparsity_points : int
        Sparsities per pruning curve, log-spaced in ``1 - r``.
    pruning_metric : str
        ``seed`` (the unweighted ``sum w_k^2 phi_k^2``) or ``function`` (``sum p_k phi_k^2``).
    pruning_scale : float
        Amplitude multiplying the pruning sum (loss units per weight unit).
    density_points : int
        Log-spaced ``t = C/P`` per size for the ``density`` records.
    density_scale : float
        Amplitude of the density records (``delta = density_scale * min(k_*, K) / P``).
    spectrum_points : int
        Distinct integer mode indices of the ``spectrum`` records.
    spectrum_k_max : float
        Largest mode index of the ``spectrum`` records.
    modes_k : tuple of int
        Mode indices of the ``modes`` records.
    modes_points : int
        Times of the loss grid (evenly thinned) at which ``modes`` are recorded.
    modes_min, modes_max : float
        Keep a learned fraction only where its noiseless value lies strictly between these.
    samples_min, samples_max : float
        Range of the sample counts of the ``data_scaling`` records.
    data_points : int
        Log-spaced sample counts (rounded to integers, duplicates merged).
    s : float
        Source smoothness of the redundancy law (``alpha = 2s / (2s + 1/b)``).
    E_ds, B_ds : float
        Floor and amplitude of the ``data_scaling`` records: ``R = E_ds + B_ds n^-alpha``.
    """

    family: str = "monomial"
    a: float = 1.6
    b: float = 1.4
    m: float = 1.0
    n: float = 1.25
    c: float = 1.0
    A: float = 1.0
    Lam: float = 1.0
    E: float = 2.0
    tau: float = 10.0
    kap: float = 1e-4
    kappa: float = 1e-3
    nu: float = 1.0
    sizes: tuple[float, ...] = (1e6, 3e6, 1e7, 3e7, 1e8)
    kinds: tuple[str, ...] = DEFAULT_KINDS
    noise: float = 0.02
    t_min: float = 10.0
    t_max: float = 1e5
    loss_points: int = 60
    sigma0_sq: float = 1e-2
    bits: tuple[int, ...] = (3, 4, 5, 6)
    quantization_points: int = 12
    quantization_size: float | None = None
    pruning_size: float = 1e7
    pruning_times: tuple[float, ...] = (1e2, 1e3, 1e4, 1e5)
    sparsity_min: float = 0.05
    sparsity_max: float = 0.995
    sparsity_points: int = 15
    pruning_metric: str = "seed"
    pruning_scale: float = 1e-3
    density_points: int = 8
    density_scale: float = 1.0
    spectrum_points: int = 45
    spectrum_k_max: float = 1e4
    modes_k: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
    modes_points: int = 10
    modes_min: float = 0.02
    modes_max: float = 0.98
    samples_min: float = 1e3
    samples_max: float = 1e7
    data_points: int = 15
    s: float = 1.0
    E_ds: float = 0.5
    B_ds: float = 5.0

    def capacity(self, size: float) -> float:
        """Capacity ``K = kappa * P^nu`` of a model of ``size`` parameters, in modes."""
        return float(self.kappa * float(size) ** self.nu)


# --------------------------------------------------------------------------- validation


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_config(config: GsfSimConfig) -> list[Problem]:
    """Return every problem with a configuration (empty when it is usable).

    Each :class:`~gsf_infer.errors.Problem` names the CLI option (``--a``, ``--sizes``, …).
    """
    problems: list[Problem] = []

    def bad(name: str, message: str, value: Any) -> None:
        problems.append(Problem(path=_option(name), message=message, value=value))

    if config.family not in FAMILY_NAMES:
        bad("family", "unknown g family; known: " + ", ".join(FAMILY_NAMES), config.family)
    unknown = [k for k in config.kinds if k not in schema.KINDS]
    if unknown:
        bad("kinds", "unknown kind(s); known: " + ", ".join(schema.KINDS), ",".join(unknown))
    if not config.kinds:
        bad("kinds", "needs at least one kind", "")
    if len(set(config.kinds)) != len(config.kinds):
        bad("kinds", "a kind is listed twice", ",".join(config.kinds))
    if config.pruning_metric not in PRUNING_METRICS:
        bad("pruning_metric", "must be seed or function", config.pruning_metric)
    for name in ("a", "b"):
        value = getattr(config, name)
        if not (math.isfinite(value) and value > 1.0):
            bad(name, "must be a number > 1 (the sums need it)", value)
    positive = (
        "m", "n", "c", "A", "Lam", "tau", "kappa", "nu", "t_min", "t_max", "sigma0_sq",
        "pruning_size", "pruning_scale", "density_scale", "spectrum_k_max", "samples_min",
        "samples_max", "s", "B_ds",
    )  # fmt: skip
    for name in positive:
        value = getattr(config, name)
        if not (math.isfinite(value) and value > 0.0):
            bad(name, "must be a finite number > 0", value)
    for name in ("E", "E_ds", "kap", "noise"):
        value = getattr(config, name)
        if not (math.isfinite(value) and value >= 0.0):
            bad(name, "must be a finite number >= 0", value)
    if config.quantization_size is not None and not (
        math.isfinite(config.quantization_size) and config.quantization_size > 0
    ):
        bad("quantization_size", "must be a finite number > 0", config.quantization_size)
    counts = (
        "loss_points", "quantization_points", "sparsity_points", "density_points",
        "spectrum_points", "modes_points", "data_points",
    )  # fmt: skip
    for name in counts:
        value = getattr(config, name)
        if int(value) != value or value < 3:
            bad(name, "must be an integer >= 3 (a kind needs at least 3 records)", value)
    if not config.sizes or any(not (math.isfinite(p) and p > 0) for p in config.sizes):
        bad("sizes", "needs model sizes > 0", ",".join(map(str, config.sizes)))
    if not config.bits or any(int(q) != q or q < 1 for q in config.bits):
        bad("bits", "needs integer precisions >= 1", ",".join(map(str, config.bits)))
    if not config.pruning_times or any(
        not (math.isfinite(t) and t > 0) for t in config.pruning_times
    ):
        bad("pruning_times", "needs times > 0", ",".join(map(str, config.pruning_times)))
    if not config.modes_k or any(int(k) != k or k < 1 for k in config.modes_k):
        bad("modes_k", "needs integer mode indices >= 1", ",".join(map(str, config.modes_k)))
    if not 0.0 < config.sparsity_min < config.sparsity_max < 1.0:
        bad(
            "sparsity_min",
            "needs 0 < sparsity-min < sparsity-max < 1",
            f"{config.sparsity_min}, {config.sparsity_max}",
        )
    if not 0.0 < config.modes_min < config.modes_max < 1.0:
        bad(
            "modes_min",
            "needs 0 < modes-min < modes-max < 1",
            f"{config.modes_min}, {config.modes_max}",
        )
    for lo, hi in (("t_min", "t_max"), ("samples_min", "samples_max")):
        if getattr(config, lo) >= getattr(config, hi):
            bad(lo, f"must be below {_option(hi)}", getattr(config, lo))
    if config.spectrum_points > config.spectrum_k_max:
        bad(
            "spectrum_points",
            "cannot exceed --spectrum-k-max distinct integers",
            config.spectrum_points,
        )
    return problems


# --------------------------------------------------------------------------- grids


def _round(values: np.ndarray) -> np.ndarray:
    """Round to :data:`_SIG` significant digits (the values written are the values used)."""
    return np.array([float(f"{v:.{_SIG}g}") for v in np.asarray(values, float).ravel()])


def _log_grid(lo: float, hi: float, count: int) -> np.ndarray:
    return _round(np.geomspace(lo, hi, int(count)))


def _distinct_log_integers(hi: float, count: int) -> np.ndarray:
    """Return ``count`` distinct integers in ``[1, hi]``, near-even in ``log k``."""
    top = int(math.floor(hi))
    for points in range(count, 50 * count):
        ks = np.unique(np.round(np.geomspace(1.0, top, points)).astype(np.int64))
        if ks.size >= count:
            break
    if ks.size > count:  # drop interior points where the spacing in log k is smallest
        while ks.size > count:
            gaps = np.diff(np.log(ks))
            inner = np.argmin(gaps[:-1] + gaps[1:]) + 1
            ks = np.delete(ks, inner)
    return ks


def _run(size: float) -> str:
    return f"P{size:g}"


# --------------------------------------------------------------------------- the laws


def _forward(config: GsfSimConfig):
    """Spectrum, g parameters and family of the configuration (JAX objects)."""
    from gsf_infer.model.forward.families import GParams, get_family
    from gsf_infer.model.forward.laws import Spectrum

    spec = Spectrum(config.a, config.b, config.A, config.Lam)
    g = GParams(c=config.c, m=config.m, n=config.n, tau=config.tau, kap=config.kap)
    return spec, g, get_family(config.family)


def _exact(kind: str, config: GsfSimConfig, k_max: int, **records: np.ndarray) -> np.ndarray:
    """Evaluate one law of the exact tier on arrays of records (jit-compiled)."""
    import jax
    import jax.numpy as jnp

    from gsf_infer.model.forward import laws

    spec, g, fam = _forward(config)
    kw = {"tier": "exact", "k_max": int(k_max)}
    if kind == "loss":

        def law(t, K):
            return laws.loss(t, K, spec, g, config.E, fam, **kw)

    elif kind == "quantization":

        def law(t, K, sigma2):
            return laws.quantization(t, K, sigma2, spec, g, fam, **kw)

    else:  # pruning

        def law(t, K, sparsity):
            return config.pruning_scale * laws.pruning(
                t, K, sparsity, spec, g, fam, metric=config.pruning_metric, **kw
            )

    args = {name: jnp.asarray(value, dtype=float) for name, value in records.items()}
    return np.asarray(jax.jit(law)(**args), dtype=float)


def _k_star(config: GsfSimConfig, t: np.ndarray) -> np.ndarray:
    import jax.numpy as jnp

    from gsf_infer.model.forward import derived

    spec, g, fam = _forward(config)
    return np.asarray(derived.k_star(jnp.asarray(t, dtype=float), spec, g, fam), dtype=float)


def _learned_fraction(config: GsfSimConfig, k: np.ndarray, t: np.ndarray) -> np.ndarray:
    import jax.numpy as jnp

    from gsf_infer.model.forward import laws

    spec, g, fam = _forward(config)
    phi = laws.learned_fraction(
        jnp.asarray(k, dtype=float), jnp.asarray(t, dtype=float), spec, g, fam
    )
    return np.asarray(phi, dtype=float)


def exponents_truth(config: GsfSimConfig, t: float) -> dict[str, Any]:
    """Return the derived exponents at time ``t`` (``rho`` depends on ``t`` for logcorr, ridge)."""
    from gsf_infer.model.forward import derived, laws

    spec, g, fam = _forward(config)
    ex = derived.exponents(spec, g, fam, t)
    out = {
        "rho": float(ex.rho),
        "chi": float(ex.chi),
        "gamma": float(ex.gamma),
        "rho_over_b": float(ex.rho_over_b),
        "pruning_slope": float(ex.pruning_slope),
        "function_pruning_slope": 1.0 - float(config.a),
        "saturated": bool(ex.saturated),
        "invariant_holds": not bool(ex.saturated),
    }
    if "data_scaling" in config.kinds:
        out["alpha"] = float(laws.redundancy_alpha(config.b, config.s))
    return out


# --------------------------------------------------------------------------- the simulator


def simulate_gsf(config: GsfSimConfig, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """Evaluate the exact forward model on the configured grids and add noise.

    Parameters
    ----------
    config : GsfSimConfig
        Family, parameters, capacities, grids, kinds, noise.
    rng : numpy.random.Generator
        The only source of randomness; each kind uses its own spawned child.

    Returns
    -------
    frame : pandas.DataFrame
        The records (columns of :mod:`gsf_infer.data.schema`: ``kind``, ``run`` and the columns the
        kinds need), in the order loss, quantization, pruning, density, spectrum, modes,
        data_scaling.
    truth : dict
        Every parameter, the family, the derived exponents, the capacities, the settings, the
        record counts, what was dropped, and the tool version (the content of ``truth.json``).

    Raises
    ------
    InputError
        If the configuration is unusable (one problem per bad option).
    """
    import pandas as pd

    problems = check_config(config)
    if problems:
        raise InputError(problems)
    children = dict(zip(schema.KINDS, rng.spawn(len(schema.KINDS)), strict=True))

    def noisy(kind: str, values: np.ndarray) -> np.ndarray:
        z = children[kind].standard_normal(np.shape(values))
        return np.asarray(values, float) * np.exp(config.noise * z)

    sizes = sorted(float(p) for p in config.sizes)
    t_loss = _log_grid(config.t_min, config.t_max, config.loss_points)
    frames: list[pd.DataFrame] = []
    dropped: dict[str, int] = {}

    if "loss" in config.kinds:
        P = np.repeat(sizes, t_loss.size)
        t = np.tile(t_loss, len(sizes))
        K = np.array([config.capacity(p) for p in P])
        mu = _exact("loss", config, math.ceil(K.max()), t=t, K=K)
        frames.append(
            pd.DataFrame(
                {
                    "kind": "loss",
                    "run": [_run(p) for p in P],
                    "t": t,
                    "params": P,
                    "loss": noisy("loss", mu),
                }
            )  # fmt: skip
        )

    if "quantization" in config.kinds:
        size = float(config.quantization_size or sizes[-1])
        t_q = _log_grid(config.t_min, config.t_max, config.quantization_points)
        bits = np.repeat(np.asarray(config.bits, dtype=np.int64), t_q.size)
        t = np.tile(t_q, len(config.bits))
        K = np.full(t.size, config.capacity(size))
        sigma2 = config.sigma0_sq * 4.0 ** (-bits.astype(float))
        mu = _exact("quantization", config, math.ceil(K.max()), t=t, K=K, sigma2=sigma2)
        frames.append(
            pd.DataFrame(
                {
                    "kind": "quantization",
                    "run": _run(size),
                    "t": t,
                    "params": size,
                    "bits": pd.array(bits, dtype="Int64"),
                    "delta_loss": noisy("quantization", mu),
                }
            )  # fmt: skip
        )

    if "pruning" in config.kinds:
        size = float(config.pruning_size)
        kept = _log_grid(
            1.0 - config.sparsity_min, 1.0 - config.sparsity_max, config.sparsity_points
        )
        r_grid = _round(1.0 - kept)
        t_p = _round(np.asarray(config.pruning_times, float))
        t = np.repeat(t_p, r_grid.size)
        r = np.tile(r_grid, t_p.size)
        K = np.full(t.size, config.capacity(size))
        mu = _exact("pruning", config, math.ceil(K.max()), t=t, K=K, sparsity=r)
        frames.append(
            pd.DataFrame(
                {
                    "kind": "pruning",
                    "run": _run(size),
                    "t": t,
                    "params": size,
                    "sparsity": r,
                    "delta_loss": noisy("pruning", mu),
                }
            )  # fmt: skip
        )

    if "density" in config.kinds:
        t_d = _log_grid(config.t_min, config.t_max, config.density_points)
        P = np.repeat(sizes, t_d.size)
        t = np.tile(t_d, len(sizes))
        compute = _round(P * t)
        K = np.array([config.capacity(p) for p in P])
        mu = config.density_scale * np.minimum(_k_star(config, compute / P), K) / P
        frames.append(
            pd.DataFrame(
                {
                    "kind": "density",
                    "run": [_run(p) for p in P],
                    "params": P,
                    "compute": compute,
                    "density": noisy("density", mu),
                }
            )  # fmt: skip
        )

    if "spectrum" in config.kinds:
        k = _distinct_log_integers(config.spectrum_k_max, config.spectrum_points)
        kf = k.astype(float)
        frames.append(
            pd.DataFrame(
                {
                    "kind": "spectrum",
                    "run": "spectrum",
                    "k": pd.array(k, dtype="Int64"),
                    "eigenvalue": noisy("spectrum", config.Lam * kf ** (-config.b)),
                    "target_power": noisy("spectrum", config.A * kf ** (-config.a)),
                }
            )  # fmt: skip
        )

    if "modes" in config.kinds:
        size = sizes[-1]
        pick = np.unique(np.round(np.linspace(0, t_loss.size - 1, config.modes_points)).astype(int))
        t_m = t_loss[pick]
        k = np.repeat(np.asarray(config.modes_k, dtype=np.int64), t_m.size)
        t = np.tile(t_m, len(config.modes_k))
        phi = _learned_fraction(config, k.astype(float), t)
        keep = (phi > config.modes_min) & (phi < config.modes_max)
        dropped["modes"] = int((~keep).sum())
        k, t, phi = k[keep], t[keep], phi[keep]
        z = children["modes"].standard_normal(phi.shape)
        logit = np.log(phi) - np.log1p(-phi) + config.noise * z
        frames.append(
            pd.DataFrame(
                {
                    "kind": "modes",
                    "run": _run(size),
                    "t": t,
                    "params": size,
                    "k": pd.array(k, dtype="Int64"),
                    "learned_fraction": 1.0 / (1.0 + np.exp(-logit)),
                }
            )  # fmt: skip
        )

    if "data_scaling" in config.kinds:
        from gsf_infer.model.forward.laws import redundancy_alpha

        samples = np.unique(
            np.round(np.geomspace(config.samples_min, config.samples_max, config.data_points))
        ).astype(np.int64)
        alpha = float(redundancy_alpha(config.b, config.s))
        mu = config.E_ds + config.B_ds * samples.astype(float) ** (-alpha)
        frames.append(
            pd.DataFrame(
                {
                    "kind": "data_scaling",
                    "run": "data_scaling",
                    "samples": pd.array(samples, dtype="Int64"),
                    "loss": noisy("data_scaling", mu),
                }
            )  # fmt: skip
        )

    frame = pd.concat(frames, ignore_index=True)
    order = [c for c in schema.COLUMNS if c in frame.columns]
    frame = frame[order]
    return frame, _truth(config, frame, dropped, sizes, t_loss)


def _truth(config, frame, dropped, sizes, t_loss) -> dict[str, Any]:
    fam_uses = {
        "ntk": (), "feature": ("n",), "monomial": ("m", "n"), "logcorr": ("m", "n", "tau"),
        "ridge": ("kap",),
    }[config.family]  # fmt: skip
    m_eff = config.m if "m" in fam_uses else 1.0
    n_eff = config.n if "n" in fam_uses else 1.0
    parameters = {
        "a": config.a, "b": config.b, "m": m_eff, "n": n_eff, "c": config.c, "A": config.A,
        "Lam": config.Lam, "E": config.E, "tau": config.tau, "kap": config.kap,
        "kappa": config.kappa, "nu": config.nu, "sigma0_sq": config.sigma0_sq,
        "pruning_scale": config.pruning_scale, "density_scale": config.density_scale,
        "s": config.s, "E_ds": config.E_ds, "B_ds": config.B_ds,
    }  # fmt: skip
    shape_only = {"m", "n", "tau", "kap"}
    unused = sorted(name for name in shape_only if name not in fam_uses)
    t_ref = float(t_loss[-1])
    truth: dict[str, Any] = {
        "simulator": "gsf-infer simulate gsf (exact discrete forward model of the theory)",
        "version": __version__,
        "family": config.family,
        "parameters": parameters,
        "unused_by_family": unused,
        "exponents": exponents_truth(config, t_ref),
        "exponents_at_t": t_ref,
        "capacities": {_run(p): config.capacity(p) for p in sizes},
        "frontier": {
            "t": [float(t_loss[0]), t_ref],
            "k_star": [float(v) for v in _k_star(config, np.array([t_loss[0], t_ref]))],
        },
        "records": {
            k: int(v)
            for k, v in frame["kind"].value_counts().reindex(schema.KINDS).dropna().items()
        },
        "dropped": dropped,
        "pruning_metric": config.pruning_metric,
        "noise": {"kind": "log-normal (modes: normal on logit phi)", "sd": config.noise},
        "settings": _settings(config),
    }
    if config.family in ("logcorr", "ridge"):
        ts = _round(np.geomspace(config.t_min, config.t_max, 6))
        truth["rho_of_t"] = {
            "t": [float(t) for t in ts],
            "rho": [exponents_truth(config, float(t))["rho"] for t in ts],
        }
    if "pruning" in config.kinds:
        from gsf_infer.model.forward import derived

        spec, g, fam = _forward(config)
        K = config.capacity(config.pruning_size)
        ts = np.asarray(config.pruning_times, float)
        truth["pruning_critical_rate"] = {
            "t": [float(t) for t in ts],
            "r_star": [float(v) for v in derived.critical_pruning_rate(ts, K, spec, g, fam)],
        }
    return truth


def _settings(config: GsfSimConfig) -> dict[str, Any]:
    out = asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


# --------------------------------------------------------------------------- provenance


def _format_value(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(_format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return str(value)


def command_line(config: GsfSimConfig, seed: int, out: str, truth: str | None = None) -> str:
    """Return the ``gsf-infer simulate gsf`` command that reproduces ``config``."""
    parts = ["gsf-infer", "simulate", "gsf", "--out", str(out)]
    if truth is not None:
        parts += ["--truth", str(truth)]
    parts += ["--seed", str(seed)]
    for f in fields(config):
        value = getattr(config, f.name)
        if value is None:
            continue
        parts += [_option(f.name), _format_value(value)]
    return " ".join(parts)


def simulation_provenance(
    config: GsfSimConfig, truth: dict[str, Any], seed: int, command: str
) -> dict[str, str]:
    """One-line facts for the table's ``# key: value`` header (nothing time-dependent)."""
    params = truth["parameters"]
    ex = truth["exponents"]
    prov = {
        "source": "synthetic: gsf-infer simulate gsf (exact discrete forward model of the theory)",
        "command": command,
        "version": __version__,
        "seed": str(seed),
        "family": config.family,
        "truth": ", ".join(
            f"{k}={params[k]:g}" for k in ("a", "b", "m", "n", "c", "A", "Lam", "E", "kappa", "nu")
        ),
        "exponents": ", ".join(
            f"{k}={ex[k]:.6g}" for k in ("rho", "chi", "gamma", "rho_over_b", "pruning_slope")
        )
        + f" (at t={truth['exponents_at_t']:g})",
        "noise": f"log-normal, sd {config.noise:g} on every observed value (modes: on logit)",
        "records": ", ".join(f"{k}: {v}" for k, v in truth["records"].items()),
    }
    if "modes" in truth["dropped"]:
        prov["dropped"] = (
            f"modes: {truth['dropped']['modes']} records with noiseless phi outside "
            f"({config.modes_min:g}, {config.modes_max:g})"
        )
    return prov
