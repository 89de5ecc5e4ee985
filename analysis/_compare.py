"""Importance rankings of several experiments side by side (``harness report runs/A runs/B``).

One row per parameter of any experiment (the union); per experiment its ANOVA share of variance
(%), its rank and its fANOVA share (%). A parameter an experiment did not vary is blank there,
not zero: "not searched" and "does not matter" are different findings.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import _plots
from analysis._markup import html_table, img, md_table, na_html, num, page
from analysis._render import fidelity_sentence
from search_spaces import ConfigError

__all__ = ["compare_rankings", "write_comparison"]

_NEEDED = ("parameter", "anova_eta2", "fanova")


def _rank(df: pd.DataFrame) -> pd.Series:
    if "rank_anova" in df.columns and df["rank_anova"].notna().any():
        return df["rank_anova"].astype(float)
    return df["anova_eta2"].rank(ascending=False, method="min", na_option="keep")


def compare_rankings(named: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Side-by-side rankings of several experiments.

    Args:
        named: experiment name to its importance frame (columns ``parameter``, ``anova_eta2``,
            ``fanova``, optionally ``rank_anova`` and ``group``).

    Returns:
        One row per parameter of the union, ordered by mean rank over the experiments that have
        it (then name), with ``parameter``, ``group`` and per experiment ``X`` the columns
        ``anova_pct[X]``, ``rank[X]``, ``fanova_pct[X]`` (NaN where ``X`` lacks the parameter).

    Raises:
        ConfigError: no experiment, or a frame without the needed columns.
    """
    if not named:
        raise ConfigError("comparing rankings needs at least one experiment, got none")
    parts, groups = [], {}
    for name, df in named.items():
        missing = [c for c in _NEEDED if c not in df.columns]
        if missing:
            raise ConfigError(f"importance of experiment {name!r} lacks columns {missing}")
        if df["parameter"].duplicated().any():
            dup = sorted(df.loc[df["parameter"].duplicated(), "parameter"].unique())
            raise ConfigError(f"importance of experiment {name!r} repeats parameters {dup}")
        part = pd.DataFrame(
            {
                f"anova_pct[{name}]": 100 * df["anova_eta2"].astype(float).to_numpy(),
                f"rank[{name}]": _rank(df).to_numpy(),
                f"fanova_pct[{name}]": 100 * df["fanova"].astype(float).to_numpy(),
            },
            index=pd.Index(df["parameter"].astype(str), name="parameter"),
        )
        parts.append(part)
        if "group" in df.columns:
            for p, g in zip(df["parameter"], df["group"], strict=True):
                groups.setdefault(str(p), g)
    table = pd.concat(parts, axis=1, join="outer")
    ranks = table[[f"rank[{n}]" for n in named]]
    order = pd.DataFrame({"mean": ranks.mean(axis=1), "name": table.index}, index=table.index)
    table = table.loc[order.sort_values(["mean", "name"], na_position="last").index]
    table.insert(0, "group", [groups.get(p, np.nan) for p in table.index])
    return table.reset_index()


def _md_rows(table: pd.DataFrame, names: list[str]) -> list[dict[str, str]]:
    rows = []
    for _, r in table.iterrows():
        row = {"parameter": str(r["parameter"])}
        for n in names:
            rank = num(r[f"rank[{n}]"], ".0f")
            row[f"{n}: % var (rank)"] = f"{num(r[f'anova_pct[{n}]'], '.1f')} ({rank})"
            row[f"{n}: fANOVA %"] = num(r[f"fanova_pct[{n}]"], ".1f")
        rows.append(row)
    return rows


def _header(names: list[str], metas: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = [f"{n}: {fidelity_sentence(metas[n])}" if n in metas else f"{n}:" for n in names]
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
    md += ["% var = ANOVA share of performance variance (100·eta²).", ""]
    md += ["– = the experiment did not search the parameter, or could not estimate it.", ""]
    paths["md"].write_text("\n".join([*md, md_table(rows)]) + "\n", encoding="utf-8")
    body = [
        f"<h1>Importance comparison: {html.escape(', '.join(names))}</h1>",
        "<ul>" + "".join(f"<li>{html.escape(h)}</li>" for h in head) + "</ul>",
    ]
    for prefix, method, what in (
        ("anova_pct", "ANOVA", "% of performance variance"),
        ("fanova_pct", "fANOVA", "% of explained variance"),
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
