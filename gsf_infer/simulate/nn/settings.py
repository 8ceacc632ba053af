"""Settings of ``gsf-infer simulate nn``: one frozen dataclass and its validation.

Responsible for what defines one simulated data set besides the seeds (the network family, the
training run, the data split and every measurement grid) and for saying, option by option, what
is wrong with a choice. Imports the standard library, :mod:`gsf_infer.errors` and
:mod:`gsf_infer.data.schema` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gsf_infer.errors import Problem
from gsf_infer.simulate.common import finite, is_int, option_name, plain_dict

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_KINDS",
    "KINDS",
    "MEASURES",
    "NTK_STAGES",
    "NNSettings",
    "check_settings",
    "checkpoint_steps",
    "option_name",
]

#: Largest precision ``--bits`` accepts.
_MAX_BITS = 24
#: Record kinds this simulator can write.
KINDS: tuple[str, ...] = ("loss", "quantization", "pruning", "spectrum", "modes", "density")
#: Kinds written by default (``density`` re-uses the ``modes`` measurements: on request only).
DEFAULT_KINDS: tuple[str, ...] = ("loss", "quantization", "pruning", "spectrum", "modes")
#: Hidden-layer nonlinearities.
ACTIVATIONS: tuple[str, ...] = ("relu", "tanh")
#: What a compression record measures: the test-loss increase, or the mean squared change of
#: the network's outputs on the test set, ``E_x (f_P - f)^2`` (the pruning loss of eq. 20 of
#: Y. Zhang, "A Generalized Spectral Framework to Explain Neural Scaling and Compression
#: Dynamics").
MEASURES: tuple[str, ...] = ("loss", "distance")
#: Which empirical NTK the ``spectrum`` records describe.
NTK_STAGES: tuple[str, ...] = ("init", "end")


@dataclass(frozen=True)
class NNSettings:
    """Everything that defines one ``simulate nn`` data set besides the seeds.

    Parameters
    ----------
    widths : tuple of int
        Hidden-layer widths ``N``, one network each (per seed).
    depth : int
        Number of hidden layers.
    activation : str
        Hidden nonlinearity, one of :data:`ACTIVATIONS`.
    readout_scale : float
        Standard deviation of the read-out weights at initialisation (the hidden weights have
        1); a small value keeps the initial function near zero, so that the residual the
        network learns is the target itself.
    steps : int
        SGD steps per network.
    checkpoints : int
        Log-spaced checkpoints in ``[1, steps]`` (duplicates after rounding merged).
    lr : float
        SGD learning rate (on the mean over examples of the squared error summed over the ten
        outputs).
    batch : int
        Minibatch size (drawn without replacement each step; ``>=`` the training set size
        means full-batch gradient descent).
    test_fraction : float
        Fraction of the 1797 images held out as the test set.
    split_seed : int
        Seed of the train/test permutation (the same split for every training seed).
    ntk_subset : int
        Number of training images on which the empirical NTK Gram matrix is computed.
    min_t : int
        Earliest step of the ``loss``, ``modes`` and ``density`` records.
    bits : tuple of int
        Precisions of the ``quantization`` records.
    compress_min_t : int
        Earliest step of the ``quantization`` and ``pruning`` records.
    sparsities : tuple of float
        Pruned fractions ``r`` in (0, 1) of the ``pruning`` records.
    pruning_checkpoints : int
        Number of checkpoints (log-spaced among those from ``compress_min_t``) at which every
        sparsity is measured.
    measure : str
        One of :data:`MEASURES`.
    modes : tuple of int
        Indices ``k`` of the NTK eigen-directions whose learned fractions are recorded.
    mode_margin : float
        A learned fraction is recorded only inside ``[mode_margin, 1 - mode_margin]``.
    spectrum_at : str
        One of :data:`NTK_STAGES`.
    spectrum_points : int
        Wanted number of log-spaced mode indices of the ``spectrum`` records.
    spectrum_fraction : float
        Largest recorded mode index as a fraction of ``ntk_subset`` (also the range of the
        frontier count behind ``density``).
    kinds : tuple of str
        Record kinds to write (subset of :data:`KINDS`).
    """

    widths: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
    depth: int = 1
    activation: str = "relu"
    readout_scale: float = 0.1
    steps: int = 16000
    checkpoints: int = 30
    lr: float = 0.5
    batch: int = 128
    test_fraction: float = 0.3
    split_seed: int = 0
    ntk_subset: int = 512
    min_t: int = 10
    bits: tuple[int, ...] = (3, 4, 6, 8)
    compress_min_t: int = 16
    sparsities: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 0.9, 0.95)
    pruning_checkpoints: int = 6
    measure: str = "loss"
    modes: tuple[int, ...] = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
    mode_margin: float = 0.05
    spectrum_at: str = "init"
    spectrum_points: int = 24
    spectrum_fraction: float = 0.25
    kinds: tuple[str, ...] = DEFAULT_KINDS

    @property
    def k_max(self) -> int:
        """Largest mode index of the ``spectrum`` records and of the frontier count."""
        return max(2, int(self.spectrum_fraction * self.ntk_subset))

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON-able values."""
        return plain_dict(self)


def checkpoint_steps(steps: int, count: int) -> list[int]:
    """Distinct integer steps log-spaced in ``[1, steps]`` (at most ``count``).

    Parameters
    ----------
    steps : int
        Last step.
    count : int
        Wanted number of checkpoints before rounding duplicates away.

    Returns
    -------
    list of int
        Increasing steps, the first 1 and the last ``steps``.
    """
    if count <= 1 or steps <= 1:
        return [int(steps)]
    ratio = math.log(steps) / (count - 1)
    return sorted({max(1, min(steps, round(math.exp(i * ratio)))) for i in range(count)})


def _joined(values: Any) -> str:
    return ",".join(str(v) for v in values)


def check_settings(s: NNSettings) -> list[Problem]:
    """Return every problem with a choice of settings (empty when it is usable).

    Each :class:`~gsf_infer.errors.Problem` names the CLI option and the offending value.
    """
    problems: list[Problem] = []

    def need(ok: bool, name: str, message: str, value: Any) -> None:
        if not ok:
            problems.append(Problem(path=option_name(name), message=message, value=value))

    need(
        len(s.widths) >= 1 and all(is_int(n, 2) for n in s.widths),
        "widths", "needs integer widths >= 2", _joined(s.widths),
    )  # fmt: skip
    need(len(set(s.widths)) == len(s.widths), "widths", "a width is listed twice",
         _joined(s.widths))  # fmt: skip
    need(is_int(s.depth, 1) and s.depth <= 8, "depth", "must be an integer in [1, 8]", s.depth)
    need(s.activation in ACTIVATIONS, "activation", "must be relu or tanh", s.activation)
    need(finite(s.readout_scale) and s.readout_scale > 0, "readout_scale", "must be > 0",
         s.readout_scale)  # fmt: skip
    need(is_int(s.steps, 2), "steps", "must be an integer >= 2", s.steps)
    need(is_int(s.checkpoints, 3), "checkpoints", "must be an integer >= 3", s.checkpoints)
    need(finite(s.lr) and s.lr > 0, "lr", "must be > 0", s.lr)
    need(is_int(s.batch, 1), "batch", "must be an integer >= 1", s.batch)
    need(finite(s.test_fraction) and 0.05 <= s.test_fraction <= 0.8, "test_fraction",
         "must lie in [0.05, 0.8]", s.test_fraction)  # fmt: skip
    need(is_int(s.split_seed, 0), "split_seed", "must be an integer >= 0", s.split_seed)
    need(is_int(s.ntk_subset, 8), "ntk_subset", "must be an integer >= 8", s.ntk_subset)
    for name in ("min_t", "compress_min_t"):
        need(is_int(getattr(s, name), 1), name, "must be an integer >= 1", getattr(s, name))
    need(
        len(s.bits) >= 1 and all(is_int(q, 1) and q <= _MAX_BITS for q in s.bits),
        "bits", f"needs integer precisions in [1, {_MAX_BITS}]", _joined(s.bits),
    )  # fmt: skip
    need(len(set(s.bits)) == len(s.bits), "bits", "a precision is listed twice", _joined(s.bits))
    need(
        len(s.sparsities) >= 1 and all(finite(r) and 0 < r < 1 for r in s.sparsities),
        "sparsities", "needs pruned fractions in (0, 1)", _joined(s.sparsities),
    )  # fmt: skip
    need(len(set(s.sparsities)) == len(s.sparsities), "sparsities",
         "a sparsity is listed twice", _joined(s.sparsities))  # fmt: skip
    need(is_int(s.pruning_checkpoints, 1), "pruning_checkpoints", "must be an integer >= 1",
         s.pruning_checkpoints)  # fmt: skip
    need(s.measure in MEASURES, "measure", "must be loss or distance", s.measure)
    need(
        len(s.modes) >= 1 and all(is_int(k, 1) for k in s.modes),
        "modes", "needs integer mode indices >= 1", _joined(s.modes),
    )  # fmt: skip
    need(finite(s.mode_margin) and 0 < s.mode_margin < 0.5, "mode_margin",
         "must lie in (0, 0.5)", s.mode_margin)  # fmt: skip
    need(s.spectrum_at in NTK_STAGES, "spectrum_at", "must be init or end", s.spectrum_at)
    need(is_int(s.spectrum_points, 3), "spectrum_points", "must be an integer >= 3",
         s.spectrum_points)  # fmt: skip
    need(finite(s.spectrum_fraction) and 0 < s.spectrum_fraction <= 1, "spectrum_fraction",
         "must lie in (0, 1]", s.spectrum_fraction)  # fmt: skip
    unknown = [k for k in s.kinds if k not in KINDS]
    need(not unknown, "kinds", "unknown kind(s); known: " + ", ".join(KINDS), _joined(unknown))
    need(len(s.kinds) >= 1, "kinds", "needs at least one kind", "")
    need(len(set(s.kinds)) == len(s.kinds), "kinds", "a kind is listed twice", _joined(s.kinds))
    if not problems:
        problems += _check_combinations(s)
    return problems


def _check_combinations(s: NNSettings) -> list[Problem]:
    out: list[Problem] = []
    if max(s.modes) > s.ntk_subset:
        out.append(Problem(path="--modes", message=f"mode indices cannot exceed --ntk-subset "
                           f"({s.ntk_subset})", value=_joined(s.modes)))  # fmt: skip
    if s.compress_min_t > s.steps or s.min_t > s.steps:
        out.append(Problem(path="--steps", message="must reach --min-t and --compress-min-t",
                           value=s.steps))  # fmt: skip
    return out
