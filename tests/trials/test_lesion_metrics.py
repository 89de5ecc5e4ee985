"""Lesion-size metrics on synthetic masks whose lesions have known sizes: exact answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis import lesion_column, summarize_lesion_sizes
from search_spaces import ConfigError, DataError
from trials.metrics import (
    CONNECTIVITY,
    DEFAULT_SIZE_THRESHOLDS,
    LESION_FIELDS,
    lesion_counts,
    lesion_rates,
    size_strata,
)


def _box(mask: np.ndarray, y: int, x: int, h: int, w: int) -> None:
    mask[y : y + h, x : x + w] = True


@pytest.fixture
def scene() -> tuple[np.ndarray, np.ndarray]:
    """Five lesions of known area and three false-positive components, on 200 x 300 pixels.

    Lesions (default strata 64 / 1024 px): 3x3 = 9 px and 5x5 = 25 px (small), 10x10 = 100 px
    and 20x20 = 400 px (medium), 40x40 = 1600 px (large). The prediction covers all of the
    3x3 one, none of the 5x5 one, 60% of the 10x10 one (6 of its 10 rows), 40% of the 20x20 one
    (8 of its 20 rows) and all of the 40x40 one plus a 5-px-wide strip beyond it (touching, so
    not a false positive). False positives away from every lesion: 2x2 = 4 px (small),
    10x10 = 100 px (medium), 30x50 = 1500 px (large).
    """
    target = np.zeros((200, 300), dtype=bool)
    pred = np.zeros_like(target)
    _box(target, 5, 5, 3, 3)
    _box(pred, 5, 5, 3, 3)
    _box(target, 5, 20, 5, 5)
    _box(target, 5, 40, 10, 10)
    _box(pred, 5, 40, 6, 10)
    _box(target, 5, 70, 20, 20)
    _box(pred, 5, 70, 8, 20)
    _box(target, 50, 5, 40, 40)
    _box(pred, 50, 5, 40, 45)
    _box(pred, 150, 5, 2, 2)
    _box(pred, 150, 30, 10, 10)
    _box(pred, 120, 200, 30, 50)
    return pred, target


EXPECTED = {
    "small": {"n": 2, "detected": 1, "pixels": 34, "covered": 9, "fp": 1},
    "medium": {"n": 2, "detected": 1, "pixels": 500, "covered": 60 + 160, "fp": 1},
    "large": {"n": 1, "detected": 1, "pixels": 1600, "covered": 1600, "fp": 1},
}


def test_known_sizes_give_the_exact_counts_per_stratum(scene):
    pred, target = scene
    assert lesion_counts(pred, target) == EXPECTED
    assert DEFAULT_SIZE_THRESHOLDS == (64, 1024) and CONNECTIVITY == 8


def test_detection_needs_the_stated_fraction_of_the_lesion(scene):
    pred, target = scene
    # 60% covered counts at 0.5 and 0.6 (>=), not at 0.61; 40% never above 0.4
    assert lesion_counts(pred, target, detect_fraction=0.6)["medium"]["detected"] == 1
    assert lesion_counts(pred, target, detect_fraction=0.61)["medium"]["detected"] == 0
    assert lesion_counts(pred, target, detect_fraction=0.4)["medium"]["detected"] == 2
    # exactly at the fraction, where fraction * area rounds up (0.28 * 25 = 7.000000000000001)
    odd = np.zeros((10, 10), dtype=bool)
    _box(odd, 0, 0, 5, 5)
    covered = np.zeros_like(odd)
    covered[0, :5] = covered[1, :2] = True  # 7 of 25 pixels
    assert lesion_counts(covered, odd, detect_fraction=0.28)["small"]["detected"] == 1
    everything = lesion_counts(pred, target, detect_fraction=1.0)
    assert [everything[s]["detected"] for s in EXPECTED] == [1, 0, 1]


def test_stratum_edges_lower_inclusive_upper_exclusive():
    target = np.zeros((100, 200), dtype=bool)
    _box(target, 0, 0, 7, 9)  # 63 px: small
    _box(target, 20, 0, 8, 8)  # 64 px: medium
    _box(target, 40, 0, 31, 33)  # 1023 px: medium
    _box(target, 0, 100, 32, 32)  # 1024 px: large
    counts = lesion_counts(np.zeros_like(target), target)
    assert {k: v["n"] for k, v in counts.items()} == {"small": 1, "medium": 2, "large": 1}
    assert {k: v["pixels"] for k, v in counts.items()} == {
        "small": 63,
        "medium": 64 + 1023,
        "large": 1024,
    }
    # settable thresholds: one threshold, two strata
    two = lesion_counts(np.zeros_like(target), target, size_strata([100]))
    assert {k: v["n"] for k, v in two.items()} == {"small": 2, "large": 2}


def test_components_are_8_connected_in_truth_and_prediction():
    target = np.zeros((10, 10), dtype=bool)
    target[2, 2] = target[3, 3] = True  # touching at a corner: one lesion of 2 px
    pred = np.zeros_like(target)
    pred[6, 6] = pred[7, 7] = True  # one false-positive component, not two
    pred[2, 2] = True  # half of the lesion
    counts = lesion_counts(pred, target, size_strata([64]))
    assert counts["small"] == {"n": 1, "detected": 1, "pixels": 2, "covered": 1, "fp": 1}


def test_empty_masks_give_zero_counts():
    empty = np.zeros((16, 16), dtype=bool)
    counts = lesion_counts(empty, empty)
    assert all(v == dict.fromkeys(LESION_FIELDS, 0) for v in counts.values())
    assert all(
        math.isnan(r) for k, r in lesion_rates(counts["small"], 1).items() if k != "fp_per_image"
    )


def test_pooled_rates_and_their_bootstrap_intervals(scene):
    pred, target = scene
    blank = np.zeros_like(target)
    rows = []
    for i, (p, t) in enumerate([(pred, target), (blank, target), (pred, blank), (pred, target)]):
        row = {"image_id": f"im{i}"}
        for name, fields in lesion_counts(p, t).items():
            row.update({lesion_column(name, f): v for f, v in fields.items()})
        rows.append(row)
    table = pd.DataFrame(rows)
    out = summarize_lesion_sizes(table, ["small", "medium", "large"], n_resamples=200)
    medium = out["medium"]
    # images 0 and 3 as the scene; image 1 misses everything; image 2 has no lesion, so each
    # predicted component is a false positive (medium: the 8x20 and the 10x10 ones)
    assert medium["counts"] == {"n": 6, "detected": 2, "pixels": 1500, "covered": 440, "fp": 4}
    assert medium["n_images"] == 4 and medium["n_images_with_lesions"] == 3
    assert medium["detection_recall"]["value"] == pytest.approx(2 / 6)
    assert medium["pixel_recall"]["value"] == pytest.approx(440 / 1500)
    assert medium["fp_per_image"]["value"] == pytest.approx(4 / 4)
    assert medium["detection_recall"]["mean_per_image"] == pytest.approx((0.5 + 0 + 0.5) / 3)
    summed = {f: EXPECTED["medium"][f] * 2 for f in LESION_FIELDS}
    assert lesion_rates(summed, 2) == {
        "detection_recall": pytest.approx(2 / 4),
        "pixel_recall": pytest.approx(440 / 1000),
        "fp_per_image": 1.0,
    }
    for stratum in out.values():
        for rate in ("detection_recall", "pixel_recall", "fp_per_image"):
            r = stratum[rate]
            assert r["ci_low"] <= r["value"] <= r["ci_high"], (rate, r)


def test_a_stratum_without_lesions_has_nan_recall_with_a_note():
    table = pd.DataFrame(
        {lesion_column("small", f): [0, 0] for f in LESION_FIELDS} | {"image_id": ["a", "b"]}
    )
    out = summarize_lesion_sizes(table, ["small"], n_resamples=50)["small"]
    assert math.isnan(out["detection_recall"]["value"])
    assert out["detection_recall"]["ci_note"] == "no lesion of this size"
    assert out["fp_per_image"]["value"] == 0.0
    with pytest.raises(DataError, match="lacks the lesion column"):
        summarize_lesion_sizes(table, ["large"])


def test_strata_names_and_ranges():
    assert [(s.name, s.label) for s in size_strata()] == [
        ("small", "< 64 px"),
        ("medium", "64-1023 px"),
        ("large", ">= 1024 px"),
    ]
    assert [s.name for s in size_strata([10, 20, 30])] == ["size1", "size2", "size3", "size4"]


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ([], "give at least one area threshold"),
        ([1024, 64], "strictly increasing, got [1024, 64]"),
        ([64, 64], "strictly increasing"),
        ([0, 64], "positive whole number of pixels, got 0"),
        ([1.5], "positive whole number of pixels, got 1.5"),
        (["a"], "positive whole number of pixels, got 'a'"),
    ],
)
def test_bad_thresholds_are_refused_with_the_rule(thresholds, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        size_strata(thresholds, "--size-thresholds")


@pytest.mark.parametrize("fraction", [0, -0.1, 1.01, math.nan, "half"])
def test_bad_detect_fraction_is_refused(fraction):
    empty = np.zeros((4, 4), dtype=bool)
    with pytest.raises(ConfigError, match=r"must be in \(0, 1\]"):
        lesion_counts(empty, empty, detect_fraction=fraction)


def test_mismatched_masks_are_a_data_error():
    with pytest.raises(DataError, match="same shape"):
        lesion_counts(np.zeros((4, 4), bool), np.zeros((4, 5), bool), where="image 'x'")
