"""Tile positions and the per-epoch drawing of training tiles (pure numpy).

Training sees fixed-size square tiles cut from full images rather than whole images, so that large
photographs fit in memory at full resolution and lesions, often a few percent of the leaf, are
over-sampled: a tile is drawn as "positive" (containing lesion) with probability
``data.pos_tile_prob``. Inference (:mod:`trials.data._sliding`) uses the same grid of windows.

Coordinates are the top-left corner ``(y, x)`` of a ``tile x tile`` window. An image smaller than
the tile along a side is padded at the bottom / right (:func:`pad_to_min`), so a coordinate means
the same pixel in the original and the padded image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from search_spaces import ConfigError, DataError
from trials.data._sample import Sample

__all__ = ["Tile", "TileSampler", "grid_positions", "pad_to_min"]


class Tile(NamedTuple):
    """One training tile of one epoch.

    Attributes:
        sample_index: index of the image in the sampler's ``samples``.
        y: top row of the window in the (padded) image.
        x: left column of the window in the (padded) image.
        positive: ``True`` when the tile was drawn as a positive tile; such a tile always contains
            lesion. ``False`` means a random window, which may or may not contain lesion.
    """

    sample_index: int
    y: int
    x: int
    positive: bool


def grid_positions(length: int, tile: int, stride: int) -> np.ndarray:
    """Window starts ``0, stride, 2*stride, ...`` along one axis, the last one flush with the end.

    The windows ``[p, p + tile)`` cover ``[0, length)`` exactly: every gap between consecutive
    starts is at most ``stride <= tile`` and the last window ends at ``length``. When
    ``length <= tile`` there is a single position 0 (the caller pads the image to ``tile``).

    Args:
        length: extent of the axis in pixels (``>= 1``).
        tile: window side in pixels (``>= 1``).
        stride: step between window starts (``1 <= stride <= tile``).

    Returns:
        Sorted, distinct ``int64`` starts.

    Raises:
        ConfigError: for a non-positive argument or ``stride > tile`` (pixels left uncovered).
    """
    for name, value in (("length", length), ("tile", tile), ("stride", stride)):
        if int(value) != value or value < 1:
            raise ConfigError(f"grid_positions: {name} must be a positive integer, got {value!r}")
    if stride > tile:
        raise ConfigError(
            f"grid_positions: stride ({stride}) must not exceed tile ({tile}), "
            "otherwise windows leave pixels uncovered (data.stride, data.tile_size)"
        )
    if length <= tile:
        return np.zeros(1, dtype=np.int64)
    last = length - tile
    starts = np.arange(0, last, stride, dtype=np.int64)
    return np.append(starts, np.int64(last))


def pad_to_min(
    image: np.ndarray, mask: np.ndarray | None, tile: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Pad an image (and mask) at the bottom / right so both sides are at least ``tile``.

    The image is padded by reflection (``numpy.pad(mode="reflect")``, without repeating the edge
    pixel) so the model sees plausible leaf texture instead of a black border; the mask is padded
    with ``False`` (no lesion), so padding never creates lesion. Arrays already large enough are
    returned unchanged (no copy).

    Args:
        image: ``H x W x C`` (or ``H x W``) array.
        mask: ``H x W`` mask or ``None``.
        tile: minimum side in pixels.

    Returns:
        ``(image, mask)`` padded to ``max(H, tile) x max(W, tile)``; a ``None`` mask stays ``None``.

    Raises:
        DataError: when the mask's size differs from the image's.
    """
    height, width = image.shape[:2]
    if mask is not None and mask.shape[:2] != (height, width):
        raise DataError(
            f"pad_to_min: mask shape {mask.shape[:2]} differs from image shape {(height, width)}"
        )
    pad_y, pad_x = max(0, tile - height), max(0, tile - width)
    if pad_y == 0 and pad_x == 0:
        return image, mask
    spatial = ((0, pad_y), (0, pad_x))
    image = np.pad(image, spatial + ((0, 0),) * (image.ndim - 2), mode="reflect")
    if mask is not None:
        mask = np.pad(mask, spatial, mode="constant", constant_values=0)
    return image, mask


def _window_sums(mask: np.ndarray, ys: np.ndarray, xs: np.ndarray, tile: int) -> np.ndarray:
    """Lesion pixel count of every grid window, from a summed-area table.

    Crow, F. C. (1984). Summed-area tables for texture mapping. SIGGRAPH '84. The table has a
    leading zero row and column, so a window sum is four look-ups; windows reaching into the padding
    are clipped to the mask, which is right because the padding holds no lesion.
    """
    height, width = mask.shape
    table = np.zeros((height + 1, width + 1), dtype=np.int64)
    np.cumsum(np.cumsum(mask, axis=0, dtype=np.int64), axis=1, out=table[1:, 1:])
    y0 = np.minimum(ys, height)[:, None]
    y1 = np.minimum(ys + tile, height)[:, None]
    x0 = np.minimum(xs, width)[None, :]
    x1 = np.minimum(xs + tile, width)[None, :]
    return table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]


class _ImageTiling:
    """What the sampler keeps per image: its padded size, grid and the lesion-bearing windows."""

    __slots__ = ("height", "mask", "pos_x", "pos_y", "width", "xs", "ys")

    def __init__(self, mask: np.ndarray, tile: int, stride: int) -> None:
        self.mask = mask
        self.height = max(mask.shape[0], tile)
        self.width = max(mask.shape[1], tile)
        self.ys = grid_positions(self.height, tile, stride)
        self.xs = grid_positions(self.width, tile, stride)
        iy, ix = np.nonzero(_window_sums(mask, self.ys, self.xs, tile) > 0)
        self.pos_y = self.ys[iy]
        self.pos_x = self.xs[ix]


class TileSampler:
    """Draws one epoch of training tiles with a controlled share of lesion-bearing tiles.

    For every image, ``max_tiles_per_image`` tiles are drawn. Each is, with probability
    ``pos_tile_prob``, a positive tile: a grid window that contains lesion (found once, at
    construction, with a summed-area table), shifted by uniform integers in
    ``[-tile_jitter, tile_jitter]`` along each axis and clipped to the padded image; if the shift
    moved every lesion pixel out, the un-shifted window is used, so a positive tile always contains
    lesion. Otherwise (and always for an image without lesion) it is a uniformly chosen grid window
    with the same jitter and clipping. Every window lies fully inside the padded image
    (:func:`pad_to_min`). The draw is a pure function of the generator's state.

    Args:
        samples: the training images.
        tile_size: window side in pixels (``data.tile_size``).
        stride: grid step in pixels (``data.stride``, at most ``tile_size``).
        tile_jitter: maximum shift in pixels (``data.tile_jitter``, ``>= 0``).
        max_tiles_per_image: tiles per image per epoch (``data.max_tiles_per_image``, ``>= 1``).
        pos_tile_prob: probability of a positive tile (``data.pos_tile_prob``, in ``[0, 1]``).

    Raises:
        ConfigError: for an argument out of range.
        DataError: for a sample whose mask is not ``H x W`` with the image's size.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        tile_size: int,
        stride: int,
        tile_jitter: int,
        max_tiles_per_image: int,
        pos_tile_prob: float,
    ) -> None:
        if tile_size < 1:
            raise ConfigError(f"data.tile_size must be >= 1, got {tile_size}")
        if not 1 <= stride <= tile_size:
            raise ConfigError(
                f"data.stride must be in [1, data.tile_size={tile_size}], got {stride}"
            )
        if tile_jitter < 0:
            raise ConfigError(f"data.tile_jitter must be >= 0, got {tile_jitter}")
        if max_tiles_per_image < 1:
            raise ConfigError(f"data.max_tiles_per_image must be >= 1, got {max_tiles_per_image}")
        if not 0.0 <= pos_tile_prob <= 1.0:
            raise ConfigError(f"data.pos_tile_prob must be in [0, 1], got {pos_tile_prob}")
        self.tile_size = int(tile_size)
        self.stride = int(stride)
        self.tile_jitter = int(tile_jitter)
        self.max_tiles_per_image = int(max_tiles_per_image)
        self.pos_tile_prob = float(pos_tile_prob)
        self._images: list[_ImageTiling] = []
        for sample in samples:
            mask = np.asarray(sample.mask)
            if mask.ndim != 2 or mask.shape != sample.image.shape[:2]:
                raise DataError(
                    f"sample {sample.id!r}: mask must be H x W like the image "
                    f"{sample.image.shape[:2]}, got shape {mask.shape}"
                )
            self._images.append(_ImageTiling(mask.astype(bool, copy=False), tile_size, stride))

    def __len__(self) -> int:
        """Number of tiles one epoch draws."""
        return len(self._images) * self.max_tiles_per_image

    def positive_windows(self, sample_index: int) -> np.ndarray:
        """The un-jittered grid windows of one image that contain lesion, as ``(n, 2)`` (y, x)."""
        image = self._images[sample_index]
        return np.stack([image.pos_y, image.pos_x], axis=1)

    def draw(self, rng: np.random.Generator) -> list[Tile]:
        """Draw one epoch of tiles, image by image.

        Args:
            rng: the generator; the same state gives the same tiles.

        Returns:
            ``len(self)`` tiles, ``max_tiles_per_image`` consecutive ones per image, in image order.
        """
        tile, jitter = self.tile_size, self.tile_jitter
        tiles: list[Tile] = []
        for index, image in enumerate(self._images):
            max_y, max_x = image.height - tile, image.width - tile
            n_pos = image.pos_y.size
            for _ in range(self.max_tiles_per_image):
                # One uniform per tile whatever the image, so the stream's layout is stable.
                positive = rng.random() < self.pos_tile_prob and n_pos > 0
                if positive:
                    k = int(rng.integers(n_pos))
                    base_y, base_x = int(image.pos_y[k]), int(image.pos_x[k])
                else:
                    base_y = int(image.ys[rng.integers(image.ys.size)])
                    base_x = int(image.xs[rng.integers(image.xs.size)])
                dy, dx = rng.integers(-jitter, jitter + 1, size=2)
                y = min(max(base_y + int(dy), 0), max_y)
                x = min(max(base_x + int(dx), 0), max_x)
                # Slicing the unpadded mask is enough: the padding never holds lesion.
                if positive and not image.mask[y : y + tile, x : x + tile].any():
                    y, x = base_y, base_x
                tiles.append(Tile(index, y, x, bool(positive)))
        return tiles
