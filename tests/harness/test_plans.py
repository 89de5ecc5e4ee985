"""Staged plans on real Ray: narrowing stays inside the previous ranges, inherit fixes the best."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from rich.console import Console

from harness._plan_runner import fidelity_table, run_plan
from harness._tuner import SearchSettings
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
        metric="score", mode="max", trainable="harness.objectives:log_lr_bowl", seed=2
    )
    run_dir = root / "run"
    run_dir.mkdir()
    code = run_plan(run_dir, plan, load_recipe("cpu_demo"), settings, console=Console(quiet=True))
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
