"""``gsf-infer simulate rf``: power-law random-feature regressions trained by SGD."""

from __future__ import annotations

from typing import Any

from gsf_infer.cli.simulate import command
from gsf_infer.errors import InputError

#: The options of ``simulate rf``: output, truth, seed, then the regression's settings.
OPTIONS = command.parse_table("""
--out (shared)
--truth (optional str)
    Also write the known truth and every setting to this JSON file [default: not written].
--seed 0
    Seed of the numpy random generator.
--force (shared)
--a 1.75
    Target-power exponent a: lambda_j w_j^2 = j^-a.
--b 1.5
    Input spectrum exponent b: lambda_j = j^-b.
--dim (optional int)
    Explicit input coordinates D [default: 4 x the largest width].
--input-tail/--no-input-tail True
    Continue the power law beyond D through its exact mean effect (approximates D =
    infinity); without it the inputs stop at D.
--widths 128,256,512,1024,2048 (ints)
    Feature counts N (comma-separated), one SGD run each; the largest also carries the
    quantization, pruning, modes and spectrum records.
--steps 16384
    SGD steps per run.
--checkpoints 25
    Log-spaced checkpoints in [1, steps] (duplicates merged).
--lr 0.25
    SGD learning rate (on the half squared error).
--batch 16384
    Minibatch size (fresh samples every step; large batches cost nothing with the reduced
    sampler and keep SGD noise below the measured laws).
--weight-decay 0.0
    L2 penalty wd/2 |v|^2 on the read-out (g becomes the ridge family).
--label-noise 0.0
    Standard deviation of Gaussian noise on training labels (its variance is added to the
    population loss).
--bits 5,6,7,8 (ints)
    Quantization bit widths (2^bits levels; comma-separated).
--quantize features (choice)
    What is rounded: features (z = F x, the activations; follows the quantization law for
    bits >= 5), feature-weights (F) or readout (v) (these two fluctuate and do not).
--clip 5.0
    features quantization range: +-clip standard deviations of the widest feature.
--sparsities 0.96875,0.984375,0.9921875,0.99609375,0.998046875 (floats)
    Pruned fractions r in (0, 1) (comma-separated); the defaults cut at k = N/32 .. N/512,
    where the kernel spectrum still follows j^-b.
--pruning spectral (choice)
    spectral (drop read-out components along kernel eigenvectors k > (1-r) N) or magnitude
    (zero the r N smallest read-out coordinates; follows neither pruning law).
--pruning-measure distance (choice)
    distance: E_x (f_pruned - f)^2, the seed's eq. 20 (with spectral pruning it follows
    --pruning-metric function); loss: population-loss increase.
--compress-every 2
    Quantization/pruning at every n-th checkpoint.
--compress-min-t 64
    Earliest step with quantization/pruning records.
--min-t 8
    Earliest step with loss and modes records (the discrete-step excess of g at the
    frontier, 1/(2t), is below 6% from t = 8).
--frontier-fraction 0.03125
    Keep loss, quantization, pruning and modes records only while the measured learning
    frontier k_*(t) is at most this fraction of the width N (beyond it the finite-width
    kernel spectrum and the soft capacity depart from the theory); 1 keeps every checkpoint.
--compress-frontier-fraction 0.015625
    The same bound for quantization and pruning records, on top of --frontier-fraction
    (their sums weigh the modes at the frontier most, where the finite-width spectrum
    departs from j^-b by ~ k_*/N).
--modes 2,4,8,16,32 (ints)
    Mode indices k of the learned-fraction records.
--modes-basis kernel (choice)
    kernel: along the k-th eigenvector of the feature covariance (the theory's modes);
    input: phi_k = (F^T v)_k / w_k on input eigenmode k (carries cross-talk from the other
    modes).
--mode-margin 0.05
    Keep a learned fraction only inside [margin, 1 - margin] (the dropped ones are counted
    in the truth file).
--spectrum-points 24
    Log-spaced mode indices of the spectrum records.
--spectrum-fraction 0.015625
    Largest spectrum mode index as a fraction of the largest width (the finite-width kernel
    spectrum is s_k ~ lambda_k (1 + k/N): shallower than k^-b beyond about N/64).
--kinds loss,quantization,pruning,modes,spectrum (names)
    Record kinds to write (comma-separated).
--sampler reduced (choice)
    reduced: each SGD step drawn exactly in law at cost O(N); direct: draw the inputs x in
    R^D (cost B D N per step; for checks at small sizes).
""")


def run(out: str, truth: str | None, seed: int, force: bool, **options: Any) -> None:
    """Train power-law random-feature regressions by SGD and write their measured records.

    A real learning system with known truth: inputs with covariance eigenvalues j^-b, a linear
    target with power j^-a, N random features, a linear read-out trained by SGD on fresh
    samples, test losses from the population formula. Writes loss curves for every width, and on
    the largest width feature quantization at several bits, spectral pruning at several
    sparsities, learned mode fractions and the measured kernel spectrum with target power. The
    truth file holds a, b, rho = 1, chi, gamma, rho_over_b, every setting, and measured facts
    (loss floors, spectral lift, dropped records). The derivation of the mapping onto the theory
    is in gsf_infer/simulate/rf/truth.py.
    """
    # deferred: NumPy, SciPy and pandas, which --help must not load
    import numpy as np

    from gsf_infer.simulate.rf import RFSettings, simulate_rf

    command.refuse_outputs(out, truth, force)
    values, problems = command.parse_options(OPTIONS, options, lambda name: None)
    if problems:
        raise InputError(problems)
    settings = RFSettings(**values)
    result = simulate_rf(settings, np.random.default_rng(seed))
    provenance = {**result.provenance, "seed": str(seed)}
    counts = result.frame["kind"].value_counts()
    counts = {kind: int(counts[kind]) for kind in settings.kinds if kind in counts}
    payload = {**result.truth, "seed": seed}
    command.write_outputs(result.frame, out, provenance, counts, truth, payload, force)
