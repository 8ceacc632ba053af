"""Synthetic records from the theory's exact forward model, with known truth.

This subpackage is ``gsf-infer simulate gsf``: given a :class:`GsfSimConfig` (the ``g`` family,
every parameter, capacities, grids, kinds and noise level) and a NumPy generator,
:func:`simulate_gsf` evaluates the ``exact`` tier of :mod:`gsf_infer.model.forward.laws`
(jit-compiled, summing every mode up to the largest capacity a kind needs) on the configured
grids, multiplies every observed value by log-normal noise (``modes``: normal noise on
``logit(phi)``) and returns the records table and the truth. It validates its configuration with
:class:`~gsf_infer.errors.InputError` and writes nothing: the CLI hands the table to
:func:`gsf_infer.output.artifacts.write_table`.

Modules
-------
config
    :class:`GsfSimConfig` and :func:`check_config`.
exact
    The grids (every value rounded to 10 significant digits, so the written inputs are exactly
    the ones the values belong to) and the calls into the forward model (JAX, imported lazily).
kinds
    One function per record kind: what each kind records and on which grid.
truth
    The truth (parameters, derived exponents, capacities, settings) and the table's provenance.
driver
    :func:`simulate_gsf`: each kind draws its noise from its own child of the generator
    (``rng.spawn``), so switching a kind on or off leaves the others' noise unchanged.
"""

from gsf_infer.simulate.gsf.config import (
    DEFAULT_KINDS,
    FAMILY_NAMES,
    PRUNING_METRICS,
    GsfSimConfig,
    check_config,
)
from gsf_infer.simulate.gsf.driver import simulate_gsf
from gsf_infer.simulate.gsf.exact import exponents_truth
from gsf_infer.simulate.gsf.truth import command_line, simulation_provenance

__all__ = [
    "DEFAULT_KINDS",
    "FAMILY_NAMES",
    "PRUNING_METRICS",
    "GsfSimConfig",
    "check_config",
    "command_line",
    "exponents_truth",
    "simulate_gsf",
    "simulation_provenance",
]
