"""Inference of ``harness evaluate``: checkpoints, the evaluated images, sliding-window
prediction timed per image, the per-pixel statistics collected on the way, and overlays.

The statistics over images (bootstrap intervals, lesion-size strata, calibration, the paired
comparison) are in ``analysis``; ``harness.evaluate`` joins the two.
"""

from __future__ import annotations

from trials.evaluate._checkpoint import checkpoint_path, load_evaluated_model
from trials.evaluate._inference import (
    evaluation_samples,
    infer,
    metric_kinds,
)
from trials.evaluate._options import check_options
from trials.evaluate._overlays import (
    OVERLAY_COLOURS,
    OVERLAY_LEGEND,
    confusion_overlay,
    overlay_order,
    write_overlay,
    write_overlays,
)
from trials.evaluate._pixel_stats import FIT_PIXELS_PER_IMAGE, PixelStats

__all__ = [
    "FIT_PIXELS_PER_IMAGE",
    "OVERLAY_COLOURS",
    "OVERLAY_LEGEND",
    "PixelStats",
    "check_options",
    "checkpoint_path",
    "confusion_overlay",
    "evaluation_samples",
    "infer",
    "load_evaluated_model",
    "metric_kinds",
    "overlay_order",
    "write_overlay",
    "write_overlays",
]
