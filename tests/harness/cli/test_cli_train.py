"""``harness train`` end to end through the console script: a real run directory, real errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

HARNESS = [sys.executable, "-m", "harness.cli"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [*HARNESS, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )


def _tiny_sets(tiny_overrides: dict) -> list[str]:
    out = []
    for key, value in tiny_overrides.items():
        out += ["--set", f"{key}={value}"]
    return out


@pytest.mark.slow
def test_train_writes_a_complete_run_directory(tmp_path, tiny_overrides):
    res = _run(
        ["train", "--recipe", "cpu_demo", "--name", "t1", *_tiny_sets(tiny_overrides)], tmp_path
    )
    assert res.returncode == 0, res.stdout + res.stderr
    run = tmp_path / "runs" / "t1"
    assert {"recipe.yaml", "spec.json", "split.json", "metrics.csv", "best.pt", "summary.json"} <= {
        p.name for p in run.iterdir()
    }
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["final"]["iou_lesion"] == pytest.approx(metrics["iou_lesion"].iloc[-1])
    assert "iou_lesion" in res.stdout and "status completed" in res.stdout
    spec = json.loads((run / "spec.json").read_text())
    assert spec["environment"]["versions"]["torch"]
    # the same name again is refused rather than overwriting the run
    again = _run(["train", "--recipe", "cpu_demo", "--name", "t1"], tmp_path)
    assert again.returncode == 2 and "already holds a run" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "optim.lrr=1"], "unknown parameter path 'optim.lrr'"),
        (["--set", "optim.lr=fast"], "optim.lr = 'fast'"),
        (["--recipe", "nope"], "unknown recipe 'nope'"),
        (["--set", "model.attention.type=transformer"], "valid: cbam, esca, none, se"),
        (["--data", "/nonexistent/folder"], "no such folder"),
        (["--name", "a/b"], "--name 'a/b'"),
        (["--epochs", "0"], "--epochs: optim.epochs = 0"),
    ],
)
def test_bad_input_is_one_clear_line_not_a_traceback(tmp_path, args, message, harness_cli):
    res = harness_cli(["train", "--recipe", "cpu_demo", *args], tmp_path)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_unusable_data_folder_is_a_user_error_and_leaves_no_run(tmp_path, harness_cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = harness_cli(["train", "--recipe", "cpu_demo", "--data", str(empty)], tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith("error: data folder") and "is empty" in res.stderr
    assert "status data_error" not in res.stdout
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_help_explains_the_options(tmp_path, harness_cli):
    res = harness_cli(["train", "--help"], tmp_path)
    assert res.returncode == 0
    for word in ("--recipe", "--data", "--set", "dotted path", "--epochs", "--on-bad-sample"):
        assert word in res.stdout


@pytest.mark.slow
def test_train_on_the_real_soybean_data(tmp_path, soybean_root, tiny_overrides):
    sets = _tiny_sets({**tiny_overrides, "optim.epochs": 1, "data.max_image_side": 160})
    res = _run(
        ["train", "--recipe", "cpu_demo", "--data", str(soybean_root), "--name", "soy", *sets],
        tmp_path,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads((tmp_path / "runs" / "soy" / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert 0.0 <= summary["final"]["iou_lesion"] <= 1.0
    split = json.loads((tmp_path / "runs" / "soy" / "split.json").read_text())
    assert sum(len(split[k]) for k in ("train", "val", "test")) == 63
