"""Loading experiment directories (search and plan layouts), choosing the fidelity, and errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import choose_fidelity, load_experiment, resolve_metric
from search_spaces import ConfigError


def _mixed_params(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "optim.lr": np.geomspace(1e-5, 1e-3, n),
            "model.attention.type": (["esca", "cbam", "se", "none"] * n)[:n],
            "data.batch_size": ([1, 2, 4, 8] * n)[:n],
            "data.amp": ([True, False] * n)[:n],
        }
    )


def test_single_search_layout(tmp_path, tables, write_search):
    params = _mixed_params(6)
    values = np.array([[0.1, 0.2, 0.3]] * 4 + [[0.1, np.nan, np.nan]] * 2)
    trials, curves = tables(params, values, metric="iou_lesion")
    directory = write_search(tmp_path / "s", trials, curves, metric="iou_lesion", mode="max")

    exp = load_experiment(directory)

    assert exp.kind == "search" and exp.name == "s" and exp.stages == []
    assert (exp.metric, exp.mode) == ("iou_lesion", "max")
    # no space recorded: every column but outcomes (raw.*, final.*, best.*, costs) is a parameter
    assert exp.params == ["optim.lr", "model.attention.type", "data.batch_size", "data.amp"]
    assert pd.api.types.is_float_dtype(exp.trials["optim.lr"])
    assert pd.api.types.is_integer_dtype(exp.trials["data.batch_size"])
    assert exp.trials["data.amp"].tolist() == ["True", "False"] * 3
    assert exp.trials["model.attention.type"].iloc[3] == "none"
    assert list(exp.curves.columns[:3]) == ["trial_id", "epoch", "iou_lesion"]
    assert exp.keys == ["trial_id"]
    assert len(exp.curves) == 4 * 3 + 2


def test_plan_layout_loads_every_stage_with_a_stage_column(tmp_path, tables, write_plan):
    coarse = tables(_mixed_params(4), np.full((4, 2), 0.5))
    # the same trial ids in both stages: rows must still be told apart by stage
    focused = tables(_mixed_params(3), np.full((3, 2), 0.7))
    directory = write_plan(tmp_path / "p", {"coarse": coarse, "focused": focused})

    exp = load_experiment(directory)

    assert exp.kind == "plan" and exp.stages == ["01-coarse", "02-focused"]
    assert exp.keys == ["stage", "trial_id"]
    assert exp.trials.groupby("stage").size().to_dict() == {"01-coarse": 4, "02-focused": 3}
    assert exp.curves.groupby("stage").size().to_dict() == {"01-coarse": 8, "02-focused": 6}
    fid = choose_fidelity(exp)
    assert fid.n_used == 7  # too few for a reliable ranking: the epoch that 90% reached
    assert sorted(fid.table["value"].round(3)) == [0.5] * 4 + [0.7] * 3
    assert "the highest epoch that 7 of the 7 trials with a value reached (90%)" in fid.rule

    focused_only = exp.only_stage("focused")
    assert len(focused_only.trials) == 3 and focused_only.stages == ["02-focused"]
    with pytest.raises(ConfigError, match="01-coarse, 02-focused"):
        exp.only_stage("nope")

    # one stage folder on its own loads as a search, with the plan's settings
    stage = load_experiment(directory / "02-focused")
    assert stage.kind == "search" and len(stage.trials) == 3 and stage.metric == "score"


def test_bad_paths_name_the_path_and_the_expected_files(tmp_path, tables, write_search):
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match="nowhere does not exist"):
        load_experiment(missing)

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(ConfigError) as info:
        load_experiment(empty)
    message = str(info.value)
    assert str(empty) in message and "trials.parquet" in message and "curves.parquet" in message
    assert "01-coarse" in message and "notes.txt" in message

    a_file = tmp_path / "file.json"
    a_file.write_text("{}")
    with pytest.raises(ConfigError, match="is a file"):
        load_experiment(a_file)

    trials, curves = tables(_mixed_params(2), np.ones((2, 1)))
    no_rows = write_search(tmp_path / "none", trials.iloc[0:0], curves.iloc[0:0])
    with pytest.raises(ConfigError, match="holds no trials"):
        load_experiment(no_rows)

    broken = write_search(tmp_path / "broken", trials, curves)
    (broken / "spec.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"spec\.json"):
        load_experiment(broken)


def test_fidelity_default_epoch_leaves_out_stopped_trials(tmp_path, tables, write_search):
    # 30 trials: 5 reach epoch 4, 3 more reach epoch 3, 8 more reach epoch 2, the rest stop at 1.
    reached = [4] * 5 + [3] * 3 + [2] * 8 + [1] * 14
    values = np.full((30, 4), np.nan)
    for i, r in enumerate(reached):
        values[i, :r] = np.arange(1, r + 1) / 10 + i / 1000
    params = pd.DataFrame({"p.a": np.arange(30.0)})
    trials, curves = tables(params, values)
    exp = load_experiment(write_search(tmp_path / "s", trials, curves))

    fid = choose_fidelity(exp)

    # a reliable ranking of 1 parameter needs 15 trials: epoch 3 has 8, epoch 2 has 16
    assert fid.epoch == 2 and fid.n_used == 16 and fid.n_trials_total == 30
    assert fid.source == "curves" and fid.metric == "score"
    np.testing.assert_allclose(
        sorted(fid.table["value"]), sorted(0.2 + np.arange(16) / 1000), atol=1e-12
    )
    assert "14 stopped before epoch 2 are left out, not counted as bad" in fid.rule
    assert set(fid.table.columns) >= {"trial_id", "status", "p.a", "value"}

    assert choose_fidelity(exp, epoch=4).n_used == 5
    with pytest.raises(ConfigError, match=r"epoch 9.*1 to 4"):
        choose_fidelity(exp, epoch=9)
    with pytest.raises(ConfigError, match="whole number"):
        choose_fidelity(exp, epoch=0)


def test_metric_lookup_and_trial_level_outcomes(tmp_path, tables, write_search):
    params = pd.DataFrame({"data.batch_size": [1, 2, 4, 8]})
    trials, curves = tables(
        params,
        np.array([[0.1, 0.2], [0.1, np.nan], [0.3, 0.4], [0.2, 0.5]]),
        extra_trial_columns={"peak_memory_bytes": [1e9, 2e9, np.nan, 8e9]},
    )
    exp = load_experiment(write_search(tmp_path / "s", trials, curves))

    assert resolve_metric(exp) == ("curves", "score")
    assert resolve_metric(exp, "train_loss") == ("curves", "train_loss")
    assert resolve_metric(exp, "peak_memory_bytes") == ("trials", "peak_memory_bytes")
    assert resolve_metric(exp, "images_per_s") == ("trials", "images_per_s")
    assert resolve_metric(exp, "best.score") == ("trials", "best.score")

    fid = choose_fidelity(exp, "peak_memory_bytes")
    assert fid.source == "trials" and fid.epoch is None and fid.n_used == 3
    assert fid.table["value"].tolist() == [1e9, 2e9, 8e9]
    assert "once per trial" in fid.rule
    assert choose_fidelity(exp, "peak_memory_bytes", epoch=2).n_used == 2

    with pytest.raises(ConfigError) as info:
        choose_fidelity(exp, "nope")
    assert "train_loss" in str(info.value) and "peak_memory_bytes" in str(info.value)


def test_spec_without_settings_assumes_the_default_metric(tmp_path, tables, write_search):
    trials, curves = tables(pd.DataFrame({"p.a": [1.0, 2.0]}), np.ones((2, 1)), metric="iou_lesion")
    directory = write_search(tmp_path / "s", trials, curves)
    (directory / "spec.json").write_text(json.dumps({"command": "train"}))

    exp = load_experiment(directory)

    assert (exp.metric, exp.mode) == ("iou_lesion", "max")
    assert any("assuming iou_lesion" in note for note in exp.notes)


# --- which columns are parameters -----------------------------------------------------------


def _space_search(tmp_path, tables, write_search, space=None, extra=None, metric="score"):
    """Six trials of two epochs with parameters lr (dotless), loss.weights.{boundary,dice} and
    a column extra.col; ``space`` is recorded in spec.json when given."""
    params = pd.DataFrame(
        {
            "lr": np.geomspace(1e-4, 1e-2, 6),
            "loss.weights.boundary": np.linspace(0.1, 0.6, 6),
            "loss.weights.dice": np.linspace(0.9, 0.4, 6),
            "extra.col": [1, 2, 3, 4, 5, 6],
        }
    )
    trials, curves = tables(params, np.full((6, 2), 0.5), extra_trial_columns=extra)
    spec_extra = {"space_definition": space} if space is not None else None
    return write_search(tmp_path / "s", trials, curves, metric=metric, spec_extra=spec_extra)


def test_without_a_recorded_space_every_non_outcome_column_is_a_parameter(
    tmp_path, tables, write_search
):
    directory = _space_search(tmp_path, tables, write_search)

    exp = load_experiment(directory)

    # a dotless parameter counts; trial_id, status, raw.*, epochs, final.*, best.*, costs do not
    assert exp.params == ["lr", "loss.weights.boundary", "loss.weights.dice", "extra.col"]
    assert exp.param_source == "inferred: every column that is not an outcome"


def test_a_dotted_outcome_column_is_never_a_parameter(tmp_path, tables, write_search):
    # val.f_noisy reported per epoch (a column of curves.parquet) and copied into trials
    params = pd.DataFrame({"optim.lr": [0.1, 0.2, 0.3], "width": [8, 16, 32]})
    trials, curves = tables(params, np.full((3, 2), 0.4), metric="val.f_noisy")
    trials["val.f_noisy"] = 0.4
    exp = load_experiment(write_search(tmp_path / "a", trials, curves, metric="val.f_noisy"))
    assert exp.params == ["optim.lr", "width"]

    # val.f_noisy only in trials.parquet, but it is the metric spec.json names
    trials, curves = tables(params, np.full((3, 2), 0.4), metric="score")
    trials["val.f_noisy"] = 0.4
    exp = load_experiment(write_search(tmp_path / "b", trials, curves, metric="val.f_noisy"))
    assert exp.params == ["optim.lr", "width"]


def test_the_recorded_space_decides_and_a_simplex_is_one_column_per_component(
    tmp_path, tables, write_search
):
    space = {
        "name": "s",
        "params": {
            "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "loss.weights": {
                "type": "simplex",
                "total": 1.0,
                "components": {"boundary": [0.1, 0.6], "dice": [0.4, 0.9]},
            },
            "optim.momentum": {"type": "float", "low": 0.8, "high": 0.99},
        },
    }
    exp = load_experiment(_space_search(tmp_path, tables, write_search, space=space))

    # extra.col is not in the space: not a parameter; optim.momentum has no column: a note
    assert exp.params == ["lr", "loss.weights.boundary", "loss.weights.dice"]
    assert exp.param_source == "spec.json space"
    assert any("optim.momentum" in note and "not a column" in note for note in exp.notes)


def test_a_plan_takes_the_union_of_its_stages_spaces_and_their_longest_run(
    tmp_path, tables, write_plan
):
    coarse = tables(
        pd.DataFrame({"lr": [0.1, 0.2], "wd": [0.0, 0.1], "x.y": [1, 2]}), np.ones((2, 2))
    )
    focused = tables(
        pd.DataFrame({"lr": [0.1, 0.2], "wd": [0.0, 0.1], "x.y": [1, 2]}), np.ones((2, 2))
    )
    directory = write_plan(tmp_path / "p", {"coarse": coarse, "focused": focused})
    for stage, key, epochs in (("01-coarse", "lr", 4), ("02-focused", "wd", 9)):
        spec = {
            "settings": {"metric": "score", "max_epochs": epochs},
            "space_definition": {"name": stage, "params": {key: {"type": "float"}}},
        }
        (directory / stage / "spec.json").write_text(json.dumps(spec))

    exp = load_experiment(directory)

    assert exp.params == ["lr", "wd"] and exp.param_source == "spec.json space"
    assert exp.max_epochs == 9


def test_explicit_params_win_and_are_checked(tmp_path, tables, write_search):
    space = {"name": "s", "params": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2}}}
    # score: the per-epoch metric of curves.parquet, also copied into trials.parquet
    directory = _space_search(tmp_path, tables, write_search, space=space, extra={"score": 0.5})

    exp = load_experiment(directory, params=["extra.col", "lr"])
    assert exp.params == ["extra.col", "lr"] and exp.param_source == "--params"
    assert pd.api.types.is_numeric_dtype(exp.trials["extra.col"])  # numeric stays numeric

    with pytest.raises(ConfigError) as info:
        load_experiment(directory, params=["lr", "optim.nope"])
    message = str(info.value)
    assert "optim.nope" in message and "loss.weights.dice" in message  # the columns listed
    assert "lr," not in message.split(";")[0]  # only the missing name is blamed
    assert message.startswith("params: no column") and info.value.param == "params"

    for outcome in ("final.score", "best.score", "raw.lr~u", "epochs", "status", "score"):
        with pytest.raises(ConfigError, match="outcome columns are never parameters") as info:
            load_experiment(directory, params=["lr", outcome])
        assert outcome in str(info.value)
    with pytest.raises(ConfigError, match="names no column"):
        load_experiment(directory, params=[""])
