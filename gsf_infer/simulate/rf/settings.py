"""Settings of one ``simulate rf`` data set and the names of its options.

This module owns :class:`RFSettings` (a frozen dataclass that checks itself on construction)
and the tuples of allowed option values. It imports only the standard library and
:mod:`gsf_infer.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gsf_infer.errors import InputError, Problem
from gsf_infer.simulate.common import finite, is_int, plain_dict

#: Record kinds this simulator writes.
KINDS: tuple[str, ...] = ("loss", "quantization", "pruning", "modes", "spectrum")
#: What ``quantization`` rounds: the features z = F x (activations), the feature weights F, or
#: the read-out v.
QUANTIZE_TARGETS: tuple[str, ...] = ("features", "feature-weights", "readout")
#: How ``pruning`` removes a fraction r of the read-out.
PRUNING_METHODS: tuple[str, ...] = ("spectral", "magnitude")
#: What ``pruning`` records as ``delta_loss``.
PRUNING_MEASURES: tuple[str, ...] = ("distance", "loss")
#: Basis in which ``modes`` measures learned fractions.
MODES_BASES: tuple[str, ...] = ("input", "kernel")
#: How SGD minibatches are drawn.
SAMPLERS: tuple[str, ...] = ("reduced", "direct")

#: Largest quantizer bit width accepted (the features quantizer sums over ``2^bits`` levels).
MAX_BITS = 12


@dataclass(frozen=True)
class RFSettings:
    """Everything that defines one ``simulate rf`` data set (besides the seed).

    Parameters
    ----------
    a, b : float
        Target-power and spectral exponents: ``lambda_j = j^-b``, ``lambda_j w_j^2 = j^-a``.
    dim : int or None
        Number of explicit input coordinates ``D``; ``None`` means ``4 * max(widths)``.
    input_tail : bool
        Let the power-law continue beyond ``D`` (its feature covariance ``sum_{j>D} j^-b / N``
        per feature and its target power ``sum_{j>D} j^-a``), so the system approximates
        ``D = infinity``; without it the inputs stop at ``D``.
    widths : tuple of int
        Feature counts ``N`` (one training run each); the largest carries the compression,
        mode and spectrum records.
    steps : int
        SGD steps per run.
    checkpoints : int
        Log-spaced checkpoints in ``[1, steps]`` (duplicates after rounding merged).
    lr : float
        SGD learning rate ``eta`` (per step, on the half squared error).
    batch : int
        Minibatch size (fresh samples every step).
    weight_decay : float
        L2 penalty ``wd`` added to the half squared error as ``wd/2 |v|^2``.
    label_noise : float
        Standard deviation of Gaussian noise added to training labels (and counted in the
        population loss).
    bits : tuple of int
        Bit widths of the quantizer (``2^bits`` levels).
    quantize : str
        What is rounded, one of :data:`QUANTIZE_TARGETS`.
    clip : float
        ``features`` only: the quantizer's range is ``+-clip`` standard deviations of the widest
        feature channel (a population version of absmax calibration).
    sparsities : tuple of float
        Pruned fractions ``r`` in (0, 1).
    pruning : str
        One of :data:`PRUNING_METHODS`.
    pruning_measure : str
        One of :data:`PRUNING_MEASURES`.
    compress_every : int
        Compression records at every ``compress_every``-th checkpoint with ``t >= compress_min_t``.
    compress_min_t : int
        Earliest step with compression records.
    min_t : int
        Earliest step with ``loss`` and ``modes`` records. Gradient descent learns mode ``k``
        as ``1 - (1 - eta s_k)^t = 1 - exp(-g_k)`` with ``g_k = eta s_k t (1 + eta s_k/2 +
        ...)``; at the frontier (``g_k = 1``) the relative excess over the ``ntk`` law is
        ``~ eta s_k / 2 ~ 1/(2t)``: 6.4% at ``t = 8``, falling with ``t``.
    frontier_fraction : float
        Records of the dynamics (``loss`` of every width; ``quantization``, ``pruning`` and
        ``modes`` of the largest) are kept only at checkpoints where the measured frontier
        ``k_*(t)`` (the number of kernel modes with ``-t log(1 - lr s_k) >= 1``) is at most
        ``frontier_fraction * N``; SGD stops at the last kept checkpoint. ``1`` keeps every
        checkpoint.
    compress_frontier_fraction : float
        The same bound for ``quantization`` and ``pruning`` records (applied on top of
        ``frontier_fraction``): their sums weigh the modes at the frontier most, where the
        finite-width kernel spectrum departs from ``k^-b`` by ``~ k_*/N``.
    modes : tuple of int
        Mode indices ``k`` of the ``modes`` records.
    modes_basis : str
        One of :data:`MODES_BASES`.
    mode_margin : float
        A learned fraction is recorded only if ``mode_margin <= phi <= 1 - mode_margin``.
    spectrum_points : int
        Number of (log-spaced) mode indices in the ``spectrum`` records.
    spectrum_fraction : float
        Largest recorded mode index as a fraction of the largest width.
    kinds : tuple of str
        Record kinds to write (subset of :data:`KINDS`).
    sampler : str
        One of :data:`SAMPLERS`.

    Notes
    -----
    The defaults keep the records where the theory's assumptions hold for this system (the
    reasons and the measurements behind each number are in ``docs/decisions.md``):
    ``a = 1.75, b = 1.5`` (``chi = gamma = 0.5``, ``rho/b = 2/3``), ``N = 128 .. 2048``,
    ``D = 4 max(N)`` plus the tail, up to 16384 steps at ``eta = 0.25`` with batches of 16384,
    dynamics records while ``k_* <= N/32``, compression records while ``k_* <= N/64`` and from
    ``t = 64``, pruning cuts at ``k = N/32 .. N/512``, learned fractions along kernel
    eigenmodes ``k = 2 .. 32``, spectrum records up to ``k = N/64``.
    """

    a: float = 1.75
    b: float = 1.5
    dim: int | None = None
    input_tail: bool = True
    widths: tuple[int, ...] = (128, 256, 512, 1024, 2048)
    steps: int = 16384
    checkpoints: int = 25
    lr: float = 0.25
    batch: int = 16384
    weight_decay: float = 0.0
    label_noise: float = 0.0
    bits: tuple[int, ...] = (5, 6, 7, 8)
    quantize: str = "features"
    clip: float = 5.0
    sparsities: tuple[float, ...] = (0.96875, 0.984375, 0.9921875, 0.99609375, 0.998046875)
    pruning: str = "spectral"
    pruning_measure: str = "distance"
    compress_every: int = 2
    compress_min_t: int = 64
    min_t: int = 8
    frontier_fraction: float = 1.0 / 32.0
    compress_frontier_fraction: float = 1.0 / 64.0
    modes: tuple[int, ...] = (2, 4, 8, 16, 32)
    modes_basis: str = "kernel"
    mode_margin: float = 0.05
    spectrum_points: int = 24
    spectrum_fraction: float = 1.0 / 64.0
    kinds: tuple[str, ...] = KINDS
    sampler: str = "reduced"

    def __post_init__(self) -> None:
        problems = check_settings(self)
        if problems:
            raise InputError([Problem(path="simulate rf", message=m) for m in problems])

    @property
    def input_dim(self) -> int:
        """The input dimension ``D`` actually used."""
        return int(self.dim) if self.dim is not None else 4 * max(self.widths)

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON-able values (``dim`` resolved)."""
        out = plain_dict(self)
        out["dim"] = self.input_dim
        return out


def check_settings(s: RFSettings) -> list[str]:
    """Return one message per setting out of its range, in the order of the options.

    Parameters
    ----------
    s : RFSettings

    Returns
    -------
    list of str
        Empty when every setting is valid.
    """
    widths_ok = len(s.widths) >= 1 and all(is_int(n, 8) for n in s.widths)
    checks = [
        _above_one("--a", s.a),
        _above_one("--b", s.b),
        None if len(s.widths) >= 1 else "--widths needs at least one feature count",
        None if widths_ok or not s.widths else f"--widths must be integers >= 8 ({s.widths})",
        _distinct("--widths", s.widths),
        _dim(s) if widths_ok and s.dim is not None else None,
        _integer("--steps", s.steps, 8),
        _integer("--checkpoints", s.checkpoints, 3),
        None if finite(s.lr) and s.lr > 0 else f"--lr must be > 0 (got {s.lr})",
        _integer("--batch", s.batch, 1),
        _non_negative("--weight-decay", s.weight_decay),
        _non_negative("--label-noise", s.label_noise),
        _bits(s.bits),
        _distinct("--bits", s.bits),
        _choice("--quantize", s.quantize, QUANTIZE_TARGETS),
        None if finite(s.clip) and s.clip >= 1 else f"--clip must be >= 1 (got {s.clip})",
        _sparsities(s.sparsities),
        _distinct("--sparsities", s.sparsities),
        _choice("--pruning", s.pruning, PRUNING_METHODS),
        _choice("--pruning-measure", s.pruning_measure, PRUNING_MEASURES),
        _integer("--compress-every", s.compress_every, 1),
        _integer("--compress-min-t", s.compress_min_t, 1),
        _integer("--min-t", s.min_t, 1),
        _fraction("--frontier-fraction", s.frontier_fraction),
        _fraction("--compress-frontier-fraction", s.compress_frontier_fraction),
        _modes(s.modes, max(s.widths)) if widths_ok else None,
        _distinct("--modes", s.modes),
        _choice("--modes-basis", s.modes_basis, MODES_BASES),
        _margin(s.mode_margin),
        _integer("--spectrum-points", s.spectrum_points, 3),
        _fraction("--spectrum-fraction", s.spectrum_fraction),
        _kinds(s.kinds),
        _choice("--sampler", s.sampler, SAMPLERS),
    ]
    return [message for message in checks if message is not None]


# Each check below returns its message when the value breaks the rule, else None.


def _above_one(flag: str, x: Any) -> str | None:
    return None if finite(x) and x > 1 else f"{flag} must be a number > 1 (got {x})"


def _integer(flag: str, x: Any, low: int) -> str | None:
    return None if is_int(x, low) else f"{flag} must be an integer >= {low} ({x})"


def _non_negative(flag: str, x: Any) -> str | None:
    return None if finite(x) and x >= 0 else f"{flag} must be >= 0 (got {x})"


def _fraction(flag: str, x: Any) -> str | None:
    return None if finite(x) and 0 < x <= 1 else f"{flag} must lie in (0, 1] (got {x})"


def _choice(flag: str, x: Any, allowed: tuple[str, ...]) -> str | None:
    return None if x in allowed else f"{flag} must be one of {', '.join(allowed)} (got {x!r})"


def _distinct(flag: str, values: tuple) -> str | None:
    return None if len(set(values)) == len(values) else f"{flag} must not repeat ({values})"


def _dim(s: RFSettings) -> str | None:
    low = 2 * max(s.widths)
    if is_int(s.dim, low):
        return None
    return f"--dim must be an integer >= 2 * max(widths) = {low} (got {s.dim})"


def _bits(bits: tuple) -> str | None:
    if all(is_int(q, 2) and q <= MAX_BITS for q in bits):
        return None
    return f"--bits must be integers in [2, {MAX_BITS}] ({bits})"


def _sparsities(values: tuple) -> str | None:
    if all(finite(r) and 0 < r < 1 for r in values):
        return None
    return f"--sparsities must lie in (0, 1) ({values})"


def _modes(modes: tuple, largest: int) -> str | None:
    if all(is_int(k, 1) and k <= largest for k in modes):
        return None
    return f"--modes must be integers in [1, max(widths)] ({modes})"


def _margin(x: Any) -> str | None:
    return None if finite(x) and 0 < x < 0.5 else f"--mode-margin must lie in (0, 0.5) (got {x})"


def _kinds(kinds: tuple) -> str | None:
    if len(kinds) >= 1 and all(k in KINDS for k in kinds):
        return None
    return f"--kinds must be a non-empty subset of {', '.join(KINDS)} ({kinds})"
