"""``harness.train`` then ``harness.evaluate`` from Python: typed results, files, errors.

The evaluation's logic moved here from the command line's tests: the command itself (printing,
exit codes, flags in messages) stays tested in ``tests/harness/cli/test_evaluate_cli.py``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from PIL import Image

import harness
from harness import EvaluationResult, TrainResult
from search_spaces import ConfigError, DataError, HarnessError, read_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_overrides) -> TrainResult:
    """A real two-epoch run of cpu_demo shrunk, through the Python API (no console)."""
    runs = tmp_path_factory.mktemp("api_runs")
    return harness.train("cpu_demo", set=tiny_overrides, name="t1", runs_dir=runs, device="cpu")


@pytest.fixture(scope="module")
def checkpoint(trained) -> Path:
    assert trained.checkpoint is not None
    return trained.checkpoint


def test_train_returns_the_run_as_a_typed_result(trained, tiny_overrides):
    assert isinstance(trained, TrainResult)
    assert trained.status == "completed" and trained.ok
    assert trained.path.name == "t1" and trained.checkpoint == trained.path / "best.pt"
    assert list(trained.metrics["epoch"]) == [1, 2]
    on_disk = pd.read_csv(trained.path / "metrics.csv")
    assert trained.metrics["iou_lesion"].tolist() == pytest.approx(on_disk["iou_lesion"].tolist())
    assert trained.final["iou_lesion"] == pytest.approx(on_disk["iou_lesion"].iloc[-1])
    assert trained.best_epoch in (1, 2) and set(trained.best) == set(trained.final)
    assert trained.recipe.optim.epochs == tiny_overrides["optim.epochs"]
    spec = read_spec(trained.path)
    assert (spec.command, spec.kind) == ("train", "train")
    assert spec.recipe["optim"]["epochs"] == 2 and spec.environment["versions"]["torch"]
    summary = json.loads((trained.path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 2


def test_train_set_takes_strings_too_and_errors_name_the_parameter(tmp_path):
    with pytest.raises(ConfigError, match=re.escape("epochs: optim.epochs = 0")) as info:
        harness.train("cpu_demo", epochs=0, runs_dir=tmp_path)
    assert info.value.param == "epochs"
    with pytest.raises(ConfigError, match=re.escape("unknown parameter path 'optim.lrr'")):
        harness.train("cpu_demo", set=["optim.lrr=1"], runs_dir=tmp_path)
    with pytest.raises(
        ConfigError, match=re.escape("device 'tpu': expected auto, cpu, cuda")
    ) as info:
        harness.train("cpu_demo", device="tpu", runs_dir=tmp_path)
    assert info.value.param == "device"
    assert not any(tmp_path.iterdir())  # nothing is made before the arguments are checked


def test_evaluate_returns_typed_results_and_logs_without_a_console(checkpoint, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="harness"):
        result = harness.evaluate(checkpoint, split="all", out=tmp_path, bootstrap=50)
    assert isinstance(result, EvaluationResult)
    assert result.path == tmp_path and result.checkpoint == checkpoint
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert json.dumps(result.metrics, default=str) == json.dumps(on_disk)  # NaN != NaN in ==
    pd.testing.assert_frame_equal(
        result.per_image, pd.read_csv(tmp_path / "per_image.csv"), check_dtype=False
    )
    assert len(result.per_image) == 12 and "lesions.small.n" in result.per_image
    assert result.pooled["iou_lesion"]["ci_low"] <= result.pooled["iou_lesion"]["value"]
    assert result.comparison is None and result.overlays == []
    assert list(result.lesion_sizes["strata"]) == ["small", "medium", "large"]
    assert result.calibration["n_bins"] == 15 and result.calibration_plot.is_file()
    assert any("12/12" in r.getMessage() for r in caplog.records)  # progress, through logging


def test_default_is_the_test_split_of_the_runs_split_file(checkpoint):
    result = harness.evaluate(checkpoint, bootstrap=100).metrics
    split = json.loads((checkpoint.parent / "split.json").read_text())
    out = checkpoint.parent / "eval" / "test"
    assert result["out"] == str(out) and (out / "metrics.json").is_file()
    assert result["data"]["split_file"] == str(checkpoint.parent / "split.json")
    assert sorted(pd.read_csv(out / "per_image.csv")["image_id"]) == sorted(split["test"])
    assert "compare" not in result and result["overlays"] == []
    assert result["overlay_folder"] is None and set(result["lesion_fraction"]) == {
        "true",
        "predicted",
    }


def test_plantseg_file_names_give_the_class_breakdown(checkpoint, tmp_path):
    from trials.data import generate_synthetic

    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    names = []
    for i, s in enumerate(generate_synthetic(6, 96, seed=5)):
        name = f"soybean_{s.label}_{i}"
        Image.fromarray(s.image).save(tmp_path / "images" / f"{name}.png")
        Image.fromarray(s.mask.astype(np.uint8) * 255).save(tmp_path / "masks" / f"{name}.png")
        names.append(f"soybean_{s.label}")
    result = harness.evaluate(
        checkpoint, data=tmp_path, split="all", out=tmp_path / "eval", bootstrap=100
    ).metrics
    assert result["data"]["source"] == str(tmp_path) and result["data"]["split_file"] is None
    assert {k: v["n_images"] for k, v in result["per_class"].items()} == {
        n: names.count(n) for n in set(names)
    }


def _cli_words(exc: HarnessError) -> str:
    """The message as the command line prints it (the parameter replaced by its flag)."""
    from harness.cli._app import app
    from harness.cli._errors import user_message

    return user_message(exc, typer.main.get_command(app))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"split": "holdout"}, ConfigError, "--split 'holdout': choose from test, val, train, all"),
        ({"overlays": -1}, ConfigError, "--overlays must be >= 0, got -1"),
        ({"compare": Path("/nonexistent/b.pt")}, ConfigError, "--compare '/nonexistent/b.pt'"),
        ({"data": Path("/nonexistent/folder")}, DataError, "no such folder"),
        (
            {"size_thresholds": "64,abc"},
            ConfigError,
            "--size-thresholds '64,abc': 'abc' is not a whole number of pixels",
        ),
        (
            {"size_thresholds": "1024,64"},
            ConfigError,
            "--size-thresholds '1024,64': the thresholds must be strictly increasing",
        ),
        ({"size_thresholds": "0"}, ConfigError, "positive whole number of pixels, got 0"),
        ({"detect_fraction": 0.0}, ConfigError, "--detect-fraction: the covered fraction"),
        ({"detect_fraction": 2.0}, ConfigError, "must be in (0, 1], got 2.0"),
    ],
)
def test_bad_options_are_refused(checkpoint, kwargs, error, message):
    with pytest.raises(error) as info:
        harness.evaluate(checkpoint, **kwargs)
    # the library names the Python parameter; the command line prints its flag
    (param,) = kwargs
    assert info.value.param == param and "--" not in str(info.value)
    assert re.search(message.replace("(", r"\("), _cli_words(info.value))
