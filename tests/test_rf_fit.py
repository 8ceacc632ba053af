"""A fit of ``simulate rf`` output recovers the truth of a system that actually learns.

Reference: the random-feature model's known truth (``b`` of its input spectrum, ``rho = 1`` of
gradient descent on a linear model; derivation in ``gsf_infer/simulate/rf/truth.py``). Also: the fit
takes the pruning metric a records file declares (``simulate rf`` declares ``function``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gsf_infer.data.records import records_from_frame
from gsf_infer.inference.datatree import read_attrs
from gsf_infer.output import artifacts
from gsf_infer.simulate import rf
from gsf_infer.workflow.fit import fit
from gsf_infer.workflow.resolve import resolve_pruning_metric


def _records(provenance):
    frame = pd.DataFrame(
        {
            "kind": ["pruning"] * 3,
            "t": [10, 100, 1000],
            "sparsity": [0.5, 0.5, 0.5],
            "delta_loss": [0.1, 0.2, 0.3],
        }
    )
    return records_from_frame(frame, provenance=provenance)


def test_the_fit_takes_the_pruning_metric_the_data_declare():
    assert resolve_pruning_metric(None, _records({"pruning_metric": "function"})) == "function"
    assert resolve_pruning_metric(None, _records({"pruning_metric": " Function "})) == "function"
    # the default (seed) without a declaration, and for a declaration it does not know
    assert resolve_pruning_metric(None, _records({})) == "seed"
    assert resolve_pruning_metric(None, _records({"pruning_metric": "none (magnitude)"})) == "seed"
    # an explicit request wins
    assert resolve_pruning_metric("seed", _records({"pruning_metric": "function"})) == "seed"


#: The acceptance test: the default ``simulate rf`` (seed 0, widths 128..2048) fitted with
#: shorter chains than the default ``fit``. Seeds matter (see the module docs
#: of ``gsf_infer.simulate.rf``): the realisation of one feature draw moves whole curves, and
#: the posterior can be narrower than that scatter; seed 0 is the default and is what is tested.


@pytest.mark.slow
def test_fit_of_rf_records_recovers_b_and_rho_one(tmp_path):
    settings = rf.RFSettings()
    result = rf.simulate_rf(settings, np.random.default_rng(0))
    path = artifacts.write_table(result.frame, tmp_path / "rf.csv", provenance=result.provenance)
    found = fit(path, chains=2, warmup=500, draws=500, seed=0, check_invariant=False)
    summary = found.summary
    assert read_attrs(found.dt)["model_settings"]["pruning_metric"] == "function"
    diag = summary["diagnostics"]
    assert diag["divergences"] == 0 and diag["max_r_hat"] <= 1.01, diag
    for name, truth in (("b", settings.b), ("rho", 1.0)):
        entry = summary["parameters"][name]
        assert entry["hdi_low"] <= truth <= entry["hdi_high"], (name, entry)
        # and the data decide it: the 94% HDI is narrow
        assert entry["hdi_high"] - entry["hdi_low"] < 0.1, (name, entry)
