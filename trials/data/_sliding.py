"""Sliding-window inference over a whole image, blending overlapping windows with Gaussian weights.

The image is cut into ``data.tile_size`` windows on the same grid as training
(:func:`~trials.data._tiles.grid_positions` with ``data.stride``, the last window flush with the
edge), each window is prepared exactly like an un-augmented training tile (resize to
``data.image_size``, ``data.mean`` / ``data.std`` normalisation), the model runs on batches of
``data.eval_batch_size`` windows and the logits are resized back to the window size.

Where windows overlap, their logits are blended with a tapered weight map (the Gaussian
"importance map" of nnU-Net, Isensee et al., 2021, *Nature Methods* 18:203-211, and of MONAI's
``sliding_window_inference(mode="gaussian")``): a convolutional network sees the least context,
and is least reliable, at the border of its window, so a window's logits count most at its centre
and fade towards its edges instead of stopping at a straight line. A plain average (MONAI's
``mode="constant"``) lets one window's border error show as a tile-shaped patch with straight
edges. The sigmoid comes last, so overlaps blend evidence (logits) rather than probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from search_spaces import DataError
from search_spaces._recipe import DataConfig
from trials.data._dataset import build_transform
from trials.data._tiles import grid_positions, pad_to_min

__all__ = ["SIGMA_SCALE", "WEIGHT_FLOOR", "gaussian_weights", "predict_full"]

SIGMA_SCALE = 0.125  # sigma = tile / 8, as nnU-Net and MONAI's default sigma_scale
WEIGHT_FLOOR = 1e-3  # MONAI's floor, per axis: every pixel of a window keeps a positive weight


@lru_cache(maxsize=8)
def _weights_np(tile: int) -> np.ndarray:
    centre = (tile - 1) / 2.0
    axis = np.exp(-((np.arange(tile) - centre) ** 2) / (2.0 * (SIGMA_SCALE * tile) ** 2))
    axis = np.maximum(axis / axis.max(), WEIGHT_FLOOR)
    weights = np.outer(axis, axis).astype(np.float32)
    weights.setflags(write=False)
    return weights


def gaussian_weights(tile: int) -> np.ndarray:
    """The ``tile x tile`` weight map of one window: largest at the centre, small at the edges.

    ``w[i, j] = h(i) * h(j)`` with ``h(i) = max(g(i) / max(g), WEIGHT_FLOOR)``,
    ``g(i) = exp(-(i - (tile - 1) / 2) ** 2 / (2 * sigma ** 2))`` and ``sigma = tile / 8``
    (``SIGMA_SCALE``): the peak is 1, the map is symmetric about the window's centre, the edges
    weigh about ``1e-3`` and the corners ``1e-6``.

    This is the Gaussian importance map of MONAI's
    ``compute_importance_map(mode="gaussian", sigma_scale=0.125)`` (and of nnU-Net, whose centre
    is ``tile // 2`` instead of the symmetric ``(tile - 1) / 2``), with one change: MONAI clamps
    the 2-D product from below at ``1e-3``, which makes every window weigh the same (a plain
    average, with its straight seams) wherever the windows covering a pixel are all near an edge,
    e.g. along the image's own top and bottom rows; clamping each axis instead keeps the map
    separable, so along such a row the windows are still blended with Gaussian weights.

    Args:
        tile: window side in pixels (``>= 1``).

    Returns:
        A read-only float32 array.

    Raises:
        ValueError: for a non-positive ``tile``.
    """
    if int(tile) != tile or tile < 1:
        raise ValueError(f"gaussian_weights: tile must be a positive integer, got {tile!r}")
    return _weights_np(int(tile))


def _batches(items: list[tuple[int, int]], size: int) -> Iterator[list[tuple[int, int]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def predict_full(
    model_fn: Callable[[torch.Tensor], torch.Tensor],
    image: np.ndarray,
    data_cfg: DataConfig,
    device: torch.device | str,
    out_size: tuple[int, int] | None = None,
    return_logits: bool = False,
) -> np.ndarray:
    """Lesion probability of every pixel of a whole image, by sliding-window inference.

    The logit of a pixel is ``sum_k w_k * z_k / sum_k w_k`` over the windows ``k`` covering it,
    where ``z_k`` is window ``k``'s logit there and ``w_k`` the weight of that pixel's position
    in the window (:func:`gaussian_weights`: 1 at the centre, ``1e-3`` at the edges).
    A pixel covered by a single window gets exactly that window's logit; a model that predicts
    the same logit everywhere gives that constant everywhere, without seams.

    Args:
        model_fn: maps a ``(B, 3, S, S)`` float tensor on ``device`` to ``(B, 1, S, S)`` logits
            (``S = data.image_size``); called under ``torch.inference_mode()``.
        image: ``H x W x 3`` uint8 RGB. Smaller than a tile, it is padded by reflection first and
            the padding is cropped off the result.
        data_cfg: the ``data`` section of the recipe (tile size, stride, image size, mean/std,
            eval batch size).
        device: where the windows are sent and the logits accumulated.
        out_size: ``(height, width)`` to resize the blended logit map to (bilinearly) before the
            sigmoid, e.g. the original size of an image downscaled on load; ``None`` keeps
            ``H x W``.
        return_logits: return the blended logits instead of probabilities.

    Returns:
        A float32 ``H x W`` (or ``out_size``) map of probabilities in ``[0, 1]`` (or of logits).

    Raises:
        DataError: when ``image`` is not ``H x W x 3`` uint8.
        ValueError: when ``model_fn`` returns a tensor of the wrong shape, or ``out_size`` is
            not two positive integers.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(
            f"predict_full: image must be H x W x 3 uint8, got shape {image.shape} "
            f"and dtype {image.dtype}"
        )
    if out_size is not None and (len(out_size) != 2 or min(out_size) < 1):
        raise ValueError(f"predict_full: out_size must be (height, width) >= 1, got {out_size}")
    tile, size = data_cfg.tile_size, data_cfg.image_size
    height, width = image.shape[:2]
    padded, _ = pad_to_min(image, None, tile)
    ys = grid_positions(padded.shape[0], tile, data_cfg.stride)
    xs = grid_positions(padded.shape[1], tile, data_cfg.stride)
    windows = [(int(y), int(x)) for y in ys for x in xs]
    transform = build_transform(data_cfg, train=False)

    device = torch.device(device)
    weights = torch.from_numpy(gaussian_weights(tile).copy()).to(device)
    logit_sum = torch.zeros(padded.shape[:2], dtype=torch.float32, device=device)
    weight_sum = torch.zeros(padded.shape[:2], dtype=torch.float32, device=device)
    with torch.inference_mode():
        for chunk in _batches(windows, data_cfg.eval_batch_size):
            batch = torch.stack(
                [
                    transform(image=np.ascontiguousarray(padded[y : y + tile, x : x + tile]))[
                        "image"
                    ]
                    for y, x in chunk
                ]
            ).to(device, non_blocking=True)
            logits = model_fn(batch)
            if tuple(logits.shape) != (len(chunk), 1, size, size):
                raise ValueError(
                    f"predict_full: model_fn must return logits of shape "
                    f"{(len(chunk), 1, size, size)}, got {tuple(logits.shape)}"
                )
            logits = logits.float()
            if size != tile:
                logits = F.interpolate(
                    logits, size=(tile, tile), mode="bilinear", align_corners=False
                )
            for k, (y, x) in enumerate(chunk):
                logit_sum[y : y + tile, x : x + tile] += logits[k, 0] * weights
                weight_sum[y : y + tile, x : x + tile] += weights
        # Every pixel has weight_sum >= WEIGHT_FLOOR ** 2 > 0: the grid covers the padded image
        # (stride <= tile) and no weight is below the floor.
        blended = (logit_sum / weight_sum)[:height, :width]
        if out_size is not None and tuple(out_size) != (height, width):
            blended = F.interpolate(
                blended[None, None],
                size=(int(out_size[0]), int(out_size[1])),
                mode="bilinear",
                align_corners=False,
            )[0, 0]
        result = blended if return_logits else torch.sigmoid(blended)
        return result.cpu().numpy().astype(np.float32, copy=False)
