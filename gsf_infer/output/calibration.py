"""The files of ``gsf-infer calibrate``: ``ranks.csv``, ``calibration.json`` and ``ranks.png``.

:func:`plot_ranks` draws the rank histograms of a
:class:`~gsf_infer.analysis.sbc.CalibrationResult` against the band a uniform rank would fill;
:func:`write_calibration` writes the three files into a new folder through
:mod:`gsf_infer.output.artifacts`. Imports NumPy and SciPy; matplotlib only when drawing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from gsf_infer.analysis.sbc import CalibrationResult
from gsf_infer.output import artifacts


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _draw_histogram(ax: Any, p: str, test: dict[str, Any], ranks: int, ci: float) -> None:
    """One parameter's rank histogram on ``ax``, over the band of a uniform histogram."""
    n, bins, counts = test["n"], test["bins"], np.asarray(test["counts"])
    lo = stats.binom.ppf((1 - ci) / 2, n, 1 / bins)
    hi = stats.binom.ppf(1 - (1 - ci) / 2, n, 1 / bins)
    x = np.arange(bins)
    ax.axhspan(lo, hi, color="0.85", zorder=0, label=f"{ci:.0%} band if uniform")
    ax.axhline(n / bins, color="0.5", linewidth=1.0)
    ax.bar(x, counts, width=0.9, color="tab:blue", zorder=2)
    ax.set_xticks(x)
    width = (ranks + 1) // bins
    ax.set_xticklabels([f"{i * width}" for i in x], fontsize=7, rotation=90)
    ax.set_xlabel(f"rank bin (start), ranks 0..{ranks}")
    ax.set_ylabel("simulations")
    chi2_p, ks_p = test["chi2"]["p_value"], test["ks"]["p_value"]
    ax.set_title(f"{p}: chi2 p = {_p(chi2_p)}, KS p = {_p(ks_p)}", fontsize=9)


def plot_ranks(result: CalibrationResult, ci: float = 0.99):
    """Rank histograms of ``a``, ``b``, ``rho`` with the band of a uniform histogram.

    Parameters
    ----------
    result : CalibrationResult
    ci : float
        Probability of the grey band: per bin, the central interval of the
        ``Binomial(n, 1/B)`` count a uniform rank would give.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib  # deferred: matplotlib, only when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result.tests)
    ranks = result.summary["settings"]["ranks"]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6))
    for ax, p in zip(np.atleast_1d(axes), names, strict=True):
        _draw_histogram(ax, p, result.tests[p], ranks, ci)
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="lower left")
    title = f"SBC rank histograms, {result.summary['ranked']} simulations"
    if result.summary.get("misspecified"):
        title += " (mis-specified fit: negative control)"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def write_calibration(result: CalibrationResult, out: str | Path, *, force: bool = False) -> Path:
    """Write ``ranks.csv``, ``calibration.json`` and ``ranks.png`` into a new folder (atomically).

    Returns
    -------
    Path
        The folder.
    """
    import matplotlib.pyplot as plt  # deferred: matplotlib, only when a figure is drawn

    fig = plot_ranks(result)
    try:
        with artifacts.output_folder(out, force=force) as tmp:
            artifacts.write_table(result.ranks, tmp / "ranks.csv")
            artifacts.write_json(result.summary, tmp / "calibration.json")
            artifacts.write_figure(fig, tmp / "ranks.png")
    finally:
        plt.close(fig)
    return Path(out)
