"""The fake fits of ``fakes.py`` against the closed form of their exact posterior.

A well-calibrated fake's posterior predictive of a kind (log scale) must be that of the
flat-prior linear model ``z = X beta + Normal(0, sigma)``: per record, mean ``x_i beta_hat``
(least squares of the observations) and variance ``sigma^2 (1 + x_i (X'X)^-1 x_i')``. The
negative controls must break what they say: ``bias`` shifts the observations away from that
mean, ``narrow`` shrinks the predictive, ``divergences`` marks that many draws. The fakes are
assembled by :func:`gsf_infer.inference.datatree.build_datatree`, whose layout
``test_datatree_build.py`` checks.
"""

from __future__ import annotations

import numpy as np
import pytest
from fakes import SIGMA, design, fake_fit

DRAWS = 4 * 100


def log_predictive(dt, kind: str) -> np.ndarray:
    return np.log(np.asarray(dt["posterior_predictive"][kind].values)).reshape(DRAWS, -1)


def closed_form(dt, kind: str, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the exact posterior predictive of each record (log scale)."""
    X = design(kind)
    z = np.log(np.asarray(dt["observed_data"][kind].values))
    beta = np.linalg.lstsq(X, z, rcond=None)[0]
    leverage = np.einsum("ij,jk,ik->i", X, np.linalg.inv(X.T @ X), X)
    return X @ beta, sigma**2 * (1.0 + leverage)


@pytest.fixture(scope="module")
def calibrated():
    return fake_fit(np.random.default_rng(31), kinds=("loss", "pruning"))


@pytest.mark.parametrize("kind", ["loss", "pruning"])
def test_predictive_is_the_exact_posterior_predictive(calibrated, kind):
    pred = log_predictive(calibrated, kind)
    mean, var = closed_form(calibrated, kind, SIGMA)
    # 400 independent draws: the sample mean errs by sd/20, the sample variance by 7%
    z = (pred.mean(axis=0) - mean) / np.sqrt(var / DRAWS)
    assert np.max(np.abs(z)) < 4.5, z
    ratio = pred.var(axis=0, ddof=1) / var
    assert 0.85 < np.mean(ratio) < 1.15 and np.all((ratio > 0.6) & (ratio < 1.5)), ratio


def test_log_likelihood_is_normal_on_the_log_scale(calibrated):
    """The pointwise log-likelihood is the normal density of the observation at each draw."""
    ll = np.asarray(calibrated["log_likelihood"]["loss"].values).reshape(DRAWS, -1)
    # at most the density's peak, and on average half a unit below it: the residual's variance
    # sigma^2 (1 - h_i) and the posterior's sigma^2 h_i add up to sigma^2
    peak = -np.log(SIGMA * np.sqrt(2 * np.pi))
    assert np.all(ll <= peak + 1e-12)
    assert np.mean(ll) == pytest.approx(peak - 0.5, abs=0.15)


def test_negative_controls_break_what_they_say():
    rng = np.random.default_rng(32)
    bias = fake_fit(rng, kinds=("loss",), bias=0.2)
    mean, _ = closed_form(bias, "loss", SIGMA)
    shift = mean - log_predictive(bias, "loss").mean(axis=0)
    # the predictive follows the unshifted records; least squares of the shifted ones moves
    # by the shift (the design has an intercept per run)
    assert np.mean(shift) == pytest.approx(0.2, abs=0.01)
    narrow = fake_fit(rng, kinds=("loss",), narrow=0.5)
    _, var = closed_form(narrow, "loss", 0.5 * SIGMA)
    ratio = log_predictive(narrow, "loss").var(axis=0, ddof=1) / var
    assert 0.85 < np.mean(ratio) < 1.15
    diverging = fake_fit(rng, kinds=("loss",), divergences=7)
    assert int(diverging["sample_stats"]["diverging"].values.sum()) == 7
