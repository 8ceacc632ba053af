"""``RESULTS.md`` from the raw results of ``benchmarks/run.py`` (its ``results.json``).

A small markdown table writer (:func:`table`), one function per section, and the derived numbers
(ESS per second, medians, the gradient's log-log slope) computed here from the raw ones, so that
a report can be re-rendered from an earlier run's ``results.json``. Standard library only.
"""

from __future__ import annotations

import math
import statistics

#: Targets of the summary: wall of the default fit, convergence of both models.
TARGET_COLD_S, TARGET_WARM_S = 60.0, 30.0
TARGET_R_HAT, TARGET_ESS = 1.01, 400.0
#: Speed-up of many fits (``calibrate`` batched or on workers) over one after the other.
TARGET_MANY = 3.0
#: What the summary calls linear (gradient against records) and flat (against K).
LINEAR_SLOPE, FLAT_RATIO = 1.2, 1.25


# ============================================================================ formatting


def num(x, digits: int = 3) -> str:
    """Format a number for a table: thousands separated, ``digits`` significant below 100."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    if isinstance(x, int) or abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def table(header: list[str], rows: list[list]) -> list[str]:
    """Markdown table lines: first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    lines += ["| " + " | ".join(c if isinstance(c, str) else num(c) for c in row) + " |"
              for row in rows]
    return lines + [""]


def met(ok: bool | None) -> str:
    """Format the verdict column of the summary."""
    return "—" if ok is None else ("**met**" if ok else "**not met**")


def loads(section: dict) -> str:
    """Format the load-average line of a section."""
    return (f"Load average (1, 5, 15 min): {section.get('load_start')} at the start, "
            f"{section.get('load_end')} at the end.")


def median(values) -> float:
    """Median of the finite values (NaN when there are none)."""
    values = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return statistics.median(values) if values else float("nan")


# ============================================================================ derived numbers


def model_seconds(run: dict, model: str) -> float:
    """Sum of one model's stage times in ``summary.json`` (NaN without timings)."""
    stages = run.get("timings", {}).get(model)
    return sum(stages.values()) if stages else float("nan")


def ess(stats: dict | None, var: str) -> float:
    """Bulk ESS of ``var`` in :func:`workers.posterior_stats` output (NaN if absent)."""
    return (stats or {}).get("ess_bulk", {}).get(var, float("nan"))


def fit_rates(run: dict) -> dict:
    """ESS per second of a fit run.

    ``chi_rho``: the smaller bulk ESS of the two per second of the ``gsf`` model;
    ``delta_over_rho``: per second of the ``deviation`` model; ``*_command``: the same per
    second of the whole command.
    """
    gsf, dev = run["models"].get("gsf"), run["models"].get("deviation")
    chi_rho = min(ess(gsf, "chi"), ess(gsf, "rho"))
    dor = ess(dev, "delta_over_rho")
    wall = run["process"]["wall"]
    return {"chi_rho": chi_rho / model_seconds(run, "gsf"),
            "delta_over_rho": dor / model_seconds(run, "deviation"),
            "chi_rho_command": chi_rho / wall, "delta_over_rho_command": dor / wall}


def nutpie_rates(run: dict) -> dict:
    """ESS per second of a nutpie run.

    Per second of build + compile + sampling (``rate``) and of sampling only
    (``rate_sampling``), of the smaller of ``chi`` and ``rho`` (``gsf``) or of
    ``delta_over_rho`` (``deviation``).
    """
    sec, st = run["seconds"], run["stats"]
    total = sec["build"] + sec["compile"] + sec["sample"]
    value = (min(ess(st, "chi"), ess(st, "rho")) if run["model"] == "gsf"
             else ess(st, "delta_over_rho"))
    key = "chi_rho" if run["model"] == "gsf" else "delta_over_rho"
    return {"key": key, "total": total, "rate": value / total, "rate_sampling":
            value / sec["sample"]}


def agreement(tool: dict | None, other: dict | None) -> tuple[float, str]:
    """Largest |difference of posterior means| / combined MCSE over the shared scalars."""
    worst, name = float("nan"), ""
    for k, a in (tool or {}).get("means", {}).items():
        b = (other or {}).get("means", {}).get(k)
        if b is None:
            continue
        se = math.hypot(a["mcse"], b["mcse"])
        z = abs(a["mean"] - b["mean"]) / se if se > 0 else float("nan")
        if math.isfinite(z) and not z <= worst:
            worst, name = z, k
    return worst, name


def slope(rows: list[dict]) -> float:
    """Least-squares slope of log(median time) against log(records), rows of >= 1000."""
    pts = [(math.log(r["records"]), math.log(r["median_ms"])) for r in rows
           if r["records"] >= 1000] or [(math.log(r["records"]), math.log(r["median_ms"]))
                                        for r in rows]
    if len(pts) < 2:
        return float("nan")
    mx, my = statistics.fmean(p[0] for p in pts), statistics.fmean(p[1] for p in pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else float("nan")


# ============================================================================ sections


def header(res: dict) -> list[str]:
    """Title, provenance, quick-mode banner, machine and versions."""
    m, cfg = res["machine"], res["config"]
    lines = ["# Benchmarks of gsf-infer: `benchmarks/run.py`", "",
             f"Produced by `{res['command']}` on {m['date']}, commit {m['commit']}, in "
             f"{res.get('elapsed', float('nan')) / 60:.1f} min.", ""]
    if cfg["quick"]:
        lines += ["> **QUICK MODE**: tiny settings (a smoke test of the script); the numbers "
                  "below measure nothing.", ""]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines += ["## Machine and versions", "",
              f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gb']:.1f} GB; {m['os']}; "
              f"Python {m['python']}",
              f"- {versions}",
              f"- load average (1, 5, 15 min) at the start: {res['load_start']}; at the end: "
              f"{res.get('load_end')}",
              f"- settings: the tool's default fit ({_tool_sampler()}), {cfg['repeats']} cold "
              f"+ warm pair(s); nutpie {cfg['chains']} chains x {cfg['warmup']} warm-up + "
              f"{cfg['draws']} draws; seed 0", ""]
    return lines


def _tool_sampler() -> str:
    """Describe the default sampler of ``gsf-infer fit`` in words."""
    from gsf_infer.inference.config import SamplerConfig  # deferred: the tool's defaults

    c = SamplerConfig()
    metric = "a dense mass matrix adapted" if c.adapt_mass else "the Laplace metric"
    return (f"{c.num_chains} chains x {c.num_warmup} warm-up + {c.num_samples} draws, "
            f"{metric}")


def summary(res: dict) -> list[str]:
    """Render the targets, what was measured, met or not."""
    sec = res["sections"]
    rows = []
    fit = sec.get("fit")
    if fit:
        walls = {p: median([r["process"]["wall"] for r in fit["runs"] if r["phase"] == p])
                 for p in ("cold", "warm")}
        rows.append(["default `fit`, empty compilation cache (median wall)",
                     f"≤ {TARGET_COLD_S:g} s", f"{num(walls['cold'])} s",
                     met(walls["cold"] <= TARGET_COLD_S)])
        rows.append(["default `fit`, warm compilation cache (median wall)",
                     f"≤ {TARGET_WARM_S:g} s", f"{num(walls['warm'])} s",
                     met(walls["warm"] <= TARGET_WARM_S)])
        stats = [s for r in fit["runs"] for s in r["models"].values() if s]
        div = sum(s.get("divergences", 0) for s in stats)
        rhat = max((s["max_r_hat"] for s in stats), default=float("nan"))
        low = min((s["min_ess_bulk"] for s in stats), default=float("nan"))
        rows.append(["both models converge, every scalar, every run",
                     f"0 divergences, R-hat ≤ {TARGET_R_HAT}, bulk ESS ≥ {TARGET_ESS:g}",
                     f"{div} divergences, R-hat ≤ {num(rhat, 4)}, bulk ESS ≥ {num(low)}",
                     met(div == 0 and rhat <= TARGET_R_HAT and low >= TARGET_ESS)])
    nut = sec.get("nutpie")
    if fit and nut:
        cold = [fit_rates(r) for r in fit["runs"] if r["phase"] == "cold"]
        for key, label in (("chi_rho", "`chi`, `rho`"), ("delta_over_rho", "`delta_over_rho`")):
            ours = median([c[key] for c in cold])
            best = max((nutpie_rates(r)["rate"] for r in nut["runs"]
                        if nutpie_rates(r)["key"] == key), default=float("nan"))
            ratio = ours / best
            rows.append([f"ESS/s of {label} against nutpie's best (cold, same run)",
                         "ratio ≥ 1", f"{num(ratio)}x ({num(ours)} vs {num(best)} ESS/s)",
                         met(ratio >= 1) if math.isfinite(ratio) else "—"])
    if nut:
        par = nut["parity"]["models"].values()
        rel = max(p["max_rel_logp_diff"] for p in par)
        grad = max(p["max_rel_grad_diff"] for p in par)
        rows.append(["PyMC log densities equal the tool's (gsf, deviation)",
                     "relative ≤ 1e-6", f"log p {rel:.1e}, gradient {grad:.1e}",
                     met(rel <= 1e-6 and grad <= 1e-6)])
    if "help" in sec:
        h = sec["help"]["rows"][0]["median"]
        rows.append(["`gsf-infer --help`", "< 0.5 s", f"{num(h)} s", met(h < 0.5)])
    if "gradient" in sec:
        g = sec["gradient"]
        s = slope(g["records"])
        times = [r["median_ms"] for r in g["capacity"]]
        ratio = max(times) / min(times)
        rows.append(["gradient cost against records (log-log slope)",
                     f"linear (≤ {LINEAR_SLOPE})", num(s),
                     met(s <= LINEAR_SLOPE) if math.isfinite(s) else "—"])
        rows.append(["gradient cost against K (max / min)", f"flat (≤ {FLAT_RATIO})",
                     num(ratio), met(ratio <= FLAT_RATIO)])
    walls = {r["name"]: r["process"]["wall"] for r in sec.get("many", {}).get("runs", [])}
    for name, label in (("batched", "batched"), ("cluster2", "on 2 workers")):
        if "sequential" in walls and name in walls:
            ratio = walls["sequential"] / walls[name]
            rows.append([f"`calibrate` {label} against one after the other (fits/hour)",
                         f"≥ {TARGET_MANY:g}x", f"{num(ratio)}x", met(ratio >= TARGET_MANY)])
    return ["## Summary", "", *table(["item", "target", "measured", ""], rows)]


def section_fit(fit: dict) -> list[str]:
    """Render section a: the default command, cold and warm."""
    argv = " ".join(fit["runs"][0]["argv"])
    lines = ["## a. The default `fit`, empty and warm compilation cache", "",
             f"`gsf-infer {argv}` in a fresh process (`workers.py cli`: JAX's listeners, then "
             "the command line) with `GSF_INFER_CACHE` in an empty folder (`cold`), then again "
             "with the cache it filled (`warm`). Wall, CPU and peak RSS of the process; "
             "compile: wall time inside JAX's tracing, lowering and compilation spans (cache "
             "loads included); cache: hits / compilations that could use it, and entries "
             "written; `gsf`, `deviation`: the sum of each model's stage times in "
             "`summary.json` (the two fits run side by side, their chains at the same time); "
             "both: the wall time of the two fits together (`sampler.seconds_total`); rest: "
             "the command's other work (imports, reading, checks, plots, report, writing).",
             "", loads(fit), ""]
    rows = []
    for r in fit["runs"]:
        p, c = r["process"], r["cache"]
        gsf, dev = model_seconds(r, "gsf"), model_seconds(r, "deviation")
        both = r.get("models_seconds")
        if both is None:  # results written before the fits ran side by side
            both = gsf + (dev if math.isfinite(dev) else 0.0)
        rows.append([f"{r['repeat'] + 1} {r['phase']}", p["wall"], p["cpu"], p["maxrss_mb"],
                     r["compile_s"], f"{c['hits']} / {c['requests']}", c["written"],
                     c["saved_s"], gsf, dev, both, p["wall"] - both, str(r["verdict"]),
                     r["load"][0]])
    lines += table(["run", "wall (s)", "CPU (s)", "peak RSS (MB)", "compile (s)",
                    "cache hits / requests", "entries written", "compile saved (s)",
                    "`gsf` (s)", "`deviation` (s)", "both (s)", "rest (s)", "verdict",
                    "load after"], rows)
    stages = ("prior", "optimize", "sampling", "postprocess", "pointwise")
    rows = [[f"{r['repeat'] + 1} {r['phase']}", f"`{m}`",
             *[r["timings"][m].get(s) for s in stages], model_seconds(r, m)]
            for r in fit["runs"] for m in ("gsf", "deviation") if m in r["timings"]]
    lines += ["Stage times of each model (seconds, from `summary.json`'s `timings`):", "",
              *table(["run", "model", *stages, "total"], rows)]
    rows = []
    for r in fit["runs"]:
        g, d = r["models"]["gsf"] or {}, r["models"]["deviation"] or {}
        rates = fit_rates(r)
        worst_e = min((g, d), key=lambda s: s.get("min_ess_bulk", math.inf))
        worst_r = max((g, d), key=lambda s: s.get("max_r_hat", -math.inf))
        rows.append([f"{r['repeat'] + 1} {r['phase']}",
                     f"{num(ess(g, 'chi'))} / {num(ess(g, 'rho'))}",
                     num(ess(d, "delta_over_rho")),
                     f"{g.get('divergences')} / {d.get('divergences')}",
                     f"{num(worst_r.get('max_r_hat'), 4)} (`{worst_r.get('max_r_hat_name')}`)",
                     f"{num(worst_e.get('min_ess_bulk'))} (`{worst_e.get('min_ess_name')}`)",
                     f"{num(g.get('steps_mean'))} / {num(d.get('steps_mean'))}",
                     rates["chi_rho"], rates["delta_over_rho"],
                     f"{num(rates['chi_rho_command'])} / "
                     f"{num(rates['delta_over_rho_command'])}"])
    lines += ["Draws (`posterior.nc` for `gsf`, `posterior_deviation.nc` for `deviation`; "
              "R-hat and bulk ESS over every scalar of both models; ESS/s of `chi`, `rho` is "
              "the smaller of the two per second of the `gsf` model, of `delta_over_rho` per "
              "second of the `deviation` model, and in the last column per second of the "
              "whole command):", "",
              *table(["run", "ESS bulk `chi` / `rho`", "ESS bulk `delta_over_rho`",
                      "divergences gsf / dev", "max R-hat", "min ESS bulk",
                      "leapfrog steps / iter gsf / dev", "ESS/s `chi`, `rho`",
                      "ESS/s `delta_over_rho`",
                      "ESS/s per command second (`chi`, `rho` / `delta_over_rho`)"], rows)]
    return lines


def section_nutpie(nut: dict, fit: dict | None) -> list[str]:
    """Render section b: PyMC + nutpie on the same log densities."""
    lines = ["## b. The same log densities in PyMC, sampled by nutpie", "",
             "`benchmarks/pymc_gsf.py` writes the `gsf` and `deviation` models of the default "
             "settings by hand in PyTensor (same sites, priors, unconstrained coordinates, "
             "continuum sums and likelihood; the deviation coordinates as the tool samples "
             "them, times 0 in `gsf`). Parity: the PyMC log density and gradient against "
             "the tool's potential at draws of the fit above and at prior draws. Then nutpie "
             "(numba backend) samples each model with its default adaptation (`diag`) and "
             "with its low-rank modified mass matrix, each in a fresh process with empty "
             "PyTensor and numba caches (a new `base_compiledir` and `NUMBA_CACHE_DIR`), "
             "with the tool's chains and draws, target acceptance 0.9 and maximum tree depth "
             "10, on every core, and the warm-up of the settings line (nutpie learns its mass "
             "matrix during warm-up, so it gets 1000 iterations where the tool's own fit, "
             "whose metric comes from the Laplace approximation, warms up for 300).", "",
             loads(nut), ""]
    rows = [[f"`{m}`", f"{p['posterior_points']} + {p['prior_points']}",
             f"{p['max_abs_logp_diff']:.1e}", f"{p['max_rel_logp_diff']:.1e}",
             f"{p['max_rel_grad_diff']:.1e}"] for m, p in nut["parity"]["models"].items()]
    lines += table(["model", "points (posterior + prior)", "max abs Δ log p",
                    "max relative Δ log p", "max relative Δ gradient"], rows)
    rows = []
    for r in nut["runs"]:
        sec, st, rate = r["seconds"], r["stats"], nutpie_rates(r)
        tool = fit["runs"][0]["models"].get(r["model"]) if fit else None
        z, zname = agreement(tool, st)
        kw = ", ".join(f"{k}={v!r}" for k, v in r["sample_kwargs"].items()) or "defaults"
        rows.append([f"`{r['model']}`", f"`{r['adaptation']}` ({kw})", sec["import"],
                     sec["build"], sec["compile"], sec["sample"], rate["total"],
                     f"{num(st.get('warmup_steps_mean'))} / {num(st.get('steps_mean'))}",
                     st.get("divergences"), num(st["max_r_hat"], 4),
                     f"{num(st['min_ess_bulk'])} (`{st['min_ess_name']}`)",
                     " / ".join(num(v) for v in st["ess_bulk"].values()),
                     rate["rate"], rate["rate_sampling"],
                     f"{num(z, 2)} (`{zname}`)" if zname else "—"])
    lines += ["Seconds of import, model build, nutpie compilation and sampling; ESS/s per "
              "second of build + compile + sampling (and of sampling only) for the smaller of "
              "`chi`, `rho` (`gsf`) or `delta_over_rho` (`deviation`); agreement: the largest "
              "|difference of posterior means| / combined MCSE against the tool's first cold "
              "fit.", "",
              *table(["model", "adaptation", "import", "build", "compile", "sampling",
                      "build + compile + sampling", "leapfrog steps / iter (warm-up / draws)",
                      "divergences", "max R-hat", "min ESS bulk", "ESS bulk (headline)",
                      "ESS/s", "ESS/s (sampling only)", "agreement max |z|"], rows)]
    return lines


def section_help(h: dict) -> list[str]:
    """Render section c: start-up of the command line."""
    rows = [[f"`{r['command']}`", r["median"], f"{num(r['min'])}–{num(r['max'])}", r["n"]]
            for r in h["rows"]]
    return ["## c. Command-line start-up", "",
            "Fresh processes after one untimed call each (wall from launch to exit); "
            "`python -c pass` is the interpreter's own floor.", "",
            loads(h), "", *table(["command", "median (s)", "min–max (s)", "runs"], rows)]


def section_gradient(g: dict) -> list[str]:
    """Render section d: one value-and-gradient of the tool's potential."""
    def timing(r):
        return [r["median_ms"], r["min_ms"], f"{num(r['p10_ms'])}–{num(r['p90_ms'])}",
                r["first_call_s"], str(r["finite"])]

    cols = ["median (ms)", "min (ms)", "p10–p90 (ms)", "first call incl. compile (s)", "finite"]
    s = slope(g["records"])
    lines = ["## d. One value and gradient of the tool's potential", "",
             "`inference.value_and_grad_of(model_functions(built))` of the `gsf` model "
             "(`continuum` tier) at the prior median of its flat unconstrained vector, one "
             "device, float64; after the first (compiling) call, the rows of a table are timed "
             "round-robin (`block_until_ready`) so that load spells hit them alike. Records: "
             "the example's rows resampled in its proportions of kinds, values jittered by "
             "0.1%.", "", loads(g), "",
             *table(["records", "parameters", *cols, "µs per record"],
                    [[r["records"], r["dim"], *timing(r), 1e3 * r["median_ms"] / r["records"]]
                     for r in g["records"]]),
             f"Log-log slope of time against records: {num(s)} (1 = linear; rows of at least "
             "1,000 records when there are two, since a fixed cost per call dominates below).",
             "", f"Capacity `K` (set in the unconstrained vector; "
             f"{g['capacity'][0]['records']} records):", "",
             *table(["K", *cols], [[f"{r['K']:.0e}", *timing(r)] for r in g["capacity"]]),
             "`gsf` and `deviation` (one compiled program; `deviation_mask` 0 or 1 as input):",
             "", *table(["model", "parameters", *cols],
                        [[f"`{r['model']}`", r["dim"], *timing(r)] for r in g["models"]])]
    return lines


def section_rss(sec: dict) -> list[str]:
    """Render section e: peak resident memory of every measured process."""
    rows = []
    for r in sec.get("fit", {}).get("runs", []):
        rows.append([f"`gsf-infer fit`, run {r['repeat'] + 1} {r['phase']}",
                     r["process"]["maxrss_mb"]])
    for r in sec.get("nutpie", {}).get("runs", []):
        rows.append([f"PyMC + nutpie, `{r['model']}`, `{r['adaptation']}`",
                     r["process"]["maxrss_mb"]])
    if "nutpie" in sec:
        rows.append(["parity check (JAX and PyTensor)", sec["nutpie"]["parity"]["process"]
                     ["maxrss_mb"]])
    if "gradient" in sec:
        rows.append(["gradient benchmark (every table in one process)",
                     sec["gradient"]["process"]["maxrss_mb"]])
    for r in sec.get("help", {}).get("rows", []):
        rows.append([f"`{r['command']}`", r["maxrss_mb"]])
    return ["## e. Peak memory", "",
            "Maximum resident set size of each process, from `wait4` on that process alone "
            "(measured in the sections above; their load averages apply).", "",
            *table(["process", "peak RSS (MB)"], rows)]


def section_many(many: dict) -> list[str]:
    """Render section g: fits per hour of ``calibrate`` sequential, batched and on workers."""
    runs = many.get("runs", [])
    base = next((r["process"]["wall"] for r in runs if r["name"] == "sequential"), None)
    rows = []
    for r in runs:
        wall = r["process"]["wall"]
        rows.append([f"`{r['name']}`", wall, many["simulations"] / wall * 3600,
                     base / wall if base else "—", r["process"]["cpu"],
                     f"{r['load_before']} / {r['load_after']}",
                     f"{r['ranked']} ranked, {r['flagged']} flagged, {r['errors']} errors"])
    commands = [f"- `{r['name']}`: `gsf-infer {' '.join(r['argv'][:-2])}`" for r in runs]
    return ["## g. Many fits: `calibrate`", "",
            f"{many['simulations']} simulations on the `{many['design']}` design, each run in a "
            "fresh process on a warm compilation cache; wall time of the whole command.", "",
            *table(["run", "wall (s)", "fits / hour", "speed-up", "CPU (s)",
                    "load before / after (1, 5, 15 min)", "fits"], rows),
            *commands, "", loads(many), ""]


def render(res: dict) -> str:
    """Render the whole report."""
    sec = res["sections"]
    lines = header(res) + summary(res)
    if "fit" in sec:
        lines += section_fit(sec["fit"])
    if "nutpie" in sec:
        lines += section_nutpie(sec["nutpie"], sec.get("fit"))
    if "help" in sec:
        lines += section_help(sec["help"])
    if "gradient" in sec:
        lines += section_gradient(sec["gradient"])
    if "many" in sec:
        lines += section_many(sec["many"])
    lines += section_rss(sec)
    return "\n".join(lines).rstrip() + "\n"
