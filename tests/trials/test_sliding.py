"""Sliding-window inference: overlapping windows blend with Gaussian weights, seamlessly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from search_spaces._recipe import DataConfig
from trials.data._sliding import gaussian_weights, predict_full
from trials.data._tiles import grid_positions

STD = (0.229, 0.224, 0.225)


def _cfg(**kw) -> DataConfig:
    base = dict(tile_size=16, stride=10, tile_jitter=0, image_size=16, eval_batch_size=3)
    base.update(kw)
    return DataConfig(**base)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _hand_weights(tile: int) -> np.ndarray:
    """The documented map, computed here again: Gaussian, sigma = tile / 8, floor 1e-3 per axis."""
    i = np.arange(tile, dtype=np.float64)
    g = np.exp(-((i - (tile - 1) / 2) ** 2) / (2 * (tile / 8) ** 2))
    h = np.maximum(g / g.max(), 1e-3)
    return np.outer(h, h)


@pytest.mark.parametrize(
    ("h", "w", "tile", "stride", "size"),
    [
        (45, 70, 32, 20, 32),  # windows overlap, the last one flush with the edge (y 13, x 38)
        (45, 70, 32, 20, 20),  # the same with the windows resized for the model
        (100, 61, 32, 24, 16),
        (9, 7, 16, 10, 16),  # smaller than a tile: one padded window
    ],
)
def test_constant_model_gives_a_seamless_constant_map(h, w, tile, stride, size):
    value = 1.7

    def constant(batch: torch.Tensor) -> torch.Tensor:
        return torch.full((batch.shape[0], 1, size, size), value)

    cfg = _cfg(tile_size=tile, stride=stride, image_size=size)
    logits = predict_full(constant, _image(h, w), cfg, "cpu", return_logits=True)
    assert logits.shape == (h, w) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, value, rtol=0, atol=1e-5)
    probs = predict_full(constant, _image(h, w), cfg, "cpu", out_size=(2 * h + 1, 3 * w))
    assert probs.shape == (2 * h + 1, 3 * w)
    np.testing.assert_allclose(probs, 1 / (1 + math.exp(-value)), rtol=0, atol=1e-6)


def test_the_constant_cases_do_overlap_and_end_flush():
    ys, xs = grid_positions(45, 32, 20), grid_positions(70, 32, 20)
    assert ys.tolist() == [0, 13] and xs.tolist() == [0, 20, 38]


def test_weight_map_is_centre_heavy_symmetric_and_positive():
    for tile in (1, 7, 16, 64):
        w = gaussian_weights(tile)
        assert w.shape == (tile, tile) and w.dtype == np.float32
        np.testing.assert_allclose(w, _hand_weights(tile), rtol=1e-6)
        np.testing.assert_array_equal(w, w.T)
        np.testing.assert_array_equal(w, w[::-1, ::-1])
        assert w.min() > 0 and w.max() == pytest.approx(1.0)
    w = gaussian_weights(64)
    assert w[31, 31] > w[31, 16] > w[31, 0] and w[31, 0] == pytest.approx(1e-3)
    assert w[0, 0] == pytest.approx(1e-6)
    with pytest.raises(ValueError, match="positive integer"):
        gaussian_weights(0)


def test_two_overlapping_windows_are_blended_with_the_gaussian_weights():
    # Windows at x = 0 and x = 10 (tile 16): window 0 predicts a, window 1 predicts b.
    a, b, tile, start = -2.0, 3.0, 16, 10

    def per_window(batch: torch.Tensor) -> torch.Tensor:
        assert batch.shape[0] == 2
        return torch.tensor([a, b]).view(2, 1, 1, 1).expand(2, 1, tile, tile).clone()

    cfg = _cfg(tile_size=tile, stride=start, image_size=tile, eval_batch_size=2)
    got = predict_full(per_window, _image(tile, tile + start), cfg, "cpu", return_logits=True)

    wa = np.zeros((tile, tile + start))
    wb = np.zeros_like(wa)
    wa[:, :tile] = _hand_weights(tile)
    wb[:, start:] = _hand_weights(tile)
    expected = (a * wa + b * wb) / (wa + wb)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got[:, :start], a, atol=1e-6)  # covered by window 0 only
    np.testing.assert_allclose(got[:, tile:], b, atol=1e-6)
    # Not a plain average: near window 0's edge, window 1 (whose centre is closer) dominates.
    row = got[tile // 2]
    assert row[start] < (a + b) / 2 < row[tile - 1]
    assert np.all(np.diff(row) >= -1e-6)  # and the blend goes from a to b monotonically


@pytest.mark.parametrize("size", [32, 16])
def test_a_smooth_ramp_has_no_step_at_window_borders(size):
    # Channel 0 encodes x and channel 1 encodes y, so the model "predicts" a plane in the image's
    # own coordinates: every window agrees except where resizing distorts a window's border
    # (bilinear upsampling clamps the outer pixels), as a real network's borders are worse.
    h, w = 70, 100
    yy, xx = np.mgrid[:h, :w]
    image = np.stack([2 * xx, 2 * yy, np.zeros_like(xx)], axis=-1).astype(np.uint8)
    slope_x, slope_y = 2 / (255 * STD[0]), 2 / (255 * STD[1])

    def plane(batch: torch.Tensor) -> torch.Tensor:
        return batch[:, :1] + batch[:, 1:2]

    cfg = _cfg(tile_size=32, stride=20, image_size=size)
    got = predict_full(plane, image, cfg, "cpu", return_logits=True).astype(np.float64)
    step_x = np.abs(np.diff(got, axis=1)).max() / slope_x
    step_y = np.abs(np.diff(got, axis=0)).max() / slope_y
    assert step_x < 1.05 and step_y < 1.05, (step_x, step_y)
    exact = xx * slope_x + yy * slope_y
    exact = exact - exact.mean() + got[h // 2, w // 2] - (exact - exact.mean())[h // 2, w // 2]
    inner = (slice(3, h - 3), slice(3, w - 3))  # the image's own border is clamped by every window
    assert np.abs(got - exact)[inner].max() < 0.05 * slope_x
