"""Tile grid, tile sampling, the tile Dataset and sliding-window inference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from search_spaces import ConfigError
from search_spaces._recipe import DataConfig
from trials.data._dataset import TileDataset, epoch_loader
from trials.data._sample import Sample
from trials.data._sliding import predict_full
from trials.data._tiles import Tile, TileSampler, grid_positions, pad_to_min

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _sample(
    h: int, w: int, rects: list[tuple[int, int, int, int]] = (), seed: int = 0, name: str = "s"
) -> Sample:
    """A random-texture image with rectangular lesions ``(y0, y1, x0, x1)``."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), dtype=bool)
    for y0, y1, x0, x1 in rects:
        mask[y0:y1, x0:x1] = True
    return Sample(id=name, image=image, mask=mask)


def _disc(h: int, w: int, cy: int, cx: int, r: float, seed: int = 0) -> Sample:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return Sample(id=f"disc{seed}", image=image, mask=mask)


def _normalised(image: np.ndarray) -> np.ndarray:
    """Hand computation of ImageNet normalisation, ``H x W x 3`` float64."""
    return (image.astype(np.float64) / 255.0 - np.array(MEAN)) / np.array(STD)


# ----------------------------------------------------------------------------- grid and padding


@pytest.mark.parametrize(
    ("length", "tile", "stride", "expected"),
    [
        (10, 4, 3, [0, 3, 6]),
        (10, 4, 2, [0, 2, 4, 6]),
        (4, 4, 2, [0]),
        (3, 4, 2, [0]),
        (1000, 512, 384, [0, 384, 488]),
        (1024, 512, 512, [0, 512]),
    ],
)
def test_grid_positions_hand_examples(length, tile, stride, expected):
    assert grid_positions(length, tile, stride).tolist() == expected


def test_grid_positions_cover_extent_exactly():
    rng = np.random.default_rng(1)
    for _ in range(300):
        tile = int(rng.integers(1, 40))
        stride = int(rng.integers(1, tile + 1))
        length = int(rng.integers(1, 200))
        pos = grid_positions(length, tile, stride)
        covered = np.zeros(max(length, tile), dtype=int)
        for p in pos:
            covered[p : p + tile] += 1
        assert pos[0] == 0
        assert (covered > 0).all()
        assert pos[-1] + tile == max(length, tile)
        steps = np.diff(pos)
        assert (steps[:-1] == stride).all()
        if steps.size:
            assert 1 <= steps[-1] <= stride


def test_grid_positions_rejects_stride_above_tile():
    with pytest.raises(ConfigError, match="stride"):
        grid_positions(100, 8, 9)


def test_pad_to_min_reflects_image_and_zeros_mask():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3, 1).repeat(3, axis=2)
    mask = np.ones((2, 3), dtype=bool)
    padded, pmask = pad_to_min(image, mask, 4)
    assert padded.shape == (4, 4, 3) and pmask.shape == (4, 4)
    # reflect (edge not repeated): rows 0 1 | 0 1, columns 0 1 2 | 1
    assert padded[..., 0].tolist() == [[0, 1, 2, 1], [3, 4, 5, 4], [0, 1, 2, 1], [3, 4, 5, 4]]
    assert pmask.sum() == 6 and pmask[:2, :3].all()
    same, same_mask = pad_to_min(image, mask, 2)
    assert same is image and same_mask is mask


# ---------------------------------------------------------------------------------- sampling


def test_positions_stay_inside_image_with_jitter():
    rng = np.random.default_rng(2)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(5, 90, size=2))
        tile = int(rng.integers(4, 50))
        stride = int(rng.integers(1, tile + 1))
        jitter = int(rng.integers(0, 40))
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        sample = _sample(h, w, [(y0, y0 + 3, x0, x0 + 3)])
        sampler = TileSampler([sample], tile, stride, jitter, 20, 0.5)
        for t in sampler.draw(np.random.default_rng(int(rng.integers(1 << 30)))):
            assert 0 <= t.y <= max(h, tile) - tile
            assert 0 <= t.x <= max(w, tile) - tile


@pytest.mark.parametrize("p", [0.0, 0.3, 0.8, 1.0])
def test_positive_tiles_contain_lesion_and_rate_matches(p):
    samples = [
        _sample(120, 150, [(5, 8, 140, 143)], seed=0),  # tiny lesion at the right edge
        _disc(100, 90, 50, 45, 2.0, seed=1),
        _sample(40, 30, [(38, 40, 0, 2)], seed=2),  # smaller than a tile, lesion in a corner
        _sample(80, 80, [], seed=3),  # no lesion
    ]
    # Jitter larger than the lesions so that the fallback to the un-jittered window is exercised.
    sampler = TileSampler(samples, 48, 20, 30, 25, p)
    rng = np.random.default_rng(3)
    n_lesion, n_pos = 0, 0
    for _ in range(20):
        for t in sampler.draw(rng):
            s = samples[t.sample_index]
            if t.positive:
                assert s.mask[t.y : t.y + 48, t.x : t.x + 48].any()
                n_pos += 1
            if s.mask.any():
                n_lesion += 1
            else:
                assert not t.positive
    frac = n_pos / n_lesion
    se = math.sqrt(p * (1 - p) / n_lesion)
    assert abs(frac - p) <= 4 * se


def test_positive_windows_match_brute_force():
    sample = _disc(70, 95, 20, 60, 6.0)
    tile, stride = 24, 16
    sampler = TileSampler([sample], tile, stride, 0, 400, 1.0)
    brute = {
        (int(y), int(x))
        for y in grid_positions(70, tile, stride)
        for x in grid_positions(95, tile, stride)
        if sample.mask[y : y + tile, x : x + tile].any()
    }
    assert {tuple(map(int, w)) for w in sampler.positive_windows(0)} == brute
    drawn = {(t.y, t.x) for t in sampler.draw(np.random.default_rng(0))}
    assert drawn == brute  # no jitter: positive tiles are exactly those grid windows


def test_draw_is_deterministic_given_the_seed():
    samples = [_disc(64, 80, 30, 30, 5.0, seed=i) for i in range(3)]
    sampler = TileSampler(samples, 32, 16, 8, 4, 0.6)
    a = sampler.draw(np.random.default_rng(7))
    b = sampler.draw(np.random.default_rng(7))
    c = sampler.draw(np.random.default_rng(8))
    assert a == b and a != c
    assert len(a) == 12 and [t.sample_index for t in a] == [0] * 4 + [1] * 4 + [2] * 4


def test_sampler_rejects_bad_probability():
    with pytest.raises(ConfigError, match="pos_tile_prob"):
        TileSampler([_sample(10, 10)], 8, 4, 0, 1, 1.5)


# ----------------------------------------------------------------------------------- dataset


def _cfg(**kw) -> DataConfig:
    base = dict(tile_size=16, stride=12, tile_jitter=4, image_size=16, batch_size=3)
    base.update(kw)
    return DataConfig(**base)


def test_dataset_item_without_augmentation_is_hand_normalised():
    sample = _sample(30, 40, [(3, 9, 20, 30)])
    cfg = _cfg(augment=False)
    ds = TileDataset([sample], [Tile(0, 2, 17, True)], cfg, train=True, seed=0)
    item = ds[0]
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 16, 16)
    assert item["mask"].dtype == torch.float32 and item["mask"].shape == (1, 16, 16)
    expected = _normalised(sample.image[2:18, 17:33]).transpose(2, 0, 1)
    np.testing.assert_allclose(item["image"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(item["mask"][0].numpy(), sample.mask[2:18, 17:33])


def test_dataset_resizes_and_keeps_mask_binary():
    sample = _disc(60, 60, 30, 30, 9.0)
    cfg = _cfg(tile_size=40, stride=20, image_size=24)
    ds = TileDataset([sample], [Tile(0, 10, 10, True)], cfg, train=True, seed=1)
    item = ds[0]
    assert item["image"].shape == (3, 24, 24) and item["mask"].shape == (1, 24, 24)
    assert set(np.unique(item["mask"].numpy())) == {0.0, 1.0}
    # normalised uint8 values lie within [(0 - mean)/std, (1 - mean)/std]
    lo = (0 - np.array(MEAN)) / np.array(STD)
    hi = (1 - np.array(MEAN)) / np.array(STD)
    flat = item["image"].numpy().reshape(3, -1)
    assert (flat.min(axis=1) >= lo - 1e-5).all() and (flat.max(axis=1) <= hi + 1e-5).all()


def test_augmentation_moves_mask_by_the_dihedral_group():
    mask = np.zeros((16, 16), dtype=bool)
    mask[2:12, 3:6] = True  # an L shape: its 8 flips/rotations are all distinct
    mask[9:12, 3:11] = True
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    sample = Sample("L", image, mask)
    variants = []
    for k in range(4):
        r = np.rot90(mask, k)
        variants += [r, r[:, ::-1]]
    ds = TileDataset([sample], [Tile(0, 0, 0, True)] * 64, _cfg(), train=True, seed=5)
    seen = set()
    for i in range(len(ds)):
        m = ds[i]["mask"][0].numpy().astype(bool)
        matches = [j for j, v in enumerate(variants) if np.array_equal(m, v)]
        assert len(matches) == 1
        seen.add(matches[0])
    # independent flips x rotations reach all 8 symmetries (correlated flips would give only 4)
    assert seen == set(range(8))


def test_epoch_loader_is_reproducible_per_seed_and_epoch():
    samples = [_disc(40, 50, 20, 25, 5.0, seed=i) for i in range(5)]
    cfg = _cfg(max_tiles_per_image=2)

    def batches(epoch: int, seed: int) -> list[torch.Tensor]:
        loader = epoch_loader(samples, cfg, epoch=epoch, seed=seed)
        return [torch.cat([b["image"].flatten(), b["mask"].flatten()]) for b in loader]

    loader = epoch_loader(samples, cfg, epoch=3, seed=11)
    assert len(loader.dataset) == 10 and len(loader) == 4  # 10 tiles, batches of 3, last kept
    first, again = loader.dataset[4], loader.dataset[4]
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["mask"], again["mask"])
    a, b, c = batches(3, 11), batches(3, 11), batches(4, 11)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


# ------------------------------------------------------------------------------ sliding window


def _channel0(batch: torch.Tensor) -> torch.Tensor:
    return batch[:, :1].clone()


@pytest.mark.parametrize(("h", "w"), [(37, 53), (11, 29), (9, 7), (16, 16)])
def test_sliding_identity_model_reassembles_the_input(h, w):
    image = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    cfg = _cfg(tile_size=16, stride=10, image_size=16, eval_batch_size=3)
    logits = predict_full(_channel0, image, cfg, "cpu", return_logits=True)
    assert logits.shape == (h, w) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, _normalised(image)[..., 0], atol=1e-5)
    probs = predict_full(_channel0, image, cfg, "cpu")
    np.testing.assert_allclose(probs, 1 / (1 + np.exp(-_normalised(image)[..., 0])), atol=1e-6)


def test_sliding_constant_image_with_resizing_returns_the_constant():
    image = np.full((45, 70, 3), 200, dtype=np.uint8)
    cfg = _cfg(tile_size=32, stride=20, image_size=20, eval_batch_size=4)
    probs = predict_full(_channel0, image, cfg, "cpu")
    expected = 1 / (1 + math.exp(-((200 / 255 - MEAN[0]) / STD[0])))
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    up = predict_full(_channel0, image, cfg, "cpu", out_size=(90, 141))
    assert up.shape == (90, 141) and up.dtype == np.float32
    np.testing.assert_allclose(up, expected, atol=1e-5)


def test_sliding_out_size_resizes_logits_bilinearly():
    # A horizontal ramp of logits stays a ramp: bilinear upsampling of the averaged logits.
    ramp = np.tile(np.linspace(0, 255, 24).round().astype(np.uint8), (12, 1))
    image = np.stack([ramp] * 3, axis=-1)
    cfg = _cfg(tile_size=16, stride=8, image_size=16)
    big = predict_full(_channel0, image, cfg, "cpu", out_size=(24, 48), return_logits=True)
    reference = torch.from_numpy(_normalised(image)[..., 0].astype(np.float32))
    expected = torch.nn.functional.interpolate(
        reference[None, None], size=(24, 48), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(big, expected, atol=1e-6)
    assert np.all(np.diff(big[0]) >= -1e-6)  # monotone along x, like the ramp
