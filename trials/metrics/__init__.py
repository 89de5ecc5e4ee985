"""Evaluation metrics of binary lesion segmentation on full images.

Inputs are thresholded full-image masks (``H x W`` bool prediction and target). The registry
(:func:`list_metrics`, :func:`create_metric`, :func:`get_metric`, :func:`higher_is_better`)
holds ``iou_lesion``, ``iou_background``, ``miou``, ``dice``, ``precision``, ``recall``, ``f1``,
``pixel_accuracy`` (from confusion counts; see ``_confusion`` for the 0/0 convention),
``boundary_f1`` and ``hd95`` (from boundary distances; see ``_boundary``).
Lesion-level metrics by lesion size (connected components, size strata) are in ``_lesions``
(:func:`lesion_counts`, :func:`size_strata`, :func:`lesion_rates`), the per-pixel calibration
parts in ``_calibration`` (:func:`reliability_bins`, :func:`expected_calibration_error`,
:func:`brier_score`), and the few of them a trial's validation reports
(:data:`BREAKDOWN_METRICS`) are accumulated by :class:`BreakdownAccumulator`.
:class:`MetricAccumulator` computes all of them per image and over a data set.
"""

from __future__ import annotations

from trials.metrics._accumulator import MetricAccumulator
from trials.metrics._boundary import (
    mask_boundary,
)
from trials.metrics._breakdowns import BREAKDOWN_METRICS, BreakdownAccumulator
from trials.metrics._calibration import (
    DEFAULT_BINS,
    bin_edges,
    brier_score,
    calibration_pair,
    expected_calibration_error,
    reliability_bins,
    squared_error_sum,
)
from trials.metrics._confusion import (
    ConfusionCounts,
    confusion_counts,
)
from trials.metrics._lesions import (
    CONNECTIVITY,
    DEFAULT_DETECT_FRACTION,
    DEFAULT_SIZE_THRESHOLDS,
    LESION_FIELDS,
    SizeStratum,
    check_detect_fraction,
    lesion_counts,
    lesion_rates,
    size_strata,
)
from trials.metrics._registry import (
    create_metric,
    get_metric,
    higher_is_better,
    list_metrics,
    metric_mode,
    register_metric,
)

__all__ = [
    "BREAKDOWN_METRICS",
    "CONNECTIVITY",
    "DEFAULT_BINS",
    "DEFAULT_DETECT_FRACTION",
    "DEFAULT_SIZE_THRESHOLDS",
    "LESION_FIELDS",
    "BreakdownAccumulator",
    "ConfusionCounts",
    "MetricAccumulator",
    "SizeStratum",
    "bin_edges",
    "brier_score",
    "calibration_pair",
    "check_detect_fraction",
    "confusion_counts",
    "create_metric",
    "expected_calibration_error",
    "get_metric",
    "higher_is_better",
    "lesion_counts",
    "lesion_rates",
    "list_metrics",
    "mask_boundary",
    "metric_mode",
    "register_metric",
    "reliability_bins",
    "size_strata",
    "squared_error_sum",
]
