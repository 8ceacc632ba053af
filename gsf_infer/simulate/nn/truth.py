"""What ``simulate nn`` knows and measured: the truth file and the table's provenance lines.

Responsible for summarising an experiment: the measured spectra and their power-law slopes, the
final losses, the record counts and what was dropped, and the statement of what is *not* known
(``a``, ``b``, ``rho`` of a trained network have no ground truth). Imports NumPy and the
subpackage's :mod:`~gsf_infer.simulate.nn.ntk` and settings; pandas objects are passed in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import numpy as np

from gsf_infer import __version__
from gsf_infer.simulate.common import format_value, option_name
from gsf_infer.simulate.nn import ntk
from gsf_infer.simulate.nn.settings import NNSettings

if TYPE_CHECKING:
    import pandas as pd

    from gsf_infer.simulate.nn.data import Digits
    from gsf_infer.simulate.nn.experiment import Kernel

__all__ = [
    "build_provenance",
    "build_truth",
    "command_line",
    "kernel_facts",
    "octave_power_slope",
]

_LOSS = (
    "test loss = mean over test images of the squared error summed over the 10 outputs, "
    "one-hot targets"
)


def octave_power_slope(power: np.ndarray, k_max: int) -> float | None:
    """Return the slope of ``log`` octave-mean target power against ``log`` octave centre.

    Over ``k`` in ``[2, k_max]`` (the values the ``spectrum`` records carry).
    """
    centres, means = [], []
    lo = 2
    while 2 * lo - 1 <= k_max:
        centres.append(round(math.sqrt(lo * (2 * lo - 1))))
        means.append(float(np.mean(power[lo - 1 : 2 * lo - 1])))
        lo *= 2
    c, m = np.asarray(centres, float), np.asarray(means)
    ok = m > 0
    if ok.sum() < 3:
        return None
    return float(np.polyfit(np.log(c[ok]), np.log(m[ok]), 1)[0])


def _slopes(kernel: Kernel, k_max: int) -> dict[str, Any]:
    local = {}
    lo = 2
    while lo < k_max:
        hi = min(4 * lo, k_max)
        local[f"k={lo}..{hi}"] = ntk.spectrum_slope(kernel.lam, lo, hi)
        lo = hi
    eigen_slope = ntk.spectrum_slope(kernel.lam, 2, k_max)
    power_slope = octave_power_slope(kernel.power, k_max)
    return {
        "b": None if eigen_slope is None else -eigen_slope,
        "a": None if power_slope is None else -power_slope,
        "eigenvalue_slope": eigen_slope,
        "target_power_slope": power_slope,
        "eigenvalue_local_slopes": local,
        "lambda_1": float(kernel.lam[0]),
        "lambda_2": float(kernel.lam[1]),
        "target_power_k1": float(kernel.power[0]),
        "trace": float(np.sum(kernel.lam)),
    }


def kernel_facts(kernel0: Kernel, kernel_end: Kernel, k_max: int) -> dict[str, Any]:
    """Power-law slopes of one network's NTK spectrum at initialisation and at the end.

    Parameters
    ----------
    kernel0, kernel_end : Kernel
        The empirical NTK before and after training.
    k_max : int
        Largest mode index of the fits (the range of the ``spectrum`` records, ``k >= 2``).

    Returns
    -------
    dict
        ``init`` and ``end``: ``b`` (minus the least-squares slope of ``log lambda_k`` on
        ``log k`` over ``k = 2..k_max``), ``a`` (minus the slope of the octave-mean target
        power), local eigenvalue slopes over factor-4 ranges, ``lambda_1``, ``lambda_2``,
        ``target_power_k1``, the trace; and ``alignment``: the share of the target power in
        the leading ``k_max`` directions at each end.
    """
    k = min(int(k_max), len(kernel0.lam))
    return {
        "k_range": [2, k],
        "init": _slopes(kernel0, k),
        "end": _slopes(kernel_end, k),
        "alignment": {
            "init": float(np.sum(kernel0.power[:k]) / np.sum(kernel0.power)),
            "end": float(np.sum(kernel_end.power[:k]) / np.sum(kernel_end.power)),
        },
    }


def _mean(values: Sequence[float | None]) -> float | None:
    ok = [v for v in values if v is not None]
    return float(np.mean(ok)) if ok else None


def build_truth(
    settings: NNSettings,
    seeds: Sequence[int],
    data: Digits,
    frame: pd.DataFrame,
    nets: Mapping[str, Any],
) -> dict[str, Any]:
    """Return the truth file: what is known (no ``a``, ``b``, ``rho``) and what was measured.

    ``measured_spectrum`` holds the slopes of the recorded kernel (``settings.spectrum_at``)
    averaged over seeds: the reference against which a fit's ``a`` and ``b`` are compared.
    """
    kernels = {run: net.facts["kernel"] for run, net in nets.items() if "kernel" in net.facts}
    at = settings.spectrum_at
    dropped: dict[str, int] = {}
    for net in nets.values():
        for kind, count in net.dropped.items():
            dropped[kind] = dropped.get(kind, 0) + count
    counts = frame["kind"].value_counts()
    n_train = int(data.x_train.shape[0])
    measured_spectrum = None
    if kernels:
        measured_spectrum = {
            "kernel": at,
            "k_range": next(iter(kernels.values()))["k_range"],
            "b": _mean([k[at]["b"] for k in kernels.values()]),
            "a": _mean([k[at]["a"] for k in kernels.values()]),
            "b_other_kernel": _mean([k[_other(at)]["b"] for k in kernels.values()]),
            "a_other_kernel": _mean([k[_other(at)]["a"] for k in kernels.values()]),
            "per_run": kernels,
        }
    return {
        "simulator": "gsf-infer simulate nn (fully connected networks trained by SGD on the "
        "scikit-learn digits)",
        "version": __version__,
        "seeds": [int(s) for s in seeds],
        "a": None,
        "b": None,
        "rho": None,
        "known": [
            "Nothing about a, b, rho, chi, gamma: a trained network has no ground truth for "
            "them. measured_spectrum gives the power-law slopes of its empirical NTK (b) and "
            "target power (a) over the recorded k range, to compare a fit's a and b with.",
            "In the kernel (lazy) limit the learned fractions would follow the ntk family "
            f"g = c lambda t with c = 2 lr = {2 * settings.lr:g} per step (lambda as recorded) "
            "and rho = 1; a network that learns features departs from it, by an unknown amount.",
        ],
        "loss": _LOSS,
        "measured_spectrum": measured_spectrum,
        "networks": {run: {k: v for k, v in net.facts.items() if k != "kernel"}
                     for run, net in nets.items()},  # fmt: skip
        "data": {"train": n_train, "test": int(data.x_test.shape[0]),
                 "ntk_subset": min(settings.ntk_subset, n_train)},  # fmt: skip
        "records": {str(k): int(v) for k, v in counts.items()},
        "dropped": dropped,
        "settings": settings.as_dict(),
    }


def _other(at: str) -> str:
    return "end" if at == "init" else "init"


def build_provenance(
    settings: NNSettings, seeds: Sequence[int], truth: Mapping[str, Any]
) -> dict[str, str]:
    """One-line facts for the table's ``# key: value`` header (nothing time-dependent)."""
    spectrum = truth.get("measured_spectrum") or {}
    prov = {
        "source": "gsf-infer simulate nn: fully connected networks (NTK parametrization) "
        "trained by SGD on scikit-learn's digits (1797 8x8 images)",
        "version": __version__,
        "seeds": ",".join(str(s) for s in seeds),
        "network": f"depth {settings.depth}, widths {','.join(map(str, settings.widths))}, "
        f"{settings.activation}, readout scale {settings.readout_scale:g}",
        "training": f"SGD lr {settings.lr:g}, batch {settings.batch}, {settings.steps} steps, "
        f"test fraction {settings.test_fraction:g} (split seed {settings.split_seed})",
        "loss": _LOSS,
        "compression": f"{settings.measure} increase on the test set; per-tensor mid-rise "
        "uniform rounding of weight matrices; per-tensor magnitude pruning of weight matrices",
        "spectrum": f"empirical NTK at {settings.spectrum_at} on {settings.ntk_subset} training "
        "images (Gram / n, outputs averaged); target power as octave means",
        "truth": "none for a, b, rho (a trained network)",
    }
    if spectrum.get("b") is not None and spectrum.get("a") is not None:
        lo, hi = spectrum["k_range"]
        prov["measured_spectrum"] = (
            f"b = {spectrum['b']:.4g}, a = {spectrum['a']:.4g} (least-squares slopes, "
            f"k = {lo}..{hi}, NTK at {spectrum['kernel']})"
        )
    return prov


def command_line(
    settings: NNSettings, seeds: Sequence[int], out: str, truth: str | None = None
) -> str:
    """Return the ``gsf-infer simulate nn`` command that reproduces a data set."""
    parts = ["gsf-infer", "simulate", "nn", "--out", str(out)]
    if truth is not None:
        parts += ["--truth", str(truth)]
    parts += ["--seeds", format_value(list(seeds))]
    for f in fields(settings):
        parts += [option_name(f.name), format_value(getattr(settings, f.name))]
    return " ".join(parts)
