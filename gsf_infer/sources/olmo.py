"""Adapter for OLMo-1B / 7B / 7B-Twin-2T validation losses over training (``colpret_olmo``).

ColPret's W&B export has one row per (model, step) and 35 ``*-validation/CrossEntropyLoss``
columns, logged at different steps and under different names per model (OLMo-1B's evaluation sets
are prefixed ``v2-small-`` / ``v3-small-``; the 7B runs log the same v2 sets without prefix). The
adapter picks one validation set, resolves it to each model's column, drops the empty cells of that
column and counts them per model, and converts steps to tokens with each model's batch size.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gsf_infer.errors import InputError, Problem
from gsf_infer.sources._base import COLPRET_COMMIT, Adapter, Converted, Option, RawFile

FILE = "olmo.csv"
SUFFIX = "-validation/CrossEntropyLoss"


def olmo_param_count(
    d_model: int, n_layers: int, ff_hidden: int, embedding_size: int, tied: bool
) -> int:
    """Parameter count of an OLMo-1 transformer from its configuration.

    Attention (q, k, v, o without biases): 4 d^2 per layer. SwiGLU MLP: ``ff_proj`` d x ff_hidden
    (both gates) and ``ff_out`` (ff_hidden / 2) x d. Layer norms have no parameters (OLMo-1 uses
    non-parametric layer norm). Embedding ``embedding_size`` x d, counted twice if not tied.

    Parameters
    ----------
    d_model, n_layers, ff_hidden, embedding_size : int
        From the official configuration files (``configs/official/OLMo-*.yaml``).
    tied : bool
        Whether input and output embeddings share weights.

    Returns
    -------
    int
        Number of parameters.
    """
    per_layer = 4 * d_model * d_model + d_model * ff_hidden + (ff_hidden // 2) * d_model
    embeddings = embedding_size * d_model * (1 if tied else 2)
    return n_layers * per_layer + embeddings


#: Model -> (parameter count, tokens per optimizer step, where the numbers come from).
MODELS: dict[str, tuple[int, int, str]] = {
    "OLMo-1B": (
        olmo_param_count(2048, 16, 16384, 50304, tied=True),
        2048 * 2048,
        "configs/official/OLMo-1B.yaml: d_model 2048, 16 layers, mlp_ratio 8, tied embeddings "
        "(50304); global_train_batch_size 2048 x sequence 2048 = 4,194,304 tokens/step "
        "(739,328 steps = 3.1T tokens; HF revision step738000-tokens3095B)",
    ),
    "OLMo-7B": (
        olmo_param_count(4096, 32, 22016, 50304, tied=False),
        2160 * 2048,
        "configs/official/OLMo-7B.yaml: d_model 4096, 32 layers, mlp_hidden_size 22016, untied "
        "embeddings (50304); 2160 x 2048 = 4,423,680 tokens/step (as the checkpoint revision "
        "names in the file imply, e.g. step556000-tokens2460B)",
    ),
    "OLMo-7B-Twin-2T": (
        olmo_param_count(4096, 32, 22016, 50304, tied=False),
        2160 * 2048,
        "same architecture and batch as OLMo-7B, trained to 2T tokens on other hardware",
    ),
}

DEFAULT_SET = "mc4_en"


def resolve_column(model: str, choice: str, columns: Sequence[str]) -> str | None:
    """Find the column holding validation set ``choice`` for ``model`` (``None`` if absent).

    ``choice`` is either an exact column name (used for every model) or a validation-set name
    such as ``mc4_en``: OLMo-1B reads ``v2-small-<set>-validation/CrossEntropyLoss``, the 7B
    models ``<set>-validation/CrossEntropyLoss`` (the same v2 evaluation sets, logged without
    prefix).
    """
    if "/" in choice:
        return choice if choice in columns else None
    name = f"v2-small-{choice}{SUFFIX}" if model == "OLMo-1B" else f"{choice}{SUFFIX}"
    return name if name in columns else None


def available_sets(columns: Sequence[str]) -> list[str]:
    """Validation-set names that resolve to a column for at least one model."""
    sets = set()
    for col in columns:
        if col.endswith(SUFFIX):
            base = col[: -len(SUFFIX)]
            sets.add(base.removeprefix("v2-small-"))
    return sorted(s for s in sets if not s.startswith("v3-small-"))


def _validation_loss(
    raw: RawFile, model: pd.Series, choice: str
) -> tuple[pd.Series, dict[str, str | None]]:
    """Each row's loss on validation set ``choice`` (NaN where empty), and each model's column.

    Raises
    ------
    InputError
        If a cell is not a number, or no model has a column for ``choice``.
    """
    loss = pd.Series(np.nan, index=raw.frame.index)
    used: dict[str, str | None] = {}
    for name in dict.fromkeys(model):
        col = resolve_column(name, choice, list(raw.columns))
        used[name] = col
        if col is not None:
            rows = (model == name).to_numpy()
            loss[rows] = raw.number(col, allow_empty=True, rows=rows).to_numpy()
    raw.check()
    if all(c is None for c in used.values()):
        raise InputError(
            Problem(
                str(raw.path),
                f"no column for validation set '{choice}'; "
                "available sets: "
                + ", ".join(available_sets(raw.columns))
                + " (or give an exact column name)",
            )
        )
    return loss, used


def convert(paths: Sequence[Path], options: Mapping[str, str]) -> Converted:
    """Convert ``olmo.csv`` to one ``loss`` curve per model for the chosen validation set."""
    (path,) = paths
    raw = RawFile.csv(path, ["Step", "model_name"])
    choice = options["column"]
    t_unit = options["t"]
    model = raw["model_name"].str.strip()
    trailing = int((raw["model_name"] != model).sum())
    unknown = sorted(set(model) - set(MODELS))
    if unknown:
        raise InputError(
            Problem(
                str(path),
                "unknown OLMo model(s) " + ", ".join(unknown) + "; known: " + ", ".join(MODELS),
                column="model_name",
            )
        )
    step = raw.number("Step")
    raw.check()

    loss, used = _validation_loss(raw, model, choice)

    keep = loss.notna().to_numpy()
    per_model_rows = model.value_counts(sort=False)
    per_model_kept = model[keep].value_counts(sort=False)
    dropped = {m: int(per_model_rows[m] - per_model_kept.get(m, 0)) for m in per_model_rows.index}

    params = model.map(lambda m: float(MODELS[m][0]))
    tps = model.map(lambda m: float(MODELS[m][1]))
    t = step * tps if t_unit == "tokens" else step
    frame = raw.located(
        {
            "kind": "loss",
            "run": model,
            "group": "olmo",
            "t": t,
            "params": params,
            "loss": loss,
            "optimizer_step": step,
            "tokens_per_step": tps,
            "num_params_label": raw["num_params"].str.strip() if "num_params" in raw else "",
            "loss_column": model.map(lambda m: used[m] or ""),
        }
    )[keep].reset_index(drop=True)

    checks, implied = _check_revisions(raw.frame, model, step)
    notes = [
        f"validation set '{choice}': "
        + "; ".join(f"{m} <- {c if c else 'NO SUCH COLUMN'}" for m, c in used.items()),
        "loss = that column (cross-entropy, nats/token); rows where it is empty are dropped: "
        + ", ".join(f"{m} {n} of {per_model_rows[m]}" for m, n in dropped.items()),
        (
            "t = tokens = Step x tokens per step (OLMo-1B 4,194,304; OLMo-7B and 7B-Twin-2T "
            "4,423,680)"
            if t_unit == "tokens"
            else "t = Step (optimizer steps; NOTE OLMo-1B takes 4,194,304 tokens per step, the 7B "
            "models 4,423,680)"
        ),
        "params: OLMo-1B 1,176,764,416; OLMo-7B and 7B-Twin-2T 6,888,095,744 (counted from the "
        "official configurations, not the '1B'/'7B' labels)",
        "points per model: "
        + ", ".join(
            f"{m} {len(g)} (steps {g['optimizer_step'].min():.0f}..{g['optimizer_step'].max():.0f})"
            for m, g in frame.groupby("run", sort=False)
        ),
        "other evaluation columns (the other cross-entropy sets, perplexities, downstream "
        "accuracies, checkpoint) are not carried; Step -> optimizer_step",
    ]
    if trailing:
        notes.append(f"model_name had trailing spaces in {trailing} rows ('OLMo-1B '); stripped")
    caveats = [
        "OLMo-1B evaluates the v2-small copies of the sets; the 7B runs log sets of the same "
        "names without prefix: treat cross-size comparisons of absolute loss with care",
    ]
    caveats += _revision_caveats(implied)
    counts = {"rows_in": len(raw)}
    for m, n in dropped.items():
        counts[f"dropped_empty_{m}"] = n
    return Converted(frame=frame, notes=notes, counts=counts, caveats=caveats, checks=checks)


def _revision_caveats(implied: Mapping[str, float]) -> list[str]:
    """Return a caveat for each model whose revision names imply another batch than configured."""
    caveats = []
    for name, value in implied.items():
        if abs(value / MODELS[name][1] - 1.0) > 0.01:
            caveats.append(
                f"{name}: the checkpoint revision names in the file imply {value:,.0f} tokens per "
                f"step, not the configuration's {MODELS[name][1]:,}; for OLMo-1B they are the "
                "7B's revision names (they stop at step 557000 and match 2160 x 2048 tokens per "
                "step; the 1B's own revisions read e.g. step738000-tokens3095B), so the adapter "
                "keeps the configuration's batch"
            )
    return caveats


def _check_revisions(
    raw: pd.DataFrame, model: pd.Series, step: pd.Series
) -> tuple[dict[str, str], dict[str, float]]:
    """Compare the adapter's tokens per step with the tokens in the checkpoint revision names.

    Returns the checks in words and, per model, the median tokens per step the revision names
    imply (steps >= 10000 only, where rounding to whole billions of tokens is below 0.03%).
    """
    if "checkpoint" not in raw.columns:
        return {}, {}
    pattern = re.compile(r"step(\d+)-tokens(\d+)B")
    ratio = pd.Series(np.nan, index=raw.index)
    for i, text in enumerate(raw["checkpoint"]):
        if not text:
            continue
        try:
            revision = str(ast.literal_eval(text).get("revision", ""))
        except (ValueError, TypeError, SyntaxError, AttributeError, MemoryError, RecursionError):
            continue
        match = pattern.fullmatch(revision)
        if match and float(match.group(1)) == step.iloc[i] and step.iloc[i] >= 10000:
            ratio.iloc[i] = float(match.group(2)) * 1e9 / step.iloc[i]
    checks = {}
    implied = {}
    for name in dict.fromkeys(model):
        r = ratio[(model == name).to_numpy()].dropna()
        if r.empty:
            checks[f"revision_tokens_per_step_{name}"] = "no revision names"
            continue
        implied[name] = float(r.median())
        used = MODELS[name][1]
        checks[f"revision_tokens_per_step_{name}"] = (
            f"{implied[name]:,.0f} from {len(r)} revision names (steps >= 10000) vs {used:,} used "
            f"({implied[name] / used - 1:+.2%})"
        )
    return checks, implied


ADAPTER = Adapter(
    name="colpret_olmo",
    folder="colpret_olmo",
    title="OLMo-1B / 7B / 7B-Twin-2T validation loss over training steps (W&B export via ColPret)",
    origin=f"GitHub IBM/ColPret, aggregated_eval/olmo.csv, {COLPRET_COMMIT} (from the public OLMo "
    "W&B logs)",
    license="MIT (IBM/ColPret); OLMo artefacts Apache-2.0 (AI2)",
    citation="Groeneveld et al. OLMo: Accelerating the Science of Language Models. "
    "arXiv:2402.00838 (2024); aggregation: Choshen et al. arXiv:2410.11840",
    options=(
        Option(
            "column",
            DEFAULT_SET,
            "validation set (e.g. mc4_en, wikitext_103, c4_en, pile, ptb; resolved per model) or "
            "an exact '*-validation/CrossEntropyLoss' column name; default mc4_en, one of the sets "
            "logged for all three models",
        ),
        Option(
            "t", "tokens", "tokens: t = Step x tokens per step; step: t = Step", ("tokens", "step")
        ),
    ),
    files=FILE,
    convert=convert,
)
