"""The ``gsf`` and ``deviation`` log densities written by hand in PyMC, for the nutpie anchor.

The benchmark (``benchmarks/run.py``) compares the tool's sampler with nutpie on the same
posterior. This module re-implements, in PyTensor and without calling any JAX code, what
:func:`gsf_infer.model.build.build_model` builds for the default settings (``--g monomial --tier
continuum --likelihood lognormal --pruning-metric seed``, one group, default priors):

- the same sample sites, priors and unconstrained transforms (``a - 1``, ``b - 1``, ``bm | b``,
  ``n``, ``k_star - 1``, ``K - 10``: log; the loss's level at the reference point: log, and the
  fraction ``E_frac`` of it that is floor: logit; amplitudes and noise scales: log; the
  deviation coordinates ``deviation_z``: none), so that the unconstrained coordinates are the
  same and the two log densities can be compared point by point
  (:func:`check_logp`);
- the same expected values: the continuum tier's sums (an exact head ``k <= K0`` plus
  Gauss–Legendre quadrature in ``log k`` on three panels split around the frontier, no
  gradient through the split points) for ``loss``, ``quantization`` and ``pruning``; the
  frontier for ``density``; power laws for ``spectrum`` (eigenvalues and target powers);
- the same likelihood: normal on the log scale with measurement errors in quadrature;
- the same deviation parameters, one coordinate ``deviation_z`` each, times 1 in the
  ``deviation`` model and times 0 in ``gsf`` (there they are pure prior, as in the tool's single
  program): ``eps_F = s z`` with ``z ~ Normal(0, 1)``, and ``delta_Q = (c + s z)/r - c`` with
  ``c = 1 + b - a``, ``r = rho/b`` and ``z ~ Normal(c (r - 1)/s, r)`` (``s = deviation_scale``,
  0.5; both give the prior ``Normal(0, s)``). ``delta_Q`` evaluates the quantization law
  with ``a - delta_Q`` in place of ``a``; ``eps_F`` makes pruning and density records see time
  as ``t^exp(eps_F)`` (``t`` in units of ``t_ref``); the ``deviation`` model records
  ``delta_Q``, ``eps_F``, ``delta_over_rho = (1 + delta_Q/b) exp(-eps_F) - 1`` and ``delta``.

What it shares with the tool is data preparation only
(:func:`gsf_infer.data.dataset.build_model_data` standardises the records) and the quadrature
constants (``K0``, ``NODES``). Kinds ``modes`` and ``data_scaling``, the deviation ``delta_L``,
several groups, other families, tiers and likelihoods are not implemented
(:class:`NotImplementedError`): the bundled example needs none of them.

Imports PyMC and PyTensor (the ``bench`` extra); never imported by the package.
"""

from __future__ import annotations

import numpy as np

SUPPORTED_KINDS = ("loss", "quantization", "pruning", "density", "spectrum")
#: The deviation parameters implemented, in the tool's order for the bundled example.
SUPPORTED_DEVIATIONS = ("delta_Q", "eps_F")
#: Prior scale of the deviation parameters (gsf_infer.model.deviations.DEVIATION_SCALE).
DEVIATION_SCALE = 0.5


def _stop_gradient():
    """Return an identity op on vectors whose gradient is zero (``jax.lax.stop_gradient``).

    Not ``pytensor.gradient.zero_grad``: PyMC's pre-gradient rewrites remove it (it is a
    ``ViewOp``), so the gradient would flow through the split points of the quadrature and
    differ from the tool's.
    """
    global _STOP
    if _STOP is None:
        import pytensor.tensor as pt
        from pytensor.compile.builders import OpFromGraph

        x = pt.dvector("x")
        _STOP = OpFromGraph(
            [x], [x + 0.0], pullback=lambda inputs, outputs, grads: [pt.zeros_like(inputs[0])],
            name="stop_gradient",
        )
    return _STOP


_STOP = None


def _continuum_sum(pt, term, k_lo, k_hi, log_k_hint, half_width, k0, x_nodes, w_nodes):
    """``sum_{k_lo < k <= k_hi} term(k, log k)`` over records (vectors ``k_lo``, ``k_hi``).

    Exact head ``k <= k0`` with mode-overlap weights, then ``∫ term(k) dk`` over
    ``[max(k_lo, k0) + 1/2, k_hi + 1/2]`` by Gauss–Legendre quadrature in ``u = log k`` on
    three panels ``[u1, hint - w], [hint - w, hint + w], [hint + w, u2]`` (clipped), with no
    gradient through the hint.
    """
    lo, hi = k_lo[:, None], k_hi[:, None]
    ints = np.arange(1, k0 + 1, dtype=float)[None, :]

    def overlap(k):
        upper = pt.minimum(hi + 0.5, k + 0.5)
        lower = pt.maximum(lo + 0.5, k - 0.5)
        return pt.clip(upper - lower, 0.0, 1.0)

    w_head = overlap(ints)
    head_terms = term(pt.as_tensor(ints), pt.as_tensor(np.log(ints)))
    head = pt.sum(pt.switch(w_head > 0, w_head * head_terms, 0.0), axis=1)

    edge = k0 + 0.5
    u1 = pt.log(pt.maximum(k_lo + 0.5, edge))
    u2 = pt.maximum(pt.log(pt.maximum(k_hi + 0.5, edge)), u1)
    hint = _stop_gradient()(log_k_hint)
    p1 = pt.clip(hint - half_width, u1, u2)
    p2 = pt.clip(hint + half_width, u1, u2)
    starts = pt.stack([u1, p1, p2], axis=1)  # (n, 3)
    ends = pt.stack([p1, p2, u2], axis=1)
    half = 0.5 * (ends - starts)
    mid = 0.5 * (ends + starts)
    n_nodes = len(x_nodes)
    u = (mid[:, :, None] + half[:, :, None] * x_nodes[None, None, :]).reshape(
        (mid.shape[0], 3 * n_nodes)
    )
    weights = (half[:, :, None] * w_nodes[None, None, :]).reshape((mid.shape[0], 3 * n_nodes))
    k = pt.exp(u)
    tail = pt.sum(weights * term(k, u) * k, axis=1)
    return head + tail


def build_pymc_model(data, priors=None, model="gsf", deviations=SUPPORTED_DEVIATIONS,
                     deviation_scale=DEVIATION_SCALE):
    """Build the PyMC ``gsf`` or ``deviation`` model of the default settings.

    Parameters
    ----------
    data : gsf_infer.data.dataset.ModelData
        Standardized records (one group; kinds among :data:`SUPPORTED_KINDS`).
    priors : gsf_infer.model.priors.PriorSet, optional
        Priors (the tool's defaults when omitted); only the default log-normal/half-normal
        shapes are supported.
    model : str
        ``gsf`` (deviation coordinates sampled but multiplied by 0) or ``deviation``.
    deviations : tuple of str
        The deviation parameters, in the order of the tool's ``deviation_z`` vector
        (``BuiltModel.deviations``); empty for data where the invariant is untestable.
    deviation_scale : float
        Prior standard deviation of each deviation parameter.

    Returns
    -------
    pymc.Model
        With deterministic sites ``a``, ``b``, ``m``, ``rho``, ``chi``, ``gamma``,
        ``rho_over_b``, and for ``deviation`` also the deviations, ``delta_over_rho`` and
        ``delta``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from gsf_infer.model.expected import observation
    from gsf_infer.model.forward import sums
    from gsf_infer.model.priors import PriorSet

    priors = priors or PriorSet()
    if model not in ("gsf", "deviation"):
        raise NotImplementedError(f"model {model!r}: the PyMC anchor has gsf and deviation")
    if set(deviations) - set(SUPPORTED_DEVIATIONS):
        raise NotImplementedError(
            f"deviations {', '.join(deviations)}: the PyMC anchor has "
            f"{', '.join(SUPPORTED_DEVIATIONS)}"
        )
    mask = 1.0 if model == "deviation" else 0.0
    unsupported = sorted(set(data.kinds) - set(SUPPORTED_KINDS))
    if unsupported or data.n_groups != 1:
        raise NotImplementedError(
            f"the PyMC anchor covers one group of {', '.join(SUPPORTED_KINDS)} "
            f"(got kinds {', '.join(data.kinds)}, {data.n_groups} groups)"
        )
    for name, dist_name in (("a", "LogNormal"), ("b", "LogNormal"), ("m", "LogNormal"),
                            ("n", "LogNormal"), ("k_star", "LogNormal"), ("K", "LogNormal"),
                            ("sigma", "HalfNormal")):
        if priors[name].dist != dist_name:
            raise NotImplementedError(f"prior on {name} must be {dist_name}")
    if not (priors["nu"].fixed):
        raise NotImplementedError("nu must be fixed")
    nu = priors["nu"].args["value"] + priors["nu"].shift
    x_nodes, w_nodes = np.polynomial.legendre.leggauss(sums.NODES)
    k0 = sums.K0

    with pm.Model() as pymc_model:
        pa, pb, pm_, pn = priors["a"], priors["b"], priors["m"], priors["n"]
        a1 = pm.LogNormal("a_minus_1", mu=pa.args["loc"], sigma=pa.args["scale"])
        b1 = pm.LogNormal("b_minus_1", mu=pb.args["loc"], sigma=pb.args["scale"])
        a = pm.Deterministic("a", pa.shift + a1)
        b = pm.Deterministic("b", pb.shift + b1)
        bm = pm.LogNormal("bm", mu=pt.log(b) + pm_.args["loc"], sigma=pm_.args["scale"])
        m = pm.Deterministic("m", bm / b)
        n = pm.LogNormal("n", mu=pn.args["loc"], sigma=pn.args["scale"])
        pk, pK = priors["k_star"], priors["K"]
        ks1 = pm.LogNormal("k_star_minus_bound", mu=pk.args["loc"], sigma=pk.args["scale"])
        K1 = pm.LogNormal("K_minus_bound", mu=pK.args["loc"], sigma=pK.args["scale"])
        k_star = pm.Deterministic("k_star", pk.shift + ks1)
        K = pm.Deterministic("K", pK.shift + K1)
        rho = pm.Deterministic("rho", n / m)
        pm.Deterministic("chi", (a - 1.0) * rho / b)
        slope = 1.0 + b - a
        pm.Deterministic("gamma", pt.switch(slope > 0, slope * rho / b, 0.0))
        pm.Deterministic("rho_over_b", rho / b)

        # deviations, switched off (x 0) in gsf: eps_F = s z with z ~ Normal(0, 1); delta_Q =
        # (c + s z)/r - c with c = 1 + b - a, r = rho/b, z ~ Normal(c (r - 1)/s, r)
        dev = dict.fromkeys(SUPPORTED_DEVIATIONS, 0.0)
        if deviations:
            sc = deviation_scale
            c_q, r = 1.0 + b - a, rho / b
            loc = [c_q * (r - 1.0) / sc if name == "delta_Q" else 0.0 for name in deviations]
            sd = [1.0 + mask * (r - 1.0) if name == "delta_Q" else 1.0 for name in deviations]
            dz = pm.Normal("deviation_z", mu=pt.stack(loc), sigma=pt.stack(sd),
                           shape=len(deviations))
            for i, name in enumerate(deviations):
                value = (c_q + sc * dz[i]) / r - c_q if name == "delta_Q" else sc * dz[i]
                dev[name] = mask * value
        if mask and deviations:
            for name in deviations:
                pm.Deterministic(name, dev[name])
            ratio = pm.Deterministic(
                "delta_over_rho", (1.0 + dev["delta_Q"] / b) * pt.exp(-dev["eps_F"]) - 1.0
            )
            pm.Deterministic("delta", ratio * rho * pt.exp(dev["eps_F"]))
        # quantization sees a - delta_Q; pruning and density see log t times exp(eps_F)
        a_quant = a - dev["delta_Q"]
        clock = pt.exp(dev["eps_F"])

        # g = c lambda^m t^n with c = k_star^(b m), lambda_k = k^-b (Lam = 1, t in t_ref units)
        log_c = bm * pt.log(k_star)
        half_width = 3.0 / bm

        def log_g(log_k, log_t):
            return log_c - bm * log_k + n * log_t

        def log_kstar(log_t):
            return (log_c + n * log_t) / bm

        def loss_sum(t, Kcap):
            log_t = np.log(t)[:, None] if isinstance(t, np.ndarray) else pt.log(t)[:, None]

            def term(k, log_k):
                return pt.exp(-2.0 * pt.exp(log_g(log_k, log_t)) - a * log_k)

            zeros = pt.zeros_like(Kcap)
            learned = _continuum_sum(pt, term, zeros, Kcap, log_kstar(log_t[:, 0]), half_width,
                                     k0, x_nodes, w_nodes)
            return learned + (Kcap + 0.5) ** (1.0 - a) / (a - 1.0)

        def weighted_sum(log_t, k_lo, k_hi, a=a):
            """Sum the quantization/pruning terms at times ``exp(log_t)`` (a vector)."""
            log_t = log_t[:, None]
            q = 1.0 + b - a

            def term(k, log_k):
                phi = -pt.expm1(-pt.exp(log_g(log_k, log_t)))
                return pt.exp((q - 1.0) * log_k) * phi**2

            return _continuum_sum(pt, term, k_lo, k_hi, log_kstar(log_t[:, 0]), half_width,
                                  k0, x_nodes, w_nodes)

        sigma_prior = priors["sigma"].args["scale"]

        def likelihood(kind, log_mu, value, meas, sigma):
            pm.Normal(kind, mu=log_mu, sigma=pt.sqrt(sigma**2 + meas**2), observed=value)

        for kind, kd in data.kinds.items():
            value, meas = observation(kind, kd.y, kd.stderr)
            x = kd.x
            center = data.centers.get(kind, 0.0)
            if kind == "loss":
                # the loss at (t_ref, P_ref) and the fraction of it that is floor
                loss_level = pm.LogNormal("loss_level", mu=center, sigma=2.0)
                E_frac = pm.Uniform("E_frac", lower=0.0, upper=1.0)
                E = pm.Deterministic("E", loss_level * E_frac)
                loss_scale = pm.Deterministic("loss_scale", loss_level * (1.0 - E_frac))
                K_i = K * x["params"] ** nu
                s = loss_sum(x["t"], K_i)
                s_ref = loss_sum(np.ones(1), pt.stack([K]))[0]
                log_mu = pt.log(E + loss_scale * s / s_ref)
            elif kind == "quantization":
                if len(data.quant_units) != 1:
                    raise NotImplementedError("one quantization amplitude unit only")
                quant_scale = pm.LogNormal("quant_scale", mu=center, sigma=3.0)
                K_i = K * x["params"] ** nu
                s = weighted_sum(np.log(x["t"]), pt.zeros_like(K_i), K_i, a_quant)
                s_ref = weighted_sum(np.zeros(1), pt.zeros(1), pt.stack([K]), a_quant)[0]
                log_mu = (pt.log(quant_scale) + pt.log(s) - pt.log(s_ref)
                          - x["has_bits"] * x["bits"] * np.log(4.0))
            elif kind == "pruning":
                pruning_scale = pm.LogNormal("pruning_scale", mu=center, sigma=3.0)
                K_i = K * x["params"] ** nu
                k_cut = (1.0 - x["sparsity"]) * K_i
                s = weighted_sum(clock * np.log(x["t"]), k_cut, K_i)
                s_ref = weighted_sum(np.zeros(1), pt.zeros(1), pt.stack([K]))[0]
                log_mu = pt.log(pruning_scale) + pt.log(s) - pt.log(s_ref)
            elif kind == "density":
                density_scale = pm.LogNormal("density_scale", mu=center, sigma=3.0)
                K_i = K * x["params"] ** nu
                lks = log_kstar(clock * np.log(x["t"]))
                log_mu = (pt.log(density_scale) + pt.minimum(lks, pt.log(K_i))
                          - pt.log(k_star) - np.log(x["params"]))
            else:  # spectrum
                spectrum_scale = pm.LogNormal("spectrum_scale", mu=center, sigma=2.0)
                log_k = np.log(x["k_std"])
                log_mu = pt.log(spectrum_scale) - b * log_k
            sigma = pm.HalfNormal(f"sigma_{kind}", sigma=sigma_prior)
            likelihood(kind, log_mu, value, meas, sigma)
            if kind == "spectrum" and "spectrum_target" in data.centers:
                target = x["target"]
                has = np.isfinite(target)
                target_scale = pm.LogNormal(
                    "target_scale", mu=data.centers["spectrum_target"], sigma=2.0
                )
                log_mu_t = pt.log(target_scale) - a * np.log(x["k_std"][has])
                likelihood("spectrum_target", log_mu_t, np.log(target[has]),
                           np.zeros(int(has.sum())), sigma)
    return pymc_model


#: PyMC value variable of each numpyro latent site (same unconstrained coordinate).
VALUE_NAMES = {
    "a": "a_minus_1_log__",
    "b": "b_minus_1_log__",
    "k_star": "k_star_minus_bound_log__",
    "K": "K_minus_bound_log__",
    "E_frac": "E_frac_interval__",
    "deviation_z": "deviation_z",
}


def value_name(site: str) -> str:
    """PyMC value-variable name of a numpyro latent site."""
    return VALUE_NAMES.get(site, f"{site}_log__")


def check_logp(model, fns, inputs, points: np.ndarray) -> dict[str, float]:
    """Compare the two log densities (with Jacobians) and their gradients at given points.

    Parameters
    ----------
    model : pymc.Model
        From :func:`build_pymc_model`.
    fns : gsf_infer.inference.functions.ModelFunctions
        The tool's model functions (:func:`gsf_infer.inference.functions.model_functions`); its
        ``potential(z, inputs)`` is ``-log density`` on the flat unconstrained vector ``z``.
    inputs : dict
        The tool's model inputs (``BuiltModel.inputs``; ``deviation_mask`` 1 for the
        ``deviation`` model).
    points : ndarray
        ``(n, dim)`` flat unconstrained vectors of the tool's model.

    Returns
    -------
    dict
        ``max_abs_logp_diff``, ``max_rel_logp_diff`` (relative to ``1 + |log p|``),
        ``max_rel_grad_diff`` (relative to ``1 + |gradient|``) over the points, ``n_points``.

    Raises
    ------
    KeyError
        If the two models do not have the same unconstrained coordinates.
    """
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    logp_fn = model.compile_logp(jacobian=True)
    dlogp_fn = model.compile_dlogp(jacobian=True)
    value_vars = [v.name for v in model.value_vars]
    vg = jax.jit(jax.value_and_grad(fns.potential))
    max_diff, max_rel, max_grad = 0.0, 0.0, 0.0
    for z in points:
        sites = fns.unravel(jnp.asarray(z))
        point = {value_name(k): np.asarray(v, dtype=float) for k, v in sites.items()}
        if set(value_vars) != set(point):
            raise KeyError(
                f"PyMC values without a tool site: {sorted(set(value_vars) - set(point))}; "
                f"tool sites without a PyMC value: {sorted(set(point) - set(value_vars))}"
            )
        pot, grad = vg(jnp.asarray(z), inputs)
        lp = float(logp_fn(point))
        max_diff = max(max_diff, abs(lp + float(pot)))
        max_rel = max(max_rel, abs(lp + float(pot)) / (1.0 + abs(lp)))
        # gradient in PyMC's value-variable order, mapped back onto the tool's flat order
        dl = np.asarray(dlogp_fn(point))
        sizes = [int(np.size(point[v])) for v in value_vars]
        parts = dict(zip(value_vars, np.split(dl, np.cumsum(sizes)[:-1]), strict=True))
        by_site = {k: jnp.asarray(parts[value_name(k)].reshape(np.shape(v)))
                   for k, v in sites.items()}
        g_pymc = np.asarray(ravel_pytree(by_site)[0])
        g_tool = -np.asarray(grad)
        rel = np.max(np.abs(g_pymc - g_tool) / (1.0 + np.abs(g_tool)))
        max_grad = max(max_grad, float(rel))
    return {"max_abs_logp_diff": max_diff, "max_rel_logp_diff": max_rel,
            "max_rel_grad_diff": max_grad, "n_points": int(len(points))}
