"""Log axes labelled in plain text: the labels, and no mathtext drawn."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.mathtext  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from gsf_infer.output.axes import PlainLogFormatter, log_scale, plain  # noqa: E402


@pytest.mark.parametrize(("label", "expected"), [
    (r"$\mathdefault{10^{3}}$", "10³"),
    (r"$\mathdefault{10^{-12}}$", "10⁻¹²"),
    (r"$\mathdefault{2\times10^{-1}}$", "2×10⁻¹"),
    (r"$\mathdefault{2.4\times10^{0}}$", "2.4"),
    (r"$\mathdefault{10^{0}}$", "1"),
    ("", ""),
    ("3", "3"),
])
def test_plain_rewrites_matplotlib_labels(label, expected):
    assert plain(label) == expected


def test_formatter_labels_the_decades_matplotlib_chooses():
    fmt = PlainLogFormatter()
    fig, ax = plt.subplots()
    ax.set_xscale("log")
    ax.set_xlim(1e-2, 1e4)
    ax.xaxis.set_major_formatter(fmt)
    assert [fmt(x) for x in (1e-2, 1.0, 1e3)] == ["10⁻²", "1", "10³"]
    plt.close(fig)


def _parses_while_drawing(monkeypatch, use_plain: bool) -> tuple[list[str], list[str]]:
    """Draw a log-log figure; return the mathtext strings parsed and the tick labels."""
    seen: list[str] = []
    original = matplotlib.mathtext.MathTextParser.parse

    def spy(self, s, *args, **kwargs):
        seen.append(s)
        return original(self, s, *args, **kwargs)

    monkeypatch.setattr(matplotlib.mathtext.MathTextParser, "parse", spy)
    fig, ax = plt.subplots()
    ax.plot([10, 1e5], [2.4, 1.9])
    for axis in ("x", "y"):
        if use_plain:
            log_scale(ax, axis)
        else:
            getattr(ax, f"set_{axis}scale")("log")
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    plt.close(fig)
    return seen, labels


def test_log_axes_draw_without_mathtext(monkeypatch):
    # negative control: matplotlib's own log axes parse mathtext when drawn
    seen, _ = _parses_while_drawing(monkeypatch, use_plain=False)
    assert seen
    seen, labels = _parses_while_drawing(monkeypatch, use_plain=True)
    assert seen == []
    assert "10³" in labels and not any("$" in s for s in labels)
