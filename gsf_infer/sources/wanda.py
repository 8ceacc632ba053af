"""Adapter for a reproduction of Wanda vs magnitude pruning (``wanda_repro_pruning``).

WikiText-2 perplexity of Llama-2-7B and Llama-3.1-8B after unstructured pruning at 30/50/70%
sparsity, with the dense model as reference. There is one training stage (the released model),
so every record of a model carries the same ``t``: that model's pre-training token count. The
dense rows become the reference (``delta_loss = ln ppl - ln ppl_dense``), not records; a missing
perplexity is reported, not silently skipped. Per-layer achieved sparsities, when their file sits
beside the perplexities, give ``sparsity_achieved``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gsf_infer.errors import InputError, Problem
from gsf_infer.sources._base import Adapter, Converted, Option, RawFile, merge

MODELS = ("llama2", "llama3")


def llama_param_count(vocab: int, d_model: int, n_layers: int, ffn: int, kv_dim: int) -> int:
    """Parameter count of a Llama decoder (untied embeddings, RMSNorm weights, no biases).

    Per layer: q and o projections 2 d^2, k and v 2 d kv_dim, SwiGLU MLP 3 d ffn, two norms 2 d;
    plus input and output embeddings 2 vocab d and the final norm d.
    """
    per_layer = 2 * d_model * d_model + 2 * d_model * kv_dim + 3 * d_model * ffn + 2 * d_model
    return n_layers * per_layer + 2 * vocab * d_model + d_model


#: Model name in the file -> (params, pre-training tokens, sources).
MODEL_FACTS: dict[str, tuple[int, float, str]] = {
    "Llama-2-7b-hf": (
        llama_param_count(32000, 4096, 32, 11008, 4096),
        2.0e12,
        "Llama 2 paper (arXiv:2307.09288): 2.0T pre-training tokens; params from the HF config "
        "(vocab 32000, d 4096, 32 layers, ffn 11008, MHA)",
    ),
    "Llama-3.1-8B": (
        llama_param_count(128256, 4096, 32, 14336, 1024),
        15e12,
        "Llama 3.1 model card: ~15T+ pre-training tokens; params from the HF config (vocab "
        "128256, d 4096, 32 layers, ffn 14336, 8 KV heads)",
    ),
}


def _layer_file(ppl_path: Path) -> Path:
    return ppl_path.with_name(ppl_path.name.replace("perplexity_results_", "layer_sparsity_"))


def _one_name(path: Path, model: pd.Series) -> str:
    """Return the one model a perplexity table is about (its facts must be known)."""
    names = set(model)
    if len(names) != 1:
        raise InputError(
            Problem(
                str(path),
                "expected one model per file, found " + ", ".join(sorted(names)),
                column="Model",
            )
        )
    (name,) = names
    if name not in MODEL_FACTS:
        raise InputError(
            Problem(
                str(path),
                "unknown model (no parameter / token count known); "
                "known: " + ", ".join(MODEL_FACTS),
                column="Model",
                value=name,
            )
        )
    return name


def _one_model(path: Path, sparsity_from: str) -> Converted:
    raw = RawFile.csv(path, ["Model", "Method", "Perplexity"])
    ppl = raw.number("Perplexity", allow_empty=True, positive=True)
    raw.check()
    model = raw["Model"].str.strip()
    method = raw["Method"].str.strip()
    name = _one_name(path, model)
    dense = (method == "dense").to_numpy()
    if dense.sum() != 1 or not np.isfinite(ppl[dense]).all():
        raise InputError(
            Problem(
                str(path),
                "needs exactly one dense row with a perplexity (the reference of delta_loss)",
                column="Method",
            )
        )
    ppl_dense = float(ppl[dense].iloc[0])
    pattern = re.compile(r"([A-Za-z]+)_(\d+)")
    label = method.map(lambda m: pattern.fullmatch(m))
    parsed = label.map(lambda m: m is not None).to_numpy(dtype=bool)
    raw.flag(~dense & ~parsed, "method label is not <method>_<percent>", "Method", method)
    raw.check()
    family = label.map(lambda m: m.group(1) if m else "dense")
    nominal = label.map(lambda m: int(m.group(2)) / 100.0 if m else 0.0).astype(float)

    empty = ~dense & ppl.isna().to_numpy()
    keep = ~dense & ~empty
    params, tokens, _ = MODEL_FACTS[name]
    frame = raw.located(
        {
            "kind": "pruning",
            "run": model + "/" + family,
            "group": model,
            "t": tokens,
            "params": float(params),
            "sparsity": nominal,
            "delta_loss": np.log(ppl.where(ppl > 0)) - np.log(ppl_dense),
            "model": model,
            "method": family,
            "sparsity_nominal": nominal,
            "ppl": ppl,
            "ppl_dense": ppl_dense,
        }
    )
    notes, checks = _add_achieved(frame, raw, name, method, keep, sparsity_from)
    dropped = [f"{name} {m}" for m in method[empty]]
    counts = {
        f"rows_in_{path.name}": len(raw),
        f"dense_reference_{path.name}": int(dense.sum()),
        f"dropped_empty_perplexity_{path.name}": int(empty.sum()),
    }
    notes.insert(
        0,
        f"{path.name}: {len(raw)} rows; dense row (ppl {ppl_dense:.4f}) used as the "
        "reference and not written as a record"
        + (
            f"; {', '.join(dropped)}: perplexity EMPTY in the source (NaN in the run), "
            "no record written"
            if dropped
            else ""
        ),
    )
    return Converted(frame[keep].reset_index(drop=True), notes, counts, checks=checks)


def _add_achieved(
    frame: pd.DataFrame,
    raw: RawFile,
    name: str,
    method: pd.Series,
    keep: np.ndarray,
    sparsity_from: str,
) -> tuple[list[str], dict[str, str]]:
    """Add ``sparsity_achieved`` from the per-layer file beside the perplexities, if there is one.

    With ``sparsity_from == "achieved"`` it replaces ``sparsity`` and the file must exist and
    cover every kept record. Returns the notes and checks of the per-layer file.
    """
    notes: list[str] = []
    checks: dict[str, str] = {}
    layer_path = _layer_file(raw.path)
    if layer_path.exists():
        achieved, lnotes, lchecks = _achieved(layer_path, name)
        frame["sparsity_achieved"] = method.map(achieved).astype(float)
        notes += lnotes
        checks.update(lchecks)
        if sparsity_from == "achieved":
            missing = keep & frame["sparsity_achieved"].isna().to_numpy()
            for i in np.flatnonzero(missing):
                raw.problems.append(
                    Problem(
                        str(layer_path),
                        "no per-layer sparsities for this configuration",
                        None,
                        "Configuration",
                        method.iloc[i],
                    )
                )
            raw.check()
            frame["sparsity"] = frame["sparsity_achieved"]
    elif sparsity_from == "achieved":
        raise InputError(
            Problem(
                str(layer_path),
                "sparsity=achieved needs the per-layer file beside the perplexities",
            )
        )
    return notes, checks


def _achieved(path: Path, model: str) -> tuple[dict[str, float], list[str], dict[str, str]]:
    """Mean achieved sparsity per configuration over the (equal-sized) decoder layers."""
    raw = RawFile.csv(path, ["Model", "Configuration", "Layer", "Sparsity"])
    sparsity = raw.number("Sparsity")
    raw.check()
    conf = raw["Configuration"].str.strip()
    mean = sparsity.groupby(conf.to_numpy()).mean()
    nominal = conf.map(lambda c: int(c.rsplit("_", 1)[1]) / 100.0 if "_" in c else np.nan)
    dev = (sparsity - nominal).abs()
    outliers = raw.frame[(dev > 0.05).to_numpy()]
    notes = [
        f"{path.name}: sparsity_achieved = mean over {raw['Layer'].nunique()} decoder layers "
        "of the achieved per-layer sparsity (layers have equal size)"
    ]
    if len(outliers):
        notes.append(
            f"{path.name}: layers more than 5 points off their nominal sparsity: "
            + ", ".join(
                f"{model} {c} layer {lay} at {float(s):.3f}"
                for c, lay, s in zip(
                    outliers["Configuration"],
                    outliers["Layer"],
                    sparsity[outliers.index],
                    strict=True,
                )
            )
        )
    checks = {f"sparsity_achieved_{model}": ", ".join(f"{k} {v:.4f}" for k, v in mean.items())}
    return mean.to_dict(), notes, checks


def convert(paths: Sequence[Path], options: Mapping[str, str]) -> Converted:
    """Convert one or both perplexity tables to ``pruning`` records."""
    out = merge(
        [_one_model(path, options["sparsity"]) for path in paths],
        ("rows_in", "dense_reference", "dropped_empty_perplexity"),
    )
    out.notes += [
        "kind pruning: delta_loss = ln(ppl) - ln(ppl_dense) (WikiText-2 test perplexity -> "
        "nats/token), sparsity = "
        + (
            "the method label's nominal fraction (0.3 / 0.5 / 0.7)"
            if options["sparsity"] == "nominal"
            else "the achieved mean over layers"
        ),
        "one training stage (the released model, no training-progress axis): t = the model's "
        "pre-training tokens (Llama-2-7B 2.0e12, Llama-3.1-8B 1.5e13), constant within a model",
        "params: Llama-2-7B 6,738,415,616; Llama-3.1-8B 8,030,261,248 (from their configurations)",
        "run = <model>/<method>, group = model; model, method, sparsity_nominal, ppl, "
        "ppl_dense kept",
    ]
    out.caveats = [
        "too small to identify much: at most 12 records, 2-3 sparsities per run, one training "
        "stage, one seed; a smoke test of the pruning likelihood (e.g. magnitude degrades "
        "faster than Wanda), not a held-out test",
        "Llama-3.1-8B magnitude_70 has ppl ~2.6e5 (delta_loss ~10.7 nats): the model is "
        "destroyed, far outside any small-perturbation regime",
        "student reproduction: no licence file, numbers not cross-checked against the Wanda paper",
    ]
    return out


ADAPTER = Adapter(
    name="wanda_repro_pruning",
    folder="wanda_repro_pruning",
    title="Llama-2-7B / Llama-3.1-8B WikiText-2 perplexity after magnitude vs Wanda pruning "
    "at 30/50/70% sparsity (one training stage)",
    origin="GitHub tweizy/wanda-prunning-experiment, results_llama{2,3}/perplexity_results.csv "
    "and layer_sparsity.csv, commit 68f491866dfec51c442871db3efc59cce5ad07aa (renamed with "
    "_llama2/_llama3 suffixes)",
    license="no licence file in the source repository (README shows an MIT badge); numeric "
    "measurements shipped as facts-only data with attribution",
    citation="Reproduction (tweizy/wanda-prunning-experiment) of Sun, Liu, Bair, Kolter. A "
    "Simple and Effective Pruning Approach for Large Language Models (Wanda). arXiv:2306.11695",
    options=(
        Option("model", "both", "llama2, llama3 or both", ("both", *MODELS)),
        Option(
            "sparsity",
            "nominal",
            "nominal: from the method label; achieved: mean over layers from layer_sparsity_*.csv",
            ("nominal", "achieved"),
        ),
    ),
    files={m: f"perplexity_results_{m}.csv" for m in MODELS},
    convert=convert,
    picked_by="model",
    every="both",
)
