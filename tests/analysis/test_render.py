"""Report rendering of a real :func:`analysis.compute_importance` result: every file written, the
JSON round trip, the fidelity header, banner, parameter source and rule at the top, the ranking
with 90% intervals and every column defined below it, interactions as lower bounds, the ranking
across epochs, a self-contained HTML page, "not available" lines, and experiment comparison."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

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
    compare_rankings,
    compute_importance,
)
from analysis.render import (
    column_definitions,
    is_log_spaced,
    outcome,
    ranking_rows,
    write_comparison,
    write_report,
)
from search_spaces import ConfigError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PARAMS = ["optim.lr", "loss.weights.boundary", "model.attention.type", "data.batch_size"]
ANOVA = "ANOVA % of variance over the trials as searched [90% CI]"
FANOVA = "fANOVA % of variance over the search space [90% CI]"


def experiment(tables, write_search, path: Path, n: int = 120, seed: int = 0):
    """A search of ``n`` trials over :data:`PARAMS` (lr, boundary and attention matter, lr and
    boundary interact, batch size does nothing), run for 5 epochs with a third of the trials
    stopped at epoch 1 and a third at epoch 3; peak memory grows with the batch size."""
    rng = np.random.default_rng(seed)
    lr, boundary = 10 ** rng.uniform(-5, -2, n), rng.uniform(0.1, 0.3, n)
    att, batch = rng.choice(["esca", "none", "se"], n), rng.choice([2, 4, 8], n)
    params = pd.DataFrame(dict(zip(PARAMS, (lr, boundary, att, batch), strict=True)))
    quality = 0.5 + 0.05 * np.log10(lr) + boundary + 0.03 * (att == "esca")
    quality += 0.2 * (boundary - 0.2) * np.log10(lr) + rng.normal(0, 0.01, n)
    values = quality[:, None] * np.arange(1, 6) / 5
    for i in range(n):
        values[i, (1, 3, 5)[i % 3] :] = np.nan
    memory = (1 + batch / 8 + rng.uniform(0, 0.2, n)) * 2**30
    extra = {"peak_memory_bytes": memory}
    trials, curves = tables(params, values, metric="iou_lesion", extra_trial_columns=extra)
    return load_experiment(write_search(path, trials, curves, metric="iou_lesion"))


def importance(exp, **kwargs):
    """The report ``harness report`` computes, with fewer resamples."""
    return compute_importance(exp, **{"bootstrap": 50, **kwargs})


def write(out: Path, exp, report, **over) -> dict[str, Path]:
    """Every file of ``report`` (of ``exp``), as ``harness report`` writes them."""
    args = {
        "importance": report.table,
        "interactions": report.interactions,
        "groups": report.groups,
        "meta": report.meta(),
        "trials": exp.trials,
        "curves": exp.curves,
        "analysed": report.fidelity.table,
        "stability": report.stability,
    }
    args.update(over)
    return write_report(out, **args)


@pytest.fixture(scope="module")
def built(tmp_path_factory, tables, write_search):
    """A 360-trial experiment (120 at epoch 5: 30 per parameter), its report (reliable, with
    fANOVA, interactions and stability) and its files, written once for the tests that read them."""
    root = tmp_path_factory.mktemp("render")
    exp = experiment(tables, write_search, root / "lw", n=360)
    report = importance(exp)
    return exp, report, write(root / "report", exp, report)


@pytest.fixture(scope="module")
def small(tmp_path_factory, tables, write_search):
    """40 trials, 13 of them at epoch 5 (asked for): unreliable, no fANOVA, no interaction."""
    root = tmp_path_factory.mktemp("small")
    exp = experiment(tables, write_search, root / "few", n=40)
    report = importance(exp, epoch=5)
    return exp, report, write(root / "report", exp, report)


def _section(md: str, title: str) -> str:
    """The text of a Markdown section, up to the next one of the same or a higher level."""
    level = title.split(" ", 1)[0]
    body = md.split(f"\n{title}\n", 1)[1]
    return re.split(rf"\n#{{1,{len(level)}}} ", body, maxsplit=1)[0]


def _md_rows(text: str) -> list[list[str]]:
    """The cells of the first Markdown table in ``text``, header first (separator skipped)."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines if "---|" not in ln]


def _cell(v: float, lo: float, hi: float) -> str:
    return f"{100 * v:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def _meta() -> dict:
    """A hand-written meta, for :func:`outcome` alone."""
    return {"experiment": "lw-test", "metric": "iou_lesion", "mode": "max", "epoch": 3,
            "n_trials_total": 40, "n_used": 24, "rule": "test", "notes": []}  # fmt: skip


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


def test_every_file_is_written_and_json_round_trips(built):
    _, report, paths = built
    assert {k: p.name for k, p in paths.items()} == {
        "csv": "importance.csv",
        "json": "importance.json",
        "md": "report.md",
        "html": "report.html",
    }
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths.values())
    text = paths["json"].read_text()
    doc = json.loads(text)  # strict JSON: no NaN tokens
    assert "NaN" not in text
    meta = doc["meta"]
    assert meta["header"] == "epoch 5 of 5, 120 of 360 trials" and meta["banner"] is None
    assert meta["definitions"] == DEFINITIONS and meta["level"] == 0.9
    assert "bins" not in meta
    assert [list(r) for r in doc["importance"]] == [TABLE_COLUMNS] * len(report.table)
    by_name = {r["parameter"]: r for r in doc["importance"]}
    top = report.table.iloc[0]
    assert by_name[top["parameter"]]["anova"] == pytest.approx(top["anova"])
    fanova_hi = top["fanova_hi"]  # NaN (fANOVA refused below its floor) is written as null
    expected = None if pd.isna(fanova_hi) else pytest.approx(fanova_hi)
    assert by_name[top["parameter"]]["fanova_hi"] == expected
    assert by_name[top["parameter"]]["anova_rank"] == 1
    pairs = [list(r) for r in doc["interactions"]]
    assert len(report.interactions) >= 1 and pairs == [INTERACTION_COLUMNS] * len(pairs)
    assert len(pairs) == len(report.interactions)
    assert [list(r) for r in doc["groups"]] == [GROUP_COLUMNS] * 4
    assert [list(r) for r in doc["stability"]] == [STABILITY_COLUMNS] * len(report.stability)
    assert [r["epoch"] for r in doc["stability"]] == [1, 2, 3, 4, 5]
    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns) == TABLE_COLUMNS
    assert csv["parameter"].tolist() == report.table["parameter"].tolist()
    np.testing.assert_allclose(csv["anova"], report.table["anova"].astype(float))


def test_markdown_states_fidelity_source_and_rule_then_the_ranking(built):
    _, report, paths = built
    md, meta = paths["md"].read_text(), report.meta()
    head = md.split("## Ranking")[0]
    assert "**epoch 5 of 5, 120 of 360 trials: what drives iou_lesion (max)**" in head
    assert f"- **parameters from**: {meta['param_source']}" in head
    assert f"- **rule**: {meta['rule']}" in head
    assert "WARNING" not in md  # no banner without mixed budgets
    rows = _md_rows(_section(md, "## Ranking"))
    # 10 or more trials per parameter: no reliability column
    assert rows[0] == [
        "parameter", "group", "treatment", ANOVA, "ANOVA P(rank)", "F", "p", FANOVA,
        "fANOVA P(rank)",
    ]  # fmt: skip
    assert [r[0] for r in rows[1:]] == report.table["parameter"].tolist()
    assert rows[1][0] == "optim.lr" and rows[-1][0] == "data.batch_size"
    for r, cells in zip(report.table.itertuples(), rows[1:], strict=True):
        assert cells[3] == _cell(r.anova, r.anova_lo, r.anova_hi)
        assert cells[7] == _cell(r.fanova, r.fanova_lo, r.fanova_hi)
        assert cells[4] == f"{r.anova_rank_prob:.2f} (#{r.anova_rank})"
    assert "±" not in md and "eta" not in md


def test_every_column_shown_is_defined_below_the_table(built):
    paths = built[2]
    md = paths["md"].read_text()
    shown = _md_rows(_section(md, "## Ranking"))[0]
    defs = _section(md, "### What the columns mean")
    terms = re.findall(r"^- \*\*(.+?)\*\*: ", defs, flags=re.M)
    assert all(c in terms or (c in ("F", "p") and "F, p" in terms) for c in shown), terms
    # the sentences are the report's own definitions
    for key in ("ANOVA share", "fANOVA share", "interval", "P(rank)", "F, p", "treatment"):
        assert DEFINITIONS[key] in defs
    assert "reliability" not in terms  # no column, no definition
    # right below the ranking, before any other section
    assert md.index("### What the columns mean") < md.index("## Group totals")
    page = paths["html"].read_text()
    for term in terms:
        assert f"<dt>{term}</dt>" in page.replace("&#x27;", "'")


def test_interactions_groups_and_ranking_across_epochs(built, tmp_path):
    exp, report, paths = built
    md = paths["md"].read_text()
    inter = _md_rows(_section(md, "## Interactions (shares are lower bounds)"))
    assert inter[0] == ["interaction", "share % [90% CI]", "F", "p", "p Holm"]
    first = report.interactions.iloc[0]
    assert inter[1][:2] == [f"{first.a} × {first.b}", _cell(first.share, first.share_lo,
                                                             first.share_hi)]  # fmt: skip
    assert (first.a, first.b) == ("optim.lr", "loss.weights.boundary") and first.share > 0.01
    assert inter[1][4] == (f"{first.p_holm:.1e}" if first.p_holm < 1e-3 else f"{first.p_holm:.3f}")
    assert DEFINITIONS["interaction share"] in md and "lower bound" in md
    groups = _md_rows(_section(md, "## Group totals"))
    assert groups[0] == ["group", ANOVA, FANOVA] and groups[1][0] == "optim"
    stable = _md_rows(_section(md, "## Ranking across epochs"))
    assert stable[0] == ["epoch", "trials", "top parameter", "τ"]
    assert [r[0] for r in stable[1:]] == ["1", "2", "3", "4", "5 (reported)"]
    assert stable[1][1:3] == ["360", "optim.lr"] and stable[-1][3] == "1.00"
    assert DEFINITIONS["stability"] in md
    page = paths["html"].read_text()
    assert "<h2>Ranking across epochs</h2>" in page and "5 (reported)" in page
    assert "<h2>Interactions (shares are lower bounds)</h2>" in page
    # no stability table given (or an empty one): no section
    md = write(tmp_path, exp, report, stability=None, formats=("md",))["md"].read_text()
    assert "Ranking across epochs" not in md
    empty = importance(exp, stability=False, bootstrap=0)
    assert empty.stability.empty
    md = write(tmp_path, exp, empty, formats=("md",))["md"].read_text()
    assert "Ranking across epochs" not in md


def test_ranking_rows_format(built, small):
    report = built[1]
    rows = ranking_rows(report.table, top=2)
    assert [r["parameter"] for r in rows] == ["optim.lr", "loss.weights.boundary"]
    r = report.table.iloc[1]
    assert rows[1] == {
        "parameter": "loss.weights.boundary",
        "group": "loss weights",
        "treatment": r.treatment,
        ANOVA: _cell(r.anova, r.anova_lo, r.anova_hi),
        "ANOVA P(rank)": f"{r.anova_rank_prob:.2f} (#2)",
        "F": f"{r.anova_F:.2f}",
        "p": f"{r.anova_p:.1e}",
        FANOVA: _cell(r.fanova, r.fanova_lo, r.fanova_hi),
        "fANOVA P(rank)": f"{r.fanova_rank_prob:.2f} (#{r.fanova_rank})",
    }
    compact = ranking_rows(small[1].table, compact=True)
    assert list(compact[0]) == [
        "parameter", "treatment", "ANOVA % [90% CI]", "ANOVA P(rank)", "F", "p",
        "fANOVA % [90% CI]", "fANOVA P(rank)", "reliability",
    ]  # fmt: skip
    assert {row["reliability"] for row in compact} == {"unreliable"}
    # without a bootstrap there is a rank but no probability
    plain = ranking_rows(importance(built[0], bootstrap=0, stability=False).table, top=1)
    assert plain[0]["ANOVA P(rank)"] == "#1" and plain[0][ANOVA].count("[") == 0
    assert [t for t, _ in column_definitions(rows[0])] == [
        "parameter", "group", "treatment", ANOVA, "ANOVA P(rank)", "F, p", FANOVA,
        "fANOVA P(rank)", "text instead of a number",
    ]  # fmt: skip


def test_an_unreliable_report_says_so_and_why_fanova_is_missing(small):
    _, report, paths = small
    assert not report.meta()["reliable"] and report.table["fanova"].isna().all()
    md = paths["md"].read_text()
    assert "**epoch 5 of 5, 13 of 40 trials: what drives iou_lesion (max)**" in md
    rows = _md_rows(_section(md, "## Ranking"))
    assert rows[0][-1] == "reliability"
    expected = "unreliable: 13 trials for 4 parameters (< 15 per parameter)"
    assert {r[-1] for r in rows[1:]} == {expected}
    # a missing share shows why, not a blank
    note = report.table["note"].iloc[0]
    assert note.startswith("fANOVA n/a") and {r[7] for r in rows[1:]} == {note}
    assert all(r[3].count("[") == 1 for r in rows[1:])  # ANOVA still has its intervals
    defs = _section(md, "### What the columns mean")
    assert f"- **reliability**: {DEFINITIONS['reliability']}" in defs
    assert "not available: no interaction was tested" in md
    page = paths["html"].read_text()
    assert f"not available: fANOVA shares were not computed ({note})" in page
    assert "unreliable: 13 trials for 4 parameters (&lt; 15 per parameter)" in page


def test_the_mixed_budgets_banner_heads_both_pages(built, tmp_path):
    exp = built[0]
    report = importance(exp, metric="final.iou_lesion", mixed_budgets=True, bootstrap=0)
    banner = report.meta()["banner"]
    assert banner and "MIXED BUDGETS" in banner
    paths = write(tmp_path, exp, report, formats=("md", "html", "json"))
    md = paths["md"].read_text()
    lines = md.splitlines()
    assert lines[2] == f"> **WARNING: {banner}**"  # right under the title
    assert md.count(banner) == 1  # not repeated among the notes
    assert "**once per trial, 360 of 360 trials: what drives final.iou_lesion" in md
    page = paths["html"].read_text()
    top = page.split("<h2>", 1)[0]
    assert '<p class="banner" role="alert">WARNING: ' in top and "MIXED BUDGETS" in top
    assert json.loads(paths["json"].read_text())["meta"]["banner"] == banner


def _images(page: str) -> list[str]:
    return re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", page)


def test_html_is_self_contained_with_png_figures(built):
    page = built[2]["html"].read_text()
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
    # both shares on one scale, with one wording and their intervals; no undefined "fANOVA %"
    assert "% of explained variance" not in page and "±" not in page
    assert f"<th>{ANOVA}</th>" in page and f"<th>{FANOVA}</th>" in page
    assert "<th>fANOVA %</th>" not in page
    assert "<strong>epoch 5 of 5, 120 of 360 trials: what drives iou_lesion (max)</strong>" in page
    assert '<h3>What the columns mean</h3>\n<dl class="defs">' in page


@pytest.mark.slow
def test_missing_pieces_say_not_available(built, tmp_path):
    exp = built[0]
    report = importance(exp, fanova=False, interactions=0, bootstrap=0)
    trials = exp.trials.drop(columns=["peak_memory_bytes"])
    paths = write(tmp_path, exp, report, trials=trials, curves=None, analysed=None)
    page = paths["html"].read_text()
    assert "not available: no learning curves (curves.parquet is missing or empty)" in page
    assert "not available: peak memory was not recorded" in page
    assert "not available: fANOVA shares were not computed" in page
    assert "not available: no interaction was tested" in page
    # Without curves the plots fall back to the final metric of finished trials.
    assert len(_images(page)) == 3  # bars, parallel coordinates, marginals
    md = paths["md"].read_text()
    assert "not available: no interaction was tested" in md
    doc = json.loads(paths["json"].read_text())
    assert all(r["fanova"] is None for r in doc["importance"]) and doc["interactions"] == []


def test_no_trials_and_no_finished_trials(built, tmp_path):
    exp, report, _ = built
    paths = write(tmp_path / "a", exp, report, trials=None, curves=None, formats=("md", "html"))
    assert "not available: no trials table" in paths["html"].read_text()
    assert "not available: no trials table" in paths["md"].read_text()
    pruned = exp.trials.assign(status="pruned")
    paths = write(tmp_path / "b", exp, report, trials=pruned, curves=None, formats=("md",))
    md = paths["md"].read_text()
    assert "not available: no finished (completed or early-stopped) trial has a value of" in md


def test_formats_subset_and_unknown(built, tmp_path):
    exp, report, _ = built
    paths = write(tmp_path, exp, report, formats=("csv", "json"))
    assert set(paths) == {"csv", "json"} and not (tmp_path / "report.html").exists()
    with pytest.raises(ConfigError, match=r"unknown report format\(s\) \['pdf'\]"):
        write(tmp_path, exp, report, formats=("md", "pdf"))


def test_comparison_lists_union_with_both_rankings(built, tables, write_search, tmp_path):
    a = built[1]
    rng = np.random.default_rng(5)
    lr, wd = 10 ** rng.uniform(-5, -2, 40), rng.uniform(0, 0.1, 40)
    params = pd.DataFrame({"optim.lr": lr, "optim.weight_decay": wd})
    values = (0.3 + 0.01 * np.log10(lr) + 3 * wd + rng.normal(0, 0.01, 40))[:, None]
    trials, curves = tables(params, values, metric="dice")
    b = importance(load_experiment(write_search(tmp_path / "B", trials, curves, metric="dice")))
    table = compare_rankings({"A": a.table, "B": b.table})
    assert sorted(table["parameter"]) == sorted([*PARAMS, "optim.weight_decay"])
    row = table.set_index("parameter").loc["optim.lr"]
    lr_a = a.table.set_index("parameter").loc["optim.lr"]
    lr_b = b.table.set_index("parameter").loc["optim.lr"]
    assert row["anova_pct[A]"] == pytest.approx(100 * lr_a["anova"]) and row["rank[A]"] == 1
    assert row["rank[B]"] == lr_b["anova_rank"] == 2
    assert row["fanova_pct[B]"] == pytest.approx(100 * lr_b["fanova"])
    wd_row = table.set_index("parameter").loc["optim.weight_decay"]
    assert math.isnan(wd_row["anova_pct[A]"]) and wd_row["rank[B]"] == 1
    assert wd_row["group"] == "optim"
    assert table["parameter"].iloc[-1] == "data.batch_size"  # mean rank 4: last
    metas = {"A": a.meta(), "B": b.meta()}
    paths = write_comparison(tmp_path, {"A": a.table, "B": b.table}, metas)
    assert set(paths) == {"csv", "md", "html"}
    md = paths["md"].read_text()
    cells = (
        f"{100 * lr_a['anova']:.1f} (1) | {100 * lr_a['fanova']:.1f} | "
        f"{100 * lr_b['anova']:.1f} (2) | {100 * lr_b['fanova']:.1f}"
    )
    assert f"| optim.lr | {cells} |" in md
    assert "A: Importance of iou_lesion: epoch 5 of 5, 120 of 360 trials." in md
    assert "different metrics ['dice', 'iou_lesion']" in md
    page = paths["html"].read_text()
    assert "explained variance" not in page
    srcs = _images(page)  # ANOVA and fANOVA grouped bars
    assert len(srcs) == 2
    assert all(base64.b64decode(s.split(",", 1)[1]).startswith(PNG_SIGNATURE) for s in srcs)
    csv = pd.read_csv(paths["csv"])
    assert csv.loc[csv["parameter"] == "optim.weight_decay", "rank[B]"].item() == 1
    with pytest.raises(ConfigError, match="lacks columns"):
        compare_rankings({"A": a.table.drop(columns=["fanova"])})


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


def test_staged_plan_trials_are_told_apart_by_stage(built, tmp_path):
    # Two stages reuse the same trial ids; each trial must get its own stage's curve value.
    one = _trials(6, seed=1).assign(stage="01-coarse", epochs=3, status="completed")
    two = _trials(6, seed=2).assign(stage="02-focused", epochs=3, status="completed")
    trials = pd.concat([one, two], ignore_index=True)
    curves = _curves(trials).assign(stage=np.repeat(trials["stage"].to_numpy(), 3))
    y, _ = outcome(trials, curves, _meta())
    np.testing.assert_allclose(y, trials["final.iou_lesion"].to_numpy())
    exp, report, _ = built
    meta = {**report.meta(), "epoch": 3}  # these hand-made trials ran 3 epochs
    page = write(tmp_path, exp, report, trials=trials, curves=curves, analysed=None, meta=meta,
                 formats=("html",))["html"].read_text()  # fmt: skip
    assert "stopped at epoch" not in page  # legend text lives in the PNG, not the page
    assert "not available" not in page


def test_trial_level_outcome_without_epoch(built, tmp_path):
    # "What drives memory": one value per trial, no epoch, and no Pareto plot of memory on itself.
    exp = built[0]
    report = importance(exp, metric="peak_memory_bytes", bootstrap=0)
    assert report.mode == "min" and report.fidelity.epoch is None
    assert report.table["parameter"].iloc[0] == "data.batch_size"
    paths = write(tmp_path, exp, report, formats=("md", "html"))
    md = paths["md"].read_text()
    header = report.meta()["header"]
    assert header.startswith("once per trial, ")
    assert f"**{header}: what drives peak_memory_bytes (min)**" in md
    best = md.split("## Best trials")[1].splitlines()[4]
    done = exp.trials.query("status == 'completed'")
    assert best.startswith(f"| 1 | {done.loc[done['peak_memory_bytes'].idxmin(), 'trial_id']} |")
    page = paths["html"].read_text()
    assert "not available: the metric is peak memory itself" in page
    assert "not available: the curves have no values of peak_memory_bytes" in page
