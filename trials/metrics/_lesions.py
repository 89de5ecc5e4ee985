"""Lesion-level metrics by lesion size: detection recall, pixel recall, false-positive components.

A *lesion* is a connected component of the ground-truth mask, with **8-connectivity** (pixels
touching by an edge or a corner belong to one lesion; ``scipy.ndimage.label`` with a 3 x 3
structure of ones). Lesions fall into size strata by their area in pixels at the resolution the
masks are evaluated at (the full-resolution ground truth, see ``Sample.target_mask``). With the
thresholds ``(t_1, ..., t_k)`` (strictly increasing) stratum ``i`` holds the areas
``t_i <= area < t_{i+1}`` (``t_0 = 0``, ``t_{k+1} = inf``).

The default thresholds, :data:`DEFAULT_SIZE_THRESHOLDS` ``= (64, 1024)`` (small < 64 px,
medium < 1024 px, large >= 1024 px), follow the reference recipe's scale: 512-px tiles resized to
256 px and a decoder whose finest output has stride 4, so one output cell spans 8 x 8 = 64 image
pixels. A *small* lesion fits in one output cell, a *medium* one in at most 4 x 4 cells
(32 x 32 = 1024 px); larger ones are *large*. Other recipes or data may need others; they are
settable (``harness evaluate --size-thresholds``).

Per stratum and image, :func:`lesion_counts` gives integer counts that add up over images:

- ``n``: lesions of the stratum;
- ``detected``: lesions of which the prediction covers at least ``detect_fraction`` of the
  pixels (default :data:`DEFAULT_DETECT_FRACTION` = 0.5);
- ``pixels`` / ``covered``: their pixels, and those of them predicted as lesion;
- ``fp``: false-positive components: connected components of the prediction (8-connectivity too)
  that touch no ground-truth lesion pixel, put in a stratum by their own area.

Pooled over images (:func:`lesion_rates`): detection recall ``sum detected / sum n``, pixel
recall ``sum covered / sum pixels`` and false-positive components per image ``sum fp / images``.
The lesion-level view follows the object-level detection analyses of COCO (Lin et al., *Microsoft
COCO: Common Objects in Context*, ECCV 2014), which also reports by object area.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy import ndimage

from search_spaces import ConfigError
from trials.metrics._masks import check_mask_pair

__all__ = [
    "CONNECTIVITY",
    "DEFAULT_DETECT_FRACTION",
    "DEFAULT_SIZE_THRESHOLDS",
    "LESION_FIELDS",
    "SizeStratum",
    "check_detect_fraction",
    "lesion_counts",
    "lesion_rates",
    "size_strata",
]

CONNECTIVITY = 8
DEFAULT_SIZE_THRESHOLDS = (64, 1024)
DEFAULT_DETECT_FRACTION = 0.5
LESION_FIELDS = ("n", "detected", "pixels", "covered", "fp")
_STRUCTURE = np.ones((3, 3), dtype=bool)  # 8-connectivity
_NAMES = {1: ("small", "large"), 2: ("small", "medium", "large")}


@dataclass(frozen=True)
class SizeStratum:
    """Lesions with ``low <= area < high`` pixels (``high`` is ``inf`` for the last stratum).

    Attributes:
        name: ``small`` / ``medium`` / ``large`` for two thresholds, ``size1``, ... otherwise.
        low: smallest area in the stratum (pixels).
        high: first area above the stratum (``math.inf`` for the last one).
    """

    name: str
    low: int
    high: float

    @property
    def label(self) -> str:
        """The range in words, e.g. ``< 64 px``, ``64-1023 px``, ``>= 1024 px``."""
        if self.low == 0:
            return f"< {int(self.high)} px"
        if math.isinf(self.high):
            return f">= {self.low} px"
        return f"{self.low}-{int(self.high) - 1} px"


def size_strata(
    thresholds: Sequence[int] = DEFAULT_SIZE_THRESHOLDS, option: str = "size thresholds"
) -> tuple[SizeStratum, ...]:
    """The strata that ``thresholds`` (areas in pixels) cut the sizes into.

    Args:
        thresholds: strictly increasing positive integers; ``k`` of them give ``k + 1`` strata.
        option: where the thresholds came from, for the error message.

    Raises:
        ConfigError: no threshold, a value that is not a positive integer, or not increasing.
    """
    values = list(thresholds)
    if not values:
        raise ConfigError(f"{option}: give at least one area threshold in pixels, got none")
    for v in values:
        try:
            ok = not isinstance(v, bool) and float(v).is_integer() and float(v) >= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(
                f"{option}: every threshold must be a positive whole number of pixels, got {v!r}"
            )
    ints = [int(v) for v in values]
    if any(b <= a for a, b in pairwise(ints)):
        raise ConfigError(f"{option}: the thresholds must be strictly increasing, got {ints}")
    names = _NAMES.get(len(ints), tuple(f"size{i + 1}" for i in range(len(ints) + 1)))
    edges = [0, *ints, math.inf]
    return tuple(SizeStratum(name, int(edges[i]), edges[i + 1]) for i, name in enumerate(names))


def check_detect_fraction(fraction: float, option: str = "detect fraction") -> float:
    """``fraction`` as a float in ``(0, 1]``, or :class:`ConfigError` naming ``option``."""
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 < value <= 1.0:
        raise ConfigError(
            f"{option}: the covered fraction of a lesion that counts as detected must be in "
            f"(0, 1], got {fraction!r}"
        )
    return value


def _stratum_index(areas: np.ndarray, strata: Sequence[SizeStratum]) -> np.ndarray:
    inner = np.array([s.low for s in strata[1:]], dtype=np.int64)
    return np.searchsorted(inner, areas, side="right")


def lesion_counts(
    pred: object,
    target: object,
    strata: Sequence[SizeStratum] | None = None,
    detect_fraction: float = DEFAULT_DETECT_FRACTION,
    where: str = "lesion_counts",
) -> dict[str, dict[str, int]]:
    """Counts of one image's lesions and false-positive components per size stratum.

    Args:
        pred: predicted mask, ``H x W`` bool.
        target: ground-truth mask, same shape.
        strata: from :func:`size_strata` (default: :data:`DEFAULT_SIZE_THRESHOLDS`).
        detect_fraction: share of a lesion's pixels the prediction must cover for the lesion to
            count as detected, in ``(0, 1]``.
        where: what the pair is, for error messages.

    Returns:
        ``{stratum name: {"n", "detected", "pixels", "covered", "fp"}}`` (see the module).

    Raises:
        DataError: the masks are not a valid pair (see ``check_mask_pair``).
        ConfigError: ``detect_fraction`` out of range.
    """
    pred_mask, target_mask = check_mask_pair(pred, target, where)
    fraction = check_detect_fraction(detect_fraction)
    strata = tuple(strata) if strata is not None else size_strata()
    k = len(strata)

    labels, n = ndimage.label(target_mask, structure=_STRUCTURE)
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    covered = np.bincount(labels[pred_mask], minlength=n + 1)[1:]
    # The ratio, not covered >= fraction * area: a correctly rounded c / a equals the float of a
    # fraction given as c / a exactly (0.28 * 25 is 7.000000000000001, but 7 / 25 == 0.28).
    found = covered / np.maximum(areas, 1) >= fraction
    which = _stratum_index(areas, strata)

    pred_labels, m = ndimage.label(pred_mask, structure=_STRUCTURE)
    pred_areas = np.bincount(pred_labels.ravel(), minlength=m + 1)[1:]
    touching = np.bincount(pred_labels[target_mask], minlength=m + 1)[1:]
    fp_which = _stratum_index(pred_areas[touching == 0], strata)

    def per_stratum(values: np.ndarray, index: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=values, minlength=k).astype(np.int64)

    sums = {
        "n": np.bincount(which, minlength=k),
        "detected": per_stratum(found.astype(np.int64), which),
        "pixels": per_stratum(areas, which),
        "covered": per_stratum(covered, which),
        "fp": np.bincount(fp_which, minlength=k),
    }
    return {s.name: {f: int(sums[f][i]) for f in LESION_FIELDS} for i, s in enumerate(strata)}


def lesion_rates(counts: Mapping[str, int], n_images: int) -> dict[str, float]:
    """Detection recall, pixel recall and false-positive components per image of summed counts.

    Args:
        counts: ``{"n", "detected", "pixels", "covered", "fp"}`` summed over ``n_images`` images.
        n_images: how many images the counts are summed over.

    Returns:
        ``{"detection_recall", "pixel_recall", "fp_per_image"}``; a recall is ``nan`` when the
        stratum has no lesion, ``fp_per_image`` is ``nan`` for zero images.
    """
    n, pixels = int(counts["n"]), int(counts["pixels"])
    return {
        "detection_recall": counts["detected"] / n if n else math.nan,
        "pixel_recall": counts["covered"] / pixels if pixels else math.nan,
        "fp_per_image": counts["fp"] / n_images if n_images else math.nan,
    }
