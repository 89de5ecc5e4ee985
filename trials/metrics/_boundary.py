"""Boundary metrics of a binary lesion mask: boundary F1 (BF score) and HD95.

Boundary of a mask: the mask pixels that have at least one 4-neighbour (up, down, left, right)
outside the mask, where pixels beyond the image frame count as outside. So a lesion touching the
image edge has a closed contour along the edge, and a mask has an empty boundary exactly when it
has no lesion pixel.

Distances are Euclidean, in pixels, between pixel centres, from
``scipy.ndimage.distance_transform_edt``; :func:`surface_distances` computes both directed sets
once per image and both metrics read them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from search_spaces import ConfigError
from trials.metrics._registry import register_metric

__all__ = [
    "SurfaceDistances",
    "boundary_f1",
    "check_tolerance",
    "hd95",
    "mask_boundary",
    "surface_distances",
]


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """Bool image of the boundary pixels of ``mask`` (4-neighbourhood, image frame = outside).

    Args:
        mask: ``H x W`` bool.
    """
    padded = np.pad(mask, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


@dataclass(frozen=True)
class SurfaceDistances:
    """The two directed sets of boundary-to-boundary distances of one image.

    Attributes:
        pred_to_target: for each predicted boundary pixel, its distance to the nearest target
            boundary pixel (``inf`` for every pixel when the target has no boundary).
        target_to_pred: for each target boundary pixel, its distance to the nearest predicted
            boundary pixel (``inf`` when the prediction has no boundary).
    """

    pred_to_target: np.ndarray
    target_to_pred: np.ndarray

    @property
    def n_pred(self) -> int:
        """Number of predicted boundary pixels."""
        return int(self.pred_to_target.size)

    @property
    def n_target(self) -> int:
        """Number of target boundary pixels."""
        return int(self.target_to_pred.size)


def _distances_to(boundary: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Distance from each ``True`` pixel of ``at`` to the nearest ``True`` pixel of ``boundary``."""
    n_at = int(np.count_nonzero(at))
    if n_at == 0:
        return np.zeros(0, dtype=np.float64)
    if not boundary.any():
        return np.full(n_at, np.inf)
    return ndimage.distance_transform_edt(~boundary)[at].astype(np.float64, copy=False)


def surface_distances(pred: np.ndarray, target: np.ndarray) -> SurfaceDistances:
    """Both directed boundary-distance sets of a predicted mask against its target.

    Args:
        pred: ``H x W`` bool prediction.
        target: ``H x W`` bool target (same shape; the caller validates).
    """
    union = pred | target
    rows = np.flatnonzero(union.any(axis=1))
    if rows.size == 0:
        empty = np.zeros(0, dtype=np.float64)
        return SurfaceDistances(empty, empty)
    cols = np.flatnonzero(union.any(axis=0))
    # Work on the bounding box of the two masks: it holds every boundary pixel of both, and
    # pixels cut off by it are outside both masks just as pixels beyond the image are, so the
    # boundaries and their mutual distances are exactly those of the full image, for a
    # distance transform over a fraction of the pixels when lesions are small.
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    pred_boundary = mask_boundary(pred[box])
    target_boundary = mask_boundary(target[box])
    return SurfaceDistances(
        pred_to_target=_distances_to(target_boundary, at=pred_boundary),
        target_to_pred=_distances_to(pred_boundary, at=target_boundary),
    )


def check_tolerance(tolerance: float, where: str = "tolerance") -> float:
    """Return ``tolerance`` as a float if it is a finite number >= 0, else raise ConfigError."""
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float | np.integer | np.floating)
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        raise ConfigError(
            f"{where}: the boundary tolerance must be a finite number of pixels >= 0, "
            f"got {tolerance!r}"
        )
    return float(tolerance)


@register_metric("boundary_f1", inputs=surface_distances, higher_is_better=True, pooled=False)
def boundary_f1(s: SurfaceDistances, *, tolerance: float = 2) -> float:
    """Boundary F1 (BF score) at a distance tolerance in pixels (Csurka et al. 2013).

    G. Csurka, D. Larlus, F. Perronnin, "What is a good evaluation measure for semantic
    segmentation?", BMVC 2013. Precision is the share of predicted boundary pixels at distance
    ``<= tolerance`` from the target boundary, recall the share of target boundary pixels at
    distance ``<= tolerance`` from the predicted boundary, and the score their harmonic mean
    (0.0 when both are 0).

    Both boundaries empty (no lesion in target nor prediction) -> 1.0; exactly one empty -> 0.0.

    Args:
        s: the image's :class:`SurfaceDistances`.
        tolerance: the distance, in pixels, within which a boundary pixel counts as matched.

    Raises:
        ConfigError: ``tolerance`` is negative or not a finite number.
    """
    tol = check_tolerance(tolerance)
    if s.n_pred == 0 and s.n_target == 0:
        return 1.0
    if s.n_pred == 0 or s.n_target == 0:
        return 0.0
    p = np.count_nonzero(s.pred_to_target <= tol) / s.n_pred
    r = np.count_nonzero(s.target_to_pred <= tol) / s.n_target
    return float(2.0 * p * r / (p + r)) if p + r > 0 else 0.0


@register_metric("hd95", inputs=surface_distances, higher_is_better=False, pooled=False)
def hd95(s: SurfaceDistances) -> float:
    """95th-percentile symmetric Hausdorff distance between the two boundaries, in pixels.

    Convention of MedPy's ``medpy.metric.binary.hd95``: the two directed distance sets
    (prediction -> target and target -> prediction) are pooled and their 95th percentile taken
    with ``numpy.percentile``'s default linear interpolation. (MONAI's
    ``compute_hausdorff_distance(percentile=95)`` instead takes the larger of the two directed
    95th percentiles; the two agree on the maximum, ``percentile=100``.)

    Both boundaries empty -> 0.0; exactly one empty -> ``nan`` (the distance to an empty set is
    undefined); data-set summaries average with ``nanmean`` and report how many were ``nan``.
    """
    if s.n_pred == 0 and s.n_target == 0:
        return 0.0
    if s.n_pred == 0 or s.n_target == 0:
        return math.nan
    return float(np.percentile(np.concatenate([s.pred_to_target, s.target_to_pred]), 95))
