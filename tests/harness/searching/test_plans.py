"""Staged plans on real Ray: narrowing stays inside the previous ranges, inherit fixes the best."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from rich.console import Console

from harness.searching import SearchSettings, fidelity_table, run_plan
from search_spaces import load_plan, load_recipe


@pytest.fixture(scope="module")
def plan_run(ray_session, tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    (root / "two.yaml").write_text(
        "description: lr and weight decay\n"
        "params:\n"
        "  optim.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}\n"
        "  optim.weight_decay: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}\n"
    )
    (root / "plan.yaml").write_text(
        "description: coarse, focused, then onecycle from the best, then 2 seeds\n"
        "stages:\n"
        "  - {name: coarse, space: two.yaml, trials: 12, max_epochs: 3, grace_period: 1}\n"
        "  - {name: focused, space: two.yaml, trials: 6, max_epochs: 3, grace_period: 1,"
        " narrow: {top_fraction: 0.25}}\n"
        "  - {name: schedule, space: onecycle, trials: 4, max_epochs: 3, grace_period: 1,"
        " inherit: best}\n"
        "  - {name: final, seeds: 2, max_epochs: 3, inherit: best}\n"
    )
    plan = load_plan(root / "plan.yaml")
    settings = SearchSettings(
        metric="score", mode="max", trainable="harness.testing:log_lr_bowl", seed=2
    )
    run_dir = root / "run"
    run_dir.mkdir()
    result = run_plan(run_dir, plan, load_recipe("cpu_demo"), settings, console=Console(quiet=True))
    assert len(result.stages) == 4 and result.best_recipe is not None
    assert [row["stage"] for row in result.summary] == ["coarse", "focused", "schedule", "final"]
    code = 130 if result.interrupted else 0  # what `harness search --plan` exits with
    return run_dir, code


def _trials(run_dir, stage):
    return pd.read_parquet(next(run_dir.glob(f"*-{stage}")) / "trials.parquet")


def test_every_stage_ran_in_its_own_directory(plan_run):
    run_dir, code = plan_run
    assert code == 0
    assert sorted(p.name for p in run_dir.iterdir() if p.is_dir()) == [
        "01-coarse",
        "02-focused",
        "03-schedule",
        "04-final",
    ]
    assert [len(_trials(run_dir, s)) for s in ("coarse", "focused", "schedule", "final")] == [
        12,
        6,
        4,
        2,
    ]
    state = json.loads((run_dir / "plan_state.json").read_text())
    assert state["finished"] == ["coarse", "focused", "schedule", "final"]


def test_narrowed_ranges_lie_inside_the_previous_stage(plan_run):
    run_dir, _ = plan_run
    coarse, focused = _trials(run_dir, "coarse"), _trials(run_dir, "focused")
    summary = json.loads((run_dir / "plan_summary.json").read_text())
    changed = {row["path"] for row in summary["narrowing"] if row["stage"] == "focused"}
    assert "optim.lr" in changed
    for path in ("optim.lr", "optim.weight_decay"):
        assert focused[path].min() >= coarse[path].min() - 1e-12
        assert focused[path].max() <= coarse[path].max() + 1e-12
    # the kept envelope is that of the coarse stage's best trials at the common epoch
    table, epoch = fidelity_table(
        coarse, pd.read_parquet(run_dir / "01-coarse" / "curves.parquet"), "score"
    )
    top = table.nlargest(3, "score")
    assert epoch >= 1
    assert focused["optim.lr"].min() >= top["optim.lr"].min() - 1e-12
    assert focused["optim.lr"].max() <= top["optim.lr"].max() + 1e-12


def test_inherit_fixes_the_earlier_parameters_at_their_best(plan_run):
    run_dir, _ = plan_run
    focused, schedule = _trials(run_dir, "focused"), _trials(run_dir, "schedule")
    done = focused[focused["status"] == "completed"]
    best_lr = done.loc[done["final.score"].idxmax(), "optim.lr"]
    # The objective depends on the lr alone: 1 - (log10 lr + 3.7)^2 - 0.5 / epoch.
    expected = 1 - (math.log10(best_lr) + 3.7) ** 2 - 0.5 / 3
    # the schedule stage searched onecycle only, every trial at the inherited best lr
    assert "optim.lr" not in schedule.columns and "optim.onecycle.pct_start" in schedule.columns
    completed = schedule[schedule["status"] == "completed"]
    assert len(completed) >= 1
    assert completed["final.score"].tolist() == pytest.approx([expected] * len(completed))
    final = _trials(run_dir, "final")
    assert sorted(final["seed"]) == [27, 28]
    assert final["final.score"].tolist() == pytest.approx([expected, expected])


def _finished(table) -> pd.DataFrame:
    try:
        trials = pd.read_parquet(table)
    except (OSError, ValueError):
        return pd.DataFrame()
    return trials[trials["status"].isin(["completed", "pruned"])] if not trials.empty else trials


@pytest.mark.slow
@pytest.mark.ray
def test_sigkill_of_the_driver_in_stage_two_then_resume_loses_and_repeats_nothing(tmp_path):
    (tmp_path / "plan.yaml").write_text(
        "description: two stages\n"
        "stages:\n"
        "  - {name: coarse, space: lr, trials: 4, max_epochs: 2, grace_period: 2}\n"
        "  - {name: focused, space: lr, trials: 4, max_epochs: 3, grace_period: 3,"
        " narrow: {top_fraction: 0.5}}\n"
    )
    harness = [sys.executable, "-m", "harness.cli", "search"]
    objective = ["--trainable", "harness.testing:checkpointed_bowl"]
    objective += ["--metric", "score", "--mode", "max", "--concurrency", "2", "--seed", "4"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["COLUMNS"] = "160"
    run = tmp_path / "runs" / "killed"
    proc = subprocess.Popen(
        [*harness, "--plan", str(tmp_path / "plan.yaml"), "--name", "killed", *objective],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the driver and the Ray instance it started die together
    )
    stage2 = run / "02-focused" / "trials.parquet"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and len(_finished(stage2)) < 2:
            time.sleep(0.2)
            assert proc.poll() is None, "the plan ended before it could be killed"
        time.sleep(1.5)  # Ray snapshots its state every second; the kill lands after one
        coarse_before = pd.read_parquet(run / "01-coarse" / "trials.parquet")
        focused_before = _finished(stage2)
        assert 2 <= len(focused_before) < 4
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert json.loads((run / "plan_state.json").read_text())["finished"] == ["coarse"]

    res = subprocess.run(
        [*harness, "--resume", "--name", "killed"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((run / "plan_state.json").read_text())["finished"] == ["coarse", "focused"]
    # stage 1 was not run again: its table is the one written before the kill
    pd.testing.assert_frame_equal(
        pd.read_parquet(run / "01-coarse" / "trials.parquet"), coarse_before
    )
    focused = pd.read_parquet(stage2)
    assert len(focused) == 4 and focused["trial_id"].is_unique
    assert set(focused["status"]) <= {"completed", "pruned"}
    kept = focused_before.merge(focused, on="trial_id", suffixes=("_before", "_after"))
    assert len(kept) == len(focused_before)  # every trial finished before the kill is kept...
    assert (kept["final.score_before"] == kept["final.score_after"]).all()  # ...as it was
    curves = pd.read_parquet(run / "02-focused" / "curves.parquet")
    assert not curves.duplicated(["trial_id", "epoch"]).any()  # and no epoch ran twice
    assert (curves.groupby("trial_id")["epoch"].apply(sorted) == [[1, 2, 3]] * 4).all()
