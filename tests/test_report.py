"""The report: Markdown and a self-contained HTML page from saved files, re-rendered by
``gsf-infer report DIR`` without refitting, and written by ``fit``'s extra callback."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fakes import fake_fit, fake_summary, write_fake_folder
from typer.testing import CliRunner

from gsf_infer.cli import app
from gsf_infer.output import console, report, report_blocks, report_render
from gsf_infer.workflow import check

#: one worker builds the module's expensive fixtures once (pytest-xdist's loadgroup)
pytestmark = pytest.mark.xdist_group("test_report")

runner = CliRunner()
IMG = '<img src="data:image/png;base64,'
SECTIONS = (
    "## The invariant chi + gamma = rho",
    "## Parameters",
    "## Posterior predictive checks",
    "## Warnings",
    "## Data",
    "## Model, sampler and diagnostics",
    "## Identifiability",
    "## More figures",
    "## Provenance",
)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A fake fit folder (gsf + deviation, minimal checks.json) after ``gsf-infer report DIR``."""
    dt = fake_fit(np.random.default_rng(401), kinds=("loss", "quantization", "pruning", "spectrum"))
    deviation = fake_fit(
        np.random.default_rng(402),
        model="deviation",
        kinds=("loss", "quantization", "pruning", "spectrum"),
        draws=250,  # 4 x 100 iid draws fall short of 400 bulk ESS by chance: untrusted
    )
    folder = write_fake_folder(tmp_path_factory.mktemp("fit") / "fit", dt, deviation)
    result = runner.invoke(app, ["report", str(folder)])
    assert result.exit_code == 0, (result.output, result.exception)
    return folder, result


def test_report_files_and_sections(rendered):
    folder, result = rendered
    assert "report.md" in result.stdout
    md = (folder / "report.md").read_text()
    positions = [md.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    assert "| a |" in md and "decided by" in md
    assert re.search(r"invariant chi \+ gamma = rho: (SUPPORTED|INCONCLUSIVE)", md)
    assert "PSIS-LOO of gsf (the theory) against deviation" in md
    assert "Sampler (deviation model): converged" in md
    assert "deviation-model fit behind this verdict did NOT converge" not in md
    assert "UNTRUSTED" not in md
    assert "| loss | 30 |" in md  # PPC table row: variable, n
    for png in (folder / "plots").glob("*.png"):
        assert f"(plots/{png.name})" in md


def test_html_embeds_every_plot_and_nothing_external(rendered):
    folder, _ = rendered
    page = (folder / "report.html").read_text()
    pngs = sorted((folder / "plots").glob("*.png"))
    assert len(pngs) >= 10
    assert page.count(IMG) == len(pngs)
    for png in pngs:
        assert f'alt="{png.stem}"' in page
    # self-contained: every src is a data URI, no link/script, no URL at all
    assert re.findall(r'src="(?!data:image/png;base64,)', page) == []
    assert "<script" not in page and "<link" not in page and "url(" not in page
    assert "http://" not in page and "https://" not in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


class Outline(HTMLParser):
    """The page as a flat list of events, with the nesting checked on the way.

    Events: ``("h2", text)``, ``("text", text)``, ``("table", first header, inside details)``,
    ``("tag", name, attributes)``; ``errors`` collects end tags that close nothing open.
    """

    VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self._table: int | None = None

    def handle_starttag(self, tag, attrs):
        self.events.append(("tag", tag, dict(attrs)))
        if tag == "table":
            self._table = len(self.events)
            self.events.append(("table", None, "details" in self.stack))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        text = data.strip()
        if not text or not self.stack:
            return
        if self.stack[-1] == "th" and self._table is not None:
            _, header, folded = self.events[self._table]
            if header is None:
                self.events[self._table] = ("table", text, folded)
        self.events.append(("h2" if self.stack[-1] == "h2" else "text", text))


def outline(page: str) -> Outline:
    parser = Outline()
    parser.feed(page)
    parser.close()
    return parser


def first(events: list[tuple], match) -> int:
    return next(i for i, event in enumerate(events) if match(event))


def test_report_leads_with_the_answer(rendered):
    """Verdict and delta/rho figure, then parameters, then each kind's predictive figure, then
    the data (one line per kind, the per-run table folded), provenance last."""
    folder, _ = rendered
    md = (folder / "report.md").read_text()
    verdict = md.index("invariant chi + gamma = rho: ")
    first_data = md.index("| kind | records | runs |")
    assert verdict < md.index("(plots/invariant_delta.png)") < md.index("| parameter |")
    assert md.index("| parameter |") < md.index("(plots/ppc_loss.png)") < first_data
    data = md.index("## Data")
    for png in sorted((folder / "plots").glob("*.png")):
        where = md.index(f"(plots/{png.name})")
        if png.stem.startswith("ppc_"):
            assert md.index("## Posterior predictive checks") < where < data, png.name
        elif png.stem != "invariant_delta":
            assert md.index("## More figures") < where < md.index("## Provenance"), png.name
    # one line per kind with its runs counted, then the full per-run table in plain Markdown
    assert "| loss | 30 | 2 |\n| quantization | 24 | 1 |" in md
    full = md.index("Records per run (the full table, 5 runs):\n\n| run | kind | records |")
    assert first_data < full < md.index("| P1e+06 | loss | 15 |")
    # provenance is the last section
    assert md.rindex("\n## ") == md.index("\n## Provenance")
    assert md.index("## Provenance") < md.index("input sha256") and "command `gsf-infer" in md

    page = outline((folder / "report.html").read_text())
    assert page.errors == [] and page.stack == []
    events = page.events
    verdict = first(events, lambda e: e[0] == "text" and e[1].startswith("invariant chi + gamma"))
    params = first(events, lambda e: e[:2] == ("table", "parameter"))
    data = first(events, lambda e: e[:2] in (("table", "kind"), ("table", "run")))
    assert verdict < params < data
    assert events[data] == ("table", "kind", False)
    delta = first(events, lambda e: e[0] == "tag" and e[2].get("alt") == "invariant_delta")
    ppc = first(events, lambda e: e[0] == "tag" and e[2].get("alt") == "ppc_loss")
    assert verdict < delta < params < ppc < data
    per_run = [e for e in events if e[:2] == ("table", "run")]
    assert per_run == [("table", "run", True)]
    summary = first(events, lambda e: e[:2] == ("tag", "summary"))
    assert events[summary + 1] == ("text", "Records per run (the full table, 5 runs)")
    headings = [e[1] for e in events if e[0] == "h2"]
    assert headings == [s.removeprefix("## ") for s in SECTIONS]


def test_html_is_self_contained_and_parses(rendered):
    """No address outside the file: images are PNG data URIs, no script, link or frame."""
    folder, _ = rendered
    page = outline((folder / "report.html").read_text())
    assert page.errors == [] and page.stack == []
    tags = [e for e in page.events if e[0] == "tag"]
    names = {e[1] for e in tags}
    assert not names & {"script", "link", "iframe", "object", "embed", "base", "source"}
    images = [e[2] for e in tags if e[1] == "img"]
    assert len(images) == len(list((folder / "plots").glob("*.png")))
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,"), attrs.get("alt")
        png = base64.b64decode(attrs["src"].split(",", 1)[1], validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), attrs.get("alt")
    for _, name, attrs in tags:
        for key in ("src", "href", "srcset", "action", "poster", "data"):
            value = attrs.get(key) or ""
            assert not re.match(r"\s*(https?:)?//", value), (name, key, value[:80])
    style = re.search(r"<style>(.*?)</style>", (folder / "report.html").read_text(), re.S)
    assert style and "url(" not in style.group(1) and "@import" not in style.group(1)


@pytest.mark.slow  # rendering or benchmark plumbing, not the statistical core
def test_report_dir_re_renders_from_files(rendered):
    folder, _ = rendered
    before_md = (folder / "report.md").read_text()
    checks_before = (folder / "checks.json").read_text()
    (folder / "report.html").unlink()
    result = runner.invoke(app, ["report", str(folder)])
    assert result.exit_code == 0
    assert (folder / "report.md").read_text() == before_md
    assert (folder / "report.html").is_file()
    # the report completes checks for itself; checks.json is not rewritten
    assert (folder / "checks.json").read_text() == checks_before


def test_untestable_report_names_missing_kinds(tmp_path):
    dt = fake_fit(np.random.default_rng(403), kinds=("loss",))
    folder = write_fake_folder(tmp_path / "fit", dt)
    checks = json.loads((folder / "checks.json").read_text())
    checks["invariant"]["missing"] = ["quantization", "pruning or density"]
    (folder / "checks.json").write_text(json.dumps(checks))
    written = check.render_folder(folder)
    assert folder / "report.md" in written
    md = (folder / "report.md").read_text()
    assert "UNTESTABLE" in md
    assert "To make it testable, add records of:\n\n- quantization\n- pruning or density" in md


def test_report_of_an_unconverged_deviation_fit_does_not_trust_the_verdict(tmp_path):
    kinds = ("loss", "quantization", "pruning", "spectrum")
    dt = fake_fit(np.random.default_rng(406), kinds=kinds)
    deviation = fake_fit(
        np.random.default_rng(407), model="deviation", kinds=kinds, draws=250, divergences=5
    )
    folder = write_fake_folder(tmp_path / "fit", dt, deviation)
    check.render_folder(folder)
    md = (folder / "report.md").read_text()
    assert "Sampler (deviation model): NOT CONVERGED" in md
    assert "invariant chi + gamma = rho: UNTRUSTED" in md
    assert "the deviation-model fit behind it did not converge (" in md
    assert "behind this verdict did NOT converge" not in md  # said once, not twice
    text = console.format_checks(check.folder_checks(check.read_folder(folder)))
    assert "UNTRUSTED" in text.splitlines()[0]
    assert "the deviation-model fit did NOT converge: the verdict is not trusted" in text


def test_report_refuses_a_folder_that_is_not_a_fit(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a fit folder" in result.stderr and "Traceback" not in result.stderr


def test_markdown_and_html_escape_their_cells():
    blocks = [
        report_blocks.Block("h1", "a <b> & c"),
        report_blocks.Block("table", header=("x|y", "z"), rows=(("1|2", "<i>"),)),
        report_blocks.Block("p", "run `gsf-infer check`"),
    ]
    md = report_render.render_markdown(blocks)
    assert "| x\\|y | z |" in md and "| 1\\|2 | <i> |" in md
    page = report_render.render_html(blocks, {})
    assert "a &lt;b&gt; &amp; c" in page and "&lt;i&gt;" in page
    assert "<code>gsf-infer check</code>" in page


def _fit_result(dt, deviation_dt=None):
    summary, diag, invariant = fake_summary(dt, deviation_dt)
    return SimpleNamespace(
        dt=dt,
        deviation_dt=deviation_dt,
        summary=summary,
        diagnostics=diag,
        invariant_detail=invariant,
        warnings=[],
    )


def test_write_fit_extras_through_write_fit(tmp_path):
    from gsf_infer.cli.fit import report_extra
    from gsf_infer.output import artifacts

    dt = fake_fit(np.random.default_rng(404), kinds=("loss", "density"))
    result = _fit_result(dt)
    result.holdout = None
    data = tmp_path / "data.csv"
    data.write_text(
        "kind,run,t,params,loss\n"
        + "".join(f"loss,r,{t},1e6,{2 + 1 / (1 + t)}\n" for t in (0, 1, 2, 3))
    )
    failures: list[str] = []
    out = artifacts.write_fit(result, tmp_path / "out", extra=report_extra(result, data, failures))
    assert failures == []
    checks = json.loads((out / "checks.json").read_text())
    assert set(checks["ppc"]) == {"loss", "density"}
    assert checks["data"]["excluded"] == {"t = 0 (initialisation point; the laws are on log t)": 1}
    md = (out / "report.md").read_text()
    assert "1 row(s): t = 0" in md
    assert (out / "report.html").is_file() and (out / "plots" / "ppc_density.png").is_file()


def test_a_failing_report_does_not_cost_the_fit(tmp_path):
    from gsf_infer.cli.fit import report_extra
    from gsf_infer.output import artifacts

    dt = fake_fit(np.random.default_rng(405), kinds=("loss",))
    result = _fit_result(dt)
    result.holdout = None
    failures: list[str] = []
    out = artifacts.write_fit(
        result, tmp_path / "out", extra=report_extra(result, tmp_path / "missing.csv", failures)
    )
    assert (out / "posterior.nc").is_file() and (out / "summary.json").is_file()
    assert len(failures) == 1 and "gsf-infer report DIR" in failures[0]


def test_format_checks(rendered):
    folder, _ = rendered
    saved = check.read_folder(folder)
    text = console.format_checks(check.folder_checks(saved))
    assert text.startswith("invariant chi + gamma = rho:")
    assert re.search(r"^loss\s+30\s+\d+%", text, flags=re.M)
    assert "PSIS-LOO gsf vs deviation:" in text


def test_figures_are_ordered():
    paths = [
        Path(f"plots/{n}.png")
        for n in (
            "rank",
            "ppc_spectrum",
            "loo_pit",
            "ppc_loss",
            "pair_a_b_rho",
            "invariant_delta",
            "trace",
        )
    ]
    assert [p.stem for p in report.order_figures(paths)] == [
        "ppc_loss",
        "ppc_spectrum",
        "loo_pit",
        "invariant_delta",
        "pair_a_b_rho",
        "trace",
        "rank",
    ]


def test_a_fixed_parameter_is_reported_as_fixed_not_as_absent(tmp_path):
    """A ``Fixed`` prior leaves no posterior; the report and the console say it was fixed."""
    from gsf_infer.model.priors import fixed_priors, load_priors
    from gsf_infer.output.console import parameter_lines

    priors_file = tmp_path / "p.toml"
    priors_file.write_text('[a]\ndist = "Fixed"\nvalue = 0.5\n')
    described = load_priors(priors_file).as_attrs()
    fixed = fixed_priors(described)
    assert fixed["a"] == "Fixed(value=0.5) + 1" and "b" not in fixed
    dt = fake_fit(np.random.default_rng(405), kinds=("loss",))
    summary = fake_summary(dt)[0]
    summary["parameters"]["a"] = None  # as parameter_table leaves a site that was not sampled
    attrs = {"priors": described}
    md = report_render.render_markdown(report_blocks.report_blocks(summary, {}, attrs, [], {}))
    assert "| a | - | - | - | - | - | - | - | - | fixed by the priors: Fixed(value=0.5) + 1 |" in md
    lines = parameter_lines(summary, 0.94, frozenset(), fixed)
    row = next(line for line in lines if line.startswith("a "))
    assert "(fixed by the priors)" in row and "Fixed(value=0.5) + 1" in row
    # without the priors, an absent named exponent still reads "not in this model"
    assert "(not in this model)" in next(
        line for line in parameter_lines(summary, 0.94) if line.startswith("a ")
    )
