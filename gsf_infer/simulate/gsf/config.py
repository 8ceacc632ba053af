"""Settings of ``gsf-infer simulate gsf``: :class:`GsfSimConfig` and its validation.

Owns what defines one data set besides the seed (the ``g`` family, every parameter, capacities,
grids, kinds and noise level) and says, option by option, what is wrong with a choice. Imports
the standard library, :mod:`gsf_infer.errors` and :mod:`gsf_infer.data.schema` only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gsf_infer.data import schema
from gsf_infer.errors import Problem
from gsf_infer.simulate.common import option_name

#: Reports one problem: the settings field, the message and the offending value.
_Bad = Callable[[str, str, Any], None]

__all__ = ["DEFAULT_KINDS", "FAMILY_NAMES", "PRUNING_METRICS", "GsfSimConfig", "check_config"]

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


def check_config(config: GsfSimConfig) -> list[Problem]:
    """Return every problem with a configuration (empty when it is usable).

    Each :class:`~gsf_infer.errors.Problem` names the CLI option (``--a``, ``--sizes``, …).
    """
    problems: list[Problem] = []

    def bad(name: str, message: str, value: Any) -> None:
        problems.append(Problem(path=option_name(name), message=message, value=value))

    _check_names(config, bad)
    _check_numbers(config, bad)
    _check_lists(config, bad)
    return problems


def _check_names(config: GsfSimConfig, bad: _Bad) -> None:
    """Check the family, the kinds and the pruning metric."""
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


def _check_numbers(config: GsfSimConfig, bad: _Bad) -> None:
    """Check the exponents, amplitudes and counts."""
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


def _check_lists(config: GsfSimConfig, bad: _Bad) -> None:
    """Check the comma-separated options, then the bounded ranges."""
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
            bad(lo, f"must be below {option_name(hi)}", getattr(config, lo))
    if config.spectrum_points > config.spectrum_k_max:
        bad(
            "spectrum_points",
            "cannot exceed --spectrum-k-max distinct integers",
            config.spectrum_points,
        )
