"""Adapters for the Gemstones suite: loss curves and the authors' open-model evaluation.

``gemstones_loss_curves`` reads the training-loss curves, ``gemstones_open_models`` the
authors' evaluation of open models on their validation set.
The loss-curve files are JSON Lines, one record per (run, checkpoint); ``hot_477`` is the main,
densest file, ``hot`` a coarser copy, ``cool_end`` / ``cool_begin`` the cooldown branches. The
open-model table is cross-family (one point per model, different data and recipes); it carries no
training length, so the adapter adds each model's published pre-training token count and says
where it comes from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gsf_infer.errors import InputError, Problem
from gsf_infer.sources._base import Adapter, Converted, Option, RawFile

ORIGIN = "GitHub mcleish7/gemstone-scaling-laws, commit 5f420478f6057b0cbb4d13405fb10ca64675bccb"
LICENSE = "MIT (Copyright (c) 2025 Sean McLeish, John Kirchenbauer, ... Tom Goldstein)"
CITATION = (
    "McLeish, Kirchenbauer, Miller, Singh, Bhatele, Goldblum, Panda, Goldstein. Gemstones: A "
    "Model Suite for Multi-Faceted Scaling Laws. NeurIPS 2025, arXiv:2502.06857"
)

VARIANTS = {
    "hot_477": "constant learning rate, loss every 477 steps (~2e9 tokens)",
    "hot": "constant learning rate, loss every 2385 steps (~1e10 tokens)",
    "cool_end": "loss at the end of each cooldown (learning-rate decay) branch",
    "cool_begin": "loss at the start of each cooldown branch",
}


def convert_curves(paths: Sequence[Path], options: Mapping[str, str]) -> Converted:
    """Convert one ``wandb_df_for_fitting_*.jsonl`` file to ``loss`` curves over tokens."""
    (path,) = paths
    variant = options["variant"]
    raw = RawFile.jsonl(path, ["run_name", "params_active_precise", "tokens", "final_loss"])
    params, tokens, loss = raw.numbers("params_active_precise", "tokens", "final_loss")
    raw.check()
    frame = raw.located(
        {
            "kind": "loss",
            "run": raw["run_name"].astype(str),
            "group": "gemstones",
            "t": tokens,
            "params": params,
            "loss": loss,
        }
    )
    meta = {
        "width": "width",
        "depth": "depth",
        "step": "optimizer_step",
        "num_nodes": "num_nodes",
        "seconds_per_step": "seconds_per_step",
    }
    for src, dst in meta.items():
        if src in raw:
            frame[dst] = raw.number(src)
    raw.check()
    frame["schedule"] = variant

    # A run's parameter count must not change along its curve.
    changing = frame.groupby("run", sort=False)["params"].transform("nunique") > 1
    raw.flag(
        (changing & ~frame["run"].duplicated()).to_numpy(),
        "params_active_precise changes within the run",
        "params_active_precise",
        frame["run"],
    )
    raw.flag(
        frame.duplicated(["run", "t"], keep="first").to_numpy(),
        "a second record of the same run at the same tokens",
        "tokens",
        frame["t"],
    )
    raw.check()

    checks = {}
    if "optimizer_step" in frame.columns:
        ratio = frame["t"] / frame["optimizer_step"]
        checks["tokens_per_step"] = f"{ratio.min():.0f} .. {ratio.max():.0f}"
    sizes = frame.groupby("run", sort=False).size()
    notes = [
        f"variant {variant} ({VARIANTS.get(variant, 'file given by path')})",
        "t = tokens (tokens seen), params = params_active_precise, loss = final_loss "
        "(training loss averaged around the step, nats/token), run = run_name",
        "raw step -> optimizer_step (renamed: 'step' would be read as t); width, depth, "
        "num_nodes, seconds_per_step kept as metadata",
        f"{len(sizes)} runs with {sizes.min()}..{sizes.max()} points each",
    ]
    caveats = [
        "final_loss is a training loss (not held-out); hot files use a constant learning "
        "rate without decay, so late points sit above an annealed curve"
    ]
    if variant.startswith("cool"):
        caveats.append(
            "cooldown files: each point ends (cool_end) or starts (cool_begin) a "
            "separate learning-rate-decay branch taken from the hot run at that token "
            "count; points of one run are not one continuous training trajectory"
        )
    return Converted(frame, notes, {"rows_in": len(raw)}, caveats, checks)


def _suite(name: str, title: str, where: str, cites: str = "", **rest: Any) -> Adapter:
    """Return the adapter of one Gemstones file (at ``where``) with the suite's licence."""
    return Adapter(
        name=name,
        folder="gemstones_loss_curves",
        title=title,
        origin=f"{ORIGIN}, {where}",
        license=LICENSE,
        citation=CITATION + cites,
        **rest,
    )


CURVES = _suite(
    "gemstones_loss_curves",
    "Gemstones (McLeish et al.): 22 width x depth transformers, training loss over tokens",
    "wandb_dfs/wandb_df_for_fitting_<variant>.jsonl",
    options=(
        Option(
            "variant",
            "hot_477",
            "which curve file: " + "; ".join(f"{k}: {v}" for k, v in VARIANTS.items()),
            tuple(VARIANTS),
        ),
    ),
    files={v: f"wandb_df_for_fitting_{v}.jsonl" for v in VARIANTS},
    convert=convert_curves,
    picked_by="variant",
)


#: Published pre-training token counts of the models in ``our_val_loss_data.json`` (not in the
#: file): (tokens, where the number is stated, qualifier).
PRETRAINING_TOKENS: dict[str, tuple[float, str, str]] = {
    "google/gemma-2b": (3e12, "Gemma technical report (arXiv:2403.08295): 3T tokens", "exact"),
    "google/gemma-7b": (6e12, "Gemma technical report (arXiv:2403.08295): 6T tokens", "exact"),
    "google/gemma-2-2b": (2e12, "Gemma 2 model card: 2 trillion tokens (distilled)", "exact"),
    "google/gemma-2-9b": (8e12, "Gemma 2 model card: 8 trillion tokens (distilled)", "exact"),
    "google/gemma-2-27b": (13e12, "Gemma 2 model card: 13 trillion tokens", "exact"),
    "meta-llama/llama-2-7b-hf": (2e12, "Llama 2 paper (arXiv:2307.09288): 2.0T tokens", "exact"),
    "meta-llama/llama-2-13b-hf": (2e12, "Llama 2 paper (arXiv:2307.09288): 2.0T tokens", "exact"),
    "meta-llama/llama-2-70b-hf": (2e12, "Llama 2 paper (arXiv:2307.09288): 2.0T tokens", "exact"),
    "meta-llama/llama-3-8b": (15e12, "Llama 3 model card: over 15T tokens", "lower bound"),
    "meta-llama/llama-3.1-70b": (15e12, "Llama 3.1 model card: ~15T+ tokens", "approximate"),
    "meta-llama/llama-3.2-1b": (
        9e12,
        "Llama 3.2 model card: up to 9T tokens (pruned and distilled)",
        "upper bound",
    ),
    "meta-llama/llama-3.2-3b": (
        9e12,
        "Llama 3.2 model card: up to 9T tokens (pruned and distilled)",
        "upper bound",
    ),
    "qwen/qwen2-0.5b": (12e12, "Qwen2 technical report (arXiv:2407.10671): 12T tokens", "exact"),
    "qwen/qwen2-1.5b": (7e12, "Qwen2 technical report (arXiv:2407.10671): 7T tokens", "exact"),
    "qwen/qwen2-7b": (7e12, "Qwen2 technical report (arXiv:2407.10671): 7T tokens", "exact"),
    **{
        f"qwen/qwen2.5-{size}": (
            18e12,
            "Qwen2.5 technical report (arXiv:2412.15115): up to 18T tokens",
            "upper bound",
        )
        for size in ("0.5b", "1.5b", "3b", "7b", "14b", "32b")
    },
}


def _family(hf_name: str) -> str:
    model = hf_name.split("/")[-1].lower()
    for prefix in (
        "gemma-2-",
        "gemma-",
        "llama-2-",
        "llama-3.2-",
        "llama-3.1-",
        "llama-3-",
        "qwen2.5-",
        "qwen2-",
    ):
        if model.startswith(prefix):
            return prefix.rstrip("-")
    return model


def convert_open_models(paths: Sequence[Path], options: Mapping[str, str]) -> Converted:
    """Convert ``our_val_loss_data.json`` (column-oriented dict of lists) to ``loss`` records."""
    (path,) = paths
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(Problem(str(path), "no such file")) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(Problem(str(path), f"not a JSON file: {err}")) from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise InputError(Problem(str(path), "expected a JSON object of equal-length lists"))
    if len({len(v) for v in data.values()}) != 1:
        raise InputError(Problem(str(path), "the lists in the JSON object differ in length"))
    raw = RawFile(pd.DataFrame(data), path)  # a single JSON object: no line per record
    raw.require(["hf_name", "loss", "params"])
    loss, params = raw.numbers("loss", "params")
    raw.check()

    names = raw["hf_name"].astype(str)
    known = [PRETRAINING_TOKENS.get(n.lower()) for n in names]
    for i, (name, k) in enumerate(zip(names, known, strict=True)):
        if k is None:
            raw.problems.append(
                Problem(
                    str(path),
                    f"record {i}: no published pre-training token count known for this model",
                    column="hf_name",
                    value=name,
                )
            )
    raw.check()

    frame = raw.located(
        {
            "kind": "loss",
            "run": names,
            "group": "open_models",
            "t": [k[0] for k in known],
            "params": params,
            "loss": loss,
        }
    )
    for col in ("non_emb_params", "width", "depth", "vocab_size"):
        if col in raw:
            frame[col] = raw.number(col)
    raw.check()
    frame["family"] = [_family(n) for n in names]
    frame["t_source"] = [k[1] for k in known]
    frame["t_qualifier"] = [k[2] for k in known]
    notes = [
        "CROSS-FAMILY table: one point per open model (Gemma, Gemma 2, Llama 2/3/3.1/3.2, Qwen2, "
        "Qwen2.5), each trained on its own data with its own recipe; loss = the Gemstones "
        "authors' evaluation (nats/token) on their validation set",
        "t is NOT in the source file: the adapter adds each model's published pre-training "
        "token count (column t_source says where each number is stated, t_qualifier whether it "
        "is exact, a lower or an upper bound)",
        "params = params (all parameters, embeddings included); non_emb_params, width, depth, "
        "vocab_size, family kept as metadata",
    ]
    caveats = [
        "models differ in data, tokenizer (vocabularies 32k..256k change what nats/token "
        "means) and recipe; several are distilled (Gemma 2 2B/9B, Llama 3.2) - do not read the "
        "points as one scaling curve",
        "Gemma 2B: the report says 3T tokens, some versions of the model card say 2T",
    ]
    return Converted(frame=frame, notes=notes, counts={"rows_in": len(raw)}, caveats=caveats)


OPEN_MODELS = _suite(
    "gemstones_open_models",
    "Gemstones authors' validation loss of 21 open models (cross-family, one point each)",
    "data/our_val_loss_data.json",
    "; token counts: the model reports/cards named in column t_source",
    options=(),
    files="our_val_loss_data.json",
    convert=convert_open_models,
)
