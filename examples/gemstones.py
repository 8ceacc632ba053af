"""Gemstones loss curves (McLeish et al. 2025): the learning exponent ``chi`` per run and pooled.

The records (``gsf-infer ingest gemstones_loss_curves --option variant=hot``) are training-loss
curves of 22 transformers (48M-2.0B parameters, widths 256-3072, depths 3-80) at constant
learning rate, one point per ~1e10 tokens from 1e10 to 1e11 tokens (the ``hot_477`` file has the
same curves 5x denser: little more information about a smooth curve, 5x the cost). Fits of the
``gsf`` model:

- pooled: all runs in one group — one set of exponents; the runs differ only in capacity
  (``K ∝ params``). Loss at several sizes identifies ``chi`` and, through the capacity floor,
  ``a - 1`` (hence ``rho/b``);
- per run: each curve alone (one size: ``chi`` only, the rest left to the prior). One fit per run
  rather than ``group = run`` in one fit: with 22 groups the partially pooled model did not mix
  here (R-hat up to 2.8 after 2 x 600 iterations, minutes of CPU), while single-curve fits do.

Per-run fits of a single curve need minutes each at the default settings (long trees: one size
leaves the capacity and the frontier scale to trade off), so by default six runs spread over the
sizes are fitted alone; ``--all-runs`` fits all 22. ``--quick``: 2 chains x 300 + 300, and one
per-run fit (the run of median size).

Run: ``python examples/gemstones.py [--quick] [--out DIR] [--force]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Run, diagnostics_note, fmt, interval, main, read_table, table  # noqa: E402

NAME = "gemstones"
VARIANT = "hot"
#: Runs fitted alone by default (evenly spread over the size ranking); --all-runs fits all.
SPREAD = 6


def options(parser) -> None:
    parser.add_argument("--all-runs", action="store_true",
                        help=f"fit every run alone [default: {SPREAD} runs spread over the sizes]")


def short(run_name: str) -> str:
    return run_name.removeprefix("PyGemma-").removesuffix("_pretrain")


def body(run: Run) -> tuple[str, dict]:
    from gsf_infer import artifacts

    run.gsf_infer("ingest", "gemstones_loss_curves", "--option", f"variant={VARIANT}",
                  "--out", "gemstones.csv")
    run.gsf_infer("validate", "gemstones.csv")
    frame, provenance = read_table(run.folder / "gemstones.csv")
    runs = frame.groupby("run").agg(
        params=("params", "first"), width=("width", "first"), depth=("depth", "first"),
        records=("t", "size"),
    ).sort_values("params")

    run.gsf_infer("fit", "gemstones.csv", "--model", "gsf", *run.sampler, "--out", "fit_pooled",
                  "--quiet")
    pooled = run.summary("fit_pooled")
    pp = pooled["parameters"]

    chosen = list(runs.index)
    if run.quick:
        chosen = [chosen[len(chosen) // 2]]
    elif not run.options.all_runs:
        picks = np.unique(np.round(np.linspace(0, len(chosen) - 1, SPREAD)).astype(int))
        chosen = [chosen[i] for i in picks]
    per_run, rows = {}, []
    for name in chosen:
        file = f"run_{short(name)}.csv"
        prov = dict(provenance)
        prov["derived_by"] = f"examples/gemstones.py: the records of run {name} only"
        artifacts.write_table(frame[frame["run"] == name], run.folder / file, provenance=prov)
        out = f"fit_{short(name)}"
        run.gsf_infer("fit", file, "--model", "gsf", *run.sampler, "--out", out, "--quiet")
        s = run.summary(out)
        per_run[name] = {
            "chi": s["parameters"]["chi"],
            "E": s["parameters"].get("E"),
            "diagnostics": s["diagnostics"],
        }
        info = runs.loc[name]
        rows.append([short(name), fmt(info["params"], 3), int(info["width"]), int(info["depth"]),
                     interval(s["parameters"]["chi"]), interval(s["parameters"].get("E")),
                     diagnostics_note(s)])

    chi_means = np.array([v["chi"]["mean"] for v in per_run.values()])
    log_p = np.log(runs.loc[chosen, "params"].to_numpy(dtype=float))
    corr = float(np.corrcoef(log_p, chi_means)[0, 1]) if len(chosen) > 2 else None
    pooled_chi = pp["chi"]
    outside = [short(n) for n, v in per_run.items()
               if not v["chi"]["hdi_low"] <= pooled_chi["mean"] <= v["chi"]["hdi_high"]]
    converged = sum(v["diagnostics"]["converged"] for v in per_run.values())
    widths = [v["chi"]["hdi_high"] - v["chi"]["hdi_low"] for v in per_run.values()]

    pooled_rows = [[k, interval(pp.get(k)), fmt(pp[k]["contraction"], 3) if pp.get(k) else "-"]
                   for k in ("chi", "a", "rho_over_b", "b", "rho", "E")]
    md = f"""## Gemstones: `chi` per run and pooled

Data: `gsf-infer ingest gemstones_loss_curves --option variant={VARIANT}` — {len(frame)} training
losses of {len(runs)} runs (constant learning rate, {fmt(frame['t'].min(), 2)} to
{fmt(frame['t'].max(), 2)} tokens). Model `gsf`, default priors and likelihood (lognormal).

### Pooled (all runs, one group: shared exponents, capacity `K ∝ params`)

{table(["parameter", "mean [94% HDI]", "contraction"], pooled_rows)}

Sampler: {diagnostics_note(pooled)}. `chi` and `a - 1` (the capacity floor across the sizes)
are what loss curves at several sizes identify, `rho/b = chi/(a-1)` follows; `b` and `rho`
separately are not identified by loss records (`gsf-infer validate` lists them as prior only).

### Per run (each curve fitted alone: {len(chosen)} of {len(runs)} runs)

{table(["run (width x depth)", "params", "width", "depth", "chi", "E", "sampler"], rows)}

{converged} of {len(per_run)} per-run fits converged by the tool's criteria (R-hat <= 1.01, bulk
ESS >= 400, no divergences). Median width of the per-run 94% HDIs of `chi`:
{fmt(float(np.median(widths)), 2)}. Correlation of the per-run `chi` means with log(params):
{fmt(corr, 2)}. The pooled `chi` mean {fmt(pooled_chi['mean'], 3)} lies outside the per-run 94%
HDI of {len(outside)} of {len(per_run)} runs{(': ' + ', '.join(outside)) if outside else ''}.
Conclusions about pooling hold only as far as the fits above converged.
"""
    return md, {
        "variant": VARIANT,
        "records": int(len(frame)),
        "runs": int(len(runs)),
        "pooled": {k: pp.get(k) for k in ("chi", "a", "rho_over_b", "b", "rho", "E")},
        "pooled_diagnostics": pooled["diagnostics"],
        "per_run": per_run,
        "chi_log_params_correlation": corr,
        "pooled_chi_outside_per_run_hdi": outside,
    }


if __name__ == "__main__":
    main(NAME, __doc__.splitlines()[0], body, extra=options)
