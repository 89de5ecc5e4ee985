"""The Python API of ``harness search`` and ``harness report``: what the commands do, from
Python, in the test session's Ray; a search started here is continued by the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

import harness
from search_spaces import ConfigError, read_spec

HARNESS = [sys.executable, "-m", "harness.cli"]
SLOW_BOWL = "harness.testing:slow_log_lr_bowl"  # 0.5 s per epoch
TRIALS = 8
FAST = dict(
    trainable=SLOW_BOWL,
    metric="score",
    mode="max",
    max_epochs=2,
    grace_period=1,
    reduction_factor=2,
    concurrency=2,
    seed=3,
)


def test_a_bad_argument_is_refused_before_ray_naming_the_parameter(tmp_path):
    with pytest.raises(ConfigError, match="grace_period must be between 1 and max_epochs") as err:
        harness.search("lr", **{**FAST, "grace_period": 5}, runs_dir=tmp_path)
    assert err.value.param == "grace_period"
    with pytest.raises(ConfigError, match="give exactly one of space NAME or plan NAME") as err:
        harness.search(runs_dir=tmp_path)
    assert err.value.param == "space"
    with pytest.raises(ConfigError, match="resume needs name NAME") as err:
        harness.search(resume=True, runs_dir=tmp_path)
    assert err.value.param == "name"
    with pytest.raises(ConfigError, match="list of 'path=value' strings or a dict") as err:
        harness.search("lr", set="optim.lr=0.1", runs_dir=tmp_path)
    assert err.value.param == "set"
    with pytest.raises(ConfigError, match="disagree") as err:
        harness.search("lr", set={"optim.epochs": 3}, **FAST, runs_dir=tmp_path)
    assert err.value.param == "max_epochs"
    assert not any(tmp_path.iterdir())


def test_report_refuses_a_bad_argument_naming_the_parameter(tmp_path):
    with pytest.raises(ConfigError, match="spline_df must be between 1 and 20, got 0") as err:
        harness.report(tmp_path, spline_df=0)
    assert err.value.param == "spline_df"
    with pytest.raises(ConfigError, match="format 'pdf': choose from md, html") as err:
        harness.report(tmp_path, format="pdf")
    assert err.value.param == "format"


@pytest.mark.slow
@pytest.mark.ray
def test_search_from_python_resumed_by_the_cli_reported_and_validated(
    ray_session, tmp_path, interrupted_at
):
    runs = tmp_path / "runs"
    with interrupted_at(runs / "py" / "trials.parquet", 1):
        # 8 trials of about 1 s, two at a time: the interrupt lands while most are still to run
        first = harness.search("lr", trials=TRIALS, name="py", runs_dir=runs, **FAST)
    assert first.interrupted and first.sentences == [] and first.path == runs / "py"
    spec = read_spec(first.path)
    assert spec.kind == "search" and spec.space == "lr" and spec.settings["trials"] == TRIALS
    kept = first.trials[first.trials["status"].isin(["completed", "pruned"])]
    assert 1 <= len(kept) < TRIALS

    # the command line continues what Python started
    res = subprocess.run(
        [*HARNESS, "search", "--resume", "--name", "py", "--runs-dir", str(runs)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "resuming" in res.stdout and "Next: `harness report" in res.stdout
    trials = pd.read_parquet(first.path / "trials.parquet")
    assert len(trials) == TRIALS and trials["trial_id"].is_unique
    assert set(kept["trial_id"]) <= set(trials["trial_id"])

    # and Python again: nothing is left to run, the answer and the best come back
    final = harness.search(name="py", runs_dir=runs, resume=True)
    assert not final.interrupted and len(final.trials) == TRIALS
    assert final.best is not None and {"optim.lr", "trial_id", "final.score"} <= set(final.best)
    assert final.sentences[0].startswith("The best configuration (trial ")
    assert final.sentences[-1].startswith("Next: `harness report")
    assert (first.path / "report" / "answer.json").is_file()
    best = trials.loc[trials["trial_id"] == final.best["trial_id"]].iloc[0]
    assert final.best["final.score"] == pytest.approx(best["final.score"])

    # the report (what `harness report` runs) finds the same best configuration
    report = harness.report(first.path, bootstrap=0, format="md,json")
    assert report.best == final.best
    assert report.importance["py"]["parameter"].tolist() == ["optim.lr"]
    assert all(path.is_file() for path in report.paths)

    # and what the search found is validated against its base, from Python, in the same session
    check = harness.validate(
        first.path, folds=2, seeds=1, trainable=SLOW_BOWL, metric="score", mode="max",
        runs_dir=runs, name="check",
    )  # fmt: skip
    assert check.kind == "validation" and not check.interrupted
    assert len(check.cells) == 4 and {"fold", "seed"} <= set(check.cells)
    assert check.sentences[0].startswith("score: ")
    assert read_spec(check.path).extra("experiment") == str(first.path)
