"""Contract test of the adapter that holds every access to Ray's and Optuna's private attributes.

Each function of ``harness.tune._ray_compat`` is exercised against the installed Ray on a real
(tiny) Tuner run. When a Ray release moves one of these internals, this test names it; the Ray
versions it passed on are ``TESTED_RAY``, and ``pyproject.toml`` caps Ray below the next minor.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import ClassVar

import optuna
import pytest

from harness.tune import (
    STATUS_KEY,
    TESTED_RAY,
    HarnessOptunaSearch,
    build_searcher,
    make_sampler,
    records_from_result_grid,
)
from harness.tune import _ray_compat as compat

REPO = Path(__file__).resolve().parents[3]


def _objective(config: dict) -> None:
    from ray import tune

    for epoch in (1, 2):
        tune.report({"score": -((config["x"] - 0.3) ** 2) * epoch, "epoch": epoch})
    tune.report({"score": -((config["x"] - 0.3) ** 2) * 2, "epoch": 2, STATUS_KEY: "completed"})


def _define(trial: optuna.Trial) -> None:
    trial.suggest_float("x", 0.0, 1.0)


def _tuner(directory: Path):
    from ray import tune

    searcher = build_searcher(
        _define,
        metric="score",
        mode="max",
        sampler=make_sampler("tpe", seed=0),
        max_epochs=2,
        concurrency=1,
        study_name="contract",
    )
    return tune.Tuner(
        _objective,
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=3, reuse_actors=True),
        run_config=tune.RunConfig(name=directory.name, storage_path=str(directory.parent)),
    )


@pytest.fixture(scope="module")
def finished_run(ray_session, tmp_path_factory):
    directory = tmp_path_factory.mktemp("compat") / "exp"
    tuner = _tuner(directory)
    grid = tuner.fit()
    return directory, tuner, grid


def test_the_installed_ray_is_a_tested_version_and_pyproject_caps_the_next_minor():
    import ray

    major, minor = ray.__version__.split(".")[:2]
    assert f"{major}.{minor}" in TESTED_RAY, f"Ray {ray.__version__}: run this contract first"
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if d.startswith("ray"))
    newest = max(TESTED_RAY, key=lambda v: tuple(map(int, v.split("."))))
    nmajor, nminor = map(int, newest.split("."))
    assert re.search(rf"<\s*{nmajor}\.{nminor + 1}\b", spec), spec


def test_the_searcher_inside_a_tuner_and_its_study(finished_run):
    _, tuner, grid = finished_run
    search = compat.tuner_search_alg(tuner)
    assert isinstance(search, HarnessOptunaSearch)  # the ConcurrencyLimiter is unwrapped
    study = compat.optuna_study(search)
    assert isinstance(study, optuna.Study) and study is search.study
    ids = {r.metrics["trial_id"] for r in grid}
    assert compat.completed_trial_ids(search) == ids
    for trial_id in ids:
        assert isinstance(compat.optuna_trial(search, trial_id), optuna.Trial)
    assert compat.optuna_trial(search, "no-such-trial") is None
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 3
    # the intermediate values went in through optuna_trial(...).report
    assert all(sorted(t.intermediate_values) == [1, 2] for t in study.trials)


def test_trial_states_behind_a_result_grid_and_ray_s_snapshot(finished_run):
    directory, _, grid = finished_run
    states = compat.result_grid_trial_states(grid)
    assert set(states) == {r.metrics["trial_id"] for r in grid}
    assert set(states.values()) == {"TERMINATED"}
    assert all(rec.done for rec in records_from_result_grid(grid))
    assert compat.snapshot_finished_trial_ids(directory) == set(states)


def test_a_restored_tuner_gets_new_callbacks(finished_run):
    from ray import tune

    directory, _, _ = finished_run

    class Marker(tune.Callback):
        calls: ClassVar[list[str]] = []

        def setup(self, **info) -> None:
            Marker.calls.append("setup")

        def on_experiment_end(self, trials, **info) -> None:
            Marker.calls.append(f"end:{len(trials)}")

    restored = tune.Tuner.restore(str(directory), trainable=_objective, resume_unfinished=True)
    compat.set_restored_callbacks(restored, [Marker()])
    assert isinstance(compat.tuner_search_alg(restored), HarnessOptunaSearch)
    restored.fit()  # nothing is unfinished: the new callback sees the restored experiment
    assert Marker.calls == ["setup", "end:3"]
