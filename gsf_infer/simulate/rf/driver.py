"""The ``simulate rf`` driver: train every width, measure every record kind, keep the valid ones.

This module runs one simulation end to end and returns the records table with the truth; it
writes nothing (the command line hands the result to :mod:`gsf_infer.output.artifacts`). All
randomness comes from one ``numpy.random.Generator``, split with ``spawn`` into one stream for
the target signs and two per width (features, SGD). It imports NumPy, SciPy, pandas and the
sibling modules.

Notes
-----
Every width trains until its measured frontier passes ``frontier_fraction * N``; loss records
come from every width, compression, mode and spectrum records from the largest. Records are
kept only where the theory's assumptions hold for this system (the settings' defaults;
``docs/decisions.md`` gives the measurements behind them): quantization and pruning records
whose ``delta_loss`` is not positive, and learned fractions outside
``[mode_margin, 1 - mode_margin]``, are dropped and counted in the truth's ``measured`` facts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import zeta

from gsf_infer.simulate.rf.compression import pruning_delta, quantization_delta
from gsf_infer.simulate.rf.measure import (
    learned_fraction,
    measured_frontier,
    measured_spectrum,
    population_loss,
)
from gsf_infer.simulate.rf.settings import RFSettings
from gsf_infer.simulate.rf.sgd import checkpoint_steps, run_sgd
from gsf_infer.simulate.rf.system import InputModel, RFSystem, input_distribution, make_system
from gsf_infer.simulate.rf.truth import build_truth, provenance_of
from gsf_infer.simulate.table import records_frame

#: Columns of the records table, in the order written (all-empty ones are dropped).
COLUMNS = (
    "kind",
    "run",
    "t",
    "params",
    "loss",
    "delta_loss",
    "bits",
    "sparsity",
    "k",
    "eigenvalue",
    "target_power",
    "learned_fraction",
)
#: Integer columns (nullable ``Int64`` in the table).
INTEGER_COLUMNS = ("t", "params", "bits", "k")
#: Widths ``N/frac`` at which the truth records the spectral lift ``s_k k^b``.
LIFT_FRACTIONS = (64, 32, 16, 8, 4)


@dataclass
class RFResult:
    """Output of :func:`simulate_rf`.

    Attributes
    ----------
    frame : pandas.DataFrame
        The records (the columns of :data:`gsf_infer.data.schema.COLUMNS` it uses).
    truth : dict
        Known truth and every setting (the content of ``truth.json``).
    provenance : dict of str to str
        One-line facts for the table's ``# key: value`` header.
    """

    frame: pd.DataFrame
    truth: dict[str, Any]
    provenance: dict[str, str] = field(default_factory=dict)


class _Trained(NamedTuple):
    """One trained width: its system, run name, kept checkpoints and read-outs there."""

    system: RFSystem
    run: str
    times: np.ndarray
    frontier: np.ndarray
    vprimes: np.ndarray


def simulate_rf(settings: RFSettings, rng: np.random.Generator) -> RFResult:
    """Train random-feature models by SGD and measure every record kind.

    Parameters
    ----------
    settings : RFSettings
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    RFResult
    """
    widths = sorted(int(n) for n in settings.widths)
    gen_target, *gens = rng.spawn(1 + 2 * len(widths))
    inputs = input_distribution(settings, gen_target)
    times = checkpoint_steps(settings.steps, settings.checkpoints)
    rows: list[dict[str, Any]] = []
    measured: dict[str, Any] = {"widths": {}}
    for i, n in enumerate(widths):
        biggest = n == widths[-1]
        trained = _train(settings, inputs, n, biggest, times, gens[2 * i], gens[2 * i + 1])
        losses = population_loss(trained.system, trained.vprimes, settings.label_noise)
        measured["widths"][trained.run] = _width_facts(settings, trained, times, losses)
        if "loss" in settings.kinds:
            rows += _loss_rows(settings, trained, losses)
        if biggest:
            rows += _largest_width_rows(settings, trained, measured)
    truth = build_truth(settings, measured)
    frame = records_frame(rows, COLUMNS, INTEGER_COLUMNS)
    return RFResult(frame=frame, truth=truth, provenance=provenance_of(settings, truth))


def _train(
    settings: RFSettings,
    inputs: InputModel,
    n: int,
    biggest: bool,
    times: np.ndarray,
    gen_system: np.random.Generator,
    gen_sgd: np.random.Generator,
) -> _Trained:
    """Draw width ``n``'s features and train it up to the last checkpoint inside the frontier."""
    system = make_system(
        inputs,
        n,
        gen_system,
        keep_columns=settings.modes if biggest else (),
        keep_features=settings.sampler == "direct",
    )
    frontier = measured_frontier(system, settings.lr, times)
    run_times = times[frontier <= settings.frontier_fraction * n]
    vprimes = run_sgd(system, settings, run_times, gen_sgd)
    return _Trained(system, f"rf_N{n}", run_times, frontier[: run_times.size], vprimes)


def _width_facts(
    settings: RFSettings, trained: _Trained, times: np.ndarray, losses: np.ndarray
) -> dict[str, Any]:
    """Loss floor against ``sum_{k>N} p_k`` and where training stopped, for the truth."""
    system, run_times = trained.system, trained.times
    n = system.width
    tail_sum = float(zeta(settings.a, n + 1))
    floor_ratio = system.residual / tail_sum
    return {
        "residual_loss": system.residual,
        "sum_p_beyond_N": tail_sum,
        "floor_ratio": floor_ratio,
        "effective_K_over_N": floor_ratio ** (-1.0 / (settings.a - 1.0)),
        "last_step": int(run_times[-1]) if run_times.size else 0,
        "frontier_at_last_step": int(trained.frontier[-1]) if run_times.size else 0,
        "checkpoints_beyond_frontier_fraction": int(times.size - run_times.size),
        "final_loss": float(losses[-1]) if run_times.size else None,
    }


def _loss_rows(settings: RFSettings, trained: _Trained, losses: np.ndarray) -> list[dict]:
    early = trained.times >= settings.min_t
    n = trained.system.width
    return [
        {"kind": "loss", "run": trained.run, "t": int(t), "params": n, "loss": float(l_)}
        for t, l_ in zip(trained.times[early], losses[early], strict=True)
    ]


def _largest_width_rows(
    settings: RFSettings, trained: _Trained, measured: dict[str, Any]
) -> list[dict]:
    """Compression, modes and spectrum records of the largest width (and their facts)."""
    measured["spectral_lift_s_over_lambda"] = _spectral_lift(trained.system, settings.b)
    measured["kernel_spectrum_slopes"] = _spectrum_slopes(trained.system)
    picked = _compression_indices(trained.times, trained.frontier, settings, trained.system.width)
    rows: list[dict] = []
    if "quantization" in settings.kinds:
        rows += _quantization_rows(settings, trained, picked, measured)
    if "pruning" in settings.kinds:
        rows += _pruning_rows(settings, trained, picked, measured)
    if "modes" in settings.kinds:
        rows += _modes_rows(settings, trained, measured)
    if "spectrum" in settings.kinds:
        rows += _spectrum_rows(settings, trained)
    return rows


def _spectral_lift(system: RFSystem, b: float) -> dict[str, float]:
    """``s_k k^b`` (``s_k / lambda_k``) at ``k = N/64 .. N/4``: how far the spectrum is lifted."""
    n = system.width
    lift = {}
    for frac in LIFT_FRACTIONS:
        k = n // frac
        if k >= 1:
            lift[f"N/{frac}"] = float(system.s[k - 1] * k**b)
    return lift


def _spectrum_slopes(system: RFSystem) -> dict[str, float]:
    """Least-squares log-log slopes of ``s_k`` on ``k = 1..N/64``, ``N/64..N/16``, ``N/16..N/4``."""
    n = system.width
    local = {}
    for lo, hi in ((1, n // 64), (n // 64, n // 16), (n // 16, n // 4)):
        if hi - lo >= 3:
            ks = np.arange(lo, hi + 1)
            fit = np.polyfit(np.log(ks), np.log(system.s[ks - 1]), 1)[0]
            local[f"k={lo}..{hi}"] = float(fit)
    return local


def _quantization_rows(
    settings: RFSettings, trained: _Trained, picked: np.ndarray, measured: dict[str, Any]
) -> list[dict]:
    dls = quantization_delta(
        trained.system, trained.vprimes[picked], settings.bits, settings.quantize, settings.clip
    )
    rows: list[dict] = []
    for q, dl in zip(settings.bits, dls, strict=True):
        rows += _compression_rows(measured, "quantization", trained, picked, ("bits", int(q)), dl)
    return rows


def _pruning_rows(
    settings: RFSettings, trained: _Trained, picked: np.ndarray, measured: dict[str, Any]
) -> list[dict]:
    rows: list[dict] = []
    for sp in settings.sparsities:
        dl = pruning_delta(
            trained.system,
            trained.vprimes[picked],
            float(sp),
            settings.pruning,
            settings.pruning_measure,
        )
        rows += _compression_rows(measured, "pruning", trained, picked, ("sparsity", float(sp)), dl)
    return rows


def _compression_rows(
    measured: dict[str, Any],
    kind: str,
    trained: _Trained,
    picked: np.ndarray,
    setting: tuple[str, Any],
    deltas: np.ndarray,
) -> list[dict]:
    """Rows of one compression setting (``bits`` or ``sparsity``) at the picked checkpoints."""
    column, value = setting
    rows = [
        {
            "kind": kind,
            "run": trained.run,
            "t": int(trained.times[c]),
            "params": trained.system.width,
            column: value,
            "delta_loss": float(d),
        }
        for c, d in zip(picked, deltas, strict=True)
    ]
    return _positive_rows(measured, kind, rows)


def _modes_rows(settings: RFSettings, trained: _Trained, measured: dict[str, Any]) -> list[dict]:
    """Learned fractions inside ``[margin, 1 - margin]``; the others counted in ``measured``."""
    phi = learned_fraction(trained.system, trained.vprimes, settings.modes, settings.modes_basis)
    margin = settings.mode_margin
    rows: list[dict] = []
    dropped_out = dropped_margin = 0
    for c, t in enumerate(trained.times):
        if t < settings.min_t:
            continue
        for j, k in enumerate(settings.modes):
            value = float(phi[c, j])
            if margin <= value <= 1 - margin:
                rows.append(
                    {
                        "kind": "modes",
                        "run": trained.run,
                        "t": int(t),
                        "params": trained.system.width,
                        "k": int(k),
                        "learned_fraction": value,
                    }
                )
            elif 0 < value < 1:
                dropped_margin += 1
            else:
                dropped_out += 1
    measured["modes"] = {
        "kept": len(rows),
        "dropped_within_margin": dropped_margin,
        "dropped_outside_0_1": dropped_out,
    }
    return rows


def _spectrum_rows(settings: RFSettings, trained: _Trained) -> list[dict]:
    n = trained.system.width
    k_max = min(n, max(8, int(n * settings.spectrum_fraction)))
    ks, ev, tp = measured_spectrum(trained.system, settings.spectrum_points, k_max)
    rows = []
    for k, e, p in zip(ks, ev, tp, strict=True):
        row = {"kind": "spectrum", "run": trained.run, "params": n, "k": int(k)}
        row["eigenvalue"] = float(e)
        if np.isfinite(p):
            row["target_power"] = float(p)
        rows.append(row)
    return rows


def _compression_indices(
    times: np.ndarray, frontier: np.ndarray, settings: RFSettings, width: int
) -> np.ndarray:
    """Checkpoints (indices) with compression records: every ``compress_every``-th valid one.

    Valid means ``t >= compress_min_t`` and ``k_*(t) <= compress_frontier_fraction * N``; the
    last valid checkpoint is always included.
    """
    ok = (times >= settings.compress_min_t) & (
        frontier <= settings.compress_frontier_fraction * width
    )
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return idx
    picked = idx[:: int(settings.compress_every)]
    if picked[-1] != idx[-1]:
        picked = np.append(picked, idx[-1])
    return picked


def _positive_rows(measured: dict[str, Any], kind: str, rows: list[dict]) -> list[dict]:
    """Keep the rows with a finite positive ``delta_loss``; count kept and dropped."""
    kept = [r for r in rows if r["delta_loss"] > 0 and math.isfinite(r["delta_loss"])]
    stats = measured.setdefault(kind, {"kept": 0, "dropped_nonpositive": 0})
    stats["kept"] += len(kept)
    stats["dropped_nonpositive"] += len(rows) - len(kept)
    return kept
