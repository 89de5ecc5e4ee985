"""The images an evaluation predicts, and the prediction itself: timed, image by image."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces import DataError, Recipe, apply_overrides

__all__ = [
    "EVAL_SPLITS",
    "Inference",
    "evaluation_samples",
    "infer",
    "metric_kinds",
    "predict_mask",
]

EVAL_SPLITS = ("test", "val", "train", "all")
_SPLIT_SEARCH_DEPTH = 3  # best.pt may sit in a trial folder below the experiment's split.json


def _split_dir(checkpoint: Path) -> Path | None:
    for folder in list(checkpoint.resolve().parents)[:_SPLIT_SEARCH_DEPTH]:
        if (folder / "split.json").is_file():
            return folder
    return None


def evaluation_samples(
    recipe: Recipe, data: str | Path | None, split: str, checkpoint: Path
) -> tuple[list, dict[str, Any]]:
    """The samples of ``split`` and where they came from.

    Without ``data``, the checkpoint recipe's own data, split as the ``split.json`` of its run
    (found up to three folders above the checkpoint) says.

    Raises:
        DataError: ``data`` is not a folder, holds no usable images, or the split is empty.
    """
    from trials.data import load_splits

    split_dir = None
    if data is None:
        split_dir = _split_dir(checkpoint)
    else:
        if not Path(data).is_dir():
            raise DataError(f"data {str(data)!r}: no such folder", param="data")
        recipe = apply_overrides(recipe, {"data.root": str(Path(data).resolve())}, "data folder")
    splits = load_splits(recipe.data, split_dir)
    parts = EVAL_SPLITS[:3] if split == "all" else (split,)
    samples = [s for part in parts for s in getattr(splits, part)]
    if not samples:
        raise DataError(
            f"split {split}: the {split} part of {splits.source} is empty (no test folder, or "
            f"data.split.test_fraction = 0); choose another of val, train or all",
            param="split",
        )
    info = {
        "source": splits.source,
        "split": split,
        "split_file": str(splits.split_path) if split_dir is not None else None,
        "n_images": len(samples),
        "skipped": [list(s) for s in splits.skipped],
    }
    return samples, info


@dataclass(frozen=True)
class Inference:
    """One model's predictions over a list of images.

    Attributes:
        rows: one dict per image (``image_id``, ``label``, confusion counts, every registered
            metric, ``seconds``), in the order of the images.
        accumulator: the training loop's own metric accumulator over the same images.
        seconds: wall time of the whole pass.
    """

    rows: list[dict[str, Any]]
    accumulator: Any
    seconds: float


def infer(
    model: Any,
    recipe: Recipe,
    samples: list,
    device: Any,
    tick: Callable[[int, int], None] | None = None,
    observe: Callable[[Any, np.ndarray, np.ndarray], None] | None = None,
) -> Inference:
    """``trials.evaluate_samples`` with each image's seconds.

    Args:
        tick: called with (images done, images in all) after each image.
        observe: receives each sample with its logits and probabilities (see
            :class:`~trials.evaluate.PixelStats`).
    """
    from trials.train import evaluate_samples

    stamps = [time.perf_counter()]

    def on_image(done: int, total: int) -> None:
        stamps.append(time.perf_counter())
        if tick is not None:
            tick(done, total)

    acc = evaluate_samples(model, samples, recipe, device, on_image, observe)
    rows = acc.per_image()
    for row, seconds in zip(rows, np.diff(stamps), strict=True):
        row["seconds"] = float(seconds)
    return Inference(rows, acc, stamps[-1] - stamps[0])


def metric_kinds() -> tuple[dict[str, Callable[[Mapping[str, int]], float]], list[str]]:
    """Pooled metrics as functions of summed counts, and the per-image-mean ones."""
    from trials.metrics import ConfusionCounts, confusion_counts, create_metric, get_metric
    from trials.metrics import list_metrics as names

    pooled: dict[str, Callable[[Mapping[str, int]], float]] = {}
    averaged: list[str] = []
    for name in names():
        if get_metric(name).pooled and get_metric(name).inputs is confusion_counts:
            metric = create_metric(name)
            pooled[name] = lambda c, m=metric: m.from_inputs(ConfusionCounts(**c))
        else:
            averaged.append(name)
    return pooled, averaged


def predict_mask(model: Any, recipe: Recipe, sample: Any, device: Any) -> np.ndarray:
    """The thresholded full-size prediction of one sample (sliding windows)."""
    from trials.data import predict_full

    prob = predict_full(
        lambda b: model.predict_mask(b).float(),
        sample.image,
        recipe.data,
        device,
        out_size=sample.target_mask.shape,
    )
    return prob >= 0.5
