"""Calibration of predicted lesion probabilities, per pixel: reliability bins, ECE, Brier score.

Every pixel is one binary prediction: its probability ``p`` (the sigmoid of the model's logit)
and its label ``y`` (1 = lesion). The statistics are kept as *reliability bins*, a
``(3, n_bins)`` array of the pixel count, the sum of ``p`` and the sum of ``y`` in each of
``n_bins`` equal-width bins of ``[0, 1]`` (default :data:`DEFAULT_BINS` = 15, as in Guo et al.,
*On Calibration of Modern Neural Networks*, ICML 2017). Bins add up over images, so pooled and
per-image values come from one pass over the pixels without keeping them. A probability falls in
bin ``b`` when ``edge_b < p <= edge_{b+1}`` (the first bin also holds 0): the rule of
scikit-learn's ``calibration_curve(strategy="uniform")``.

- Expected calibration error (Naeini, Cooper & Hauskrecht, *Obtaining Well Calibrated
  Probabilities Using Bayesian Binning*, AAAI 2015): ``ECE = sum_b (n_b / N) |mean_y_b -
  mean_p_b|``, the gap between the fraction of lesion pixels and the mean probability in each
  bin, weighted by the bin's share of pixels.
- Brier score (Brier, *Monthly Weather Review* 78, 1950): ``mean (p - y)^2``; equal to
  scikit-learn's ``brier_score_loss``.

These are the per-pixel parts, shared by a trial's validation and ``harness evaluate``; the
statistics over images (bootstrap intervals, reliability curve, temperature scaling) are
``analysis``'s (``analysis._calibration``).
"""

from __future__ import annotations

import math

import numpy as np

from search_spaces import ConfigError, DataError

__all__ = [
    "DEFAULT_BINS",
    "bin_edges",
    "brier_score",
    "calibration_pair",
    "expected_calibration_error",
    "reliability_bins",
    "squared_error_sum",
]

DEFAULT_BINS = 15
_COUNT, _SUM_P, _SUM_Y = 0, 1, 2


def _check_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
        raise ConfigError(f"calibration bins: need a whole number >= 1, got {n_bins!r}")
    return int(n_bins)


def bin_edges(n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """The ``n_bins + 1`` equal-width bin edges of ``[0, 1]``."""
    return np.linspace(0.0, 1.0, _check_bins(n_bins) + 1)


def calibration_pair(prob: object, label: object) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels as flat float64 arrays, checked.

    Raises:
        DataError: sizes differ, a probability is outside ``[0, 1]`` (or nan), a label is not
            0/1 or bool.
    """
    p = np.asarray(prob, dtype=np.float64).ravel()
    y = np.asarray(label).ravel()
    if p.shape != y.shape:
        raise DataError(
            f"calibration: probabilities and labels differ in size ({p.size} vs {y.size})"
        )
    if p.size and (np.isnan(p).any() or p.min() < 0.0 or p.max() > 1.0):
        raise DataError("calibration: probabilities must lie in [0, 1] (no nan)")
    if y.dtype != np.bool_ and y.size and np.any((y != 0) & (y != 1)):
        raise DataError("calibration: labels must be 0/1 or bool")
    return p, y.astype(np.float64)


def reliability_bins(prob: object, label: object, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """Pixel count, sum of probabilities and sum of labels in each equal-width bin.

    Args:
        prob: probabilities in ``[0, 1]``, any shape.
        label: 0/1 (or bool) labels, same size.
        n_bins: number of bins.

    Returns:
        A float64 ``(3, n_bins)`` array: rows count, sum of ``p``, sum of ``y``.

    Raises:
        DataError: sizes differ, a probability is outside ``[0, 1]``, a label is not 0/1.
        ConfigError: ``n_bins`` is not a whole number >= 1.
    """
    edges = bin_edges(n_bins)
    p, y = calibration_pair(prob, label)
    which = np.searchsorted(edges[1:-1], p)
    k = len(edges) - 1
    return np.stack(
        [
            np.bincount(which, minlength=k).astype(np.float64),
            np.bincount(which, weights=p, minlength=k),
            np.bincount(which, weights=y, minlength=k),
        ]
    )


def squared_error_sum(prob: object, label: object) -> float:
    """Sum over the pixels of ``(p - y)^2``: the Brier score's numerator, which adds over images."""
    p, y = calibration_pair(prob, label)
    return float(np.sum(np.square(p - y)))


def brier_score(prob: object, label: object) -> float:
    """Mean squared difference of probabilities and labels (``nan`` for no pixel)."""
    p, y = calibration_pair(prob, label)
    return float(np.mean((p - y) ** 2)) if p.size else math.nan


def expected_calibration_error(bins: np.ndarray) -> float:
    """ECE of reliability bins: ``sum_b |sum_y_b - sum_p_b| / N`` (``nan`` for no pixel)."""
    total = float(bins[_COUNT].sum())
    return float(np.abs(bins[_SUM_Y] - bins[_SUM_P]).sum() / total) if total else math.nan
