r"""Logarithmic axes whose tick labels are plain Unicode text (``10³``, ``2×10⁻¹``).

matplotlib labels log axes in mathtext (``$\mathdefault{10^{3}}$``); the first mathtext label
a process draws builds matplotlib's mathtext parser and loads its fonts, which costs seconds
(measured in ``benchmarks/RESULTS.md``), once per command. The same ticks, chosen by
matplotlib's own :class:`~matplotlib.ticker.LogFormatterSciNotation` (decades, and the
sub-decade labels it adds on short ranges), are written here as text the plain renderer draws.
"""

from __future__ import annotations

import re

from matplotlib.ticker import LogFormatterSciNotation

_SUPERSCRIPT = str.maketrans("-0123456789.", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹·")
_MATHDEFAULT = re.compile(r"^\$\\mathdefault\{(.*)\}\$$")
_POWER = re.compile(r"\^\{([^}]*)\}")


def plain(label: str) -> str:
    r"""Rewrite one of matplotlib's mathtext tick labels as Unicode text.

    ``$\mathdefault{10^{3}}$`` becomes ``10³``, ``$\mathdefault{2\times10^{-1}}$``
    ``2×10⁻¹``, ``$\mathdefault{2.4\times10^{0}}$`` ``2.4`` and ``$\mathdefault{10^{0}}$``
    ``1``; an empty label, or one that is not mathtext, is returned unchanged.
    """
    match = _MATHDEFAULT.match(label)
    if match is None:
        return label
    body = match.group(1).replace("\\times", "×")
    if body == "10^{0}":
        return "1"
    if body.endswith("×10^{0}"):  # a label within the first decade: the coefficient alone
        return body[: -len("×10^{0}")]
    return _POWER.sub(lambda m: m.group(1).translate(_SUPERSCRIPT), body)


class PlainLogFormatter(LogFormatterSciNotation):
    """matplotlib's log-axis tick labels, as plain text (:func:`plain`)."""

    def __call__(self, x, pos=None):
        """Return the label of the tick at ``x``."""
        return plain(super().__call__(x, pos))


def log_scale(ax, axis: str = "x") -> None:
    """Put ``ax``'s ``axis`` (``"x"`` or ``"y"``) on a log scale with plain-text tick labels."""
    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(PlainLogFormatter())
    target.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))
