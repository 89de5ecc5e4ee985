"""The ``lesion_sizes`` and ``calibration`` entries of an evaluation, and its lesion fractions.

Inputs are what the inference pass collected per image (``trials.evaluate.PixelStats``: lesion
counts per size stratum, reliability bins and squared errors of the probabilities, the same after
a temperature); the statistics are :func:`analysis.summarize_lesion_sizes` and
:func:`analysis.calibration_summary` (bootstrap intervals over images; Efron & Tibshirani 1993;
temperature scaling after Guo et al. 2017, "On Calibration of Modern Neural Networks").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from analysis._calibration import TemperatureFit, calibration_summary
from analysis._lesion_sizes import summarize_lesion_sizes

__all__ = ["BreakdownStats", "lesion_fractions", "summarize_breakdowns"]


class _Stratum(Protocol):
    """A lesion-size stratum (``trials.metrics.SizeStratum``)."""

    @property
    def name(self) -> str: ...

    @property
    def low(self) -> int: ...

    @property
    def label(self) -> str: ...


class BreakdownStats(Protocol):
    """What :func:`summarize_breakdowns` reads of the per-image collector (read-only)."""

    @property
    def strata(self) -> Sequence[_Stratum]: ...

    @property
    def detect_fraction(self) -> float: ...

    @property
    def connectivity(self) -> int: ...

    @property
    def n_bins(self) -> int: ...

    @property
    def bins(self) -> Sequence[np.ndarray]: ...

    @property
    def squared(self) -> Sequence[float]: ...

    @property
    def bins_after(self) -> Sequence[np.ndarray]: ...

    @property
    def squared_after(self) -> Sequence[float]: ...


def summarize_breakdowns(
    stats: BreakdownStats,
    columns: pd.DataFrame,
    boot: Mapping[str, Any],
    fit: TemperatureFit | None = None,
    fit_info: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``lesion_sizes`` and ``calibration`` entries of ``metrics.json``.

    Args:
        stats: the collected per-image statistics.
        columns: the per-image table's lesion columns (``lesions.<stratum>.<field>``).
        boot: the bootstrap settings (``n_resamples``, ``seed``, ``confidence``, ``method``).
        fit: the temperature fitted on held-out images; ``fit_info`` says what it was fitted on.
    """
    per_stratum = summarize_lesion_sizes(columns, [s.name for s in stats.strata], **boot)
    conn = stats.connectivity
    sizes = {
        "connectivity": conn,
        "thresholds": [s.low for s in stats.strata[1:]],
        "detect_fraction": stats.detect_fraction,
        "definition": (
            f"lesions are {conn}-connected components of the ground truth, sized by area "
            f"in pixels of the evaluated masks; a lesion is detected when the prediction covers "
            f">= {stats.detect_fraction:g} of its pixels; false-positive components are predicted "
            f"components touching no lesion, sized by their own area"
        ),
        "strata": {s.name: {"range": s.label, **per_stratum[s.name]} for s in stats.strata},
    }
    calibration = calibration_summary(np.stack(stats.bins), np.array(stats.squared), **boot)
    calibration["binning"] = f"{stats.n_bins} equal-width bins of [0, 1], pooled over pixels"
    if fit is not None:
        after = calibration_summary(
            np.stack(stats.bins_after), np.array(stats.squared_after), **boot
        )
        after.pop("per_image")
        calibration["temperature"] = {**fit.as_dict(), **(fit_info or {}), "after": after}
    return sizes, calibration


def lesion_fractions(counts: Mapping[str, int]) -> dict[str, float]:
    """True and predicted lesion fractions of pooled pixel counts (``tp``, ``fp``, ``fn``, ``tn``).

    Returns:
        ``{"true": (tp + fn) / n, "predicted": (tp + fp) / n}``; ``nan`` for zero pixels.
    """
    total = sum(int(counts[k]) for k in ("tp", "fp", "fn", "tn"))
    if total == 0:
        return {"true": math.nan, "predicted": math.nan}
    return {
        "true": (counts["tp"] + counts["fn"]) / total,
        "predicted": (counts["tp"] + counts["fp"]) / total,
    }
