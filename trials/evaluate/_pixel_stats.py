"""Per-image lesion counts and calibration bins, collected during the one inference pass.

:class:`PixelStats` is the ``observe`` callback of ``trials.evaluate_samples``: for every image it
keeps the lesion counts per size stratum (:func:`trials.metrics.lesion_counts`), the reliability
bins and squared errors of the probabilities (:func:`trials.metrics.reliability_bins`,
:func:`~trials.metrics.squared_error_sum`) and, with a temperature, the same after scaling; the
pixels themselves are not kept. A trial's own validation reports a few of the same numbers each
epoch (:class:`trials.metrics.BreakdownAccumulator`). To fit a temperature, the validation split
is predicted first and a deterministic subsample of its pixels kept: at most
:data:`FIT_PIXELS_PER_IMAGE` per image, drawn uniformly without replacement with
``numpy.random.default_rng((seed, image index))``, so the fit's memory does not grow with the
image size. The statistics over images (intervals, strata, the fit) are in ``analysis``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import special

from trials.metrics import (
    CONNECTIVITY,
    SizeStratum,
    expected_calibration_error,
    lesion_counts,
    reliability_bins,
    squared_error_sum,
)

__all__ = ["FIT_PIXELS_PER_IMAGE", "PixelStats"]

FIT_PIXELS_PER_IMAGE = 50_000


def _scaled(logits: np.ndarray, temperature: float) -> np.ndarray:
    # sigmoid(z / T) in float32, as the model's own probabilities are computed
    return special.expit(np.asarray(logits, dtype=np.float32) / np.float32(temperature))


class PixelStats:
    """Per-image lesion counts and calibration bins, as the ``observe`` of ``evaluate_samples``.

    Args:
        strata: the lesion-size strata (``trials.metrics.size_strata``).
        detect_fraction: covered share of a lesion that counts as detected.
        n_bins: calibration bins.
        temperature: also collect the calibration after ``sigmoid(z / T)``.
        keep_pixels: keep up to this many (logit, label) pixels per image, for a temperature fit.
        seed: seed of that subsample.

    Attributes:
        connectivity: the pixel connectivity of a lesion (8).
        bins, squared: per image, the ``(3, n_bins)`` reliability bins and the sum of squared
            errors of the probabilities; ``bins_after``, ``squared_after`` the same after the
            temperature.
    """

    connectivity = CONNECTIVITY

    def __init__(
        self,
        strata: Sequence[SizeStratum],
        detect_fraction: float,
        n_bins: int,
        temperature: float | None = None,
        keep_pixels: int = 0,
        seed: int = 0,
    ) -> None:
        self.strata, self.detect_fraction, self.n_bins = tuple(strata), detect_fraction, n_bins
        self.temperature, self.keep_pixels, self.seed = temperature, keep_pixels, seed
        self.ids: list[str] = []
        self.counts: list[dict[str, dict[str, int]]] = []
        self.bins: list[np.ndarray] = []
        self.squared: list[float] = []
        self.bins_after: list[np.ndarray] = []
        self.squared_after: list[float] = []
        self.kept: list[tuple[np.ndarray, np.ndarray]] = []

    def __call__(self, sample: Any, logits: np.ndarray, prob: np.ndarray) -> None:
        target = sample.target_mask
        where = f"image {sample.id!r}"
        self.ids.append(sample.id)
        self.counts.append(
            lesion_counts(prob >= 0.5, target, self.strata, self.detect_fraction, where)
        )
        self.bins.append(reliability_bins(prob, target, self.n_bins))
        self.squared.append(squared_error_sum(prob, target))
        if self.temperature is not None:
            after = _scaled(logits, self.temperature)
            self.bins_after.append(reliability_bins(after, target, self.n_bins))
            self.squared_after.append(squared_error_sum(after, target))
        if self.keep_pixels:
            flat_z, flat_y = logits.ravel(), target.ravel()
            if flat_z.size > self.keep_pixels:
                rng = np.random.default_rng((self.seed, len(self.ids) - 1))
                pick = rng.choice(flat_z.size, self.keep_pixels, replace=False)
                flat_z, flat_y = flat_z[pick], flat_y[pick]
            self.kept.append((flat_z.astype(np.float32), flat_y.astype(bool)))

    def kept_pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept (logits, labels) of every image, concatenated (to fit a temperature on)."""
        return (
            np.concatenate([z for z, _ in self.kept]),
            np.concatenate([y for _, y in self.kept]),
        )

    def per_image(
        self, image_ids: Sequence[str], column: Callable[[str, str], str]
    ) -> list[dict[str, Any]]:
        """Per-image values: lesion counts, ``ece``, ``brier`` (and ``*_calibrated``).

        Args:
            image_ids: the images in the order of the metrics table they join.
            column: the column name of a stratum's field (``analysis.lesion_column``).

        Raises:
            RuntimeError: the images were not observed in the order of ``image_ids`` (a bug).
        """
        if list(self.ids) != list(image_ids):
            raise RuntimeError("evaluate: per-image lesion rows out of step with the metrics")
        rows = []
        for i, counts in enumerate(self.counts):
            row: dict[str, Any] = {}
            for name, fields in counts.items():
                row.update({column(name, f): v for f, v in fields.items()})
            n_pixels = self.bins[i][0].sum()
            row["ece"] = expected_calibration_error(self.bins[i])
            row["brier"] = self.squared[i] / n_pixels
            if self.bins_after:
                row["ece_calibrated"] = expected_calibration_error(self.bins_after[i])
                row["brier_calibrated"] = self.squared_after[i] / n_pixels
            rows.append(row)
        return rows
