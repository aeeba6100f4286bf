"""The HTML page: a title and a list of sections, each some escaped HTML and Plotly figures; one file that opens offline.

Plotly's JavaScript is inlined once in the head (no script, style or font comes from the network); every figure is
a div drawn by that script. The live view serves the same page: it may pass its own `script` tag instead.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

import plotly.graph_objects as go
import plotly.offline

PLOT_CONFIG = {"displaylogo": False, "responsive": True}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 0; color: #1d2731;
       background: #f6f7f9; }
header { background: #1d3557; color: #fff; padding: 16px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; opacity: 0.85; }
nav { margin-top: 10px; font-size: 14px; }
nav a { color: #cfe3ff; margin-right: 14px; text-decoration: none; }
main { padding: 12px 28px 40px; }
section { background: #fff; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,0.08); padding: 10px 20px 18px; margin: 16px 0; }
section h2 { font-size: 18px; margin: 8px 0 12px; }
table { border-collapse: collapse; font-size: 14px; margin: 6px 0 12px; }
th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #e5e8ec; vertical-align: top; }
th { color: #52606d; font-weight: 600; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; background: #f1f3f5;
       padding: 1px 4px; border-radius: 3px; word-break: break-all; }
.note { color: #52606d; font-size: 14px; }
.warn { color: #9a3412; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 8px; }
.tables { display: flex; flex-wrap: wrap; gap: 32px; }
footer { color: #7b8794; font-size: 12px; padding: 0 28px 24px; }
"""

PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$style</style>
$script
</head>
<body>
<header><h1>$title</h1><p>$subtitle</p><nav>$nav</nav></header>
<main>
$sections
</main>
<footer>$footer</footer>
</body>
</html>
"""
)


@dataclass(frozen=True)
class Section:
    """One part of a page: `body` is HTML whose user strings are already escaped (see `table`, `text`)."""

    id: str
    title: str
    body: str = ""
    figures: tuple[go.Figure, ...] = ()
    grid: bool = False  # figures side by side (small multiples) instead of one under the other


def text(value: Any) -> str:
    """Any value as escaped HTML text."""
    return html.escape("" if value is None else str(value))


def number(value: float | None) -> str:
    """A number for people, to 4 significant digits ('-' when missing); full precision is in json/yaml."""
    return "-" if value is None else f"{value:.4g}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A table of escaped cells; a cell given as `Markup` is put in as it is."""
    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def pairs(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column table of labels and values."""
    return "<table><tbody>" + "".join(f"<tr><th>{text(k)}</th><td>{cell(v)}</td></tr>" for k, v in rows) + "</tbody></table>"


class Markup(str):
    """HTML built here from escaped parts: put into a table cell unescaped."""


def code(value: Any) -> Markup:
    return Markup(f"<code>{text(value)}</code>")


def cell(value: Any) -> str:
    return value if isinstance(value, Markup) else text(value)


def inline_plotly() -> str:
    """Plotly's JavaScript in a script tag: what makes the page open offline."""
    return f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'


def figure_html(fig: go.Figure, div_id: str) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG))


def section_html(section: Section) -> str:
    plots = "".join(figure_html(fig, f"plot-{section.id}-{i}") for i, fig in enumerate(section.figures))
    if plots:
        plots = f'<div class="{"grid" if section.grid else "plots"}">{plots}</div>'
    return f'<section id="{text(section.id)}"><h2>{text(section.title)}</h2>{section.body}{plots}</section>'


def render_page(title: str, sections: Sequence[Section], *, subtitle: str = "", footer: str = "", script: str | None = None) -> str:
    """The whole page; `title`, `subtitle` and `footer` are plain text (escaped here); `script` defaults to Plotly inlined."""
    nav = "".join(f'<a href="#{text(s.id)}">{text(s.title)}</a>' for s in sections)
    return PAGE.substitute(
        title=text(title),
        subtitle=text(subtitle),
        footer=text(footer),
        style=STYLE,
        script=inline_plotly() if script is None else script,
        nav=nav,
        sections="\n".join(section_html(s) for s in sections),
    )
