"""Tests of trials.metrics against scikit-learn, brute-force references and hand-computed cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    jaccard_score,
    precision_score,
    recall_score,
)

from search_spaces import ConfigError, DataError, metric_direction
from trials.metrics import (
    MetricAccumulator,
    confusion_counts,
    create_metric,
    get_metric,
    higher_is_better,
    list_metrics,
    mask_boundary,
    metric_mode,
    register_metric,
)

ALL_METRICS = [
    "boundary_f1",
    "dice",
    "f1",
    "hd95",
    "iou_background",
    "iou_lesion",
    "miou",
    "pixel_accuracy",
    "precision",
    "recall",
]
COUNT_METRICS = [m for m in ALL_METRICS if m not in ("boundary_f1", "hd95")]


# ----------------------------------------------------------------------------------- helpers


def blobs(rng: np.random.Generator, shape: tuple[int, int], sigma: float = 2.0) -> np.ndarray:
    """Random smooth blobs covering about half the image."""
    return ndimage.gaussian_filter(rng.random(shape), sigma) > 0.5


def sklearn_reference(target: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Every count metric as scikit-learn computes it on the flattened masks."""
    y, p = target.ravel(), pred.ravel()
    return {
        "iou_lesion": jaccard_score(y, p),
        "iou_background": jaccard_score(y, p, pos_label=False),
        "miou": jaccard_score(y, p, average="macro"),
        "dice": f1_score(y, p),
        "f1": f1_score(y, p),
        "precision": precision_score(y, p),
        "recall": recall_score(y, p),
        "pixel_accuracy": accuracy_score(y, p),
    }


def brute_boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary by the definition, pixel by pixel: a mask pixel with a 4-neighbour outside."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    for i in range(h):
        for j in range(w):
            if not mask[i, j]:
                continue
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                a, b = i + di, j + dj
                if not (0 <= a < h and 0 <= b < w) or not mask[a, b]:
                    out[i, j] = True
    return out


def brute_boundary_metrics(pred: np.ndarray, target: np.ndarray, tol: float) -> tuple[float, float]:
    """(BF1, HD95) from all pairwise distances between boundary-pixel coordinates."""
    pb, tb = np.argwhere(brute_boundary(pred)), np.argwhere(brute_boundary(target))
    d = cdist(pb, tb)
    d_pt, d_tp = d.min(axis=1), d.min(axis=0)
    p, r = np.mean(d_pt <= tol), np.mean(d_tp <= tol)
    bf1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return bf1, float(np.percentile(np.concatenate([d_pt, d_tp]), 95))


def square(shape: tuple[int, int], top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


# ------------------------------------------------------------------------- count metrics


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_count_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(20, 60)), int(rng.integers(20, 60)))
    target = rng.random(shape) < rng.uniform(0.1, 0.6)
    pred = rng.random(shape) < rng.uniform(0.1, 0.6)

    tn, fp, fn, tp = confusion_matrix(target.ravel(), pred.ravel(), labels=[False, True]).ravel()
    counts = confusion_counts(pred, target)
    assert counts.as_dict() == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    assert counts.as_array().dtype == np.int64

    expected = sklearn_reference(target, pred)
    for name in COUNT_METRICS:
        assert create_metric(name)(pred, target) == pytest.approx(expected[name], abs=1e-12), name


def test_pooled_metrics_are_micro_average_over_images() -> None:
    rng = np.random.default_rng(7)
    shapes = [(30, 40), (25, 25), (50, 20), (12, 64)]
    acc = MetricAccumulator()
    targets, preds = [], []
    for i, shape in enumerate(shapes):
        target = rng.random(shape) < 0.1 * (i + 1)
        pred = rng.random(shape) < 0.3
        acc.update(pred, target, f"img{i}")
        targets.append(target.ravel())
        preds.append(pred.ravel())
    result = acc.compute()
    expected = sklearn_reference(np.concatenate(targets), np.concatenate(preds))
    assert result["n_images"] == 4
    for name in COUNT_METRICS:
        assert result[name] == pytest.approx(expected[name], abs=1e-12), name


# ---------------------------------------------------------------------- boundary metrics


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_boundary_metrics_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    shape = (28, 34)
    pred, target = blobs(rng, shape), blobs(rng, shape)
    assert pred.any() and target.any()
    np.testing.assert_array_equal(mask_boundary(pred), brute_boundary(pred))
    np.testing.assert_array_equal(mask_boundary(target), brute_boundary(target))
    for tol in (0, 1, 2, 3.5):
        bf1, hd = brute_boundary_metrics(pred, target, tol)
        assert create_metric("boundary_f1", tolerance=tol)(pred, target) == pytest.approx(bf1)
    assert create_metric("hd95")(pred, target) == pytest.approx(hd)


def test_boundary_metrics_of_distant_lesions_match_brute_force() -> None:
    shape = (30, 40)
    pred = square(shape, 1, 1, 4) | square(shape, 24, 2, 3)
    target = square(shape, 20, 30, 6)
    for tol in (2, 25):
        bf1, hd = brute_boundary_metrics(pred, target, tol)
        assert create_metric("boundary_f1", tolerance=tol)(pred, target) == pytest.approx(bf1)
    assert create_metric("hd95")(pred, target) == pytest.approx(hd)
    assert hd > 25


def test_shifted_squares_by_hand() -> None:
    # A 20 x 20 square has 4 * 20 - 4 = 76 boundary pixels. Shifted right by 1 px, every
    # boundary pixel of either square is within 1 px of the other's boundary.
    shape = (40, 50)
    target = square(shape, 10, 10, 20)
    one = square(shape, 10, 11, 20)
    assert create_metric("boundary_f1", tolerance=2)(one, target) == 1.0
    # In each direction 38 of the 76 distances are 1 (the 20 pixels of the moved side and the 18
    # non-corner pixels of the side inside the other square), the rest 0: more than 5 % of the
    # pooled distances are 1 and none larger, so HD95 = 1.
    assert create_metric("hd95")(one, target) == 1.0

    # Shifted by 3 px: the 20 pixels of the moved side are 3 px from the other square's side,
    # and so are 14 of the 18 non-corner pixels of the side inside the other square (the 2
    # nearest each corner are 1 and 2 px from the top/bottom edges). 34 of 76 pixels miss the
    # 2-px tolerance in each direction: precision = recall = BF1 = 42 / 76.
    three = square(shape, 10, 13, 20)
    assert create_metric("boundary_f1", tolerance=2)(three, target) == pytest.approx(42 / 76)
    assert create_metric("boundary_f1", tolerance=3)(three, target) == 1.0
    # 2 x 34 = 68 of the 152 pooled distances are 3 and none larger: HD95 = 3.
    assert create_metric("hd95")(three, target) == 3.0


def test_full_size_image_with_lesions_on_the_frame() -> None:
    # The image frame counts as outside the mask, so a square in the corner of a 1280 x 960
    # image has the same boundary, and the same metrics, as the same square inside it.
    shape = (960, 1280)
    target = square(shape, 0, 0, 20)
    three = square(shape, 0, 3, 20)
    acc = MetricAccumulator(tolerance=2)
    row = acc.update(three, target, "corner")
    assert row["boundary_f1"] == pytest.approx(42 / 76)
    assert row["hd95"] == 3.0
    assert row["iou_lesion"] == pytest.approx(17 * 20 / (23 * 20))

    full = np.ones(shape, dtype=bool)
    row = acc.update(full, full, "all_lesion")
    assert row["boundary_f1"] == 1.0
    assert row["hd95"] == 0.0


# ------------------------------------------------------------------------ degenerate cases


def test_no_lesion_anywhere_is_perfect() -> None:
    empty = np.zeros((8, 9), dtype=bool)
    row = MetricAccumulator().update(empty, empty, "healthy")
    for name in ALL_METRICS:
        assert row[name] == (0.0 if name == "hd95" else 1.0), name


def test_missed_lesion() -> None:
    target = square((10, 10), 2, 2, 4)  # 16 lesion pixels, 84 background
    pred = np.zeros((10, 10), dtype=bool)
    row = MetricAccumulator().update(pred, target, "missed")
    assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (0, 0, 16, 84)
    for name in ("iou_lesion", "dice", "precision", "recall", "f1", "boundary_f1"):
        assert row[name] == 0.0, name
    assert row["iou_background"] == pytest.approx(84 / 100)
    assert row["miou"] == pytest.approx(0.42)
    assert row["pixel_accuracy"] == pytest.approx(0.84)
    assert math.isnan(row["hd95"])


def test_invented_lesion() -> None:
    pred = square((10, 10), 2, 2, 4)
    target = np.zeros((10, 10), dtype=bool)
    row = MetricAccumulator().update(pred, target, "invented")
    for name in ("iou_lesion", "dice", "precision", "recall", "f1", "boundary_f1"):
        assert row[name] == 0.0, name
    assert math.isnan(row["hd95"])


def test_all_lesion_has_perfect_background_iou() -> None:
    full = np.ones((5, 6), dtype=bool)
    row = MetricAccumulator().update(full, full, "all")
    assert row["iou_background"] == 1.0
    assert row["miou"] == 1.0


def test_hd95_nan_images_are_left_out_and_counted() -> None:
    shape = (40, 50)
    acc = MetricAccumulator()
    acc.update(square(shape, 10, 13, 20), square(shape, 10, 10, 20), "shift3")  # hd95 3
    acc.update(square(shape, 10, 11, 20), square(shape, 10, 10, 20), "shift1")  # hd95 1
    acc.update(square(shape, 1, 1, 3), np.zeros(shape, dtype=bool), "invented")  # nan
    result = acc.compute()
    assert result["hd95"] == pytest.approx(2.0)
    assert result["hd95_n_nan"] == 1
    assert result["boundary_f1"] == pytest.approx((42 / 76 + 1.0 + 0.0) / 3)
    assert result["boundary_f1_n_nan"] == 0

    only_nan = MetricAccumulator()
    only_nan.update(np.zeros((4, 4), dtype=bool), square((4, 4), 0, 0, 2), "missed")
    assert math.isnan(only_nan.compute()["hd95"])


# ----------------------------------------------------------------------------- accumulator


def test_per_image_and_per_label_are_json_and_pooled_per_label() -> None:
    rng = np.random.default_rng(3)
    acc = MetricAccumulator()
    by_label: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {
        "blight": ([], []),
        "rust": ([], []),
    }
    for i, label in enumerate(["rust", "blight", "rust", None, "blight"]):
        target, pred = blobs(rng, (24, 30)), blobs(rng, (24, 30))
        acc.update(pred.astype(np.uint8), target, f"leaf{i}", label=label)
        if label is not None:
            by_label[label][0].append(target.ravel())
            by_label[label][1].append(pred.ravel())

    rows = acc.per_image()
    assert [r["image_id"] for r in rows] == [f"leaf{i}" for i in range(5)]
    assert rows[3]["label"] is None
    assert set(rows[0]) == {"image_id", "label", "tp", "fp", "fn", "tn", *ALL_METRICS}
    assert rows[0]["tp"] + rows[0]["fp"] + rows[0]["fn"] + rows[0]["tn"] == 24 * 30
    assert all(type(r[k]) is int for r in rows for k in ("tp", "fp", "fn", "tn"))
    assert all(type(r[k]) is float for r in rows for k in ALL_METRICS)

    labels = acc.per_label()
    assert list(labels) == ["blight", "rust"]
    for label, (targets, preds) in by_label.items():
        expected = sklearn_reference(np.concatenate(targets), np.concatenate(preds))
        assert labels[label]["n_images"] == 2
        for name in COUNT_METRICS:
            assert labels[label][name] == pytest.approx(expected[name], abs=1e-12)
    json.dumps({"overall": acc.compute(), "per_image": rows, "per_label": labels})


def test_accumulator_errors() -> None:
    acc = MetricAccumulator()
    with pytest.raises(DataError, match="needs at least one image"):
        acc.compute()
    mask = np.zeros((4, 5), dtype=bool)
    with pytest.raises(DataError, match=r"leaf_7.*same shape.*\(4, 5\).*\(5, 4\)"):
        acc.update(mask, mask.T, "leaf_7")
    with pytest.raises(DataError, match="threshold probabilities first"):
        acc.update(mask.astype(np.float32), mask, "probs")
    with pytest.raises(DataError, match="values other than 0 and 1"):
        acc.update(mask.astype(np.uint8) + 2, mask, "classes")
    acc.update(mask, mask, "leaf_1")
    with pytest.raises(DataError, match="'leaf_1' was already added"):
        acc.update(mask, mask, "leaf_1")
    assert len(acc) == 1
    with pytest.raises(ConfigError, match="tolerance"):
        MetricAccumulator(tolerance=-1)


# -------------------------------------------------------------------------------- registry


def test_registry_names_and_directions() -> None:
    assert list_metrics() == ALL_METRICS
    assert list_metrics("iou_*") == ["iou_background", "iou_lesion"]
    for name in ALL_METRICS:
        assert higher_is_better(name) is (name != "hd95")
        assert get_metric(name).name == name
    assert metric_mode("hd95") == "min"
    assert metric_mode("iou_lesion") == "max"


def test_registry_directions_agree_with_the_shared_vocabulary() -> None:
    # search_spaces.metric_direction is what the search and the reports use; the registry's
    # own direction (what training monitors) must say the same for every registered metric.
    for name in list_metrics():
        expected = "max" if higher_is_better(name) else "min"
        assert metric_direction(name) == expected == metric_mode(name), name
        assert metric_direction(f"final.{name}") == expected, name


def test_the_shared_list_of_recipe_metrics_is_the_registry_and_the_training_loss() -> None:
    from search_spaces import RECIPE_METRICS
    from trials.metrics import BREAKDOWN_METRICS

    # what `harness search --metric` accepts for the recipe without starting it: the registry,
    # the lesion-size and calibration metrics of each validation, and the training loss
    assert set(list_metrics()) | set(BREAKDOWN_METRICS) | {"train_loss"} == RECIPE_METRICS


def test_registry_errors() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'jaccard'") as info:
        create_metric("jaccard")
    for name in ALL_METRICS:
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="unknown metric"):
        higher_is_better("mIoU")
    with pytest.raises(ConfigError, match=r"hd95.*tolerance.*accepted: none"):
        create_metric("hd95", tolerance=2)
    with pytest.raises(ConfigError, match="tolerance"):
        create_metric("boundary_f1", tolerance=-0.5)(np.ones((3, 3), bool), np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="already registered"):
        register_metric("dice", inputs=confusion_counts, higher_is_better=True, pooled=True)(
            lambda c: 0.0
        )
