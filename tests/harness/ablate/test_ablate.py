"""``harness ablate``: components, paired cells on Ray, power of the statistics, resume, path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.paired import (
    AblationDesign,
    PairedSettings,
    build_variants,
    run_cells,
    run_cells_inline,
)
from harness.testing import BOUNDARY_GAIN, CELL_SD
from search_spaces import (
    LOSS_COMPONENTS,
    ConfigError,
    apply_overrides,
    list_components,
    load_recipe,
    variant_drop,
    variant_only,
)

HARNESS = [sys.executable, "-m", "harness.cli"]
TOY = "harness.testing:component_effects"


def _run(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*HARNESS, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def demo():
    return apply_overrides(load_recipe("cpu_demo"), {"optim.epochs": 2}, source="test")


# ----------------------------------------------------------------------------- components


def test_components_are_the_loss_registry_plus_attention_and_aux_heads():
    from trials.losses import list_losses

    assert sorted(LOSS_COMPONENTS) == list_losses()
    assert list_components() == [*LOSS_COMPONENTS, "attention", "aux_heads"]


def test_drop_rescales_the_remaining_weights_to_the_original_total(demo):
    weights = demo.loss.weights.model_dump()
    v = variant_drop(demo, ["boundary"])
    after = apply_overrides(demo, v.overrides, source="t").loss.weights.model_dump()

    assert after["boundary"] == 0.0 and v.renormalized
    assert sum(after.values()) == pytest.approx(sum(weights.values()))
    # the others keep their proportions: total 1.1, 0.9 left after boundary's 0.2
    assert after["focal_tversky"] == pytest.approx(0.4 * 1.1 / 0.9)
    kept = variant_drop(demo, ["boundary"], renormalize=False)
    assert kept.overrides == {"loss.weights.boundary": 0.0} and not kept.renormalized


def test_aux_heads_attention_and_only(demo):
    aux = apply_overrides(demo, variant_drop(demo, ["aux_heads"]).overrides, source="t")
    assert (aux.loss.weights.region, aux.loss.weights.affinity, aux.loss.weights.query) == (0, 0, 0)
    att = variant_drop(demo, ["attention"])
    assert att.overrides == {"model.attention.blocks": 0} and not att.renormalized
    only = apply_overrides(demo, variant_only(demo, "soft_dice").overrides, source="t")
    w = only.loss.weights.model_dump()
    assert w["soft_dice"] == pytest.approx(1.1) and sum(w.values()) == pytest.approx(1.1)


def test_bad_components_fail_with_the_list_of_known_ones(demo):
    with pytest.raises(ConfigError, match=r"^drop 'bondary': unknown component; known .*boundary"):
        build_variants(demo, ["bondary"], [])
    with pytest.raises(ConfigError, match="only 'attention': not a single loss term") as err:
        build_variants(demo, [], ["attention"])
    assert err.value.param == "only"
    with pytest.raises(ConfigError, match="no loss term would be left") as err:
        build_variants(demo, ["focal_tversky+boundary+weighted_ce+soft_dice+aux_heads"], [])
    assert err.value.param == "drop"
    with pytest.raises(ConfigError, match="nothing to ablate"):
        build_variants(demo, [], [])
    each = build_variants(demo, ["each"], [])
    assert [v.name for v in each] == ["full"] + [f"drop_{c}" for c in list_components()]


def test_cells_pair_seeds_across_variants(demo):
    design = AblationDesign(demo, build_variants(demo, ["boundary"], []), 3)
    cells = design.cells()
    assert list(cells)[:2] == ["full/s0", "drop_boundary/s0"]
    for k in range(3):
        full, drop = cells[f"full/s{k}"].overrides, cells[f"drop_boundary/s{k}"].overrides
        assert full["seed"] == drop["seed"] == demo.seed + k


# ------------------------------------------------------------------- power and honesty


def _simulate(demo, drop: str, n_sim: int = 200, seeds: int = 5) -> np.ndarray:
    """p of the paired t-test (Holm over the one variant = p) in ``n_sim`` seeded ablations."""
    from analysis import ablation_statistics

    settings = PairedSettings(trainable=TOY)
    ps = []
    for i in range(n_sim):
        base = apply_overrides(demo, {"seed": 1000 + seeds * i}, source="simulation")
        design = AblationDesign(base, build_variants(base, [drop], []), seeds)
        cells = run_cells_inline(design, settings)
        main = ablation_statistics(cells, main_metric="iou_lesion").main()
        ps.append(float(main.loc[main["variant"] == f"drop_{drop}", "p_holm"].iloc[0]))
    return np.array(ps)


@pytest.mark.slow
@pytest.mark.ray
def test_power_and_honesty_of_200_simulated_ablations(demo):
    # the toy's boundary effect: removing it lowers iou by 2 sd of the paired difference
    delta = BOUNDARY_GAIN * demo.loss.weights.boundary
    assert delta / (CELL_SD * np.sqrt(2)) == pytest.approx(2.0)
    # the paired t-test's power at d_z = 2, n = 5, alpha = 0.05 (two-sided): 0.91
    from statsmodels.stats.power import TTestPower

    assert TTestPower().power(effect_size=2.0, nobs=5, alpha=0.05) == pytest.approx(0.91, abs=0.01)

    detected = (_simulate(demo, "boundary") < 0.05).mean()
    flagged = int((_simulate(demo, "attention") < 0.05).sum())  # attention has no effect

    assert detected >= 0.80
    upper = stats.binom.ppf(0.975, 200, 0.05)  # 95% binomial interval of 5% of 200: <= 17
    assert flagged <= upper, f"{flagged} of 200 null ablations flagged"


# ------------------------------------------------------------------------- real Ray runs


@pytest.mark.slow
@pytest.mark.ray
def test_cells_on_ray_equal_the_inline_backend(ray_session, demo, tmp_path):
    design = AblationDesign(demo, build_variants(demo, ["boundary", "attention"], []), 2)
    settings = PairedSettings(trainable=TOY)

    cells, interrupted, _ = run_cells(tmp_path / "abl", design, settings, console=None)

    assert not interrupted and len(cells) == 6 and (cells["status"] == "completed").all()
    inline = run_cells_inline(design, settings)
    key = ["variant", "seed"]
    merged = cells.merge(inline, on=key, suffixes=("_ray", "_inline"))
    assert len(merged) == 6
    np.testing.assert_allclose(merged["iou_lesion_ray"], merged["iou_lesion_inline"])
    # every variant of one seed ran a different configuration (no state leaks between the
    # trials an actor reuses)
    assert cells.groupby("seed")["iou_lesion"].nunique().eq(3).all()
    assert (tmp_path / "abl" / "cells.parquet").is_file()


@pytest.mark.slow
@pytest.mark.ray
def test_real_training_ablation_on_ray(ray_session, tiny_overrides, tmp_path):
    base = apply_overrides(load_recipe("cpu_demo"), tiny_overrides, source="test")
    design = AblationDesign(base, build_variants(base, ["boundary"], []), 2)

    cells, interrupted, _ = run_cells(tmp_path / "real", design, PairedSettings(), console=None)

    assert not interrupted and len(cells) == 4
    assert (cells["status"] == "completed").all()
    for col in ("iou_lesion", "precision", "recall", "f1", "dice", "pixel_accuracy"):
        assert cells[col].between(0, 1).all(), col
    assert (cells["peak_memory_bytes"] > 0).all() and (cells["wall_time_s"] > 0).all()
    assert (tmp_path / "real" / "split.json").is_file()  # one split shared by every cell


@pytest.mark.slow
@pytest.mark.ray
def test_cli_ablate_writes_the_table_and_files(tmp_path):
    res = _run(
        [
            "ablate",
            "--drop",
            "boundary",
            "--seeds",
            "3",
            "--epochs",
            "2",
            "--trainable",
            TOY,
            "--name",
            "abl",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    run = tmp_path / "runs" / "abl"
    for name in (
        "spec.json",
        "variants.json",
        "cells.parquet",
        "ablation.csv",
        "ablation.json",
        "ablation.md",
        "forest.png",
    ):
        assert (run / name).is_file(), name
    assert "drop_boundary" in res.stdout and "smallest |Δ iou_lesion| detectable" in res.stdout
    table = pd.read_csv(run / "ablation.csv")
    row = table[(table["variant"] == "drop_boundary") & (table["metric"] == "iou_lesion")].iloc[0]
    cells = pd.read_parquet(run / "cells.parquet")
    full = cells[cells["variant"] == "full"].set_index("seed")["iou_lesion"]
    drop = cells[cells["variant"] == "drop_boundary"].set_index("seed")["iou_lesion"]
    assert row["delta"] == pytest.approx((drop - full).mean())
    assert row["p_t"] == pytest.approx(stats.ttest_rel(drop, full).pvalue)
    spec = json.loads((run / "spec.json").read_text())
    assert spec["kind"] == "ablation" and spec["renormalize"] is True


def test_cli_bad_input_is_one_line(tmp_path, harness_cli):
    res = harness_cli(["ablate", "--drop", "nope"], tmp_path)
    assert res.returncode == 2 and "unknown component" in res.stderr
    assert "Traceback" not in res.stderr
    res = harness_cli(["ablate", "--surrogate", "--drop", "boundary"], tmp_path)
    assert res.returncode == 2 and "--surrogate predicts an ablation path" in res.stderr


@pytest.mark.slow
@pytest.mark.ray
def test_driver_killed_mid_ablation_resumes_only_the_missing_cells(tmp_path, wait_for_snapshot):
    args = [
        "ablate",
        "--drop",
        "boundary",
        "--seeds",
        "4",
        "--epochs",
        "4",
        "--trainable",
        "harness.testing:slow_component_effects",
        "--name",
        "killed",
    ]
    proc = subprocess.Popen(
        [*HARNESS, *args],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    table = tmp_path / "runs" / "killed" / "cells.parquet"

    def finished() -> pd.DataFrame:
        try:
            cells = pd.read_parquet(table)
        except (OSError, ValueError):
            return pd.DataFrame(columns=["trial_id", "status"])
        return cells[cells["status"] == "completed"]

    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and len(finished()) < 2:
            time.sleep(0.2)
            assert proc.poll() is None, "the ablation ended before it could be killed"
        before = finished()
        # the kill lands once Ray's own snapshot (what --resume restores) has these cells
        wait_for_snapshot(table.parent, before["trial_id"], deadline)
        assert 2 <= len(before) < 8
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    res = _run(["ablate", "--resume", "--name", "killed"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    final = pd.read_parquet(table)
    assert len(final) == 8 and not final.duplicated(["variant", "seed"]).any()
    assert (final["status"] == "completed").all()
    kept = before.merge(final, on="trial_id", suffixes=("_before", "_after"))
    assert len(kept) == len(before)  # nothing finished was lost or run again
    assert (kept["iou_lesion_before"] == kept["iou_lesion_after"]).all()
    assert (tmp_path / "runs" / "killed" / "ablation.md").is_file()


# ------------------------------------------------------------------------------- path


SPACE = """
description: three recipe values the toy reads or ignores
params:
  loss.weights.boundary: {type: float, low: 0.0, high: 0.6}
  model.attention.blocks: {type: int, low: 0, high: 3}
  loss.weights.query: {type: float, low: 0.0, high: 0.4}
"""


@pytest.fixture(scope="module")
def toy_search(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pathsearch")
    (root / "space.yaml").write_text(SPACE)
    res = _run(
        [
            "search",
            "--space",
            "space.yaml",
            "--trials",
            "12",
            "--max-epochs",
            "2",
            "--grace-period",
            "2",
            "--trainable",
            TOY,
            "--metric",
            "iou_lesion",
            "--mode",
            "max",
            "--seed",
            "3",
            "--name",
            "toy",
        ],
        root,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return root


@pytest.mark.slow
@pytest.mark.ray
def test_ablation_path_with_real_runs(toy_search):
    res = _run(["ablate", "--path", "runs/toy", "--seeds", "2", "--name", "p"], toy_search)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads((toy_search / "runs" / "p" / "path.json").read_text())
    params = [s["parameter"] for s in doc["steps"]]
    assert len(params) == len(set(params)) >= 1
    assert set(params) <= {"loss.weights.boundary", "model.attention.blocks", "loss.weights.query"}
    # each step's gain is its value minus the previous one's, and they add up to the total
    values = [doc["source_value"]] + [s["value"] for s in doc["steps"]]
    assert [s["gain"] for s in doc["steps"]] == pytest.approx(list(np.diff(values)))
    assert doc["total_gain"] == pytest.approx(values[-1] - values[0])
    # a step took the best of its candidates
    for s in doc["steps"]:
        assert s["value"] == pytest.approx(max(s["candidates"].values()))
    assert "ablation path (runs)" in res.stdout
    assert (toy_search / "runs" / "p" / "path.md").is_file()


@pytest.mark.slow
@pytest.mark.ray
def test_surrogate_path_runs_nothing(toy_search):
    res = _run(
        ["ablate", "--path", "runs/toy", "--surrogate", "--name", "ps"], toy_search, timeout=120
    )
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads((toy_search / "runs" / "ps" / "path.json").read_text())
    assert doc["method"] == "surrogate" and doc["surrogate"]["n_trials"] >= 10
    assert not (toy_search / "runs" / "ps" / "path").exists()


@pytest.mark.slow
@pytest.mark.ray
def test_base_from_an_experiment_is_its_best_trial(toy_search):
    res = _run(
        [
            "ablate",
            "--base",
            "runs/toy",
            "--drop",
            "boundary",
            "--seeds",
            "2",
            "--epochs",
            "2",
            "--trainable",
            TOY,
            "--name",
            "frombest",
        ],
        toy_search,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    spec = json.loads((toy_search / "runs" / "frombest" / "spec.json").read_text())
    trials = pd.read_parquet(toy_search / "runs" / "toy" / "trials.parquet")
    done = trials[trials["status"].isin(["completed", "early_stopped"])]
    best = done.loc[done["final.iou_lesion"].idxmax()]
    assert spec["base"].startswith(f"best trial {best['trial_id']}")
    assert spec["recipe"]["loss"]["weights"]["boundary"] == pytest.approx(
        best["loss.weights.boundary"]
    )
    assert spec["recipe"]["model"]["attention"]["blocks"] == best["model.attention.blocks"]


@pytest.mark.slow
@pytest.mark.ray
def test_storage_path_holds_the_ablation(tmp_path):
    shared = tmp_path / "shared"
    res = _run(
        [
            "ablate",
            "--drop",
            "attention",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--trainable",
            TOY,
            "--storage",
            f"file://{shared}",
            "--name",
            "st",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert (shared / "st" / "cells.parquet").is_file() and (shared / "st" / "ablation.md").is_file()
    assert not (tmp_path / "runs").exists()
