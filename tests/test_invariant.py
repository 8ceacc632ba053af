"""The invariant's decision (``gsf_infer.analysis.invariant``) and the deviation model's
discrepancy.

References, each independent of the code under test:

- ``delta/rho`` of :func:`gsf_infer.model.deviations.delta_over_rho` against the exponents
  *measured* from the forward laws of the ``asymptotic`` tier: local log-log slopes (central finite
  differences in ``log t``) of the loss above its floor, of the quantization loss and of the
  frontier ``k_*(t)``, each under the deviation that acts on it;
- which kinds make the invariant testable, and which deviation parameters the deviation model
  then carries, as a table of cases;
- the verdict on synthetic normal draws, against the normal's closed-form HDI and ROPE mass;
- the prior sensitivity against the closed-form posterior of a normal likelihood under the
  wider normal prior (conjugacy), with negative controls.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from gsf_infer.analysis import invariant
from gsf_infer.analysis.invariant import InvariantSettings
from gsf_infer.data.dataset import build_model_data
from gsf_infer.data.records import read_records
from gsf_infer.model import deviations as model_deviations
from gsf_infer.model.build import build_model, data_kinds
from gsf_infer.model.deviations import REQUIREMENTS
from gsf_infer.model.forward import laws
from gsf_infer.model.forward.families import GParams, get_family
from gsf_infer.model.priors import load_priors
from gsf_infer.model.settings import ModelSettings

LOSS, QUANT, FRONTIER, B = REQUIREMENTS
#: Half-width of the 94% central (= highest-density) interval of a normal, in sds.
Z94 = float(norm.ppf(0.97))

# ------------------------------------------------------------- delta/rho from the forward laws

MONOMIAL = get_family("monomial")
#: Step in log t of the central differences.
H = 1e-2


def _log_t_at(log_k: float, b: float, gp: GParams) -> float:
    """``log t`` where the monomial frontier ``c lambda^m t^n = 1`` reaches mode ``e^log_k``.

    ``lambda_* = k_*^-b`` (``Lam = 1``), so ``c k_*^(-b m) t^n = 1``.
    """
    return (b * gp.m * log_k - math.log(gp.c)) / gp.n


def _slope(f, log_t: float) -> float:
    """``d log f / d log t`` by central differences of step :data:`H`."""
    up, down = f(math.exp(log_t + H)), f(math.exp(log_t - H))
    return (math.log(up) - math.log(down)) / (2 * H)


def _random_world(rng: np.random.Generator) -> dict[str, float]:
    """Exponents on the prior's support, deviations of either sign, ``1 + b - a + delta_Q``
    kept above 0.3 (quantization not saturated) and ``a + delta_L`` above 1.2."""
    while True:
        w = {
            "a": rng.uniform(1.3, 2.4),
            "b": rng.uniform(1.2, 2.5),
            "m": rng.uniform(0.6, 1.5),
            "n": rng.uniform(0.7, 1.8),
            "delta_L": rng.uniform(-0.3, 0.3),
            "delta_Q": rng.uniform(-0.3, 0.3),
            "eps_F": rng.uniform(-0.3, 0.3),
        }
        if 1 + w["b"] - w["a"] + w["delta_Q"] > 0.3 and w["a"] + w["delta_L"] > 1.2:
            return w


def _measured_ratio(w: dict[str, float]) -> float:
    """``(chi_L + gamma_Q - rho_F) / rho_F`` from slopes of the asymptotic laws.

    The deviations enter as :func:`gsf_infer.model.deviations.with_deviations` applies them (checked
    here): the loss's target exponent ``a + delta_L``, quantization's ``a - delta_Q`` in its
    ``w_k^2 ∝ k^(b-a)``, the frontier of pruning and density at ``t^exp(eps_F)``.
    """
    a, b = w["a"], w["b"]
    gp = GParams(c=0.1, m=w["m"], n=w["n"])
    K = 1e80  # far beyond every frontier below: no capacity floor
    P = {"a": a, "b": b, **{k: w[k] for k in ("delta_L", "delta_Q", "eps_F")}}
    x = {"t": np.array([2.0, 3.0])}

    # loss: chi_L = -d log(L - E)/d log t. The asymptotic tier's L - E is
    # (k_* + 1/2)^(1-a')/(a'-1): at k_* = 1e6 the +1/2 bends the slope by < 1e-6, and the
    # floor's round-off (1e-16 E/(L - E) < 1e-7) stays below 1e-5 over 2H
    a_loss = model_deviations.with_deviations("loss", P, x)[0]["a"]
    assert a_loss == pytest.approx(a + w["delta_L"], rel=1e-15)
    spec_loss, E = laws.Spectrum(a_loss, b), 0.3
    chi_l = -_slope(
        lambda t: float(laws.loss(t, K, spec_loss, gp, E, MONOMIAL, "asymptotic")) - E,
        _log_t_at(math.log(1e6), b, gp),
    )

    # quantization: gamma_Q = d log dL_Q / d log t, where dL_Q ∝ (k_*+1/2)^q - (1/2)^q with
    # q = 1 + b - a + delta_Q >= 0.3: at k_* = 1e40 the constant bends the slope by < 1e-11
    a_quant = model_deviations.with_deviations("quantization", P, x)[0]["a"]
    assert a_quant == pytest.approx(a - w["delta_Q"], rel=1e-15)
    spec_quant = laws.Spectrum(a_quant, b)
    gamma_q = _slope(
        lambda t: float(laws.quantization(t, K, 1.0, spec_quant, gp, MONOMIAL, "asymptotic")),
        _log_t_at(math.log(1e40), b, gp),
    )

    # frontier: pruning and density read k_* at the warped clock; rho_F = b d log k_*/d log t
    for kind in ("pruning", "density"):
        warped = np.asarray(model_deviations.with_deviations(kind, P, x)[1]["t"])
        np.testing.assert_allclose(warped, x["t"] ** math.exp(w["eps_F"]), rtol=1e-15)
    spec = laws.Spectrum(a, b)
    rate = _slope(
        lambda t: math.exp(
            float(laws.log_k_star(t ** math.exp(w["eps_F"]), spec, gp, MONOMIAL))
        ),
        _log_t_at(math.log(1e3), b, gp),
    )
    rho_f = b * rate
    return (chi_l + gamma_q - rho_f) / rho_f


def test_delta_over_rho_matches_the_slopes_of_the_forward_laws(rng):
    for _ in range(8):
        w = _random_world(rng)
        expected = _measured_ratio(w)
        got = float(
            model_deviations.delta_over_rho({k: w[k] for k in ("b", "delta_L", "delta_Q", "eps_F")})
        )
        # the slopes are good to ~1e-6 (see _measured_ratio); rho_F is above 0.3 here
        assert got == pytest.approx(expected, abs=1e-5), w


def test_delta_over_rho_is_zero_without_deviations_and_reads_absent_ones_as_zero(rng):
    w = _random_world(rng)
    none = {"b": w["b"], "delta_L": 0.0, "delta_Q": 0.0, "eps_F": 0.0}
    assert abs(_measured_ratio({**w, **none})) < 1e-5  # the theory: chi + gamma = rho
    assert float(model_deviations.delta_over_rho(none)) == 0.0
    # a data set without delta_L: the same as delta_L = 0
    without = {"b": w["b"], "delta_Q": w["delta_Q"], "eps_F": w["eps_F"]}
    assert float(model_deviations.delta_over_rho(without)) == pytest.approx(
        _measured_ratio({**w, "delta_L": 0.0}), abs=1e-5
    )


# ----------------------------------------------------------------- requirements and deviations

TESTABLE = ("loss", "quantization", "pruning", "spectrum")
# kinds, loss sizes, target power -> missing requirements, deviation parameters
CASES = [
    (TESTABLE, 1, False, (), ("delta_Q", "eps_F")),
    (("loss", "quantization", "density", "spectrum"), 1, False, (), ("delta_Q", "eps_F")),
    # delta_L only where the target power and g itself are both measured
    (TESTABLE + ("modes",), 1, True, (), ("delta_Q", "eps_F", "delta_L")),
    (TESTABLE, 1, True, (), ("delta_Q", "eps_F")),
    (TESTABLE + ("modes",), 1, False, (), ("delta_Q", "eps_F")),
    # b from the pruning slope and a from the loss floor at several sizes
    (("loss", "quantization", "pruning"), 2, False, (), ("delta_Q", "eps_F")),
    (("loss", "quantization", "pruning"), 1, False, (B,), ()),
    # density has no slope in 1 + b - a: several loss sizes do not help it
    (("loss", "quantization", "density"), 3, False, (B,), ()),
    (("loss",), 3, False, (QUANT, FRONTIER, B), ()),
    (("quantization", "pruning", "spectrum"), 0, True, (LOSS,), ()),
    (("loss", "pruning", "spectrum", "modes"), 2, True, (QUANT,), ()),
    (("loss", "quantization", "spectrum", "modes"), 2, True, (FRONTIER,), ()),
    ((), 0, False, (LOSS, QUANT, FRONTIER, B), ()),
]


@pytest.mark.parametrize(("kinds", "sizes", "target_power", "missing", "deviations"), CASES)
def test_requirements_and_deviations(kinds, sizes, target_power, missing, deviations):
    assert model_deviations.missing_requirements(kinds, sizes, target_power) == missing
    info = {"kinds": tuple(kinds), "loss_sizes": sizes, "target_power": target_power}
    assert model_deviations.deviations_for(info) == deviations
    assert set(deviations) <= set(model_deviations.DEVIATIONS)


def test_the_model_carries_the_deviations_its_data_call_for():
    data = build_model_data(read_records(Path(__file__).parent / "data" / "all_kinds.csv"))
    info = data_kinds(data)
    assert info["target_power"] and "modes" in info["kinds"] and info["loss_sizes"] == 2
    for name in ("gsf", "deviation"):  # one program: the deviation switch is an input
        built = build_model(data, ModelSettings(model=name), load_priors(None))
        assert built.deviations == ("delta_Q", "eps_F", "delta_L")
        assert float(built.inputs["deviation_mask"]) == (1.0 if name == "deviation" else 0.0)
    loss_only = build_model_data(read_records(Path(__file__).parent / "data" / "loss_only.csv"))
    assert build_model(loss_only, ModelSettings(), load_priors(None)).deviations == ()


# ---------------------------------------------------------------------------------- verdict

N = 20_000


def _draws(
    rng: np.random.Generator, mean: float, sd: float, *, a: float = 1.6, b: float = 1.4,
    spread: float = 0.0, rho: float = 1.25, **deviations: float,
) -> dict[str, np.ndarray]:
    """Flat draws with ``delta/rho ~ Normal(mean, sd)`` and ``delta = rho delta/rho``."""
    ratio = mean + sd * rng.standard_normal(N)
    out = {
        "delta_over_rho": ratio,
        "delta": rho * ratio,
        "a": a + spread * rng.standard_normal(N),
        "b": np.full(N, b),
    }
    for name, centre in deviations.items():
        out[name] = centre + 0.01 * rng.standard_normal(N)
    return out


#: Four Monte Carlo errors of an HDI end of 20000 normal draws, in sds (measured over 200
#: seeds: sd 0.042, largest error 0.11; the shortest interval is noisier than a quantile).
HDI_TOL = 0.17


@pytest.mark.parametrize(
    ("mean", "sd", "status"),
    [
        (0.0, 0.02, "supported"),  # HDI +-0.038 inside +-0.1
        (0.05, 0.02, "supported"),  # [0.012, 0.088]
        (0.3, 0.02, "violated"),  # [0.26, 0.34]
        (-0.25, 0.05, "violated"),  # [-0.34, -0.16]
        (0.1, 0.05, "inconclusive"),  # [0.006, 0.194] straddles 0.1
        (0.0, 0.2, "inconclusive"),  # [-0.38, 0.38] covers the ROPE and more
    ],
)
def test_verdict_against_the_normal_closed_form(rng, mean, sd, status):
    settings = InvariantSettings(rope=0.1, ci_prob=0.94)
    out = invariant.verdict(_draws(rng, mean, sd, delta_Q=0.2), settings)
    assert out["status"] == status
    ratio = out["delta_over_rho"]
    assert ratio["mean"] == pytest.approx(mean, abs=4 * sd / math.sqrt(N))
    assert ratio["hdi_low"] == pytest.approx(mean - Z94 * sd, abs=HDI_TOL * sd)
    assert ratio["hdi_high"] == pytest.approx(mean + Z94 * sd, abs=HDI_TOL * sd)
    # delta = rho delta/rho with rho fixed: the same interval, scaled
    assert out["delta"]["hdi_low"] == pytest.approx(1.25 * ratio["hdi_low"], rel=1e-9)
    assert out["delta"]["hdi_high"] == pytest.approx(1.25 * ratio["hdi_high"], rel=1e-9)
    in_rope = norm.cdf((0.1 - mean) / sd) - norm.cdf((-0.1 - mean) / sd)
    binomial_se = math.sqrt(max(in_rope * (1 - in_rope), 1 / N) / N)
    assert out["p_in_rope"] == pytest.approx(in_rope, abs=4 * binomial_se)
    assert out["rope"] == 0.1 and out["missing"] == []
    assert out["trusted"] is True and out["why_untrusted"] == ""
    # the deviation parameters present are summarised; the absent ones are not invented
    assert set(out["deviations"]) == {"delta_Q"}
    dq = out["deviations"]["delta_Q"]
    assert dq["mean"] == pytest.approx(0.2, abs=0.001)
    assert dq["hdi_low"] == pytest.approx(0.2 - Z94 * 0.01, abs=HDI_TOL * 0.01)


def test_verdict_is_out_of_domain_where_quantization_saturates(rng):
    settings = InvariantSettings()
    # 1 + b - a = -0.1 + 0.12 z: P(<= 0) = Phi(0.1/0.12) = 0.80; delta/rho itself looks fine
    saturated = invariant.verdict(_draws(rng, 0.0, 0.02, a=2.5, spread=0.12), settings)
    assert saturated["p_saturated"] == pytest.approx(norm.cdf(0.1 / 0.12), abs=0.015)
    assert saturated["status"] == "out_of_domain"
    # the same with P(<= 0) = Phi(-0.1/0.12) = 0.20: decided on delta/rho
    inside = invariant.verdict(_draws(rng, 0.0, 0.02, a=2.3, spread=0.12), settings)
    assert inside["p_saturated"] == pytest.approx(norm.cdf(-0.1 / 0.12), abs=0.015)
    assert inside["status"] == "supported"


def test_verdict_of_an_unconverged_fit_is_not_trusted(rng):
    draws = _draws(rng, 0.3, 0.02)
    problems = ["7 divergent transitions", "R-hat up to 1.200 (> 1.01) on a"]
    out = invariant.verdict(draws, InvariantSettings(), problems)
    assert out["trusted"] is False
    assert out["why_untrusted"] == "7 divergent transitions; R-hat up to 1.200 (> 1.01) on a"
    # the status is still computed (and said untrusted by the console), not hidden
    assert out["status"] == "violated"
    assert invariant.verdict(draws, InvariantSettings(), [])["trusted"] is True


def test_untestable_names_what_is_missing():
    out = invariant.untestable([QUANT, FRONTIER], InvariantSettings(rope=0.2))
    assert out["status"] == "untestable" and out["missing"] == [QUANT, FRONTIER]
    assert out["delta"] == {"mean": None, "hdi_low": None, "hdi_high": None}
    assert out["rope"] == 0.2 and out["p_in_rope"] is None


def test_flat_draws_reads_the_verdict_variables_of_a_deviation_posterior(rng):
    from fakes import fake_fit

    dt = fake_fit(rng, model="deviation", deviations={"delta_Q": 0.3}, draws=50)
    draws = invariant.flat_draws(dt["posterior"], invariant.VERDICT_VARIABLES)
    assert set(draws) == {"delta_over_rho", "delta", "a", "b", "delta_Q", "eps_F"}
    assert all(v.shape == (4 * 50,) for v in draws.values())
    np.testing.assert_array_equal(draws["delta_Q"], dt["posterior"]["delta_Q"].values.ravel())


# -------------------------------------------------------------------------- prior sensitivity


def _conjugate(y: float, tau: float, prior_sd: float) -> tuple[float, float]:
    """Posterior mean and sd of ``theta`` under ``y ~ Normal(theta, tau)``, ``theta ~
    Normal(0, prior_sd)``."""
    precision = 1 / tau**2 + 1 / prior_sd**2
    return y / tau**2 / precision, 1 / math.sqrt(precision)


def _delta_q_draws(rng, mean, sd, b=1.4, n=200_000) -> dict[str, np.ndarray]:
    """Draws with only ``delta_Q`` at work: ``delta/rho = delta_Q / b`` exactly."""
    delta_q = mean + sd * rng.standard_normal(n)
    ratio = delta_q / b
    return {
        "delta_over_rho": ratio,
        "delta": 1.25 * ratio,
        "a": np.full(ratio.size, 1.6),
        "b": np.full(ratio.size, b),
        "delta_Q": delta_q,
    }


def _hdi_of_normal(mean: float, sd: float, b: float) -> tuple[float, float]:
    """The 94% HDI of ``delta_Q / b`` with ``delta_Q ~ Normal(mean, sd)``."""
    return (mean - Z94 * sd) / b, (mean + Z94 * sd) / b


def test_prior_sensitivity_against_the_conjugate_posterior(rng):
    """A normal likelihood of delta_Q under Normal(0, 0.5) and under Normal(0, 1.0)."""
    S, b, y, tau = 0.5, 1.4, 0.8, 0.3
    settings = InvariantSettings(rope=0.1)
    mean, sd = _conjugate(y, tau, S)
    wide_mean, wide_sd = _conjugate(y, tau, 2 * S)
    low, high = _hdi_of_normal(wide_mean, wide_sd, b)
    original_low, original_high = _hdi_of_normal(mean, sd, b)
    # the design: the wider prior shrinks less towards 0, and its HDI clears the ROPE
    assert original_low < 0.1 < low
    draws = _delta_q_draws(rng, mean, sd, b)
    out = invariant.prior_sensitivity(draws, S, settings, factor=2.0)
    # four Monte Carlo errors of the reweighted, resampled HDI ends (measured over 30 seeds:
    # sd 0.026 wide sds, largest error 0.07)
    tol = 0.1 * wide_sd / b
    assert out["delta_over_rho"]["hdi_low"] == pytest.approx(low, abs=tol)
    assert out["delta_over_rho"]["hdi_high"] == pytest.approx(high, abs=tol)
    # a reweighting that did nothing would miss the upper end by 7 tol, the lower by 3
    assert high - original_high > 6 * tol and low - original_low > 3 * tol
    assert invariant.verdict(draws, settings)["status"] == "inconclusive"
    assert out["status"] == "violated"
    # weights exp(c x^2), c = (1 - 1/f^2)/(2 S^2): a Pareto tail of shape 2 c sd^2 = 0.20
    # (PSIS estimates 0.29 on average at this size: the tail is not yet asymptotic)
    assert out["pareto_k"] < 0.5 and out["reliable"]
    assert out["factor"] == 2.0


def test_prior_sensitivity_negative_controls(rng):
    S, b = 0.5, 1.4
    settings = InvariantSettings(rope=0.1)
    # data that pin delta_Q (tau = 0.02 << S): the wider prior moves the HDI by 0.04 sd, and
    # the reweighted draws say so
    y, tau = 0.05, 0.02
    mean, sd = _conjugate(y, tau, S)
    wide_mean, wide_sd = _conjugate(y, tau, 2 * S)
    draws = _delta_q_draws(rng, mean, sd, b)
    out = invariant.prior_sensitivity(draws, S, settings)
    for got, closed in zip(
        (out["delta_over_rho"]["hdi_low"], out["delta_over_rho"]["hdi_high"]),
        _hdi_of_normal(wide_mean, wide_sd, b),
        strict=True,
    ):
        assert got == pytest.approx(closed, abs=0.1 * sd / b)
    assert out["status"] == invariant.verdict(draws, settings)["status"] == "supported"
    assert out["reliable"]
    # data that say nothing (posterior = prior): the weights' tail has shape 1 - 1/f^2 = 0.94
    # at f = 4, beyond what importance sampling can carry (PSIS measures 0.85 on average,
    # 0.77 at least, over 20 seeds); the result says it is unreliable
    prior_only = _delta_q_draws(rng, 0.0, S, b, n=40_000)
    flagged = invariant.prior_sensitivity(prior_only, S, settings, factor=4.0)
    assert flagged["pareto_k"] > 0.7 and not flagged["reliable"]
