"""Plots: every figure is written as a PNG, and the frontier marks sit where the closed forms
put them."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import SCALES, fake_fit

from gsf_infer.output import plots

#: one worker builds the module's expensive fixtures once (pytest-xdist's loadgroup)
pytestmark = pytest.mark.xdist_group("test_plots")

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def gsf_fit():
    return fake_fit(
        np.random.default_rng(301),
        kinds=("loss", "quantization", "pruning", "density", "spectrum"),
        draws=100,
    )


@pytest.fixture(scope="module")
def deviation_fit():
    return fake_fit(
        np.random.default_rng(302), model="deviation", draws=100, deviations={"delta_Q": 0.3}
    )


def _dashed_x(fig) -> list[float]:
    ax = fig.axes[0]
    return [
        float(line.get_xdata()[0])
        for line in ax.lines
        if line.get_linestyle() == "--" and len(line.get_xdata())
    ]


def test_write_plots_gsf(tmp_path, gsf_fit, deviation_fit):
    paths = plots.write_plots(
        gsf_fit, tmp_path / "plots", deviation_dt=deviation_fit, invariant={"rope": 0.1}
    )
    names = [p.name for p in paths]
    expected = [f"ppc_{v}.png" for v in ("loss", "quantization", "pruning", "density", "spectrum")]
    expected += ["ppc_spectrum_target.png", "loo_pit.png", "trace.png", "rank.png"]
    expected += ["pair_a_b_rho.png", "invariant_delta.png"]
    assert names == expected
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == PNG and len(data) > 5000, path.name
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(names)


def _drawn(fig) -> list:
    return [
        (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())
        + tuple(np.asarray(line.get_xydata()).tobytes() for line in ax.lines)
        + tuple(path.vertices.tobytes() for c in ax.collections for path in c.get_paths())
        + tuple(str(text.get_text()) for text in ax.texts)
        for ax in fig.axes
    ]


def test_loo_pit_figure_from_the_checks_pit_values_is_the_same(gsf_fit):
    import matplotlib.pyplot as plt

    from gsf_infer.analysis.ppc import loo_pits

    fresh = plots.plot_loo_pits(gsf_fit)
    given = plots.plot_loo_pits(gsf_fit, loo_pits(gsf_fit))
    try:
        assert len(fresh.axes) == len(given.axes) >= 5
        assert _drawn(given) == _drawn(fresh)
    finally:
        plt.close(fresh)
        plt.close(given)


@pytest.mark.slow  # rendering or benchmark plumbing, not the statistical core
def test_write_plots_deviation_model(tmp_path, deviation_fit):
    paths = plots.write_plots(deviation_fit, tmp_path)
    names = {p.name for p in paths}
    # one pair plot of the shared exponents; the delta posterior from the fit's own draws
    assert {"pair_a_b_rho.png", "invariant_delta.png"} <= names
    assert not any(n.startswith("pair_a_b_rho_") for n in names)


def test_no_invariant_plot_without_deviation_fit(tmp_path):
    loss_only = fake_fit(np.random.default_rng(303), kinds=("loss",), draws=100)
    names = {p.name for p in plots.write_plots(loss_only, tmp_path)}
    assert "invariant_delta.png" not in names and "ppc_loss.png" in names


def test_capacity_time_closed_form(gsf_fit):
    # k_*(t) = k_star (t/t_ref)^(rho/b) reaches K(P) = K (P/P_ref)^nu at
    # t = t_ref (K (P/P_ref) / k_star)^(b/rho); the fake's k_star ~ 300, K ~ 2e4, nu = 1
    post = gsf_fit["posterior"]
    k_star = post["k_star"].values.ravel()
    K = post["K"].values.ravel()
    rb = post["rho_over_b"].values.ravel()
    for params in (1e6, 1e7):
        t_cap = plots.capacity_times(gsf_fit, params)
        expected = SCALES["t_ref"] * (K * params / SCALES["params_ref"] / k_star) ** (1 / rb)
        np.testing.assert_allclose(t_cap, expected, rtol=1e-12)
        k_t, K_P = plots.frontier_draws(gsf_fit, "loss", np.array([np.median(t_cap)]), params)
        assert np.median(k_t[:, 0] / K_P) == pytest.approx(1.0, rel=0.05)
    # hand-computed with the fake's centres: 1000 (2000/300)^(1/0.8929) = 8.37e3
    assert np.median(plots.capacity_times(gsf_fit, 1e6)) == pytest.approx(8.37e3, rel=0.05)


def test_loss_panel_marks_capacity_per_run(gsf_fit):
    import matplotlib.pyplot as plt

    fig = plots.plot_ppc(gsf_fit, "loss")
    marks = sorted(_dashed_x(fig))
    plt.close(fig)
    expected = sorted(np.median(plots.capacity_times(gsf_fit, p)) for p in (1e6, 1e7))
    np.testing.assert_allclose(marks, expected, rtol=1e-9)


def test_pruning_panel_marks_critical_points(gsf_fit):
    import matplotlib.pyplot as plt

    fig = plots.plot_ppc(gsf_fit, "pruning")
    marks = _dashed_x(fig)
    assert fig.axes[0].get_xlabel() == "kept fraction 1 - r"
    plt.close(fig)
    # 1 - r_*(t) = k_*(t)/K(P) at t = 100 and 1000, P = P_ref: 300 (t/1000)^0.893 / 2e4
    expected = [300 * (t / 1000) ** (1.25 / 1.4) / 2e4 for t in (100.0, 1000.0)]
    assert len(marks) == 2
    np.testing.assert_allclose(sorted(marks), expected, rtol=0.05)


def test_chinchilla_like_posterior_has_no_frontier(gsf_fit):
    stripped = gsf_fit.copy()
    stripped["posterior"] = stripped["posterior"].to_dataset().drop_vars(["k_star", "K"])
    assert plots.capacity_times(stripped, 1e6) is None
    fig = plots.plot_ppc(stripped, "loss")
    assert _dashed_x(fig) == []


def test_delta_tree_keeps_the_deviation_posterior_by_chain(deviation_fit):
    tree = plots.delta_tree(deviation_fit["posterior"].to_dataset())
    assert tree["posterior"]["delta_over_rho"].shape == (4, 100)
    post = deviation_fit["posterior"]
    a, b, rho = (post[n].values for n in ("a", "b", "rho"))
    # delta = chi_L + gamma_Q - rho_F, draw by draw, from the definitions
    chi_l = (a - 1.0) * rho / b
    gamma_q = (1.0 + b - a + post["delta_Q"].values) * rho / b
    rho_f = rho * np.exp(post["eps_F"].values)
    np.testing.assert_allclose(tree["posterior"]["delta"].values, chi_l + gamma_q - rho_f)
    np.testing.assert_allclose(
        tree["posterior"]["delta_over_rho"].values, (chi_l + gamma_q - rho_f) / rho_f
    )
    # a posterior without the deviation model's sites has no invariant to plot
    assert plots.delta_tree(post.to_dataset().drop_vars(["delta", "delta_over_rho"])) is None


def test_captions_name_every_figure():
    for stem in ("ppc_loss", "ppc_pruning", "ppc_density", "loo_pit", "trace", "rank"):
        assert plots.caption(stem)
    assert "k_*(t) = K(P)" in plots.caption("ppc_loss")
    assert "deviation model" in plots.caption("invariant_delta")
    assert "|delta/rho| <= 0.2" in plots.caption("invariant_delta", {"rope": 0.2})


def test_by_subset_figure_takes_a_point_interval_and_a_mean_outside_its_hdi():
    """A held parameter (interval a point, ends off by rounding) and a skewed one plot."""
    import pandas as pd

    table = pd.DataFrame({
        "run": ["r1", "r2", "r3"],
        "alpha_mean": [0.5, 0.3, 0.2],
        "alpha_hdi_low": [0.4, 0.3 + 1e-15, 0.21],  # r2 held, r3 mean below its HDI
        "alpha_hdi_high": [0.6, 0.3 - 1e-15, 0.3],
        "converged": [True, True, False],
    })
    fig = plots.plot_by(table, "run")
    bars = [c for c in fig.axes[0].containers]
    assert fig is not None and bars
    ends = np.concatenate([np.asarray(seg)[:, :, 1].ravel() for c in bars
                           for seg in [c.lines[2][0].get_segments()]])
    assert np.all(np.isfinite(ends))


def test_a_quantity_held_at_the_optimum_is_left_out_of_the_trace_and_rank_plots(gsf_fit):
    import matplotlib.pyplot as plt

    # a held quantity's draws vary by rounding only (z0 + L u with L zero along it): ArviZ's
    # density of such draws raises ("Too many bins for data range"), and the figure was lost
    dt = gsf_fit.copy()
    post = dt["posterior"].to_dataset()
    held = np.full(post["a"].shape, 1.5) + 3e-15 * np.random.default_rng(0).standard_normal(
        post["a"].shape)
    dt["posterior"] = post.assign(a=(post["a"].dims, held))
    names = plots._usable(dt, plots.TRACE_VARS)
    assert "a" not in names and "b" in names
    fig = plots.plot_trace(dt)
    assert fig is not None
    plt.close("all")
    # negative control: ArviZ itself cannot draw the held quantity
    with pytest.raises(ValueError, match="bins"):
        plots.az.plot_trace_dist(plots._numpy_posterior(dt, ["a"]), var_names=["a"])
    plt.close("all")
