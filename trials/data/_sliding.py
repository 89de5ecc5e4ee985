"""Sliding-window inference over a whole image with averaged overlapping logits.

The image is cut into ``data.tile_size`` windows on the same grid as training
(:func:`~trials.data._tiles.grid_positions` with ``data.stride``, the last window flush with the
edge), each window is prepared exactly like an un-augmented training tile (resize to
``data.image_size``, ``data.mean`` / ``data.std`` normalisation), the model runs on batches of
``data.eval_batch_size`` windows, the logits are resized back to the window size and averaged where
windows overlap; the sigmoid comes last, so overlaps average evidence (logits) rather than
probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from search_spaces import DataError
from search_spaces._recipe import DataConfig
from trials.data._dataset import build_transform
from trials.data._tiles import grid_positions, pad_to_min

__all__ = ["predict_full"]


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

    Args:
        model_fn: maps a ``(B, 3, S, S)`` float tensor on ``device`` to ``(B, 1, S, S)`` logits
            (``S = data.image_size``); called under ``torch.inference_mode()``.
        image: ``H x W x 3`` uint8 RGB. Smaller than a tile, it is padded by reflection first and
            the padding is cropped off the result.
        data_cfg: the ``data`` section of the recipe (tile size, stride, image size, mean/std,
            eval batch size).
        device: where the windows are sent and the logits accumulated.
        out_size: ``(height, width)`` to resize the averaged logit map to (bilinearly) before the
            sigmoid, e.g. the original size of an image downscaled on load; ``None`` keeps
            ``H x W``.
        return_logits: return the averaged logits instead of probabilities.

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
    logit_sum = torch.zeros(padded.shape[:2], dtype=torch.float32, device=device)
    count = torch.zeros(padded.shape[:2], dtype=torch.float32, device=device)
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
                logit_sum[y : y + tile, x : x + tile] += logits[k, 0]
                count[y : y + tile, x : x + tile] += 1.0
        # Every pixel has count >= 1: the grid covers the padded image (stride <= tile).
        mean_logits = (logit_sum / count)[:height, :width]
        if out_size is not None and tuple(out_size) != (height, width):
            mean_logits = F.interpolate(
                mean_logits[None, None],
                size=(int(out_size[0]), int(out_size[1])),
                mode="bilinear",
                align_corners=False,
            )[0, 0]
        result = mean_logits if return_logits else torch.sigmoid(mean_logits)
        return result.cpu().numpy().astype(np.float32, copy=False)
