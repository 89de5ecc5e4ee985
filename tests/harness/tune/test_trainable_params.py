"""The Ray trainable around ``--trainable`` functions: objective parameters reach the function
and the tables, each epoch keeps its report time, the returned summary survives ASHA's stop at
``max_t``, and a module in the working directory can be the trainable.

One real search (module fixture) over harness.testing's toy bowl, whose optimum is known, is
checked from several sides; the CLI tests run the console script in a temporary directory.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from harness.searching import SearchSettings, run_stage
from harness.testing import TOY_OPTIMUM, TOY_SPACE, TOY_START, toy_score
from harness.tune import JOURNAL, STATUS_KEY, TrialRecord, build_tables
from harness.tune._trainable import (
    HELD_EPOCH_KEY,
    REPORT_TIME_KEY,
    SUMMARY_PREFIX,
    effective_config,
    objective_config,
    resolve_trainable,
    takes_params,
)
from search_spaces import ConfigError, load_recipe, load_space

MAX_EPOCHS = 3
# the console script, not `python -m`: it does not put the working directory on sys.path itself
HARNESS = str(Path(sys.executable).with_name("harness"))


@pytest.fixture(scope="module")
def toy_search(ray_session, tmp_path_factory):
    """14 trials of TPE + ASHA (max_t 3, grace 1) over toy.x, toy.y, one at a time (so the
    search is the same on every run)."""
    folder = tmp_path_factory.mktemp("toy")
    (folder / "toy.yaml").write_text(TOY_SPACE)
    space = load_space(folder / "toy.yaml", objective_params=True)
    settings = SearchSettings(
        trials=14,
        max_epochs=MAX_EPOCHS,
        grace_period=1,
        reduction_factor=3,
        concurrency=1,
        seed=0,
        metric="score",
        mode="max",
        trainable="harness.testing:toy_bowl",
    )
    started = time.time()
    result = run_stage(folder / "run", space, load_recipe("cpu_demo"), settings, console=None)
    return result, started, time.time()


def test_the_objective_receives_the_sampled_values_and_the_search_finds_the_optimum(toy_search):
    result, _, _ = toy_search
    trials = result.trials
    assert {"toy.x", "toy.y"} <= set(trials.columns)
    assert not [c for c in trials.columns if c.startswith("raw.")]  # no helper coordinates
    assert set(trials["status"]) <= {"completed", "pruned"}
    # the base configuration first: the space's defaults, the recipe having no value for them
    first = trials.iloc[0]
    assert (first["toy.x"], first["toy.y"]) == (TOY_START["toy.x"], TOY_START["toy.y"])
    # every epoch's score is the bowl at the trial's own toy.x, toy.y (pruned trials too)
    curves = result.curves.merge(trials[["trial_id", "toy.x", "toy.y"]], on="trial_id")
    expected = [
        toy_score(r["toy.x"], r["toy.y"], int(r["epoch"]), MAX_EPOCHS) for _, r in curves.iterrows()
    ]
    assert curves["score"].tolist() == pytest.approx(expected)
    best = result.best
    assert best is not None and best["status"] == "completed"
    distance = math.hypot(
        best["toy.x"] - TOY_OPTIMUM["toy.x"], best["toy.y"] - TOY_OPTIMUM["toy.y"]
    )
    assert distance < 0.35, best  # the base point is 1.2 away; the bowl's maximum is 1
    assert best["final.score"] > 0.85


def test_the_summary_reaches_the_table_although_asha_stops_trials_at_max_t(toy_search):
    trials = toy_search[0].trials
    done = trials[trials["status"] == "completed"]
    assert len(done) >= 3 and (done["epochs"] == MAX_EPOCHS).all()
    # what toy_bowl returned: its own fields, a final metric it never reported per epoch, costs
    assert done["x_received"].tolist() == done["toy.x"].tolist()
    assert done["y_received"].tolist() == done["toy.y"].tolist()
    assert (done["peak_memory_bytes"] == 4096).all()
    distances = [
        math.hypot(x - TOY_OPTIMUM["toy.x"], y - TOY_OPTIMUM["toy.y"])
        for x, y in zip(done["toy.x"], done["toy.y"], strict=True)
    ]
    assert done["final.distance"].tolist() == pytest.approx(distances)
    # a trial the scheduler stopped early never returned: no summary, and nothing made up
    pruned = trials[trials["status"] == "pruned"]
    assert len(pruned) >= 1 and pruned["x_received"].isna().all()
    assert (pruned["epochs"] < MAX_EPOCHS).all()


def test_curves_keep_each_epochs_report_time(toy_search):
    result, started, ended = toy_search
    curves = result.curves
    assert {"timestamp", "time_total_s"} <= set(curves.columns)
    assert curves[["timestamp", "time_total_s"]].notna().all().all()
    assert curves["timestamp"].between(started - 1, ended + 1).all()
    for trial_id, rows in curves.groupby("trial_id"):
        rows = rows.sort_values("epoch")
        assert rows["epoch"].tolist() == list(range(1, len(rows) + 1)), trial_id
        assert rows["timestamp"].is_monotonic_increasing, rows
        assert rows["time_total_s"].is_monotonic_increasing, rows
    # trials ran one at a time here: in report time, one trial's epochs end before the next's
    firsts = curves.groupby("trial_id", sort=False)["timestamp"].agg(["min", "max"])
    order = result.trials["trial_id"].tolist()
    spans = firsts.loc[order]
    assert (spans["min"].iloc[1:].to_numpy() >= spans["max"].iloc[:-1].to_numpy()).all()


def test_the_journal_and_the_report_see_objective_parameters(toy_search):
    from analysis import compute_importance, load_experiment

    result = toy_search[0]
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(result.directory / JOURNAL))
    )
    study = optuna.load_study(study_name=result.directory.name, storage=storage)
    first = study.trials[0]
    assert first.params == {"toy.x": TOY_START["toy.x"], "toy.y": TOY_START["toy.y"]}
    assert set(first.distributions) == {"toy.x", "toy.y"}
    # the space spec.json records (as `harness search` writes it) names the parameters: the
    # summary's x_received and y_received are outcomes, not parameters
    space = load_space(_toy_yaml(result.directory), objective_params=True)
    spec = {"settings": {"metric": "score", "mode": "max"},
            "space_definition": space.model_dump(mode="json")}  # fmt: skip
    (result.directory / "spec.json").write_text(json.dumps(spec))
    exp = load_experiment(result.directory)
    assert exp.params == ["toy.x", "toy.y"] and exp.param_source == "spec.json space"
    report = compute_importance(exp, metric="score", mode="max", bootstrap=20)
    assert set(report.table["parameter"]) == {"toy.x", "toy.y"}
    # results imported without a space: every non-outcome column counts, unless named
    (result.directory / "spec.json").write_text(json.dumps({"settings": spec["settings"]}))
    assert "x_received" in load_experiment(result.directory).params
    explicit = load_experiment(result.directory, params=["toy.x", "toy.y"])
    assert explicit.params == ["toy.x", "toy.y"] and explicit.param_source == "--params"


def _toy_yaml(directory):
    path = directory.parent / "toy-space.yaml"
    path.write_text(TOY_SPACE)
    return path


# -------------------------------------------------------------------------- without Ray


def _takes(recipe, report, *, params=None): ...


def _positional(recipe, report, params): ...


def _kwargs_only(recipe, report, **kwargs): ...


def _star_args(recipe, report, *params): ...


def test_takes_params_needs_a_named_params_argument():
    assert takes_params(_takes) and takes_params(_positional)
    assert takes_params("harness.testing:toy_bowl")
    # **kwargs would swallow them silently, *params is not a keyword
    assert not takes_params(_kwargs_only) and not takes_params(_star_args)
    assert not takes_params("harness.testing:log_lr_bowl")
    with pytest.raises(ConfigError, match="cannot import"):
        takes_params("no_such_module_anywhere:fn")


def test_a_worker_imports_the_trainable_from_the_drivers_directory(tmp_path, monkeypatch):
    driver_dir = tmp_path / "driver"
    driver_dir.mkdir()
    (driver_dir / "elsewhere_bowl.py").write_text(textwrap.dedent(CWD_MODULE))
    monkeypatch.chdir(tmp_path)  # a worker's own working directory is not the driver's
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(ConfigError, match="cannot import 'elsewhere_bowl'"):
        resolve_trainable("elsewhere_bowl:bowl")
    assert resolve_trainable("elsewhere_bowl:bowl", str(driver_dir)).__name__ == "bowl"
    assert sys.path[-1] == str(driver_dir)  # last: it shadows no installed package


def test_a_trial_config_splits_into_recipe_values_and_objective_parameters():
    config = {"optim.lr": 1e-4, "toy.x": 0.1, "loss.weights.boundary~u": 0.3, "seed": 3}
    assert effective_config(config) == {"optim.lr": 1e-4, "seed": 3}
    assert objective_config(config) == {"toy.x": 0.1}


def _epoch(epoch: int, score: float, **extra) -> dict:
    return {"score": score, "epoch": epoch, STATUS_KEY: "running", **extra}


def test_a_held_last_epoch_is_an_epoch_row_and_the_summary_fills_the_trial_row():
    held = {
        **_epoch(2, 0.8, images_per_s=10.0),
        REPORT_TIME_KEY: 1000.5,
        "timestamp": 1001,
        "time_total_s": 2.0,
        HELD_EPOCH_KEY: True,
        f"{SUMMARY_PREFIX}status": "early_stopped",  # the scheduler saw a running epoch
        f"{SUMMARY_PREFIX}final.score": 0.75,  # the epoch's own value wins
        f"{SUMMARY_PREFIX}final.test_score": 0.7,  # never reported per epoch
        f"{SUMMARY_PREFIX}images_per_s": 12.0,  # the whole run's, not the last epoch's
        f"{SUMMARY_PREFIX}n_params": 99.0,
        f"{SUMMARY_PREFIX}epochs": 1.0,  # the table's own column wins
        f"{SUMMARY_PREFIX}device": "cpu",
        "pid": 7,
        "error": "",
        "attempts": 1,
    }
    first = {**_epoch(1, 0.5), "timestamp": 1000, "time_total_s": 1.0}
    rec = TrialRecord("t", {"toy.x": 0.1, "optim.lr": 1e-4}, [first, held])
    trials, curves = build_tables([rec], "score", "max", 2)
    row = trials.iloc[0]
    assert row["status"] == "early_stopped" and row["epochs"] == 2
    assert row["final.score"] == 0.8 and row["final.test_score"] == 0.7
    assert row["images_per_s"] == 12.0 and row["final.images_per_s"] == 10.0
    assert row["n_params"] == 99.0 and row["device"] == "cpu" and row["toy.x"] == 0.1
    assert "pid" not in curves and not [c for c in curves if c.startswith(SUMMARY_PREFIX)]
    assert curves["epoch"].tolist() == [1, 2] and curves["score"].tolist() == [0.5, 0.8]
    # the trainable's sub-second time where it sent one, else Ray's whole seconds
    assert curves["timestamp"].tolist() == [1000.0, 1000.5]
    assert curves["time_total_s"].tolist() == [1.0, 2.0]


def test_a_failure_after_the_last_report_is_the_trials_status_and_keeps_its_last_epoch():
    held = {
        **_epoch(2, 0.8),
        HELD_EPOCH_KEY: True,
        STATUS_KEY: "error",  # not running: Optuna hears of the failure
        f"{SUMMARY_PREFIX}status": "error",
        "error": "ValueError: after the last epoch",
    }
    rec = TrialRecord("t", {"optim.lr": 1e-4}, [_epoch(1, 0.5), held])
    trials, curves = build_tables([rec], "score", "max", 2)
    assert curves["score"].tolist() == [0.5, 0.8]
    assert trials.iloc[0]["status"] == "error"
    assert trials.iloc[0]["error"] == "ValueError: after the last epoch"


def test_a_final_record_of_a_trial_that_ended_itself_is_no_epoch_row():
    final = {"score": 0.9, "epoch": 1, STATUS_KEY: "early_stopped", "peak_memory_bytes": 5.0}
    rec = TrialRecord("t", {"optim.lr": 1e-4}, [_epoch(1, 0.4), final])
    trials, curves = build_tables([rec], "score", "max", 3)
    assert curves["score"].tolist() == [0.4]
    assert trials.iloc[0]["status"] == "early_stopped"
    assert trials.iloc[0]["peak_memory_bytes"] == 5.0  # the record's top level, as before


# ---------------------------------------------------------------------------------- CLI


def _cli(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [HARNESS, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def test_the_default_trainable_refuses_objective_parameters_before_ray_starts(tmp_path):
    (tmp_path / "toy.yaml").write_text(TOY_SPACE)
    res = _cli(["search", "--space", "toy.yaml", "--metric", "score", "--mode", "max"], tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith("error: toy.yaml:3: param 'toy.x': ")
    assert "trials:run_trial does not" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "runs").exists()


CWD_MODULE = """\
import math


def bowl(recipe, report, **_):
    value = 1.0 - (math.log10(recipe.optim.lr) + 4.0) ** 2
    for epoch in range(1, recipe.optim.epochs + 1):
        report(epoch, {"score": value})
    return {"status": "completed", "epochs": recipe.optim.epochs, "final": {"score": value},
            "module_file": __file__}
"""


@pytest.mark.slow
@pytest.mark.ray
def test_a_trainable_module_in_the_working_directory_runs_from_the_cli(tmp_path, ray_session):
    (tmp_path / "cwd_bowl.py").write_text(textwrap.dedent(CWD_MODULE))
    # the test session's Ray instance: its workers were started from elsewhere, so only the
    # driver's working directory, carried to them, makes the module importable there
    address = ray_session.get_runtime_context().gcs_address
    args = ["search", "--space", "lr", "--trainable", "cwd_bowl:bowl", "--metric", "score"]
    args += ["--mode", "max", "--trials", "2", "--max-epochs", "2", "--grace-period", "1"]
    args += ["--concurrency", "1", "--name", "cwd", "--address", address]
    res = _cli(args, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    trials = pd.read_parquet(tmp_path / "runs" / "cwd" / "trials.parquet")
    assert trials["status"].tolist() == ["completed", "completed"]
    # imported in the Ray workers from the driver's working directory, and its summary kept
    assert set(trials["module_file"]) == {str(tmp_path / "cwd_bowl.py")}


@pytest.mark.slow
@pytest.mark.ray
def test_the_cli_searches_objective_parameters_with_a_trainable_that_takes_params(tmp_path):
    (tmp_path / "toy.yaml").write_text(TOY_SPACE)
    args = ["search", "--space", "toy.yaml", "--trainable", "harness.testing:toy_bowl"]
    args += ["--metric", "score", "--mode", "max", "--trials", "3", "--max-epochs", "2"]
    args += ["--grace-period", "1", "--concurrency", "1", "--name", "toy"]
    res = _cli(args, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    trials = pd.read_parquet(tmp_path / "runs" / "toy" / "trials.parquet")
    assert {"toy.x", "toy.y", "x_received"} <= set(trials.columns)
