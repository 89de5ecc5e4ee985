"""The torch ``Dataset`` of training tiles and the per-epoch ``DataLoader``.

A tile is cropped from its (padded) image, resized to ``data.image_size``, augmented when training
(albumentations: flips, 90-degree rotations and light colour jitter; the geometric ones move image
and mask together), normalised with ``data.mean`` / ``data.std`` and made a tensor.

Reproducibility: each item draws its augmentation from a random stream seeded by
``(dataset seed, item index)`` alone, so an item is the same whatever the order in which items are
read, the shuffling or the number of DataLoader workers. The stream is installed with
``Compose.set_random_state`` (one stream shared by all transforms) rather than
``Compose.set_random_seed``: the latter (albumentations 2.0.8) gives every transform its own
generator with the *same* seed, so for example ``HorizontalFlip`` and ``VerticalFlip`` would always
fire together.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2
from torch.utils.data import DataLoader, Dataset

from search_spaces import DataError
from search_spaces._recipe import DataConfig
from trials.data._sample import Sample
from trials.data._tiles import Tile, TileSampler, pad_to_min

__all__ = ["TileDataset", "build_transform", "epoch_loader"]

_SEED_MOD = 2**64


def build_transform(data_cfg: DataConfig, train: bool, seed: int | None = None) -> A.Compose:
    """The per-tile pipeline: resize, augmentation (training only), normalisation, tensor.

    Resizing to ``data.image_size`` uses area interpolation when shrinking and bilinear when
    enlarging for the image, nearest neighbour for the mask (which stays binary). The same
    pipeline with ``train=False`` prepares the windows of sliding-window inference.

    Args:
        data_cfg: the ``data`` section of the recipe.
        train: add the augmentations (when ``data.augment`` is also true).
        seed: seed of the Compose's own random stream (``None``: unseeded).

    Returns:
        An ``albumentations.Compose`` taking ``image`` (``S x S x 3`` uint8) and ``mask``
        (``S x S`` uint8) and returning a float32 ``3 x S x S`` image tensor and an ``S x S`` mask
        tensor.
    """
    size = data_cfg.image_size
    steps: list = [
        A.Resize(
            size,
            size,
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=cv2.INTER_NEAREST,
            area_for_downscale="image",
        )
    ]
    if train and data_cfg.augment:
        steps += [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.RandomRotate90(p=1.0),
            A.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.02, p=0.5),
        ]
    steps += [
        A.Normalize(mean=data_cfg.mean, std=data_cfg.std, max_pixel_value=255.0),
        ToTensorV2(),
    ]
    return A.Compose(steps, seed=None if seed is None else seed % _SEED_MOD)


class TileDataset(Dataset):
    """Training (or validation) tiles as tensors.

    Args:
        samples: the images the tiles refer to.
        tiles: the tiles, e.g. from :meth:`TileSampler.draw`.
        data_cfg: the ``data`` section of the recipe (tile size, image size, mean/std, augment).
        train: augment (when ``data.augment``) or not.
        seed: seed of the augmentation; with the item index it fixes each item's augmentation.

    Raises:
        DataError: when a tile names a sample that does not exist.

    Each item is ``{"image": float32 (3, S, S), "mask": float32 (1, S, S) in {0, 1}}`` with
    ``S = data.image_size``.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        tiles: Sequence[Tile],
        data_cfg: DataConfig,
        train: bool,
        seed: int,
    ) -> None:
        self.samples = samples
        self.tiles = list(tiles)
        self.data_cfg = data_cfg
        self.train = bool(train)
        self.seed = int(seed) % _SEED_MOD
        bad = [t.sample_index for t in self.tiles if not 0 <= t.sample_index < len(samples)]
        if bad:
            raise DataError(
                f"TileDataset: tile sample_index must be in [0, {len(samples)}), got {bad[:5]}"
            )
        self._transform = build_transform(data_cfg, self.train, self.seed)

    def __len__(self) -> int:
        """Number of tiles."""
        return len(self.tiles)

    def crop(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The raw ``tile x tile`` image (uint8) and mask (bool) of one item, untransformed."""
        tile = self.tiles[index]
        sample = self.samples[tile.sample_index]
        size = self.data_cfg.tile_size
        image, mask = pad_to_min(sample.image, sample.mask, size)
        if not (0 <= tile.y <= image.shape[0] - size and 0 <= tile.x <= image.shape[1] - size):
            raise DataError(
                f"sample {sample.id!r}: tile at (y={tile.y}, x={tile.x}) of side {size} is not "
                f"inside the (padded) image of size {image.shape[:2]}"
            )
        window = (slice(tile.y, tile.y + size), slice(tile.x, tile.x + size))
        return image[window], mask[window]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """The tensors of one tile (see the class docstring)."""
        image, mask = self.crop(index)
        # Seeded by (dataset seed, index) only: independent of read order and worker count.
        rng = np.random.default_rng([self.seed, int(index)])
        py_random = random.Random(int(rng.integers(2**63)))
        self._transform.set_random_state(rng, py_random)
        out = self._transform(
            image=np.ascontiguousarray(image), mask=np.ascontiguousarray(mask, dtype=np.uint8)
        )
        return {
            "image": out["image"].float().contiguous(),
            "mask": out["mask"].to(torch.float32).unsqueeze(0).contiguous(),
        }


def epoch_loader(
    samples: Sequence[Sample],
    data_cfg: DataConfig,
    epoch: int,
    seed: int,
    train: bool = True,
    sampler: TileSampler | None = None,
) -> DataLoader:
    """The DataLoader of one epoch: that epoch's tiles, augmented and shuffled reproducibly.

    Tiles are drawn with ``numpy.random.default_rng([seed, epoch])``; augmentations are seeded
    from ``(seed, epoch)`` and the item index; the shuffle uses a ``torch.Generator`` seeded from
    ``(seed, epoch)``. The same ``(seed, epoch)`` therefore gives the same batches.

    Args:
        samples: the images.
        data_cfg: the ``data`` section of the recipe.
        epoch: the epoch number (``>= 0``).
        seed: the trial's seed (``>= 0``).
        train: augment and shuffle; ``False`` gives un-augmented tiles in drawing order.
        sampler: a :class:`TileSampler` already built on ``samples`` with ``data_cfg``'s tiling
            settings, to skip recomputing the lesion windows every epoch.

    Returns:
        A ``DataLoader`` with ``batch_size=data.batch_size``, ``num_workers=data.num_workers`` and
        ``drop_last=False``.
    """
    if sampler is None:
        sampler = TileSampler(
            samples,
            tile_size=data_cfg.tile_size,
            stride=data_cfg.stride,
            tile_jitter=data_cfg.tile_jitter,
            max_tiles_per_image=data_cfg.max_tiles_per_image,
            pos_tile_prob=data_cfg.pos_tile_prob,
        )
    entropy = [int(seed) % _SEED_MOD, int(epoch) % _SEED_MOD]
    tiles = sampler.draw(np.random.default_rng(entropy))
    # Distinct streams for augmentation and shuffling, both fixed by (seed, epoch).
    aug_seed, shuffle_seed = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint64)
    dataset = TileDataset(samples, tiles, data_cfg, train=train, seed=int(aug_seed))
    generator = torch.Generator()
    generator.manual_seed(int(shuffle_seed) % 2**63)
    return DataLoader(
        dataset,
        batch_size=data_cfg.batch_size,
        shuffle=train,
        generator=generator,
        num_workers=data_cfg.num_workers,
        drop_last=False,
    )
