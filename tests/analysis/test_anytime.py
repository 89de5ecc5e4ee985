"""The anytime curve (best so far against the budget spent): it agrees with the trials and curves
tables, orders reports by timestamp across interleaved trials, falls back (and says so) without
timestamps, judges "more budget would help" by its stated rule, handles plans per stage, and the
report writes anytime.csv / anytime.png and shows them."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from analysis import budget_verdict, compute_anytime, load_experiment, write_report
from analysis.importance import TABLE_COLUMNS
from analysis.render import ANYTIME_COLUMNS, anytime_caption, anytime_figure, anytime_table
from search_spaces import ConfigError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _values(n: int = 30, epochs: int = 6, seed: int = 0, mode: str = "max") -> np.ndarray:
    """Rising (or, for min, falling) curves; two of every three trials stop early (NaN)."""
    rng = np.random.default_rng(seed)
    v = np.cumsum(rng.uniform(0, 0.1, (n, epochs)), axis=1) + rng.uniform(0, 0.3, (n, 1))
    v = v if mode == "max" else 10.0 - v
    for i in range(n):
        if i % 3:
            v[i, (epochs // 3 if i % 3 == 1 else 2 * epochs // 3) :] = np.nan
    return v


def _search(tables, n: int = 30, epochs: int = 6, seed: int = 0, metric="score", mode="max"):
    params = pd.DataFrame({"p.x": np.linspace(0, 1, n)})
    return tables(params, _values(n, epochs, seed, mode), metric=metric)


def _interleaved(with_time: bool = True) -> pd.DataFrame:
    """Trials a and b, reported alternately (a1 b1 a2 b2 a3 b3), rows stored b first, shuffled."""
    rows = [
        # trial, epoch, timestamp, time_total_s, score
        ("b", 2, 1_700_000_130.0, 10.0, 0.40),
        ("b", 1, 1_700_000_110.0, 5.0, 0.30),
        ("a", 3, 1_700_000_140.0, 45.0, 0.60),
        ("b", 3, 1_700_000_150.0, 15.0, 0.20),
        ("a", 1, 1_700_000_100.0, 10.0, 0.10),
        ("a", 2, 1_700_000_120.0, 25.0, 0.50),
    ]
    df = pd.DataFrame(rows, columns=["trial_id", "epoch", "timestamp", "time_total_s", "score"])
    return df if with_time else df.drop(columns=["timestamp"])


def _meta(metric: str = "score", mode: str = "max") -> dict:
    """The meta of a report (only the anytime sections are under test here)."""
    return {
        "experiment": "anytime-test",
        "metric": metric,
        "mode": mode,
        "header": "once per trial, 30 of 30 trials",
        "banner": None,
        "epoch": None,
        "n_trials_total": 30,
        "n_used": 30,
        "rule": "test",
        "notes": [],
    }


def _importance() -> pd.DataFrame:
    """One parameter's row of ``ImportanceReport.table`` (its numbers are not under test)."""
    row = {
        "parameter": "p.x", "group": "p", "treatment": "spline(df=1)", "df": 1.0,
        "anova": 0.5, "anova_lo": 0.4, "anova_hi": 0.6, "anova_F": 10.0, "anova_p": 0.001,
        "anova_rank": 1, "anova_rank_prob": 1.0, "fanova": 0.5, "fanova_lo": 0.4,
        "fanova_hi": 0.6, "fanova_rank": 1, "fanova_rank_prob": 1.0, "reliability": "", "note": "",
    }  # fmt: skip
    return pd.DataFrame([row], columns=TABLE_COLUMNS)


@pytest.mark.parametrize("mode", ["max", "min"])
def test_curve_agrees_with_the_tables(tables, mode):
    metric = "score" if mode == "max" else "hd95"
    trials, curves = _search(tables, metric=metric, mode=mode)
    [c] = compute_anytime(curves, metric, mode, trials=trials)
    t = c.table
    assert list(t.columns) == list(ANYTIME_COLUMNS)
    # every epoch report spends one unit, each exactly once
    assert len(t) == len(curves)
    np.testing.assert_array_equal(t["epochs_spent"], np.arange(1, len(curves) + 1))
    assert sorted(zip(t["trial_id"], t["epoch"], strict=True)) == sorted(
        zip(curves["trial_id"], curves["epoch"], strict=True)
    )
    # the end of each line is the best of the tables
    best = max if mode == "max" else min
    full = trials[trials["epochs"] == 6]
    assert c.final_epoch == 6 and c.line == "best_final"
    assert t["best_final"].iloc[-1] == best(full[f"final.{metric}"])
    assert t["best_any"].iloc[-1] == best(curves[metric])
    if mode == "max":  # make_tables writes best.* as a maximum
        assert t["best_any"].iloc[-1] == best(trials[f"best.{metric}"])
    # running bests never get worse, and the any-epoch best is at least the final-epoch one
    sign = 1 if mode == "max" else -1
    assert (np.diff(sign * t["best_any"]) >= 0).all()
    final = t["best_final"].dropna()
    assert (np.diff(sign * final) >= 0).all()
    assert (sign * (t["best_any"] - t["best_final"])).dropna().ge(0).all()
    # the final line starts with the first report at the final epoch
    assert t["best_final"].first_valid_index() == t.index[t["epoch"] == 6][0]


def test_reports_are_ordered_by_timestamp_across_interleaved_trials():
    [c] = compute_anytime(_interleaved(), "score", "max")
    t = c.table
    assert c.order == "timestamp" and not c.approximate and c.wall == "timestamp"
    assert t["trial_id"].tolist() == ["a", "b", "a", "b", "a", "b"]
    assert t["epoch"].tolist() == [1, 1, 2, 2, 3, 3]
    assert t["wall_s"].tolist() == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    assert t["best_any"].tolist() == [0.1, 0.3, 0.5, 0.5, 0.6, 0.6]
    assert t["best_final"].isna().tolist() == [True] * 4 + [False] * 2
    assert t["best_final"].iloc[-1] == 0.6
    assert "ordered by their timestamps" in anytime_caption([c])
    assert "approximate" not in anytime_caption([c])


def test_timestamps_survive_loading_the_directory(tables, write_search, tmp_path):
    trials, _ = tables(pd.DataFrame({"p.x": [0.1, 0.2]}), np.full((2, 3), 0.5))
    trials["trial_id"] = ["a", "b"]
    run = write_search(tmp_path / "run", trials, _interleaved())
    [c] = compute_anytime(load_experiment(run).curves, "score", "max")
    assert c.order == "timestamp"
    assert c.table["trial_id"].tolist() == ["a", "b", "a", "b", "a", "b"]


def test_without_timestamps_trial_order_then_epoch_and_cumulative_trial_time():
    [c] = compute_anytime(_interleaved(with_time=False), "score", "max")
    t = c.table
    assert c.approximate and c.order == "trial order"
    # b appears first in the table: its three epochs, then a's
    assert list(zip(t["trial_id"], t["epoch"], strict=True)) == [
        ("b", 1), ("b", 2), ("b", 3), ("a", 1), ("a", 2), ("a", 3),
    ]  # fmt: skip
    # per-epoch durations from time_total_s (b: 5, 5, 5; a: 10, 15, 20), summed in that order
    assert c.wall == "time_total_s"
    assert t["wall_s"].tolist() == [5.0, 10.0, 15.0, 25.0, 40.0, 60.0]
    assert t["best_any"].tolist() == [0.3, 0.4, 0.4, 0.4, 0.5, 0.6]
    assert t["best_final"].tolist()[2:] == [0.2, 0.2, 0.2, 0.6]
    caption = anytime_caption([c])
    assert "The order is approximate" in caption and "trial order, then epoch" in caption
    assert "cumulative trial time" in caption


def test_wall_time_falls_back_to_the_trials_table_then_to_nothing(tables):
    trials, curves = _search(tables, n=6, epochs=2)
    assert "time_total_s" not in curves and "timestamp" not in curves
    [c] = compute_anytime(curves, "score", "max", trials=trials)
    # make_tables records wall_time_s = 10 s per epoch reached
    assert c.wall == "wall_time_s"
    np.testing.assert_allclose(c.table["wall_s"], 10.0 * np.arange(1, len(curves) + 1))
    [bare] = compute_anytime(curves, "score", "max")
    assert bare.wall is None and bare.table["wall_s"].isna().all()
    assert anytime_figure([bare]).startswith(PNG_SIGNATURE)  # the wall panel says why it's empty


def test_partial_timestamps_fall_back_with_a_note():
    curves = _interleaved()
    curves.loc[0, "timestamp"] = np.nan
    [c] = compute_anytime(curves, "score", "max")
    assert c.approximate
    assert c.notes == ("1 of 6 epoch reports have no timestamp: the order is reconstructed for "
                       "all of them",)  # fmt: skip


def _one_epoch_search(values) -> pd.DataFrame:
    """One epoch per trial: the i-th report is trial i."""
    return pd.DataFrame(
        {"trial_id": [f"t{i}" for i in range(len(values))], "epoch": 1, "score": values}
    )


def test_verdict_rule():
    def verdict(values, mode="max"):
        [c] = compute_anytime(_one_epoch_search(values), "score", mode)
        return budget_verdict(c)

    rising = verdict(np.linspace(0, 1, 20))
    assert rising.rising is True
    assert "still rising over the last 25% of the budget (epochs spent 16–20)" in rising.sentence
    assert "epoch-1 best 0.7368 → 1" in rising.sentence
    assert "more budget would likely help" in rising.sentence
    flat = verdict([0.1, 0.9, *np.linspace(0.2, 0.8, 18)])
    assert flat.rising is False
    assert "flat over the last 25% of the budget" in flat.sentence
    assert "since epochs spent 2 (10% of the budget)" in flat.sentence
    # a step smaller than 0.1% of the values' range is a tie, not progress
    assert verdict([*np.linspace(0, 0.5, 14), 1.0, *[0.2] * 4, 1.0 + 1e-6]).rising is False
    # lower is better: a falling best is progress
    assert verdict(np.linspace(1, 0, 20), mode="min").rising is True
    assert verdict(np.linspace(0, 1, 20), mode="min").rising is False
    assert verdict(np.linspace(0, 1, 7)).rising is None
    # a stage of a plan whose reports hold no value of the metric
    curves = pd.concat(
        [_one_epoch_search(np.linspace(0, 1, 10)).assign(stage="01-a"),
         _one_epoch_search([np.nan] * 10).assign(stage="02-b")]
    )  # fmt: skip
    empty = budget_verdict(compute_anytime(curves, "score", "max")[1])
    assert empty.rising is None and "no epoch report has a value of score" in empty.sentence


def test_verdict_counts_the_first_full_length_result_in_the_tail():
    # ten reports at epoch 1, then the only trial at epoch 2 reports last
    curves = pd.DataFrame(
        {
            "trial_id": [f"t{i}" for i in range(10)] + ["t9"],
            "epoch": [1] * 10 + [2],
            "score": [0.5] * 10 + [0.1],
        }
    )
    [c] = compute_anytime(curves, "score", "max")
    assert c.line == "best_final" and c.final_epoch == 2
    assert budget_verdict(c).rising is True
    assert "epoch-2 best none → 0.1" in budget_verdict(c).sentence


def test_nothing_to_draw_is_an_error_with_the_reason(tables):
    _, curves = _search(tables, n=3, epochs=2)
    with pytest.raises(ConfigError, match=r"curves\.parquet is missing or empty"):
        compute_anytime(None, "score", "max")
    with pytest.raises(ConfigError, match="the curves have no values of dice"):
        compute_anytime(curves, "final.dice", "max")
    with pytest.raises(ConfigError, match="the curves have no epoch column"):
        compute_anytime(curves.drop(columns=["epoch"]), "score", "max")
    with pytest.raises(ConfigError, match="mode must be"):
        compute_anytime(curves, "score", "best")


def test_plan_gets_one_curve_per_stage(tables, write_plan, tmp_path):
    coarse = _search(tables, n=12, epochs=3, seed=1)
    focused = _search(tables, n=12, epochs=6, seed=2)
    run = write_plan(tmp_path / "plan", {"coarse": coarse, "focused": focused})
    exp = load_experiment(run)
    found = compute_anytime(exp.curves, "score", "max", trials=exp.trials)
    assert [c.stage for c in found] == ["01-coarse", "02-focused"]
    assert [c.final_epoch for c in found] == [3, 6]
    for c, (trials, curves) in zip(found, (coarse, focused), strict=True):
        assert len(c.table) == len(curves)
        assert c.table["best_final"].iloc[-1] == trials.loc[trials.epochs == c.final_epoch,
                                                            "final.score"].max()  # fmt: skip
    table = anytime_table(found)
    assert list(table.columns) == ["stage", *ANYTIME_COLUMNS] and len(table) == len(exp.curves)
    assert "Stages of the plan are drawn one after another" in anytime_caption(found)

    paths = write_report(
        tmp_path / "report", _importance(), None, None, _meta(), exp.trials, exp.curves,
        formats=("md", "csv"),
    )  # fmt: skip
    csv = pd.read_csv(tmp_path / "report" / "anytime.csv")
    assert csv["stage"].unique().tolist() == ["01-coarse", "02-focused"]
    md = paths["md"].read_text()
    assert "- **01-coarse: best so far" in md and "- **02-focused: best so far" in md


def test_report_writes_and_shows_the_anytime_curve(tables, write_search, tmp_path):
    trials, curves = _search(tables)
    exp = load_experiment(write_search(tmp_path / "run", trials, curves))
    out = tmp_path / "report"
    paths = write_report(out, _importance(), None, None, _meta(), exp.trials, exp.curves)
    [c] = compute_anytime(exp.curves, "score", "max", trials=exp.trials)

    csv = pd.read_csv(out / "anytime.csv", dtype={"trial_id": str})
    assert list(csv.columns) == list(ANYTIME_COLUMNS)
    pd.testing.assert_frame_equal(csv, c.table, check_dtype=False)
    assert (out / "anytime.png").read_bytes().startswith(PNG_SIGNATURE)

    verdict = budget_verdict(c).sentence
    md = paths["md"].read_text()
    section = md.split("## Best so far against budget", 1)[1]
    assert f"**{verdict}**" in section
    assert "![best so far against budget](anytime.png)" in section
    assert "The order is approximate" in section and "Data: anytime.csv." in section
    page = paths["html"].read_text()
    assert "<h2>Best so far against budget</h2>" in page and verdict in page
    [src] = re.findall(r'<img alt="best so far against budget" src="([^"]+)"', page)
    assert base64.b64decode(src.split(",", 1)[1]) == (out / "anytime.png").read_bytes()


def test_report_without_curves_or_pages_writes_no_anytime_files(tables, tmp_path):
    trials, curves = _search(tables, n=6, epochs=2)
    paths = write_report(
        tmp_path / "a", _importance(), None, None, _meta(), trials, curves, formats=("json",)
    )
    assert set(paths) == {"json"} and not list((tmp_path / "a").glob("anytime.*"))
    paths = write_report(
        tmp_path / "b", _importance(), None, None, _meta("dice"), trials, curves, formats=("md",)
    )
    assert "not available: the curves have no values of dice" in paths["md"].read_text()
    assert not list((tmp_path / "b").glob("anytime.*"))
