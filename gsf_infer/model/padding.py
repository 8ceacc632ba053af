"""One compiled program for many data sets: records padded to a shared width and masked.

JAX compiles a program for each shape of its arguments, and tracing and lowering a model's
programs (prior draws, potential and gradient, chains, pointwise values) costs about as much
as sampling a short curve. Fits of many small data sets of the same kinds — one per run of a
sweep (``fit --by``) — therefore share their programs when their records are padded to a
common width:

- each kind's record arrays (covariates, indices, observations; the rows of the spectrum
  records with a target power) are extended to a width from a
  short ladder (:func:`padded_width`) by repeating the last record, so every padded value is a
  real record's and the forward laws stay finite there;
- a boolean ``record_mask`` per kind (an input of the model) masks the padded records out of
  the likelihood: their log density is exactly 0, so the potential, its gradient and the
  posterior are those of the unpadded records (up to the order of a floating-point sum);
- the model's per-record outputs (pointwise log-likelihood, predictive draws) are cut back to
  the real records (:func:`trim`).

Data sets share a program only when everything the model's code reads at tracing time is the
same (:func:`signature`): settings, priors, kinds, the numbers of groups, runs and quantization
units, the deviation parameters, and the shapes of every padded input. Models that read more of
their data set when traced (``chinchilla``'s reference scales, the ``gp`` and ``spectral``
discrepancies' per-run structure) are not padded.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from gsf_infer.data.dataset import ModelData

__all__ = ["ProgramCache", "pad_inputs", "pad_to", "padded_width", "shareable", "signature",
           "trim"]

#: The narrowest padded width: smaller data sets all share it.
MIN_WIDTH = 16


def padded_width(n: int) -> int:
    """Return the width ``n`` records are padded to: the next of 16, 20, 24, 28, 32, 40, ...

    Four widths per doubling bound the padding at a quarter of the records (an eighth on
    average), while a sweep's curves of 10 to 1,000 records need at most 25 models' programs:
    padded records cost likelihood terms in every gradient, a new width the tracing and
    lowering of a model's programs (``docs/decisions.md``).
    """
    if n <= MIN_WIDTH:
        return MIN_WIDTH
    step = 1 << max((n - 1).bit_length() - 3, 0)  # four widths per doubling
    return -(-n // step) * step


def pad_to(array: Any, width: int) -> np.ndarray:
    """Extend ``array`` along its first axis to ``width`` by repeating its last entry."""
    array = np.asarray(array)
    return np.pad(array, [(0, width - array.shape[0])] + [(0, 0)] * (array.ndim - 1),
                  mode="edge")


def shareable(settings: Any) -> bool:
    """Whether a model with these settings can share its programs with other data sets."""
    return settings.model != "chinchilla" and settings.discrepancy == "none"


def pad_inputs(inputs: dict[str, Any], data: ModelData) -> tuple[dict[str, Any], dict[str, int]]:
    """Pad each kind's records to :func:`padded_width` and add the ``record_mask`` input.

    Parameters
    ----------
    inputs : dict
        The model's inputs (:func:`gsf_infer.model.build.model_inputs`).
    data : ModelData
        The data they were built from (the number of records of each kind).

    Returns
    -------
    inputs : dict
        The padded inputs.
    lengths : dict
        Observed site (each kind, and ``spectrum_target`` for the spectrum records that carry a
        target power) to its number of real records (what :func:`trim` keeps).
    """
    lengths = {kind: int(kd.size) for kind, kd in data.kinds.items()}
    widths = {kind: padded_width(n) for kind, n in lengths.items()}

    def pad(array: Any, kind: str) -> Any:
        array = np.asarray(array)
        if array.ndim == 0 or array.shape[0] != lengths[kind]:
            raise ValueError(f"{kind}: an input of shape {array.shape} is not per record")
        return jax.numpy.asarray(pad_to(array, widths[kind]))

    out = dict(inputs)
    out["x"] = {kind: {name: pad(v, kind) for name, v in arrays.items()}
                for kind, arrays in inputs["x"].items()}
    out["obs"] = dict(inputs["obs"])
    for kind in lengths:
        value, meas = inputs["obs"][kind]
        out["obs"][kind] = (pad(value, kind), pad(meas, kind))
    if "target_rows" in inputs:  # the spectrum records that carry a target power
        n = lengths["spectrum_target"] = int(np.shape(inputs["target_rows"])[0])
        widths["spectrum_target"] = padded_width(n)
        out["target_rows"] = pad(inputs["target_rows"], "spectrum_target")
        value, meas = inputs["obs"]["spectrum_target"]
        out["obs"]["spectrum_target"] = (pad(value, "spectrum_target"),
                                         pad(meas, "spectrum_target"))
    out["record_mask"] = {kind: jax.numpy.asarray(np.arange(widths[kind]) < n)
                          for kind, n in lengths.items()}
    return out, lengths


def signature(inputs: dict[str, Any], data: ModelData, settings: Any, priors: Any,
              deviations: tuple[str, ...]) -> str:
    """Return a digest of what a model's programs depend on beyond its inputs' values.

    Two data sets with the same signature run the same compiled programs: the model's code
    reads, when traced, its settings, priors, kinds, the numbers of groups, runs and
    quantization units and its deviation parameters; the programs see the inputs' tree and
    shapes.
    """
    leaves, tree = jax.tree_util.tree_flatten(inputs)
    described = {
        "settings": settings.as_attrs(),
        "priors": priors.as_attrs(),
        "kinds": list(data.kinds),
        "structure": [data.n_groups, len(data.runs), len(data.quant_units)],
        "deviations": list(deviations),
        "tree": str(tree),
        "shapes": [[list(np.shape(x)), str(getattr(x, "dtype", type(x).__name__))] for x in leaves],
    }
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trim(arrays: dict[str, Any], lengths: dict[str, int]) -> dict[str, Any]:
    """Cut the per-record arrays of the padded kinds (last axis) back to their real records."""
    return {name: (np.asarray(v)[..., :lengths[name]] if name in lengths else v)
            for name, v in arrays.items()}


class ProgramCache:
    """Model functions (with their compiled programs) kept by :func:`signature`.

    One cache serves the fits of one process (``fit --by`` in this process, or a Dask
    worker's tasks); :meth:`clear` drops everything once JAX's compiled programs are freed.
    """

    def __init__(self) -> None:
        self._functions: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def functions(self, key: str, build: Callable[[], Any]) -> Any:
        """Return the model functions kept under ``key``, built by ``build()`` at first."""
        with self._lock:
            if key in self._functions:
                self.hits += 1
            else:
                self._functions[key] = build()
            return self._functions[key]

    def clear(self) -> None:
        """Forget every model's functions."""
        with self._lock:
            self._functions.clear()

    def __len__(self) -> int:
        return len(self._functions)
