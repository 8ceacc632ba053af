"""``gsf-infer simulate gsf``: the theory's exact forward model, with noise and known truth."""

from __future__ import annotations

from typing import Any

from gsf_infer.cli.simulate import command
from gsf_infer.errors import InputError
from gsf_infer.inference import runtime

#: The options of ``simulate gsf``: output, truth, seed, then the forward model's settings.
OPTIONS = command.parse_table("""
--out (shared)
--truth (optional str)
    Also write the truth (parameters, exponents, settings, version) to this JSON file
    [default: not written].
--seed 0
    Seed of the numpy random generator.
--force (shared)
--noise 0.02
    Standard deviation of the multiplicative log-normal noise on every observed value
    (modes: of the normal noise on logit phi); 0 writes the exact laws.
--family monomial (choice)
    g family: ntk, feature, monomial, logcorr or ridge.
--a 1.6
    Target-power exponent a: p_k = A k^-a (> 1).
--b 1.4
    Eigenvalue exponent b: lambda_k = Lam k^-b (> 1).
--m 1.0
    Spectral exponent m of g (monomial, logcorr; others ignore it).
--n 1.25
    Temporal exponent n of g (feature, monomial, logcorr); rho = n/m.
--c 1.0
    Amplitude c of g.
--A 1.0
    Target-power amplitude A (loss units).
--Lam 1.0
    Eigenvalue amplitude Lam.
--E 2.0
    Irreducible loss E of the loss records.
--tau 10.0
    Time scale of the logcorr correction log(e + t/tau) (logcorr only).
--kap 1e-4
    Weight-decay eigenvalue kap (ridge only).
--kappa 1e-3
    Capacity K = kappa * P^nu: kappa.
--nu 1.0
    Capacity K = kappa * P^nu: nu.
--sizes 1e6,3e6,1e7,3e7,1e8 (floats)
    Model sizes P of the loss and density records (comma-separated).
--kinds loss,quantization,pruning,density,spectrum (names)
    Record kinds to write (comma-separated; modes and data_scaling are also available).
--t-min 10.0
    Smallest training time of the t grids.
--t-max 1e5
    Largest training time of the t grids.
--loss-points 60
    Log-spaced times per loss curve (one curve per size).
--sigma0-sq 1e-2
    Quantization: sigma^2 = sigma0_sq * 4^-bits.
--bits 3,4,5,6 (ints)
    Precisions of the quantization records (comma-separated).
--quantization-points 12
    Log-spaced times per quantization curve.
--quantization-size (optional float)
    Model size of the quantization records [default: the largest of --sizes].
--pruning-size 1e7
    Model size of the pruning records.
--pruning-times 1e2,1e3,1e4,1e5 (floats)
    Training stages t of the pruning curves (comma-separated).
--sparsity-min 0.05
    Smallest pruned fraction r of a pruning curve.
--sparsity-max 0.995
    Largest pruned fraction r of a pruning curve (< 1).
--sparsity-points 15
    Sparsities per pruning curve, log-spaced in 1 - r.
--pruning-metric seed (choice)
    seed: the unweighted sum w_k^2 phi_k^2 (slope 1+b-a); function: sum p_k phi_k^2 (slope
    1-a).
--pruning-scale 1e-3
    Amplitude multiplying the pruning sum (the seed's sum is in weight units).
--density-points 8
    Log-spaced t = C/P per size of the density records.
--density-scale 1.0
    Density records: delta = scale * min(k_*, K) / P.
--spectrum-points 45
    Distinct integer modes k of the spectrum records.
--spectrum-k-max 1e4
    Largest mode index of the spectrum records.
--modes-k 1,2,4,8,16,32,64,128,256,512,1024 (ints)
    Mode indices of the modes records (comma-separated).
--modes-points 10
    Times of the loss grid (evenly thinned) for modes records.
--modes-min 0.02
    Keep a learned fraction only above this (noiseless value).
--modes-max 0.98
    Keep a learned fraction only below this (noiseless value).
--samples-min 1e3
    Smallest sample count of the data_scaling records.
--samples-max 1e7
    Largest sample count of the data_scaling records.
--data-points 15
    Log-spaced sample counts of the data_scaling records.
--s 1.0
    Source smoothness s: data_scaling alpha = 2s / (2s + 1/b).
--E-ds 0.5
    Floor E of the data_scaling records.
--B-ds 5.0
    Amplitude B of the data_scaling records: R = E + B n^-alpha.
""")


def run(out: str, truth: str | None, seed: int, force: bool, **options: Any) -> None:
    """Evaluate the theory's exact forward model and write noisy records with known truth.

    The theory's exact discrete sums (every mode up to the capacity K = kappa P^nu) for the
    chosen g family and parameters: loss curves for every size, quantization losses at several
    bits, pruning curves at several training stages, densities, the spectrum with target power,
    and optionally learned mode fractions and a data-size sweep. Every observed value carries
    log-normal noise. The table's header records the command, version and seed; --truth writes
    every parameter, the derived exponents (rho, chi, gamma, rho_over_b, pruning_slope), the
    settings and the version. The output is validated before it is written; an existing file is
    refused without --force (exit 2).
    """
    # deferred: NumPy, pandas and (through the simulator) JAX, which --help must not load
    import numpy as np

    from gsf_infer.data.records import records_from_frame
    from gsf_infer.simulate.gsf import (
        GsfSimConfig,
        check_config,
        command_line,
        simulate_gsf,
        simulation_provenance,
    )

    command.refuse_outputs(out, truth, force)
    defaults = GsfSimConfig()
    values, problems = command.parse_options(OPTIONS, options, lambda name: getattr(defaults, name))
    config = GsfSimConfig(**values)
    problems += check_config(config)
    if problems:
        raise InputError(problems)
    runtime.configure(host_devices=1)  # x64: the sums span many orders of magnitude
    frame, known = simulate_gsf(config, np.random.default_rng(seed))
    provenance = simulation_provenance(config, known, seed, command_line(config, seed, out, truth))
    records_from_frame(frame, path=str(out), provenance=provenance)  # refuse what validate would
    payload = {**known, "seed": seed}
    command.write_outputs(frame, out, provenance, known["records"], truth, payload, force)
