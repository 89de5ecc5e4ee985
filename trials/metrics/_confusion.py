"""Confusion counts of a binary lesion mask and the metrics computed from them.

Convention for empty denominators (the *0/0 cases*). A ratio whose denominator is zero is given
the value it would have if the thing it measures had been got right, *unless* the other side of
the confusion shows an error:

- ``iou_lesion`` and ``dice``: no lesion pixel in target nor prediction (TP + FP + FN = 0)
  -> 1.0: an image with no lesion, correctly predicted as such, is perfect.
- ``iou_background``: no background pixel in either (TN + FN + FP = 0) -> 1.0.
- ``precision``: no predicted positive (TP + FP = 0) -> 1.0 if there is no target positive
  either (FN = 0), else 0.0 (lesions were missed).
- ``recall``: no target positive (TP + FN = 0) -> 1.0 if nothing was predicted either (FP = 0),
  else 0.0 (lesions were invented).
- ``f1``: harmonic mean of the two above; 0.0 when both are 0. With this convention ``f1`` equals
  ``dice`` on every input, the degenerate ones included.
- ``pixel_accuracy``: no pixel at all -> 1.0 (cannot happen for a validated image).

On non-degenerate inputs every value equals scikit-learn's ``jaccard_score``, ``f1_score``,
``precision_score``, ``recall_score`` and ``accuracy_score`` with ``pos_label=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trials.metrics._registry import register_metric

__all__ = [
    "ConfusionCounts",
    "confusion_counts",
    "dice",
    "f1",
    "iou_background",
    "iou_lesion",
    "miou",
    "pixel_accuracy",
    "precision",
    "recall",
]


@dataclass(frozen=True)
class ConfusionCounts:
    """Pixel counts of one binary prediction against its target, or of a sum of them.

    Counts are Python ints: exact, never overflowing, and JSON-serialisable as they are
    (:meth:`as_array` gives them as ``int64``).

    Attributes:
        tp: lesion predicted as lesion.
        fp: background predicted as lesion.
        fn: lesion predicted as background.
        tn: background predicted as background.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: ConfusionCounts) -> ConfusionCounts:
        if not isinstance(other, ConfusionCounts):
            return NotImplemented
        return ConfusionCounts(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def total(self) -> int:
        """Number of pixels counted."""
        return self.tp + self.fp + self.fn + self.tn

    def as_dict(self) -> dict[str, int]:
        """``{"tp": ..., "fp": ..., "fn": ..., "tn": ...}``."""
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn}

    def as_array(self) -> np.ndarray:
        """``[tp, fp, fn, tn]`` as ``int64``."""
        return np.array([self.tp, self.fp, self.fn, self.tn], dtype=np.int64)


def confusion_counts(pred: np.ndarray, target: np.ndarray) -> ConfusionCounts:
    """Confusion counts of a predicted bool mask against a target bool mask of the same shape.

    The caller validates the masks (see :func:`~trials.metrics.check_mask_pair`).
    """
    # Three popcounts instead of four boolean images: FP, FN and TN follow from the totals.
    tp = int(np.count_nonzero(pred & target))
    n_pred = int(np.count_nonzero(pred))
    n_target = int(np.count_nonzero(target))
    fp = n_pred - tp
    fn = n_target - tp
    return ConfusionCounts(tp=tp, fp=fp, fn=fn, tn=int(pred.size) - tp - fp - fn)


def _ratio(num: int, den: int, if_empty: float) -> float:
    return num / den if den else if_empty


@register_metric("iou_lesion", inputs=confusion_counts, higher_is_better=True, pooled=True)
def iou_lesion(c: ConfusionCounts) -> float:
    """Jaccard index of the lesion class, TP / (TP + FP + FN); 1.0 when no lesion anywhere."""
    return _ratio(c.tp, c.tp + c.fp + c.fn, 1.0)


@register_metric("iou_background", inputs=confusion_counts, higher_is_better=True, pooled=True)
def iou_background(c: ConfusionCounts) -> float:
    """Jaccard index of the background class, TN / (TN + FN + FP); 1.0 when all is lesion."""
    return _ratio(c.tn, c.tn + c.fn + c.fp, 1.0)


@register_metric("miou", inputs=confusion_counts, higher_is_better=True, pooled=True)
def miou(c: ConfusionCounts) -> float:
    """Mean of the lesion and background IoU (the two-class mean IoU)."""
    return (iou_lesion(c) + iou_background(c)) / 2.0


@register_metric("dice", inputs=confusion_counts, higher_is_better=True, pooled=True)
def dice(c: ConfusionCounts) -> float:
    """Dice coefficient, 2TP / (2TP + FP + FN); 1.0 when no lesion anywhere."""
    return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, 1.0)


@register_metric("precision", inputs=confusion_counts, higher_is_better=True, pooled=True)
def precision(c: ConfusionCounts) -> float:
    """TP / (TP + FP); with no predicted lesion: 1.0 if no target lesion, else 0.0."""
    return _ratio(c.tp, c.tp + c.fp, 1.0 if c.fn == 0 else 0.0)


@register_metric("recall", inputs=confusion_counts, higher_is_better=True, pooled=True)
def recall(c: ConfusionCounts) -> float:
    """TP / (TP + FN); with no target lesion: 1.0 if no predicted lesion, else 0.0."""
    return _ratio(c.tp, c.tp + c.fn, 1.0 if c.fp == 0 else 0.0)


@register_metric("f1", inputs=confusion_counts, higher_is_better=True, pooled=True)
def f1(c: ConfusionCounts) -> float:
    """Harmonic mean of precision and recall; 0.0 when both are 0."""
    p, r = precision(c), recall(c)
    return 2.0 * p * r / (p + r) if p + r > 0 else 0.0


@register_metric("pixel_accuracy", inputs=confusion_counts, higher_is_better=True, pooled=True)
def pixel_accuracy(c: ConfusionCounts) -> float:
    """Share of pixels classified correctly, (TP + TN) / all."""
    return _ratio(c.tp + c.tn, c.total, 1.0)
