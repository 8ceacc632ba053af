"""Train the network family and measure every record kind: the body of ``simulate nn``.

Responsible for running the experiment (for each seed, one network per width, trained to the
checkpoints) and turning the measurements into records; the truth and provenance are assembled
in :mod:`gsf_infer.simulate.nn.truth`. Imports NumPy, JAX (pandas lazily) and the other modules
of this subpackage; writes nothing (the CLI hands the table to :mod:`gsf_infer.output.artifacts`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from gsf_infer.errors import InputError, Problem
from gsf_infer.simulate.nn import compress, network, ntk
from gsf_infer.simulate.nn.data import CLASSES, Digits, load_split
from gsf_infer.simulate.nn.settings import NNSettings, check_settings, checkpoint_steps
from gsf_infer.simulate.nn.truth import build_provenance, build_truth, kernel_facts
from gsf_infer.simulate.table import records_frame

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "NNResult", "Kernel", "measure_kernel", "run_name", "simulate_nn",
           "spectrum_rows"]  # fmt: skip

#: Columns of the records table, in order (``seed`` and ``width`` are metadata).
COLUMNS: tuple[str, ...] = (
    "kind", "run", "seed", "width", "params", "t", "compute", "loss", "delta_loss", "bits",
    "sparsity", "density", "k", "eigenvalue", "target_power", "learned_fraction",
)  # fmt: skip
_INT_COLUMNS = ("seed", "width", "params", "t", "bits", "k")


@dataclass
class NNResult:
    """Output of :func:`simulate_nn`.

    Attributes
    ----------
    frame : pandas.DataFrame
        The records (columns :data:`COLUMNS` that hold a value).
    truth : dict
        What is known and what was measured (the content of the truth file).
    provenance : dict of str to str
        One-line facts for the table's ``# key: value`` header.
    """

    frame: pd.DataFrame
    truth: dict[str, Any]
    provenance: dict[str, str] = field(default_factory=dict)


@dataclass
class Kernel:
    """The empirical NTK of one network on the NTK subset, eigen-decomposed.

    Attributes
    ----------
    lam : numpy.ndarray, shape (n,)
        Eigenvalues of the Gram matrix divided by ``n``, decreasing.
    vectors : numpy.ndarray, shape (n, n)
        Unit eigenvectors (columns).
    power : numpy.ndarray, shape (n,)
        Target power ``p_k`` of each direction.
    """

    lam: np.ndarray
    vectors: np.ndarray
    power: np.ndarray


def run_name(width: int, seed: int) -> str:
    """Run identifier of the network of ``width`` trained with ``seed``."""
    return f"N{int(width)}_s{int(seed)}"


def measure_kernel(
    params: network.Params, x: jax.Array, y: np.ndarray, activation: str
) -> Kernel:
    """Gram matrix, eigen-decomposition and target power of one network on ``(x, y)``."""
    lam, vectors = ntk.eigen(ntk.ntk_gram(params, x, activation))
    return Kernel(lam=lam, vectors=vectors, power=ntk.target_power(vectors, y))


def spectrum_rows(kernel: Kernel, k_max: int, points: int) -> list[dict[str, Any]]:
    """Return the spectrum records: eigenvalues at log-spaced ``k``, target powers on octaves.

    ``k`` runs over ``[2, k_max]``.
    Eigenvalues are single ``lambda_k``. Target powers are given at the integer geometric
    centre of each octave ``[2^i, 2^(i+1))`` inside ``[2, k_max]``, as the mean of ``p_j`` over
    the octave: a single ``p_j`` is a sum of ``C`` squared projections and scatters about the
    trend like a scaled chi-square with ``C`` degrees of freedom.

    Returns
    -------
    list of dict
        ``k``, ``eigenvalue`` and, at octave centres, ``target_power``; only positive values.
    """
    k_max = min(int(k_max), len(kernel.lam))
    ks = {int(k) for k in np.round(np.geomspace(2, k_max, int(points)))}
    power_at: dict[int, float] = {}
    lo = 2
    while 2 * lo - 1 <= k_max:
        centre = int(round(math.sqrt(lo * (2 * lo - 1))))
        power_at[centre] = float(np.mean(kernel.power[lo - 1 : 2 * lo - 1]))
        lo *= 2
    rows = []
    for k in sorted(ks | set(power_at)):
        value = float(kernel.lam[k - 1])
        if not value > 0:
            continue
        row: dict[str, Any] = {"k": k, "eigenvalue": value}
        if power_at.get(k, 0.0) > 0:
            row["target_power"] = power_at[k]
        rows.append(row)
    return rows


@dataclass
class _Net:
    """What one network contributes: records and measured facts."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, kind: str, count: int = 1) -> None:
        self.dropped[kind] = self.dropped.get(kind, 0) + count


def _pruning_steps(steps: Sequence[int], settings: NNSettings) -> set[int]:
    """Return the checkpoints (from ``compress_min_t``) nearest to a log-spaced grid."""
    eligible = np.array([t for t in steps if t >= settings.compress_min_t], dtype=float)
    if eligible.size == 0:
        return set()
    grid = np.geomspace(eligible[0], eligible[-1], int(settings.pruning_checkpoints))
    return {int(eligible[np.argmin(np.abs(np.log(eligible) - math.log(g)))]) for g in grid}


def _compression_rows(
    net: _Net, settings: NNSettings, params: network.Params, t: int, prune_now: bool,
    test: tuple[jax.Array, jax.Array],
) -> None:  # fmt: skip
    """Record the loss increase of every compression due at step ``t`` (positive ones)."""
    x, y = test
    for kind, column, level, compressed in _compressions(settings, params, t, prune_now):
        value = compress.compression_increase(
            params, compressed, x, y, settings.activation, settings.measure
        )
        if value > 0 and math.isfinite(value):
            net.rows.append({"kind": kind, "t": t, column: level, "delta_loss": value})
        else:
            net.drop(kind)


def _compressions(
    settings: NNSettings, params: network.Params, t: int, prune_now: bool
) -> Iterator[tuple[str, str, int | float, network.Params]]:
    """Yield ``(kind, column, level, compressed params)`` for each compression due at ``t``."""
    if "quantization" in settings.kinds and t >= settings.compress_min_t:
        for bits in settings.bits:
            yield "quantization", "bits", int(bits), compress.quantize(params, int(bits))
    if "pruning" in settings.kinds and prune_now:
        for r in settings.sparsities:
            yield "pruning", "sparsity", float(r), compress.prune(params, float(r))


def _mode_rows(net: _Net, settings: NNSettings, t: int, phi: np.ndarray) -> None:
    margin = settings.mode_margin
    for k, value in zip(settings.modes, phi, strict=True):
        if margin <= value <= 1.0 - margin:
            net.rows.append({"kind": "modes", "t": t, "k": int(k),
                             "learned_fraction": float(value)})  # fmt: skip
        else:
            net.drop("modes")


def _density_row(net: _Net, settings: NNSettings, t: int, count: int, n_params: int) -> None:
    """``density = k_*(t) / P`` at ``compute = P t``, kept while ``1 <= k_* <= k_max / 2``."""
    if 1 <= count <= settings.k_max // 2:
        net.rows.append({"kind": "density", "compute": n_params * t,
                         "density": count / n_params})  # fmt: skip
    else:
        net.drop("density")


def _train_and_measure(
    net: _Net, settings: NNSettings, data: Digits, params0: network.Params,
    kernel0: Kernel | None, detailed: bool, rng_key: jax.Array, n_params: int,
) -> network.Params:  # fmt: skip
    """Train one network, appending its records to ``net``; return the final parameters."""
    act = settings.activation
    steps = checkpoint_steps(settings.steps, settings.checkpoints)
    prune_at = _pruning_steps(steps, settings) if detailed else set()
    x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    test = (jnp.asarray(data.x_test), jnp.asarray(data.y_test))
    subset = x_train[: settings.ntk_subset]
    want_modes = detailed and "modes" in settings.kinds
    want_density = "density" in settings.kinds
    if kernel0 is not None:
        f0 = np.asarray(network.apply(params0, subset, act))
        residual0 = np.asarray(y_train[: settings.ntk_subset]) - f0
        all_k = list(range(2, settings.k_max + 1))
    params = params0
    for t, params in network.train(
        params0, x_train, y_train, steps, lr=settings.lr, batch=settings.batch,
        activation=act, rng_key=rng_key,
    ):  # fmt: skip
        if t >= settings.min_t and "loss" in settings.kinds:
            loss = float(network.mse(network.apply(params, test[0], act), test[1]))
            net.rows.append({"kind": "loss", "t": t, "loss": loss})
        if detailed:
            _compression_rows(net, settings, params, t, t in prune_at, test)
        if kernel0 is None or t < settings.min_t:
            continue
        change = np.asarray(network.apply(params, subset, act)) - f0
        if want_modes:
            phi = ntk.learned_fractions(kernel0.vectors, residual0, change, settings.modes)
            _mode_rows(net, settings, t, phi)
        if want_density:
            phi = ntk.learned_fractions(kernel0.vectors, residual0, change, all_k)
            _density_row(net, settings, t, ntk.frontier_count(phi), n_params)
    return params


def _measure_network(
    settings: NNSettings, data: Digits, width: int, seed: int, rng_key: jax.Array,
    detailed: bool,
) -> _Net:  # fmt: skip
    """Initialise, train and measure the network of ``width`` (all kinds if ``detailed``)."""
    act = settings.activation
    n_in = data.x_train.shape[1]
    init_key, train_key = jax.random.split(rng_key)
    params0 = network.init_params(
        init_key, n_in, width, settings.depth, CLASSES, settings.readout_scale
    )
    n_params = network.count_params(n_in, width, settings.depth, CLASSES)
    subset = jnp.asarray(data.x_train[: settings.ntk_subset])
    y_subset = data.y_train[: settings.ntk_subset]
    want_kernel = (detailed and {"modes", "spectrum"} & set(settings.kinds)) or (
        "density" in settings.kinds
    )
    kernel0 = measure_kernel(params0, subset, y_subset, act) if want_kernel else None
    net = _Net()
    params = _train_and_measure(
        net, settings, data, params0, kernel0, detailed, train_key, n_params
    )
    outputs = network.apply(params, jnp.asarray(data.x_test), act)
    net.facts = {
        "params": n_params,
        "final_test_loss": float(network.mse(outputs, jnp.asarray(data.y_test))),
        "final_test_accuracy": float(np.mean(np.argmax(np.asarray(outputs), 1)
                                             == data.labels_test)),  # fmt: skip
        "final_train_loss": float(network.mse(
            network.apply(params, jnp.asarray(data.x_train), act), jnp.asarray(data.y_train)
        )),
    }  # fmt: skip
    if detailed and kernel0 is not None:
        kernel_end = measure_kernel(params, subset, y_subset, act)
        net.facts["kernel"] = kernel_facts(kernel0, kernel_end, settings.k_max)
        if "spectrum" in settings.kinds:
            chosen = kernel0 if settings.spectrum_at == "init" else kernel_end
            for row in spectrum_rows(chosen, settings.k_max, settings.spectrum_points):
                net.rows.append({"kind": "spectrum", **row})
    return net


def simulate_nn(settings: NNSettings, seeds: Sequence[int] = (0,)) -> NNResult:
    """Train the network family for every seed and measure every record kind.

    For each seed (``jax.random.key(seed)``: initialisation and minibatch order; the data split
    is ``settings.split_seed`` for all), one network per width is trained on the same split.
    ``loss`` (and ``density``) records come from every network; ``quantization``,
    ``pruning``, ``modes`` and ``spectrum`` from the widest of each seed.

    Parameters
    ----------
    settings : NNSettings
    seeds : sequence of int
        Training seeds (distinct, >= 0).

    Returns
    -------
    NNResult

    Raises
    ------
    InputError
        If the settings or seeds are unusable (every problem at once).
    """
    problems = check_settings(settings)
    if not seeds or len(set(seeds)) != len(seeds) or any(int(s) < 0 for s in seeds):
        problems.append(Problem(path="--seeds", message="needs distinct integers >= 0",
                                value=",".join(str(s) for s in seeds)))  # fmt: skip
    if problems:
        raise InputError(problems)
    data = load_split(settings.test_fraction, settings.split_seed)
    widest = max(settings.widths)
    rows: list[dict[str, Any]] = []
    nets: dict[str, _Net] = {}
    for seed in seeds:
        keys = jax.random.split(jax.random.key(int(seed)), len(settings.widths))
        for width, key in zip(sorted(settings.widths), keys, strict=True):
            net = _measure_network(settings, data, width, int(seed), key, width == widest)
            run = run_name(width, seed)
            common = {"run": run, "seed": int(seed), "width": int(width),
                      "params": net.facts["params"]}  # fmt: skip
            rows += [{**common, **row} for row in net.rows]
            nets[run] = net
    frame = records_frame(rows, COLUMNS, _INT_COLUMNS)
    truth = build_truth(settings, seeds, data, frame, nets)
    return NNResult(frame=frame, truth=truth, provenance=build_provenance(settings, seeds, truth))
