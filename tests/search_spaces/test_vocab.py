"""The shared vocabulary: trial statuses and metric directions."""

from __future__ import annotations

import pytest

from search_spaces import (
    FAILURE_STATUSES,
    FINISHED_STATUSES,
    SUCCESS_STATUSES,
    ConfigError,
    TrialStatus,
    metric_direction,
)


def test_status_sets_partition_the_finished_statuses() -> None:
    assert SUCCESS_STATUSES.isdisjoint(FAILURE_STATUSES)
    assert TrialStatus.PRUNED not in SUCCESS_STATUSES | FAILURE_STATUSES
    assert SUCCESS_STATUSES | FAILURE_STATUSES | {TrialStatus.PRUNED} == FINISHED_STATUSES
    assert TrialStatus.RUNNING not in FINISHED_STATUSES
    # statuses are plain strings in tables and JSON
    assert TrialStatus.MEMORY_CAP == "memory_cap" and "oom" in FAILURE_STATUSES


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("iou_lesion", "max"),
        ("dice", "max"),
        ("score", "max"),
        ("images_per_s", "max"),
        ("train_loss", "min"),
        ("hd95", "min"),
        ("final.hd95", "min"),
        ("best.iou_lesion", "max"),
        ("peak_memory_bytes", "min"),
        ("wall_time_s", "min"),
        ("focal_tversky_loss", "min"),
        # the lesion-size and calibration metrics a trial's validation reports
        ("lesion_recall_small", "max"),
        ("lesion_recall_medium", "max"),
        ("best.lesion_recall_large", "max"),
        ("fp_components_per_image", "min"),
        ("ece", "min"),
        ("final.brier", "min"),
    ],
)
def test_known_metric_directions(name: str, direction: str) -> None:
    assert metric_direction(name) == direction


def test_explicit_mode_wins_and_is_checked() -> None:
    assert metric_direction("train_loss", "max") == "max"
    assert metric_direction("my_objective", "min") == "min"
    with pytest.raises(ConfigError, match="mode must be 'max' or 'min', got 'up'") as err:
        metric_direction("dice", "up")
    assert err.value.param == "mode"


def test_unknown_metric_without_mode_names_the_option() -> None:
    with pytest.raises(ConfigError, match=r"'nosuch'.*give mode max or mode min") as err:
        metric_direction("nosuch")
    assert err.value.params == ("mode", "mode")  # both mentions become --mode on the CLI
    with pytest.raises(ConfigError, match="give --direction max"):
        metric_direction("nosuch", option="--direction")


def test_recipe_metrics_are_checked_with_the_valid_ones_listed() -> None:
    from search_spaces import RECIPE_METRICS, check_recipe_metric

    assert check_recipe_metric("hd95") == "hd95" and check_recipe_metric("loss_boundary")
    assert check_recipe_metric("ece") == "ece" and check_recipe_metric("lesion_recall_small")
    assert metric_direction("loss_boundary") == "min"
    assert all(metric_direction(m) in ("max", "min") for m in RECIPE_METRICS)
    with pytest.raises(
        ConfigError, match=r"^metric 'nosuch'.*valid: boundary_f1, brier, dice"
    ) as err:
        check_recipe_metric("nosuch")
    assert err.value.param == "metric"
