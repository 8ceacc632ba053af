"""Wall time of the default ``gsf-infer simulate rf`` and the measurements its docs quote.

Usage::

    python benchmarks/bench_simulate_rf.py             # median of 3 default simulations
    python benchmarks/bench_simulate_rf.py --measure   # + slopes and ratios against the theory
    python benchmarks/bench_simulate_rf.py --measure --alternatives
                                                       # + the non-default options
    python benchmarks/bench_simulate_rf.py --fit-check 4
                                                       # + least-squares fits, seeds 0-3

The timing runs the library function with the default settings (what the CLI runs, minus
writing a ~300-row CSV). ``--measure`` compares the default records with the theory at the known
truth: local log-log slopes against ``-chi`` and ``gamma``, the ratio of quantization and
pruning losses to the theory's exact discrete laws (``K = N``, ``c = lr``), learned fractions
against ``1 - exp(-lr lambda_k t)``, the spectrum slope against ``-b``, and the loss floors
against ``sum_{k>N} p_k``. ``--alternatives`` repeats the compression measurements for the
options documented as not following the laws.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from gsf_infer.simulate import rf


def _slope(x, y) -> float:
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def time_default(repeats: int = 3) -> list[float]:
    """Wall times (s) of ``simulate_rf`` with the default settings."""
    out = []
    for i in range(repeats):
        start = time.perf_counter()
        rf.simulate_rf(rf.RFSettings(), np.random.default_rng(i))
        out.append(time.perf_counter() - start)
    return out


def _laws(settings: rf.RFSettings, n: int):
    k = np.arange(1, n + 1, dtype=float)
    lam = k ** (-settings.b)
    p = k ** (-settings.a)
    return lam, p, p / lam


def measure(settings: rf.RFSettings, seed: int = 0) -> None:
    """Print the comparison of one simulated data set with the theory."""
    result = rf.simulate_rf(settings, np.random.default_rng(seed))
    frame, truth = result.frame, result.truth
    chi, gamma = truth["chi"], truth["gamma"]
    n = max(settings.widths)
    lam, p, w2 = _laws(settings, n)
    eta = settings.lr
    print(f"records: {frame['kind'].value_counts().to_dict()}")
    print(f"measured: { {k: v for k, v in truth['measured'].items() if k != 'widths'} }")
    print(f"\nloss (-chi = {-chi:.3f}); local slopes over three checkpoints; floor / sum_(k>N) p_k")
    for run, grp in frame[frame["kind"] == "loss"].groupby("run", sort=False):
        t, l_ = grp["t"].to_numpy(float), grp["loss"].to_numpy()
        slopes = " ".join(
            f"{t[i]:.0f}:{_slope(t[i : i + 3], l_[i : i + 3]):.2f}" for i in range(0, len(t) - 2, 2)
        )
        facts = truth["measured"]["widths"][run]
        print(f"  {run:9s} floor_ratio {facts['floor_ratio']:.2f}  {slopes}")
    quant = frame[frame["kind"] == "quantization"]
    if len(quant):
        print(f"\nquantization ({settings.quantize}; gamma = {gamma:.3f})")
        for bits, grp in quant.groupby("bits"):
            t, d = grp["t"].to_numpy(float), grp["delta_loss"].to_numpy()
            law = np.array([np.sum(w2 * (1 - np.exp(-eta * lam * tt)) ** 2) for tt in t])
            ratio = d * 4.0**bits / law
            slopes = " ".join(
                f"{t[i]:.0f}:{_slope(t[i : i + 2], d[i : i + 2]):.2f}" for i in range(len(t) - 1)
            )
            print(
                f"  bits {bits}: ratio to 4^-bits sum w_k^2 phi_k^2 in "
                f"[{ratio.min():.4g}, {ratio.max():.4g}]; t-slopes {slopes}"
            )
        table = quant.pivot(index="t", columns="bits", values="delta_loss").to_numpy()
        if table.shape[1] > 1:
            steps = np.log(table[:, 1:] / table[:, :-1]) / np.log(4)
            print(
                f"  log_4 of successive bit ratios in [{np.nanmin(steps):.4f}, "
                f"{np.nanmax(steps):.4f}] (law: -1)"
            )
    prune = frame[frame["kind"] == "pruning"]
    if len(prune):
        print(
            f"\npruning ({settings.pruning}, {settings.pruning_measure}): ratio to the laws, K = N"
        )
        fun, unw = [], []
        for _, row in prune.iterrows():
            k_cut = int(round((1 - row["sparsity"]) * n))
            phi2 = (1 - np.exp(-eta * lam[k_cut:] * row["t"])) ** 2
            fun.append(row["delta_loss"] / np.sum(p[k_cut:] * phi2))
            unw.append(row["delta_loss"] / np.sum(w2[k_cut:] * phi2))
        print(
            f"  function metric: [{min(fun):.3g}, {max(fun):.3g}]; "
            f"unweighted metric: [{min(unw):.3g}, {max(unw):.3g}]"
        )
    modes = frame[frame["kind"] == "modes"]
    if len(modes):
        theory = 1 - np.exp(
            -eta * modes["k"].to_numpy(float) ** (-settings.b) * modes["t"].to_numpy(float)
        )
        dev = modes["learned_fraction"].to_numpy() - theory
        print(
            f"\nmodes ({settings.modes_basis}): phi - (1 - exp(-lr lambda_k t)): mean "
            f"{dev.mean():.4f} sd {dev.std():.4f} max |.| {np.abs(dev).max():.4f} "
            f"({len(modes)} kept)"
        )
    spec = frame[frame["kind"] == "spectrum"]
    if len(spec):
        power = spec.dropna(subset=["target_power"])
        print(
            f"\nspectrum: slope {_slope(spec['k'], spec['eigenvalue']):.4f} (-b = {-settings.b}),"
            f" target power slope {_slope(power['k'], power['target_power']):.4f} "
            f"(-a = {-settings.a}); k <= {int(spec['k'].max())}"
        )


def fit_check(settings: rf.RFSettings, seed: int) -> dict[str, float]:
    """Least-squares fit of the exact discrete forward model to one default data set.

    Monomial ``g = c lambda^m t^n``, ``lambda_k = Lam k^-b``, ``p_k = A k^-a``, ``K = N``
    (``kappa = 1``), a free floor ``E`` per run, quantization amplitude ``sigma0^2``, pruning
    with the function metric; log residuals (logit for modes), each kind (eigenvalues and target
    powers separately) weighted by the inverse of its own rms residual (iterated). A quick
    stand-in for the NUTS fit: it says whether the records are mutually consistent with the
    truth, not how wide a posterior is.
    """
    from scipy.optimize import least_squares
    from scipy.special import logit, zeta

    frame = rf.simulate_rf(settings, np.random.default_rng(seed)).frame
    loss = frame[frame["kind"] == "loss"]
    runs = list(dict.fromkeys(loss["run"]))
    quant = frame[frame["kind"] == "quantization"]
    prune = frame[frame["kind"] == "pruning"]
    modes = frame[frame["kind"] == "modes"]
    spec = frame[frame["kind"] == "spectrum"]
    kmax = max(settings.widths)
    k = np.arange(1, kmax + 1, dtype=float)

    def residuals(theta, weights):
        a, b, m, n = theta[:4]
        c, lam0, amp, s2 = np.exp(theta[4:8])
        floors = np.exp(theta[8:])
        lam, p = lam0 * k ** (-b), amp * k ** (-a)
        out = []
        parts = []
        for i, run in enumerate(runs):
            grp = loss[loss["run"] == run]
            size = int(grp["params"].iloc[0])
            g = c * lam[None, :size] ** m * grp["t"].to_numpy(float)[:, None] ** n
            mu = floors[i] + np.sum(p[:size] * np.exp(-2 * g), axis=1) + amp * zeta(a, size + 1)
            parts.append(np.log(grp["loss"].to_numpy()) - np.log(mu))
        out.append(np.concatenate(parts))
        g = c * lam[None, :] ** m * quant["t"].to_numpy(float)[:, None] ** n
        mu = (
            s2
            * 4.0 ** -quant["bits"].to_numpy(float)
            * np.sum(p / lam * (1 - np.exp(-g)) ** 2, axis=1)
        )
        out.append(np.log(quant["delta_loss"].to_numpy()) - np.log(mu))
        g = c * lam[None, :] ** m * prune["t"].to_numpy(float)[:, None] ** n
        cut = np.round((1 - prune["sparsity"].to_numpy()) * kmax)
        mu = np.sum((k[None, :] > cut[:, None]) * p * (1 - np.exp(-g)) ** 2, axis=1)
        out.append(np.log(prune["delta_loss"].to_numpy()) - np.log(mu))
        idx = modes["k"].to_numpy(int) - 1
        g = c * lam[idx] ** m * modes["t"].to_numpy(float) ** n
        out.append(logit(modes["learned_fraction"].to_numpy()) - np.log(np.expm1(g)))
        idx = spec["k"].to_numpy(int) - 1
        out.append(np.log(spec["eigenvalue"].to_numpy()) - np.log(lam[idx]))
        power = spec.dropna(subset=["target_power"])
        idx = power["k"].to_numpy(int) - 1
        out.append(np.log(power["target_power"].to_numpy(float)) - np.log(p[idx]))
        return [r * w for r, w in zip(out, weights, strict=True)]

    theta = np.array(
        [1.6, 1.6, 1.0, 1.0, np.log(0.2), 0.0, 0.0, np.log(0.05)] + [np.log(0.01)] * len(runs)
    )
    weights = np.ones(6)
    for _ in range(4):
        sol = least_squares(lambda th, w=weights: np.concatenate(residuals(th, w)), theta)
        theta = sol.x
        rms = np.array([np.sqrt(np.mean(r**2)) for r in residuals(theta, np.ones(6))])
        weights = 1.0 / np.maximum(rms, 1e-3)
    a, b, m, n = theta[:4]
    return {
        "a": a,
        "b": b,
        "m": m,
        "n": n,
        "rho": n / m,
        "rms_loss": rms[0],
        "rms_quantization": rms[1],
        "rms_pruning": rms[2],
        "rms_modes": rms[3],
        "rms_eigenvalue": rms[4],
        "rms_target_power": rms[5],
    }


def main() -> None:
    """Run the benchmark (and optionally the measurements)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--alternatives", action="store_true")
    parser.add_argument(
        "--fit-check",
        type=int,
        default=0,
        metavar="SEEDS",
        help="least-squares fit of the exact forward model to this many seeds",
    )
    args = parser.parse_args()
    times = time_default(args.repeats)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"simulate rf, default settings: median {statistics.median(times):.2f} s over "
        f"{len(times)} runs ({', '.join(f'{t:.2f}' for t in times)}); "
        f"{os.cpu_count()} CPUs, load average {load:.2f}"
    )
    if args.measure:
        measure(rf.RFSettings())
    for seed in range(args.fit_check):
        found = fit_check(rf.RFSettings(), seed)
        print(f"fit check, seed {seed}: " + " ".join(f"{k}={v:.3f}" for k, v in found.items()))
    if args.alternatives:
        base = dict(widths=(2048,), kinds=("quantization", "pruning"))
        for label, extra in (
            (
                "feature-weights quantization, magnitude pruning (distance)",
                dict(
                    quantize="feature-weights",
                    pruning="magnitude",
                    sparsities=(0.1, 0.3, 0.5, 0.7, 0.9, 0.95),
                    bits=(4, 5, 6, 7, 8),
                ),
            ),
            (
                "readout quantization, spectral pruning (loss increase)",
                dict(quantize="readout", pruning_measure="loss", bits=(4, 5, 6, 7, 8)),
            ),
            ("features quantization at 3-6 bits", dict(bits=(3, 4, 5, 6))),
            (
                "batch 256 (SGD noise)",
                dict(batch=256, sparsities=(0.5, 0.75, 0.875), compress_min_t=4),
            ),
        ):
            print(f"\n===== {label}")
            measure(rf.RFSettings(**base, **extra))


if __name__ == "__main__":
    main()
