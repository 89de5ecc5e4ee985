"""The fidelity stated (its header), trials of different lengths refused for ``final.*`` and
``best.*`` outcomes, and the epochs with enough trials to rank at."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import Fidelity, choose_fidelity, default_epoch, load_experiment, ranking_epochs
from search_spaces import ConfigError

# 24 trials as ASHA leaves them: 4 ran all 12 epochs, 8 stopped at 4, 4 at 2, 8 at 1
ASHA_REACHED = [12] * 4 + [4] * 8 + [2] * 4 + [1] * 8


def _values(reached: list[int], max_epochs: int) -> np.ndarray:
    values = np.full((len(reached), max_epochs), np.nan)
    for i, r in enumerate(reached):
        values[i, :r] = 0.1 * np.arange(1, r + 1) / max_epochs + i / 1000
    return values


def _search(tmp_path, tables, write_search, reached, max_epochs=12, recorded=12, name="s"):
    params = pd.DataFrame({"lr": np.linspace(0.1, 1.0, len(reached)), "model.width": 8.0})
    trials, curves = tables(params, _values(reached, max_epochs), metric="x")
    settings = {"metric": "x", "mode": "max"}
    if recorded is not None:
        settings["max_epochs"] = recorded
    directory = write_search(tmp_path / name, trials, curves, metric="x",
                             spec_extra={"settings": settings})  # fmt: skip
    return directory


def _fidelity(epoch: int | None, max_epoch: int | None) -> Fidelity:
    return Fidelity("x", "curves", epoch, 24, 14, "", pd.DataFrame(), [], max_epoch=max_epoch)


def test_the_header_states_epoch_budget_and_trials():
    assert _fidelity(2, 12).header == "epoch 2 of 12, 14 of 24 trials"
    assert _fidelity(None, 12).header == "once per trial, 14 of 24 trials"
    assert _fidelity(2, None).header == "epoch 2, 14 of 24 trials"


def test_the_header_of_a_chosen_fidelity_and_its_table(tmp_path, tables, write_search):
    exp = load_experiment(_search(tmp_path, tables, write_search, ASHA_REACHED))

    fid = choose_fidelity(exp)

    # 2 parameters need 30 trials for a reliable ranking; no epoch has them, so the highest
    # epoch that 90% of the 24 (22) reached: epoch 1, the first rung
    assert fid.header == "epoch 1 of 12, 24 of 24 trials"
    assert "no epoch holds the 30 trials a reliable ranking of 2 parameters needs" in fid.rule
    summary = fid.to_dict()
    assert summary["header"] == fid.header and summary["max_epoch"] == 12
    assert summary["banner"] is None
    # the sampler's raw coordinates and the epochs each trial ran travel with the table
    assert {"raw.lr~u", "epochs", "lr", "model.width", "value"} <= set(fid.table.columns)
    assert choose_fidelity(exp, "peak_memory_bytes").header == "once per trial, 24 of 24 trials"


def test_the_recorded_max_epochs_is_m_even_when_no_trial_ran_that_long(
    tmp_path, tables, write_search
):
    exp = load_experiment(_search(tmp_path, tables, write_search, [4] * 10, max_epochs=4))
    assert choose_fidelity(exp).header == "epoch 4 of 12, 10 of 10 trials"

    # nothing recorded: the longest curve
    unrecorded = _search(tmp_path, tables, write_search, [4] * 10, 4, recorded=None, name="u")
    assert choose_fidelity(load_experiment(unrecorded)).max_epoch == 4


def test_final_values_of_trials_of_different_lengths_are_refused(tmp_path, tables, write_search):
    reached = [1] * 6 + [12] * 6
    exp = load_experiment(_search(tmp_path, tables, write_search, reached))

    for metric in ("final.x", "best.x"):
        with pytest.raises(ConfigError) as info:
            choose_fidelity(exp, metric)
        message = str(info.value)
        assert message.startswith(f"metric {metric}") and "epochs 1 to 12" in message
        assert "stopped 6 of 12 trials before epoch 12" in message
        assert "was stopped early" in message
        assert "(e.g. metric x)" in message and "pass mixed_budgets" in message
        assert info.value.params == ("metric", "metric", "mixed_budgets")

    fid = choose_fidelity(exp, "final.x", mixed_budgets=True)
    assert fid.banner is not None and fid.banner.startswith("MIXED BUDGETS:")
    assert "12 trials ended at epochs 1 to 12" in fid.banner
    assert "a parameter that decided when a trial was stopped looks important" in fid.banner
    assert fid.to_dict()["banner"] == fid.banner and fid.n_used == 12
    assert fid.header == "once per trial, 12 of 12 trials"

    # only the trials that ran 12 epochs: one budget, no banner
    assert choose_fidelity(exp, "final.x", epoch=12).banner is None
    # costs are per trial by nature, and a per-epoch metric is compared at one epoch
    assert choose_fidelity(exp, "peak_memory_bytes").banner is None
    assert choose_fidelity(exp, "x").epoch == 1


def test_the_final_fallback_of_a_name_without_curves_is_refused_too(tmp_path, tables, write_search):
    params = pd.DataFrame({"lr": np.linspace(0.1, 1.0, 12)})
    trials, curves = tables(params, _values([1] * 6 + [12] * 6, 12), metric="x")
    trials["final.y"] = np.linspace(0.0, 1.0, 12)  # y: recorded once per trial only
    exp = load_experiment(write_search(tmp_path / "s", trials, curves, metric="x"))

    with pytest.raises(ConfigError) as info:
        choose_fidelity(exp, "y")
    message = str(info.value)
    assert message.startswith("metric y (") and "final.y" in message
    assert "mixed_budgets" in message and info.value.param == "metric"


def test_without_an_epochs_column_the_curves_tell(tmp_path, tables, write_search):
    params = pd.DataFrame({"lr": np.linspace(0.1, 1.0, 12)})
    trials, curves = tables(params, _values([1] * 6 + [12] * 6, 12), metric="x")
    mixed = write_search(tmp_path / "m", trials.drop(columns="epochs"), curves, metric="x")
    with pytest.raises(ConfigError, match="mixed_budgets"):
        choose_fidelity(load_experiment(mixed), "final.x")

    # neither the epochs column nor the curves say: nothing to refuse
    unknown = write_search(tmp_path / "u", trials.drop(columns="epochs"), curves.iloc[0:0],
                           metric="x")  # fmt: skip
    assert choose_fidelity(load_experiment(unknown), "final.x").banner is None


def test_trials_of_one_length_are_compared_without_a_banner(tmp_path, tables, write_search):
    exp = load_experiment(_search(tmp_path, tables, write_search, [12] * 12))
    fid = choose_fidelity(exp, "final.x")
    assert fid.banner is None and fid.n_used == 12 and fid.source == "trials"


def test_ranking_epochs_are_those_enough_trials_reached(tmp_path, tables, write_search):
    exp = load_experiment(_search(tmp_path, tables, write_search, ASHA_REACHED))

    # need max(min(10, 24), ceil(4.8)) = 10: epoch 1 has 24 trials, 2 has 16, 3 and 4 have 12,
    # 5 to 12 only 4
    assert ranking_epochs(exp) == [1, 2, 3, 4]
    assert ranking_epochs(exp, "x")[-1] == default_epoch(
        exp.curves.groupby("trial_id")["epoch"].max()
    )
    assert ranking_epochs(exp, "peak_memory_bytes") == []
    assert ranking_epochs(exp, "final.x") == []

    # fewer than 10 trials: every one of them must have reached the epoch
    few = load_experiment(_search(tmp_path, tables, write_search, [3, 3, 2, 2, 1], 3, name="f"))
    assert ranking_epochs(few) == [1]
    with pytest.raises(ConfigError, match="nope"):
        ranking_epochs(few, "nope")


def test_the_default_epoch_is_where_a_reliable_ranking_has_its_trials():
    # 2 parameters: 30 trials make a reliable ranking. 40 trials as ASHA leaves them
    reached = pd.Series([12] * 4 + [4] * 28 + [2] * 6 + [1] * 2)
    # without a parameter count (a plan's narrowing): max(10, 20%) = 10 trials, epoch 4
    assert default_epoch(reached) == 4
    # 32 trials reached epoch 4: the highest epoch with 30 of them
    assert default_epoch(reached, params=2) == 4
    # 3 parameters need 45: none has them; 90% of 40 = 36 reached epoch 2 (2 were cut at 1)
    assert default_epoch(reached, params=3) == 2
    # a failed trial at epoch 1 does not pull the epoch down to 1
    assert default_epoch(pd.Series([6] * 20 + [1]), params=7) == 6


def test_the_rule_says_why_its_epoch(tmp_path, tables, write_search):
    reached = [12] * 4 + [4] * 28 + [2] * 6 + [1] * 2
    exp = load_experiment(_search(tmp_path, tables, write_search, reached))
    fid = choose_fidelity(exp)
    assert fid.epoch == 4 and fid.n_used == 32
    assert fid.rule.startswith(
        "x at epoch 4, the highest epoch that 30 of the 40 trials with a value reached (15 per "
        "parameter, what a reliable ranking of 2 needs)"
    )
