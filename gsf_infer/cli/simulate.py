"""``gsf-infer simulate gsf|rf|nn``: synthetic data with known truth (nn: measured, no truth)."""

from __future__ import annotations

import typer

from gsf_infer.cli.app import app, report_errors

simulate_app = typer.Typer(
    help="Write synthetic records with known truth (gsf: the exact forward model; rf: a real "
    "random-feature regression trained by SGD; nn: small neural networks trained by SGD, "
    "measured, with no truth for a, b, rho).",
    no_args_is_help=True,
)
app.add_typer(simulate_app, name="simulate")


def _refuse_outputs(out, truth, force: bool) -> None:
    """Refuse an unknown table format, or an existing output or truth file without --force."""
    from pathlib import Path

    from gsf_infer.data.schema import table_format
    from gsf_infer.errors import OutputExistsError, Problem

    table_format(out)
    for path in (out, truth):
        if path is not None and Path(path).exists() and not force:
            raise OutputExistsError(
                Problem(path=str(path), message="already exists; pass --force to overwrite it")
            )


def _parse_lists(specs, fallback) -> tuple[dict[str, tuple], list]:
    """Parse comma-separated options ``(name, text, type)``; on a bad one, note its problems
    and use ``fallback(name)`` so the other options are still checked.
    """
    from gsf_infer.errors import InputError

    lists: dict[str, tuple] = {}
    problems: list = []
    for name, text, convert in specs:
        try:
            lists[name] = _parse_list(text, name, convert)
        except InputError as err:
            problems += err.problems
            lists[name] = fallback(name)
    return lists, problems


def _parse_list(text: str, option: str, convert: type) -> tuple:
    """Split a comma-separated option value into numbers (InputError naming the option)."""
    from gsf_infer.errors import InputError, Problem

    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise InputError(Problem(path=option, message="needs at least one value", value=text))
    out = []
    problems = []
    for item in items:
        try:
            value = float(item)
            if convert is int:
                if value != int(value):
                    raise ValueError(item)
                value = int(value)
            out.append(value)
        except ValueError:
            kind = "an integer" if convert is int else "a number"
            problems.append(Problem(path=option, message=f"must be {kind}", value=item))
    if problems:
        raise InputError(problems)
    return tuple(out)


def _parse_names(text: str) -> tuple[str, ...]:
    return tuple(item.strip().lower() for item in str(text).split(",") if item.strip())


@simulate_app.command("rf")
@report_errors
def rf(
    out: str = typer.Option(
        ..., "--out", help="Records table to write (.csv, .tsv or .parquet).", show_default=False
    ),
    truth: str | None = typer.Option(
        None,
        "--truth",
        help="Also write the known truth and every setting to this JSON file "
        "[default: not written].",
        show_default=False,
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the numpy random generator."),
    force: bool = typer.Option(
        False, "--force", help="Overwrite existing output files [default: refuse, exit 2]."
    ),
    a: float = typer.Option(1.75, "--a", help="Target-power exponent a: lambda_j w_j^2 = j^-a."),
    b: float = typer.Option(1.5, "--b", help="Input spectrum exponent b: lambda_j = j^-b."),
    dim: int | None = typer.Option(
        None,
        "--dim",
        help="Explicit input coordinates D [default: 4 x the largest width].",
        show_default=False,
    ),
    input_tail: bool = typer.Option(
        True,
        "--input-tail/--no-input-tail",
        help="Continue the power law beyond D through its exact mean effect (approximates "
        "D = infinity); without it the inputs stop at D.",
    ),
    widths: str = typer.Option(
        "128,256,512,1024,2048",
        "--widths",
        help="Feature counts N (comma-separated), one SGD run each; the largest also carries "
        "the quantization, pruning, modes and spectrum records.",
    ),
    steps: int = typer.Option(16384, "--steps", help="SGD steps per run."),
    checkpoints: int = typer.Option(
        25, "--checkpoints", help="Log-spaced checkpoints in [1, steps] (duplicates merged)."
    ),
    lr: float = typer.Option(0.25, "--lr", help="SGD learning rate (on the half squared error)."),
    batch: int = typer.Option(
        16384,
        "--batch",
        help="Minibatch size (fresh samples every step; large batches cost "
        "nothing with the reduced sampler and keep SGD noise below the measured laws).",
    ),
    weight_decay: float = typer.Option(
        0.0,
        "--weight-decay",
        help="L2 penalty wd/2 |v|^2 on the read-out (g becomes the ridge family).",
    ),
    label_noise: float = typer.Option(
        0.0,
        "--label-noise",
        help="Standard deviation of Gaussian noise on training labels "
        "(its variance is added to the population loss).",
    ),
    bits: str = typer.Option(
        "5,6,7,8", "--bits", help="Quantization bit widths (2^bits levels; comma-separated)."
    ),
    quantize: str = typer.Option(
        "features",
        "--quantize",
        help="What is rounded: features (z = F x, the activations; follows the quantization law "
        "for bits >= 5), feature-weights (F) or readout (v) (these two fluctuate and do not).",
    ),
    clip: float = typer.Option(
        5.0,
        "--clip",
        help="features quantization range: +-clip standard deviations of the widest feature.",
    ),
    sparsities: str = typer.Option(
        "0.96875,0.984375,0.9921875,0.99609375,0.998046875",
        "--sparsities",
        help="Pruned fractions r in (0, 1) (comma-separated); the defaults cut at k = N/32 .. "
        "N/512, where the kernel spectrum still follows j^-b.",
    ),
    pruning: str = typer.Option(
        "spectral",
        "--pruning",
        help="spectral (drop read-out components along kernel eigenvectors k > (1-r) N) or "
        "magnitude (zero the r N smallest read-out coordinates; follows neither pruning law).",
    ),
    pruning_measure: str = typer.Option(
        "distance",
        "--pruning-measure",
        help="distance: E_x (f_pruned - f)^2, the seed's eq. 20 (with spectral pruning it "
        "follows --pruning-metric function); loss: population-loss increase.",
    ),
    compress_every: int = typer.Option(
        2, "--compress-every", help="Quantization/pruning at every n-th checkpoint."
    ),
    compress_min_t: int = typer.Option(
        64, "--compress-min-t", help="Earliest step with quantization/pruning records."
    ),
    min_t: int = typer.Option(
        8,
        "--min-t",
        help="Earliest step with loss and modes records (the discrete-step excess of g at the "
        "frontier, 1/(2t), is below 6% from t = 8).",
    ),
    frontier_fraction: float = typer.Option(
        1 / 32,
        "--frontier-fraction",
        help="Keep loss, quantization, pruning and modes records only while the measured "
        "learning frontier k_*(t) is at most this fraction of the width N (beyond it the "
        "finite-width kernel spectrum and the soft capacity depart from the theory); 1 keeps "
        "every checkpoint.",
    ),
    compress_frontier_fraction: float = typer.Option(
        1 / 64,
        "--compress-frontier-fraction",
        help="The same bound for quantization and pruning records, on top of "
        "--frontier-fraction (their sums weigh the modes at the frontier most, where the "
        "finite-width spectrum departs from j^-b by ~ k_*/N).",
    ),
    modes: str = typer.Option(
        "2,4,8,16,32", "--modes", help="Mode indices k of the learned-fraction records."
    ),
    modes_basis: str = typer.Option(
        "kernel",
        "--modes-basis",
        help="kernel: along the k-th eigenvector of the feature covariance (the theory's "
        "modes); input: phi_k = (F^T v)_k / w_k on input eigenmode k (carries cross-talk from "
        "the other modes).",
    ),
    mode_margin: float = typer.Option(
        0.05,
        "--mode-margin",
        help="Keep a learned fraction only inside [margin, 1 - margin] "
        "(the dropped ones are counted in the truth file).",
    ),
    spectrum_points: int = typer.Option(
        24, "--spectrum-points", help="Log-spaced mode indices of the spectrum records."
    ),
    spectrum_fraction: float = typer.Option(
        1 / 64,
        "--spectrum-fraction",
        help="Largest spectrum mode index as a fraction of the largest width (the finite-width "
        "kernel spectrum is s_k ~ lambda_k (1 + k/N): shallower than k^-b beyond about N/64).",
    ),
    kinds: str = typer.Option(
        "loss,quantization,pruning,modes,spectrum",
        "--kinds",
        help="Record kinds to write (comma-separated).",
    ),
    sampler: str = typer.Option(
        "reduced",
        "--sampler",
        help="reduced: each SGD step drawn exactly in law at cost O(N); direct: draw the inputs "
        "x in R^D (cost B D N per step; for checks at small sizes).",
    ),
) -> None:
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
    import numpy as np

    from gsf_infer.errors import InputError
    from gsf_infer.output.artifacts import write_json, write_table
    from gsf_infer.simulate.rf import RFSettings, simulate_rf

    _refuse_outputs(out, truth, force)
    lists, problems = _parse_lists(
        (("--widths", widths, int), ("--bits", bits, int), ("--sparsities", sparsities, float),
         ("--modes", modes, int)),
        lambda name: None,
    )
    if problems:
        raise InputError(problems)
    settings = RFSettings(
        a=a,
        b=b,
        dim=dim,
        input_tail=input_tail,
        widths=lists["--widths"],
        steps=steps,
        checkpoints=checkpoints,
        lr=lr,
        batch=batch,
        weight_decay=weight_decay,
        label_noise=label_noise,
        bits=lists["--bits"],
        quantize=quantize.strip().lower(),
        clip=clip,
        sparsities=lists["--sparsities"],
        pruning=pruning.strip().lower(),
        pruning_measure=pruning_measure.strip().lower(),
        compress_every=compress_every,
        compress_min_t=compress_min_t,
        min_t=min_t,
        frontier_fraction=frontier_fraction,
        compress_frontier_fraction=compress_frontier_fraction,
        modes=lists["--modes"],
        modes_basis=modes_basis.strip().lower(),
        mode_margin=mode_margin,
        spectrum_points=spectrum_points,
        spectrum_fraction=spectrum_fraction,
        kinds=_parse_names(kinds),
        sampler=sampler.strip().lower(),
    )
    result = simulate_rf(settings, np.random.default_rng(seed))
    provenance = dict(result.provenance)
    provenance["seed"] = str(seed)
    written = write_table(result.frame, out, provenance=provenance, force=force)
    counts = result.frame["kind"].value_counts()
    summary = ", ".join(f"{kind}: {int(counts[kind])}" for kind in settings.kinds if kind in counts)
    typer.echo(f"wrote {len(result.frame)} records ({summary}) to {written}")
    if truth is not None:
        payload = dict(result.truth)
        payload["seed"] = seed
        write_json(payload, truth, force=force)
        typer.echo(f"wrote the truth to {truth}")


@simulate_app.command("gsf")
@report_errors
def gsf(
    out: str = typer.Option(
        ..., "--out", help="Records table to write (.csv, .tsv or .parquet).", show_default=False
    ),
    truth: str | None = typer.Option(
        None,
        "--truth",
        help="Also write the truth (parameters, exponents, settings, version) to this JSON file "
        "[default: not written].",
        show_default=False,
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the numpy random generator."),
    force: bool = typer.Option(
        False, "--force", help="Overwrite existing output files [default: refuse, exit 2]."
    ),
    noise: float = typer.Option(
        0.02,
        "--noise",
        help="Standard deviation of the multiplicative log-normal noise on every observed value "
        "(modes: of the normal noise on logit phi); 0 writes the exact laws.",
    ),
    family: str = typer.Option(
        "monomial", "--family", help="g family: ntk, feature, monomial, logcorr or ridge."
    ),
    a: float = typer.Option(1.6, "--a", help="Target-power exponent a: p_k = A k^-a (> 1)."),
    b: float = typer.Option(1.4, "--b", help="Eigenvalue exponent b: lambda_k = Lam k^-b (> 1)."),
    m: float = typer.Option(
        1.0, "--m", help="Spectral exponent m of g (monomial, logcorr; others ignore it)."
    ),
    n: float = typer.Option(
        1.25, "--n", help="Temporal exponent n of g (feature, monomial, logcorr); rho = n/m."
    ),
    c: float = typer.Option(1.0, "--c", help="Amplitude c of g."),
    amp: float = typer.Option(1.0, "--A", help="Target-power amplitude A (loss units)."),
    lam: float = typer.Option(1.0, "--Lam", help="Eigenvalue amplitude Lam."),
    floor: float = typer.Option(2.0, "--E", help="Irreducible loss E of the loss records."),
    tau: float = typer.Option(
        10.0, "--tau", help="Time scale of the logcorr correction log(e + t/tau) (logcorr only)."
    ),
    kap: float = typer.Option(1e-4, "--kap", help="Weight-decay eigenvalue kap (ridge only)."),
    kappa: float = typer.Option(1e-3, "--kappa", help="Capacity K = kappa * P^nu: kappa."),
    nu: float = typer.Option(1.0, "--nu", help="Capacity K = kappa * P^nu: nu."),
    sizes: str = typer.Option(
        "1e6,3e6,1e7,3e7,1e8",
        "--sizes",
        help="Model sizes P of the loss and density records (comma-separated).",
    ),
    kinds: str = typer.Option(
        "loss,quantization,pruning,density,spectrum",
        "--kinds",
        help="Record kinds to write (comma-separated; modes and data_scaling are also available).",
    ),
    t_min: float = typer.Option(10.0, "--t-min", help="Smallest training time of the t grids."),
    t_max: float = typer.Option(1e5, "--t-max", help="Largest training time of the t grids."),
    loss_points: int = typer.Option(
        60, "--loss-points", help="Log-spaced times per loss curve (one curve per size)."
    ),
    sigma0_sq: float = typer.Option(
        1e-2, "--sigma0-sq", help="Quantization: sigma^2 = sigma0_sq * 4^-bits."
    ),
    bits: str = typer.Option(
        "3,4,5,6", "--bits", help="Precisions of the quantization records (comma-separated)."
    ),
    quantization_points: int = typer.Option(
        12, "--quantization-points", help="Log-spaced times per quantization curve."
    ),
    quantization_size: float | None = typer.Option(
        None,
        "--quantization-size",
        help="Model size of the quantization records [default: the largest of --sizes].",
        show_default=False,
    ),
    pruning_size: float = typer.Option(
        1e7, "--pruning-size", help="Model size of the pruning records."
    ),
    pruning_times: str = typer.Option(
        "1e2,1e3,1e4,1e5",
        "--pruning-times",
        help="Training stages t of the pruning curves (comma-separated).",
    ),
    sparsity_min: float = typer.Option(
        0.05, "--sparsity-min", help="Smallest pruned fraction r of a pruning curve."
    ),
    sparsity_max: float = typer.Option(
        0.995, "--sparsity-max", help="Largest pruned fraction r of a pruning curve (< 1)."
    ),
    sparsity_points: int = typer.Option(
        15, "--sparsity-points", help="Sparsities per pruning curve, log-spaced in 1 - r."
    ),
    pruning_metric: str = typer.Option(
        "seed",
        "--pruning-metric",
        help="seed: the unweighted sum w_k^2 phi_k^2 (slope 1+b-a); function: sum p_k phi_k^2 "
        "(slope 1-a).",
    ),
    pruning_scale: float = typer.Option(
        1e-3,
        "--pruning-scale",
        help="Amplitude multiplying the pruning sum (the seed's sum is in weight units).",
    ),
    density_points: int = typer.Option(
        8, "--density-points", help="Log-spaced t = C/P per size of the density records."
    ),
    density_scale: float = typer.Option(
        1.0, "--density-scale", help="Density records: delta = scale * min(k_*, K) / P."
    ),
    spectrum_points: int = typer.Option(
        45, "--spectrum-points", help="Distinct integer modes k of the spectrum records."
    ),
    spectrum_k_max: float = typer.Option(
        1e4, "--spectrum-k-max", help="Largest mode index of the spectrum records."
    ),
    modes_k: str = typer.Option(
        "1,2,4,8,16,32,64,128,256,512,1024",
        "--modes-k",
        help="Mode indices of the modes records (comma-separated).",
    ),
    modes_points: int = typer.Option(
        10, "--modes-points", help="Times of the loss grid (evenly thinned) for modes records."
    ),
    modes_min: float = typer.Option(
        0.02, "--modes-min", help="Keep a learned fraction only above this (noiseless value)."
    ),
    modes_max: float = typer.Option(
        0.98, "--modes-max", help="Keep a learned fraction only below this (noiseless value)."
    ),
    samples_min: float = typer.Option(
        1e3, "--samples-min", help="Smallest sample count of the data_scaling records."
    ),
    samples_max: float = typer.Option(
        1e7, "--samples-max", help="Largest sample count of the data_scaling records."
    ),
    data_points: int = typer.Option(
        15, "--data-points", help="Log-spaced sample counts of the data_scaling records."
    ),
    s: float = typer.Option(
        1.0, "--s", help="Source smoothness s: data_scaling alpha = 2s / (2s + 1/b)."
    ),
    e_ds: float = typer.Option(0.5, "--E-ds", help="Floor E of the data_scaling records."),
    b_ds: float = typer.Option(
        5.0, "--B-ds", help="Amplitude B of the data_scaling records: R = E + B n^-alpha."
    ),
) -> None:
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
    import numpy as np

    from gsf_infer.data.records import records_from_frame
    from gsf_infer.errors import InputError
    from gsf_infer.output.artifacts import write_json, write_table
    from gsf_infer.simulate.gsf import (
        GsfSimConfig,
        check_config,
        command_line,
        simulate_gsf,
        simulation_provenance,
    )

    _refuse_outputs(out, truth, force)
    defaults = GsfSimConfig()
    lists, problems = _parse_lists(
        (("--sizes", sizes, float), ("--bits", bits, int),
         ("--pruning-times", pruning_times, float), ("--modes-k", modes_k, int)),
        lambda name: getattr(defaults, name[2:].replace("-", "_")),
    )
    config = GsfSimConfig(
        family=family.strip().lower(),
        a=a,
        b=b,
        m=m,
        n=n,
        c=c,
        A=amp,
        Lam=lam,
        E=floor,
        tau=tau,
        kap=kap,
        kappa=kappa,
        nu=nu,
        sizes=lists["--sizes"],
        kinds=_parse_names(kinds),
        noise=noise,
        t_min=t_min,
        t_max=t_max,
        loss_points=loss_points,
        sigma0_sq=sigma0_sq,
        bits=lists["--bits"],
        quantization_points=quantization_points,
        quantization_size=quantization_size,
        pruning_size=pruning_size,
        pruning_times=lists["--pruning-times"],
        sparsity_min=sparsity_min,
        sparsity_max=sparsity_max,
        sparsity_points=sparsity_points,
        pruning_metric=pruning_metric.strip().lower(),
        pruning_scale=pruning_scale,
        density_points=density_points,
        density_scale=density_scale,
        spectrum_points=spectrum_points,
        spectrum_k_max=spectrum_k_max,
        modes_k=lists["--modes-k"],
        modes_points=modes_points,
        modes_min=modes_min,
        modes_max=modes_max,
        samples_min=samples_min,
        samples_max=samples_max,
        data_points=data_points,
        s=s,
        E_ds=e_ds,
        B_ds=b_ds,
    )
    problems += check_config(config)
    if problems:
        raise InputError(problems)
    from gsf_infer.inference import runtime

    runtime.configure(host_devices=1)  # x64: the sums span many orders of magnitude
    frame, known = simulate_gsf(config, np.random.default_rng(seed))
    provenance = simulation_provenance(config, known, seed, command_line(config, seed, out, truth))
    records_from_frame(frame, path=str(out), provenance=provenance)  # refuse what validate would
    written = write_table(frame, out, provenance=provenance, force=force)
    summary = ", ".join(f"{kind}: {count}" for kind, count in known["records"].items())
    typer.echo(f"wrote {len(frame)} records ({summary}) to {written}")
    if truth is not None:
        payload = dict(known)
        payload["seed"] = seed
        write_json(payload, truth, force=force)
        typer.echo(f"wrote the truth to {truth}")


@simulate_app.command("nn")
@report_errors
def nn(
    out: str = typer.Option(
        ..., "--out", help="Records table to write (.csv, .tsv or .parquet).", show_default=False
    ),
    truth: str | None = typer.Option(
        None,
        "--truth",
        help="Also write what is known and measured (spectrum slopes, final losses, settings) "
        "to this JSON file [default: not written].",
        show_default=False,
    ),
    seeds: str = typer.Option(
        "0",
        "--seeds",
        help="Training seeds (comma-separated): each trains the whole width family with its "
        "own initialisation and minibatch order.",
    ),
    force: bool = typer.Option(
        False, "--force", help="Overwrite existing output files [default: refuse, exit 2]."
    ),
    widths: str = typer.Option(
        "8,16,32,64,128,256",
        "--widths",
        help="Hidden widths N (comma-separated), one network each; the widest also carries the "
        "quantization, pruning, modes and spectrum records.",
    ),
    depth: int = typer.Option(1, "--depth", help="Hidden layers."),
    activation: str = typer.Option("relu", "--activation", help="relu or tanh."),
    readout_scale: float = typer.Option(
        0.1, "--readout-scale", help="Standard deviation of the initial read-out weights."
    ),
    steps: int = typer.Option(16000, "--steps", help="SGD steps per network."),
    checkpoints: int = typer.Option(
        30, "--checkpoints", help="Log-spaced checkpoints in [1, steps] (duplicates merged)."
    ),
    lr: float = typer.Option(
        0.5, "--lr", help="SGD learning rate (on the squared error summed over the outputs)."
    ),
    batch: int = typer.Option(
        128, "--batch", help="Minibatch size (>= the training set: full-batch descent)."
    ),
    test_fraction: float = typer.Option(
        0.3, "--test-fraction", help="Fraction of the 1797 images held out as the test set."
    ),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the train/test split."),
    ntk_subset: int = typer.Option(
        512, "--ntk-subset", help="Training images on which the empirical NTK is computed."
    ),
    min_t: int = typer.Option(
        10, "--min-t", help="Earliest step of the loss, modes and density records."
    ),
    bits: str = typer.Option(
        "3,4,6,8", "--bits", help="Precisions of the quantization records (comma-separated)."
    ),
    compress_min_t: int = typer.Option(
        16, "--compress-min-t", help="Earliest step of the quantization and pruning records."
    ),
    sparsities: str = typer.Option(
        "0.2,0.4,0.6,0.8,0.9,0.95",
        "--sparsities",
        help="Pruned fractions r in (0, 1) of every weight matrix (comma-separated).",
    ),
    pruning_checkpoints: int = typer.Option(
        6, "--pruning-checkpoints", help="Log-spaced checkpoints with pruning records."
    ),
    measure: str = typer.Option(
        "loss",
        "--measure",
        help="What compression records: loss (test-loss increase) or distance (mean squared "
        "change of the outputs on the test set).",
    ),
    modes: str = typer.Option(
        "2,3,4,6,8,12,16,24,32,48,64",
        "--modes",
        help="NTK eigen-directions k whose learned fractions are recorded (comma-separated).",
    ),
    mode_margin: float = typer.Option(
        0.05, "--mode-margin", help="Keep learned fractions only in [margin, 1 - margin]."
    ),
    spectrum_at: str = typer.Option(
        "init", "--spectrum-at", help="Empirical NTK of the spectrum records: init or end."
    ),
    spectrum_points: int = typer.Option(
        24, "--spectrum-points", help="Log-spaced mode indices of the spectrum records."
    ),
    spectrum_fraction: float = typer.Option(
        0.25,
        "--spectrum-fraction",
        help="Largest spectrum mode index as a fraction of --ntk-subset.",
    ),
    kinds: str = typer.Option(
        "loss,quantization,pruning,spectrum,modes",
        "--kinds",
        help="Record kinds (comma-separated); density (learned NTK directions per parameter, "
        "from the same measurements as modes) on request.",
    ),
) -> None:
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
    from gsf_infer.errors import InputError, Problem
    from gsf_infer.output.artifacts import write_json, write_table
    from gsf_infer.simulate.nn.settings import NNSettings, check_settings

    _refuse_outputs(out, truth, force)
    defaults = NNSettings()
    lists, problems = _parse_lists(
        (("--seeds", seeds, int), ("--widths", widths, int), ("--bits", bits, int),
         ("--sparsities", sparsities, float), ("--modes", modes, int)),
        lambda name: (0,) if name == "--seeds" else getattr(defaults, name[2:]),
    )
    settings = NNSettings(
        widths=lists["--widths"], depth=depth, activation=activation.strip().lower(),
        readout_scale=readout_scale, steps=steps, checkpoints=checkpoints, lr=lr, batch=batch,
        test_fraction=test_fraction, split_seed=split_seed, ntk_subset=ntk_subset, min_t=min_t,
        bits=lists["--bits"], compress_min_t=compress_min_t, sparsities=lists["--sparsities"],
        pruning_checkpoints=pruning_checkpoints, measure=measure.strip().lower(),
        modes=lists["--modes"], mode_margin=mode_margin, spectrum_at=spectrum_at.strip().lower(),
        spectrum_points=spectrum_points, spectrum_fraction=spectrum_fraction,
        kinds=_parse_names(kinds),
    )  # fmt: skip
    problems += check_settings(settings)
    seed_list = lists["--seeds"]
    if len(set(seed_list)) != len(seed_list) or any(s < 0 for s in seed_list):
        problems.append(Problem(path="--seeds", message="needs distinct integers >= 0",
                                value=seeds))  # fmt: skip
    if problems:
        raise InputError(problems)
    from gsf_infer.inference import runtime

    runtime.configure(host_devices=1)  # float64: quantization at fine precisions
    from gsf_infer.data.records import records_from_frame
    from gsf_infer.simulate.nn.experiment import simulate_nn
    from gsf_infer.simulate.nn.truth import command_line

    result = simulate_nn(settings, seed_list)
    provenance = dict(result.provenance)
    provenance["command"] = command_line(settings, seed_list, out, truth)
    records_from_frame(result.frame, path=str(out), provenance=provenance)  # refuse the invalid
    written = write_table(result.frame, out, provenance=provenance, force=force)
    counts = result.frame["kind"].value_counts()
    summary = ", ".join(f"{kind}: {int(counts[kind])}" for kind in settings.kinds if kind in counts)
    typer.echo(f"wrote {len(result.frame)} records ({summary}) to {written}")
    if truth is not None:
        write_json(result.truth, truth, force=force)
        typer.echo(f"wrote the truth to {truth}")
