"""Trial failures of our own kinds are statuses of a real search, not crashes of it; a trial
resumes exactly from its per-epoch state; fault injection is off by default and out of reach of a
search space."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest
from rich.console import Console

import harness
from harness.cli._search import print_search
from harness.searching import SearchSettings
from harness.tune import FAULT_ENV as HARNESS_FAULT_ENV
from search_spaces import ConfigError, apply_overrides, load_recipe, load_space
from trials import run_trial
from trials.train._faults import FAULT_ENV, parse_fault

GIB16 = 16 * 2**30


def _corrupt_copy(src, dst):
    """Six real soybean-rust pairs plus one truncated JPEG."""
    (dst / "images").mkdir(parents=True)
    (dst / "masks").mkdir()
    for i in range(1, 8):
        (dst / "images" / f"image{i}.jpeg").write_bytes(
            (src / "images" / f"image{i}.jpeg").read_bytes()
        )
        (dst / "masks" / f"image{i}.png").write_bytes(
            (src / "masks" / f"image{i}.png").read_bytes()
        )
    data = (dst / "images" / "image7.jpeg").read_bytes()
    (dst / "images" / "image7.jpeg").write_bytes(data[: len(data) // 3])


def _grid_search(tmp_path, space: str, overrides: dict, trials: int) -> tuple[pd.DataFrame, str]:
    """A grid search of cpu_demo with ``overrides`` in the test session's Ray, through the
    Python API; its trial table and what ``harness search`` prints at its end."""
    (tmp_path / "space.yaml").write_text(space)
    console = Console(record=True, width=200)
    result = harness.search(
        str(tmp_path / "space.yaml"),
        recipe="cpu_demo",
        set={**overrides, "optim.epochs": 1},  # every trial trains max_epochs
        trials=trials,
        max_epochs=1,
        grace_period=1,
        concurrency=2,
        sampler="grid",
        name="statuses",
        runs_dir=tmp_path / "runs",
        console=console,
    )
    assert print_search(result, console) == 0
    trials_table = pd.read_parquet(tmp_path / "runs" / "statuses" / "trials.parquet")
    assert len(trials_table) == trials and trials_table["trial_id"].is_unique
    return trials_table, console.export_text()


def _outcomes(trials: pd.DataFrame, **where) -> list[tuple[str, int]]:
    rows = trials
    for path, value in where.items():
        rows = rows[rows[path.replace("__", ".")] == value]
    return sorted(zip(rows["status"], rows["attempts"], strict=True))


def test_bad_data_and_divergence_are_statuses_of_a_search_that_completes(
    ray_session, tmp_path, soybean_root, tiny_overrides
):
    # A corrupt image in a copy of the real data fails `on_bad_sample: error` (data_error); a
    # weight decay of 1e30 makes AdamW's decoupled decay multiply the weights by about -1e25 at
    # each step, so the loss is NaN at step 2 (diverged). The base (skip, 1e-4) completes.
    _corrupt_copy(soybean_root, tmp_path / "data")
    recipe = {
        **tiny_overrides,
        "data.root": str(tmp_path / "data"),
        "data.max_image_side": 128,
        "data.on_bad_sample": "skip",
        "data.batch_size": 4,
    }
    space = (
        "params:\n"
        "  data.on_bad_sample: {type: categorical, choices: [skip, error]}\n"
        "  optim.weight_decay: {type: categorical, choices: [0.0001, 1.0e30]}\n"
    )
    trials, text = _grid_search(tmp_path, space, recipe, 4)
    assert _outcomes(trials, data__on_bad_sample="error") == [("data_error", 1)] * 2
    assert _outcomes(trials, data__on_bad_sample="skip", optim__weight_decay=1e30) == [
        ("diverged", 1)
    ]
    assert _outcomes(trials, data__on_bad_sample="skip", optim__weight_decay=1e-4) == [
        ("completed", 1)
    ]
    errors = dict(zip(trials["status"], trials["error"], strict=False))
    assert "image7.jpeg" in errors["data_error"]
    assert "loss is nan at epoch 1, step 2" in errors["diverged"]
    assert "trials: completed 1, diverged 1, data_error 2 (of 4)" in text


@pytest.mark.slow
@pytest.mark.ray
def test_memory_cap_and_oom_are_statuses_and_the_oom_retry_is_a_second_attempt(
    ray_session, tmp_path, tiny_overrides, monkeypatch
):
    # A 1 MiB RSS cap is passed at the first step (memory_cap). A CUDA OOM cannot happen on a
    # CPU: under the 16 GiB cap one is injected at epoch 1 (the driver's environment; the harness
    # carries it to the workers), which ends the trial (oom) or, with oom_retry, is followed by a
    # second attempt of the same trial at half batch and double accumulation, which completes.
    monkeypatch.setenv(FAULT_ENV, f"oom@epoch=1,memory.cap={GIB16}")
    recipe = tiny_overrides
    space = (
        "params:\n"
        f"  memory.cap: {{type: categorical, choices: [1048576, {GIB16}]}}\n"
        "  memory.oom_retry: {type: categorical, choices: [true, false]}\n"
    )
    trials, text = _grid_search(tmp_path, space, recipe, 4)
    assert _outcomes(trials, memory__cap=2**20) == [("memory_cap", 1)] * 2
    assert _outcomes(trials, memory__cap=GIB16, memory__oom_retry=False) == [("oom", 1)]
    assert _outcomes(trials, memory__cap=GIB16, memory__oom_retry=True) == [("completed", 2)]
    errors = dict(zip(trials["status"], trials["error"], strict=False))
    assert "memory cap exceeded" in errors["memory_cap"]
    assert f"injected by {FAULT_ENV}" in errors["oom"]
    curves = pd.read_parquet(tmp_path / "runs" / "statuses" / "curves.parquet")
    retried = trials.loc[trials["attempts"] == 2, "trial_id"].item()
    assert curves.loc[curves["trial_id"] == retried, "attempt"].tolist() == [2.0]
    assert (
        "trials: completed 1, memory_cap 2, oom 1 (of 4); 1 retried after an OOM at half "
        "batch size" in text
    )


def test_a_resumed_trial_continues_at_the_next_epoch_with_the_same_result(tiny_overrides):
    recipe = load_recipe("cpu_demo", {**tiny_overrides, "optim.epochs": 2})
    full: list[tuple[int, float]] = []
    run_trial(recipe, lambda e, m: full.append((e, m["train_loss"], m["iou_lesion"])))

    class Killed(Exception):
        pass

    saved: dict[int, bytes] = {}

    def checkpoint(epoch, state):
        saved[epoch] = pickle.dumps(state)
        if epoch == 1:
            raise Killed  # the process dies right after epoch 1 was saved

    with pytest.raises(Killed):
        run_trial(recipe, None, checkpoint_fn=checkpoint)
    resumed: list[tuple[int, float]] = []
    summary = run_trial(
        recipe,
        lambda e, m: resumed.append((e, m["train_loss"], m["iou_lesion"])),
        resume_state=pickle.loads(saved[1]),
    )
    # epoch 2 exactly as in the uninterrupted run: same batches, same weights
    assert resumed == full[1:]
    assert summary.status == "completed" and summary.epochs == 2 and len(summary.attempts) == 1


def test_fault_injection_is_off_by_default_and_parsed_strictly(monkeypatch):
    monkeypatch.delenv(FAULT_ENV, raising=False)
    assert parse_fault() is None
    assert HARNESS_FAULT_ENV == FAULT_ENV  # the harness carries the same variable to workers
    fault = parse_fault("oom@epoch=2,memory.cap=1024")
    assert (fault.kind, fault.epoch, fault.when) == ("oom", 2, {"memory.cap": 1024})
    assert fault.applies({"memory.cap": 1024}) and not fault.applies({"memory.cap": 2048})
    for bad in ("oom", "segfault@epoch=1", "oom@epoch=0", "oom@memory.cap=1"):
        with pytest.raises(ConfigError, match=FAULT_ENV):
            parse_fault(bad)


@pytest.mark.parametrize("path", ["HARNESS_FAULT_INJECT", "faults.inject", "memory.fault"])
def test_a_search_space_cannot_switch_fault_injection_on(tmp_path, path):
    # spaces (and --set) name recipe paths only, and the recipe has no field for faults
    (tmp_path / "space.yaml").write_text(
        f"params:\n  {path}: {{type: categorical, choices: ['oom@epoch=1']}}\n"
    )
    with pytest.raises(ConfigError, match=path.split(".")[0]):
        load_space(tmp_path / "space.yaml")
    with pytest.raises(ConfigError):
        apply_overrides(load_recipe("cpu_demo"), {path: "oom@epoch=1"}, source="--set")


def test_an_exception_in_a_trial_is_an_error_status_and_is_not_retried(ray_session, tmp_path):
    from harness.searching import run_stage

    settings = SearchSettings(
        trials=1,
        max_epochs=3,
        grace_period=3,
        concurrency=1,
        metric="score",
        trainable="harness.testing:failing_after_one_epoch",
    )
    space = load_space("lr")
    result = run_stage(tmp_path / "bug", space, load_recipe("cpu_demo"), settings, console=None)
    (row,) = result.trials.to_dict("records")
    assert row["status"] == "error" and row["epochs"] == 1
    assert row["error"] == "RuntimeError: a bug after epoch 1"
    # max_failures (2) restarts dead workers and nodes, not a trial that raised
    starts = (tmp_path / "bug" / f"trial_{row['trial_id']}" / "starts.txt").read_text()
    assert starts.splitlines() == ["start"]
