"""Writers of an importance comparison of several experiments (``harness report runs/A runs/B``).

The table itself is :func:`analysis.importance.compare_rankings`; this module writes it as CSV,
Markdown and one self-contained HTML page with a grouped bar chart per method.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.importance._compare import compare_rankings
from analysis.render import _plots
from analysis.render._markup import html_table, img, md_table, na_html, num, page
from analysis.render._ranking import fidelity_sentence

__all__ = ["write_comparison"]

_LEGEND = (
    "ANOVA % = the share of the metric's variance over the trials that the parameter's main "
    "effect explains (percent), with its rank in that experiment; fANOVA % = the same share over "
    "the search space. Both are on one scale; each report's own page gives their intervals.",
    "– = the experiment did not search the parameter, or could not estimate it.",
)


def _md_rows(table: pd.DataFrame, names: list[str]) -> list[dict[str, str]]:
    rows = []
    for _, r in table.iterrows():
        row = {"parameter": str(r["parameter"])}
        for n in names:
            rank = num(r[f"rank[{n}]"], ".0f")
            row[f"{n}: ANOVA % (rank)"] = f"{num(r[f'anova_pct[{n}]'], '.1f')} ({rank})"
            row[f"{n}: fANOVA %"] = num(r[f"fanova_pct[{n}]"], ".1f")
        rows.append(row)
    return rows


def _header(names: list[str], metas: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = [f"{n}: {fidelity_sentence(metas[n])}" if n in metas else f"{n}:" for n in names]
    lines += [f"{n}: {metas[n]['banner']}" for n in names if metas.get(n, {}).get("banner")]
    metrics = {str(metas[n].get("metric")) for n in names if n in metas}
    if len(metrics) > 1:
        lines.append(f"Note: the experiments rank different metrics {sorted(metrics)}.")
    return lines


def write_comparison(
    out_dir: str | Path,
    named: Mapping[str, pd.DataFrame],
    metas: Mapping[str, Mapping[str, Any]],
) -> dict[str, Path]:
    """Write ``comparison.csv``, ``comparison.md`` and a self-contained ``comparison.html``.

    Args:
        out_dir: folder to write into (created if missing).
        named: experiment name to its importance frame (see ``compare_rankings``).
        metas: experiment name to its report meta (for the fidelity line of each).

    Returns:
        The written path per format (``csv``, ``md``, ``html``).
    """
    table = compare_rankings(named)
    names = [str(n) for n in named]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "comparison.csv", "md": out / "comparison.md"}
    paths["html"] = out / "comparison.html"
    table.to_csv(paths["csv"], index=False)
    head = _header(names, metas)
    rows = _md_rows(table, names)
    md = ["# Importance comparison: " + ", ".join(names), "", *[f"- {h}" for h in head], ""]
    md += [f"- {line}" for line in _LEGEND]
    md += [""]
    paths["md"].write_text("\n".join([*md, md_table(rows)]) + "\n", encoding="utf-8")
    body = [
        f"<h1>Importance comparison: {html.escape(', '.join(names))}</h1>",
        "<ul>" + "".join(f"<li>{html.escape(h)}</li>" for h in head) + "</ul>",
        "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in _LEGEND) + "</ul>",
    ]
    for prefix, method, what in (
        ("anova_pct", "ANOVA", "% of variance over the trials"),
        ("fanova_pct", "fANOVA", "% of variance over the search space"),
    ):
        bars = table.set_index("parameter")[[f"{prefix}[{n}]" for n in names]]
        bars.columns = names
        if bars.notna().to_numpy().any():
            title = f"{method}: {what} per experiment"
            body.append(img(_plots.grouped_bars(bars, title), title))
        else:
            body.append(na_html(f"{method} shares: no experiment has any"))
    body.append(html_table(rows))
    paths["html"].write_text(page("Importance comparison", body), encoding="utf-8")
    return paths
