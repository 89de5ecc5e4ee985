"""The best-epoch and early-stopping rule of the training loop, case by case."""

from __future__ import annotations

import math

from search_spaces import load_recipe
from trials.train._early_stopping import BestTracker


def _tracker(mode: str = "max", patience: int | None = 2, min_rel: float = 0.0, epochs: int = 10):
    recipe = load_recipe(
        "cpu_demo",
        {
            "optim.monitor": "iou_lesion" if mode == "max" else "hd95",
            "optim.monitor_mode": mode,
            "optim.early_stopping.patience": patience,
            "optim.early_stopping.min_rel_improvement": min_rel,
            "optim.epochs": epochs,
        },
    )
    return BestTracker(recipe)


def test_improvements_in_the_monitored_direction():
    up = _tracker("max")
    assert [up.observe(v, first=i == 0) for i, v in enumerate([0.2, 0.3, 0.25, 0.3])] == [
        True,
        True,
        False,
        False,  # equal is not better
    ]
    assert up.best_value == 0.3 and up.since_best == 2
    down = _tracker("min")
    assert [down.observe(v, first=i == 0) for i, v in enumerate([5.0, 4.0, 6.0])] == [
        True,
        True,
        False,
    ]
    assert down.best_value == 4.0


def test_a_relative_margin_is_required():
    t = _tracker("max", min_rel=0.1)
    assert t.observe(0.5, first=True)
    assert not t.observe(0.54, first=False)  # < 0.5 * 1.1
    assert t.observe(0.56, first=False)


def test_nan_or_missing_never_improves_but_the_first_epoch_is_the_best_until_one_does():
    t = _tracker("max")
    assert t.observe(math.nan, first=True) and t.best_value is None and t.since_best == 0
    assert not t.observe(None, first=False) and t.since_best == 1
    assert t.observe(0.1, first=False) and t.best_value == 0.1


def test_patience_stops_before_the_last_epoch_only():
    t = _tracker("max", patience=2, epochs=4)
    t.observe(0.5, first=True)
    t.observe(0.4, first=False)
    assert not t.should_stop(2)
    t.observe(0.4, first=False)
    assert t.should_stop(3) and not t.should_stop(4)
    assert not _tracker(patience=None).should_stop(1)


def test_resumed_counters_carry_on():
    recipe = load_recipe("cpu_demo", {"optim.early_stopping.patience": 1})
    t = BestTracker(recipe, best_value=0.6, since_best=0)
    assert not t.observe(0.5, first=False) and t.should_stop(2)
