"""Lesion-size and calibration metrics of a validation equal ``harness evaluate``'s.

Hand-made masks and probabilities: lesions of known size (small, medium, large) and
false-positive components, probabilities set per region. The accumulator's pooled numbers are
checked against the functions the evaluate path calls (``lesion_counts`` / ``lesion_rates``,
``reliability_bins`` / ``expected_calibration_error``, ``brier_score`` on all pixels at once), and
against the evaluation's own collector (``trials.evaluate.PixelStats``) and summaries
(``analysis.evaluation.summarize_breakdowns``).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import search_spaces
from analysis.evaluation import lesion_column, summarize_breakdowns
from search_spaces import DataError, metric_direction
from trials.evaluate import PixelStats
from trials.metrics import (
    BREAKDOWN_METRICS,
    DEFAULT_DETECT_FRACTION,
    LESION_FIELDS,
    BreakdownAccumulator,
    brier_score,
    expected_calibration_error,
    lesion_counts,
    lesion_rates,
    reliability_bins,
    size_strata,
)


def _image(seed: int, large: bool) -> tuple[np.ndarray, np.ndarray]:
    """Target mask and probabilities: a covered and a missed small lesion, a half-covered
    medium one, optionally a large one, a false-positive blob; noisy probabilities."""
    rng = np.random.default_rng(seed)
    target = np.zeros((120, 160), dtype=bool)
    prob = rng.uniform(0.0, 0.3, target.shape)  # background, below 0.5
    target[5:10, 5:10] = True  # 25 px, small, detected
    prob[5:10, 5:10] = rng.uniform(0.6, 1.0, (5, 5))
    target[5:8, 30:33] = True  # 9 px, small, missed
    target[20:40, 5:25] = True  # 400 px, medium: 8 of 20 rows predicted, not detected at 0.5
    prob[20:28, 5:25] = 0.9
    if large:
        target[50:100, 40:80] = True  # 2000 px, large, detected
        prob[50:100, 40:80] = rng.uniform(0.55, 0.95, (50, 40))
    prob[100:110, 120:130] = 0.7  # false-positive component of 100 px
    prob[2, 150] = 1.0  # and one of a single pixel
    return target, prob.astype(np.float32)


@pytest.fixture
def images() -> list[tuple[np.ndarray, np.ndarray]]:
    return [_image(0, True), _image(1, False), _image(2, True)]


def test_the_accumulated_metrics_equal_the_evaluate_functions(images):
    acc = BreakdownAccumulator()
    for target, prob in images:
        acc.update(prob, target)
    got = acc.compute()
    assert tuple(got) == BREAKDOWN_METRICS

    strata = size_strata()
    totals = {s.name: dict.fromkeys(LESION_FIELDS, 0) for s in strata}
    for target, prob in images:
        for name, fields in lesion_counts(prob >= 0.5, target, strata).items():
            for f, v in fields.items():
                totals[name][f] += v
    for name in ("small", "medium", "large"):
        want = lesion_rates(totals[name], len(images))["detection_recall"]
        assert got[f"lesion_recall_{name}"] == want
    assert got["lesion_recall_small"] == pytest.approx(3 / 6)
    assert got["lesion_recall_medium"] == 0.0 and got["lesion_recall_large"] == 1.0
    fp = sum(t["fp"] for t in totals.values())
    assert got["fp_components_per_image"] == fp / 3 == 2.0

    all_prob = np.concatenate([p.ravel() for _, p in images])
    all_target = np.concatenate([t.ravel() for t, _ in images])
    want_ece = expected_calibration_error(reliability_bins(all_prob, all_target))
    assert got["ece"] == pytest.approx(want_ece, rel=1e-12)
    assert got["brier"] == pytest.approx(brier_score(all_prob, all_target), rel=1e-12)
    assert 0.0 < got["ece"] < 1.0 and 0.0 < got["brier"] < 1.0


def test_the_same_numbers_as_harness_evaluate(images):
    # evaluate_samples hands both collectors the same (sample, logits, prob)
    acc = BreakdownAccumulator()
    stats = PixelStats(size_strata(), DEFAULT_DETECT_FRACTION, 15)
    for i, (target, prob) in enumerate(images):
        sample = SimpleNamespace(id=f"img{i}", target_mask=target)
        logits = np.log(prob + 1e-7) - np.log1p(-prob + 1e-7)
        acc.observe(sample, logits, prob)
        stats(sample, logits, prob)
    got = acc.compute()
    boot = {"n_resamples": 50, "seed": 0, "confidence": 0.95, "method": "percentile"}
    columns = pd.DataFrame(stats.per_image([f"img{i}" for i in range(len(images))], lesion_column))
    sizes, calibration = summarize_breakdowns(stats, columns, boot)
    for name in ("small", "medium", "large"):
        assert got[f"lesion_recall_{name}"] == sizes["strata"][name]["detection_recall"]["value"]
    fp = sum(s["counts"]["fp"] for s in sizes["strata"].values())
    assert got["fp_components_per_image"] == pytest.approx(fp / len(images))
    assert got["ece"] == pytest.approx(calibration["ece"]["value"], rel=1e-12)
    assert got["brier"] == pytest.approx(calibration["brier"]["value"], rel=1e-12)


def test_no_lesion_of_a_size_gives_nan_and_no_image_gives_nan_everywhere(images):
    acc = BreakdownAccumulator()
    assert all(math.isnan(v) for v in acc.compute().values())
    target, prob = _image(1, large=False)
    acc.update(prob, target)
    got = acc.compute()
    assert math.isnan(got["lesion_recall_large"]) and got["lesion_recall_small"] == 0.5
    with pytest.raises(DataError, match="image 'x'"):
        acc.update(prob, target[:, :10], "image 'x'")


def test_the_names_are_the_shared_vocabulary():
    # one definition (the base vocabulary), whose lesion-recall names are the strata's
    assert BREAKDOWN_METRICS is search_spaces.BREAKDOWN_METRICS
    assert [f"lesion_recall_{s.name}" for s in size_strata()] == list(BREAKDOWN_METRICS[:3])
    assert {m: metric_direction(m) for m in BREAKDOWN_METRICS} == {
        "lesion_recall_small": "max",
        "lesion_recall_medium": "max",
        "lesion_recall_large": "max",
        "fp_components_per_image": "min",
        "ece": "min",
        "brier": "min",
    }
