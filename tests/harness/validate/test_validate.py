"""``harness validate``: stratified folds, paired statistics, identical configurations, and the
command end to end on real cpu_demo training (Ray), with --resume and ``harness report``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from typer.testing import CliRunner

import harness
from analysis.validation import validation_statistics
from harness.paired import PairedSettings, ValidationDesign, make_folds, run_cells, write_folds
from search_spaces import ConfigError, DataError, apply_overrides, load_recipe
from trials.data import Sample, kfold_ids, load_splits, make_split

TOY = "harness.testing:component_effects"


@pytest.fixture(scope="module")
def tiny(tiny_overrides):
    return apply_overrides(load_recipe("cpu_demo"), tiny_overrides, source="test")


def _sample(i: int, fraction: float) -> Sample:
    mask = np.zeros((10, 100), dtype=bool)
    mask.flat[: round(fraction * 1000)] = True
    return Sample(f"img{i:03d}", np.zeros((10, 100, 3), dtype=np.uint8), mask)


# ---------------------------------------------------------------------------------- folds


def test_kfold_partitions_once_and_every_fold_spans_the_lesion_fractions():
    rng = np.random.default_rng(0)
    samples = [_sample(i, f) for i, f in enumerate(rng.uniform(0, 0.6, 23))]
    k = 5

    folds = kfold_ids(samples, k, seed=3)

    ids = [i for fold in folds for i in fold]
    assert sorted(ids) == sorted(s.id for s in samples) and len(ids) == len(set(ids))
    assert sorted(len(f) for f in folds) == [4, 4, 5, 5, 5]
    # stratified: each block of k consecutive lesion fractions is spread over k folds
    where = {i: f for f, fold in enumerate(folds) for i in fold}
    ordered = [s.id for s in sorted(samples, key=lambda s: s.lesion_fraction)]
    for start in range(0, len(ordered) - k + 1, k):
        assert len({where[i] for i in ordered[start : start + k]}) == k
    fraction = {s.id: s.lesion_fraction for s in samples}
    for fold in folds:  # so every fold holds one of the 5 smallest and one of the 5 largest
        values = sorted(fraction[i] for i in fold)
        assert values[0] <= fraction[ordered[k - 1]] and values[-1] >= fraction[ordered[-8]]
    assert kfold_ids(samples, k, seed=3) == folds  # seeded
    for bad in (1, 24):
        with pytest.raises(DataError, match="number of folds must be between 2"):
            kfold_ids(samples, bad, seed=0)


def test_fold_splits_are_disjoint_cover_the_non_test_images_and_keep_the_test_split(tiny, tmp_path):
    plan = make_folds(tiny, 3, None)
    whole = load_splits(tiny.data)
    test = sorted(s.id for s in whole.test)
    non_test = sorted(s.id for s in [*whole.train, *whole.val])
    assert (
        test
        and test == make_split([*whole.train, *whole.val, *whole.test], tiny.data.split)["test"]
    )

    write_folds(tmp_path, plan, seed=0)
    seen: list[str] = []
    for f, split in enumerate(plan.splits):
        assert not set(split["train"]) & set(split["val"])
        assert sorted(split["train"] + split["val"]) == non_test
        assert split["test"] == test
        seen += split["val"]
        # the file a cell reads gives the same split back, through the trials' own loader
        loaded = load_splits(tiny.data, tmp_path / f"fold-{f}")
        assert sorted(s.id for s in loaded.val) == split["val"]
        assert sorted(s.id for s in loaded.test) == test
    assert sorted(seen) == non_test  # every non-test image is validated on exactly once
    with pytest.raises(ConfigError, match="folds 11: more than the 10 images"):
        make_folds(tiny, 11, None)


# ----------------------------------------------------------------------------- statistics


def _cells(rng: np.random.Generator, folds: int, seeds: int, shift: float) -> pd.DataFrame:
    rows = []
    for f in range(folds):
        for j in range(seeds):
            common = rng.normal(0.6, 0.05)
            for variant, extra in (("reference", 0.0), ("candidate", shift)):
                rows.append(
                    {
                        "variant": variant,
                        "fold": f,
                        "seed": j,
                        "status": "completed",
                        "iou_lesion": common + extra + rng.normal(0, 0.01),
                        "dice": common + 0.1 + rng.normal(0, 0.02),
                        "precision": common + extra / 2 + rng.normal(0, 0.01),
                    }
                )
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # order must not matter


def test_paired_statistics_equal_scipy_on_the_cells():
    cells = _cells(np.random.default_rng(4), 3, 3, 0.04)

    result = validation_statistics(cells, main_metric="iou_lesion", search_best=0.9)

    t = result.table.set_index(["variant", "metric"])
    key = ["fold", "seed"]
    p_values = []
    for metric in result.metrics:
        cand = cells[cells["variant"] == "candidate"].sort_values(key)[metric].to_numpy()
        ref = cells[cells["variant"] == "reference"].sort_values(key)[metric].to_numpy()
        row = t.loc[("candidate", metric)]
        assert row["n"] == 9
        assert row["delta"] == pytest.approx((cand - ref).mean())
        assert row["p_t"] == pytest.approx(stats.ttest_rel(cand, ref).pvalue)
        assert row["p_wilcoxon"] == pytest.approx(stats.wilcoxon(cand - ref).pvalue)
        assert row["d_z"] == pytest.approx((cand - ref).mean() / (cand - ref).std(ddof=1))
        assert row["mean"] == pytest.approx(cand.mean()) and row["sd"] == pytest.approx(
            cand.std(ddof=1)
        )
        low, high = stats.t.interval(0.95, 8, loc=cand.mean(), scale=stats.sem(cand))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
        assert t.loc[("reference", metric), "mean"] == pytest.approx(ref.mean())
        p_values.append(row["p_t"])
    # Holm across the metrics (the family of one validation)
    holm = multipletests(p_values, method="holm")[1]
    got = [t.loc[("candidate", m), "p_holm"] for m in result.metrics]
    assert got == pytest.approx(list(holm))
    assert result.verdict.startswith("iou_lesion: better than the reference by 0.0")
    wc = result.winners_curse
    assert wc is not None and wc["optimism"] == pytest.approx(0.9 - t.loc[("candidate",
        "iou_lesion"), "mean"])  # fmt: skip
    assert wc["sentence"].startswith("the search's own best iou_lesion was 0.9")


def test_no_difference_is_not_distinguishable_and_states_the_detectable_size():
    cells = _cells(np.random.default_rng(5), 3, 2, 0.0)
    result = validation_statistics(cells, main_metric="iou_lesion")
    main = result.main().set_index("variant").loc["candidate"]
    assert main["verdict"] == "not distinguishable"
    assert "not distinguishable from the reference with 3 folds × 2 seeds" in result.verdict
    assert f"smallest detectable difference {main['mde']:.4g}" in result.verdict


def test_lesion_size_and_calibration_metrics_join_the_family_with_their_directions():
    cells = _cells(np.random.default_rng(6), 3, 2, 0.04)
    rng = np.random.default_rng(7)
    cells["ece"] = np.where(cells["variant"] == "candidate", 0.02, 0.06) + rng.normal(0, 0.002, 12)
    cells["lesion_recall_small"] = rng.uniform(0.3, 0.6, 12)
    cells.loc[cells["fold"] == 0, "lesion_recall_small"] = np.nan  # no small lesion in fold 0
    cells["lesion_recall_large"] = np.nan  # none in any fold
    result = validation_statistics(cells, main_metric="iou_lesion")
    assert result.metrics == (
        "iou_lesion", "precision", "dice", "lesion_recall_small", "lesion_recall_large", "ece",
    )  # fmt: skip
    t = result.table.set_index(["variant", "metric"])
    assert t.loc[("candidate", "ece"), "direction"] == "min"
    assert t.loc[("candidate", "ece"), "verdict"] == "better"  # lower ECE
    assert t.loc[("candidate", "lesion_recall_small"), "n"] == 4  # fold 0's pairs left out
    assert t.loc[("candidate", "lesion_recall_large"), "verdict"] == "not tested"


@pytest.mark.slow
@pytest.mark.ray
def test_identical_configurations_on_ray_are_not_distinguishable(ray_session, tiny, tmp_path):
    design = ValidationDesign(tiny, tiny, folds=2, seeds=3)

    cells, interrupted, ran = run_cells(
        tmp_path / "same", design, PairedSettings(trainable=TOY), console=None
    )

    assert not interrupted and ran == 12 and len(cells) == 12
    assert (cells["status"] == "completed").all()
    assert not cells.duplicated(["variant", "fold", "seed"]).any()
    result = validation_statistics(cells, main_metric="iou_lesion", folds=2, seeds=3)
    row = result.main().set_index("variant").loc["candidate"]
    assert row["verdict"] == "not distinguishable" and row["delta"] == 0 and row["p_t"] == 1
    assert result.verdict.startswith("iou_lesion: not distinguishable from the reference")


# ---------------------------------------------------------------------------- end to end


def _experiment(root: Path, recipe) -> Path:
    """A search directory as `harness search` leaves it (spec.json, trials.parquet)."""
    run = root / "search"
    run.mkdir()
    spec = {
        "command": "search --space loss_weights",
        "recipe": recipe.model_dump(mode="json"),
        "settings": {"metric": "iou_lesion", "mode": "max", "trainable": "trials:run_trial"},
    }
    (run / "spec.json").write_text(json.dumps(spec))
    trials = pd.DataFrame(
        {
            "trial_id": ["t0", "t1", "t2"],
            "status": ["completed", "completed", "pruned"],
            "epochs": [2, 2, 1],
            "final.iou_lesion": [0.31, 0.42, 0.5],
            "loss.weights.boundary": [0.2, 0.5, 0.0],
            "loss.weights.soft_dice": [0.15, 0.3, 0.1],
        }
    )
    trials.to_parquet(run / "trials.parquet")
    return run


@pytest.mark.slow
@pytest.mark.ray
def test_cli_validate_end_to_end_resume_and_report(ray_session, tiny, tmp_path):
    run = _experiment(tmp_path, tiny)
    runs = tmp_path / "runs"
    args = ["validate", str(run), "--folds", "3", "--seeds", "2", "--name", "v"]
    args += ["--runs-dir", str(runs)]
    from harness.cli._app import app

    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})

    assert res.exit_code == 0, res.output + repr(res.exception)
    out = runs / "v"
    for name in ("spec.json", "cells.parquet", "validation.csv", "validation.json"):
        assert (out / name).is_file(), name
    cells = pd.read_parquet(out / "cells.parquet")
    assert len(cells) == 12 and (cells["status"] == "completed").all()
    assert sorted(cells.groupby("variant").size().items()) == [("candidate", 6), ("reference", 6)]
    spec = json.loads((out / "spec.json").read_text())
    # the candidate is the best completed trial (t1; t2 was pruned), the reference the base
    assert spec["candidate_recipe"]["loss"]["weights"]["boundary"] == 0.5
    assert spec["reference_recipe"]["loss"]["weights"]["boundary"] == 0.2
    assert spec["search_best"] == 0.42 and spec["reference"].startswith("the base recipe")
    for f in range(3):  # each cell trained in its fold's folder, on its fold's split
        split = json.loads((out / f"fold-{f}" / "split.json").read_text())
        trial_ids = set(cells.loc[cells["fold"] == f, "trial_id"])
        dirs = {p.name for p in (out / f"fold-{f}").glob("trial_*")}
        assert {f"trial_{t}" for t in trial_ids} <= dirs
        assert split["val"] and not set(split["val"]) & set(split["train"])
    table = pd.read_csv(out / "validation.csv").set_index(["variant", "metric"])
    key = ["fold", "seed"]
    cand = cells[cells["variant"] == "candidate"].sort_values(key)["iou_lesion"].to_numpy()
    ref = cells[cells["variant"] == "reference"].sort_values(key)["iou_lesion"].to_numpy()
    assert table.loc[("candidate", "iou_lesion"), "p_t"] == pytest.approx(
        stats.ttest_rel(cand, ref).pvalue
    )
    # each trial's validation reported the lesion-size and calibration metrics; they are analysed
    assert {"ece", "brier", "fp_components_per_image", "lesion_recall_small"} <= set(cells)
    assert {"ece", "brier", "fp_components_per_image"} <= set(table.index.get_level_values(1))
    doc = json.loads((out / "validation.json").read_text())
    assert doc["winners_curse"]["search_best"] == 0.42
    assert doc["winners_curse"]["cv_mean"] == pytest.approx(cand.mean())
    assert "verdict:" in res.output and "winner's curse" in res.output

    again = CliRunner().invoke(app, ["validate", "--resume", "--name", "v", "--runs-dir",
                                     str(runs)], env={"COLUMNS": "200"})  # fmt: skip
    assert again.exit_code == 0, again.output + repr(again.exception)
    assert "nothing to run" in again.output
    after = pd.read_parquet(out / "cells.parquet")
    pd.testing.assert_frame_equal(after, cells)  # no cell ran again

    rep = CliRunner().invoke(app, ["report", str(out)], env={"COLUMNS": "200"})
    assert rep.exit_code == 0, rep.output + repr(rep.exception)
    text = (out / "report" / "validation.md").read_text()
    assert "**Verdict.**" in text and "Winner's curse" in text and "## Folds" in text


# ------------------------------------------------------------------------------ bad input


def test_bad_input_fails_before_ray_with_the_rule(tiny, tmp_path):
    run = _experiment(tmp_path, tiny)
    runs = tmp_path / "runs"

    def call(**kw) -> None:
        harness.validate(runs_dir=runs, **kw)

    # the API names its parameters; the command line maps them to its flags (below)
    with pytest.raises(ConfigError, match=r"run .*nowhere: no such experiment directory"):
        call(run=tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="folds must be >= 2"):
        call(run=run, folds=1)
    with pytest.raises(ConfigError, match="folds 50: more than the 10 images"):
        call(run=run, folds=50)
    with pytest.raises(ConfigError, match="against 'nope': unknown recipe 'nope'"):
        call(run=run, against="nope")
    with pytest.raises(ConfigError, match="not a search directory"):
        call(run=tmp_path)
    with pytest.raises(ConfigError, match=r"a search directory .* or config"):
        call()
    assert not runs.exists()  # nothing was left behind
    res = subprocess.run(
        [sys.executable, "-m", "harness.cli", "validate", str(run), "--folds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "--folds must be >= 2" in res.stderr
    assert "Traceback" not in res.stderr
