"""Accumulate every registered metric over a data set of full-image predictions."""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from search_spaces import DataError
from trials.metrics._boundary import check_tolerance
from trials.metrics._masks import check_mask_pair
from trials.metrics._registry import MetricSpec, get_metric, list_metrics

__all__ = ["MetricAccumulator"]


@dataclass(frozen=True)
class _ImageRecord:
    image_id: str
    label: str | None
    # Inputs of the pooled metrics (the confusion counts), summed at compute() time; the
    # heavier per-image inputs (surface distances) are dropped once their metrics are taken.
    pooled_inputs: dict[Callable[..., Any], Any]
    values: dict[str, float]


def _row(record: _ImageRecord) -> dict[str, Any]:
    row: dict[str, Any] = {"image_id": record.image_id, "label": record.label}
    for pooled_input in record.pooled_inputs.values():
        row.update(pooled_input.as_dict())
    row.update(record.values)
    return row


class MetricAccumulator:
    """Collects per-image results and summarises them over the data set.

    Every metric in the registry (see :func:`~trials.metrics.list_metrics`) is computed for every
    image. Over a data set:

    - metrics registered with ``pooled=True`` (all the confusion-count metrics) are computed
      from the counts summed over the images (micro average: a large lesion weighs more than a
      small one, and images without lesions do not produce 0/0);
    - the others (``boundary_f1``, ``hd95``) are the mean of the per-image values, ``nan``
      values left out (``nanmean``); ``<name>_n_nan`` says how many were left out (for
      ``hd95``: images where exactly one of prediction and target has a lesion).

    Results are plain Python ``float`` / ``int`` / ``str``, JSON-serialisable as they are
    (``nan`` is written as ``NaN`` by :func:`json.dumps`).

    Example:
        >>> acc = MetricAccumulator(tolerance=2)
        >>> for sample, prob in predictions:  # doctest: +SKIP
        ...     acc.update(prob >= 0.5, sample.mask, sample.id, label=sample.label)
        >>> acc.compute()["iou_lesion"]  # doctest: +SKIP

    Args:
        tolerance: distance in pixels within which boundary pixels count as matched
            (``boundary_f1``).

    Raises:
        ConfigError: ``tolerance`` is negative or not a finite number.
    """

    def __init__(self, tolerance: int = 2) -> None:
        self.tolerance = check_tolerance(tolerance, where="MetricAccumulator(tolerance=...)")
        self._specs: list[MetricSpec] = [get_metric(name) for name in list_metrics()]
        settings = {"tolerance": self.tolerance}
        self._params: dict[str, dict[str, Any]] = {
            spec.name: {k: v for k, v in settings.items() if k in spec.params}
            for spec in self._specs
        }
        self._records: list[_ImageRecord] = []
        self._ids: set[str] = set()

    def __len__(self) -> int:
        return len(self._records)

    def reset(self) -> None:
        """Forget every image added so far (e.g. at the start of a validation epoch)."""
        self._records.clear()
        self._ids.clear()

    def update(
        self, pred: np.ndarray, target: np.ndarray, image_id: str, label: str | None = None
    ) -> dict[str, Any]:
        """Add one image: its thresholded prediction and its target mask.

        Args:
            pred: ``H x W`` bool predicted mask (or integer 0/1).
            target: ``H x W`` bool ground-truth mask, same shape.
            image_id: unique identifier of the image within this accumulator.
            label: class name of the image (e.g. the disease), for :meth:`per_label`.

        Returns:
            The image's row, as in :meth:`per_image`.

        Raises:
            DataError: the masks are not 2-D bool arrays of one shape, ``image_id`` is not a
                non-empty string or was already added, or ``label`` is not a string.
        """
        if not isinstance(image_id, str) or not image_id:
            raise DataError(f"image_id must be a non-empty string, got {image_id!r}")
        if image_id in self._ids:
            raise DataError(
                f"image {image_id!r} was already added to this MetricAccumulator; image ids "
                f"must be unique (call reset() to start a new evaluation)"
            )
        if label is not None and not isinstance(label, str):
            raise DataError(f"image {image_id!r}: label must be a string or None, got {label!r}")
        pred_mask, target_mask = check_mask_pair(pred, target, where=f"image {image_id!r}")

        inputs: dict[Callable[..., Any], Any] = {}
        values: dict[str, float] = {}
        for spec in self._specs:
            if spec.inputs not in inputs:
                inputs[spec.inputs] = spec.inputs(pred_mask, target_mask)
            values[spec.name] = float(spec.fn(inputs[spec.inputs], **self._params[spec.name]))
        pooled = {spec.inputs: inputs[spec.inputs] for spec in self._specs if spec.pooled}
        record = _ImageRecord(image_id, label, pooled, values)
        self._records.append(record)
        self._ids.add(image_id)
        return _row(record)

    def _summary(self, records: list[_ImageRecord]) -> dict[str, float]:
        out: dict[str, float] = {"n_images": len(records)}
        sums = {
            key: functools.reduce(operator.add, (r.pooled_inputs[key] for r in records))
            for key in records[0].pooled_inputs
        }
        for spec in self._specs:
            if spec.pooled:
                out[spec.name] = float(spec.fn(sums[spec.inputs], **self._params[spec.name]))
                continue
            values = np.array([r.values[spec.name] for r in records], dtype=np.float64)
            is_nan = np.isnan(values)
            # All-nan means "undefined", said once as nan rather than with numpy's warning.
            out[spec.name] = float(values[~is_nan].mean()) if (~is_nan).any() else math.nan
            out[f"{spec.name}_n_nan"] = int(is_nan.sum())
        return out

    def _require_images(self, method: str) -> None:
        if not self._records:
            raise DataError(
                f"MetricAccumulator.{method}() needs at least one image; none was added with "
                f"update() (is the evaluation split empty?)"
            )

    def compute(self) -> dict[str, float]:
        """Metrics over every image added: pooled count metrics and mean boundary metrics.

        Returns:
            ``{"n_images": n, <metric>: value for every registered metric,
            <metric>_n_nan: count for every mean-aggregated metric}``.

        Raises:
            DataError: no image was added.
        """
        self._require_images("compute")
        return self._summary(self._records)

    def per_image(self) -> list[dict[str, Any]]:
        """One dict per image, in the order added, for bootstrap confidence intervals.

        Each holds ``image_id``, ``label``, the confusion counts ``tp``, ``fp``, ``fn``, ``tn``
        and every registered metric of that image alone.
        """
        return [_row(r) for r in self._records]

    def per_label(self) -> dict[str, dict[str, float]]:
        """The :meth:`compute` summary restricted to each class label, sorted by label.

        Images added without a label are left out; with no labels at all the result is ``{}``.
        """
        by_label: dict[str, list[_ImageRecord]] = {}
        for r in self._records:
            if r.label is not None:
                by_label.setdefault(r.label, []).append(r)
        return {label: self._summary(by_label[label]) for label in sorted(by_label)}
