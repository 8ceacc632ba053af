"""Adapter for the "Revisiting Neural Scaling Laws" benchmark (``revisiting_scaling_benchmark``).

Alabdulmohsin et al.'s learning-curve benchmark, language and vision files.
Each curve (Domain, Task, Model) is a metric over examples seen, with the authors' own split into
points used for fitting (``Training`` = 1) and held-out extrapolation targets (0). The language
file holds its LM block four times; exact duplicate rows are removed first and counted. Records are
``data_scaling`` (``samples`` = examples seen).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gsf_infer.sources._base import COLPRET_COMMIT, Adapter, Converted, Option, RawFile, merge

FILES = {"lang": "revisiting_lang.csv", "vision": "revisiting_vision.csv"}
RAW_COLUMNS = ["Domain", "Task", "Model", "Seen Examples", "Loss", "Training"]


def _one_file(path: Path, group_by: str) -> Converted:
    raw = RawFile.csv(path, RAW_COLUMNS)
    rows_in = len(raw)
    exact = raw.frame.duplicated(RAW_COLUMNS, keep="first").to_numpy()
    dup_blocks = raw.frame[exact].groupby(["Domain", "Model"], sort=False).size()
    raw.keep(~exact)
    samples, loss, split = raw.numbers("Seen Examples", "Loss", "Training")
    raw.flag(
        np.isfinite(split.to_numpy()) & ~split.isin([0.0, 1.0]).to_numpy(),
        "Training must be 1 (fit) or 0 (held out)",
        "Training",
        raw["Training"],
    )
    raw.check()
    domain, task, model = (raw[c].str.strip() for c in ("Domain", "Task", "Model"))
    curve = domain + "/" + task + "/" + model
    frame = raw.located(
        {
            "kind": "data_scaling",
            "run": curve,
            "group": curve if group_by == "curve" else domain + "/" + task,
            "samples": samples,
            "loss": loss,
            "training_split": split.astype(int),
            "domain": domain,
            "task": task,
            "model": model,
        }
    )
    # Same curve, same number of examples, different value: not an exact duplicate, keep both
    # but make it visible.
    conflicts = int(frame.duplicated(["run", "samples"], keep="first").sum())
    counts = {
        f"rows_in_{path.name}": rows_in,
        f"removed_exact_duplicates_{path.name}": int(exact.sum()),
        f"conflicting_repeats_{path.name}": conflicts,
    }
    notes = [
        f"{path.name}: {rows_in} rows, {int(exact.sum())} exact duplicate rows removed "
        f"(first occurrence kept), {len(frame)} left, {frame['run'].nunique()} curves"
    ]
    if len(dup_blocks):
        notes.append(
            f"{path.name} duplicates came from: "
            + ", ".join(f"{d} {m} ({n} rows)" for (d, m), n in dup_blocks.items())
        )
    if conflicts:
        notes.append(
            f"{path.name}: {conflicts} rows repeat a (curve, Seen Examples) pair with "
            "a different Loss; all kept"
        )
    order = frame.groupby("run", sort=False)["samples"].apply(
        lambda s: bool(s.is_monotonic_increasing)
    )
    if not bool(order.all()):
        notes.append(
            f"{path.name}: {int((~order).sum())} curves are not sorted by Seen Examples "
            "in the file; file order kept"
        )
    return Converted(frame, notes, counts)


def convert(paths: Sequence[Path], options: Mapping[str, str]) -> Converted:
    """Convert one or both benchmark files to ``data_scaling`` records."""
    out = merge(
        [_one_file(path, options["group_by"]) for path in paths],
        ("rows_in", "removed_exact_duplicates"),
    )
    out.notes += [
        "kind data_scaling: samples = Seen Examples (examples or tokens seen = batch x steps), "
        "loss = Loss",
        "run = Domain/Task/Model (one learning curve); "
        + (
            "group = run: every curve has its own exponents, as in the paper, where each curve "
            "is fitted and extrapolated on its own (IC curves of different architectures, BB "
            "tasks with different metrics and LM curves normalised per curve are not one family)"
            if options["group_by"] == "curve"
            else "group = Domain/Task: curves of different models on one task share exponents "
            "(an assumption the paper does not make)"
        ),
        "training_split = Training (1 = the authors' fitting points, 0 = their held-out "
        "extrapolation targets; e.g. --holdout 'training_split==0'); domain, task, model kept",
    ]
    out.caveats = [
        "Loss is not one quantity: IC = n-shot error rate, NMT = log-perplexity, LM = log-loss "
        "rescaled per curve (first point 0.999), BB = the task's preferred metric",
        "the split is a prefix per curve: held-out points are always the largest Seen Examples",
    ]
    return out


ADAPTER = Adapter(
    name="revisiting_scaling_benchmark",
    folder="revisiting_scaling_benchmark",
    title="Revisiting Neural Scaling Laws (Alabdulmohsin et al.): 92 learning curves over "
    "examples seen, with the authors' fit / extrapolate split",
    origin="GitHub google-research/google-research, revisiting_neural_scaling_laws/data/"
    "benchmark.{lang,vision}.csv (index commit 9853680c781781bd8d3de20aa61c7373ce059913); copies "
    "from IBM/ColPret aggregated_eval/revisiting_{lang,vision}.csv, " + COLPRET_COMMIT,
    license="Apache-2.0 (google-research); MIT (IBM/ColPret copy)",
    citation="Alabdulmohsin, Neyshabur, Zhai. Revisiting Neural Scaling Laws in Language and "
    "Vision. NeurIPS 2022, arXiv:2209.06640",
    options=(
        Option(
            "subset",
            "both",
            "lang (NMT, LM, BIG-bench), vision (image classification) or both",
            ("both", "lang", "vision"),
        ),
        Option(
            "group_by",
            "curve",
            "curve: one group per learning curve (own exponents); task: one group per Domain/Task",
            ("curve", "task"),
        ),
    ),
    files=FILES,
    picked_by="subset",
    every="both",
    convert=convert,
)
