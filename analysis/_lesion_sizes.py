"""Lesion-size strata of an evaluation: pooled rates with bootstrap intervals over images.

Input is the per-image table of an evaluation with, for each size stratum ``s``, the integer
columns ``lesions.{s}.n`` (lesions), ``lesions.{s}.detected`` (lesions found),
``lesions.{s}.pixels`` (their pixels), ``lesions.{s}.covered`` (of those, predicted as lesion)
and ``lesions.{s}.fp`` (false-positive components), as ``trials.metrics.lesion_counts`` gives
them per image. Per stratum:

- detection recall ``sum detected / sum n`` and pixel recall ``sum covered / sum pixels``, pooled
  over images like the pooled segmentation metrics. Their intervals resample the images that hold
  a lesion of the stratum (the others add nothing to either sum, and a resample without any
  lesion would leave the ratio undefined);
- false-positive components per image ``sum fp / images``, resampling all images.

Intervals are :func:`analysis.bootstrap_interval` (BCa over images; Efron & Tibshirani 1993).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis._evaluation import bootstrap_interval
from search_spaces import DataError

__all__ = ["LESION_COLUMNS", "lesion_column", "summarize_lesion_sizes"]

LESION_COLUMNS = ("n", "detected", "pixels", "covered", "fp")
_RATES = {
    "detection_recall": ("detected", "n"),
    "pixel_recall": ("covered", "pixels"),
}


def lesion_column(stratum: str, field: str) -> str:
    """The per-image table's column of ``field`` in ``stratum``, e.g. ``lesions.small.n``."""
    return f"lesions.{stratum}.{field}"


def _ratio(num: np.ndarray, den: np.ndarray) -> float:
    total = den.sum()
    return float(num.sum() / total) if total else math.nan


def _with_interval(value: float, ci: Any) -> dict[str, Any]:
    return {
        "value": value,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "ci_method": ci.method,
        "ci_note": ci.note,
    }


def summarize_lesion_sizes(
    table: pd.DataFrame,
    strata: Sequence[str],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: str = "BCa",
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Per stratum: summed counts and the pooled rates with their bootstrap intervals.

    Args:
        table: one row per image with the ``lesions.{stratum}.{field}`` columns.
        strata: the stratum names, in order.
        confidence, n_resamples, method, seed: the bootstrap (see
            :func:`analysis.bootstrap_interval`).

    Returns:
        ``{stratum: {"counts": {"n", "detected", "pixels", "covered", "fp"}, "n_images",
        "n_images_with_lesions", "detection_recall": {"value", "ci_low", "ci_high",
        "ci_method", "ci_note", "mean_per_image"}, "pixel_recall": {...}, "fp_per_image":
        {...}}}``; a recall's ``mean_per_image`` averages the images holding a lesion of the
        stratum. A recall is ``nan`` with a note when the stratum holds no lesion.

    Raises:
        DataError: the table is empty or lacks a column.
    """
    if len(table) == 0:
        raise DataError("the per-image table is empty: no image was evaluated")
    boot = {"confidence": confidence, "n_resamples": n_resamples, "method": method, "seed": seed}
    out: dict[str, dict[str, Any]] = {}
    for stratum in strata:
        columns = [lesion_column(stratum, f) for f in LESION_COLUMNS]
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise DataError(f"the per-image table lacks the lesion column(s) {missing}")
        values = {
            f: table[lesion_column(stratum, f)].to_numpy(dtype=np.int64) for f in LESION_COLUMNS
        }
        holding = np.flatnonzero(values["n"] > 0)
        entry: dict[str, Any] = {
            "counts": {f: int(v.sum()) for f, v in values.items()},
            "n_images": len(table),
            "n_images_with_lesions": int(holding.size),
        }
        for rate, (num, den) in _RATES.items():
            a, b = values[num][holding], values[den][holding]
            ci = bootstrap_interval(
                lambda idx, a=a, b=b: _ratio(a[idx], b[idx]), int(holding.size), **boot
            )
            entry[rate] = _with_interval(_ratio(a, b), ci)
            entry[rate]["mean_per_image"] = float(np.mean(a / b)) if holding.size else math.nan
            if not holding.size:
                entry[rate]["ci_note"] = "no lesion of this size"
        fp = values["fp"]
        ci = bootstrap_interval(lambda idx, fp=fp: float(fp[idx].mean()), len(fp), **boot)
        entry["fp_per_image"] = _with_interval(float(fp.mean()), ci)
        entry["fp_per_image"]["mean_per_image"] = float(fp.mean())
        out[stratum] = entry
    return out
