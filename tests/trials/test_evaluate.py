"""``trials.evaluate``: overlays coloured by agreement, the order they are drawn in, checkpoints
and options refused in one line, the per-image collector."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from search_spaces import ConfigError
from trials.evaluate import (
    OVERLAY_COLOURS,
    PixelStats,
    check_options,
    checkpoint_path,
    confusion_overlay,
    load_evaluated_model,
    overlay_order,
    write_overlay,
)
from trials.metrics import size_strata


def _tinted(base: int, colour: tuple[int, int, int]) -> list[int]:
    return [round(0.45 * base + 0.55 * c) for c in colour]


def test_overlay_colours_true_and_false_positives_and_false_negatives_apart(tmp_path):
    from trials.data import Sample

    image = np.full((40, 60, 3), 100, dtype=np.uint8)
    target = np.zeros((40, 60), dtype=bool)
    pred = np.zeros_like(target)
    target[:, :30] = True  # lesion on the left half
    pred[:20, :] = True  # predicted on the top half
    got = confusion_overlay(image, target, pred)
    assert got.dtype == np.uint8 and got.shape == image.shape
    expected = {
        (5, 5): _tinted(100, OVERLAY_COLOURS["tp"]),  # top left: lesion found
        (5, 50): _tinted(100, OVERLAY_COLOURS["fp"]),  # top right: predicted, not lesion
        (30, 5): _tinted(100, OVERLAY_COLOURS["fn"]),  # bottom left: lesion missed
        (30, 50): [100, 100, 100],  # bottom right: true negative, the image itself
    }
    for (y, x), colour in expected.items():
        assert got[y, x].tolist() == colour, (y, x)
    assert np.all(got[:20, :30] == got[5, 5]) and np.all(got[20:, 30:] == 100)
    assert len({tuple(c) for c in OVERLAY_COLOURS.values()}) == 3
    with pytest.raises(ValueError, match="must be H x W x 3"):
        confusion_overlay(image, target[:10], pred)

    # The written panel shows those colours (drawn with nearest-neighbour interpolation).
    png = tmp_path / "overlay.png"
    write_overlay(png, Sample(id="s", image=image, mask=target), pred, "A")
    pixels = {tuple(p) for p in np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)}
    for kind in ("tp", "fp", "fn"):
        assert tuple(_tinted(100, OVERLAY_COLOURS[kind])) in pixels, kind


def test_overlays_are_the_worst_images_or_the_largest_differences():
    values = np.array([0.5, 0.1, np.nan, 0.3])
    assert overlay_order(values, None, 2) == [1, 3]  # the worst first, NaN last
    assert overlay_order(values, None, 9) == [1, 3, 0, 2]
    other = np.array([0.5, 0.2, 0.4, 0.9])
    assert overlay_order(values, other, 2) == [3, 1]  # |0.3 - 0.9| before |0.1 - 0.2|


def test_a_missing_or_foreign_checkpoint_is_one_line_naming_the_parameter(tmp_path):
    with pytest.raises(ConfigError, match="no such checkpoint file") as info:
        checkpoint_path(tmp_path, "compare")  # a folder without best.pt
    assert info.value.param == "compare"
    tensor = tmp_path / "t.pt"
    torch.save(torch.zeros(3, 4), tensor)
    with pytest.raises(ConfigError, match=r"it holds a tensor of shape \(3, 4\)") as info:
        load_evaluated_model(tensor, "checkpoint", torch.device("cpu"))
    assert info.value.param == "checkpoint"
    assert str(info.value).startswith(f"checkpoint {str(tensor)!r} is not a checkpoint: ")


def test_options_name_their_parameter():
    strata, fraction = check_options("16,256", 0.3, 15)
    assert [s.name for s in strata] == ["small", "medium", "large"] and fraction == 0.3
    for kwargs, param in (
        ({"size_thresholds": "1024,64"}, "size_thresholds"),
        ({"detect_fraction": 0.0}, "detect_fraction"),
    ):
        args = {"size_thresholds": None, "detect_fraction": 0.5, **kwargs}
        with pytest.raises(ConfigError) as info:
            check_options(args["size_thresholds"], args["detect_fraction"], 15)
        assert info.value.param == param


def test_pixel_stats_keep_a_seeded_subsample_and_per_image_rows():
    target = np.zeros((20, 30), dtype=bool)
    target[5:10, 5:10] = True
    prob = np.where(target, 0.9, 0.1).astype(np.float32)
    logits = np.log(prob) - np.log1p(-prob)
    stats = PixelStats(size_strata(), 0.5, 15, temperature=2.0, keep_pixels=100, seed=3)
    for i in range(2):
        stats(SimpleNamespace(id=f"img{i}", target_mask=target), logits, prob)
    z, y = stats.kept_pixels()
    assert z.shape == y.shape == (200,) and z.dtype == np.float32 and y.dtype == bool
    again = PixelStats(size_strata(), 0.5, 15, keep_pixels=100, seed=3)
    again(SimpleNamespace(id="img0", target_mask=target), logits, prob)
    np.testing.assert_array_equal(again.kept_pixels()[0], z[:100])  # the same draw
    rows = stats.per_image(["img0", "img1"], lambda s, f: f"lesions.{s}.{f}")
    assert rows[0]["lesions.medium.n"] == 0 and rows[0]["lesions.small.detected"] == 1
    assert {"ece", "brier", "ece_calibrated", "brier_calibrated"} <= set(rows[1])
    with pytest.raises(RuntimeError, match="out of step"):
        stats.per_image(["img1", "img0"], lambda s, f: f"{s}.{f}")
