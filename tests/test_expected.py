"""Every kind's expected value (:func:`gsf_infer.model.expected.expected`) against the forward laws.

:func:`~gsf_infer.model.expected.expected` works in standardized units (``t`` in units of
``t_ref``, ``params`` of ``params_ref``, ``k`` of ``k_ref``, eigenvalue amplitude 1, ``g = 1`` at
``(k_star, t_ref)``). The reference here evaluates the laws of
:mod:`gsf_infer.model.forward.laws` in the *data's* units, record by record with that record's
group, run and quantization unit, the model's normalizations written out as the README states
them:

- ``loss = E + loss_scale L(t; K_i) / L(t_ref; K)``, ``K_i = K (params/params_ref)^nu``;
- ``delta_loss = quant_scale[unit] Q(t; K_i) / Q(t_ref; K) 4^-(bits - bits_ref)``;
- ``delta_loss = pruning_scale D(t, r; K_i) / D(t_ref, 1; K)`` (pruning);
- ``density = density_scale (min(k_*(C/P), K_i)/P) params_ref / k_star``;
- ``logit(learned_fraction) = logit(phi_k(t))``;
- ``eigenvalue = spectrum_scale (k/k_ref)^-b``, ``target_power = target_scale (k/k_ref)^-a``;
- ``loss = E_ds + B_ds (samples/samples_ref)^-alpha`` with ``alpha = 2s/(2s + 1/b)``;

with ``g = c lambda^m t^n`` and ``c = k_star^(b m) t_ref^-n``, so ``g(lambda_{k_star}, t_ref) = 1``.
One group (the parameters stay scalars) and two groups (every parameter per group) take
different code paths in ``expected``; both are checked.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from gsf_infer.data.dataset import build_model_data, kind_inputs
from gsf_infer.data.records import records_from_frame
from gsf_infer.model.expected import expected_jit
from gsf_infer.model.forward import laws
from gsf_infer.model.forward.families import GParams, get_family
from gsf_infer.model.settings import ModelSettings

SETTINGS = ModelSettings()
MONOMIAL = get_family("monomial")
KINDS = ("loss", "quantization", "pruning", "density", "spectrum", "modes", "data_scaling")
OBSERVED = {"quantization": "delta_loss", "pruning": "delta_loss", "density": "density",
            "spectrum": "eigenvalue", "modes": "learned_fraction"}


def table(groups: tuple[str, ...]) -> pd.DataFrame:
    """A few records of every kind in each group; a quantization run without ``bits``."""
    rows = []
    for gi, group in enumerate(groups):
        for params in (1e6, 1e7):
            run = f"{group}-P{params:g}"
            for t in (10.0, 300.0, 1e4):
                rows.append({"kind": "loss", "run": run, "group": group, "t": t,
                             "params": params, "loss": 2.0 + 9.0 * t**-0.3})
            for compute in (1e8, 1e11):
                rows.append({"kind": "density", "run": run, "group": group,
                             "compute": compute * params / 1e6, "params": params,
                             "density": 1e-4})
        for bits in (3.0, 5.0):
            for t in (100.0, 1e4):
                rows.append({"kind": "quantization", "run": f"{group}-q", "group": group,
                             "t": t, "params": 1e7, "bits": bits, "delta_loss": 0.01})
        for t in (100.0, 1e4):  # no bits: a run-level amplitude
            rows.append({"kind": "quantization", "run": f"{group}-nobits", "group": group,
                         "t": t, "params": 1e6, "delta_loss": 0.02})
        for t in (100.0, 1e4):
            for r in (0.2, 0.9):
                rows.append({"kind": "pruning", "run": f"{group}-q", "group": group, "t": t,
                             "params": 1e7, "sparsity": r, "delta_loss": 0.01})
        for k in (1, 3, 10, 30):
            rows.append({"kind": "spectrum", "run": f"{group}-spec", "group": group, "k": k,
                         "eigenvalue": float(k) ** -1.4, "target_power": float(k) ** -1.6})
        for k, t in ((1, 10.0), (4, 100.0), (16, 1000.0), (64, 1e4)):
            rows.append({"kind": "modes", "run": f"{group}-P1e+07", "group": group, "k": k,
                         "t": t, "params": 1e7, "learned_fraction": 0.5})
        for n in (1e3, 1e4, 1e5):
            rows.append({"kind": "data_scaling", "run": f"{group}-ds", "group": group,
                         "samples": n * (1 + 9 * gi), "loss": 0.5 + 3.0 * n**-0.5})
    return pd.DataFrame(rows)


def parameters(data, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Parameter values: per group with two groups (scalars with one), per run, per unit."""
    G, R, U = data.n_groups, len(data.runs), len(data.quant_units)
    shape = () if G == 1 else (G,)

    def around(centre, *size):
        return centre * np.exp(0.2 * rng.standard_normal(size or shape))

    P = {"a": 1.0 + around(0.6), "b": 1.0 + around(0.4), "m": around(1.0), "n": around(1.2),
         "k_star": around(30.0), "K": around(300.0), "nu": np.float64(0.9),
         "E": around(1.5), "loss_scale": around(1.0), "quant_scale": around(0.01, U),
         "pruning_scale": around(2e-3), "density_scale": around(1e-3),
         "spectrum_scale": around(0.5), "target_scale": around(0.7), "E_ds": around(0.4, R),
         "B_ds": around(0.1, R), "s": around(1.0)}
    return P


def reference(kind: str, rows: pd.DataFrame, P: dict, data) -> dict[str, np.ndarray]:
    """Log (logit for ``modes``) expected values in the data's units, from the laws.

    The laws broadcast over records with scalar parameters: one call per group.
    """
    out: dict[str, np.ndarray] = {}
    for gi, group in enumerate(data.groups):
        mine = (rows["group"] == group).to_numpy()
        if not mine.any():
            continue
        scalars = {k: (v if np.ndim(v) == 0 or k in ("quant_scale", "E_ds", "B_ds")
                       else np.asarray(v)[gi]) for k, v in P.items()}
        for site, value in reference_in_group(kind, rows[mine], scalars, data).items():
            out.setdefault(site, np.full(len(rows), np.nan))[mine] = value
    return out


@functools.cache
def compiled(law):
    """A law compiled once (its family, tier and metric static): eager evaluation costs seconds."""
    static = ("family", "tier", "metric") if law is laws.pruning else ("family", "tier")
    return jax.jit(law, static_argnames=static)


def reference_in_group(kind: str, rows: pd.DataFrame, P: dict, data) -> dict[str, np.ndarray]:
    """:func:`reference` for the records of one group, its parameters scalars."""
    s = data.scales
    a, b, ks, K, m, n = (float(P[k]) for k in ("a", "b", "k_star", "K", "m", "n"))
    spec = laws.Spectrum(a, b)
    gp = GParams(c=ks ** (b * m) * s.t_ref ** (-n), m=m, n=n)
    nan = pd.Series(np.nan, index=rows.index)
    t = rows.get("t", nan).to_numpy(float)
    params = rows.get("params", nan).to_numpy(float)
    K_i = K * (params / s.params_ref) ** float(P["nu"])
    tier = SETTINGS.tier
    if kind == "loss":
        loss = compiled(laws.loss)
        curve = loss(t, K_i, spec, gp, 0.0, family=MONOMIAL, tier=tier)
        ref = loss(s.t_ref, K, spec, gp, 0.0, family=MONOMIAL, tier=tier)
        return {kind: np.log(P["E"] + P["loss_scale"] * np.asarray(curve) / float(ref))}
    if kind == "quantization":
        unit = np.array([
            data.quant_units.index(f"group:{gr}" if np.isfinite(bi) else f"run:{ru}")
            for gr, ru, bi in zip(rows["group"], rows["run"], rows["bits"], strict=True)
        ])
        bits = np.nan_to_num(rows["bits"].to_numpy(float) - s.bits_ref, nan=0.0)
        quantization = compiled(laws.quantization)
        curve = quantization(t, K_i, 1.0, spec, gp, family=MONOMIAL, tier=tier)
        ref = quantization(s.t_ref, K, 1.0, spec, gp, family=MONOMIAL, tier=tier)
        mu = np.asarray(P["quant_scale"])[unit] * np.asarray(curve) / float(ref) * 4.0**-bits
        return {kind: np.log(mu)}
    if kind == "pruning":
        r = rows["sparsity"].to_numpy(float)
        metric = SETTINGS.pruning_metric
        pruning = compiled(laws.pruning)
        curve = pruning(t, K_i, r, spec, gp, family=MONOMIAL, tier=tier, metric=metric)
        ref = pruning(s.t_ref, K, 1.0, spec, gp, family=MONOMIAL, tier=tier, metric=metric)
        return {kind: np.log(P["pruning_scale"] * np.asarray(curve) / float(ref))}
    if kind == "density":
        compute = rows["compute"].to_numpy(float)
        per_param = np.asarray(laws.density(compute, params, K_i, spec, gp, MONOMIAL))
        return {kind: np.log(P["density_scale"] * per_param * s.params_ref / ks)}
    if kind == "modes":
        phi = np.asarray(laws.learned_fraction(rows["k"].to_numpy(float), t, spec, gp, MONOMIAL))
        return {kind: np.log(phi / (1.0 - phi))}
    if kind == "spectrum":
        k = rows["k"].to_numpy(float) / s.k_ref
        return {kind: np.log(P["spectrum_scale"] * k**-b),
                "spectrum_target": np.log(P["target_scale"] * k**-a)}
    if kind == "data_scaling":
        run = np.array([data.runs.index(v) for v in rows["run"]])
        samples = rows["samples"].to_numpy(float) / np.array(
            [s.samples_ref[v] for v in rows["run"]])
        alpha = float(laws.redundancy_alpha(b, float(P["s"])))
        mu = np.asarray(P["E_ds"])[run] + np.asarray(P["B_ds"])[run] * samples**-alpha
        return {kind: np.log(mu)}
    raise ValueError(kind)


@pytest.fixture(scope="module", params=[("g1",), ("g1", "g2")], ids=["one_group", "two_groups"])
def world(request):
    records = records_from_frame(table(request.param), path="expected.csv")
    data = build_model_data(records)
    P = parameters(data, np.random.default_rng(len(request.param)))
    return records.table, data, P


@pytest.mark.parametrize("kind", KINDS)
def test_expected_equals_the_forward_laws_in_data_units(world, kind):
    tab, data, P = world
    rows = tab[tab["kind"] == kind]
    x = kind_inputs(data)[kind]
    # the target's scale enters only when the data have target powers
    params = {k: jnp.asarray(v) for k, v in P.items()
              if kind == "spectrum" or k != "target_scale"}
    got = expected_jit(kind, params, {k: jnp.asarray(v) for k, v in x.items()}, SETTINGS,
                       data.n_groups)
    ref = reference(kind, rows, P, data)
    assert set(got) == set(ref)
    for site, value in ref.items():
        assert np.all(np.isfinite(value)), site
        np.testing.assert_allclose(np.asarray(got[site]), value, rtol=1e-9, atol=1e-10,
                                   err_msg=site)


@pytest.mark.parametrize("kind", ("loss", "quantization", "pruning", "density", "modes"))
def test_elastic_with_constant_rho_is_the_monomial_law(world, kind):
    """``elastic`` with ``f = 0`` on its grid: the same laws as ``monomial``; with a drift, not."""
    from gsf_infer.model.elastic import elastic_grid

    tab, data, P = world
    rows = tab[tab["kind"] == kind]
    x = {k: jnp.asarray(v) for k, v in kind_inputs(data)[kind].items()}
    grid = elastic_grid(data)
    params = {k: jnp.asarray(v) for k, v in P.items() if k != "target_scale"}
    params.update(tgrid=jnp.asarray(grid), elastic_f=jnp.zeros(grid.size))
    settings = ModelSettings(g="elastic")
    got = expected_jit(kind, params, x, settings, data.n_groups)
    ref = reference(kind, rows, P, data)
    np.testing.assert_allclose(np.asarray(got[kind]), ref[kind], rtol=1e-9, atol=1e-10)
    # negative control: rho drifting by 30% over the grid changes every kind's values
    params["elastic_f"] = jnp.asarray(0.3 * (grid - grid[0]) / (grid[-1] - grid[0]))
    drifted = np.asarray(expected_jit(kind, params, x, settings, data.n_groups)[kind])
    assert np.max(np.abs(drifted - ref[kind])) > 1e-3
