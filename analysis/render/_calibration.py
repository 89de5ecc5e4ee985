"""The reliability diagram of ``harness evaluate`` (``calibration.png``).

Top: the fraction of lesion pixels against the mean predicted probability in each equal-width
bin, the diagonal being perfect calibration, with the ECE in the legend; after temperature
scaling (``--calibrate``) a second curve. Bottom: the pixels per bin on a log scale (most pixels
are background with probabilities near 0, so the extreme bins dominate the ECE). It draws what
:func:`analysis.calibration_summary` computed and computes nothing. Built on
``matplotlib.figure.Figure`` with the Agg canvas, never ``pyplot``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from analysis.render._plots import to_png

__all__ = ["calibration_figure", "write_calibration_plot"]


def _curve(ax: Any, reliability: Mapping[str, list], label: str, marker: str) -> None:
    x = np.asarray(reliability["mean_predicted"], dtype=float)
    y = np.asarray(reliability["fraction_positive"], dtype=float)
    keep = ~np.isnan(x)
    ax.plot(x[keep], y[keep], marker=marker, label=label)


def calibration_figure(
    calibration: Mapping[str, Any], title: str = "reliability diagram"
) -> Figure:
    """The reliability diagram of a calibration summary.

    Args:
        calibration: ``{"ece": {"value"}, "reliability": {...}}`` as
            :func:`analysis.calibration_summary` gives it, optionally with ``"temperature":
            {"temperature", "after": <the same summary after scaling>}``.
        title: the figure's title.
    """
    fig = Figure(figsize=(5.2, 6.4), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 1.3), sharex=True)
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    rel = calibration["reliability"]
    _curve(top, rel, f"model (ECE {calibration['ece']['value']:.4f})", "o")
    scaled = (calibration.get("temperature") or {}).get("after")
    if scaled:
        t = calibration["temperature"]["temperature"]
        _curve(top, scaled["reliability"], f"T = {t:.3g} (ECE {scaled['ece']['value']:.4f})", "s")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("fraction of lesion pixels")
    top.legend(fontsize=8, loc="upper left")
    top.grid(alpha=0.3)
    low = np.asarray(rel["bin_low"], dtype=float)
    width = np.asarray(rel["bin_high"], dtype=float) - low
    counts = np.asarray(rel["count"], dtype=float)
    bottom.bar(low, np.where(counts > 0, counts, np.nan), width=width, align="edge", alpha=0.6)
    if (counts > 0).any():
        bottom.set_yscale("log")
    bottom.set_xlabel("predicted lesion probability")
    bottom.set_ylabel("pixels")
    bottom.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return fig


def write_calibration_plot(
    calibration: Mapping[str, Any], path: str | Path, title: str = "reliability diagram"
) -> Path:
    """Render :func:`calibration_figure` to a PNG file; return its path."""
    path = Path(path)
    path.write_bytes(to_png(calibration_figure(calibration, title)))
    return path
