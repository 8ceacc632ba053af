# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # gsf-infer from Python: the bundled example
#
# A walk through the Python interface on `data/example.csv`, synthetic records made by the
# tool's own simulator from known exponents (`a = 1.6`, `b = 1.4`, `rho = 1.25`, so
# `chi = 0.536` and `gamma = 0.714`; see `data/example.md`):
#
# 1. read the records;
# 2. validate them: what can these kinds identify, and can they test `chi + gamma = rho`?
# 3. fit the `gsf` model with NUTS;
# 4. the invariant's verdict;
# 5. the posterior in ArviZ: `az.summary` and the trace plot;
# 6. the posterior predictive check of the loss curves;
# 7. predictions at new points.
#
# This file is a script in the *percent* format: Jupyter (with jupytext) and VS Code open it as
# a notebook, and `python examples/notebook.py` runs it top to bottom. Run it from the
# repository root (it reads `data/example.csv`); figures are written to `notebook-output/`.

# %%
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # a plain script: draw off-screen, into files
    matplotlib.use("Agg")
import arviz as az
import matplotlib.pyplot as plt
import pandas as pd

import gsf_infer as gsf
from gsf_infer.analysis.identify import identify
from gsf_infer.output.console import invariant_lines

try:
    from IPython.display import display
except ImportError:  # run as a script: print what a notebook would show
    display = print

pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 20)
pd.set_option("display.precision", 4)
OUT = Path("notebook-output")
OUT.mkdir(exist_ok=True)
EXPONENTS = ["a", "b", "rho", "chi", "gamma", "rho_over_b"]

# %% [markdown]
# ## 1. Read
#
# `gsf.read_records` checks the table against the records format (one problem per line if
# something is wrong) and returns a `Records`: the validated table, its path and SHA-256, the
# rows excluded on purpose, and the provenance lines of the file's header.

# %%
records = gsf.read_records("data/example.csv")
print(records.counts())
display(records.table[["kind", "run", "t", "params", "loss"]].head())

# %% [markdown]
# ## 2. Validate: what the records identify
#
# `identify` is pure logic over the kinds present (what `gsf-infer validate` prints): which
# spectral parameters some combination of the kinds determines, and whether the invariant
# `chi + gamma = rho` is testable. A parameter no kind constrains is decided by its prior,
# however narrow its posterior looks.

# %%
identification = identify(records)
for name, kinds in identification.constrained.items():
    print(f"{name:<11} " + (", ".join(kinds) if kinds else "the prior alone"))
print("invariant testable:", identification.invariant_testable)
print("missing:", list(identification.missing) or "nothing")

# %% [markdown]
# ## 3. Fit
#
# `gsf.fit` takes the options of `gsf-infer fit` under the same names and defaults. The
# defaults are **4 chains x (300 warm-up + 1000 draws)**; this walk-through uses 2 x (300 +
# 300) so that it runs in a few minutes. Use the defaults for results you mean to report.
# Unless `no_check=True`, the fit also runs the `deviation` model behind the invariant's
# verdict.

# %%
fit = gsf.fit(records, model="gsf", g="monomial", seed=0, chains=2, warmup=300, draws=300)
print("sampler converged:", fit.converged)

# %% [markdown]
# ## 4. The verdict
#
# The invariant is tested on `delta/rho = (chi + gamma - rho)/rho`, from a model that lets it
# break. It is *supported* when the HDI of `delta/rho` lies inside the region of practical
# equivalence `|delta/rho| <= rope`, *violated* when it lies outside, *inconclusive* otherwise.
# A verdict whose `deviation` fit did not converge is marked UNTRUSTED: with chains as short as
# these that fit can report a few divergent transitions; the default chains (or a
# `target_accept` closer to 1) are the remedy, not a reason to read the numbers anyway.

# %%
verdict = fit.verdict
print("\n".join(invariant_lines(verdict)))
ratio = verdict["delta_over_rho"]
print(f"\nstatus {verdict['status']}, trusted {verdict['trusted']}, "
      f"delta/rho HDI [{ratio['hdi_low']:.3f}, {ratio['hdi_high']:.3f}], "
      f"P(in ROPE) = {verdict['p_in_rope']:.2f}")

# %% [markdown]
# ## 5. The posterior in ArviZ
#
# `fit.summary()` is the tool's parameter table (with the prior-to-posterior contraction);
# `fit.datatree` is the ArviZ DataTree written to `posterior.nc`, so every ArviZ function
# works on it.

# %%
display(fit.summary().loc[EXPONENTS, ["mean", "hdi_low", "hdi_high", "r_hat", "contraction"]])

# %%
display(az.summary(fit.datatree, var_names=EXPONENTS, ci_kind="hdi", ci_prob=0.94, round_to="none"))

# %%
trace = az.plot_trace_dist(fit.datatree, var_names=EXPONENTS)
trace.savefig(OUT / "trace.png")
print("wrote", OUT / "trace.png")

# %% [markdown]
# ## 6. Posterior predictive check
#
# The observed loss curves over the 90% and 50% posterior predictive bands, one colour per
# run: a well specified model keeps about 90% of the points inside the light band.

# %%
figure = fit.plot_ppc("loss")
figure.savefig(OUT / "ppc_loss.png", dpi=100)
plt.close(figure)
print("wrote", OUT / "ppc_loss.png")

# %% [markdown]
# ## 7. Predict at new points
#
# `fit.predict` takes records without observed values (a data frame in the records format)
# and returns their posterior predictive mean, median and HDI. Here: the largest model of the
# data at the end of its curve, the same model trained ten times longer, and a model ten times
# larger than any in the data.

# %%
new = pd.DataFrame({
    "kind": ["loss", "loss", "loss"],
    "t": [1e5, 1e6, 1e6],
    "params": [1e8, 1e8, 1e9],
})
predicted = fit.predict(new)
display(predicted[["kind", "t", "params", "mean", "hdi_low", "hdi_high"]])

# %% [markdown]
# ## Next
#
# `fit.save("gsf-results/example")` writes the folder `gsf-infer fit` writes (posterior,
# summaries, plots and `report.html`), and `gsf.load(folder)` reads it back.

# %%
print(f"done: {len(predicted)} predictions; figures in {OUT}/")
