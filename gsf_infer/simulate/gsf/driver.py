"""The ``simulate gsf`` driver: check the settings, draw each kind's records, add the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gsf_infer.data import schema
from gsf_infer.errors import InputError
from gsf_infer.simulate.gsf import kinds
from gsf_infer.simulate.gsf.config import GsfSimConfig, check_config
from gsf_infer.simulate.gsf.exact import log_grid
from gsf_infer.simulate.gsf.truth import build_truth

__all__ = ["simulate_gsf"]


def simulate_gsf(config: GsfSimConfig, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """Evaluate the exact forward model on the configured grids and add noise.

    Parameters
    ----------
    config : GsfSimConfig
        Family, parameters, capacities, grids, kinds, noise.
    rng : numpy.random.Generator
        The only source of randomness; each kind uses its own spawned child, so switching a
        kind on or off leaves the others' noise unchanged.

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
    problems = check_config(config)
    if problems:
        raise InputError(problems)
    children = dict(zip(schema.KINDS, rng.spawn(len(schema.KINDS)), strict=True))

    def noisy(kind: str, values: np.ndarray) -> np.ndarray:
        z = children[kind].standard_normal(np.shape(values))
        return np.asarray(values, float) * np.exp(config.noise * z)

    sizes = sorted(float(p) for p in config.sizes)
    t_loss = log_grid(config.t_min, config.t_max, config.loss_points)
    wanted = set(config.kinds)
    frames: list[pd.DataFrame] = []
    dropped: dict[str, int] = {}
    if "loss" in wanted:
        frames.append(kinds.loss_records(config, sizes, t_loss, noisy))
    if "quantization" in wanted:
        frames.append(kinds.quantization_records(config, sizes, noisy))
    if "pruning" in wanted:
        frames.append(kinds.pruning_records(config, noisy))
    if "density" in wanted:
        frames.append(kinds.density_records(config, sizes, noisy))
    if "spectrum" in wanted:
        frames.append(kinds.spectrum_records(config, noisy))
    if "modes" in wanted:
        modes, dropped["modes"] = kinds.modes_records(config, sizes[-1], t_loss, children["modes"])
        frames.append(modes)
    if "data_scaling" in wanted:
        frames.append(kinds.data_scaling_records(config, noisy))
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[[c for c in schema.COLUMNS if c in frame.columns]]
    return frame, build_truth(config, frame, dropped, sizes, t_loss)
