"""The coordinates NUTS sees for the deviation parameters (``sample_deviations``).

References, each independent of the code under test:

- the prior: for fixed ``a, b, rho``, the density the site gives its coordinate, carried to the
  deviation by the change of variables, against SciPy's ``Normal(0, s)`` density (with negative
  controls: the product coordinate without its conditional scale, or without its shift, is
  another prior);
- the geometry: the products the data measure, ``(1 + b - a + delta_Q) rho/b`` and
  ``(a - 1 + delta_L) rho/b``, against their closed form ``c + s z`` at every ``rho`` (with the
  plain coordinate ``delta = s z`` as the negative control, under which they move with ``rho``);
- the nesting: at the coordinates' conditional prior mode every deviation is zero, and the
  ``gsf`` model's mask switches them off.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpyro import handlers
from scipy.stats import norm

from gsf_infer.model.deviations import sample_deviations

NAMES = ("delta_Q", "eps_F", "delta_L")
SCALE = np.array([0.5, 0.5, 0.3])
#: Exponents on the prior's support: (a, b, rho).
POINTS = [(1.6, 1.4, 1.12), (1.2, 2.1, 0.55), (2.3, 1.8, 1.9)]


def _site(z, a, b, rho, mask=1.0):
    """The ``deviation_z`` site's distribution and the deviations' values at coordinates ``z``."""
    P = {"a": a, "b": b, "rho": rho}
    with handlers.trace() as tr, handlers.substitute(data={"deviation_z": np.asarray(z)}):
        values = sample_deviations(NAMES, P, SCALE, np.asarray(mask))
    return tr["deviation_z"]["fn"], np.asarray(values)


@pytest.mark.parametrize("a,b,rho", POINTS)
def test_the_coordinates_carry_the_normal_prior_of_each_deviation(a, b, rho):
    r = rho / b
    rng = np.random.default_rng(3)
    fn, _ = _site(np.zeros(3), a, b, rho)
    z = np.asarray(fn.mean) + np.asarray(fn.variance) ** 0.5 * rng.normal(size=(50, 3))
    for row in z:
        fn, values = _site(row, a, b, rho)
        log_site = np.asarray(fn.base_dist.log_prob(row))
        # |d delta / d z| = s/r for delta_Q and delta_L, s for eps_F
        slope = SCALE / np.array([r, 1.0, r])
        carried = log_site - np.log(slope)
        np.testing.assert_allclose(carried, norm.logpdf(values, 0.0, SCALE), rtol=0, atol=1e-10)
    # negative controls: without the conditional scale r, or without the shift, the prior on
    # delta_Q is another one
    c = 1.0 + b - a
    row = z[0]
    _, values = _site(row, a, b, rho)
    loc = c * (r - 1.0) / SCALE[0]
    wrong_scale = norm.logpdf(row[0], loc, 1.0) - np.log(SCALE[0] / r)
    wrong_shift = norm.logpdf(row[0], 0.0, r) - np.log(SCALE[0] / r)
    target = norm.logpdf(values[0], 0.0, SCALE[0])
    assert abs(wrong_scale - target) > 1e-3
    assert abs(wrong_shift - target) > 1e-3


@pytest.mark.parametrize("a,b,rho", POINTS)
def test_the_measured_products_do_not_move_with_rho_at_fixed_coordinates(a, b, rho):
    # The records pin gamma_Q = (1 + b - a + delta_Q) rho/b and chi_L = (a - 1 + delta_L) rho/b;
    # the loss leaves rho free along a ridge. At fixed coordinates and exponents a, b the two
    # products stay c + s z as rho moves (their level sets are straight along log rho), and
    # rho_F = rho exp(eps_F) moves as rho (linear in log rho).
    z = np.array([0.7, -0.4, 1.3])
    c_q, c_l = 1.0 + b - a, a - 1.0
    plain = []
    for rho_i in rho * np.exp(np.linspace(-0.3, 0.3, 7)):
        _, (d_q, eps_f, d_l) = _site(z, a, b, rho_i)
        r = rho_i / b
        assert (c_q + d_q) * r == pytest.approx(c_q + SCALE[0] * z[0], rel=1e-12)
        assert (c_l + d_l) * r == pytest.approx(c_l + SCALE[2] * z[2], rel=1e-12)
        assert np.log(rho_i * np.exp(eps_f)) == pytest.approx(np.log(rho_i) + SCALE[1] * z[1])
        plain.append((c_q + SCALE[0] * z[0]) * r)
    # negative control: with delta_Q = s z (the plain coordinate) gamma_Q moves with rho
    assert np.ptp(plain) > 0.1 * abs(plain[0])


@pytest.mark.parametrize("a,b,rho", POINTS)
def test_every_deviation_is_zero_at_the_prior_mode_and_off_in_gsf(a, b, rho):
    fn, _ = _site(np.zeros(3), a, b, rho)
    _, at_mode = _site(np.asarray(fn.mean), a, b, rho)
    np.testing.assert_allclose(at_mode, 0.0, atol=1e-12)
    _, off = _site(np.array([1.0, -2.0, 0.5]), a, b, rho, mask=0.0)
    np.testing.assert_array_equal(off, 0.0)
