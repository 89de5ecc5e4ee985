"""The anytime curve of a search: the best score so far against the budget spent.

Every epoch any trial reports spends one unit of budget. Ordered by when it was reported, the
reports give the best value found so far after each epoch spent (and after each second of wall
time), the "anytime performance" of the search (Eggensperger et al., *HPOBench*, NeurIPS 2021
Datasets and Benchmarks; the same curve the Syne Tune and HpBandSter benchmarks plot). Where it
still rises at the end, more budget would likely find better configurations; where it has been
flat for a while, more of the same budget would likely add little.

Two lines, both running bests in the metric's direction:

- ``best_final``: the best value reported at the final fidelity, the highest epoch reached in
  the stage (or ``final_epoch`` when given): what a full-length trial achieved, the line the
  search's answer comes from. It starts at the first report of that epoch.
- ``best_any``: the best value reported at any epoch, early-stopped trials included; its
  low-fidelity values are not comparable with full-length ones, so it is drawn dotted, as context.

Order of the reports: by ``timestamp`` (unix seconds, written by the harness since curves.parquet
has it), ties in trial order then epoch. Older runs have no timestamp; their reports are taken in
trial order (the order trials first appear in curves.parquet, which is the order Ray created
them), then epoch — as if the trials had run one after another — and the caption says the order
is approximate. ``time_total_s`` is not used for the order: it restarts at zero for every trial,
so sorting by it would pretend that all trials started at the same moment.

Wall time: seconds since the stage's first report (``timestamp``); without timestamps, the
cumulative trial time in that order (per-epoch durations from ``time_total_s``, else each trial's
``wall_time_s`` of trials.parquet spread evenly over its epochs): the compute spent, summed over
trials, longer than the wall clock when trials ran concurrently.

A staged plan gets one curve per stage (each stage narrows the space or changes its fidelity, so
its values start afresh); its figure puts the stages one after another. Ablation directories have
no anytime curve: every cell runs the same fixed budget, there is no search to give more budget to.

Computing (:func:`compute_anytime`, :func:`budget_verdict`) is kept apart from drawing
(:func:`anytime_figure`) and writing (:func:`write_anytime`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.render._markup import img, na_html, not_available, section
from analysis.render._plots import to_png
from search_spaces import ConfigError

__all__ = [
    "ANYTIME_COLUMNS",
    "ANYTIME_FILES",
    "TAIL",
    "AnytimeCurve",
    "Verdict",
    "anytime_caption",
    "anytime_figure",
    "anytime_sections",
    "anytime_table",
    "budget_verdict",
    "compute_anytime",
    "write_anytime",
]

#: columns of one stage's anytime table, and of ``anytime.csv`` (with ``stage`` first for a plan)
ANYTIME_COLUMNS = ("epochs_spent", "wall_s", "best_any", "best_final", "trial_id", "epoch", "value")
ANYTIME_FILES = {"csv": "anytime.csv", "png": "anytime.png"}
#: the share of the budget, at its end, the verdict looks at
TAIL = 0.25
# With fewer reports the last quarter holds one report or none: nothing to judge a trend from.
_MIN_REPORTS = 8
# Improvements smaller than this share of the range of all reported values are ties (float noise).
_TIE = 1e-3
_WALL_TEXT = {
    "timestamp": "wall time since the first report",
    "time_total_s": "cumulative trial time (sum of every trial's epoch times, from time_total_s)",
    "wall_time_s": "cumulative trial time (each trial's wall_time_s spread over its epochs)",
}

_WALL_AXIS = {
    "timestamp": "wall time since the first report",
    "time_total_s": "cumulative trial time",
    "wall_time_s": "cumulative trial time",
}


@dataclass(frozen=True)
class Verdict:
    """Whether the best so far still rose over the last :data:`TAIL` of the budget.

    Attributes:
        rising: True (more budget would likely help), False (flat), None (too little to judge).
        sentence: the verdict as one line for the report.
    """

    rising: bool | None
    sentence: str


@dataclass(frozen=True)
class AnytimeCurve:
    """The anytime curve of one search (or of one stage of a plan).

    Attributes:
        stage: the stage folder of a plan, else ``None``.
        metric: the curve column.
        mode: ``"max"`` or ``"min"``.
        final_epoch: the fidelity ``best_final`` counts (highest epoch reached, or as given).
        order: ``"timestamp"`` (exact) or ``"trial order"`` (approximate: no timestamps).
        wall: the source of ``wall_s``: ``"timestamp"``, ``"time_total_s"``, ``"wall_time_s"``,
            or ``None`` when nothing records time (``wall_s`` is then NaN).
        table: one row per epoch report in order, columns :data:`ANYTIME_COLUMNS`.
        notes: what had to be assumed (partial timestamps, …).
    """

    stage: str | None
    metric: str
    mode: str
    final_epoch: int
    order: str
    wall: str | None
    table: pd.DataFrame
    notes: tuple[str, ...] = field(default=())

    @property
    def approximate(self) -> bool:
        """Whether the order of the reports is a reconstruction (no timestamps)."""
        return self.order != "timestamp"

    @property
    def line(self) -> str:
        """The column the verdict judges: ``best_final``, else ``best_any`` when no trial
        reached the final fidelity."""
        return "best_final" if self.table["best_final"].notna().any() else "best_any"


def _seconds(column: pd.Series) -> pd.Series:
    """A time column as float seconds (datetimes become unix seconds)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return (column - pd.Timestamp(0, tz=getattr(column.dt, "tz", None))).dt.total_seconds()
    return pd.to_numeric(column, errors="coerce").astype(float)


def _running_best(values: np.ndarray, mode: str) -> np.ndarray:
    """Running best in the metric's direction; NaN (no value yet, or a NaN report) is skipped."""
    accumulate = np.fmax.accumulate if mode == "max" else np.fmin.accumulate
    return accumulate(values) if values.size else values


def _one_stage(
    df: pd.DataFrame,
    metric: str,
    mode: str,
    stage: str | None,
    trials: pd.DataFrame | None,
    final_epoch: int | None,
) -> AnytimeCurve:
    notes: list[str] = []
    df = df.assign(_trial=pd.factorize(df["trial_id"].astype(str))[0])
    df = df.sort_values(["_trial", "epoch"], kind="stable")
    ts = _seconds(df["timestamp"]) if "timestamp" in df.columns else None
    order, wall = "trial order", None
    if ts is not None and ts.notna().all() and len(ts):
        order = wall = "timestamp"
        df = df.assign(_ts=ts).sort_values("_ts", kind="stable")
        wall_s = (df["_ts"] - df["_ts"].min()).to_numpy(dtype=float)
    else:
        if ts is not None and ts.notna().any():
            notes.append(
                f"{int(ts.isna().sum())} of {len(ts)} epoch reports have no timestamp: "
                "the order is reconstructed for all of them"
            )
        wall_s, wall = _cumulative_trial_time(df, trials, stage)
    values = pd.to_numeric(df[metric], errors="coerce").to_numpy(dtype=float)
    epochs = df["epoch"].to_numpy(dtype=int)
    top = int(epochs.max()) if epochs.size else 0
    fin = int(final_epoch) if final_epoch is not None else top
    table = pd.DataFrame(
        {
            "epochs_spent": np.arange(1, len(df) + 1),
            "wall_s": wall_s,
            "best_any": _running_best(values, mode),
            "best_final": _running_best(np.where(epochs == fin, values, np.nan), mode),
            "trial_id": df["trial_id"].astype(str).to_numpy(),
            "epoch": epochs,
            "value": values,
        }
    )
    return AnytimeCurve(stage, metric, mode, fin, order, wall, table, tuple(notes))


def _cumulative_trial_time(
    df: pd.DataFrame, trials: pd.DataFrame | None, stage: str | None
) -> tuple[np.ndarray, str | None]:
    """Cumulative per-epoch durations in the rows' order, and where the durations came from."""
    tid = df["trial_id"].astype(str)
    if "time_total_s" in df.columns:
        total = _seconds(df["time_total_s"])
        if total.notna().all():
            # Rows are in (trial, epoch) order here, and time_total_s is cumulative per trial:
            # an epoch's duration is its increase (the first epoch's is its own value).
            by_epoch = total.groupby(tid.to_numpy()).diff().fillna(total)
            return np.cumsum(by_epoch.clip(lower=0).to_numpy(dtype=float)), "time_total_s"
    if trials is not None and {"trial_id", "wall_time_s"} <= set(trials.columns):
        rows = trials if stage is None or "stage" not in trials else trials[trials.stage == stage]
        seconds = pd.Series(
            _seconds(rows["wall_time_s"]).to_numpy(), index=rows["trial_id"].astype(str)
        )
        seconds = seconds[~seconds.index.duplicated(keep="last")]
        per_epoch = tid.map(seconds) / tid.map(tid.value_counts())
        if per_epoch.notna().all():
            return np.cumsum(per_epoch.to_numpy(dtype=float)), "wall_time_s"
    return np.full(len(df), np.nan), None


def compute_anytime(
    curves: pd.DataFrame | None,
    metric: str,
    mode: str,
    *,
    trials: pd.DataFrame | None = None,
    final_epoch: int | None = None,
) -> list[AnytimeCurve]:
    """The anytime curve of a search, one per stage for a plan (stages in table order).

    Args:
        curves: curves.parquet (``trial_id``, ``epoch``, the metric; ``timestamp`` and
            ``time_total_s`` when recorded; ``stage`` for a plan).
        metric: the curve column (a ``final.``/``best.`` prefix is ignored).
        mode: ``"max"`` or ``"min"``.
        trials: trials.parquet, for ``wall_time_s`` when the curves record no time.
        final_epoch: the final fidelity; default: the highest epoch reached in each stage.

    Raises:
        ConfigError: ``mode`` is not max/min, or there is nothing to draw (no curves, no such
            column, no value of it, no trial_id or epoch column); the message is the reason.
    """
    if mode not in ("max", "min"):
        raise ConfigError(f"mode must be 'max' or 'min', got {mode!r}")
    if metric.startswith(("final.", "best.")):
        metric = metric.split(".", 1)[1]
    if curves is None or curves.empty:
        raise ConfigError("no learning curves (curves.parquet is missing or empty)")
    missing = [c for c in ("trial_id", "epoch") if c not in curves.columns]
    if missing:
        raise ConfigError(f"the curves have no {' and no '.join(missing)} column")
    if metric not in curves.columns or not curves[metric].notna().any():
        raise ConfigError(f"the curves have no values of {metric}")
    curves = curves.dropna(subset=["epoch"])
    if "stage" not in curves.columns:
        return [_one_stage(curves, metric, mode, None, trials, final_epoch)]
    return [
        _one_stage(part, metric, mode, str(stage), trials, final_epoch)
        for stage, part in curves.groupby("stage", sort=False)
    ]


def _fmt(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else "none"


def budget_verdict(curve: AnytimeCurve, tail: float = TAIL) -> Verdict:
    """Whether the best so far still rose over the last ``tail`` of the epochs spent.

    The rule: take :attr:`AnytimeCurve.line` (the final-fidelity best, else the best at any
    epoch); compare its value after the last report to its value after ``1 - tail`` of the
    reports (epochs spent). It is *rising* when it got better by more than 0.1% of the range of
    all reported values (smaller steps are float noise), or when the first value of that line
    arrived in the tail; *flat* otherwise. Fewer than 8 reports are too few to judge. A flat
    tail does not prove that no better configuration exists, only that the last quarter of this
    budget found none.
    """
    t = curve.table
    n = len(t)
    line = curve.line
    what = f"epoch-{curve.final_epoch} best" if line == "best_final" else "best at any epoch"
    y = t[line].to_numpy(dtype=float)
    if not np.isfinite(y).any():
        return Verdict(None, f"no epoch report has a value of {curve.metric}: nothing to judge")
    if n < _MIN_REPORTS:
        return Verdict(
            None, f"too few epoch reports ({n}, fewer than {_MIN_REPORTS}) to judge the trend"
        )
    cut = math.floor((1 - tail) * n)  # reports 1..cut are the first part of the budget
    before, end = (y[cut - 1] if cut else math.nan), y[-1]
    values = t["value"].to_numpy(dtype=float)
    span = float(np.nanmax(values) - np.nanmin(values))
    gain = (end - before) if curve.mode == "max" else (before - end)
    share = f"last {100 * tail:.0f}% of the budget (epochs spent {cut + 1}–{n})"
    if not math.isfinite(before) or gain > _TIE * span:
        return Verdict(
            True,
            f"best so far still rising over the {share}: {what} {_fmt(before)} → {_fmt(end)}; "
            "more budget would likely help",
        )
    changed = np.flatnonzero(np.r_[True, y[1:] != y[:-1]] & np.isfinite(y))
    last = int(t["epochs_spent"].iloc[changed[-1]])
    return Verdict(
        False,
        f"best so far flat over the {share}: {what} {_fmt(end)} since epochs spent {last} "
        f"({100 * last / n:.0f}% of the budget); more of the same budget would likely add little",
    )


def anytime_caption(curves: Sequence[AnytimeCurve]) -> str:
    """What the figure shows, which values count, and how the reports were ordered."""
    first = curves[0]
    better = "higher" if first.mode == "max" else "lower"
    if len(curves) == 1:
        fin = f"epoch {first.final_epoch}"
    else:
        fin = "per stage: " + ", ".join(f"{c.stage} epoch {c.final_epoch}" for c in curves)
    walls = {c.wall for c in curves}
    wall = " / ".join(sorted({_WALL_TEXT[w] for w in walls - {None}})) or "no time recorded"
    text = (
        f"Best {first.metric} so far ({better} is better) against the epochs spent by all trials "
        f"together (each epoch report counts one) and against {wall}. Solid: the best at the "
        f"final fidelity ({fin}: trials that ran to the end); dotted: the best at any epoch, "
        "early-stopped trials included. "
    )
    if len(curves) > 1:
        text += "Stages of the plan are drawn one after another, each with its own best so far. "
    approximate = [c for c in curves if c.approximate]
    if approximate:
        where = ""
        if len(approximate) < len(curves):
            where = " (stages " + ", ".join(str(c.stage) for c in approximate) + ")"
        text += (
            f"The order is approximate{where}: the epoch reports carry no timestamp (a run from "
            "before the harness recorded one), so reports are taken in trial order, then epoch, "
            "as if the trials had run one after another."
        )
    else:
        text += "Reports are ordered by their timestamps."
    return text


def anytime_table(curves: Sequence[AnytimeCurve]) -> pd.DataFrame:
    """All stages' tables as one frame, with a ``stage`` column first for a plan."""
    if all(c.stage is None for c in curves):
        return curves[0].table.loc[:, list(ANYTIME_COLUMNS)]
    return pd.concat([c.table.assign(stage=c.stage) for c in curves], ignore_index=True).loc[
        :, ["stage", *ANYTIME_COLUMNS]
    ]


def _steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points where a running best changes, and the last one: all a step line needs
    (a 10,000-trial search has 100,000 reports but a few dozen improvements)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size == 0:
        return x, y
    keep = np.r_[True, y[1:] != y[:-1]]
    keep[-1] = True
    return x[keep], y[keep]


def _step_line(ax, x, y, end: float, style: str, colour: str, label: str | None) -> None:
    """A running best as steps, carried on to the end of the budget."""
    sx, sy = _steps(x, y)
    if sx.size:
        ax.plot(np.r_[sx, end], np.r_[sy, sy[-1]], style, color=colour, drawstyle="steps-post",
                lw=1.6, label=label)  # fmt: skip


def anytime_figure(curves: Sequence[AnytimeCurve], tail: float = TAIL) -> bytes:
    """Best so far against epochs spent (left) and wall time (right), as PNG bytes.

    Stages of a plan follow one another on both axes (dashed lines at the boundaries); the last
    ``tail`` of each stage's epochs is shaded, the part the verdict judges.
    """
    fig = Figure(figsize=(11, 4.2))
    ax_e, ax_w = fig.subplots(1, 2, sharey=True)
    colours = ["#3b75af", "#c03d3e", "#519e3e", "#8d69b8", "#e1812c", "#84584e"]
    off_e = off_w = 0.0
    has_wall = False
    for i, c in enumerate(curves):
        t, colour = c.table, colours[i % len(colours)]
        name = f"{c.stage}: " if c.stage is not None else ""
        n = len(t)
        x_e = t["epochs_spent"].to_numpy(dtype=float) + off_e
        x_w = t["wall_s"].to_numpy(dtype=float) + off_w
        ax_e.axvspan(off_e + math.floor((1 - tail) * n), off_e + n, color="#eee", lw=0)
        for col, style, label in (
            ("best_final", "-", f"{name}best at epoch {c.final_epoch}"),
            ("best_any", ":", f"{name}best at any epoch"),
        ):
            y = t[col].to_numpy(dtype=float)
            _step_line(ax_e, x_e, y, off_e + n, style, colour, label)
            _step_line(ax_w, x_w, y, np.nanmax(x_w, initial=0.0), style, colour, None)
        if c.wall is not None and np.isfinite(x_w).any():
            has_wall = True
            off_w = float(np.nanmax(x_w))
        off_e += n
        if i < len(curves) - 1:
            ax_e.axvline(off_e, color="#555", ls="--", lw=0.8)
            if has_wall:
                ax_w.axvline(off_w, color="#555", ls="--", lw=0.8)
    better = "higher" if curves[0].mode == "max" else "lower"
    ax_e.set_xlabel(f"epochs spent (shaded: last {100 * tail:.0f}% of the budget)")
    ax_e.set_ylabel(f"best {curves[0].metric} so far ({better} is better)")
    ax_e.legend(fontsize=7, loc="lower right" if curves[0].mode == "max" else "upper right")
    walls = {c.wall for c in curves} - {None}
    ax_w.set_xlabel(" / ".join(sorted({_WALL_AXIS[w] for w in walls})) + " (s)")
    if not has_wall:
        ax_w.text(0.5, 0.5, "not available: no time was recorded", ha="center", va="center",
                  transform=ax_w.transAxes, color="#555")  # fmt: skip
        ax_w.set_xlabel("wall time")
    approx = " (order approximate: no timestamps)" if any(c.approximate for c in curves) else ""
    fig.suptitle(f"Best {curves[0].metric} so far against the budget{approx}", fontsize=10)
    for ax in (ax_e, ax_w):
        ax.grid(alpha=0.3)
        ax.set_xlim(left=0)
    fig.tight_layout()
    return to_png(fig)


def write_anytime(
    out_dir: str | Path, curves: Sequence[AnytimeCurve], csv: bool = True, png: bool = True
) -> tuple[dict[str, Path], bytes | None]:
    """Write ``anytime.csv`` (:func:`anytime_table`) and ``anytime.png`` into ``out_dir``.

    Returns:
        The written path per kind (``csv``, ``png``), and the PNG bytes (for embedding) or None.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    image = None
    if csv:
        written["csv"] = out / ANYTIME_FILES["csv"]
        anytime_table(curves).to_csv(written["csv"], index=False)
    if png:
        image = anytime_figure(curves)
        written["png"] = out / ANYTIME_FILES["png"]
        written["png"].write_bytes(image)
    return written, image


#: the report's section title
TITLE = "Best so far against budget"


def anytime_sections(
    out_dir: str | Path,
    metric: str,
    mode: str,
    trials: pd.DataFrame | None,
    curves: pd.DataFrame | None,
    *,
    csv: bool,
    png: bool,
) -> tuple[list[str], str]:
    """Write the anytime files and return the report's section: Markdown lines and HTML.

    The section holds the verdict (one line per stage for a plan), the figure (a link to
    ``anytime.png`` in Markdown, embedded in HTML), the caption and the notes; when there is
    nothing to draw, one "not available: reason" line instead, and no file is written.
    """
    try:
        found = compute_anytime(curves, metric, mode, trials=trials)
    except ConfigError as exc:
        return ["", f"## {TITLE}", "", not_available(str(exc))], section(TITLE, [na_html(str(exc))])
    files, image = write_anytime(out_dir, found, csv=csv, png=png)
    verdicts = [
        (f"{c.stage}: " if c.stage is not None else "") + budget_verdict(c).sentence for c in found
    ]
    caption = anytime_caption(found)
    if "csv" in files:
        caption += f" Data: {files['csv'].name}."
    notes = [f"{c.stage}: {n}" if c.stage else n for c in found for n in c.notes]
    md = ["", f"## {TITLE}", ""]
    md += [f"**{v}**" if len(verdicts) == 1 else f"- **{v}**" for v in verdicts]
    if "png" in files:
        md += ["", f"![best so far against budget]({files['png'].name})"]
    md += ["", caption, *[f"- {n}" for n in notes]]
    parts = [f"<p><strong>{html.escape(v)}</strong></p>" for v in verdicts]
    if image is not None:
        parts.append(img(image, "best so far against budget"))
    parts.append(f"<p>{html.escape(caption)}</p>")
    if notes:
        parts += ["<ul>", *[f"<li>{html.escape(n)}</li>" for n in notes], "</ul>"]
    return md, section(TITLE, parts)
