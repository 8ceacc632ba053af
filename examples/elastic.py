"""The form of ``g`` from data: whether the ``elastic`` fit recovers the local elasticity.

``--g elastic`` learns ``rho(t) = E_t/E_lambda`` as a smooth curve in ``log t`` (a Gaussian
process shrunk towards a constant; ``docs/theory.md``). This script checks it on worlds with a
known ``rho(t)``, with the commands a user types:

1. **Drifting worlds**: ``gsf-infer simulate gsf --family logcorr --m 1 --n 1 --tau 100``, where
   ``g = c lambda^m t^n log(e + t/tau)`` has the local elasticity
   ``rho(t) = (n + x/((e + x) log(e + x)))/m``, ``x = t/tau``: it rises from about 1.03 at
   ``t = 10`` to 1.32 near ``t = 700`` and falls to 1.14 at ``t = 1e5`` (a drift of about 28%
   over the records' time range). Fitted with ``--g elastic``: the share of grid points inside
   the identified range where the band covers the true ``rho(t)``, and whether the band excludes
   every constant.
2. **Monomial worlds** (``simulate gsf``, ``rho = n/m = 1.25``): fitted with ``--g elastic`` and
   ``--g monomial``; whether the band covers 1.25 at every identified grid point, and the two
   fits' ELPD (PSIS-LOO) with the standard error of their difference.
3. **Random features** (default ``simulate rf``, gradient descent: ``rho = 1``): whether the
   band covers 1. Every record of such a run shares one draw of the features and of the target
   (``--discrepancy spectral`` models that; without it the shared misfit can read as a drift
   of ``rho``).

Usage::

    .venv/bin/python examples/elastic.py [--seeds 5] [--worlds drift,monomial,rf] [--quick]
                                         [--discrepancy spectral] [--out DIR] [--force]

Every ``simulate gsf`` world has 20 loss points per size (the default has 60; the cost of a fit
grows with the records). ``--quick`` (the test suite): one drifting world, with the full run's
chains (shorter ones mix too little for the sampler's rule, which then reruns them on a dense
metric at a higher cost than the longer chains). The full run: ``--seeds`` worlds of each kind
in ``--worlds``, 2 chains x (300 + 300) per fit (the study's budget on a shared machine; each
fit's convergence is reported). Every fit samples every direction (``--sample-unidentified``):
the weights of ``rho(t)``'s curve that the records leave to the prior are part of its band, not
held at the optimum.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from _common import Run, fmt, main, table  # noqa: E402

#: The study's sampler (the footer of results.md reads these); --quick keeps the full chains.
_common.FULL = {"chains": 2, "warmup": 300, "draws": 300}
_common.QUICK = dict(_common.FULL)

#: The drifting world: logcorr with these parameters (time scale tau in units of t).
DRIFT = {"m": 1.0, "n": 1.0, "tau": 100.0}
#: Records of the simulated worlds: fewer loss points than the default (cost).
WORLD = ["--loss-points", "20"]


def true_rho(t: np.ndarray, m: float, n: float, tau: float) -> np.ndarray:
    """Local elasticity of ``g = c lambda^m t^n log(e + t/tau)``: ``E_t / E_lambda``."""
    x = np.asarray(t, float) / tau
    return (n + x / ((np.e + x) * np.log(np.e + x))) / m


def _fit(run: Run, data: str, g: str, out: str, sampler: list[str]) -> dict[str, Any]:
    discrepancy = run.options.discrepancy
    extra = ["--discrepancy", discrepancy] if discrepancy else []
    run.gsf_infer("fit", data, "--g", g, "--out", out, "--no-check", "--quiet", "--force",
                  "--sample-unidentified", *extra, *sampler)
    return run.summary(out)


def _curve(run: Run, out: str) -> dict[str, Any]:
    from gsf_infer.analysis.elastic import elasticity_curve

    curve = elasticity_curve(run.load(out))
    g = curve["groups"]["all"]
    return {"t": np.asarray(curve["t"]), "low": np.asarray(g["low"]),
            "high": np.asarray(g["high"]), "median": np.asarray(g["median"]),
            "identified": np.asarray(g["identified"], bool), "constant": g["constant"],
            "sentence": g["sentence"]}


def _timing(summary: dict[str, Any]) -> str:
    d = summary["diagnostics"]
    return "yes" if d.get("converged") else f"no (R-hat {fmt(d.get('max_r_hat'))})"


def drift_world(run: Run, seed: int, sampler: list[str], world: list[str]) -> dict[str, Any]:
    """Fit a logcorr world with ``elastic``: coverage of the true rho(t), constancy."""
    data, truth = f"drift_{seed}.csv", f"drift_{seed}_truth.json"
    run.gsf_infer("simulate", "gsf", "--out", data, "--truth", truth, "--seed", str(seed),
                  "--family", "logcorr", "--m", str(DRIFT["m"]), "--n", str(DRIFT["n"]),
                  "--tau", str(DRIFT["tau"]), "--force", *world)
    params = json.loads((run.folder / truth).read_text())["parameters"]
    summary = _fit(run, data, "elastic", f"drift_{seed}_elastic", sampler)
    c = _curve(run, f"drift_{seed}_elastic")
    rho = true_rho(c["t"], params["m"], params["n"], params["tau"])
    inside = c["identified"]
    covered = (c["low"] <= rho) & (rho <= c["high"])
    return {
        "seed": seed, "grid_points": int(inside.sum()),
        "coverage": float(covered[inside].mean()) if inside.any() else None,
        "true_drift": float(rho[inside].max() / rho[inside].min() - 1) if inside.any() else None,
        "excludes_constants": c["constant"] is False,
        "identified_t": [float(c["t"][inside].min()), float(c["t"][inside].max())]
        if inside.any() else None,
        "converged": summary["diagnostics"]["converged"],
        "seconds": summary.get("timings", {}), "sentence": c["sentence"],
    }


def monomial_world(run: Run, seed: int, sampler: list[str], world: list[str]) -> dict[str, Any]:
    """Fit a monomial world (rho = n/m) with elastic and monomial: coverage and ELPD."""
    from gsf_infer.analysis.comparison import loo_table

    data, truth = f"mono_{seed}.csv", f"mono_{seed}_truth.json"
    run.gsf_infer("simulate", "gsf", "--out", data, "--truth", truth, "--seed", str(seed),
                  "--force", *world)
    params = json.loads((run.folder / truth).read_text())["parameters"]
    rho = params["n"] / params["m"]
    s_el = _fit(run, data, "elastic", f"mono_{seed}_elastic", sampler)
    s_mo = _fit(run, data, "monomial", f"mono_{seed}_monomial", sampler)
    c = _curve(run, f"mono_{seed}_elastic")
    inside = c["identified"]
    covered = (c["low"] <= rho) & (rho <= c["high"])
    loo = loo_table({"elastic": run.load(f"mono_{seed}_elastic"),
                     "monomial": run.load(f"mono_{seed}_monomial")})
    rows = {r["name"]: r for r in loo["models"]}
    diff = rows["elastic"]["elpd_loo"] - rows["monomial"]["elpd_loo"]
    dse = max(rows["elastic"]["dse"] or 0.0, rows["monomial"]["dse"] or 0.0)
    return {
        "seed": seed, "rho": rho, "grid_points": int(inside.sum()),
        "covers_everywhere": bool(covered[inside].all()) if inside.any() else None,
        "coverage": float(covered[inside].mean()) if inside.any() else None,
        "constant": c["constant"], "elpd_elastic": rows["elastic"]["elpd_loo"],
        "elpd_monomial": rows["monomial"]["elpd_loo"], "elpd_diff": diff, "dse": dse,
        "within_2se": bool(abs(diff) <= 2 * dse),
        "converged": [s_el["diagnostics"]["converged"], s_mo["diagnostics"]["converged"]],
    }


def rf_world(run: Run, seed: int, sampler: list[str]) -> dict[str, Any]:
    """Fit the default ``simulate rf`` (rho = 1) with elastic: does the band cover 1."""
    data = f"rf_{seed}.csv"
    run.gsf_infer("simulate", "rf", "--out", data, "--truth", f"rf_{seed}_truth.json",
                  "--seed", str(seed), "--force")
    summary = _fit(run, data, "elastic", f"rf_{seed}_elastic", sampler)
    c = _curve(run, f"rf_{seed}_elastic")
    inside = c["identified"]
    covered = (c["low"] <= 1.0) & (1.0 <= c["high"])
    return {
        "seed": seed, "grid_points": int(inside.sum()),
        "covers_everywhere": bool(covered[inside].all()) if inside.any() else None,
        "coverage": float(covered[inside].mean()) if inside.any() else None,
        "constant": c["constant"], "converged": summary["diagnostics"]["converged"],
        "sentence": c["sentence"],
    }


def _yes(x: Any) -> str:
    return "-" if x is None else ("yes" if x else "no")


def _report(drift: list, mono: list, rf: list, discrepancy: str | None = None) -> str:
    lines = []
    if discrepancy:
        lines += [f"Every fit with `--discrepancy {discrepancy}`.", ""]
    if drift:
        lines += ["### Drifting worlds (logcorr, m = 1, n = 1, tau = 100; --g elastic)", "",
             table(("seed", "true drift", "identified t", "grid points", "band covers truth",
                    "excludes every constant", "converged"),
                   [(d["seed"], f"{d['true_drift']:.0%}" if d["true_drift"] is not None else "-",
                     "-" if not d["identified_t"] else
                     f"{d['identified_t'][0]:.3g} - {d['identified_t'][1]:.3g}",
                     d["grid_points"], fmt(d["coverage"]), _yes(d["excludes_constants"]),
                     _yes(d["converged"])) for d in drift]), ""]
    if mono:
        lines += [ "### Monomial worlds (rho = n/m = 1.25; --g elastic and --g monomial)", "",
                  table(("seed", "band covers 1.25 at every point", "share covered",
                         "constant in band", "ELPD elastic", "ELPD monomial", "diff (dse)",
                         "within 2 SE", "converged (el, mono)"),
                        [(m["seed"], _yes(m["covers_everywhere"]), fmt(m["coverage"]),
                          _yes(m["constant"]), fmt(m["elpd_elastic"], 5),
                          fmt(m["elpd_monomial"], 5), f"{m['elpd_diff']:.2f} ({m['dse']:.2f})",
                          _yes(m["within_2se"]), ", ".join(_yes(v) for v in m["converged"]))
                         for m in mono]), ""]
    if rf:
        lines += [ "### Random features (default simulate rf, rho = 1; --g elastic)", "",
                  table(("seed", "band covers 1 at every point", "share covered",
                         "constant in band", "converged"),
                        [(r["seed"], _yes(r["covers_everywhere"]), fmt(r["coverage"]),
                          _yes(r["constant"]), _yes(r["converged"])) for r in rf])]
    return "\n".join(lines)


def body(run: Run) -> tuple[str, dict[str, Any]]:
    """Run the worlds and tabulate."""
    seeds = range(1) if run.quick else range(run.options.seeds)
    worlds = ("drift",) if run.quick else tuple(run.options.worlds.split(","))
    sampler = run.sampler
    drift = [drift_world(run, s, sampler, WORLD) for s in seeds] if "drift" in worlds else []
    mono = ([monomial_world(run, s, sampler, WORLD) for s in seeds]
            if "monomial" in worlds else [])
    rf = [rf_world(run, s, sampler) for s in seeds] if "rf" in worlds else []
    covered = [d["coverage"] for d in drift if d["coverage"] is not None]
    numbers = {
        "drift": drift, "monomial": mono, "rf": rf,
        "drift_mean_coverage": float(np.mean(covered)) if covered else math.nan,
    }
    return _report(drift, mono, rf, run.options.discrepancy), numbers


def _extra(parser) -> None:
    parser.add_argument("--seeds", type=int, default=5, help="worlds of each kind [default: 5]")
    parser.add_argument("--worlds", default="drift,monomial,rf",
                        help="kinds of world: drift, monomial, rf [default: all three]")
    parser.add_argument("--discrepancy", default=None,
                        help="passed to every fit's --discrepancy (e.g. spectral: the records "
                             "of one run share a realisation) [default: the fit's own]")


if __name__ == "__main__":
    main("elastic", __doc__.splitlines()[0], body, extra=_extra)
