"""The importance report: fidelity stated and checked, any outcome, plans, JSON, determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import load_experiment
from analysis.importance import (
    DEFINITIONS,
    GROUP_COLUMNS,
    INTERACTION_COLUMNS,
    STABILITY_COLUMNS,
    TABLE_COLUMNS,
    compute_importance,
)
from analysis.render import write_report
from search_spaces import ConfigError


def test_ishigami_report_ranks_x2_first_on_one_scale(ishigami_report):
    report = ishigami_report
    table = report.table.set_index("parameter")

    assert list(report.table.columns) == TABLE_COLUMNS
    assert list(report.table["parameter"]) == ["p.x2", "p.x1", "p.x3"]
    assert table.loc["p.x2", "anova"] == pytest.approx(0.442, abs=0.05)
    assert table.loc["p.x2", "fanova"] == pytest.approx(0.442, abs=0.05)
    assert table.loc["p.x2", "anova_rank_prob"] > 0.95
    assert (table["reliability"] == "").all() and (table["note"] == "").all()
    top = report.interactions.iloc[0]
    assert {top["a"], top["b"]} == {"p.x1", "p.x3"} and top["p_holm"] < 1e-6
    assert report.fidelity.epoch == 1 and report.fidelity.n_used == 1000
    assert report.meta()["header"] == "epoch 1 of 1, 1000 of 1000 trials"
    assert (report.metric, report.mode, report.experiment) == ("score", "max", "ishigami0")
    assert report.param_source == "spec.json space"


def test_to_dict_is_json_with_the_documented_schema(ishigami_report):
    data = ishigami_report.to_dict()
    text = json.dumps(data, allow_nan=False)  # NaN would be invalid JSON

    again = json.loads(text)
    assert {"header", "banner", "param_source", "definitions", "parameters", "interactions",
            "groups", "stability", "fidelity", "settings", "notes"} <= set(again)  # fmt: skip
    assert set(again["parameters"][0]) == set(TABLE_COLUMNS)
    assert set(again["interactions"][0]) == set(INTERACTION_COLUMNS)
    assert set(again["groups"][0]) == set(GROUP_COLUMNS)
    assert again["definitions"] == DEFINITIONS
    assert again["fidelity"]["epoch"] == 1 and again["settings"]["bootstrap"] == 200
    assert isinstance(again["parameters"][0]["anova_rank"], int)


def test_pure_noise_ranks_nothing(tmp_path, tables, write_search):
    rng = np.random.default_rng(12)
    params = pd.DataFrame(rng.uniform(size=(400, 3)), columns=["p.a", "p.b", "p.c"])
    trials, curves = tables(params, rng.normal(size=(400, 1)))
    exp = load_experiment(write_search(tmp_path / "noise", trials, curves))

    report = compute_importance(exp, bootstrap=50)

    assert (report.table["anova_p"] > 0.01).all()
    assert (report.table["anova_lo"] < 0.02).all() and (report.table["fanova_lo"] < 0.02).all()
    assert (report.table["anova_rank_prob"] < 0.9).all()  # no order is sure
    assert not any("correlated parameters" in n for n in report.notes)  # sampled independently


@pytest.mark.slow
def test_early_stopped_parameter_is_not_ranked_important(tmp_path, tables, write_search):
    # Half of the trials (p.early > 0.5) are pruned at epoch 1 with a low value; the others run
    # 4 epochs, and their value depends only on p.real. Counting the stopped trials' last values
    # as their results would make p.early look decisive.
    rng = np.random.default_rng(21)
    n = 400
    params = pd.DataFrame({"p.early": rng.uniform(size=n), "p.real": rng.uniform(size=n)})
    stopped = params["p.early"].to_numpy() > 0.5
    real = params["p.real"].to_numpy()
    values = np.full((n, 4), np.nan)
    epochs = np.arange(1, 5)
    values[~stopped] = (
        (real[~stopped, None] * epochs / 4) + 0.5 + rng.normal(0, 0.02, (n, 4))[~stopped]
    )
    values[stopped, 0] = 0.1 * real[stopped]
    trials, curves = tables(params, values)
    exp = load_experiment(write_search(tmp_path / "asha", trials, curves))

    report = compute_importance(exp, bootstrap=50)

    assert report.fidelity.epoch == 4 and report.fidelity.n_used == int((~stopped).sum())
    assert f"{int(stopped.sum())} stopped before epoch 4 are left out" in report.fidelity.rule
    table = report.table.set_index("parameter")
    assert report.table["parameter"].iloc[0] == "p.real"
    assert table.loc["p.early", "anova"] < 0.05 and table.loc["p.early", "anova_lo"] < 0.02
    assert table.loc["p.early", "anova_p"] > 0.01
    assert table.loc["p.real", "fanova_rank"] == 1
    assert table.loc["p.early", "fanova"] < 0.1

    # the trap is real: at epoch 1, where every trial has a value, p.early decides, and the
    # stability table shows the low epoch disagreeing with the reported one
    naive = compute_importance(exp, epoch=1, bootstrap=0, fanova=False).table
    assert naive["parameter"].iloc[0] == "p.early"
    assert naive.set_index("parameter").loc["p.early", "anova"] > 0.8
    stable = report.stability.set_index("epoch")
    assert list(report.stability.columns) == STABILITY_COLUMNS
    assert stable.loc[4, "tau"] == 1.0 and stable.loc[4, "top"] == "p.real"
    assert stable.loc[1, "top"] == "p.early" and stable.loc[1, "tau"] < 0.5
    assert any("not stable across epochs" in n for n in report.notes)

    # final.score mixes trials stopped at epoch 1 with trials at epoch 4: refused, or bannered
    with pytest.raises(ConfigError, match="mixed_budgets"):
        compute_importance(exp, metric="final.score", bootstrap=0)
    mixed = compute_importance(exp, metric="final.score", bootstrap=0, mixed_budgets=True)
    assert mixed.meta()["banner"].startswith("MIXED BUDGETS")
    assert mixed.notes[0] == mixed.meta()["banner"]


def test_what_drives_peak_memory(tmp_path, tables, write_search):
    # memory depends only on the batch size (plus a little jitter), never on the learning rate
    rng = np.random.default_rng(5)
    n = 120
    params = pd.DataFrame(
        {
            "data.batch_size": rng.choice([1, 2, 4, 8], n),
            "optim.lr": 10 ** rng.uniform(-5, -3, n),
        }
    )
    memory = 1.0e9 + 5.0e8 * params["data.batch_size"] + rng.normal(0, 1.0e6, n)
    trials, curves = tables(
        params, rng.uniform(size=(n, 2)), extra_trial_columns={"peak_memory_bytes": memory}
    )
    exp = load_experiment(write_search(tmp_path / "mem", trials, curves))

    report = compute_importance(exp, metric="peak_memory_bytes", bootstrap=50)

    assert report.metric == "peak_memory_bytes" and report.mode == "min"
    assert report.fidelity.source == "trials" and report.fidelity.epoch is None
    assert "once per trial" in report.fidelity.rule
    table = report.table.set_index("parameter")
    # a number, not a category: memory is linear in it, so GCV keeps one degree of freedom
    assert table.loc["data.batch_size", "treatment"] == "spline(df=1)"
    # Var(5e8 · batch) = 2.5e17 · 7.1875 = 1.8e18 against jitter 1e12: batch size explains
    # 1 - 5.6e-7 of the variance, the learning rate nothing
    assert table.loc["data.batch_size", "anova"] == pytest.approx(1.0, abs=0.02)
    assert table.loc["optim.lr", "anova"] < 1e-4
    assert table.loc["data.batch_size", "fanova"] > 0.95


def test_plans_are_pooled_with_a_note_or_analysed_by_stage(tmp_path, tables, write_plan):
    rng = np.random.default_rng(9)

    def stage(n: int, shift: float):
        params = pd.DataFrame(
            {"optim.lr": rng.uniform(size=n), "data.batch_size": [2, 4] * (n // 2)}
        )
        values = (params["optim.lr"].to_numpy() + shift)[:, None] + rng.normal(0, 0.05, (n, 2))
        return tables(params, values)

    exp = load_experiment(write_plan(tmp_path / "plan", {"coarse": stage(40, 0.0),
                                                           "focused": stage(20, 0.5)}))  # fmt: skip

    pooled = compute_importance(exp, bootstrap=0, fanova=False)
    assert pooled.fidelity.n_used == 60
    assert any("2 stages pooled" in n for n in pooled.notes)
    focused = compute_importance(exp, stage="focused", bootstrap=0, fanova=False)
    assert focused.fidelity.n_used == 20 and focused.settings["stage"] == "focused"
    assert focused.table["parameter"].iloc[0] == "optim.lr"


def test_same_inputs_same_numbers(tmp_path, tables, write_search):
    rng = np.random.default_rng(30)
    params = pd.DataFrame({"p.a": rng.uniform(size=150), "p.b": rng.choice(["u", "v", "w"], 150)})
    values = params["p.a"].to_numpy()[:, None] + rng.normal(0, 0.1, (150, 1))
    exp = load_experiment(write_search(tmp_path / "s", *tables(params, values)))

    first = compute_importance(exp, bootstrap=30, seed=4).to_dict()
    second = compute_importance(exp, bootstrap=30, seed=4).to_dict()

    assert first == second
    other = compute_importance(exp, bootstrap=30, seed=5).to_dict()
    assert other["parameters"][0]["anova_lo"] != first["parameters"][0]["anova_lo"]
    assert other["parameters"][0]["anova"] == first["parameters"][0]["anova"]


def _hd95_search(tmp_path, tables, write_search, mode: str | None):
    """40 trials whose hd95 falls with optim.lr (trial t0039 lowest), two epochs each."""
    lr = np.linspace(0.01, 1.0, 40)
    params = pd.DataFrame({"optim.lr": lr, "data.batch_size": [2, 4] * 20})
    hd95 = 30.0 - 20.0 * lr
    trials, curves = tables(params, np.column_stack([hd95 + 5.0, hd95]), metric="hd95")
    directory = write_search(tmp_path / f"hd95-{mode}", trials, curves, metric="hd95", mode=mode)
    return load_experiment(directory)


def test_hd95_without_a_recorded_mode_is_lower_is_better(tmp_path, tables, write_search):
    exp = _hd95_search(tmp_path, tables, write_search, mode=None)
    assert exp.mode == "min" and exp.direction("final.hd95") == "min"

    report = compute_importance(exp, bootstrap=0)
    assert (report.metric, report.mode) == ("hd95", "min")
    # the report's best trials are the lowest hd95 first
    write_report(tmp_path / "r", report.table, report.interactions, report.groups,
                 report.meta(), exp.trials, exp.curves, formats=["md"])  # fmt: skip
    md = (tmp_path / "r" / "report.md").read_text()
    best = md.split("## Best trials", 1)[1]
    first = next(line for line in best.splitlines() if line.startswith("| 1 |"))
    assert first.startswith("| 1 | t0039 |") and "hd95 (min)" in md
    # an explicit mode still wins, and so does one the spec records
    assert compute_importance(exp, mode="max", bootstrap=0, fanova=False).mode == "max"
    recorded = _hd95_search(tmp_path, tables, write_search, mode="max")
    assert compute_importance(recorded, bootstrap=0, fanova=False).mode == "max"


def test_an_outcome_of_unknown_direction_needs_a_mode(tmp_path, tables, write_search):
    rng = np.random.default_rng(3)
    params = pd.DataFrame({"p.a": rng.uniform(size=30)})
    trials, curves = tables(params, rng.uniform(size=(30, 1)), metric="sharpness")
    exp = load_experiment(write_search(tmp_path / "s", trials, curves, "sharpness", mode=None))
    assert exp.mode is None
    assert any("direction of sharpness is unknown" in note for note in exp.notes)

    with pytest.raises(ConfigError, match=r"'sharpness'.*give mode max or mode min") as err:
        compute_importance(exp, bootstrap=0, fanova=False)
    assert err.value.param == "mode"
    assert compute_importance(exp, mode="min", bootstrap=0, fanova=False).mode == "min"
    with pytest.raises(ConfigError, match="mode must be 'max' or 'min', got 'up'") as err:
        compute_importance(exp, mode="up", bootstrap=0, fanova=False)
    assert err.value.param == "mode"
    # a mode recorded in spec.json is the search's own answer
    recorded = write_search(tmp_path / "r", trials, curves, "sharpness", mode="min")
    assert compute_importance(load_experiment(recorded), bootstrap=0, fanova=False).mode == "min"


def test_a_share_that_cannot_be_estimated_says_why_in_the_table(tmp_path, tables, write_search):
    rng = np.random.default_rng(0)
    params = pd.DataFrame({f"p.x{i}": rng.uniform(size=6) for i in range(4)})
    trials, curves = tables(params, rng.uniform(size=(6, 1)))
    exp = load_experiment(write_search(tmp_path / "few", trials, curves))
    report = compute_importance(exp, bootstrap=0, fanova=False)
    assert report.table["anova"].isna().all()
    assert report.table["note"].str.startswith("n/a: 6 trials, need ").all()
    assert report.table["reliability"].str.startswith("unreliable").all()
    # the model line and the treatment column say that nothing was fitted
    assert report.meta()["unavailable"].startswith("n/a: 6 trials")
    assert (report.table["treatment"] == "spline(not fitted)").all()


def test_a_default_epoch_that_cannot_be_ranked_falls_back_to_the_highest_that_can(
    tmp_path, tables, write_search
):
    # 24 trials of 7 parameters; 22 ran 6 epochs (the default epoch: 90% of the trials), where
    # the outcome saturated at 1.0 in every one; p.x0 drives it before that
    rng = np.random.default_rng(3)
    params = pd.DataFrame({f"p.x{i}": rng.uniform(size=24) for i in range(7)})
    reached = [6] * 22 + [2] * 2
    base = 2.0 * params["p.x0"].to_numpy() + 0.05 * rng.normal(size=24)
    values = np.full((24, 6), np.nan)
    for i, r in enumerate(reached):
        values[i, :r] = base[i] + 0.01 * np.arange(1, r + 1)
    values[:, 5] = np.where(np.isnan(values[:, 5]), np.nan, 1.0)
    trials, curves = tables(params, values)
    exp = load_experiment(write_search(tmp_path / "asha", trials, curves))

    report = compute_importance(exp, bootstrap=50, fanova=False)

    fid = report.fidelity
    assert fid.epoch == 5 and fid.n_used == 22
    assert fid.header == (
        "epoch 5 of 6, 22 of 24 trials (epoch 6, the default, cannot be ranked: outcome constant)"
    )
    assert fid.rule.startswith("score at epoch 5, the highest epoch where the model can be fitted")
    assert report.table["anova"].notna().all() and report.table.loc[0, "parameter"] == "p.x0"
    assert report.table["anova_rank_prob"].notna().all()
    assert report.table["reliability"].str.startswith("unreliable: 22 trials").all()
    needed = [n for n in report.notes if n.startswith("a reliable ranking of 7 parameters")]
    assert needed == [
        "a reliable ranking of 7 parameters needs 105 trials at one epoch (15 per parameter); "
        "epoch 5 holds 22; 92% of this search's trials reached epoch 5, so a search like it "
        "needs about 115 trials to rank there"
    ]
    assert report.meta()["unavailable"] is None
    # an epoch asked for is kept, even when nothing can be fitted there
    asked = compute_importance(exp, epoch=6, bootstrap=0, fanova=False)
    assert asked.fidelity.epoch == 6 and asked.table["anova"].isna().all()
