"""``harness evaluate`` on a really trained tiny checkpoint: its outputs, its printing, its errors.

The evaluation's logic is tested through ``harness.evaluate`` in
``tests/harness/test_evaluate_api.py``; its inference parts in ``tests/trials/test_evaluate.py``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from rich.console import Console

import harness
from harness.cli._evaluate import print_evaluation
from search_spaces import apply_overrides, load_recipe

HARNESS = [sys.executable, "-m", "harness.cli"]
COUNTS = ("tp", "fp", "fn", "tn")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # One intra-op thread: on a CPU shared with other test workers torch's default threads
    # oversubscribe it and inference gets tens of times slower.
    env = {**os.environ, "COLUMNS": "160", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*HARNESS, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_overrides) -> Path:
    """best.pt of a real two-epoch run of cpu_demo shrunk (synthetic data, with split.json)."""
    from trials import run_trial

    run = tmp_path_factory.mktemp("eval_run")
    summary = run_trial(load_recipe("cpu_demo", tiny_overrides), workdir=run, device="cpu")
    assert summary.status == "completed", summary.error
    return run / "best.pt"


@pytest.fixture(scope="module")
def evaluated(checkpoint, tmp_path_factory):
    """The console script on every image, compared with itself, with two overlays."""
    out = tmp_path_factory.mktemp("eval_out")
    args = ["evaluate", str(checkpoint), "--compare", str(checkpoint.parent), "--overlays", "2"]
    res = _run([*args, "--split", "all", "--bootstrap", "300", "--out", str(out)], out)
    assert res.returncode == 0, res.stdout + res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    return res, out, metrics, pd.read_csv(out / "per_image.csv")


def test_cli_writes_metrics_per_image_table_and_overlays(evaluated):
    res, out, metrics, per_image = evaluated
    assert metrics["data"]["n_images"] == 12 == len(per_image)
    assert {"image_id", "label", *COUNTS, "iou_lesion", "hd95", "seconds"} <= set(per_image)
    assert metrics["seconds_per_image"] == pytest.approx(per_image["seconds"].mean())
    assert metrics["seconds_per_image"] > 0
    pngs = sorted((out / "overlays").glob("*.png"))
    assert [p.name[:3] for p in pngs] == ["01_", "02_"]
    width, height = Image.open(pngs[0]).size
    assert width > 3.5 * height  # five panels side by side with --compare, legend below
    stdout = " ".join(res.stdout.split())  # rich wraps long lines at the terminal's width
    for words in ("pooled", "95% CI", "mean per image", "s per image", "p (Wilcoxon)", "d_z"):
        assert words in stdout
    assert metrics["overlay_folder"] == str(out / "overlays")
    assert (
        f"2 overlays (TP green, FP magenta, FN blue, ground truth yellow) in {out / 'overlays'}"
        in stdout
    )


def test_lesion_fractions_are_pooled_printed_and_written(evaluated):
    res, _, metrics, per_image = evaluated
    tp, fp, fn, tn = (int(per_image[k].sum()) for k in COUNTS)
    n = tp + fp + fn + tn
    frac = metrics["lesion_fraction"]
    assert frac["true"] == pytest.approx((tp + fn) / n) and 0 < frac["true"] < 1
    assert frac["predicted"] == pytest.approx((tp + fp) / n)
    assert metrics["compare"]["lesion_fraction"]["predicted"] == frac["predicted"]  # itself
    line = (
        f"lesion fraction pooled over 12 images: true {frac['true']:.4f}, "
        f"predicted {frac['predicted']:.4f} (B {frac['predicted']:.4f})"
    )
    assert line in " ".join(res.stdout.split())


def test_bootstrap_interval_contains_the_pooled_value(evaluated):
    _, _, metrics, per_image = evaluated
    tp, fp, fn, tn = (int(per_image[k].sum()) for k in COUNTS)
    assert metrics["counts"] == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    pooled = metrics["metrics"]
    assert pooled["iou_lesion"]["value"] == pytest.approx(tp / (tp + fp + fn))
    assert pooled["precision"]["value"] == pytest.approx(tp / (tp + fp))
    assert pooled["pixel_accuracy"]["value"] == pytest.approx((tp + tn) / (tp + fp + fn + tn))
    assert pooled["hd95"]["value"] == pytest.approx(per_image["hd95"].mean())
    assert pooled["iou_lesion"]["mean_per_image"] == pytest.approx(per_image["iou_lesion"].mean())
    for name, m in pooled.items():
        # the training loop's own summary agrees with the statistics module
        assert m["value"] == pytest.approx(metrics["accumulator"][name]), name
        assert m["ci_low"] <= m["value"] <= m["ci_high"], (name, m)
        assert m["ci_high"] > m["ci_low"], name


def test_lesion_sizes_and_calibration_are_written_and_printed(evaluated):
    res, out, metrics, per_image = evaluated
    sizes = metrics["lesion_sizes"]
    assert sizes["thresholds"] == [64, 1024] and sizes["connectivity"] == 8
    assert sizes["detect_fraction"] == 0.5
    assert list(sizes["strata"]) == ["small", "medium", "large"]
    assert sizes["strata"]["medium"]["range"] == "64-1023 px"
    for name, s in sizes["strata"].items():
        for field in ("n", "detected", "pixels", "covered", "fp"):
            assert s["counts"][field] == per_image[f"lesions.{name}.{field}"].sum(), (name, field)
        if s["counts"]["n"]:
            det = s["detection_recall"]
            assert det["value"] == pytest.approx(s["counts"]["detected"] / s["counts"]["n"])
            assert det["ci_low"] <= det["value"] <= det["ci_high"]
        assert s["fp_per_image"]["value"] == pytest.approx(s["counts"]["fp"] / 12)
    # lesion pixels of all strata are the true lesion pixels; covered ones the true positives
    for field, counts in (("pixels", ("tp", "fn")), ("covered", ("tp",))):
        total = sum(s["counts"][field] for s in sizes["strata"].values())
        assert total == sum(metrics["counts"][k] for k in counts), field
    cal = metrics["calibration"]
    assert cal["n_pixels"] == sum(metrics["counts"].values()) and cal["n_bins"] == 15
    pixels = per_image[list(COUNTS)].sum(axis=1)
    assert cal["brier"]["value"] == pytest.approx(
        (per_image["brier"] * pixels).sum() / pixels.sum()
    )
    assert cal["ece"]["mean_per_image"] == pytest.approx(per_image["ece"].mean())
    assert 0 <= cal["ece"]["value"] <= 1 and "temperature" not in cal
    assert (out / "calibration.png").read_bytes()[:4] == b"\x89PNG"
    stdout = " ".join(res.stdout.split())
    assert "lesions by size (8-connected ground-truth components" in stdout
    assert "small (< 64 px)" in stdout and "FP comp./image" in stdout
    assert f"calibration (15 equal-width bins, {cal['n_pixels']} pixels): ECE" in stdout
    assert "wrote metrics.json, per_image.csv, calibration.png to" in stdout


def test_calibrate_fits_a_temperature_on_the_val_split(checkpoint, tmp_path):
    buffer = io.StringIO()
    result = harness.evaluate(
        checkpoint,
        out=tmp_path,
        bootstrap=50,
        size_thresholds="16,256",
        detect_fraction=0.3,
        calibrate=True,
    )
    print_evaluation(result, Console(file=buffer, width=200))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    temp = metrics["calibration"]["temperature"]
    assert temp["temperature"] > 0 and temp["nll_after"] <= temp["nll_before"]
    assert temp["fitted_on"].startswith("the val split of ") and temp["note"] is None
    assert temp["after"]["n_pixels"] == metrics["calibration"]["n_pixels"]
    assert metrics["lesion_sizes"]["thresholds"] == [16, 256]
    assert metrics["lesion_sizes"]["strata"]["small"]["range"] == "< 16 px"
    per_image = pd.read_csv(tmp_path / "per_image.csv")
    assert {"ece_calibrated", "brier_calibrated", "lesions.large.fp"} <= set(per_image)
    text = " ".join(buffer.getvalue().split())
    assert f"T = {temp['temperature']:.3f}; ECE" in text
    assert "temperature scaling fitted on the val split" in text
    assert "detected when >= 0.3 of a lesion is predicted" in text


def test_checkpoint_compared_with_itself_differs_by_zero_with_p_one(evaluated):
    _, _, metrics, per_image = evaluated
    paired = metrics["compare"]["paired"]
    assert metrics["compare"]["recipe_differences"] == []
    for name, p in paired.items():
        assert p["mean_diff"] == 0.0 and p["d_z"] == 0.0, name
        assert p["p_t"] == 1.0 and p["p_wilcoxon"] == 1.0 and p["p_t_holm"] == 1.0, name
        assert (p["diff_ci_low"], p["diff_ci_high"]) == (0.0, 0.0), name
    assert paired["iou_lesion"]["pooled_diff"] == 0.0
    np.testing.assert_array_equal(per_image["compare.iou_lesion"], per_image["iou_lesion"])
    np.testing.assert_array_equal(per_image["compare.tp"], per_image["tp"])


def test_per_class_breakdown_sums_back_to_the_pooled_counts(evaluated):
    from trials.data import STYLES

    _, _, metrics, per_image = evaluated
    classes = metrics["per_class"]
    assert set(classes) == set(per_image["label"]) and set(classes) <= set(STYLES)
    assert sum(c["n_images"] for c in classes.values()) == len(per_image)
    for key in COUNTS:
        assert sum(c["counts"][key] for c in classes.values()) == metrics["counts"][key]
    for label, c in classes.items():
        part = per_image[per_image["label"] == label]
        tp, fp, fn = (int(part[k].sum()) for k in ("tp", "fp", "fn"))
        assert c["metrics"]["iou_lesion"] == pytest.approx(tp / (tp + fp + fn))


def test_compare_with_a_different_recipe_says_so(checkpoint, tmp_path):
    from trials import load_checkpoint, save_checkpoint

    model, recipe, _ = load_checkpoint(checkpoint)
    other = tmp_path / "other.pt"
    save_checkpoint(other, model, apply_overrides(recipe, {"optim.lr": 1e-3}), 1, {})
    buffer = io.StringIO()
    result = harness.evaluate(
        checkpoint, split="val", compare=other, out=tmp_path / "eval", bootstrap=50
    )
    print_evaluation(result, Console(file=buffer, width=200))
    assert "the compared recipes differ in optim.lr" in " ".join(buffer.getvalue().split())
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["compare"]["recipe_differences"] == ["optim.lr"]
    # the same weights: the paired differences are still zero
    assert metrics["compare"]["paired"]["dice"]["p_t"] == 1.0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.pt", "no such checkpoint file"),
        (lambda d: _write(d / "notes.pt", "not a checkpoint"), "it is not a torch file"),
        (lambda d: _torch_save(d / "t.pt", "tensor"), "it holds a tensor of shape (3, 4)"),
        (
            lambda d: _torch_save(d / "d.pt", "dict"),
            "it holds a dict without 'recipe' or 'model' (keys: 'epoch', 'state_dict')",
        ),
        (lambda d: (d / "empty").mkdir() or None, "is empty; expected"),
    ],
)
def test_bad_input_is_one_clear_line_not_a_traceback(
    checkpoint, tmp_path, make, message, harness_cli
):
    made = make(tmp_path)
    args = ["evaluate", str(made)] if made is not None else ["evaluate", str(checkpoint)]
    if made is None:
        args += ["--data", str(tmp_path / "empty")]
    res = harness_cli(args, tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    stderr = " ".join(res.stderr.split())  # rich wraps long lines at the terminal's width
    assert message in stderr and "Traceback" not in res.stderr + res.stdout
    assert res.stderr.startswith("error: ")
    if made is not None and made.suffix == ".pt" and made.exists():
        assert stderr.startswith(f"error: CHECKPOINT {str(made)!r} is not a checkpoint: ")
        assert stderr.endswith(
            "expected a best.pt written by `harness train` "
            "(a torch checkpoint holding the recipe and the model state)"
        )


def _torch_save(path: Path, kind: str) -> Path:
    import torch

    torch.save(torch.zeros(3, 4) if kind == "tensor" else {"epoch": 3, "state_dict": {}}, path)
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_help_explains_the_options(tmp_path):
    res = _run(["evaluate", "--help"], tmp_path)
    assert res.returncode == 0
    for word in ("CHECKPOINT", "--data", "--split", "--compare", "--overlays", "--bootstrap"):
        assert word in res.stdout
    for word in ("--size-thresholds", "--detect-fraction", "--calibrate", "8-connected"):
        assert word in res.stdout


def test_an_interval_that_could_not_be_computed_prints_as_nan_not_as_markup():
    """rich would read "[nan, nan]" as a markup tag and print an empty cell."""
    from harness.cli._evaluate import metrics_table

    metric = {"aggregation": "pooled", "value": 0.5, "ci_low": float("nan"),
              "ci_high": float("nan"), "mean_per_image": 0.5, "ci_note": ""}  # fmt: skip
    result = {"checkpoint": "best.pt", "epoch": 3, "metrics": {"iou_lesion": metric},
              "data": {"source": "synthetic", "split": "test", "n_images": 1}}  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(metrics_table(result))
    assert "[nan, nan]" in out.getvalue()
