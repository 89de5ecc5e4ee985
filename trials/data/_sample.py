"""The in-memory unit of the data pipeline: one image with its binary lesion mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Sample"]


@dataclass(frozen=True, eq=False)
class Sample:
    """One image and its lesion mask, as loaded (possibly downscaled) for training and inference.

    Attributes:
        id: the file stem (pairs image and mask), unique within a data set.
        image: ``H x W x 3`` uint8 RGB.
        mask: ``H x W`` bool, ``True`` = lesion, same size as ``image``.
        full_mask: the mask at its original resolution when the image was downscaled on load
            (``data.max_image_side``), else ``None``; metrics are computed against it so that
            they are always on full-size images.
        label: a class name when one is known (synthetic lesion style, or the PlantSeg-style file
            name prefix such as ``apple_black_rot``), else ``None``.
    """

    id: str
    image: np.ndarray
    mask: np.ndarray
    full_mask: np.ndarray | None = None
    label: str | None = None

    @property
    def target_mask(self) -> np.ndarray:
        """The mask metrics are computed against: the full-resolution one when there is one."""
        return self.mask if self.full_mask is None else self.full_mask

    @property
    def lesion_fraction(self) -> float:
        """Share of lesion pixels in the (full-resolution) mask."""
        return float(self.target_mask.mean())
