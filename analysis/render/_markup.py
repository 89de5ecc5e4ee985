"""Markup building blocks shared by the report and comparison writers.

Cell formatting (numbers, percentages with intervals, p-values, "–" for missing), Markdown and
HTML tables and definition lists, a warning banner, embedded PNG images, the "not available:
reason" line and one self-contained HTML page (inline CSS, no script, no external reference). No
analysis here.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "banner_html",
    "definitions_html",
    "definitions_md",
    "finite",
    "html_table",
    "img",
    "md_table",
    "na_html",
    "not_available",
    "num",
    "p_value",
    "page",
    "pct",
    "section",
]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}td,th{border:1px solid #ccc;
padding:.25em .6em;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto;display:block;margin:.6em 0}.na{color:#8a5a00;font-style:italic}
.scroll{overflow-x:auto}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}
dl.defs{grid-template-columns:minmax(8em,max-content) auto;font-size:.85em}
.banner{background:#fff3cd;border:2px solid #c98a00;color:#5c3d00;padding:.6em 1em;
font-weight:600}"""


def finite(v: Any) -> bool:
    """Whether ``v`` is a finite number (None, NA, NaN, text: False)."""
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def num(v: Any, spec: str = ".3g") -> str:
    """``v`` formatted with ``spec``, or "–" when missing."""
    return format(float(v), spec) if finite(v) else "–"


def p_value(v: Any) -> str:
    """A p-value: 3 decimals, scientific below 0.001, "<1e-300" where it underflowed."""
    if not finite(v):
        return "–"
    if v < 1e-300:  # the F distribution's tail underflows to 0 long before this
        return "<1e-300"
    return f"{v:.1e}" if v < 1e-3 else f"{v:.3f}"


def pct(v: Any, lo: Any = None, hi: Any = None) -> str:
    """A share (0–1) as a percentage with one decimal, and its interval when both ends exist."""
    text = f"{100 * float(v):.1f}" if finite(v) else "–"
    if not (finite(v) and finite(lo) and finite(hi)):
        return text
    return f"{text} [{100 * float(lo):.1f}, {100 * float(hi):.1f}]"


def md_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A GitHub-flavoured Markdown table; the first row's keys are the header ("" if no rows)."""
    if not rows:
        return ""
    cols = list(rows[0])

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def html_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """An escaped HTML table; the first row's keys are the header ("" if no rows)."""
    if not rows:
        return ""
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>" for r in rows
    )
    # Wide tables (many parameters) scroll inside their box instead of widening the page.
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def img(png: bytes, alt: str) -> str:
    """An ``<img>`` holding the PNG itself as a ``data:`` URI, so the page needs no other file."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def not_available(reason: str) -> str:
    """The line that stands in for a piece that cannot be shown."""
    return f"not available: {reason}"


def page(title: str, body: Iterable[str]) -> str:
    """One self-contained HTML page: inline CSS, no script, no external reference."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def section(title: str, parts: Iterable[str]) -> str:
    """A titled section of a page."""
    return f"<h2>{html.escape(title)}</h2>\n" + "\n".join(parts)


def na_html(reason: str) -> str:
    """:func:`not_available` as an HTML paragraph."""
    return f'<p class="na">{html.escape(not_available(reason))}</p>'


def definitions_md(items: Iterable[tuple[str, str]]) -> str:
    """Term and definition pairs as a Markdown list ("" if none)."""
    return "\n".join(f"- **{term}**: {text}" for term, text in items)


def definitions_html(items: Iterable[tuple[str, str]]) -> str:
    """Term and definition pairs as an escaped HTML definition list ("" if none)."""
    pairs = "".join(
        f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in items
    )
    return f'<dl class="defs">{pairs}</dl>' if pairs else ""


def banner_html(text: str) -> str:
    """A warning that must not be missed, set apart at the top of a page."""
    return f'<p class="banner" role="alert">{html.escape(text)}</p>'
