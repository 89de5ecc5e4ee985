"""``harness tables`` (and ``harness report`` on its own) rebuild lost tables from Ray's state."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

HARNESS = [sys.executable, "-m", "harness.cli"]


def _run(args, cwd):
    return subprocess.run([*HARNESS, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.ray
def test_lost_tables_are_rebuilt_equal_from_ray_state(tmp_path):
    args = ["search", "--space", "lr", "--trainable", "harness.testing:log_lr_bowl"]
    args += ["--metric", "score", "--trials", "6", "--max-epochs", "3", "--grace-period", "1"]
    res = _run([*args, "--name", "x"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    run = tmp_path / "runs" / "x"
    before = pd.read_parquet(run / "trials.parquet").set_index("trial_id").sort_index()
    curves_before = pd.read_parquet(run / "curves.parquet")
    (run / "trials.parquet").unlink()
    (run / "curves.parquet").unlink()

    res = _run(["tables", str(run)], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "rebuilt" in res.stdout and "from Ray's state" in " ".join(res.stdout.split())
    after = pd.read_parquet(run / "trials.parquet").set_index("trial_id").sort_index()
    assert list(after.index) == list(before.index)
    for col in ("status", "epochs", "optim.lr", "final.score", "best.score"):
        assert after[col].tolist() == before[col].tolist(), col
    curves_after = pd.read_parquet(run / "curves.parquet")
    key = ["trial_id", "epoch"]
    pd.testing.assert_frame_equal(
        curves_after.sort_values(key).reset_index(drop=True)[[*key, "score"]],
        curves_before.sort_values(key).reset_index(drop=True)[[*key, "score"]],
    )

    # report rebuilds them by itself
    (run / "trials.parquet").unlink()
    res = _run(["report", str(run), "--format", "json", "--bootstrap", "0"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "the tables were missing; rebuilt them from Ray's state" in " ".join(res.stdout.split())
    assert json.loads((run / "report" / "importance.json").read_text())


def test_a_directory_without_ray_state_is_a_clear_error(tmp_path):
    run = tmp_path / "runs" / "y"
    run.mkdir(parents=True)
    (run / "spec.json").write_text(json.dumps({"settings": {"metric": "score", "mode": "max",
                                                             "max_epochs": 3}}))  # fmt: skip
    res = _run(["tables", str(run)], tmp_path)
    assert res.returncode == 2
    assert "holds no Ray Tune state" in res.stderr
