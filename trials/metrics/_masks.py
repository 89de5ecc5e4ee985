"""Validation of the (prediction, target) mask pairs every metric takes."""

from __future__ import annotations

import numpy as np

from search_spaces import DataError

__all__ = ["check_mask_pair"]


def _as_mask(array: object, role: str, where: str) -> np.ndarray:
    """Return ``array`` as a 2-D bool array, or raise :class:`DataError` saying why not."""
    mask = np.asarray(array)
    if mask.ndim != 2:
        raise DataError(
            f"{where}: {role} must be a 2-D H x W mask, got an array of shape {mask.shape}"
        )
    if mask.size == 0:
        raise DataError(f"{where}: {role} must have at least one pixel, got shape {mask.shape}")
    if mask.dtype == np.bool_:
        return mask
    if np.issubdtype(mask.dtype, np.integer):
        # Masks read from PNG files arrive as uint8 0/1; anything else would be silently
        # mis-read as "lesion wherever non-zero", so only exact 0/1 is accepted.
        if np.any((mask != 0) & (mask != 1)):
            raise DataError(
                f"{where}: {role} is an integer array with values other than 0 and 1 "
                f"(e.g. {int(mask[(mask != 0) & (mask != 1)][0])}); give a bool mask"
            )
        return mask.astype(bool)
    raise DataError(
        f"{where}: {role} must be a bool mask (threshold probabilities first), "
        f"got dtype {mask.dtype}"
    )


def check_mask_pair(
    pred: object, target: object, where: str = "metrics"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a predicted and a target mask and return them as bool arrays.

    Args:
        pred: the predicted mask, ``H x W`` bool (or integer 0/1).
        target: the ground-truth mask, same shape.
        where: what the pair is (e.g. ``"image 'leaf_003'"``), used in error messages.

    Returns:
        ``(pred, target)`` as 2-D bool arrays (no copy when they already are).

    Raises:
        DataError: a mask is not 2-D, is empty, is not bool/0-1, or the shapes differ.
    """
    pred_mask = _as_mask(pred, "pred", where)
    target_mask = _as_mask(target, "target", where)
    if pred_mask.shape != target_mask.shape:
        raise DataError(
            f"{where}: pred and target must have the same shape, got pred {pred_mask.shape} "
            f"and target {target_mask.shape}"
        )
    return pred_mask, target_mask
