"""The report's blocks rendered: Markdown, and one self-contained HTML page.

Markdown links figures as ``plots/<name>.png``; HTML embeds them as base64 ``data:`` URIs with
inline CSS, no script and no external resource, so the file opens offline and can be mailed alone.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from gsf_infer.output.report_blocks import Block


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block]) -> str:
    """Render the blocks as Markdown (figures linked by relative path)."""
    out: list[str] = []
    for b in blocks:
        if b.kind == "h1":
            out += [f"# {b.text}", ""]
        elif b.kind == "h2":
            out += [f"## {b.text}", ""]
        elif b.kind == "p":
            out += [b.text, ""]
        elif b.kind == "lead":
            out += [f"**{b.text}**", ""]
            out += [f"- {item}" for item in b.items] + ([""] if b.items else [])
        elif b.kind == "ul":
            if b.text:
                out += [b.text, ""]
            out += [f"- {item}" for item in b.items] + [""]
        elif b.kind in ("table", "details"):
            if b.text:
                out += [f"{b.text}:" if b.kind == "details" else b.text, ""]
            out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            out.append("|" + "|".join("---" for _ in b.header) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif b.kind == "figure":
            out += [f"![{Path(b.path).stem}]({b.path})", "", f"*{b.text}*" if b.text else "", ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #444; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
figure { margin: 1.2em 0; }
img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.88em; color: #444; }
code { background: #f4f4f4; padding: 0 0.2em; }
details { margin: 0.4em 0 1.2em; }
.lead { background: #f3f6fa; border-left: 4px solid #345; padding: 0.5em 1em; margin: 0.8em 0; }
.lead p { font-weight: 600; font-size: 1.08em; margin: 0.3em 0; }
.lead ul { margin: 0.3em 0; }
summary { cursor: pointer; color: #245; }
"""


def _inline(text: str) -> str:
    """Escape text; `code` spans become <code>."""
    parts = html.escape(str(text)).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html_table(b: Block) -> str:
    head = "".join(f"<th>{_inline(h)}</th>" for h in b.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in b.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(
    blocks: list[Block], images: dict[str, bytes], title: str = "gsf-infer report"
) -> str:
    """Render the blocks as one self-contained HTML page (PNGs as base64 ``data:`` URIs).

    Parameters
    ----------
    blocks : list of Block
        The report.
    images : dict
        PNG bytes per figure path; figures without bytes are left out.
    title : str
        The page title.
    """
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    for b in blocks:
        if b.kind == "h1":
            out.append(f"<h1>{_inline(b.text)}</h1>")
        elif b.kind == "h2":
            out.append(f"<h2>{_inline(b.text)}</h2>")
        elif b.kind == "p":
            out.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "lead":
            items = "".join(f"<li>{_inline(i)}</li>" for i in b.items)
            out.append(
                f'<div class="lead"><p>{_inline(b.text)}</p>'
                + (f"<ul>{items}</ul>" if items else "")
                + "</div>"
            )
        elif b.kind == "ul":
            if b.text:
                out.append(f"<p>{_inline(b.text)}</p>")
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            if b.text:
                out.append(f"<p>{_inline(b.text)}</p>")
            out.append(_html_table(b))
        elif b.kind == "details":
            out.append(
                f"<details><summary>{_inline(b.text)}</summary>{_html_table(b)}</details>"
            )
        elif b.kind == "figure":
            data = images.get(b.path)
            if data is None:
                continue
            uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            out.append(
                f'<figure><img src="{uri}" alt="{html.escape(Path(b.path).stem)}">'
                f"<figcaption>{_inline(b.text)}</figcaption></figure>"
            )
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"

