"""Adapter for OPT validation perplexity along training (``colpret_opt_trajectories``).

Xia et al. (2022) evaluated intermediate OPT checkpoints; IBM ColPret tabulated them with
log10(tokens) and log10(FLOP). Following ColPret, tokens are recomputed as optimizer steps times
the OPT batch size of each model size, and the file's ``num_token`` is used only as a cross-check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gsf_infer.sources._base import (
    COLPRET_COMMIT,
    Adapter,
    Converted,
    RawFile,
)

FILE = "opt_trajectories.csv"

#: OPT batch size in tokens per optimizer step, by model size (Zhang et al. 2022, arXiv:2205.01068,
#: Table 1: 125M/350M 0.5M, 1.3B/2.7B 1M, 6.7B 2M, 13B/30B 4M, 66B/175B 2M; "M" read as 10^6).
BATCH_TOKENS: dict[str, float] = {
    "125m": 0.5e6,
    "350m": 0.5e6,
    "1.3b": 1e6,
    "2.7b": 1e6,
    "6.7b": 2e6,
    "13b": 4e6,
    "30b": 4e6,
    "66b": 2e6,
    "175b": 2e6,
}


def params_from_label(label: str) -> float:
    """Parameter count from a size label such as ``125m``, ``1.3b`` or ``2.8B``.

    Raises
    ------
    ValueError
        If the label is not a number followed by ``m`` or ``b``.
    """
    text = label.strip().lower()
    scale = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}.get(text[-1:])
    if scale is None:
        raise ValueError(f"size label {label!r} does not end in k, m, b or t")
    return float(text[:-1]) * scale


def convert(paths: Sequence[Path], options: Mapping[str, str]) -> Converted:
    """Convert ``opt_trajectories.csv`` to ``loss`` curves over tokens."""
    (path,) = paths
    raw = RawFile.csv(path, ["model_size", "steps", "ppl"])
    steps = raw.number("steps")
    ppl = raw.number("ppl", positive=True)
    log_tok = raw.optional("num_token")
    log_flop = raw.optional("flops")
    size = raw["model_size"].str.strip().str.lower()
    batch = size.map(BATCH_TOKENS)
    params = []
    for label in size:
        try:
            params.append(params_from_label(label))
        except ValueError:
            params.append(np.nan)
    raw.flag(
        ~size.isin(list(BATCH_TOKENS)).to_numpy(),
        "unknown OPT size (no batch size known); known: " + ", ".join(BATCH_TOKENS),
        "model_size",
        raw["model_size"],
    )
    raw.check()
    params = np.asarray(params)
    tokens = steps * batch.astype(float)
    model = raw["model_name"].str.strip() if "model_name" in raw else "OPT"
    frame = raw.located(
        {
            "kind": "loss",
            "run": model + "-" + size,
            "group": "opt",
            "t": tokens,
            "params": params,
            "compute": 6.0 * params * tokens,
            "loss": np.log(ppl),
            "model_size": size,
            "optimizer_step": steps,
            "batch_tokens": batch.astype(float),
            "ppl": ppl,
        }
    )
    notes = [
        "loss = ln(ppl) (validation perplexity -> nats/token)",
        "t = tokens = steps x OPT batch size per model size (125m 0.5M, 1.3b 1M, 6.7b 2M, 13b 4M, "
        "30b 4M, 175b 2M tokens/step; OPT paper Table 1), as ColPret recomputes them",
        "params = the size label (125m -> 1.25e8, ..., 175b -> 1.75e11); compute = 6 * params * t",
        "raw steps -> optimizer_step; ppl kept; raw num_token and flops (log10 values) kept as "
        "log10_tokens_reported and log10_flops_reported",
    ]
    checks: dict[str, str] = {}
    if log_tok is not None:
        frame["log10_tokens_reported"] = log_tok
        rel = np.abs(tokens / 10.0**log_tok - 1.0)
        checks["tokens_vs_10**num_token_max_rel_diff"] = f"{np.nanmax(rel):.3g}"
        per_size = pd.Series(tokens / 10.0**log_tok).groupby(size.to_numpy()).median()
        checks["tokens_over_10**num_token_by_size"] = ", ".join(
            f"{k} {v:.6f}" for k, v in per_size.items()
        )
    if log_flop is not None:
        frame["log10_flops_reported"] = log_flop
        rel = np.abs(frame["compute"] / 10.0**log_flop - 1.0)
        checks["compute_vs_10**flops_max_rel_diff"] = f"{np.nanmax(rel):.3g}"
    caveats = [
        "params are the nominal size labels, not exact parameter counts",
        "batch sizes read as 0.5e6..4e6 tokens; if OPT's 'M' meant 2^20, every t would be 4.86% "
        "larger (a constant factor: exponents unchanged)",
        "the validation perplexity is the Xia et al. evaluation set, not the OPT training loss",
    ]
    return Converted(
        frame=frame, notes=notes, counts={"rows_in": len(raw)}, caveats=caveats, checks=checks
    )


ADAPTER = Adapter(
    name="colpret_opt_trajectories",
    folder="colpret_opt_trajectories",
    title="OPT 125M-175B validation perplexity along training (Xia et al. 2022 via ColPret)",
    origin=f"GitHub IBM/ColPret, aggregated_eval/opt_trajectories.csv, {COLPRET_COMMIT}",
    license="MIT (IBM/ColPret)",
    citation="Xia, Artetxe, Zhou, Lin, Pasunuru, Chen, Zettlemoyer, Stoyanov. Training "
    "Trajectories of Language Models Across Scales. ACL 2023, arXiv:2212.09803; aggregation: "
    "Choshen et al. arXiv:2410.11840",
    options=(),
    files=FILE,
    convert=convert,
)
