"""Adapter for the data-constrained scaling runs of Muennighoff et al. (``colpret_datablations``).

``losses`` (default): loss logged along training for 48 runs (2.8B/4.2B/8.7B parameters, c4 or
oscar, 1-44 epochs over a limited unique-token budget). The file's ``flops`` column is wrong (it
equals 6 N D_final^2 / token_num, so it decreases along a run); compute is recomputed as
6 N token_num. ``contour``: final losses of the isoFLOP grid, one point per run, where the file's
``tokens_per_epoch`` is wrong for most rows and unique tokens are recomputed as token_num / epochs.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gsf_infer.errors import InputError, Problem
from gsf_infer.sources._base import COLPRET_COMMIT, Adapter, Converted, Option, RawFile
from gsf_infer.sources.opt import params_from_label

FILES = {"losses": "datablations_losses.csv", "contour": "datablations_contour_losses.csv"}


def _dict_field(text: str, key: str) -> str:
    """``key`` of a Python-literal dict written as text (``{'tensorboard': 'w7Km...'}``)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text
    return str(value.get(key, text)) if isinstance(value, dict) else text


def _size(label: str) -> float:
    """Parameter count of a size label (NaN if it is not one)."""
    try:
        return params_from_label(label)
    except ValueError:
        return np.nan


def _records(
    raw: RawFile,
    run: pd.Series,
    data: pd.Series | str,
    tokens: pd.Series,
    params: pd.Series,
    loss: pd.Series,
    epochs: pd.Series,
    **meta: pd.Series,
) -> pd.DataFrame:
    """Return ``loss`` records over tokens: compute = 6 N D, group = data, ``meta`` kept."""
    compute = 6.0 * params * tokens
    return raw.located(
        {
            "kind": "loss",
            "run": run,
            "group": data,
            "t": tokens,
            "params": params,
            "compute": compute,
            "loss": loss,
            "data": data,
            "epochs": epochs,
            **meta,
        }
    )


def _flops_checks(frame: pd.DataFrame, checks: dict[str, str]) -> list[str]:
    """Cross-check the file's ``flops`` (as ``flops_reported``) against 6 N D, in ``checks``.

    Within a run flops x token_num is constant (so flops decreases along the run); at a run's
    last checkpoint it should be about 6 N D. Returns a caveat for the sizes where it is not.
    """
    caveats = []
    g = frame.groupby("run", sort=False)
    product = (frame["flops_reported"] * frame["t"]).groupby(frame["run"], sort=False)
    spread = float((product.std(ddof=0) / product.mean()).max())
    decreasing = g["flops_reported"].apply(lambda s: bool(np.all(np.diff(s) < 0)))
    raw_decreasing = int(decreasing.sum())
    last = g.tail(1)
    ratio = (last["flops_reported"] / last["compute"]).groupby(last["params"]).median()
    checks["flops_reported_x_token_num_max_rel_spread_within_run"] = f"{spread:.2g}"
    checks["runs_with_flops_reported_strictly_decreasing"] = f"{raw_decreasing} of {g.ngroups}"
    checks["flops_reported_over_6ND_at_last_checkpoint_by_params"] = ", ".join(
        f"{p:.3g}: {r:.4f}" for p, r in ratio.items()
    )
    off = [f"{p:.3g} ({r:.3g}x)" for p, r in ratio.items() if abs(r - 1.0) > 0.05]
    if off:
        caveats.append(
            "flops_reported is wrong by more than 5% even at the last checkpoint for params "
            + ", ".join(off)
            + " (ratio flops_reported / 6ND)"
        )
    return caveats


def convert_losses(paths: Sequence[Path], options: Mapping[str, str]) -> Converted:
    """Convert ``datablations_losses.csv`` to ``loss`` curves with compute = 6 N D."""
    (path,) = paths
    raw = RawFile.csv(
        path,
        ["data", "epochs", "token_num", "loss", "num_params", "model_args", "tokens_per_epoch"],
    )
    tokens, loss, epochs, per_epoch = raw.numbers("token_num", "loss", "epochs", "tokens_per_epoch")
    flops = raw.optional("flops")
    params = [_size(label) for label in raw["num_params"]]
    raw.flag(np.isnan(params), "not a size label like 2.8B", "num_params", raw["num_params"])
    raw.check()
    params = pd.Series(params)
    data = raw["data"].str.strip()
    run_id = raw["model_args"].map(lambda s: _dict_field(s, "tensorboard"))
    run = raw["num_params"].str.strip() + "-" + data + "-" + epochs.map(lambda e: f"{e:g}") + "ep"

    # One run name per TensorBoard id and vice versa, else the run labels would merge curves.
    pairs = pd.DataFrame({"run": run, "id": run_id}).drop_duplicates()
    if pairs["run"].duplicated().any() or pairs["id"].duplicated().any():
        bad = pairs[pairs["run"].duplicated(keep=False)]["run"].tolist()
        raise InputError(
            Problem(
                str(path),
                "size/data/epochs do not identify one TensorBoard run (" + ", ".join(bad[:4]) + ")",
                column="model_args",
            )
        )

    frame = _records(
        raw,
        run,
        data,
        tokens,
        params,
        loss,
        epochs,
        tokens_per_epoch=per_epoch,
        epochs_seen=tokens / per_epoch,
        tensorboard_id=run_id,
    )
    if flops is not None:
        frame["flops_reported"] = flops
    if "checkpoint" in raw:
        frame["checkpoint"] = raw["checkpoint"]
    raw.flag(
        frame.duplicated(["run", "t"]).to_numpy(),
        "a second record of the same run at the same token_num",
        "token_num",
        tokens,
    )
    raw.check()

    checks: dict[str, str] = {}
    caveats = [
        "runs beyond one epoch repeat data: the paper's point is that loss then departs from "
        "the single-epoch law (use epochs / epochs_seen to select)",
        "params are the nominal size labels (2.8B, 4.2B, 8.7B)",
    ]
    if flops is not None:
        caveats += _flops_checks(frame, checks)
    planned = (frame["epochs"] * frame["tokens_per_epoch"]).groupby(frame["run"], sort=False)
    short = frame.groupby("run", sort=False)["t"].max() < 0.99 * planned.first()
    notes = [
        "t = token_num (tokens seen), params = num_params label (2.8B -> 2.8e9 ...), loss = loss",
        "compute RECOMPUTED as 6 * params * token_num: in the file flops x token_num is "
        "constant within each run (so flops decreases as training goes on; it is about 6 N D "
        "only at a run's last checkpoint); the raw column is kept as flops_reported",
        "run = <params>-<data>-<epochs>ep (one per TensorBoard id, kept as tensorboard_id); "
        "group = data (c4 / oscar)",
        "kept as metadata: data, epochs (planned), tokens_per_epoch (unique tokens), "
        "epochs_seen = token_num / tokens_per_epoch, checkpoint (a collection URL shared by "
        "several runs); the raw 'index' column is dropped",
    ]
    if bool(short.any()):
        notes.append(f"{int(short.sum())} runs end before their planned epochs x tokens_per_epoch")
    return Converted(frame, notes, {"rows_in": len(raw)}, caveats, checks)


def convert_contour(paths: Sequence[Path], options: Mapping[str, str]) -> Converted:
    """Convert ``datablations_contour_losses.csv`` (final losses, one per run) to ``loss``."""
    (path,) = paths
    raw = RawFile.csv(path, ["epochs", "token_num", "openLM_loss", "num_params", "model_args"])
    tokens, loss, epochs, params = raw.numbers("token_num", "openLM_loss", "epochs", "num_params")
    per_epoch = raw.optional("tokens_per_epoch")
    flops = raw.optional("flops")
    raw.check()
    name = raw["model_args"].map(lambda s: _dict_field(s, "name"))
    data = raw["data"].str.strip() if "data" in raw else "c4"
    unique = tokens / epochs
    frame = _records(
        raw, "contour-" + name, data, tokens, params, loss, epochs, unique_tokens=unique
    )
    raw.flag(
        frame["run"].duplicated().to_numpy(),
        "run name appears twice",
        "model_args",
        raw["model_args"],
    )
    raw.check()
    checks: dict[str, str] = {}
    caveats = [
        "final losses of separate runs (one point each), many with heavy repetition (up to 9000 "
        "epochs over 100M unique tokens; losses up to 11 nats where repetition made training "
        "diverge): not loss curves",
    ]
    notes = [
        "t = token_num (total tokens trained), params = num_params, loss = openLM_loss, "
        "compute = 6 * params * token_num",
        "unique_tokens RECOMPUTED as token_num / epochs; run = contour-<model name>",
    ]
    if per_epoch is not None:
        agree = int(np.sum(np.isclose(per_epoch * epochs, tokens, rtol=1e-6)))
        checks["rows_where_tokens_per_epoch_x_epochs_equals_token_num"] = f"{agree} of {len(raw)}"
        notes.append(
            f"the file's tokens_per_epoch ({', '.join(f'{v:g}' for v in np.unique(per_epoch))}) "
            f"matches token_num / epochs in only {agree} of {len(raw)} rows (the model names, e.g. "
            "421m32b1b5 = 421M params, 32B tokens, 1.5B unique, agree with token_num / epochs): "
            "dropped, replaced by unique_tokens"
        )
    if flops is not None:
        rel = np.abs(flops / frame["compute"] - 1.0)
        checks["flops_vs_6ND_max_rel_diff"] = f"{float(rel.max()):.3g}"
    if "checkpoint" in raw.columns:
        notes.append(
            "checkpoint column dropped (a placeholder: '"
            + " ".join(str(raw["checkpoint"].iloc[0]).split()[:3])
            + " ...')"
        )
    return Converted(frame, notes, {"rows_in": len(raw)}, caveats, checks)


def _convert(paths: Sequence[Path], options: Mapping[str, str]) -> Converted:
    if options["table"] == "contour":
        return convert_contour(paths, options)
    return convert_losses(paths, options)


ADAPTER = Adapter(
    name="colpret_datablations",
    folder="colpret_datablations",
    title="Scaling Data-Constrained Language Models (Muennighoff et al.): loss vs tokens under "
    "data repetition, via ColPret",
    origin="GitHub IBM/ColPret, aggregated_eval/datablations_losses.csv and "
    f"aggregated_eval/datablations_contour_losses.csv, {COLPRET_COMMIT} (runs: "
    "huggingface/datablations)",
    license="MIT (IBM/ColPret); upstream datablations Apache-2.0",
    citation="Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf, Raffel. Scaling "
    "Data-Constrained Language Models. NeurIPS 2023, arXiv:2305.16264; aggregation: Choshen et "
    "al. arXiv:2410.11840",
    options=(
        Option(
            "table",
            "losses",
            "losses: loss curves of 48 runs; contour: final losses of the isoFLOP grid (229 runs)",
            tuple(FILES),
        ),
    ),
    files=FILES,
    convert=_convert,
    picked_by="table",
)
