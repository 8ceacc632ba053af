"""The fit takes the pruning metric a records file declares (``simulate rf`` declares ``function``).

The acceptance test of a fit of ``simulate rf`` output against the random-feature model's known
truth runs the example that does it (``examples/rf_recovery.py --quick``, in
``tests/test_examples.py``).
"""

from __future__ import annotations

import pandas as pd

from gsf_infer.data.records import records_from_frame
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
