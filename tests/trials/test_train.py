"""run_trial: real training of a shrunken cpu_demo, and every way a trial can end."""

from __future__ import annotations

import ctypes
import json
import math

import numpy as np
import pytest
import torch

from search_spaces import FINISHED_STATUSES, TrialStatus, load_recipe
from trials import STATUSES, TrialSummary, load_checkpoint, run_trial
from trials.data import load_splits, predict_full
from trials.model import build_model

METRICS = {
    "iou_lesion",
    "iou_background",
    "miou",
    "dice",
    "precision",
    "recall",
    "f1",
    "pixel_accuracy",
    "boundary_f1",
    "hd95",
}
# lesion-size and calibration metrics, from the same validation pass
BREAKDOWNS = {
    "lesion_recall_small",
    "lesion_recall_medium",
    "lesion_recall_large",
    "fp_components_per_image",
    "ece",
    "brier",
}


@pytest.fixture(scope="module")
def tiny(tiny_overrides):
    return load_recipe("cpu_demo", tiny_overrides)


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("trial")
    reports: list[tuple[int, dict]] = []
    summary = run_trial(tiny, lambda e, m: reports.append((e, m)), workdir=workdir)
    return summary, reports, workdir


def test_reports_every_epoch_with_all_metrics(trained, tiny):
    summary, reports, _ = trained
    assert summary.status == "completed" and summary.error is None
    assert [e for e, _ in reports] == [1, 2] and summary.epochs == 2
    for _, metrics in reports:
        assert set(metrics) >= METRICS
        assert {"train_loss", "lr", "images_per_s", "memory_peak_bytes"} <= set(metrics)
        # every loss term of cpu_demo is on and logged
        assert {f"loss_{t}" for t in tiny.loss.weights.model_dump()} <= set(metrics)
        assert 0.0 <= metrics["iou_lesion"] <= 1.0 and math.isfinite(metrics["train_loss"])
        assert set(metrics) >= BREAKDOWNS
        for name in ("ece", "brier"):
            assert 0.0 <= metrics[name] <= 1.0, name
        assert metrics["fp_components_per_image"] >= 0.0
        recalls = [metrics[f"lesion_recall_{s}"] for s in ("small", "medium", "large")]
        # nan only where the validation images hold no lesion of that size
        assert all(math.isnan(r) or 0.0 <= r <= 1.0 for r in recalls)
        assert not all(math.isnan(r) for r in recalls)
    assert reports[0][1]["encoder_frozen"] == 1.0 and reports[1][1]["encoder_frozen"] == 0.0
    assert summary.final == reports[-1][1]
    assert summary.best_epoch in (1, 2)
    assert summary.peak_memory_bytes > 0 and summary.memory_kind == "rss"
    assert summary.images_per_s > 0 and summary.wall_time_s > 0
    assert summary.status in STATUSES
    assert type(summary.status) is str and type(summary.to_dict()["status"]) is str
    json.dumps(summary.to_dict())


def test_statuses_are_the_shared_vocabulary():
    assert set(STATUSES) <= FINISHED_STATUSES
    assert all(type(s) is str for s in STATUSES)
    summary = TrialSummary()
    summary.end(TrialStatus.MEMORY_CAP, "cap")
    assert (summary.status, summary.error) == ("memory_cap", "cap")
    assert type(summary.status) is str and type(summary.to_dict()["status"]) is str
    with pytest.raises(ValueError):
        summary.end("finished")


def test_writes_split_and_a_checkpoint_that_reproduces_predictions(trained, tiny):
    summary, _, workdir = trained
    split = json.loads((workdir / "split.json").read_text())
    assert {"train", "val", "test"} <= set(split)
    model, recipe, meta = load_checkpoint(workdir / "best.pt")
    assert recipe == tiny and meta["epoch"] == summary.best_epoch
    # The checkpoint reproduces the reported validation IoU on full images.
    splits = load_splits(recipe.data, workdir)
    from trials import evaluate_samples

    acc = evaluate_samples(model, splits.val, recipe, torch.device("cpu"))
    assert acc.compute()["iou_lesion"] == pytest.approx(summary.best["iou_lesion"], abs=1e-9)


def test_same_seed_same_result(tiny):
    recipe = load_recipe("cpu_demo", {**_flat(tiny), "optim.epochs": 1})
    a, b = run_trial(recipe), run_trial(recipe)
    assert a.final["train_loss"] == b.final["train_loss"]
    assert a.final["iou_lesion"] == b.final["iou_lesion"]


def test_frozen_encoder_keeps_its_initial_weights_and_statistics(tiny, tmp_path):
    recipe = load_recipe(
        "cpu_demo", {**_flat(tiny), "optim.epochs": 1, "optim.freeze_encoder_epochs": 1}
    )
    summary = run_trial(recipe, workdir=tmp_path)
    assert summary.status == "completed"
    # The loop seeds, builds the loss, then the model: rebuilding the same way gives the
    # initial weights, which the frozen encoder (and its BatchNorm statistics) must still have.
    from trials.losses import CompositeLoss

    torch.manual_seed(recipe.seed)
    initial = build_model(recipe.model, CompositeLoss(recipe.loss).required_outputs)
    trained, _, _ = load_checkpoint(tmp_path / "best.pt")
    before, after = initial.state_dict(), trained.state_dict()
    enc = [k for k in before if k.startswith("fpn.encoder.")]
    dec = [k for k in before if k.startswith("fpn.decoder.") and before[k].is_floating_point()]
    assert enc and all(torch.equal(before[k], after[k]) for k in enc)
    assert any(not torch.equal(before[k], after[k]) for k in dec)


def test_memory_cap_ends_the_trial_with_status_and_peak(tiny):
    recipe = load_recipe("cpu_demo", {**_flat(tiny), "memory.cap": "1MiB"})
    summary = run_trial(recipe)
    assert summary.status == "memory_cap"
    assert "memory cap exceeded" in summary.error and "1.00 MiB" in summary.error
    assert summary.peak_memory_bytes > 2**20
    assert summary.epochs == 0


def test_early_stopping_with_patience(tiny):
    recipe = load_recipe(
        "cpu_demo",
        {
            **_flat(tiny),
            "optim.epochs": 4,
            "optim.early_stopping.patience": 1,
            # no gain is large enough to count: the run stops one epoch after the first
            "optim.early_stopping.min_rel_improvement": 1e9,
        },
    )
    summary = run_trial(recipe)
    assert summary.status == "early_stopped" and summary.epochs == 2 and summary.best_epoch == 1


def test_divergence_is_a_status(tiny):
    # A real cause: a normalisation std typed as ~0 overflows the inputs to inf, the forward
    # pass yields NaN and so does every loss term (the query matcher must not crash on it).
    recipe = load_recipe("cpu_demo", {**_flat(tiny), "data.std": [1e-37, 1e-37, 1e-37]})
    summary = run_trial(recipe)
    assert summary.status == "diverged", summary.final
    assert "loss is nan at epoch 1, step 1" in summary.error
    assert summary.epochs == 0


def test_bad_data_is_a_status(tiny, tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    recipe = load_recipe("cpu_demo", {**_flat(tiny), "data.root": str(tmp_path)})
    summary = run_trial(recipe)
    assert summary.status == "data_error" and str(tmp_path) in summary.error


def test_sliding_window_of_the_trained_model_matches_predict_mask(trained):
    _, _, workdir = trained
    model, recipe, _ = load_checkpoint(workdir / "best.pt")
    splits = load_splits(recipe.data, workdir)
    image = splits.val[0].image
    size = recipe.data.tile_size
    prob = predict_full(model.predict_mask, image[:size, :size], recipe.data, "cpu")
    from trials.data import build_transform

    x = build_transform(recipe.data, train=False)(image=image[:size, :size])["image"][None]
    with torch.no_grad():
        direct = torch.sigmoid(model.predict_mask(x))[0, 0].numpy()
    np.testing.assert_allclose(prob, direct, atol=1e-5)


def _flat(recipe) -> dict:
    from search_spaces import flatten

    return flatten(recipe)


def _copy_of_soybean_with_a_corrupt_image(src, dst):
    """Six real pairs (downscaled later by the recipe) plus one truncated JPEG."""
    (dst / "images").mkdir(parents=True)
    (dst / "masks").mkdir()
    for i in range(1, 8):
        (dst / "images" / f"image{i}.jpeg").write_bytes(
            (src / "images" / f"image{i}.jpeg").read_bytes()
        )
        (dst / "masks" / f"image{i}.png").write_bytes(
            (src / "masks" / f"image{i}.png").read_bytes()
        )
    data = (dst / "images" / "image7.jpeg").read_bytes()
    (dst / "images" / "image7.jpeg").write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize("policy", ["error", "skip"])
def test_a_corrupt_image_in_real_data_is_a_status_or_skipped(tiny, tmp_path, soybean_root, policy):
    _copy_of_soybean_with_a_corrupt_image(soybean_root, tmp_path / "data")
    recipe = load_recipe(
        "cpu_demo",
        {
            **_flat(tiny),
            "data.root": str(tmp_path / "data"),
            "data.max_image_side": 128,
            "data.on_bad_sample": policy,
            "optim.epochs": 1,
        },
    )
    summary = run_trial(recipe, workdir=tmp_path / "run")
    if policy == "error":
        assert summary.status == "data_error" and "image7.jpeg" in summary.error
        assert summary.epochs == 0
    else:
        assert summary.status == "completed" and summary.epochs == 1
        assert len(summary.skipped) == 1 and "image7.jpeg" in summary.skipped[0][0]
        split = json.loads((tmp_path / "run" / "split.json").read_text())
        assert sorted(i for k in ("train", "val", "test") for i in split[k]) == [
            f"image{i}" for i in range(1, 7)
        ]


@pytest.mark.slow
def test_training_that_allocates_past_a_small_rss_cap_ends_with_memory_cap(tiny):
    from trials.memory import RssSampler

    # Large tiles in large batches: the first forward/backward pass needs well over 300 MiB
    # more than the process holds now; the guard ends the trial and this process goes on.
    # Earlier tests leave freed memory in malloc's arenas, which training would reuse without
    # growing the RSS: hand it back to the system first so the baseline is what is in use.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    cap = RssSampler()() + 300 * 2**20
    recipe = load_recipe(
        "cpu_demo",
        {
            **_flat(tiny),
            "data.synthetic.size": 192,
            "data.tile_size": 192,
            "data.stride": 192,
            "data.image_size": 192,
            "data.batch_size": 24,
            "memory.cap": cap,
        },
    )
    summary = run_trial(recipe)
    assert summary.status == "memory_cap", summary.to_dict()
    assert summary.peak_memory_bytes > cap and summary.epochs < recipe.optim.epochs
    assert "cap is" in summary.error
    assert RssSampler()() > 0  # still alive
