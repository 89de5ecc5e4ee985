"""The search engine on a real local Ray with a real Optuna study (cheap analytic objectives)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import optuna
import pandas as pd
import pytest

from harness.searching import SearchSettings, run_stage
from harness.searching._sampling import effective_params
from harness.testing import LOG_LR_OPTIMUM
from harness.tune import JOURNAL
from search_spaces import flatten, load_recipe, load_space


def _study(directory: Path) -> optuna.Study:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(directory / JOURNAL)))
    return optuna.load_study(study_name=directory.name, storage=storage)


@pytest.fixture(scope="module")
def lr_search(ray_session, tmp_path_factory):
    settings = SearchSettings(
        trials=24,
        max_epochs=9,
        grace_period=1,
        reduction_factor=3,
        concurrency=2,
        metric="score",
        mode="max",
        trainable="harness.testing:log_lr_bowl",
        seed=3,
    )
    directory = tmp_path_factory.mktemp("runs") / "lr"
    result = run_stage(directory, load_space("lr"), load_recipe("cpu_demo"), settings, console=None)
    return settings, result


def test_tpe_with_asha_finds_the_known_optimum(lr_search):
    settings, result = lr_search
    assert len(result.trials) == settings.trials
    best = result.best
    # score = 1 - (log10 lr + 3.7)^2 at full budget: within 0.25 decades of the optimum means
    # a full-budget score above 1 - 0.25^2.
    assert abs(math.log10(best["optim.lr"]) - LOG_LR_OPTIMUM) < 0.25, best
    assert best["final.score"] > 1 - 0.25**2 - 1e-9
    assert best["status"] == "completed" and best["epochs"] == settings.max_epochs


def test_early_stopped_trials_reach_optuna_as_pruned_with_intermediate_values(lr_search):
    settings, result = lr_search
    trials = result.trials.set_index("trial_id")
    counts = Counter(trials["status"])
    assert counts["pruned"] >= 6 and counts["completed"] >= 3, counts
    assert (trials.loc[trials["status"] == "pruned", "epochs"] < settings.max_epochs).all()
    assert (trials.loc[trials["status"] == "completed", "epochs"] == settings.max_epochs).all()

    study = _study(result.directory)
    states = Counter(t.state for t in study.trials)
    assert states[optuna.trial.TrialState.PRUNED] == counts["pruned"]
    assert states[optuna.trial.TrialState.COMPLETE] == counts["completed"]
    for t in study.trials:
        if t.state == optuna.trial.TrialState.PRUNED:
            # Its epochs reached Optuna as intermediate values; Optuna's convention gives a pruned
            # trial its last one as value, and TPE ranks it by the step it was pruned at.
            assert len(t.intermediate_values) >= 1
            last = max(t.intermediate_values)
            assert last < settings.max_epochs and t.value == t.intermediate_values[last]
            assert t.user_attrs["trial_status"] == "pruned"
        else:
            assert len(t.intermediate_values) == settings.max_epochs
            assert t.value == pytest.approx(t.intermediate_values[settings.max_epochs])


def test_the_base_recipe_is_evaluated_first_and_tables_are_complete(lr_search):
    settings, result = lr_search
    study = _study(result.directory)
    first = min(study.trials, key=lambda t: t.number)
    base = flatten(load_recipe("cpu_demo"))
    # cpu_demo's lr (3e-3) lies above the space: the first point is the nearest bound.
    assert effective_params(load_space("lr"), first.params, base)["optim.lr"] == pytest.approx(1e-3)

    trials = pd.read_parquet(result.directory / "trials.parquet")
    curves = pd.read_parquet(result.directory / "curves.parquet")
    assert len(trials) == settings.trials and trials["trial_id"].is_unique
    for col in ("status", "epochs", "optim.lr", "final.score", "best.score", "best_epoch"):
        assert col in trials
    per_trial = curves.groupby("trial_id")["epoch"].max()
    assert (per_trial.sort_index() == trials.set_index("trial_id")["epochs"].sort_index()).all()
    assert {"trial_id", "epoch", "score"} <= set(curves.columns)


@pytest.mark.slow
@pytest.mark.ray
def test_a_trial_past_the_memory_cap_ends_memory_cap_and_the_search_completes(
    ray_session, tmp_path
):
    space_file = tmp_path / "batch.yaml"
    space_file.write_text(
        "description: batch sizes, the largest over the cap\n"
        "params:\n  data.batch_size: {type: categorical, choices: [2, 48]}\n"
    )
    settings = SearchSettings(
        trials=6,
        max_epochs=2,
        grace_period=2,
        reduction_factor=2,
        concurrency=2,
        metric="score",
        mode="max",
        sampler="random",
        trainable="harness.testing:allocating",
    )
    # the objective holds batch_size x 64 MiB: 48 x 64 MiB = 3 GiB passes a 2 GiB cap
    base = load_recipe("cpu_demo", {"memory.cap": "2GiB", "data.batch_size": 2})
    result = run_stage(tmp_path / "mem", load_space(space_file), base, settings, console=None)
    trials = result.trials
    assert len(trials) == 6
    big = trials[trials["data.batch_size"] == 48]
    small = trials[trials["data.batch_size"] == 2]
    assert len(big) >= 1 and len(small) >= 1
    assert (big["status"] == "memory_cap").all() and (small["status"] == "completed").all()
    assert (big["peak_memory_bytes"] > 2 * 2**30).all()
    states = {t.user_attrs["trial_status"]: t.state for t in _study(result.directory).trials}
    assert states["memory_cap"] == optuna.trial.TrialState.PRUNED


def test_grid_sampler_visits_every_point_once(ray_session, tmp_path):
    space_file = tmp_path / "grid.yaml"
    space_file.write_text(
        "description: a 2 x 3 grid\n"
        "params:\n"
        "  optim.onecycle.pct_start: {type: categorical, choices: [0.1, 0.2]}\n"
        "  optim.lr: {type: categorical, choices: [1.0e-4, 2.0e-4, 4.0e-4]}\n"
    )
    settings = SearchSettings(
        trials=50,  # more than the grid: capped at its 6 points
        max_epochs=2,
        grace_period=2,
        reduction_factor=2,
        sampler="grid",
        metric="score",
        mode="max",
        trainable="harness.testing:log_lr_bowl",
    )
    result = run_stage(
        tmp_path / "g", load_space(space_file), load_recipe("cpu_demo"), settings, console=None
    )
    trials = result.trials
    assert len(trials) == 6 and set(trials["status"]) == {"completed"}
    pairs = set(zip(trials["optim.onecycle.pct_start"], trials["optim.lr"], strict=True))
    assert len(pairs) == 6
    assert result.best["optim.lr"] == pytest.approx(2e-4)  # nearest to 10^-3.7 = 2.0e-4


@pytest.mark.slow
@pytest.mark.ray
def test_the_exported_journal_holds_the_loss_weights_that_the_report_ranks(ray_session, tmp_path):
    """optuna-dashboard and Optuna's importance read the journal: they must name the loss
    weights themselves (as `harness report` does), not the sampler's helper coordinates."""
    from analysis import compute_importance, load_experiment

    settings = SearchSettings(
        trials=12,
        max_epochs=2,
        grace_period=2,
        concurrency=2,
        metric="score",
        mode="max",
        trainable="harness.testing:weights_bowl",
        seed=1,
    )
    space = load_space("loss_weights")
    result = run_stage(tmp_path / "w", space, load_recipe("cpu_demo"), settings, console=None)
    study = _study(result.directory)
    weights = {f"loss.weights.{c}" for c in space.params["loss.weights"].components}
    for trial in study.trials:
        assert set(trial.params) == weights
        assert sum(trial.params.values()) == pytest.approx(1.0)
        assert all(k.endswith("~u") for k in trial.user_attrs["raw_params"])
    # the journal's values are the table's values, trial for trial
    table = result.trials.set_index("final.score")
    for trial in (t for t in study.trials if t.value is not None):
        row = table.loc[trial.value]
        for name in weights:
            assert trial.params[name] == pytest.approx(float(row[name]))
    importance = optuna.importance.get_param_importances(study)
    exp = load_experiment(result.directory)
    report = compute_importance(exp, metric="score", mode="max", bootstrap=0, fanova=False)
    assert set(importance) == weights == set(report.table["parameter"])
