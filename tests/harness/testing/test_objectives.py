"""The multi-fidelity Hartmann objective against the function's published optimum and the
fidelity behaviour its docstring states."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from harness.testing import (
    HARTMANN3_ARGMAX,
    HARTMANN3_MAX,
    HARTMANN3_PATHS,
    hartmann3,
    mf_hartmann3,
    mf_hartmann3_hard,
)
from search_spaces import apply_overrides, load_recipe


@pytest.fixture(scope="module")
def base():
    return load_recipe("cpu_demo", {"optim.epochs": 9})


def _recipe(base, x):
    return apply_overrides(base, dict(zip(HARTMANN3_PATHS, x, strict=True)), source="test")


def _curve(fn, recipe):
    reports = []
    summary = fn(recipe, lambda epoch, metrics: reports.append((epoch, dict(metrics))))
    return summary, reports


def test_hartmann3_published_optimum():
    # Surjanovic & Bingham's library of test functions: min -3.86278 at (0.114614, 0.555649,
    # 0.852547); negated here.
    assert hartmann3(HARTMANN3_ARGMAX) == pytest.approx(3.86278, abs=1e-5)
    assert abs(HARTMANN3_MAX - 3.86278) < 1e-12
    # a point far from every bump is close to 0
    assert hartmann3((1.0, 0.0, 0.0)) < 0.05


def test_hartmann3_rejects_wrong_dimension():
    with pytest.raises(ValueError, match="3 coordinates, got 2"):
        hartmann3((0.1, 0.2))


def test_fidelity_bias_lowers_the_bumps():
    # alpha' = alpha - bias at fidelity 0: the value drops by bias * sum_i exp(-inner_i).
    # By hand at the optimum: inner = (12.4, 0.539, 3.67, 0.0362) for the four bumps, so
    # exp(-inner) = (0.0000, 0.583, 0.0255, 0.9645), sum 1.573.
    low = hartmann3(HARTMANN3_ARGMAX, fidelity=0.0, bias=1.0)
    assert low == pytest.approx(3.86278 - 1.573, abs=0.005)
    half = hartmann3(HARTMANN3_ARGMAX, fidelity=0.5, bias=1.0)
    assert half == pytest.approx(3.86278 - 0.5 * 1.573, abs=0.005)
    assert hartmann3(HARTMANN3_ARGMAX, fidelity=1.0, bias=1.0) == pytest.approx(3.86278, abs=1e-5)


def test_reports_every_epoch_and_ends_at_the_true_value(base):
    summary, reports = _curve(mf_hartmann3, _recipe(base, HARTMANN3_ARGMAX))
    assert [e for e, _ in reports] == list(range(1, 10))
    assert reports[-1][1]["score"] == pytest.approx(3.86278, abs=1e-5)
    assert summary == {
        "status": "completed",
        "epochs": 9,
        "final": {"score": reports[-1][1]["score"]},
    }
    assert reports[0][1]["score"] < reports[-1][1]["score"] - 0.5
    stamps = [m["reported_at"] for _, m in reports]
    assert stamps == sorted(stamps)


def test_noise_is_the_same_for_the_same_point_and_epoch(base):
    recipe = _recipe(base, (0.3, 0.6, 0.7))
    first = [m["score"] for _, m in _curve(mf_hartmann3, recipe)[1]]
    second = [m["score"] for _, m in _curve(mf_hartmann3, recipe)[1]]
    assert first == second


@pytest.mark.parametrize(
    ("fn", "low", "high"), [(mf_hartmann3, 0.75, 1.0), (mf_hartmann3_hard, -0.3, 0.3)]
)
def test_epoch_one_ranks_points_as_documented(base, fn, low, high):
    points = np.random.default_rng(0).uniform(size=(150, 3))
    first, final = [], []
    for x in points:
        reports = _curve(fn, _recipe(base, tuple(float(v) for v in x)))[1]
        first.append(reports[0][1]["score"])
        final.append(reports[-1][1]["score"])
    rho = spearmanr(first, final).statistic
    assert low <= rho <= high
