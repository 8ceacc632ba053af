"""Validated records turned into the standardized arrays the models consume.

Units of ``t``, ``params``, ``compute`` and ``samples`` are arbitrary (rescaling ``t -> s t``
changes only the amplitude of ``g``, never an exponent; ``docs/theory.md``): every one is divided by
a reference value taken from the data (geometric means), so that rescaling a unit moves only
reference values and amplitudes, never exponents — the posterior of the exponents is invariant to
units by construction. The references are kept (:class:`Scales`) so that
:func:`gsf_infer.inference.predict` can standardize new records the same way.

Imports NumPy and pandas only (no JAX): the arrays are handed to the model as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gsf_infer.data.records import Records
from gsf_infer.data.schema import KIND_FORMATS, KINDS
from gsf_infer.errors import InputError, Problem


@dataclass(frozen=True)
class Scales:
    """Reference values used to standardize, from the fitted data.

    Attributes
    ----------
    t_ref : float
        Geometric mean of ``t`` over the records that use it (and of ``compute/params`` for
        density records if no record carries ``t``).
    params_ref : float
        Geometric mean of ``params`` where given (1 if no record has it).
    k_ref : float
        Geometric mean of the spectrum's mode indices (1 without spectrum records).
    bits_ref : float
        Mean of ``bits`` over quantization records that carry it (0 without).
    samples_ref : dict of str to float
        Per run with ``data_scaling`` records: geometric mean of its ``samples`` (each run's
        amplitude ``B`` is its excess risk there). Kept so that held-out or new records of a
        run are standardized like the fitted ones; a run missing here uses its own records.
    """

    t_ref: float = 1.0
    params_ref: float = 1.0
    k_ref: float = 1.0
    bits_ref: float = 0.0
    samples_ref: dict[str, float] = field(default_factory=dict)

    def as_attrs(self) -> dict[str, Any]:
        """As a dict for DataTree attributes."""
        return {
            "t_ref": self.t_ref,
            "params_ref": self.params_ref,
            "k_ref": self.k_ref,
            "bits_ref": self.bits_ref,
            "samples_ref": dict(self.samples_ref),
        }


@dataclass(frozen=True)
class KindData:
    """The records of one kind as arrays (one entry per record, file order).

    ``y`` is the observed value in natural units; ``x`` holds standardized covariates by name
    (``t``, ``params``, ``bits``, ``sparsity``, ``k``, ``compute``, ``samples``, ``has_bits``,
    ``target``); ``run``/``group``/``unit`` are integer indices into :class:`ModelData`'s
    name lists. ``line`` is the line number in the input file.
    """

    kind: str
    y: np.ndarray
    stderr: np.ndarray
    x: dict[str, np.ndarray]
    run: np.ndarray
    group: np.ndarray
    line: np.ndarray

    @property
    def size(self) -> int:
        """Number of records."""
        return int(self.y.shape[0])


@dataclass(frozen=True)
class ModelData:
    """Everything a model needs from the data, standardized.

    Attributes
    ----------
    kinds : dict of str to KindData
        Records per kind present, in :data:`gsf_infer.data.schema.KINDS` order.
    runs, groups : tuple of str
        Names behind the integer indices.
    scales : Scales
        Reference values.
    loss_floor : np.ndarray
        Per group: the smallest observed loss of ``loss`` records (``E`` lies below it); NaN
        for groups without loss records.
    quant_units : tuple of str
        Amplitude units of quantization records: a group (records with ``bits``, noise
        ``sigma0^2 4^-bits``) or a run (records without ``bits``: one free amplitude per run).
    centers : dict of str to float
        Log of a typical observed value per kind (centres of the amplitude priors).
    has_params : bool
        Whether any record carries ``params`` (otherwise all share one capacity).
    """

    kinds: dict[str, KindData]
    runs: tuple[str, ...]
    groups: tuple[str, ...]
    scales: Scales
    loss_floor: np.ndarray
    quant_units: tuple[str, ...] = ()
    centers: dict[str, float] = field(default_factory=dict)
    has_params: bool = False

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.groups)

    @property
    def n_records(self) -> int:
        """Number of records over all kinds."""
        return sum(k.size for k in self.kinds.values())


def _geomean(values: np.ndarray) -> float:
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.exp(np.mean(np.log(values)))) if values.size else 1.0


def build_model_data(
    records: Records,
    scales: Scales | None = None,
    names: dict[str, tuple[str, ...]] | None = None,
) -> ModelData:
    """Standardize validated records for the models.

    Parameters
    ----------
    records : Records
        Validated records (:func:`gsf_infer.data.records.read_records`).
    scales : Scales, optional
        Reference values to reuse (for prediction on new records); computed from ``records``
        when omitted.
    names : dict, optional
        ``runs``, ``groups`` and ``quant_units`` of a fitted model, so that new records index
        its parameters; a name it does not know is an :class:`InputError` where a parameter
        depends on it.

    Returns
    -------
    ModelData
    """
    table = records.table
    if names is None:
        runs = tuple(sorted(table["run"].astype(str).unique()))
        groups = tuple(sorted(table["group"].astype(str).unique()))
    else:
        runs, groups = tuple(names["runs"]), tuple(names["groups"])
        _check_known(records, "group", groups, table["kind"] != "__none__")
        needs_run = table["kind"].eq("data_scaling") | (
            table["kind"].eq("quantization") & table["bits"].isna()
        )
        _check_known(records, "run", runs, needs_run)
    if scales is None:
        scales = compute_scales(table)
    run_index = {name: i for i, name in enumerate(runs)}
    group_index = {name: i for i, name in enumerate(groups)}

    kinds: dict[str, KindData] = {}
    quant_units: list[str] = list(names["quant_units"]) if names is not None else []
    centers: dict[str, float] = {}
    for kind in KINDS:
        sub = table[table["kind"] == kind]
        if sub.empty:
            continue
        y = sub[KIND_FORMATS[kind].observed].to_numpy(dtype=float)
        x = _covariates(kind, sub, scales)
        if kind == "quantization":
            x["unit"] = _quant_units(sub, quant_units, names is not None, records.path)
        centers[kind] = (
            0.0 if kind == "modes" or not np.isfinite(y).any()
            else float(np.median(np.log(y[np.isfinite(y)])))
        )
        kinds[kind] = KindData(
            kind=kind,
            y=y,
            stderr=np.nan_to_num(sub["stderr"].to_numpy(dtype=float), nan=0.0),
            x=x,
            # runs unknown to a fitted model index nothing: only data_scaling and quantization
            # without bits have per-run parameters, and _check_known refused those above
            run=np.array([run_index.get(r, 0) for r in sub["run"].astype(str)], dtype=np.int32),
            group=np.array([group_index[g] for g in sub["group"].astype(str)], dtype=np.int32),
            line=sub["line"].to_numpy(dtype=np.int64),
        )
    if "spectrum" in kinds:
        target = kinds["spectrum"].x["target"]
        if np.isfinite(target).any():
            centers["spectrum_target"] = float(np.median(np.log(target[np.isfinite(target)])))
    loss_floor = _floors(kinds.get("loss"), "group", len(groups))
    return ModelData(
        kinds=kinds,
        runs=runs,
        groups=groups,
        scales=scales,
        loss_floor=loss_floor,
        quant_units=tuple(quant_units),
        centers=centers,
        has_params=bool(np.isfinite(table["params"].to_numpy(dtype=float)).any()),
    )


def _covariates(kind: str, sub: pd.DataFrame, scales: Scales) -> dict[str, np.ndarray]:
    """One kind's covariates in standardized units (``t / t_ref``, ``params / params_ref``, ...)."""
    x: dict[str, np.ndarray] = {}
    params = sub["params"].to_numpy(dtype=float)
    x["params"] = np.where(np.isfinite(params), params / scales.params_ref, 1.0)
    x["has_params"] = np.isfinite(params).astype(float)
    if kind in ("loss", "quantization", "pruning", "modes"):
        x["t"] = sub["t"].to_numpy(dtype=float) / scales.t_ref
    if kind == "quantization":
        bits = sub["bits"].to_numpy(dtype=float)
        x["has_bits"] = np.isfinite(bits).astype(float)
        x["bits"] = np.where(np.isfinite(bits), bits - scales.bits_ref, 0.0)
    if kind == "pruning":
        x["sparsity"] = sub["sparsity"].to_numpy(dtype=float)
    if kind in ("spectrum", "modes"):
        x["k"] = sub["k"].to_numpy(dtype=float)
    if kind == "spectrum":
        target = sub["target_power"].to_numpy(dtype=float)
        x["target"] = np.where(np.isfinite(target), target, np.nan)
        x["k_std"] = x["k"] / scales.k_ref
    if kind == "density":
        x["t"] = (
            sub["compute"].to_numpy(dtype=float) / sub["params"].to_numpy(dtype=float)
        ) / scales.t_ref
    if kind == "data_scaling":
        samples = sub["samples"].to_numpy(dtype=float)
        n_std = np.empty_like(samples)
        for run in sub["run"].unique():
            mask = (sub["run"] == run).to_numpy()
            ref = scales.samples_ref.get(str(run)) or _geomean(samples[mask])
            n_std[mask] = samples[mask] / ref
        x["samples"] = n_std
        x["samples_raw"] = samples
    return x


def _quant_units(sub: pd.DataFrame, units: list[str], fixed: bool, path: str) -> np.ndarray:
    """Index of each quantization record's amplitude: one per group with ``bits``, else per run.

    New units are appended to ``units`` unless ``fixed`` (a fitted model's units), where an
    unknown one is an :class:`InputError`.
    """
    bits = sub["bits"].to_numpy(dtype=float)
    names = [
        f"group:{g}" if np.isfinite(b) else f"run:{r}"
        for g, r, b in zip(sub["group"], sub["run"], bits, strict=True)
    ]
    for name in names:
        if name not in units:
            if fixed:
                raise InputError(Problem(path, f"no quantization amplitude was fitted for {name}"))
            units.append(name)
    return np.array([units.index(n) for n in names], dtype=np.int32)


def _floors(kd: KindData | None, by: str, n: int) -> np.ndarray:
    """Return the smallest observed value per group (``by="group"``) or run, NaN where none."""
    floor = np.full(n, np.nan)
    if kd is None:
        return floor
    index = getattr(kd, by)
    for i in range(n):
        mask = index == i
        if mask.any() and np.isfinite(kd.y[mask]).any():
            floor[i] = float(np.nanmin(kd.y[mask]))
    return floor


def _check_known(records: Records, column: str, known: tuple[str, ...], rows: pd.Series) -> None:
    table = records.table
    problems = [
        Problem(
            records.path,
            f"unknown {column}: the fit has no parameters for it (known: {', '.join(known)})",
            line=int(line),
            column=column,
            value=value,
        )
        for value, line, needed in zip(table[column], table["line"], rows, strict=True)
        if needed and str(value) not in known
    ]
    if problems:
        raise InputError(problems)


def compute_scales(table: pd.DataFrame) -> Scales:
    """Compute the reference values (geometric means) of a records table; see :class:`Scales`."""
    uses_t = table["kind"].isin(["loss", "quantization", "pruning", "modes"])
    t_values = table.loc[uses_t, "t"].to_numpy(dtype=float)
    if not np.isfinite(t_values).any():
        dens = table[table["kind"] == "density"]
        t_values = (dens["compute"] / dens["params"]).to_numpy(dtype=float)
    bits = table.loc[table["kind"] == "quantization", "bits"].to_numpy(dtype=float)
    bits = bits[np.isfinite(bits)]
    k = table.loc[table["kind"] == "spectrum", "k"].to_numpy(dtype=float)
    ds = table[table["kind"] == "data_scaling"]
    samples_ref = {
        str(run): _geomean(part["samples"].to_numpy(dtype=float))
        for run, part in ds.groupby(ds["run"].astype(str), sort=False)
    }
    return Scales(
        t_ref=_geomean(t_values),
        params_ref=_geomean(table["params"].to_numpy(dtype=float)),
        k_ref=_geomean(k),
        bits_ref=float(bits.mean()) if bits.size else 0.0,
        samples_ref=samples_ref,
    )


def kind_inputs(data: ModelData) -> dict[str, dict[str, np.ndarray]]:
    """Per kind: the arrays the model's expected values read (covariates and indices)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for kind, kd in data.kinds.items():
        arrays = dict(kd.x)
        arrays["run"] = kd.run
        arrays["group"] = kd.group
        out[kind] = arrays
    return out
