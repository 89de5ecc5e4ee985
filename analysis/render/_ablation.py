"""Rendering of an ablation: terminal rows, CSV, JSON, Markdown, a forest plot and an HTML page.

Takes the :class:`~analysis.ablation.AblationResult` that :func:`analysis.ablation_statistics`
computed and the variants table (``variant``, ``description``, ``renormalized``, ``overrides``);
computes no statistic itself. The forest plot shows, per metric, each variant's mean paired
difference against the baseline with its t-interval, a zero line, coloured by verdict; like
:mod:`analysis.render._plots` it is drawn on a bare Agg ``Figure``, never through ``pyplot``.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis._json import jsonable
from analysis.ablation._statistics import HELPS, HURTS, NO_EFFECT, NOT_TESTED, AblationResult
from analysis.render._markup import (
    finite,
    html_table,
    img,
    md_table,
    na_html,
    not_available,
    p_value,
    page,
    section,
)
from analysis.render._plots import to_png
from search_spaces import format_bytes

__all__ = [
    "ABLATION_FILES",
    "ablation_html",
    "ablation_markdown",
    "ablation_rows",
    "forest_plot",
    "mde_lines",
    "write_ablation",
]

ABLATION_FILES = {
    "csv": "ablation.csv",
    "json": "ablation.json",
    "md": "ablation.md",
    "png": "forest.png",
    "html": "report.html",
}
_COLOURS = {HURTS: "#c0392b", HELPS: "#1e8449", NO_EFFECT: "#566573", NOT_TESTED: "#b3b6b7"}
_MIB = 2**20
_PANEL_COLUMNS = 2


def _fmt(metric: str, v: Any, signed: bool = False) -> str:
    """A value of ``metric`` in its unit: bytes as KiB/MiB/GiB, seconds with "s", else 4 digits."""
    if not finite(v):
        return "–"
    v = float(v)
    sign = ("+" if v > 0 else "−" if v < 0 else "±") if signed else ("−" if v < 0 else "")
    if metric.endswith("_bytes"):
        return sign + format_bytes(abs(v))
    text = format(abs(v), ".4g")
    return sign + (f"{text} s" if metric.endswith("_time_s") else text)


def _rel(v: Any) -> str:
    return f"{100 * float(v):+.1f}%".replace("-", "−") if finite(v) else "–"


def _d_z(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return ("+∞" if v > 0 else "−∞") if math.isinf(v) else f"{float(v):+.2f}".replace("-", "−")


def _ci_label(result: AblationResult) -> str:
    return f"{round(100 * result.confidence)}% CI"


def _metric_rows(result: AblationResult, metric: str) -> list[dict[str, str]]:
    table = result.table[result.table["metric"] == metric]
    ci = _ci_label(result)
    rows = []
    for r in table.itertuples(index=False):
        rows.append(
            {
                "variant": str(r.variant),
                "n": str(r.n),
                "mean ± sd": f"{_fmt(metric, r.mean)} ± {_fmt(metric, r.sd)}",
                ci: f"[{_fmt(metric, r.ci_low)}, {_fmt(metric, r.ci_high)}]",
                "Δ": _fmt(metric, r.delta, signed=True),
                f"Δ {ci}": (
                    f"[{_fmt(metric, r.delta_ci_low, True)}, {_fmt(metric, r.delta_ci_high, True)}]"
                    if finite(r.delta_ci_low)
                    else "–"
                ),
                "Δ %": _rel(r.delta_rel),
                "p t": p_value(r.p_t),
                "p Wilcoxon": p_value(r.p_wilcoxon),
                "p Holm": p_value(r.p_holm),
                "d_z": _d_z(r.d_z),
                "MDE": _fmt(metric, r.mde) if finite(r.mde) else "–",
                "verdict": str(r.verdict),
            }
        )
    return rows


def ablation_rows(result: AblationResult) -> list[dict[str, str]]:
    """The main metric's table as formatted strings, baseline first, for a terminal.

    Keys: ``variant``, ``n``, ``mean ± sd``, ``95% CI``, ``Δ``, ``Δ 95% CI``, ``Δ %``, ``p t``,
    ``p Wilcoxon``, ``p Holm``, ``d_z``, ``MDE``, ``verdict`` (the interval level follows alpha).
    """
    return _metric_rows(result, result.main_metric)


def mde_lines(result: AblationResult) -> list[str]:
    """Per variant, one sentence: the smallest Δ of the main metric it could detect.

    That is the effect the paired t-test finds with probability ``result.power`` at level
    ``result.alpha``, given the observed sd of the paired differences (Cohen 1988, ch. 2).
    """
    metric = result.main_metric
    out = []
    main = result.main()
    for r in main[main["variant"] != result.baseline].itertuples(index=False):
        if not finite(r.mde):
            out.append(f"{r.variant}: {r.n} paired seed(s), too few to estimate the power")
            continue
        d = r.mde / r.sd_diff if r.sd_diff else math.nan
        out.append(
            f"{r.variant}: with {r.n} paired seeds and sd of paired differences "
            f"{_fmt(metric, r.sd_diff)}, the smallest |Δ {metric}| detectable with "
            f"{round(100 * result.power)}% power at α = {result.alpha:g} is "
            f"{_fmt(metric, r.mde)}"
            + (f" (d_z = {d:.2f})" if finite(d) else "")
            + f"; observed Δ {_fmt(metric, r.delta, signed=True)}"
        )
    return out


def _other_rows(result: AblationResult) -> list[dict[str, str]]:
    """One row per variant; per other metric, "Δ (Δ%), p Holm: verdict"."""
    others = [m for m in result.metrics if m != result.main_metric]
    if not others:
        return []
    table = result.table.set_index(["variant", "metric"])
    rows = []
    for name in result.variants[1:]:
        row = {"variant": name}
        for m in others:
            r = table.loc[(name, m)]
            row[m] = (
                f"{_fmt(m, r['delta'], signed=True)} ({_rel(r['delta_rel'])}), "
                f"p Holm {p_value(r['p_holm'])}: {r['verdict']}"
            )
        rows.append(row)
    return rows


def _renormalized(variants: pd.DataFrame | None) -> list[str]:
    if variants is None or "renormalized" not in variants.columns:
        return []
    return [
        str(v)
        for v, flag in zip(variants["variant"], variants["renormalized"], strict=True)
        if bool(flag)
    ]


def _renormalization_sentence(variants: pd.DataFrame | None, meta: Mapping[str, Any]) -> str:
    names = _renormalized(variants)
    if names:
        return f"Loss weights were renormalised after the drop in: {', '.join(names)}."
    if meta.get("renormalize"):
        return "Renormalisation was requested, but no variant dropped a loss term."
    return "Loss weights were not renormalised: the remaining loss terms keep their weights."


def _variant_rows(variants: pd.DataFrame | None) -> list[dict[str, str]]:
    if variants is None or variants.empty:
        return []
    rows = []
    for r in variants.to_dict("records"):
        overrides = r.get("overrides") or {}
        rows.append(
            {
                "variant": str(r.get("variant")),
                "description": str(r.get("description") or ""),
                "loss weights renormalised": "yes" if bool(r.get("renormalized")) else "no",
                "overrides": json.dumps(jsonable(overrides), sort_keys=True) if overrides else "–",
            }
        )
    return rows


def _header_lines(result: AblationResult, meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    seeds = meta.get("seeds")
    lines = [
        ("base recipe", str(meta.get("base", "–"))),
        ("seeds", ", ".join(map(str, seeds)) if isinstance(seeds, list | tuple) else str(seeds)),
        ("main metric", f"{result.main_metric} ({_direction(result, result.main_metric)})"),
        ("baseline", result.baseline),
        ("tests", _rule(result)),
    ]
    if meta.get("command"):
        lines.append(("command", str(meta["command"])))
    return lines


def _direction(result: AblationResult, metric: str) -> str:
    d = result.table.loc[result.table["metric"] == metric, "direction"]
    return "higher is better" if d.empty or d.iloc[0] == "max" else "lower is better"


def _rule(result: AblationResult) -> str:
    return (
        f"paired by seed (Δ = variant − {result.baseline}); paired t-test, Wilcoxon signed-rank "
        f"from 6 seeds, Holm across the variants per metric; verdict at α = {result.alpha:g} "
        f"on the Holm p: 'hurts' = the variant is worse than {result.baseline}"
    )


def _title(meta: Mapping[str, Any]) -> str:
    name = meta.get("name") or meta.get("experiment")
    return f"Ablation: {name}" if name else "Ablation"


def ablation_markdown(
    result: AblationResult, variants: pd.DataFrame | None, meta: Mapping[str, Any]
) -> str:
    """The ablation as Markdown: settings, the main table, MDEs, other metrics, variants, notes."""
    out = [f"# {_title(meta)}", ""]
    out += [f"- **{k}**: {v}" for k, v in _header_lines(result, meta)]
    out += ["", _renormalization_sentence(variants, meta), ""]
    out += [f"## {result.main_metric}", "", md_table(ablation_rows(result)), ""]
    out += ["Smallest detectable effects:", "", *[f"- {line}" for line in mde_lines(result)]]
    other = md_table(_other_rows(result))
    if other:
        out += ["", "## Other metrics (Δ against the baseline)", "", other]
    out += ["", "## Variants", "", md_table(_variant_rows(variants)) or not_available("none")]
    if result.notes:
        out += ["", "## Notes", "", *[f"- {n}" for n in result.notes]]
    out += ["", "Forest plot: forest.png in this folder."]
    return "\n".join(out) + "\n"


def ablation_html(
    result: AblationResult,
    variants: pd.DataFrame | None,
    meta: Mapping[str, Any],
    forest_png: bytes | None,
) -> str:
    """The ablation as one self-contained HTML page (the forest plot embedded as a data URI)."""
    body = [f"<h1>{html.escape(_title(meta))}</h1>"]
    dl = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
        for k, v in _header_lines(result, meta)
    )
    body += [f"<dl>{dl}</dl>", f"<p>{html.escape(_renormalization_sentence(variants, meta))}</p>"]
    mde = "".join(f"<li>{html.escape(line)}</li>" for line in mde_lines(result))
    body.append(
        section(
            result.main_metric,
            [
                html_table(ablation_rows(result)),
                "<p>Smallest detectable effects:</p>",
                f"<ul>{mde}</ul>",
            ],
        )
    )
    figure = img(forest_png, "forest plot") if forest_png else na_html("no variant to plot")
    body.append(section("Forest plot", [figure]))
    other = html_table(_other_rows(result))
    if other:
        body.append(section("Other metrics (Δ against the baseline)", [other]))
    body.append(section("Variants", [html_table(_variant_rows(variants)) or na_html("none")]))
    if result.notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
        body.append(section("Notes", [f"<ul>{items}</ul>"]))
    return page(_title(meta), body)


def forest_plot(result: AblationResult) -> bytes | None:
    """PNG of every metric's paired Δ per variant with its t-interval, coloured by verdict.

    One panel per metric, the main metric first; memory is drawn in MiB. ``None`` when there is
    no variant besides the baseline.
    """
    names = list(result.variants[1:])
    if not names:
        return None
    metrics = list(result.metrics)
    ncols = min(_PANEL_COLUMNS, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    height = max(2.2, 0.45 * len(names) + 1.4)
    fig = Figure(figsize=(6.0 * ncols, height * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    table = result.table.set_index(["variant", "metric"])
    y = np.arange(len(names))[::-1]
    for ax, metric in zip(axes, metrics, strict=False):
        scale, unit = (_MIB, " (MiB)") if metric.endswith("_bytes") else (1.0, "")
        for yi, name in zip(y, names, strict=True):
            r = table.loc[(name, metric)]
            if not finite(r["delta"]):
                ax.text(0, yi, "  not tested", va="center", fontsize=8, color="#888")
                continue
            colour = _COLOURS.get(str(r["verdict"]), "#000")
            lo, hi = r["delta_ci_low"], r["delta_ci_high"]
            if finite(lo) and finite(hi):
                ax.plot([lo / scale, hi / scale], [yi, yi], color=colour, lw=2)
            ax.plot(r["delta"] / scale, yi, "o", color=colour, ms=7)
        ax.axvline(0.0, color="#333", lw=0.8, ls="--")
        ax.set_yticks(y, names)
        ax.set_ylim(-0.7, len(names) - 0.3)
        ax.set_xlabel(f"Δ {metric}{unit} (variant − {result.baseline})")
        main = metric == result.main_metric
        ax.set_title(
            f"{metric} ({_direction(result, metric)})", fontweight="bold" if main else None
        )
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=c, marker="o", lw=2, label=v) for v, c in _COLOURS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    fig.suptitle(
        f"Paired Δ against {result.baseline}, {_ci_label(result)} (t); "
        f"verdict at α = {result.alpha:g}, Holm"
    )
    return to_png(fig)


def write_ablation(
    result: AblationResult,
    variants: pd.DataFrame | None,
    out_dir: str | Path,
    *,
    meta: Mapping[str, Any],
    html_page: bool = False,
) -> list[Path]:
    """Write ``ablation.csv``, ``ablation.json``, ``ablation.md`` and ``forest.png`` (and, with
    ``html_page``, a self-contained ``report.html``) into ``out_dir`` (created if missing).

    Args:
        result: the statistics.
        variants: ``variant``, ``description``, ``renormalized``, ``overrides`` per variant.
        out_dir: the folder.
        meta: the run's settings (``spec.json``: ``base``, ``seeds``, ``metric``,
            ``renormalize``, ``command``; a ``name`` titles the report).
        html_page: also write ``report.html``.

    Returns:
        The written paths (no ``forest.png`` when there is no variant besides the baseline).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / ABLATION_FILES["csv"]
    result.table.to_csv(path, index=False)
    written.append(path)
    variant_records = [] if variants is None else variants.astype(object).to_dict("records")
    doc = jsonable({"meta": dict(meta), **result.to_dict(), "variants": variant_records})
    path = out / ABLATION_FILES["json"]
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    written.append(path)
    path = out / ABLATION_FILES["md"]
    path.write_text(ablation_markdown(result, variants, meta), encoding="utf-8")
    written.append(path)
    png = forest_plot(result)
    if png is not None:
        path = out / ABLATION_FILES["png"]
        path.write_bytes(png)
        written.append(path)
    if html_page:
        path = out / ABLATION_FILES["html"]
        path.write_text(ablation_html(result, variants, meta, png), encoding="utf-8")
        written.append(path)
    return written
