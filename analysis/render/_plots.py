"""Figures of an importance report, each returned as PNG bytes.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas directly, never through
``pyplot``: no global figure registry to leak into, no backend switched for the caller's process,
and nothing to close. Every plot that could draw thousands of marks subsamples with a fixed seed
and says so in its title, so a 10,000-trial report renders in well under a second per figure.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

__all__ = [
    "DPI",
    "grouped_bars",
    "importance_bars",
    "is_categorical",
    "is_log_spaced",
    "learning_curves",
    "marginal_plots",
    "parallel_coordinates",
    "pareto_front",
    "pareto_plot",
    "to_png",
]

DPI = 100
# Numeric parameters with at most this many distinct values are drawn per value, like a category.
_GRID_MAX = 8


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, drawn on its own Agg canvas."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def is_categorical(values: pd.Series) -> bool:
    """Whether a parameter column is drawn per value: non-numeric, boolean, or a small grid."""
    if values.dtype == bool or not pd.api.types.is_numeric_dtype(values):
        return True
    return values.nunique(dropna=True) <= _GRID_MAX


def is_log_spaced(values: pd.Series) -> bool:
    """Whether a numeric parameter looks sampled on a log scale, so is drawn on a log axis.

    All values positive, spanning more than a factor of 20 (so a two-decade range such as
    1e-5 .. 1e-3 counts), and at least a fifth of them below the geometric middle of the range:
    log-uniform samples put half there, linear-uniform ones almost none (for U(0, 1) the
    smallest of many samples is tiny, so a max/min ratio alone would misjudge it).
    """
    if is_categorical(values):
        return False
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if v.size == 0 or v.min() <= 0 or v.max() / v.min() <= 20:
        return False
    return bool(np.mean(v < np.sqrt(v.min() * v.max())) >= 0.2)


def pareto_front(
    quality: Sequence[float] | np.ndarray, memory: Sequence[float] | np.ndarray, mode: str
) -> np.ndarray:
    """Mask of the trials no other trial dominates on (quality, peak memory).

    Trial ``j`` dominates ``i`` when it is at least as good on both (quality higher for
    ``mode="max"``, lower for ``"min"``; memory lower) and strictly better on one. Identical points
    do not dominate each other, so both stay on the front. NaN entries are never on it.
    Reference: Deb, *Multi-Objective Optimization Using Evolutionary Algorithms* (2001), §2.4.

    Returns:
        Boolean array, True for non-dominated trials.
    """
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    q = np.asarray(quality, dtype=float)
    m = np.asarray(memory, dtype=float)
    if q.shape != m.shape:
        raise ValueError(f"quality and memory differ in length: {q.shape} vs {m.shape}")
    q = q if mode == "max" else -q
    valid = np.isfinite(q) & np.isfinite(m)
    out = np.zeros(q.shape, dtype=bool)
    if not valid.any():
        return out
    qv, mv = q[valid], m[valid]
    levels, inv = np.unique(mv, return_inverse=True)
    best_at = np.full(levels.size, -np.inf)
    np.maximum.at(best_at, inv, qv)
    # Best quality among strictly lower memory: a cumulative max shifted by one memory level.
    best_below = np.concatenate([[-np.inf], np.maximum.accumulate(best_at)[:-1]])
    dominated = (best_below[inv] >= qv) | (best_at[inv] > qv)
    out[valid] = ~dominated
    return out


def importance_bars(importance: pd.DataFrame, level: float = 0.9) -> bytes:
    """ANOVA and fANOVA shares of the metric's variance (%) as side-by-side horizontal bars, each
    with its bootstrap interval as a whisker.

    Both are shares of the metric's variance explained by the main effect (over the trials and
    over the search space), so both panels share one % axis and one row order (ANOVA, largest on
    top): a parameter reads across. A panel with no value says why (the table's ``note``).
    """
    df = importance.sort_values(["anova", "fanova"], ascending=True, na_position="first")
    y = np.arange(len(df))
    fig = Figure(figsize=(10, 1.4 + 0.32 * len(df)))
    axes = fig.subplots(1, 2, sharey=True, sharex=True)
    for ax, method, colour in zip(axes, ("ANOVA", "fANOVA"), ("#3b75af", "#e1812c"), strict=True):
        col = method.lower()
        share = 100 * df[col].to_numpy(dtype=float)
        lo = 100 * df[f"{col}_lo"].to_numpy(dtype=float)
        hi = 100 * df[f"{col}_hi"].to_numpy(dtype=float)
        err = np.vstack([np.clip(share - lo, 0, None), np.clip(hi - share, 0, None)])
        err = np.where(np.isfinite(err), err, 0.0)
        ax.set_title(f"{method}: % of variance ({level:.0%} CI)")
        if np.isfinite(share).any():
            ax.barh(y, np.nan_to_num(share), xerr=err, color=colour, ecolor="#333", capsize=2)
        else:  # say why the panel is empty, on the panel
            notes = [str(n) for n in df.get("note", pd.Series(dtype=str)).dropna() if str(n)]
            why = notes[0] if notes else "not computed"
            ax.text(0.5, 0.5, f"{method} not available\n{why}", ha="center", va="center",
                    transform=ax.transAxes, color="#555", wrap=True)  # fmt: skip
        ax.set_xlim(left=0)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, df["parameter"].tolist())
    fig.tight_layout()
    return to_png(fig)


def _axis_positions(values: pd.Series) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Values mapped to [0, 1] and the tick labels of that axis."""
    if is_categorical(values):
        cats = _sorted_values(values)
        pos = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
        mapped = values.map(pos).to_numpy(dtype=float)
        step = max(1, len(cats) // 8)
        return mapped, [(pos[c], _fmt(c)) for c in cats[::step]]
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    t = np.log10(v) if is_log_spaced(values) else v
    lo, hi = np.nanmin(t), np.nanmax(t)
    span = hi - lo if hi > lo else 1.0
    ticks = [(0.0, _fmt(np.nanmin(v))), (1.0, _fmt(np.nanmax(v)))] if hi > lo else []
    return (t - lo) / span if hi > lo else np.full_like(t, 0.5), ticks


def _sorted_values(values: pd.Series) -> list:
    """Distinct values, numerically sorted where possible (2, 4, 16 rather than 16, 2, 4)."""
    cats = values.dropna().unique().tolist()
    try:
        return sorted(cats)
    except TypeError:
        return sorted(cats, key=str)


def _fmt(v: object) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.3g}"
    return str(v)


def parallel_coordinates(
    frame: pd.DataFrame,
    params: Sequence[str],
    outcome: np.ndarray,
    label: str,
    mode: str,
    max_lines: int = 1000,
    max_axes: int = 12,
    seed: int = 0,
) -> bytes:
    """Each trial a line across normalised parameter axes, coloured by the outcome.

    Numeric axes are min-max scaled (log10 first when log-spaced); categorical axes place their
    values evenly. The outcome is the last axis. Best trials are drawn last, on top. Only the
    first ``max_axes`` parameters are drawn (pass them most important first): more axes are
    unreadable, and drawing time grows with their number.
    Reference: Inselberg, *Parallel Coordinates* (Springer, 2009).
    """
    n_params = len(params)
    params = list(params)[:max_axes]
    keep = np.isfinite(outcome)
    frame, outcome = frame.loc[keep], outcome[keep]
    n_all = len(frame)
    if n_all > max_lines:
        idx = np.random.default_rng(seed).choice(n_all, size=max_lines, replace=False)
        frame, outcome = frame.iloc[idx], outcome[idx]
    axes_y, ticks = [], []
    for p in params:
        y, t = _axis_positions(frame[p])
        axes_y.append(np.nan_to_num(y, nan=0.5))
        ticks.append(t)
    y, t = _axis_positions(pd.Series(outcome))
    axes_y.append(y)
    ticks.append(t)
    names = [*params, label]
    ys = np.column_stack(axes_y)
    order = np.argsort(outcome if mode == "max" else -outcome, kind="stable")
    xs = np.arange(len(names), dtype=float)
    segs = np.stack([np.broadcast_to(xs, ys.shape), ys], axis=-1)[order]
    cmap = "viridis" if mode == "max" else "viridis_r"
    norm = Normalize(float(np.min(outcome)), float(np.max(outcome)))
    fig = Figure(figsize=(min(13.0, max(8.0, 0.9 * len(names) + 1.5)), 4.8))
    ax = fig.subplots()
    lc = LineCollection(segs, cmap=cmap, norm=norm, linewidths=0.7, alpha=0.6)
    lc.set_array(outcome[order])
    ax.add_collection(lc)
    for i, tk in enumerate(ticks):
        ax.axvline(i, color="#444", lw=0.8)
        for pos, text in tk:
            ax.text(i + 0.03, pos, text, fontsize=7, va="center", ha="left")
    ax.set_xlim(-0.2, len(names) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(xs, names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks([])
    title = f"Parallel coordinates, coloured by {label}"
    if n_params > len(params):
        title += f"; top {len(params)} of {n_params} parameters"
    if n_all > len(frame):
        title += f"; {len(frame)} of {n_all} trials (random subsample)"
    ax.set_title(title, fontsize=10)
    fig.colorbar(lc, ax=ax, label=label, pad=0.01)
    fig.tight_layout()
    return to_png(fig)


def marginal_plots(
    frame: pd.DataFrame,
    params: Sequence[str],
    outcome: np.ndarray,
    label: str,
    max_points: int = 2000,
    seed: int = 0,
) -> bytes:
    """Outcome against each parameter, one panel per parameter (two panels a row).

    Continuous parameters get a scatter (at most ``max_points``, random, seeded) with the
    median of up to ten quantile bins of all trials on top, log x when log-spaced; categorical
    and small-grid parameters get a box per value with a jittered strip.
    """
    n_cols = 1 if len(params) == 1 else 2
    n_rows = -(-len(params) // n_cols)
    fig = Figure(figsize=(5.2 * n_cols, 3.6 * n_rows))
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False).ravel())
    rng = np.random.default_rng(seed)
    for ax, param in zip(axes, params, strict=False):
        keep = np.isfinite(outcome) & frame[param].notna().to_numpy()
        _marginal(ax, frame.loc[keep, param], outcome[keep], param, label, max_points, rng)
    for ax in axes[len(params) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return to_png(fig)


def _marginal(ax, v: pd.Series, y: np.ndarray, param: str, label: str, cap: int, rng) -> None:
    shown = ""
    size = 4 if y.size > 500 else 14
    if is_categorical(v):
        cats = _sorted_values(v)
        data = [y[(v == c).to_numpy()] for c in cats]
        ax.boxplot(data, showfliers=False)
        per = max(1, cap // max(len(cats), 1))
        for i, d in enumerate(data, start=1):
            d = d if d.size <= per else rng.choice(d, per, replace=False)
            ax.scatter(i + rng.uniform(-0.15, 0.15, d.size), d, s=size, alpha=0.4, color="#3b75af")
        ax.set_xticks(np.arange(1, len(cats) + 1), [_fmt(c) for c in cats], fontsize=8)
    else:
        x = pd.to_numeric(v).to_numpy(dtype=float)
        pick = rng.choice(x.size, cap, replace=False) if x.size > cap else slice(None)
        shown = f", {cap} shown" if x.size > cap else ""
        ax.scatter(x[pick], y[pick], s=size, alpha=0.5, color="#3b75af")
        # A bin-median line only where bins hold enough points (>= 20) to be more than noise.
        n_bins = min(10, x.size // 20)
        edges = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1))) if n_bins >= 3 else []
        if len(edges) > 3:
            which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
            med = pd.Series(y).groupby(which).median()
            mids = pd.Series(x).groupby(which).median()
            ax.plot(mids.to_numpy(), med.to_numpy(), color="#c03d3e", lw=2, label="bin median")
            ax.legend(fontsize=7)
        if is_log_spaced(v):
            ax.set_xscale("log")
            # Plain "1e-05" labels: the default mathtext ones cost half a second to parse.
            ax.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=True))
    ax.set_xlabel(param)
    ax.set_ylabel(label)
    ax.set_title(f"{label} vs {param} (n={len(y)}{shown})", fontsize=9)
    ax.grid(alpha=0.3)


def learning_curves(
    curves: pd.DataFrame,
    metric: str,
    epochs_reached: pd.Series,
    fidelity_epoch: int | None,
    max_trials: int = 300,
    seed: int = 0,
) -> bytes:
    """Metric per epoch, one line per trial, coloured by the epoch where the trial stopped.

    Args:
        curves: rows of ``trial_id``, ``epoch`` and the metric.
        metric: the curve column to draw.
        epochs_reached: epochs reached per trial, indexed by ``trial_id``.
        fidelity_epoch: the epoch importance was computed at (a dashed line), if any.
        max_trials: at most this many trials are drawn (random, seeded).
        seed: subsampling seed.
    """
    df = curves.loc[curves[metric].notna(), ["trial_id", "epoch", metric]]
    ids = df["trial_id"].unique()
    n_all = ids.size
    if n_all > max_trials:
        ids = np.random.default_rng(seed).choice(ids, size=max_trials, replace=False)
        df = df[df["trial_id"].isin(ids)]
    df = df.sort_values(["trial_id", "epoch"], kind="stable")
    tid = df["trial_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, tid[1:] != tid[:-1]]) if tid.size else np.array([], int)
    segs = np.split(df[["epoch", metric]].to_numpy(dtype=float), starts[1:])
    own = df.groupby("trial_id", sort=True)["epoch"].max()  # same order as the segments
    given = epochs_reached[~epochs_reached.index.duplicated()].reindex(own.index)
    reached = given.fillna(own).to_numpy(dtype=float)
    levels = np.unique(reached[np.isfinite(reached)])
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for level, colour in zip(levels, _level_colours(len(levels)), strict=True):
        mine = [segs[i] for i in np.flatnonzero(reached == level)]
        ax.add_collection(LineCollection(mine, colors=[colour], linewidths=0.8, alpha=0.6))
        # The last point marks where the trial stopped (and is all a one-epoch trial has).
        ends = np.array([s[-1] for s in mine])
        ax.scatter(ends[:, 0], ends[:, 1], s=6, color=colour, alpha=0.8, zorder=3)
        ax.plot([], [], color=colour, label=f"stopped at epoch {_fmt(level)} ({len(mine)})")
    if fidelity_epoch is not None:
        ax.axvline(
            fidelity_epoch, color="#333", ls="--", lw=1, label=f"fidelity: epoch {fidelity_epoch}"
        )
    ax.autoscale()
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    shown = f"; {len(ids)} of {n_all} trials (random subsample)" if n_all > len(ids) else ""
    ax.set_title(f"Learning curves, coloured by the epoch each trial reached{shown}", fontsize=10)
    # Curves rise, so the low late corner is empty; "best" would search all the lines.
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return to_png(fig)


def _level_colours(n: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["plasma"]
    return [cmap(0.85 * i / max(n - 1, 1)) for i in range(n)]


def pareto_plot(quality: np.ndarray, memory: np.ndarray, mode: str, label: str) -> bytes:
    """Quality against peak memory, the non-dominated trials (see ``pareto_front``) joined."""
    keep = np.isfinite(quality) & np.isfinite(memory)
    q, m = quality[keep], memory[keep]
    front = pareto_front(q, m, mode)
    unit, scale = ("GiB", 2.0**30) if np.nanmax(m) >= 2**30 else ("MiB", 2.0**20)
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    ax.scatter(m / scale, q, s=8, alpha=0.4, color="#888", label="trials", rasterized=True)
    order = np.argsort(m[front], kind="stable")
    ax.plot(
        m[front][order] / scale,
        q[front][order],
        "o-",
        color="#c03d3e",
        ms=5,
        drawstyle="steps-post",
        label=f"Pareto front ({int(front.sum())})",
    )
    ax.set_xlabel(f"peak memory ({unit})")
    ax.set_ylabel(label)
    better = "higher" if mode == "max" else "lower"
    ax.set_title(
        f"{label} vs peak memory ({better} {label} and lower memory are better)", fontsize=10
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return to_png(fig)


def grouped_bars(values: pd.DataFrame, title: str) -> bytes:
    """Horizontal grouped bars: one group per row of ``values``, one bar per column (NaN = 0)."""
    n_rows, n_cols = values.shape
    fig = Figure(figsize=(9, 1.4 + 0.25 * n_rows * max(n_cols, 2)))
    ax = fig.subplots()
    height = 0.8 / max(n_cols, 1)
    base = np.arange(n_rows)[::-1].astype(float)
    for j, col in enumerate(values.columns):
        ax.barh(
            base + 0.4 - height * (j + 0.5),
            np.nan_to_num(values[col].to_numpy(dtype=float)),
            height=height,
            label=str(col),
        )
    ax.set_yticks(base, [str(i) for i in values.index], fontsize=8)
    ax.set_xlim(left=0)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return to_png(fig)
