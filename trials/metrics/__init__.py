"""Evaluation metrics of binary lesion segmentation on full images.

Inputs are thresholded full-image masks (``H x W`` bool prediction and target). The registry
(:func:`list_metrics`, :func:`create_metric`, :func:`get_metric`, :func:`higher_is_better`)
holds ``iou_lesion``, ``iou_background``, ``miou``, ``dice``, ``precision``, ``recall``, ``f1``,
``pixel_accuracy`` (from confusion counts; see ``_confusion`` for the 0/0 convention),
``boundary_f1`` and ``hd95`` (from boundary distances; see ``_boundary``).
:class:`MetricAccumulator` computes all of them per image and over a data set.
"""

from __future__ import annotations

from trials.metrics._accumulator import MetricAccumulator
from trials.metrics._boundary import (
    SurfaceDistances,
    boundary_f1,
    hd95,
    mask_boundary,
    surface_distances,
)
from trials.metrics._confusion import (
    ConfusionCounts,
    confusion_counts,
    dice,
    f1,
    iou_background,
    iou_lesion,
    miou,
    pixel_accuracy,
    precision,
    recall,
)
from trials.metrics._masks import check_mask_pair
from trials.metrics._registry import (
    Metric,
    MetricSpec,
    create_metric,
    get_metric,
    higher_is_better,
    list_metrics,
    metric_mode,
    register_metric,
)

__all__ = [
    "ConfusionCounts",
    "Metric",
    "MetricAccumulator",
    "MetricSpec",
    "SurfaceDistances",
    "boundary_f1",
    "check_mask_pair",
    "confusion_counts",
    "create_metric",
    "dice",
    "f1",
    "get_metric",
    "hd95",
    "higher_is_better",
    "iou_background",
    "iou_lesion",
    "list_metrics",
    "mask_boundary",
    "metric_mode",
    "miou",
    "pixel_accuracy",
    "precision",
    "recall",
    "register_metric",
    "surface_distances",
]
