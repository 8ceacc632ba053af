"""The figure of an ``elastic`` fit's elasticity curve ``rho(t)`` (``plots/rho_t.png``).

The posterior median of ``rho(t)`` and its highest-density band against ``t`` (log axis), the
ranges where the data leave ``rho(t)`` to its prior shaded grey and labelled "prior", and, where
given, other fits' ``rho(t)`` overlaid (the parametric families': a constant ``n/m`` for
``ntk``, ``feature``, ``monomial``, a curve for ``logcorr`` and ``ridge``). The curve comes from
:func:`gsf_infer.analysis.elastic.elasticity_curve`. Imports NumPy; matplotlib where it draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gsf_infer.output import artifacts

CAPTION = (
    "The elasticity ratio rho(t) = E_t/E_lambda of the elastic g: posterior median (line) and "
    "{ci:.0%} HDI band against training time; grey: times where no record constrains rho(t) "
    "(outside the records' time range, or where the band of its drift is as wide as the "
    "prior's), the band there is the prior's extrapolation. {extra}"
)


def _spans(t: np.ndarray, identified: np.ndarray) -> list[tuple[float, float]]:
    """Contiguous runs of unidentified nodes as ``(t_start, t_end)``, half a step padded."""
    out, start = [], None
    log_t = np.log(t)
    step = np.diff(log_t).mean() if t.size > 1 else 1.0
    for i, ok in enumerate(identified):
        if not ok and start is None:
            start = i
        if (ok or i == t.size - 1) and start is not None:
            end = i - 1 if ok else i
            out.append((float(np.exp(log_t[start] - step / 2)),
                        float(np.exp(log_t[end] + step / 2))))
            start = None
    return out


def plot_rho_t(curve: dict[str, Any], overlays: dict[str, Any] | None = None):
    """Draw ``rho(t)`` with its band and the prior-only ranges; ``None`` without a curve.

    Parameters
    ----------
    curve : dict
        :func:`gsf_infer.analysis.elastic.elasticity_curve` of an ``elastic`` fit.
    overlays : dict, optional
        Other fits' ``rho(t)`` by name: ``{"t": [...], "median": [...]}``, optionally with
        ``low``/``high`` for a band.
    """
    if not curve:
        return None
    import matplotlib  # deferred: imports matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: imports matplotlib

    from gsf_infer.output.axes import log_scale  # deferred: imports matplotlib

    t = np.asarray(curve["t"], float)
    groups = curve["groups"]
    fig, axes = plt.subplots(1, len(groups), figsize=(5.6 * len(groups), 3.8), squeeze=False)
    for ax, (name, g) in zip(axes[0], groups.items(), strict=True):
        identified = np.asarray(g["identified"], bool)
        for i, (a, b) in enumerate(_spans(t, identified)):
            ax.axvspan(a, b, color="0.85", zorder=0, label="prior" if i == 0 else None)
        ax.fill_between(t, g["low"], g["high"], color="tab:blue", alpha=0.3,
                        label=f"elastic {curve['ci_prob']:.0%} HDI")
        ax.plot(t, g["median"], color="tab:blue", lw=1.5, label="elastic median")
        for j, (label, other) in enumerate((overlays or {}).items()):
            color = f"C{(j + 1) % 10}"
            ot = np.asarray(other["t"], float)
            ax.plot(ot, other["median"], color=color, ls="--", lw=1.2, label=label)
            if "low" in other and "high" in other:
                ax.fill_between(ot, other["low"], other["high"], color=color, alpha=0.12)
        log_scale(ax, "x")
        ax.set_xlim(t[0], t[-1])
        ax.set_xlabel("training progress t")
        ax.set_ylabel("rho(t) = E_t / E_lambda")
        if name != "all":
            ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_rho_t(comparison: dict[str, Any], path, force: bool = False) -> Any:
    """Draw ``compare``'s ``rho(t)`` (the elastic band, the parametric fits overlaid) to ``path``.

    ``comparison`` is :func:`gsf_infer.analysis.elastic.elasticity_comparison`.
    """
    import matplotlib.pyplot as plt  # deferred: imports matplotlib

    fig = plot_rho_t(comparison["curve"], comparison.get("families"))
    try:
        return artifacts.write_figure(fig, path, force=force)
    finally:
        plt.close(fig)
