"""A compute budget (``--budget-epochs``, ``--budget-hours``) on real Ray runs of analytic
objectives: never exceeded by more than the trials in flight, recorded, continued by a resume,
split across a plan's stages; and the bad inputs refused before Ray starts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import harness
from harness.cli._app import app
from harness.cli._search import print_search
from harness.searching import SearchSettings, run_plan, run_stage
from harness.searching._plan_budget import BudgetSplit
from harness.searching._setup import search_max_epochs, search_trials
from harness.searching._stage import HOURS_ONLY_TRIAL_CAP, budget_trial_cap
from harness.tune import Budget
from search_spaces import ConfigError, load_plan, load_recipe, load_space

BOWL = "harness.testing:log_lr_bowl"
SLOW_BOWL = "harness.testing:slow_log_lr_bowl"  # 0.5 s per epoch


def _settings(**kw) -> SearchSettings:
    base = dict(
        max_epochs=3,
        grace_period=1,
        reduction_factor=2,
        concurrency=2,
        metric="score",
        mode="max",
        trainable=BOWL,
        seed=1,
    )
    base.update(kw)
    if "trials" not in base:
        base["trials"] = search_trials(
            None,
            base.get("budget_epochs"),
            base.get("budget_hours"),
            base["grace_period"],
            base["concurrency"],
        )
    return SearchSettings(**base)


def _tables(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    trials = pd.read_parquet(directory / "trials.parquet")
    curves = pd.read_parquet(directory / "curves.parquet")
    return trials, curves, json.loads((directory / "budget.json").read_text())


# ------------------------------------------------------------------------ refused before Ray


def _refused(args: list[str]) -> str:
    result = CliRunner().invoke(app, ["search", *args])
    assert isinstance(result.exception, ConfigError), (result.output, result.exception)
    return str(result.exception)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--budget-epochs", "0"], ["--budget-epochs", ">= 1", "got 0"]),
        (["--budget-hours", "-1"], ["--budget-hours", "positive", "got -1"]),
        (["--budget-hours", "nan"], ["--budget-hours", "positive"]),
        (
            ["--budget-epochs", "2", "--grace-period", "3", "--max-epochs", "4"],
            ["--budget-epochs 2", "--grace-period 3", "at least 3"],
        ),
        (
            ["--set", "optim.epochs=10", "--max-epochs", "52"],
            ["--set optim.epochs=10", "--max-epochs 52", "disagree"],
        ),
    ],
)
def test_bad_budgets_and_conflicting_epochs_are_refused_naming_the_option(args, words):
    message = _refused(["--space", "lr", "--trainable", BOWL, "--metric", "score", *args])
    for word in words:
        assert word in message, message


def test_max_epochs_does_not_apply_to_a_plan():
    message = _refused(["--plan", "staged", "--max-epochs", "5"])
    assert "--max-epochs 5 does not apply to --plan" in message


def test_optim_epochs_alone_sets_the_trials_length():
    assert search_max_epochs(None, ["optim.epochs=7"], plan=False) == 7
    assert search_max_epochs(7, ["optim.epochs=7"], plan=False) == 7  # the same: no conflict
    assert search_max_epochs(5, [], plan=False) == 5
    assert search_max_epochs(None, [], plan=False) == 12
    with pytest.raises(ConfigError, match=r"optim\.epochs") as err:
        search_max_epochs(None, ["optim.epochs=0"], plan=False)
    assert err.value.param == "set"  # the command line names it --set


def test_trials_default_to_what_the_budget_can_pay_for():
    assert search_trials(None, None, None, 2, 2) == 24
    assert search_trials(5, 100, None, 2, 2) == 5  # given: an upper bound, kept
    # every trial trains at least its grace period: 100 / 2, plus the trials in flight
    assert search_trials(None, 100, None, 2, 2) == budget_trial_cap(100, 2, 2) == 52
    assert search_trials(None, None, 1.5, 2, 2) == HOURS_ONLY_TRIAL_CAP


def test_a_plan_split_follows_nominal_cost_and_carries_what_a_stage_leaves(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "stages:\n"
        "  - {name: a, space: lr, trials: 6, max_epochs: 3, grace_period: 1}\n"  # cost 18
        "  - {name: b, space: lr, trials: 4, max_epochs: 3, grace_period: 2}\n"  # cost 12
        "  - {name: v, seeds: 2, max_epochs: 3, inherit: best}\n"  # cost 6
    )
    plan, recipe = load_plan(tmp_path / "p.yaml"), load_recipe("cpu_demo")
    split = BudgetSplit(plan, recipe, Budget(epochs=72, hours=3.6))
    assert split.costs == [18, 12, 6]
    assert split.shares() == [36, 24, 12]
    assert split.allowance(0, 0, 0.0) == (36, pytest.approx(1.8))
    # stage a spent 30 of its 36: stage b may spend its own 24 and the 6 left
    assert split.allowance(1, 30, 1.0) == (30, pytest.approx(2.0))
    assert split.allowance(2, 60, 3.0) == (12, pytest.approx(0.6))
    split.check("p")
    # 3 epochs: stage b's share (1) is less than its grace period (2)
    with pytest.raises(ConfigError, match=r"stage 'b' would get 1 epoch.*grace period"):
        BudgetSplit(plan, recipe, Budget(epochs=3)).check("p")
    # 5 epochs: the validation stage's share (1) cannot train one seed for its 3 epochs
    with pytest.raises(ConfigError) as err:
        BudgetSplit(plan, recipe, Budget(epochs=5)).check("p")
    message = str(err.value)
    # the library names the parameter; the command line maps it to --budget-epochs
    assert err.value.param == "budget_epochs"
    assert "budget_epochs 5 is too small for plan p" in message
    assert "stage 'v' would get 1 epoch" in message and "one seed at full length" in message
    least = int(message.rsplit("budget_epochs ", 1)[1])
    BudgetSplit(plan, recipe, Budget(epochs=least)).check("p")  # the least it names suffices
    with pytest.raises(ConfigError):
        BudgetSplit(plan, recipe, Budget(epochs=least - 1)).check("p")


# ------------------------------------------------------------------------------ real runs


@pytest.mark.slow
@pytest.mark.ray
def test_an_epoch_budget_stops_the_search_and_spec_records_what_was_used(ray_session, tmp_path):
    settings = _settings(budget_epochs=10, max_epochs=3)
    assert settings.trials == 12  # 10 / grace 1 + concurrency 2: the budget ends it first
    console = Console(record=True, width=200)
    result = harness.search(
        "lr",
        recipe="cpu_demo",  # optim.epochs 20: each trial runs max_epochs 3
        max_epochs=3,
        grace_period=1,
        reduction_factor=2,
        concurrency=2,
        metric="score",
        mode="max",
        trainable=BOWL,
        seed=1,
        budget_epochs=10,
        name="epochs",
        runs_dir=tmp_path,
        console=console,
    )
    assert not result.interrupted and result.settings == settings
    printed = Console(record=True, width=200)
    assert print_search(result, printed) == 0
    run = tmp_path / "epochs"
    trials, curves, record = _tables(run)
    # the budget is reached, and exceeded by no more than one epoch per trial in flight
    assert 10 <= len(curves) <= 10 + settings.concurrency
    assert record["epochs_used"] == len(curves) and record["exhausted"] is True
    assert record["hours_used"] == pytest.approx(trials["wall_time_s"].sum() / 3600, abs=1e-5)
    assert len(trials) < settings.trials  # stopped by the budget, not by the trial count
    assert not curves.duplicated(["trial_id", "epoch"]).any()
    # the trials the budget stopped keep the epochs they finished; none is left running
    assert set(trials["status"]) <= {"completed", "pruned"}
    stopped = trials[trials["trial_id"].isin(record["stopped_trials"])]
    assert (stopped["status"] == "pruned").all()
    spec = json.loads((run / "spec.json").read_text())
    assert spec["compute_budget"]["epochs"] == 10
    assert spec["compute_budget"]["epochs_used"] == len(curves)
    assert spec["settings"]["budget_epochs"] == 10
    assert spec["recipe"]["optim"]["epochs"] == 3  # what ran, not the recipe's 20
    assert f"budget: {len(curves)} of 10 epochs" in printed.export_text()
    assert result.budget == record


@pytest.mark.slow
@pytest.mark.ray
def test_an_hours_budget_counts_the_trials_own_time(ray_session, tmp_path):
    hours = 2.5 / 3600  # 2.5 s of trial time: about five epochs of 0.5 s
    settings = _settings(budget_hours=hours, trainable=SLOW_BOWL, max_epochs=4)
    result = run_stage(
        tmp_path / "hours", load_space("lr"), load_recipe("cpu_demo"), settings, console=None
    )
    trials, curves, record = _tables(tmp_path / "hours")
    assert result.budget == record and record["exhausted"] is True
    used = trials["wall_time_s"].sum()
    assert record["hours_used"] == pytest.approx(used / 3600, abs=1e-5)
    # spent, and over by no more than the report that spent it (one epoch of about 0.5 s)
    assert 2.5 <= used <= 2.5 + 2.0
    assert record["epochs_used"] == len(curves) < 2 * 4


@pytest.mark.slow
@pytest.mark.ray
def test_resume_counts_the_epochs_spent_before(ray_session, tmp_path, interrupted_at):
    directory = tmp_path / "resumed"
    settings = _settings(budget_epochs=12, trainable=SLOW_BOWL, max_epochs=3)
    space, recipe = load_space("lr"), load_recipe("cpu_demo")
    with interrupted_at(directory / "trials.parquet", 1):
        first = run_stage(directory, space, recipe, settings, console=None)
    assert first.interrupted
    before = first.budget["epochs_used"]
    assert 1 <= before < 12
    kept = first.trials[first.trials["status"].isin(["completed", "pruned"])]

    second = run_stage(directory, space, recipe, settings, console=None, resume=True)
    assert not second.interrupted
    trials, curves, record = _tables(directory)
    # one budget for both drivers: the resumed run spent only what was left
    assert 12 <= record["epochs_used"] == len(curves) <= 12 + settings.concurrency
    assert not curves.duplicated(["trial_id", "epoch"]).any()
    assert set(kept["trial_id"]) <= set(trials["trial_id"])

    # resumed once more with the budget spent: nothing runs, nothing is counted twice
    third = run_stage(directory, space, recipe, settings, console=None, resume=True)
    assert third.budget["epochs_used"] == record["epochs_used"]
    assert len(third.trials) == len(trials)


@pytest.mark.slow
@pytest.mark.ray
def test_a_plan_splits_the_budget_across_its_stages(ray_session, tmp_path):
    (tmp_path / "plan.yaml").write_text(
        "stages:\n"
        "  - {name: coarse, space: lr, trials: 6, max_epochs: 3, grace_period: 1,"
        " reduction_factor: 2}\n"
        "  - {name: focused, space: lr, trials: 4, max_epochs: 3, grace_period: 1,"
        " reduction_factor: 2, narrow: {top_fraction: 0.5, min_trials: 2}}\n"
    )
    plan = load_plan(tmp_path / "plan.yaml")
    settings = _settings(budget_epochs=10)
    run_dir = tmp_path / "plan"
    run_dir.mkdir()
    result = run_plan(run_dir, plan, load_recipe("cpu_demo"), settings, console=Console(quiet=True))
    assert not result.interrupted
    record = json.loads((run_dir / "budget.json").read_text())
    coarse, focused = record["stages"]
    # nominal costs 18 and 12 of 30: the first stage may spend 6 of the 10 epochs
    assert (coarse["nominal_epochs"], focused["nominal_epochs"]) == (18, 12)
    assert coarse["allowance_epochs"] == 6
    # ... and the second what is left of the whole after the first
    assert focused["allowance_epochs"] == 10 - coarse["epochs_used"]
    for stage, name in ((coarse, "01-coarse"), (focused, "02-focused")):
        _, curves, own = _tables(run_dir / name)
        assert stage["epochs_used"] == own["epochs_used"] == len(curves)
        assert stage["epochs_used"] <= stage["allowance_epochs"] + settings.concurrency
    assert record["epochs_used"] == coarse["epochs_used"] + focused["epochs_used"]
    assert record["epochs_used"] <= 10 + settings.concurrency
