"""Model comparison: ELPD-LOO against the exact leave-one-out of a linear-Gaussian fake, the
ranking of a poorer model, comparison on common records only, names, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import exact_elpd_loo, fake_fit, refit_poorer
from typer.testing import CliRunner

from gsf_infer.analysis import comparison as compare
from gsf_infer.cli import app
from gsf_infer.errors import InputError
from gsf_infer.workflow import compare as workflow

runner = CliRunner()


@pytest.fixture(scope="module")
def good():
    return fake_fit(np.random.default_rng(201), kinds=("loss", "pruning"), draws=500)


@pytest.fixture(scope="module")
def poor(good):
    return refit_poorer(good, np.random.default_rng(202))


def test_elpd_matches_the_exact_leave_one_out(good):
    # the fake's posterior is the exact flat-prior posterior of a linear model with known
    # noise, whose leave-one-out predictive is closed-form; PSIS-LOO with 2000 draws must
    # reproduce it (measured error < 0.1 over three seeds)
    for kind in ("loss", "pruning"):
        result, _ = compare.elpd(good, [kind])
        assert result.elpd == pytest.approx(exact_elpd_loo(good, kind), abs=0.25)
        assert compare.pareto_k_bad(result) == 0
    both, _ = compare.elpd(good, ["loss", "pruning"])
    exact = exact_elpd_loo(good, "loss") + exact_elpd_loo(good, "pruning")
    assert both.elpd == pytest.approx(exact, abs=0.4)
    assert both.n_data_points == 30 + 20


def test_poorer_model_ranks_second_with_negative_elpd_diff(good, poor):
    table = compare.loo_table({"poor": poor, "good": good})
    names = [row["name"] for row in table["models"]]
    assert names == ["good", "poor"]
    best, second = table["models"]
    assert set(best) == set(compare.ROW_KEYS)
    assert best["elpd_diff"] == 0.0 and best["dse"] == 0.0
    # ArviZ 1.x: elpd_diff = elpd(model) - elpd(best), so negative for the runner-up; its
    # value against the difference of the two exact leave-one-out ELPDs
    kinds = ("loss", "pruning")
    exact_good = sum(exact_elpd_loo(good, k) for k in kinds)
    exact_poor = sum(exact_elpd_loo(good, k, poorer=True) for k in kinds)
    assert exact_poor - exact_good < -10
    assert second["elpd_diff"] == pytest.approx(exact_poor - exact_good, abs=0.5)
    assert second["elpd_diff"] == pytest.approx(second["elpd_loo"] - best["elpd_loo"])
    assert second["dse"] > 0 and -second["elpd_diff"] > 2 * second["dse"]
    assert best["weight"] > 0.99 and second["weight"] < 0.01
    preferred, sentence = compare.preference(table)
    assert preferred == "good" and sentence.startswith("the data prefer good")


def test_no_preference_between_a_model_and_itself(good):
    twin = good.copy()
    table = compare.loo_table({"one": good, "two": twin})
    preferred, sentence = compare.preference(table)
    assert preferred is None and sentence.startswith("no clear preference")


def test_models_on_different_kinds_are_compared_on_common_records(good):
    loss_only = fake_fit(np.random.default_rng(203), kinds=("loss",), draws=500)
    basis = compare.common_records({"gsf": good, "chinchilla": loss_only})
    assert basis["kinds"] == ["loss"]
    assert basis["records"] == 30
    assert basis["left_out"] == {"pruning": 20}
    assert "compared on the loss records only (30 of 50)" in basis["note"]
    assert "chinchilla" in basis["note"]
    table = compare.loo_table({"gsf": good, "chinchilla": loss_only})
    assert table["compared_on"]["kinds"] == ["loss"]
    loss_elpd, _ = compare.elpd(good, ["loss"])
    row = next(r for r in table["models"] if r["name"] == "gsf")
    assert row["elpd_loo"] == pytest.approx(loss_elpd.elpd)


def test_models_on_different_records_are_refused(good):
    other = fake_fit(np.random.default_rng(204), kinds=("pruning", "spectrum"), draws=100)
    shared = compare.common_records({"a": good, "b": other})
    assert shared["kinds"] == ["pruning"]
    spectrum_only = fake_fit(np.random.default_rng(205), kinds=("spectrum",), draws=100)
    with pytest.raises(InputError, match="share no kind"):
        compare.common_records({"a": good, "b": spectrum_only})
    fewer = good.copy()
    fewer["log_likelihood"] = fewer["log_likelihood"].isel(loss_obs=slice(0, 20))
    with pytest.raises(InputError, match="different numbers of 'loss' records"):
        compare.common_records({"a": good, "b": fewer})


def test_candidate_names():
    plain = compare.candidates(
        ["gsf", "deviation", "chinchilla"], ["monomial", "ridge"], ["seed"], False
    )
    assert [c.name for c in plain] == [
        "gsf/monomial",
        "gsf/ridge",
        "deviation/monomial",
        "deviation/ridge",
        "chinchilla",
    ]
    assert compare.DEFAULT_MODELS == ("gsf", "deviation", "chinchilla")
    metric = compare.candidates(["gsf"], ["monomial"], ["seed", "function"], True)
    assert [c.name for c in metric] == ["gsf/monomial/seed", "gsf/monomial/function"]
    assert [c.pruning_metric for c in metric] == ["seed", "function"]
    assert metric[1].model == "gsf" and metric[1].g == "monomial"


def test_parse_list():
    models = ("gsf", "deviation")
    assert compare.parse_list("gsf, deviation,gsf", models, "--models") == ["gsf", "deviation"]
    with pytest.raises(InputError) as err:
        compare.parse_list("gsf,bogus,free", models, "--models")
    assert [p.value for p in err.value.problems] == ["bogus", "free"]
    with pytest.raises(InputError, match="at least one"):
        compare.parse_list(" , ", ("gsf",), "--models")


def test_format_table(good, poor):
    table = compare.loo_table({"good": good, "poor": poor})
    table["preference"] = compare.preference(table)[1]
    text = compare.format_table(table)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["model", "elpd_loo", "se"]
    assert lines[2].startswith("good") and lines[3].startswith("poor")
    assert "the data prefer good" in text


def _loss_csv(path, pruning=False):
    t = np.logspace(1, 4, 8)
    rows = ["kind,run,t,params,loss,delta_loss,sparsity"]
    rows += [f"loss,r1,{x:g},1e6,{1 + 3 * x**-0.5:.6g},," for x in t]
    if pruning:
        rows += [f"pruning,r1,100,1e6,,{0.01 * (1 - s) ** -0.8:.6g},{s}" for s in (0.2, 0.5, 0.8)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_compare_models_refuses_before_fitting(tmp_path):
    data = _loss_csv(tmp_path / "loss.csv")
    with pytest.raises(InputError, match="pruning records"):
        workflow.compare_models(
            data, models=["gsf"], gs=["monomial"], pruning_metrics=["seed", "function"]
        )
    with pytest.raises(InputError, match="at least two models"):
        workflow.compare_models(data, models=["gsf"], gs=["monomial"])
    with pytest.raises(InputError, match="--g"):
        workflow.compare_models(data, models=["gsf"], gs=["monomial", "cubic"])


def test_compare_cli_refuses_bad_options(tmp_path):
    data = _loss_csv(tmp_path / "loss.csv")
    result = runner.invoke(
        app, ["compare", str(data), "--models", "gsf,nonsense", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "nonsense" in result.stderr and "Traceback" not in result.stderr
    result = runner.invoke(
        app, ["compare", str(data), "--models", "gsf", "--g", "monomial", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "at least two models" in result.stderr
    (tmp_path / "compare.json").write_text("{}")
    result = runner.invoke(app, ["compare", str(data), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--force" in result.stderr


def test_compare_fits_with_the_likelihood_the_records_declare(tmp_path, monkeypatch):
    """compare, like fit, takes the header's ``# likelihood:`` unless asked, and says so."""
    data = tmp_path / "chinchilla.csv"
    result = runner.invoke(app, ["ingest", "epoch_chinchilla_svg", "--out", str(data)])
    assert result.exit_code == 0, result.output
    seen = []

    class Stop(Exception):
        pass

    def capture(records, *, settings, config, **_):
        seen.append((settings.likelihood, config.target_accept_prob))
        raise Stop  # no sampling: only what compare would fit with is under test

    monkeypatch.setattr(workflow, "run_model", capture)
    with pytest.raises(Stop):
        workflow.compare_models(data, models=["chinchilla", "gsf"], target_accept=0.95)
    with pytest.raises(Stop):
        workflow.compare_models(data, models=["chinchilla", "gsf"], likelihood="lognormal")
    assert seen == [("student", 0.95), ("lognormal", 0.9)]
    with pytest.raises(InputError, match="--target-accept"):
        workflow.compare_models(data, models=["chinchilla", "gsf"], target_accept=1.0)


def test_deviation_is_skipped_where_the_records_cannot_test_the_invariant(tmp_path, monkeypatch):
    """Without quantization records the deviation model has no deviation parameters: it
    would be gsf again, so compare leaves it out and says so (before fitting anything)."""
    data = _loss_csv(tmp_path / "loss.csv", pruning=True)
    with pytest.raises(InputError, match="at least two models"):
        workflow.compare_models(data, models=["gsf", "deviation"], gs=["monomial"])
    fitted = []
    rng = np.random.default_rng(206)

    def fake_run(records, *, settings, **_):
        # no sampling: a fake fit stands in for each model compare asks for
        fitted.append(settings.model)
        return fake_fit(rng, kinds=("loss",), draws=100), {}

    monkeypatch.setattr(workflow, "run_model", fake_run)
    result = workflow.compare_models(
        data, models=["gsf", "deviation", "chinchilla"], gs=["monomial"]
    )
    assert fitted == ["gsf", "chinchilla"]
    assert {row["name"] for row in result["models"]} == {"gsf/monomial", "chinchilla"}
    assert any(w.startswith("deviation skipped") for w in result["warnings"])


def test_held_out_elpd_table_sums_and_standard_errors():
    """``lfo_table`` against sums and standard errors computed here, with the preference rule."""
    rng = np.random.default_rng(207)
    good = {"loss": rng.normal(-1.0, 0.3, 40), "pruning": rng.normal(-2.0, 0.3, 5)}
    poor = {"loss": good["loss"] - 0.5 + rng.normal(0.0, 0.1, 40), "pruning": good["pruning"]}
    only_loss = {"loss": good["loss"] + 0.01}  # chinchilla-like: predicts loss only
    table = compare.lfo_table({"poor": poor, "good": good}, "t > 1e4")
    assert list(table["models"]) == ["good", "poor"] and table["records"] == 45
    assert table["kinds"] == ["loss", "pruning"]
    v_good = np.concatenate([good["loss"], good["pruning"]])
    v_poor = np.concatenate([poor["loss"], poor["pruning"]])
    row = table["models"]["poor"]
    assert row["elpd_lfo"] == pytest.approx(v_poor.sum())
    assert row["se_lfo"] == pytest.approx(np.sqrt(45 * np.var(v_poor, ddof=1)))
    assert row["elpd_lfo_diff"] == pytest.approx(v_poor.sum() - v_good.sum())
    assert row["dse_lfo"] == pytest.approx(np.sqrt(45 * np.var(v_poor - v_good, ddof=1)))
    assert table["preferred"] == "good" and "held out by 't > 1e4'" in table["sentence"]
    # negative control: a model against a copy of itself shows no preference
    same = compare.lfo_table({"a": good, "b": dict(good)}, "t > 1e4")
    assert same["preferred"] is None and "no clear preference" in same["sentence"]
    # models predicting different kinds are compared on the kinds they share
    mixed = compare.lfo_table({"good": good, "chinchilla": only_loss}, "t > 1e4")
    assert mixed["kinds"] == ["loss"] and mixed["records"] == 40


def test_compare_holdout_fits_the_rest_and_scores_the_held_out_rows(tmp_path, monkeypatch):
    """``--holdout``: every model is fitted without the held-out rows, which are then scored."""
    data = _loss_csv(tmp_path / "loss.csv")
    fitted, scored = [], []
    rng = np.random.default_rng(208)

    def fake_run(records, *, settings, **_):
        fitted.append(sorted(records.table["t"]))
        return fake_fit(rng, kinds=("loss",), draws=100), {}

    def fake_lpd(dt, held):
        scored.append(sorted(held.table["t"]))
        return {"loss": np.full(len(held.table), -1.0 - len(scored))}

    monkeypatch.setattr(workflow, "run_model", fake_run)
    monkeypatch.setattr(workflow, "log_predictive_density", fake_lpd)
    result = workflow.compare_models(data, models=["gsf"], gs=["monomial", "ntk"],
                                     holdout="t > 1000")
    t = np.logspace(1, 4, 8)
    assert fitted == [sorted(float(f"{x:g}") for x in t if x <= 1000)] * 2
    assert scored == [sorted(float(f"{x:g}") for x in t if x > 1000)] * 2
    lfo = result["holdout"]
    assert lfo["records"] == 3 and lfo["expr"] == "t > 1000"
    assert lfo["models"]["gsf/monomial"]["elpd_lfo"] == pytest.approx(-6.0)
    assert "leave-future-out" in compare.format_table(result)
    with pytest.raises(InputError, match="selects no rows"):
        workflow.compare_models(data, models=["gsf"], gs=["monomial", "ntk"], holdout="t > 1e9")


def test_leave_one_run_out_matches_the_exact_leave_one_group_out(good):
    """PSIS on each run's joint log-likelihood against the closed form of the linear fake.

    The fake's loss records regrouped into ten runs of three (each run spans both model
    sizes); the exact leave-one-group-out predictive of the flat-prior linear model with known
    noise is ``z_g | z_-g ~ N(X_g b_-g, sigma^2 (I + X_g (X_-g' X_-g)^-1 X_g'))``.
    """
    from fakes import SIGMA, design
    from scipy import stats

    tree = good.copy()
    runs = np.array([f"r{i % 10}" for i in range(30)])
    const = tree["constant_data"].to_dataset()
    tree["constant_data"] = const.assign(loss_run=(const["loss_run"].dims, runs))
    result = compare.leave_run_out(tree, ["loss"])
    assert result["runs"] == [f"r{i}" for i in range(10)]
    X = design("loss")
    z = np.log(np.asarray(good["observed_data"]["loss"].values, dtype=float))

    def exact(assignment):
        out = []
        for name in dict.fromkeys(assignment):
            g = assignment == name
            inv = np.linalg.inv(X[~g].T @ X[~g])
            mean = X[g] @ inv @ X[~g].T @ z[~g]
            cov = SIGMA**2 * (np.eye(g.sum()) + X[g] @ inv @ X[g].T)
            out.append(stats.multivariate_normal(mean, cov).logpdf(z[g]))
        return np.array(out)

    assert np.all(result["pareto_k"] < result["good_k"])
    np.testing.assert_allclose(result["elpd_i"], exact(runs), atol=0.1)
    # negative control: other runs of three (consecutive records) have other values
    other = np.array([f"r{i // 3}" for i in range(30)])
    assert np.max(np.abs(result["elpd_i"] - exact(other))) > 1.0


def test_compare_cv_run_refits_runs_whose_pareto_k_is_high(tmp_path, monkeypatch):
    """``--cv run``: PSIS per run where k is low, an exact refit without the run where high."""
    data = tmp_path / "two.csv"
    t = np.logspace(1, 4, 6)
    rows = ["kind,run,t,params,loss"]
    rows += [f"loss,{r},{x:g},{p},{1 + 3 * x**-0.5:.6g}" for r, p in (("a", "1e6"), ("b", "1e7"))
             for x in t]
    data.write_text("\n".join(rows) + "\n")
    rng = np.random.default_rng(209)
    fitted, predicted = [], []

    def fake_run(records, *, settings, **_):
        fitted.append((settings.g, sorted(set(records.table["run"]))))
        return fake_fit(rng, kinds=("loss",), draws=100), {}

    def fake_psis(dt, kinds):
        return {"runs": ["a", "b"], "elpd_i": np.array([-3.0, -4.0]),
                "pareto_k": np.array([0.2, 0.9]), "good_k": 0.7}

    def fake_density(dt, held):
        predicted.append(sorted(set(held.table["run"])))
        return {"loss": np.log(np.full((50, len(held.table)), 0.5))}

    monkeypatch.setattr(workflow, "run_model", fake_run)
    monkeypatch.setattr(workflow, "leave_run_out", fake_psis)
    monkeypatch.setattr(workflow, "log_density_draws", fake_density)
    result = workflow.compare_models(data, models=["gsf"], gs=["monomial", "ntk"], cv="run")
    logo = result["cv_run"]
    # the high-k run of each model refitted without it, its records scored jointly
    assert fitted[2:] == [("monomial", ["a"]), ("ntk", ["a"])]
    assert predicted == [["b"], ["b"]]
    for row in logo["models"].values():
        assert row["refitted"] == ["b"] and row["pareto_k_bad"] == 1
        assert row["elpd_logo"] == pytest.approx(-3.0 + 6 * np.log(0.5))
    assert "leave-one-run-out" in compare.format_table(result)
    with pytest.raises(InputError, match="--cv"):
        workflow.compare_models(data, models=["gsf"], gs=["monomial", "ntk"], cv="group")
