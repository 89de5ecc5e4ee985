"""The embedded default really learns: cpu_demo on synthetic data, the README's main job."""

from __future__ import annotations

import pytest

from search_spaces import load_recipe
from trials import run_trial


@pytest.mark.slow
def test_cpu_demo_reaches_lesion_iou_of_one_half_on_synthetic_validation_images():
    recipe = load_recipe("cpu_demo")
    ious: list[float] = []
    summary = run_trial(recipe, lambda epoch, m: ious.append(m["iou_lesion"]))
    assert summary.status == "completed" and summary.epochs == recipe.optim.epochs
    assert summary.best["iou_lesion"] >= 0.5, ious
    # learning, not luck: the last epoch is far better than the first
    assert ious[-1] > ious[0] + 0.2, ious
