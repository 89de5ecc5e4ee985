"""The figure of ``harness bench``: throughput and peak memory against each grid axis.

One column per grid axis, two rows: images/s on top, peak memory (MiB) below. Along an axis, the
other axes either become one line per value (when there is exactly one other axis with at most
:data:`_MAX_SERIES` values) or are aggregated: the median over their combinations, with bars from
the minimum to the maximum and every combination drawn as a faint dot. Only rows with status
``ok`` are plotted; the title counts the others. Built on ``matplotlib.figure.Figure`` with the
Agg canvas, never ``pyplot``, like :mod:`analysis.render._plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.render._plots import to_png
from search_spaces import ConfigError

__all__ = ["bench_figure", "write_bench_plot"]

_MAX_SERIES = 6
_MIB = 2**20
_METRICS = (("images_per_s", "images/s", 1.0), ("mem_peak_bytes", "peak memory (MiB)", _MIB))


def _ordered(values: pd.Series) -> list[Any]:
    unique = list(dict.fromkeys(values.tolist()))
    try:
        return sorted(unique)
    except TypeError:  # mixed types: keep the order of the grid
        return unique


def _draw_axis(ax: Axes, ok: pd.DataFrame, axis: str, others: list[str], column: str, scale: float):
    order = _ordered(ok[axis])
    pos = {value: i for i, value in enumerate(order)}
    x = ok[axis].map(pos).to_numpy(dtype=float)
    y = ok[column].to_numpy(dtype=float) / scale
    series = len(others) == 1 and ok[others[0]].nunique() <= _MAX_SERIES
    if series:
        for value in _ordered(ok[others[0]]):
            part = ok[ok[others[0]] == value].sort_values(axis, key=lambda s: s.map(pos))
            ax.plot(
                part[axis].map(pos),
                part[column] / scale,
                marker="o",
                label=f"{others[0]}={value}",
            )
        ax.legend(fontsize=7)
    else:
        grouped = pd.DataFrame({"x": x, "y": y}).groupby("x")["y"]
        med, lo, hi = grouped.median(), grouped.min(), grouped.max()
        if others:
            ax.scatter(x, y, s=10, alpha=0.3, color="grey")
        ax.errorbar(
            med.index,
            med.to_numpy(),
            yerr=[med.to_numpy() - lo.to_numpy(), hi.to_numpy() - med.to_numpy()],
            marker="o",
            capsize=3,
        )
    ax.set_xticks(range(len(order)), [str(v) for v in order])
    ax.set_xlim(-0.5, len(order) - 0.5)
    ax.grid(alpha=0.3)


def bench_figure(rows: pd.DataFrame, axes: Sequence[str], title: str = "harness bench") -> Figure:
    """Throughput and peak memory against each grid axis (see the module docstring).

    Args:
        rows: one row per combination, with the axis columns, ``status``, ``images_per_s``,
            ``mem_peak_bytes`` and ``mem_kind`` (as ``bench.csv`` holds them).
        axes: the grid axis columns, in grid order; none draws the single combination.
        title: the figure's title (the counts of rows not ``ok`` are appended).

    Raises:
        ConfigError: a column the plot needs is missing.
    """
    needed = {"status", "images_per_s", "mem_peak_bytes", *axes}
    missing = sorted(needed - set(rows.columns))
    if missing:
        raise ConfigError(f"bench plot: the rows lack the column(s) {missing}")
    ok = rows[rows["status"] == "ok"]
    failed = rows.loc[rows["status"] != "ok", "status"].value_counts()
    if len(failed):
        title += " (not plotted: " + ", ".join(f"{n} {s}" for s, n in failed.items()) + ")"
    columns = list(axes) or ["<recipe>"]
    fig = Figure(figsize=(3.6 * len(columns) + 0.6, 6.2), layout="constrained")
    grid = np.asarray(fig.subplots(2, len(columns), squeeze=False))
    kinds = sorted(set(ok.get("mem_kind", pd.Series(dtype=str)).dropna().astype(str)))
    for col, axis in enumerate(columns):
        for r, (column, label, scale) in enumerate(_METRICS):
            ax = grid[r, col]
            if ok.empty:
                ax.text(0.5, 0.5, "no ok rows", ha="center", va="center", transform=ax.transAxes)
            elif axis == "<recipe>":
                ax.bar([0], [ok[column].iloc[0] / scale])
                ax.set_xticks([0], ["base recipe"])
            else:
                others = [a for a in axes if a != axis]
                _draw_axis(ax, ok, axis, others, column, scale)
            if r == 1:
                ax.set_xlabel(axis)
            if col == 0:
                extra = f" [{', '.join(kinds)}]" if r == 1 and kinds else ""
                ax.set_ylabel(label + extra)
    fig.suptitle(title)
    return fig


def write_bench_plot(
    rows: pd.DataFrame, axes: Sequence[str], path: str | Path, title: str = "harness bench"
) -> Path:
    """Render :func:`bench_figure` to a PNG file; return its path."""
    path = Path(path)
    path.write_bytes(to_png(bench_figure(rows, axes, title)))
    return path
