"""Calibration statistics against predictors whose calibration is known by construction.

* calibrated: labels drawn Bernoulli(p) from the predicted p itself -> ECE near 0;
* over-confident by a known temperature: calibrated logits z (labels ~ Bernoulli(sigmoid(z))),
  the model outputs z / T0 with T0 = 0.5, i.e. probabilities sigmoid(z / T0) = sigmoid(2 z).
  The ECE equals an explicit loop over the bins, and the population ECE computed by numerical
  integration; temperature scaling, which divides the model's logits by T, recovers
  T = 1 / T0 = 2 (sigmoid((z / T0) / T) = sigmoid(z)).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, special, stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from analysis import (
    calibration_summary,
    fit_temperature,
    reliability_curve,
    scale_logits,
    write_calibration_plot,
)
from search_spaces import ConfigError, DataError

# the per-pixel parts are trials.metrics' (shared with a trial's validation)
from trials.metrics import DEFAULT_BINS, brier_score, expected_calibration_error, reliability_bins

N = 400_000
SD = 2.0  # spread of the calibrated logits z ~ N(0, SD^2)
T0 = 0.5  # the model's logits are z / T0: over-confident


@pytest.fixture(scope="module")
def overconfident() -> tuple[np.ndarray, np.ndarray]:
    """The model's logits z / T0 and labels drawn from sigmoid(z)."""
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, SD, N)
    labels = rng.random(N) < special.expit(z)
    return z / T0, labels


def _ece_by_hand(prob: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    """Independent ECE: bins (lo, hi] (the first [0, hi]), an explicit loop."""
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (prob > lo) & (prob <= hi) if b else (prob >= lo) & (prob <= hi)
        if inside.any():
            gap = abs(labels[inside].mean() - prob[inside].mean())
            total += inside.sum() / prob.size * gap
    return total


def _population_ece(n_bins: int) -> float:
    """ECE of sigmoid(z / T0) against sigmoid(z), z ~ N(0, SD^2), by numerical integration."""
    total = 0.0
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    for lo, hi in itertools.pairwise(edges):
        # p = sigmoid(z / T0) lies in the bin when z lies in (T0 logit(lo), T0 logit(hi)]
        a, b = max(T0 * special.logit(lo), -60.0), min(T0 * special.logit(hi), 60.0)
        gap, _ = integrate.quad(
            lambda z: (special.expit(z) - special.expit(z / T0)) * stats.norm.pdf(z, 0, SD), a, b
        )
        total += abs(gap)
    return total


def test_calibrated_by_construction_gives_ece_near_zero():
    rng = np.random.default_rng(1)
    prob = rng.random(N)
    labels = rng.random(N) < prob
    assert expected_calibration_error(reliability_bins(prob, labels)) < 0.01
    assert DEFAULT_BINS == 15


def test_overconfident_ece_equals_the_hand_computed_one(overconfident):
    logits, labels = overconfident
    prob = special.expit(logits)
    got = expected_calibration_error(reliability_bins(prob, labels, 15))
    assert got == pytest.approx(_ece_by_hand(prob, labels, 15), abs=1e-12)
    assert got == pytest.approx(_population_ece(15), abs=0.005)
    assert got > 0.05  # clearly miscalibrated


def test_temperature_scaling_recovers_one_over_t0(overconfident):
    logits, labels = overconfident
    fit = fit_temperature(logits, labels)
    assert fit.temperature == pytest.approx(1 / T0, rel=0.10)
    assert fit.nll_after < fit.nll_before and not fit.at_bound and fit.n_pixels == N
    after = scale_logits(logits, fit.temperature)
    assert expected_calibration_error(reliability_bins(after, labels)) < 0.01
    # an under-confident model (logits z * T0 = z / 2) gets T = T0 = 1/2
    under = fit_temperature(logits * T0 * T0, labels)
    assert under.temperature == pytest.approx(T0, rel=0.10)


def test_brier_equals_sklearn_pooled_and_per_image(overconfident):
    logits, labels = overconfident
    prob = special.expit(logits)
    assert brier_score(prob, labels) == pytest.approx(brier_score_loss(labels, prob), rel=1e-12)
    parts = np.array_split(np.arange(N), 5)
    bins = np.stack([reliability_bins(prob[i], labels[i]) for i in parts])
    squared = np.array([np.sum((prob[i] - labels[i]) ** 2) for i in parts])
    summary = calibration_summary(bins, squared, n_resamples=200)
    assert summary["brier"]["value"] == pytest.approx(brier_score_loss(labels, prob), rel=1e-12)
    for value, i in zip(summary["per_image"]["brier"], parts, strict=True):
        assert value == pytest.approx(brier_score_loss(labels[i], prob[i]), rel=1e-12)
    # the pooled ECE is the one of all pixels together, not the mean of the images'
    assert summary["ece"]["value"] == pytest.approx(
        expected_calibration_error(reliability_bins(prob, labels)), abs=1e-12
    )
    assert summary["ece"]["mean_per_image"] == pytest.approx(
        np.mean([_ece_by_hand(prob[i], labels[i].astype(float), 15) for i in parts])
    )
    assert summary["n_pixels"] == N and summary["n_bins"] == 15
    for key in ("ece", "brier"):
        s = summary[key]
        assert s["ci_low"] <= s["value"] <= s["ci_high"], (key, s)


def test_reliability_curve_equals_sklearn_calibration_curve():
    rng = np.random.default_rng(2)
    # values exactly on bin edges too: both put k / 15 in the bin below (except 0)
    prob = np.concatenate([rng.random(5000), np.arange(16) / 15])
    labels = rng.random(prob.size) < prob
    curve = reliability_curve(reliability_bins(prob, labels, 15))
    frac, mean = calibration_curve(labels, prob, n_bins=15, strategy="uniform")
    filled = np.array(curve["count"]) > 0
    np.testing.assert_allclose(np.array(curve["fraction_positive"])[filled], frac, rtol=1e-12)
    np.testing.assert_allclose(np.array(curve["mean_predicted"])[filled], mean, rtol=1e-12)
    assert sum(curve["count"]) == prob.size


def test_reliability_diagram_is_written(tmp_path, overconfident):
    logits, labels = overconfident
    prob = special.expit(logits[:20000])
    bins = reliability_bins(prob, labels[:20000])[None]
    summary = calibration_summary(bins, np.array([np.sum((prob - labels[:20000]) ** 2)]))
    assert math.isnan(summary["ece"]["ci_low"])  # one image: no interval, with the reason
    assert "at least 2 images" in summary["ece"]["ci_note"]
    summary["temperature"] = {"temperature": 2.0, "after": summary}
    path = write_calibration_plot(summary, tmp_path / "calibration.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: reliability_bins([0.5], [1], 0), ConfigError, "whole number >= 1, got 0"),
        (lambda: reliability_bins([1.5], [1]), DataError, r"must lie in \[0, 1\]"),
        (lambda: reliability_bins([0.5], [2]), DataError, "labels must be 0/1"),
        (lambda: reliability_bins([0.5, 0.2], [1]), DataError, "differ in size"),
        (lambda: fit_temperature([], []), DataError, "no pixel"),
        (lambda: fit_temperature([np.inf], [1]), DataError, "finite"),
        (lambda: fit_temperature([1.0], [1], (2.0, 1.0)), ConfigError, "0 < low < high"),
        (lambda: calibration_summary(np.zeros((0, 3, 15)), np.zeros(0)), DataError, "need"),
    ],
)
def test_bad_input_is_refused_with_the_rule(call, error, message):
    with pytest.raises(error, match=message):
        call()
