"""Report rendering: every file written, JSON round trip, ranking order, a self-contained HTML,
the Pareto front on hand-made points, "not available" lines, and experiment comparison."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.importance import compare_rankings
from analysis.render import (
    is_log_spaced,
    outcome,
    pareto_front,
    ranking_rows,
    write_comparison,
    write_report,
)
from search_spaces import ConfigError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PARAMS = ["optim.lr", "loss.weights.boundary", "model.attention.type", "data.batch_size"]


def _importance() -> pd.DataFrame:
    # Deliberately listed out of rank order: the report must sort by eta².
    return pd.DataFrame(
        {
            "parameter": [
                "loss.weights.boundary",
                "optim.lr",
                "data.batch_size",
                "model.attention.type",
            ],
            "group": ["loss weights", "optim", "data", "model"],
            "treatment": ["binned(4)", "binned(4)", "grid", "categorical"],
            "anova_eta2": [0.20, 0.55, np.nan, 0.05],
            "anova_eta2_lo": [0.15, 0.48, np.nan, 0.01],
            "anova_eta2_hi": [0.26, 0.61, np.nan, 0.09],
            "anova_partial_eta2": [0.40, 0.70, np.nan, 0.10],
            "anova_F": [12.5, 60.25, np.nan, 2.0],
            "anova_p": [1e-6, 1e-20, np.nan, 0.13],
            "fanova": [0.25, 0.60, 0.05, 0.10],
            "fanova_sd": [0.02, 0.03, 0.01, 0.02],
            "rank_anova": [2.0, 1.0, np.nan, 3.0],
            "rank_fanova": [2.0, 1.0, 4.0, 3.0],
        }
    )


def _interactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": ["optim.lr", "optim.lr"],
            "b": ["loss.weights.boundary", "data.batch_size"],
            "eta2": [0.03, 0.08],
            "F": [3.1, 7.5],
            "p": [0.02, 0.0004],
        }
    )


def _groups() -> pd.DataFrame:
    return pd.DataFrame(
        {"group": ["optim", "loss weights"], "anova_eta2": [0.55, 0.20], "fanova": [0.6, 0.25]}
    )


def _meta() -> dict:
    return {
        "experiment": "lw-test",
        "metric": "iou_lesion",
        "mode": "max",
        "epoch": 3,
        "n_trials_total": 40,
        "n_used": 24,
        "rule": "the highest epoch reached by at least max(10, 20%) of the trials",
        "bins": 4,
        "notes": ["dropped constant column data.tile_size"],
    }


def _trials(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-5, -2, n)
    boundary = rng.uniform(0.1, 0.3, n)
    att = rng.choice(["esca", "none", "se"], n)
    batch = rng.choice([2, 4, 8], n)
    final = 0.5 + 0.05 * np.log10(lr) + boundary + rng.normal(0, 0.01, n)
    epochs = np.where(np.arange(n) % 3 == 0, 1, np.where(np.arange(n) % 3 == 1, 3, 5))
    status = np.where(epochs == 5, "completed", "pruned")
    status[7 % n] = "oom"
    return pd.DataFrame(
        {
            "trial_id": [f"t{i:03d}" for i in range(n)],
            "status": status,
            "optim.lr": lr,
            "loss.weights.boundary": boundary,
            "model.attention.type": att,
            "data.batch_size": batch,
            "raw.optim.lr~u": rng.uniform(size=n),
            "epochs": epochs,
            "final.iou_lesion": final,
            "best.iou_lesion": final + 0.01,
            "peak_memory_bytes": rng.uniform(1, 3, n) * 2**30,
            "wall_time_s": rng.uniform(10, 60, n),
            "images_per_s": rng.uniform(20, 50, n),
        }
    )


def _curves(trials: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for tid, ep, fin in trials[["trial_id", "epochs", "final.iou_lesion"]].itertuples(index=False):
        for e in range(1, ep + 1):
            rows.append({"trial_id": tid, "epoch": e, "iou_lesion": fin * e / ep})
    return pd.DataFrame(rows)


def _write(tmp_path: Path, **over) -> dict[str, Path]:
    trials = _trials()
    args = {
        "importance": _importance(),
        "interactions": _interactions(),
        "groups": _groups(),
        "meta": _meta(),
        "trials": trials,
        "curves": _curves(trials),
    }
    args.update(over)
    return write_report(tmp_path, **args)


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> dict[str, Path]:
    """The complete report, written once for the tests that only read it."""
    return _write(tmp_path_factory.mktemp("report"))


def test_every_file_is_written_and_json_round_trips(full_report):
    paths = full_report
    assert {k: p.name for k, p in paths.items()} == {
        "csv": "importance.csv",
        "json": "importance.json",
        "md": "report.md",
        "html": "report.html",
    }
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths.values())
    doc = json.loads(paths["json"].read_text())  # strict JSON: no NaN tokens
    assert "NaN" not in paths["json"].read_text()
    assert doc["meta"]["epoch"] == 3 and doc["meta"]["n_used"] == 24
    by_name = {r["parameter"]: r for r in doc["importance"]}
    assert by_name["optim.lr"]["anova_eta2"] == 0.55
    assert by_name["optim.lr"]["anova_p"] == 1e-20
    assert by_name["data.batch_size"]["anova_eta2"] is None
    assert by_name["data.batch_size"]["fanova"] == 0.05
    assert [r["eta2"] for r in doc["interactions"]] == [0.03, 0.08]
    assert doc["groups"][0] == {"group": "optim", "anova_eta2": 0.55, "fanova": 0.6}
    csv = pd.read_csv(paths["csv"])
    assert csv["parameter"].tolist() == _importance()["parameter"].tolist()
    np.testing.assert_array_equal(csv["anova_F"].to_numpy(), [12.5, 60.25, np.nan, 2.0])


def test_markdown_has_ranking_in_order_and_fidelity(full_report):
    md = full_report["md"].read_text()
    assert "Importance of iou_lesion at epoch 3, from 24 of 40 trials." in md
    assert "dropped constant column data.tile_size" in md
    ranking = md.split("## Ranking")[1].split("## Group totals")[0]
    order = [ranking.index(f"| {p} |") for p in ["optim.lr", "loss.weights.boundary"]]
    order += [ranking.index(f"| {p} |") for p in ["model.attention.type", "data.batch_size"]]
    assert order == sorted(order)
    assert "| optim.lr | 55.0 [48.0, 61.0] | 60.0 ± 3.0 | 60.25 | 1.0e-20 | binned(4) |" in ranking
    inter = md.split("## Top interactions")[1].split("## Best trials")[0]
    assert inter.index("data.batch_size") < inter.index("loss.weights.boundary")  # 8% before 3%
    best = md.split("## Best trials")[1]
    done = _trials().query("status == 'completed'").sort_values("final.iou_lesion")
    first_row = best.splitlines()[4]
    assert first_row.startswith(f"| 1 | {done['trial_id'].iloc[-1]} |")
    assert "t007" not in best  # the oom trial is not a best trial


def test_ranking_rows_format():
    rows = ranking_rows(_importance(), top=2)
    assert [r["parameter"] for r in rows] == ["optim.lr", "loss.weights.boundary"]
    assert rows[1] == {
        "parameter": "loss.weights.boundary",
        "% variance [95% CI]": "20.0 [15.0, 26.0]",
        "fANOVA %": "25.0 ± 2.0",
        "F": "12.50",
        "p": "1.0e-06",
        "treatment": "binned(4)",
    }
    assert ranking_rows(_importance())[-1]["% variance [95% CI]"] == "–"


def _images(page: str) -> list[str]:
    return re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", page)


def test_html_is_self_contained_with_png_figures(full_report):
    page = full_report["html"].read_text()
    refs = re.findall(r"\b(?:src|href)\s*=\s*[\"']?([^\"'\s>]+)", page)
    assert refs and not any(r.startswith(("http:", "https:", "//")) for r in refs)
    assert "<script" not in page and "<link" not in page
    srcs = _images(page)
    # importance bars, parallel coordinates, marginals (one figure), learning curves, Pareto,
    # best so far against budget (anytime)
    assert len(srcs) == 6
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_SIGNATURE)
    assert "not available" not in page
    for title in ("Parallel coordinates", "Marginal plots", "Learning curves", "peak memory"):
        assert f"<h2>{title}" in page or title in page


def test_pareto_front_hand_made():
    #            A    B    C    D    E    F    G(=B)  H(nan)
    quality = [0.5, 0.7, 0.6, 0.9, 0.8, 0.2, 0.7, np.nan]
    memory = [1.0, 2.0, 3.0, 4.0, 4.0, 0.5, 2.0, 0.1]
    # C is dominated by B (less memory, better); E by D (same memory, better); G ties B.
    assert pareto_front(quality, memory, "max").tolist() == [
        True, True, False, True, False, True, True, False,
    ]  # fmt: skip
    # For "min" (lower is better): F (0.2 at 0.5) dominates all but H (nan) and itself.
    assert pareto_front(quality, memory, "min").tolist() == [
        False, False, False, False, False, True, False, False,
    ]  # fmt: skip
    assert pareto_front([], [], "max").tolist() == []
    with pytest.raises(ValueError, match="mode must be"):
        pareto_front([1.0], [1.0], "best")


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(3)
    q = rng.integers(0, 6, 200).astype(float)  # many ties on purpose
    m = rng.integers(0, 6, 200).astype(float)
    got = pareto_front(q, m, "max")
    dominated = [
        any(q[j] >= q[i] and m[j] <= m[i] and (q[j] > q[i] or m[j] < m[i]) for j in range(200))
        for i in range(200)
    ]
    assert got.tolist() == [not d for d in dominated]


def test_missing_pieces_say_not_available(tmp_path):
    imp = _importance().assign(fanova=np.nan, fanova_sd=np.nan)
    trials = _trials().drop(columns=["peak_memory_bytes"])
    paths = _write(tmp_path, importance=imp, trials=trials, curves=None, interactions=None)
    page = paths["html"].read_text()
    assert "not available: no learning curves (curves.parquet is missing or empty)" in page
    assert "not available: peak memory was not recorded" in page
    assert "not available: fANOVA importances were not computed" in page
    assert "not available: no interaction was computed" in page
    # Without curves the plots fall back to the final metric of finished trials.
    assert len(_images(page)) == 3  # bars, parallel coordinates, marginals
    md = paths["md"].read_text()
    assert "not available: no interaction was computed" in md
    doc = json.loads(paths["json"].read_text())
    assert all(r["fanova"] is None for r in doc["importance"]) and doc["interactions"] == []


def test_no_trials_and_no_finished_trials(tmp_path):
    paths = _write(tmp_path / "a", trials=None, curves=None, formats=("md", "html"))
    assert "not available: no trials table" in paths["html"].read_text()
    assert "not available: no trials table" in paths["md"].read_text()
    pruned = _trials().assign(status="pruned")
    paths = _write(tmp_path / "b", trials=pruned, curves=None, formats=("md",))
    md = paths["md"].read_text()
    assert "not available: no finished (completed or early-stopped) trial has a value of" in md


def test_formats_subset_and_unknown(tmp_path):
    paths = _write(tmp_path, formats=("csv", "json"))
    assert set(paths) == {"csv", "json"} and not (tmp_path / "report.html").exists()
    with pytest.raises(ConfigError, match=r"unknown report format\(s\) \['pdf'\]"):
        _write(tmp_path, formats=("md", "pdf"))


def test_comparison_lists_union_with_both_rankings(tmp_path):
    a = _importance()
    b = pd.DataFrame(
        {
            "parameter": ["optim.lr", "optim.weight_decay"],
            "group": ["optim", "optim"],
            "anova_eta2": [0.10, 0.30],
            "fanova": [0.2, 0.7],
            "rank_anova": [2.0, 1.0],
        }
    )
    table = compare_rankings({"A": a, "B": b})
    assert sorted(table["parameter"]) == sorted([*PARAMS, "optim.weight_decay"])
    row = table.set_index("parameter").loc["optim.lr"]
    assert row["anova_pct[A]"] == pytest.approx(55.0) and row["rank[A]"] == 1
    assert row["anova_pct[B]"] == pytest.approx(10.0) and row["rank[B]"] == 2
    assert row["fanova_pct[B]"] == pytest.approx(20.0)
    wd = table.set_index("parameter").loc["optim.weight_decay"]
    assert math.isnan(wd["anova_pct[A]"]) and wd["rank[B]"] == 1 and wd["group"] == "optim"
    # mean ranks: lr 1.5, weight_decay 1, boundary 2, attention 3, batch size none (last)
    assert table["parameter"].tolist() == [
        "optim.weight_decay", "optim.lr", "loss.weights.boundary", "model.attention.type",
        "data.batch_size",
    ]  # fmt: skip
    metas = {"A": _meta(), "B": {**_meta(), "experiment": "B", "metric": "dice", "n_used": 11}}
    paths = write_comparison(tmp_path, {"A": a, "B": b}, metas)
    assert set(paths) == {"csv", "md", "html"}
    md = paths["md"].read_text()
    assert "| optim.lr | 55.0 (1) | 60.0 | 10.0 (2) | 20.0 |" in md
    assert "different metrics ['dice', 'iou_lesion']" in md
    srcs = _images(paths["html"].read_text())  # ANOVA and fANOVA grouped bars
    assert len(srcs) == 2
    assert all(base64.b64decode(s.split(",", 1)[1]).startswith(PNG_SIGNATURE) for s in srcs)
    csv = pd.read_csv(paths["csv"])
    assert csv.loc[csv["parameter"] == "optim.weight_decay", "rank[B]"].item() == 1
    with pytest.raises(ConfigError, match="lacks columns"):
        compare_rankings({"A": a.drop(columns=["fanova"])})


def test_log_axis_only_for_log_spaced_samples():
    rng = np.random.default_rng(0)
    assert is_log_spaced(pd.Series(10 ** rng.uniform(-5, -3, 500)))  # two decades, log-uniform
    assert not is_log_spaced(pd.Series(rng.uniform(0, 1, 5000)))  # min ~1e-4, still linear
    assert not is_log_spaced(pd.Series(rng.uniform(1e-5, 1e-3, 500)))  # linear over two decades
    assert not is_log_spaced(pd.Series(-(10 ** rng.uniform(-5, -3, 500))))  # negative
    assert not is_log_spaced(pd.Series([1e-5, 1e-3, 1e-1] * 10))  # a grid: drawn per value


def test_plots_show_the_metric_at_the_fidelity_epoch():
    trials = _trials()
    y, label = outcome(trials, _curves(trials), _meta())
    assert label == "iou_lesion @ epoch 3"
    fin, ep = trials["final.iou_lesion"].to_numpy(), trials["epochs"].to_numpy()
    expected = np.where(ep >= 3, fin * 3 / ep, np.nan)  # the curves rise linearly to the final
    np.testing.assert_allclose(y, expected)
    # Without curves: the final value, of finished trials only.
    y, label = outcome(trials, None, _meta())
    assert label == "final.iou_lesion"
    np.testing.assert_allclose(y, np.where(trials["status"] == "completed", fin, np.nan))


def test_staged_plan_trials_are_told_apart_by_stage(tmp_path):
    # Two stages reuse the same trial ids; each trial must get its own stage's curve value.
    one = _trials(6, seed=1).assign(stage="01-coarse", epochs=3, status="completed")
    two = _trials(6, seed=2).assign(stage="02-focused", epochs=3, status="completed")
    trials = pd.concat([one, two], ignore_index=True)
    curves = _curves(trials).assign(stage=np.repeat(trials["stage"].to_numpy(), 3))
    y, _ = outcome(trials, curves, _meta())
    np.testing.assert_allclose(y, trials["final.iou_lesion"].to_numpy())
    page = _write(tmp_path, trials=trials, curves=curves, formats=("html",))["html"].read_text()
    assert "stopped at epoch" not in page  # legend text lives in the PNG, not the page
    assert "not available" not in page


def test_trial_level_outcome_without_epoch(tmp_path):
    # "What drives memory": one value per trial, no epoch, and no Pareto plot of memory on itself.
    meta = {**_meta(), "metric": "peak_memory_bytes", "mode": "min", "epoch": None}
    paths = _write(tmp_path, meta=meta, formats=("md", "html"))
    md = paths["md"].read_text()
    assert "Importance of peak_memory_bytes per trial, from 24 of 40 trials." in md
    assert "- **fidelity**: one value per trial (no epoch)" in md
    best = md.split("## Best trials")[1].splitlines()[4]
    done = _trials().query("status == 'completed'")
    assert best.startswith(f"| 1 | {done.loc[done['peak_memory_bytes'].idxmin(), 'trial_id']} |")
    page = paths["html"].read_text()
    assert "not available: the metric is peak memory itself" in page
    assert "not available: the curves have no values of peak_memory_bytes" in page
