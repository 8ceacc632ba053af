"""``gsf-infer simulate nn``: small fully connected networks trained on the digits."""

from __future__ import annotations

from typing import Any

from gsf_infer.cli.simulate import command
from gsf_infer.errors import InputError, Problem
from gsf_infer.inference import runtime
from gsf_infer.simulate.nn.settings import NNSettings, check_settings

#: The options of ``simulate nn``: output, truth, seed, then the networks' settings.
OPTIONS = command.parse_table("""
--out (shared)
--truth (optional str)
    Also write what is known and measured (spectrum slopes, final losses, settings) to this
    JSON file [default: not written].
--seeds 0 (ints)
    Training seeds (comma-separated): each trains the whole width family with its own
    initialisation and minibatch order.
--force (shared)
--widths 8,16,32,64,128,256 (ints)
    Hidden widths N (comma-separated), one network each; the widest also carries the
    quantization, pruning, modes and spectrum records.
--depth 1
    Hidden layers.
--activation relu (choice)
    relu or tanh.
--readout-scale 0.1
    Standard deviation of the initial read-out weights.
--steps 16000
    SGD steps per network.
--checkpoints 30
    Log-spaced checkpoints in [1, steps] (duplicates merged).
--lr 0.5
    SGD learning rate (on the squared error summed over the outputs).
--batch 128
    Minibatch size (>= the training set: full-batch descent).
--test-fraction 0.3
    Fraction of the 1797 images held out as the test set.
--split-seed 0
    Seed of the train/test split.
--ntk-subset 512
    Training images on which the empirical NTK is computed.
--min-t 10
    Earliest step of the loss, modes and density records.
--bits 3,4,6,8 (ints)
    Precisions of the quantization records (comma-separated).
--compress-min-t 16
    Earliest step of the quantization and pruning records.
--sparsities 0.2,0.4,0.6,0.8,0.9,0.95 (floats)
    Pruned fractions r in (0, 1) of every weight matrix (comma-separated).
--pruning-checkpoints 6
    Log-spaced checkpoints with pruning records.
--measure loss (choice)
    What compression records: loss (test-loss increase) or distance (mean squared change of
    the outputs on the test set).
--modes 2,3,4,6,8,12,16,24,32,48,64 (ints)
    NTK eigen-directions k whose learned fractions are recorded (comma-separated).
--mode-margin 0.05
    Keep learned fractions only in [margin, 1 - margin].
--spectrum-at init (choice)
    Empirical NTK of the spectrum records: init or end.
--spectrum-points 24
    Log-spaced mode indices of the spectrum records.
--spectrum-fraction 0.25
    Largest spectrum mode index as a fraction of --ntk-subset.
--kinds loss,quantization,pruning,spectrum,modes (names)
    Record kinds (comma-separated); density (learned NTK directions per parameter, from the
    same measurements as modes) on request.
""")


def run(out: str, truth: str | None, force: bool, **options: Any) -> None:
    """Train small fully connected networks on the digits and write their measured records.

    Networks of several widths (NTK parametrization, one or more hidden layers) are trained by
    SGD on scikit-learn's 8x8 digits (shipped with the package: no download) with the squared
    error on one-hot targets. Writes the test loss of every network over training; for the
    widest, the test-loss increase after per-tensor uniform quantization of the weights and
    after per-tensor magnitude pruning, the empirical NTK spectrum with target power, and the
    learned fractions of its leading eigen-directions. Nothing about a, b or rho is known; the
    truth file gives the measured spectrum's power-law slopes. How each measurement maps onto
    the theory is documented in gsf_infer/simulate/nn/__init__.py.
    """
    command.refuse_outputs(out, truth, force)
    defaults = NNSettings()
    values, problems = command.parse_options(
        OPTIONS, options, lambda name: (0,) if name == "seeds" else getattr(defaults, name)
    )
    seeds = values.pop("seeds")
    settings = NNSettings(**values)
    problems += check_settings(settings)
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        problems.append(Problem(path="--seeds", message="needs distinct integers >= 0",
                                value=options["seeds"]))  # fmt: skip
    if problems:
        raise InputError(problems)
    runtime.configure(host_devices=1)  # float64: quantization at fine precisions
    # deferred: JAX, pandas and scikit-learn's digits, which --help must not load
    from gsf_infer.data.records import records_from_frame
    from gsf_infer.simulate.nn.experiment import simulate_nn
    from gsf_infer.simulate.nn.truth import command_line

    result = simulate_nn(settings, seeds)
    provenance = {**result.provenance, "command": command_line(settings, seeds, out, truth)}
    records_from_frame(result.frame, path=str(out), provenance=provenance)  # refuse the invalid
    counts = result.frame["kind"].value_counts()
    counts = {kind: int(counts[kind]) for kind in settings.kinds if kind in counts}
    command.write_outputs(result.frame, out, provenance, counts, truth, result.truth, force)
