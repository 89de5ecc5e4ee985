"""Lesion-size and calibration metrics of a validation pass, accumulated image by image.

A trial's validation reports, next to the registry's metrics, the few numbers of
``harness evaluate``'s breakdowns that a search or ``harness validate`` can compare, computed by
the same functions with their defaults:

- ``lesion_recall_small`` / ``_medium`` / ``_large``: lesion-level detection recall per size
  stratum (:func:`~trials.metrics.lesion_counts` with :data:`DEFAULT_SIZE_THRESHOLDS` and
  :data:`DEFAULT_DETECT_FRACTION`, pooled by :func:`~trials.metrics.lesion_rates`); ``nan``
  when the images hold no lesion of the size;
- ``fp_components_per_image``: predicted components touching no lesion, of any size, per image;
- ``ece`` and ``brier``: expected calibration error over :data:`DEFAULT_BINS` equal-width bins
  and Brier score, pooled over every pixel of the images.

Only integer counts, the ``(3, n_bins)`` reliability bins and one sum of squared errors are
kept, so the cost per image is two connected-component labellings and a few ``bincount`` passes
over its pixels, and the memory does not grow with the data set. The probabilities are those of
the prediction itself, so :class:`BreakdownAccumulator.observe` is the ``observe`` callback of
``trials.train.evaluate_samples`` and needs no second inference pass.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from search_spaces import BREAKDOWN_METRICS
from trials.metrics._calibration import (
    DEFAULT_BINS,
    expected_calibration_error,
    reliability_bins,
    squared_error_sum,
)
from trials.metrics._lesions import (
    DEFAULT_DETECT_FRACTION,
    LESION_FIELDS,
    lesion_counts,
    lesion_rates,
    size_strata,
)

__all__ = ["BREAKDOWN_METRICS", "BreakdownAccumulator"]

_STRATA = size_strata()


# what :meth:`BreakdownAccumulator.compute` returns, in this order: the base vocabulary's
# BREAKDOWN_METRICS, whose lesion-recall names are these strata's (a test keeps them in step)
class BreakdownAccumulator:
    """Lesion counts per size stratum and calibration bins over a set of images.

    Example:
        >>> acc = BreakdownAccumulator()
        >>> evaluate_samples(model, samples, recipe, device, observe=acc.observe)  # doctest: +SKIP
        >>> acc.compute()["ece"]  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.counts = {s.name: dict.fromkeys(LESION_FIELDS, 0) for s in _STRATA}
        self.bins = np.zeros((3, DEFAULT_BINS))
        self.squared = 0.0
        self.n_images = 0

    def update(self, prob: np.ndarray, target: np.ndarray, where: str = "image") -> None:
        """Add one image: its lesion probabilities and its ground-truth mask (same shape).

        The prediction is ``prob >= 0.5``, as for the segmentation metrics.

        Raises:
            DataError: the masks or probabilities are not a valid pair (``where`` says which).
        """
        counts = lesion_counts(prob >= 0.5, target, _STRATA, DEFAULT_DETECT_FRACTION, where)
        for name, fields in counts.items():
            for field, value in fields.items():
                self.counts[name][field] += value
        self.bins += reliability_bins(prob, target, DEFAULT_BINS)
        self.squared += squared_error_sum(prob, target)
        self.n_images += 1

    def observe(self, sample: Any, logits: np.ndarray, prob: np.ndarray) -> None:
        """``evaluate_samples``'s callback: :meth:`update` with the sample's full-size mask."""
        del logits  # the probabilities are what is calibrated
        self.update(prob, sample.target_mask, f"image {sample.id!r}")

    def compute(self) -> dict[str, float]:
        """The :data:`BREAKDOWN_METRICS` over the images added so far (``nan`` for none)."""
        out = {
            f"lesion_recall_{name}": lesion_rates(c, self.n_images)["detection_recall"]
            for name, c in self.counts.items()
        }
        every_size = {f: sum(c[f] for c in self.counts.values()) for f in LESION_FIELDS}
        out["fp_components_per_image"] = lesion_rates(every_size, self.n_images)["fp_per_image"]
        n_pixels = float(self.bins[0].sum())
        out["ece"] = expected_calibration_error(self.bins)
        out["brier"] = self.squared / n_pixels if n_pixels else math.nan
        return {k: float(v) for k, v in out.items()}
