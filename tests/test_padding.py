"""Records padded to a shared width: the same posterior, one compiled program for many data sets.

The padded model's potential and gradient are compared with the unpadded model's at random
points (the reference is the model of the unpadded records, built independently); the mask is
shown to be what makes them equal (negative control); and data sets of different sizes that pad
to one width are shown to share their functions, while different priors do not.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fakes import SMALL_ALL_KINDS as CONFIG

from gsf_infer.data.records import records_from_frame
from gsf_infer.model.padding import ProgramCache, padded_width, trim
from gsf_infer.model.priors import Prior, load_priors
from gsf_infer.model.settings import ModelSettings
from gsf_infer.simulate.gsf import simulate_gsf
from gsf_infer.workflow.fit import Sampler


def records(seed: int, **changes):
    frame, _ = simulate_gsf(replace(CONFIG, **changes), np.random.default_rng(seed))
    return records_from_frame(frame)


def value_and_grad(sampler: Sampler, inputs=None):
    f = jax.jit(jax.value_and_grad(sampler.fns.potential))
    return lambda z: f(z, sampler.built.inputs if inputs is None else inputs)


def points(dim: int, seed: int = 0, n: int = 5):
    return [jnp.asarray(z) for z in np.random.default_rng(seed).normal(0.0, 0.5, (n, dim))]


def test_padded_widths_bound_the_padding_and_are_few():
    widths = [padded_width(n) for n in range(1, 5001)]
    assert all(w >= max(n, 16) for n, w in zip(range(1, 5001), widths, strict=True))
    assert all(w < 1.25 * n for n, w in zip(range(17, 5001), widths[16:], strict=True))
    assert widths == sorted(widths)
    # a sweep's curves of 10 to 1,000 records need 25 programs, not one per size
    assert sorted({padded_width(n) for n in range(10, 1001)}) == [
        16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        448, 512, 640, 768, 896, 1024]


@pytest.fixture(scope="module")
def data():
    return records(7)


@pytest.mark.parametrize("model", ["gsf", "deviation"])
def test_padded_records_give_the_unpadded_potential_and_gradient(data, model):
    settings = ModelSettings(model=model)
    priors = load_priors(None)
    own = Sampler(data, settings, priors)
    padded = Sampler(data, settings, priors, programs=ProgramCache())
    targets = int(np.isfinite(own.data.kinds["spectrum"].x["target"]).sum())
    assert padded.lengths == {**{k: kd.size for k, kd in own.data.kinds.items()},
                              "spectrum_target": targets}
    assert any(padded_width(n) > n for n in padded.lengths.values())  # something is padded
    f_own, f_pad = value_and_grad(own), value_and_grad(padded)
    for z in points(own.fns.dim):
        (v1, g1), (v2, g2) = f_own(z), f_pad(z)
        assert float(v1) == pytest.approx(float(v2), rel=1e-10, abs=1e-9)
        np.testing.assert_allclose(np.asarray(g2), np.asarray(g1), rtol=1e-9, atol=1e-9)


def test_without_the_mask_the_padded_records_count(data):
    padded = Sampler(data, ModelSettings(), load_priors(None), programs=ProgramCache())
    own = Sampler(data, ModelSettings(), load_priors(None))
    unmasked = {k: v for k, v in padded.built.inputs.items() if k != "record_mask"}
    f_own, f_unmasked = value_and_grad(own), value_and_grad(padded, unmasked)
    gaps = [abs(float(f_own(z)[0]) - float(f_unmasked(z)[0])) for z in points(own.fns.dim)]
    assert min(gaps) > 1e-3


def test_data_sets_of_one_width_share_their_functions_and_stay_their_own(data):
    other = records(8, loss_points=7, spectrum_points=5)  # other sizes, other values
    cache = ProgramCache()
    priors = load_priors(None)
    first = Sampler(data, ModelSettings(), priors, programs=cache)
    second = Sampler(other, ModelSettings(), priors, programs=cache)
    assert first.lengths != second.lengths
    assert second.fns is first.fns and len(cache) == 1 and cache.hits == 1
    # the shared functions on the second data set's inputs: its own model's numbers
    alone = Sampler(other, ModelSettings(), priors)
    f_alone, f_shared = value_and_grad(alone), value_and_grad(second)
    for z in points(alone.fns.dim, seed=1):
        (v1, g1), (v2, g2) = f_alone(z), f_shared(z)
        assert float(v1) == pytest.approx(float(v2), rel=1e-10, abs=1e-9)
        np.testing.assert_allclose(np.asarray(g2), np.asarray(g1), rtol=1e-9, atol=1e-9)


def test_other_priors_or_settings_get_their_own_functions(data):
    cache = ProgramCache()
    priors = load_priors(None)
    first = Sampler(data, ModelSettings(), priors, programs=cache)
    wider = replace(priors, priors={**priors.priors,
                                    "n": Prior("LogNormal", {"loc": 0.0, "scale": 1.0})})
    assert Sampler(data, ModelSettings(), wider, programs=cache).fns is not first.fns
    assert Sampler(data, ModelSettings(g="logcorr"), priors, programs=cache).fns \
        is not first.fns
    # models that read more of their data when traced are not padded
    gp = Sampler(data, ModelSettings(discrepancy="gp"), priors, programs=cache)
    assert gp.lengths == {} and len(cache) == 3


def test_trim_cuts_the_padded_kinds_only():
    arrays = {"loss": np.arange(2 * 24).reshape(2, 24), "other": np.ones((2, 3))}
    out = trim(arrays, {"loss": 20})
    assert out["loss"].shape == (2, 20) and (out["loss"] == arrays["loss"][:, :20]).all()
    assert out["other"] is arrays["other"]


def test_a_data_set_that_cannot_be_padded_keeps_its_own_programs(data, monkeypatch):
    import gsf_infer.workflow.fit as fit_module

    def refuse(inputs, data):
        raise ValueError("loss: an input of shape (3, 2) is not per record")

    monkeypatch.setattr(fit_module, "pad_inputs", refuse)
    cache = ProgramCache()
    sampler = Sampler(data, ModelSettings(), load_priors(None), programs=cache)
    assert sampler.lengths == {} and len(cache) == 0
    assert "record_mask" not in sampler.built.inputs
