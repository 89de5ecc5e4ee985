"""Writers of an importance report: CSV, JSON, Markdown and one self-contained HTML file.

They take the plain tables :func:`analysis.compute_importance` returns (importance, interactions,
group totals, the ranking across epochs, a meta dict) plus the experiment's trials and curves, and
compute nothing about importance themselves. Both pages open with the fidelity ("epoch E of M, k
of n trials"), any warning banner, where the parameter list came from and the rule that chose the
trials; the ranking is followed by what each of its columns means (``meta["definitions"]``).
The HTML page has no script and no external reference: CSS is inline and every figure is a
``data:image/png;base64`` URI, so the file opens offline and can be mailed as is. A piece that
cannot be drawn (no curves, no peak memory, no fANOVA) becomes one "not available: reason" line.
The anytime curve (:mod:`analysis.render._anytime`) is written next to the pages.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis._json import jsonable
from analysis.importance import DEFINITIONS
from analysis.render import _plots
from analysis.render._anytime import anytime_sections
from analysis.render._markup import (
    banner_html,
    definitions_html,
    definitions_md,
    finite,
    html_table,
    img,
    md_table,
    na_html,
    not_available,
    num,
    page,
    section,
)
from analysis.render._ranking import (
    DEFAULT_LEVEL,
    column_definitions,
    group_rows,
    header_text,
    interaction_rows,
    ordered,
    ranking_rows,
    stability_rows,
)
from search_spaces import SUCCESS_STATUSES, ConfigError, format_bytes, metric_direction

__all__ = ["FORMATS", "metric_column", "outcome", "report_dict", "write_report"]

FORMATS = ("md", "html", "csv", "json")
# The best-trials table shows this many of the most important parameters, to stay readable.
_BEST_PARAMS = 6
# the group and interaction tables: title, key in _tables, reason when empty, definition key
_SECTIONS = (
    ("Group totals", "groups", "no groups", "group_def"),
    ("Interactions (shares are lower bounds)", "interactions", "no interaction was tested",
     "interaction_def"),
)  # fmt: skip
_FILES = {
    "csv": "importance.csv",
    "json": "importance.json",
    "md": "report.md",
    "html": "report.html",
}


def report_dict(
    importance: pd.DataFrame,
    interactions: pd.DataFrame | None,
    groups: pd.DataFrame | None,
    meta: Mapping,
    stability: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Meta and the four tables as one JSON-able dict (NaN and infinities become ``None``)."""

    def records(df: pd.DataFrame | None) -> list:
        return [] if df is None else df.astype(object).to_dict("records")

    return jsonable(
        {
            "meta": dict(meta),
            "importance": records(importance),
            "interactions": records(interactions),
            "groups": records(groups),
            "stability": records(stability),
        }
    )


def metric_column(trials: pd.DataFrame, metric: str) -> str | None:
    """The trials column holding a metric: ``final.<metric>``, else the metric itself."""
    for name in (f"final.{metric}", metric):
        if name in trials.columns:
            return name
    return None


def _mode(meta: Mapping) -> str:
    """The report's ``mode``, else the harness's rule for its metric (never a silent "max")."""
    return metric_direction(str(meta.get("metric")), meta.get("mode"))


def _trial_key(df: pd.DataFrame) -> pd.Series:
    """Trial identity: ``trial_id``, qualified by ``stage`` in a staged plan's tables."""
    if "stage" in df.columns:
        return df["stage"].astype(str) + "/" + df["trial_id"].astype(str)
    return df["trial_id"].astype(str)


def outcome(
    trials: pd.DataFrame,
    curves: pd.DataFrame | None,
    meta: Mapping,
    analysed: pd.DataFrame | None = None,
) -> tuple[np.ndarray, str]:
    """Per trial (aligned with ``trials``), the value the plots show, and its label.

    The values importance was computed on when ``analysed`` gives them (``trial_id``, ``stage``
    for a plan, and ``value``: the fidelity table); else the metric at the report's fidelity
    epoch when the curves have it; else the final value of finished trials.
    """
    metric, epoch = str(meta.get("metric")), meta.get("epoch")
    label = f"{metric} @ epoch {epoch}" if epoch is not None else metric
    if analysed is not None and "value" in analysed.columns:
        return _by_key(trials, analysed, "value"), label
    if curves is not None and metric in curves.columns and epoch is not None:
        return _by_key(trials, curves.loc[curves["epoch"] == epoch], metric), label
    col = metric_column(trials, metric)
    if col is None:
        return np.full(len(trials), np.nan), metric
    values = trials[col].where(trials["status"].isin(SUCCESS_STATUSES))
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float), col


def _by_key(trials: pd.DataFrame, source: pd.DataFrame, column: str) -> np.ndarray:
    by_key = pd.Series(source[column].to_numpy(), index=_trial_key(source))
    by_key = by_key[~by_key.index.duplicated(keep="last")]
    return pd.to_numeric(_trial_key(trials).map(by_key), errors="coerce").to_numpy(dtype=float)


def _best_rows(
    trials: pd.DataFrame | None, meta: Mapping, params: Sequence[str], top: int = 10
) -> tuple[list[dict[str, str]], str]:
    """Top finished trials by the final metric; an empty list comes with the reason."""
    if trials is None or trials.empty:
        return [], "no trials table"
    col = metric_column(trials, str(meta.get("metric")))
    if col is None:
        return [], f"the trials table has no column final.{meta.get('metric')}"
    done = trials[trials["status"].isin(SUCCESS_STATUSES)].dropna(subset=[col])
    if done.empty:
        return [], f"no finished (completed or early-stopped) trial has a value of {col}"
    done = done.sort_values(col, ascending=_mode(meta) == "min", kind="stable").head(top)
    rows = []
    for i, (_, r) in enumerate(done.iterrows(), start=1):
        row = {"#": str(i), "trial": str(r["trial_id"])}
        if "stage" in done.columns:
            row["stage"] = str(r["stage"])
        row[col] = num(r[col], ".4g")
        row["epochs"] = num(r.get("epochs"), ".0f")
        for p in params:
            v = r[p]
            row[p] = num(v, ".4g") if isinstance(v, float | np.floating) else str(v)
        mem = r.get("peak_memory_bytes")
        row["peak memory"] = format_bytes(mem) if finite(mem) else "–"
        rows.append(row)
    return rows, ""


def _header_lines(meta: Mapping) -> list[tuple[str, str]]:
    lines = [("metric", f"{meta.get('metric')} ({_mode(meta)})")]
    if meta.get("param_source"):
        lines.append(("parameters from", str(meta["param_source"])))
    lines.append(("rule", str(meta.get("rule", ""))))
    model = _model_line(meta)
    if model:
        lines.append(("model", model))
    return lines


def _model_line(meta: Mapping) -> str:
    """How the shares were estimated, in one line (empty when the meta does not say)."""
    if meta.get("unavailable"):
        return f"not fitted ({meta['unavailable']})"
    parts = []
    df = meta.get("spline_df")
    if finite(df):
        parts.append(
            "a spline per numeric parameter, its degrees of freedom in the treatment column "
            "(chosen by generalised cross-validation unless given; a grid, one coefficient per "
            "value, where a parameter has few values), a level per choice"
            if int(df)
            else "no numeric parameter: a level per choice"
        )
    if finite(meta.get("r2")):
        parts.append(f"R² of the main-effects model {float(meta['r2']):.2f}")
    if finite(meta.get("bootstrap")):
        level = meta.get("level", DEFAULT_LEVEL)
        parts.append(f"{int(meta['bootstrap'])} bootstrap resamples for the {level:.0%} intervals")
    return "; ".join(parts)


def _notes(meta: Mapping) -> list[str]:
    """The notes, without the banner the page already shows at its top."""
    return [str(n) for n in meta.get("notes") or [] if n != meta.get("banner")]


def _headline(meta: Mapping) -> str:
    return f"{header_text(meta)}: what drives {meta.get('metric')} ({_mode(meta)})"


def _tables(importance, interactions, groups, stability, meta) -> dict[str, Any]:
    """Every table of the page as rows, with the definitions of the ranking's columns."""
    level = meta.get("level", DEFAULT_LEVEL)
    ranking = ranking_rows(importance, level=level)
    definitions = meta.get("definitions") or DEFINITIONS
    return {
        "ranking": ranking,
        "columns": column_definitions(ranking[0] if ranking else [], definitions),
        "groups": group_rows(groups, level),
        "interactions": interaction_rows(interactions, level),
        "stability": stability_rows(stability, meta.get("epoch")),
        "interaction_def": f"share: {definitions.get('interaction share', '')}",
        "stability_def": f"τ: {definitions.get('stability', '')}",
        "group_def": f"the shares of each group's parameters summed, with a {level:.0%} interval "
        "of the sum",
    }


def _fanova_missing(importance: pd.DataFrame) -> str:
    """Why no parameter has a fANOVA share (the table's note), or "" when some has one."""
    if importance.empty or importance["fanova"].notna().any():
        return ""
    notes = [str(n) for n in importance.get("note", pd.Series(dtype=str)).dropna() if str(n)]
    notes.sort(key=lambda n: "fANOVA" not in n)  # the reason fANOVA gives first, if any
    return notes[0] if notes else "not asked for"


def _markdown(importance, tabs, meta, trials, params, with_html: bool, anytime: list[str]) -> str:
    out = [f"# Parameter importance: {meta.get('experiment')}", ""]
    if meta.get("banner"):
        out += [f"> **WARNING: {meta['banner']}**", ""]
    out += [f"**{_headline(meta)}**", ""]
    out += [f"- **{k}**: {v}" for k, v in _header_lines(meta)]
    notes = _notes(meta)
    if notes:
        out += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    out += ["", "## Ranking", ""]
    out += [md_table(tabs["ranking"]) or not_available("no parameter was analysed")]
    if tabs["ranking"]:
        out += ["", "### What the columns mean", "", definitions_md(tabs["columns"])]
    for title, key, reason, definition in _SECTIONS:
        rows = tabs[key]
        out += ["", f"## {title}", "", md_table(rows) or not_available(reason)]
        if rows:
            out += ["", tabs[definition]]
    if tabs["stability"]:
        out += ["", "## Ranking across epochs", "", md_table(tabs["stability"])]
        out += ["", tabs["stability_def"]]
    best, why = _best_rows(trials, meta, params[:_BEST_PARAMS])
    out += ["", "## Best trials", "", md_table(best) or not_available(why)]
    out += anytime
    if with_html:
        out += ["", "Figures: see report.html in this folder."]
    return "\n".join(out) + "\n"


def _html(importance, tabs, meta, trials, curves, params, top_params, analysed, anytime):
    body = [f"<h1>Parameter importance: {html.escape(str(meta.get('experiment')))}</h1>"]
    if meta.get("banner"):
        body.append(banner_html(f"WARNING: {meta['banner']}"))
    body.append(f"<p><strong>{html.escape(_headline(meta))}</strong></p>")
    body.append(definitions_html(_header_lines(meta)))
    notes = _notes(meta)
    if notes:
        body.append(
            section("Notes", ["<ul>", *[f"<li>{html.escape(n)}</li>" for n in notes], "</ul>"])
        )
    rank = [html_table(tabs["ranking"]) or na_html("no parameter was analysed")]
    if tabs["ranking"]:
        rank += ["<h3>What the columns mean</h3>", definitions_html(tabs["columns"])]
        level = meta.get("level", DEFAULT_LEVEL)
        rank.append(img(_plots.importance_bars(importance, level), "importance bars"))
        why = _fanova_missing(importance)
        if why:
            rank.append(na_html(f"fANOVA shares were not computed ({why})"))
    body.append(section("Ranking", rank))
    for title, key, reason, definition in _SECTIONS:
        rows = tabs[key]
        part = [html_table(rows) or na_html(reason)]
        if rows:
            part.append(f"<p>{html.escape(tabs[definition])}</p>")
        body.append(section(title, part))
    if tabs["stability"]:
        stable = [html_table(tabs["stability"]), f"<p>{html.escape(tabs['stability_def'])}</p>"]
        body.append(section("Ranking across epochs", stable))
    best, why = _best_rows(trials, meta, params[:_BEST_PARAMS])
    body.append(section("Best trials", [html_table(best) or na_html(why)]))
    body += _plot_sections(importance, meta, trials, curves, params, top_params, analysed)
    body.append(anytime)
    return page(f"Importance: {meta.get('experiment')}", body)


def _plot_sections(importance, meta, trials, curves, params, top_params, analysed) -> list[str]:
    mode = _mode(meta)
    if trials is None or trials.empty:
        return [section("Plots", [na_html("no trials table")])]
    y, label = outcome(trials, curves, meta, analysed)
    n_ok = int(np.isfinite(y).sum())
    out = []
    if n_ok < 2 or not params:
        why = "fewer than two trials have a value" if n_ok < 2 else "no parameter column"
        out.append(section("Parallel coordinates", [na_html(why)]))
    else:
        png = _plots.parallel_coordinates(trials, params, y, label, mode)
        out.append(section("Parallel coordinates", [img(png, "parallel coordinates")]))
    top = [p for p in ordered(importance)["parameter"] if p in params][:top_params]
    if n_ok < 2 or not top:
        why = f"fewer than two trials have a value of {label}" if n_ok < 2 else "no parameter"
        out.append(section("Marginal plots", [na_html(why)]))
    else:
        png = _plots.marginal_plots(trials, top, y, label)
        out.append(section("Marginal plots", [img(png, "marginal plots: " + ", ".join(top))]))
    out.append(section("Learning curves", [_curves_part(meta, trials, curves)]))
    out.append(section("Quality against peak memory", [_pareto_part(meta, trials, mode)]))
    return out


def _curves_part(meta: Mapping, trials: pd.DataFrame, curves: pd.DataFrame | None) -> str:
    metric = str(meta.get("metric"))
    if metric.startswith(("final.", "best.")):
        metric = metric.split(".", 1)[1]
    if curves is None or curves.empty:
        return na_html("no learning curves (curves.parquet is missing or empty)")
    if metric not in curves.columns or not curves[metric].notna().any():
        return na_html(f"the curves have no values of {metric}")
    has_epochs = "epochs" in trials.columns
    reached = pd.Series(trials["epochs"].to_numpy() if has_epochs else np.nan, _trial_key(trials))
    curves = curves.assign(trial_id=_trial_key(curves))
    png = _plots.learning_curves(curves, metric, reached, meta.get("epoch"))
    return img(png, "learning curves")


def _pareto_part(meta: Mapping, trials: pd.DataFrame, mode: str) -> str:
    metric = str(meta.get("metric"))
    col = metric_column(trials, metric)
    if col is None:
        return na_html(f"the trials table has no column final.{metric}")
    if col == "peak_memory_bytes":
        return na_html("the metric is peak memory itself")
    if "peak_memory_bytes" not in trials.columns or not trials["peak_memory_bytes"].notna().any():
        return na_html("peak memory was not recorded")
    done = trials[trials["status"].isin(SUCCESS_STATUSES)]
    q = pd.to_numeric(done[col], errors="coerce").to_numpy(dtype=float)
    m = pd.to_numeric(done["peak_memory_bytes"], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(q) & np.isfinite(m)).any():
        return na_html("no finished trial has both a final metric and a peak memory")
    return img(_plots.pareto_plot(q, m, mode, col), "quality vs peak memory")


def write_report(
    out_dir: str | Path,
    importance: pd.DataFrame,
    interactions: pd.DataFrame | None,
    groups: pd.DataFrame | None,
    meta: Mapping[str, Any],
    trials: pd.DataFrame | None,
    curves: pd.DataFrame | None,
    formats: Iterable[str] = FORMATS,
    top_params: int = 4,
    analysed: pd.DataFrame | None = None,
    stability: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write the report files into ``out_dir`` (created if missing).

    Besides the files of ``formats``, the anytime curve (best so far against epochs spent and
    wall time) is written as ``anytime.csv`` with ``csv`` and ``anytime.png`` with ``md`` or
    ``html``; both pages show it in the section "Best so far against budget".

    Args:
        out_dir: folder to write into.
        importance: one row per parameter, columns :data:`analysis.importance.TABLE_COLUMNS`
            (``ImportanceReport.table``).
        interactions: :data:`~analysis.importance.INTERACTION_COLUMNS`; may be empty or None.
        groups: :data:`~analysis.importance.GROUP_COLUMNS`; may be empty or None.
        meta: :meth:`ImportanceReport.meta`: ``experiment``, ``metric``, ``mode``, ``header``,
            ``banner``, ``param_source``, ``epoch``, ``n_trials_total``, ``n_used``, ``rule``,
            ``spline_df``, ``bootstrap``, ``level``, ``r2``, ``definitions``, ``notes``; the
            header is built from the epoch and counts when missing, and the definitions default
            to :data:`analysis.importance.DEFINITIONS`.
        trials: the experiment's trials table (for best trials and plots), or None.
        curves: the experiment's curves table (for learning curves and the anytime curve of
            :mod:`analysis.render._anytime`), or None.
        formats: any of ``md``, ``html``, ``csv``, ``json``.
        top_params: how many of the most important parameters get a marginal plot.
        analysed: optional per-trial values importance was computed on (``trial_id``,
            ``stage`` for a plan, ``value``), so the plots show exactly those.
        stability: optional :data:`~analysis.importance.STABILITY_COLUMNS`
            (``ImportanceReport.stability``): shown as "Ranking across epochs" when it has rows.

    Returns:
        The written path per format.

    Raises:
        ConfigError: an unknown format.
    """
    formats = [f.strip().lower() for f in formats]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ConfigError(f"unknown report format(s) {unknown}; valid formats: {list(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    have = set(trials.columns) if trials is not None else set()
    params = [p for p in ordered(importance)["parameter"] if p in have]
    # anytime.csv goes with the CSV format, anytime.png with the pages that show it
    any_md, any_html = anytime_sections(
        out,
        str(meta.get("metric")),
        _mode(meta),
        trials,
        curves,
        csv="csv" in formats,
        png=bool({"md", "html"} & set(formats)),
    )
    tabs = _tables(importance, interactions, groups, stability, meta)
    written: dict[str, Path] = {}
    for fmt in FORMATS:
        if fmt not in formats:
            continue
        path = out / _FILES[fmt]
        if fmt == "csv":
            importance.to_csv(path, index=False)
        elif fmt == "json":
            doc = report_dict(importance, interactions, groups, meta, stability)
            path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        elif fmt == "md":
            text = _markdown(importance, tabs, meta, trials, params, "html" in formats, any_md)
            path.write_text(text, encoding="utf-8")
        else:
            text = _html(
                importance, tabs, meta, trials, curves, params, top_params, analysed, any_html
            )
            path.write_text(text, encoding="utf-8")
        written[fmt] = path
    return written
