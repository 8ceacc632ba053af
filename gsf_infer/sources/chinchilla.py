"""Adapter for Epoch AI's digitisation of Chinchilla Fig. 4 (``epoch_chinchilla_svg``).

One final training loss per Chinchilla run: model size N, training FLOP C and the loss read from
the figure's colour bar. Tokens are D = C / (6 N), as Epoch and ColPret derive them. The loss is
colour-quantised; an optional ``stderr`` equal to the quantisation error (cell width / sqrt(12))
can be attached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gsf_infer.sources._base import Adapter, Converted, Option, RawFile

FILE = "svg_extracted_data.csv"


def quantisation_step(loss: np.ndarray) -> float:
    """Width of the colour-bar quantisation cell in ln(loss).

    The distinct loss values of the figure lie on a grid uniform in ln(loss) (the colour bar is
    logarithmic; adjacent distinct values are 0.0030 or 0.0045 apart in ln loss, with gaps where
    no point has that colour). The median gap between adjacent distinct values estimates the cell
    width: gaps from missing colours are a minority and do not move the median.

    Parameters
    ----------
    loss : numpy.ndarray
        Observed losses (> 0).

    Returns
    -------
    float
        Median gap between adjacent distinct ln(loss) values.
    """
    levels = np.unique(np.log(loss[np.isfinite(loss) & (loss > 0)]))
    if levels.size < 3:
        raise ValueError("too few distinct loss values to measure the quantisation step")
    return float(np.median(np.diff(levels)))


def _figure_columns(
    raw: RawFile, n: pd.Series, c: pd.Series, loss: pd.Series, checks: dict[str, str]
) -> str:
    """Say why the figure-extraction columns (pixels, colours) are dropped; ``""`` if absent.

    Pixel positions are checked to be linear in log FLOP and log N (their correlations go to
    ``checks``), colours to map one-to-one to the loss.
    """
    dropped_cols = [col for col in ("x", "y", "color", "hex_color") if col in raw.columns]
    if not dropped_cols:
        return ""
    why = []
    if {"x", "y"} <= set(raw.columns):
        x, y = raw.numbers("x", "y")
        raw.check()
        rx = abs(np.corrcoef(x, np.log(c))[0, 1])
        ry = abs(np.corrcoef(y, np.log(n))[0, 1])
        why.append(
            f"x and y are the SVG pixel positions, linear in log FLOP and log N "
            f"(|corr| = {rx:.6f}, {ry:.6f})"
        )
        checks["pixel_columns_vs_log_values_abs_corr"] = f"x~logC {rx:.6f}, y~logN {ry:.6f}"
    if {"color", "hex_color"} <= set(raw.columns):
        same = int((raw["color"] == raw["hex_color"]).sum())
        pairs = raw.frame.assign(_l=loss).groupby("hex_color")["_l"].nunique().max()
        inverse = raw.frame.assign(_l=loss).groupby("_l")["hex_color"].nunique().max()
        bijective = pairs == 1 and inverse == 1
        why.append(
            f"color equals hex_color in {same} of {len(raw)} rows and "
            + ("maps one-to-one to loss" if bijective else "does NOT map one-to-one to loss")
        )
    return (
        "dropped columns " + ", ".join(dropped_cols) + ": figure-extraction artefacts that "
        "carry no information beyond params, compute and loss (" + "; ".join(why) + ")"
    )


def convert(paths: Sequence[Path], options: Mapping[str, str]) -> Converted:
    """Convert ``svg_extracted_data.csv`` to ``loss`` records (one run per plotted point)."""
    (path,) = paths
    raw = RawFile.csv(path, ["Model Size", "Training FLOP", "loss"])
    n, c, loss = raw.numbers("Model Size", "Training FLOP", "loss")
    raw.check()

    frame = raw.located(
        {
            "kind": "loss",
            "run": [f"chinchilla-fig4-{i:03d}" for i in range(1, len(raw) + 1)],
            "group": "chinchilla",
            "t": c / (6.0 * n),
            "params": n,
            "compute": c,
            "loss": loss,
        }
    )
    notes = [
        "t = tokens D = Training FLOP / (6 * Model Size), the derivation Epoch AI and ColPret use",
        "params = Model Size, compute = Training FLOP, loss = loss (nats/token, read from the "
        "figure's colour bar)",
        "each plotted point is its own training run (run = chinchilla-fig4-<row number>)",
    ]
    checks: dict[str, str] = {}
    dropped = _figure_columns(raw, n, c, loss, checks)
    if dropped:
        notes.append(dropped)

    step = quantisation_step(loss.to_numpy())
    checks["loss_distinct_values"] = str(int(np.unique(loss).size))
    checks["loss_quantisation_step_ln"] = f"{step:.5f}"
    caveats = [
        "loss is colour-quantised: distinct values lie on a grid with median step "
        f"{step:.4f} in ln(loss), i.e. {np.min(loss) * step:.4f} to {np.max(loss) * step:.4f} "
        "nats across the range (digitisation noise and the spread of real runs are larger)",
        "Model Size and Training FLOP are read from pixel positions: the same model size appears "
        "with relative jitter of about 1e-7",
        "Epoch's refit of these points: E~1.82, A~482, B~2085, alpha~0.35, beta~0.37 "
        "(Besiroglu et al. 2024), a reference, not ground truth",
    ]
    under = frame["t"] < frame["params"]
    top = frame["loss"].rank(method="min", ascending=False) <= 5
    caveats.append(
        f"{int(under.sum())} runs saw fewer tokens than parameters ({int((top & under).sum())} "
        "of the five highest losses among them, the points Epoch dropped before fitting a robust "
        "Huber loss): residuals about L = E + A/N^alpha + B/D^beta are heavy-tailed, so the "
        "records declare 'likelihood: student', which gsf-infer fit uses unless --likelihood "
        "says otherwise (examples/chinchilla.py shows why)"
    )
    if options["stderr"] == "quantization":
        frame["stderr"] = loss * step / np.sqrt(12.0)
        notes.append(
            f"stderr = loss * {step:.5f} / sqrt(12): the standard deviation of a value rounded to "
            "a grid of that cell width in ln(loss) (uniform error within a cell); it covers the "
            "quantisation only"
        )
    else:
        notes.append(
            "no stderr column (use --option stderr=quantization to add the quantisation error)"
        )
    return Converted(
        frame=frame,
        notes=notes,
        counts={"rows_in": len(raw)},
        caveats=caveats,
        checks=checks,
        declares={"likelihood": "student"},
    )


ADAPTER = Adapter(
    name="epoch_chinchilla_svg",
    folder="epoch_chinchilla_svg",
    title="Chinchilla (Hoffmann et al. 2022) Fig. 4 final losses, digitised by Epoch AI: "
    "245 runs, loss over params x tokens",
    origin="GitHub epoch-research/analyzing-chinchilla, data/svg_extracted_data.csv, commit "
    "92258837425e1b5f2851d624287f0120583a3d0e",
    license="no licence file in the source repository; numeric facts read from a published "
    "figure, shipped as facts-only data with attribution",
    citation="Besiroglu, Erdil, Barnett, You. Chinchilla Scaling: A replication attempt. "
    "arXiv:2404.10102 (2024); underlying data: Hoffmann et al. Training Compute-Optimal Large "
    "Language Models. arXiv:2203.15556 (2022)",
    options=(
        Option(
            "stderr",
            "none",
            "none: no stderr column; quantization: stderr = loss * step / sqrt(12), the "
            "colour-bar quantisation error",
            ("none", "quantization"),
        ),
    ),
    files=FILE,
    convert=convert,
)
