"""``harness evaluate``: the metrics of a checkpoint on full images, with bootstrap intervals.

Inference is ``trials.evaluate_samples`` (sliding windows, metrics against full-resolution
masks); the statistics are ``analysis.summarize_evaluation`` / ``label_breakdown`` /
``compare_evaluations``; this module loads, times, writes and prints.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.tune._rundir import environment, write_json
from search_spaces import ConfigError, DataError, Recipe, apply_overrides, flatten

__all__ = ["EVAL_SPLITS", "evaluate_command", "run_evaluation"]

EVAL_SPLITS = ("test", "val", "train", "all")
_SPLIT_SEARCH_DEPTH = 3  # best.pt may sit in a trial folder below the experiment's split.json
_OVERLAY_METRIC = "iou_lesion"


def _checkpoint_path(path: Path, option: str) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise ConfigError(f"{option} {str(path)!r}: no such checkpoint file")
    return path


def _split_dir(checkpoint: Path) -> Path | None:
    for folder in list(checkpoint.resolve().parents)[:_SPLIT_SEARCH_DEPTH]:
        if (folder / "split.json").is_file():
            return folder
    return None


def _samples(recipe: Recipe, data: Path | None, split: str, checkpoint: Path) -> tuple[Any, dict]:
    """The samples of ``split`` and where they came from."""
    from trials.data import load_splits

    split_dir = None
    if data is None:
        split_dir = _split_dir(checkpoint)
    else:
        if not Path(data).is_dir():
            raise DataError(f"--data {str(data)!r}: no such folder")
        recipe = apply_overrides(recipe, {"data.root": str(Path(data).resolve())}, "--data")
    splits = load_splits(recipe.data, split_dir)
    parts = EVAL_SPLITS[:3] if split == "all" else (split,)
    samples = [s for part in parts for s in getattr(splits, part)]
    if not samples:
        raise DataError(
            f"--split {split}: the {split} split of {splits.source} is empty (no test folder, or "
            f"data.split.test_fraction = 0); choose another with --split val|train|all"
        )
    info = {
        "source": splits.source,
        "split": split,
        "split_file": str(splits.split_path) if split_dir is not None else None,
        "n_images": len(samples),
        "skipped": [list(s) for s in splits.skipped],
    }
    return samples, info


def _infer(model: Any, recipe: Recipe, samples: list, device: Any, progress: Progress, title: str):
    """Per-image table (with ``seconds``), the accumulator and the total seconds."""
    from trials import evaluate_samples

    task = progress.add_task(title, total=len(samples))
    stamps = [time.perf_counter()]

    def tick(done: int, total: int) -> None:
        stamps.append(time.perf_counter())
        progress.update(task, completed=done)

    acc = evaluate_samples(model, samples, recipe, device, tick)
    table = pd.DataFrame(acc.per_image())
    table["seconds"] = np.diff(stamps)
    return table, acc, stamps[-1] - stamps[0]


def _metric_kinds() -> tuple[dict[str, Any], list[str]]:
    """Pooled metrics as functions of summed counts, and the per-image-mean ones."""
    from trials.metrics import ConfusionCounts, confusion_counts, create_metric, get_metric
    from trials.metrics import list_metrics as names

    pooled: dict[str, Any] = {}
    averaged: list[str] = []
    for name in names():
        if get_metric(name).pooled and get_metric(name).inputs is confusion_counts:
            metric = create_metric(name)
            pooled[name] = lambda c, m=metric: m.from_inputs(ConfusionCounts(**c))
        else:
            averaged.append(name)
    return pooled, averaged


def _recipe_differences(a: Recipe, b: Recipe) -> list[str]:
    fa, fb = flatten(a), flatten(b)
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k) and k != "name")


def _overlay_order(table: pd.DataFrame, other: pd.DataFrame | None, k: int) -> list[int]:
    """Rows to draw: the largest |difference| with a comparison, else the worst images."""
    values = table[_OVERLAY_METRIC].to_numpy(dtype=float)
    if other is not None:
        key = -np.abs(values - other[_OVERLAY_METRIC].to_numpy(dtype=float))
    else:
        key = values
    return [int(i) for i in np.argsort(np.nan_to_num(key, nan=np.inf), kind="stable")[:k]]


def _predict(model: Any, recipe: Recipe, sample: Any, device: Any) -> np.ndarray:
    from trials.data import predict_full

    prob = predict_full(
        lambda b: model.predict_mask(b).float(),
        sample.image,
        recipe.data,
        device,
        out_size=sample.target_mask.shape,
    )
    return prob >= 0.5


def _tint(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    out = image.astype(np.float32)
    out[mask] = 0.45 * out[mask] + 0.55 * np.asarray(colour, dtype=np.float32)
    return out.astype(np.uint8)


def write_overlay(
    path: Path,
    sample: Any,
    pred: np.ndarray,
    title: str,
    other: np.ndarray | None = None,
    other_title: str = "",
) -> None:
    """One PNG panel: image, ground truth, prediction (and the second prediction, difference)."""
    from matplotlib.figure import Figure
    from PIL import Image

    target = sample.target_mask
    image = np.asarray(Image.fromarray(sample.image).resize(target.shape[::-1], Image.BILINEAR))
    panels = [
        (image, "image"),
        (_tint(image, target, (255, 215, 0)), "ground truth"),
        (_tint(image, pred, (230, 30, 30)), title),
    ]
    if other is not None:
        diff = np.zeros((*target.shape, 3), dtype=np.uint8)
        diff[pred & other] = (200, 200, 200)
        diff[pred & ~other] = (230, 30, 30)
        diff[~pred & other] = (30, 90, 230)
        panels += [
            (_tint(image, other, (30, 90, 230)), other_title),
            (diff, "grey both, red A only, blue B only"),
        ]
    fig = Figure(figsize=(3.2 * len(panels), 3.6), layout="constrained")
    for ax, (picture, name) in zip(fig.subplots(1, len(panels)), panels, strict=True):
        ax.imshow(picture)
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.suptitle(sample.id, fontsize=9)
    fig.savefig(path, dpi=100)


def run_evaluation(
    checkpoint: Path,
    *,
    data: Path | None = None,
    split: str = "test",
    compare: Path | None = None,
    overlays: int = 0,
    out: Path | None = None,
    device: str = "auto",
    n_resamples: int = 2000,
    seed: int = 0,
    console: Console | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint and write ``metrics.json``, ``per_image.csv`` and overlays.

    Returns:
        The content of ``metrics.json`` (with ``"out"``, the output folder).

    Raises:
        ConfigError: a missing or unreadable checkpoint, an unknown split, a negative count.
        DataError: the data folder is missing, has no images, or the split is empty.
    """
    console = console or Console()
    if split not in EVAL_SPLITS:
        raise ConfigError(f"--split {split!r}: choose from {', '.join(EVAL_SPLITS)}")
    if overlays < 0:
        raise ConfigError(f"--overlays must be >= 0, got {overlays}")
    path = _checkpoint_path(checkpoint, "CHECKPOINT")
    path_b = _checkpoint_path(compare, "--compare") if compare is not None else None
    import torch

    from analysis import compare_evaluations, label_breakdown, summarize_evaluation
    from trials import load_checkpoint

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "auto":
        dev = torch.device(device)
    model, recipe, meta = load_checkpoint(path, map_location=dev)
    samples, data_info = _samples(recipe, data, split, path)
    out = Path(out) if out is not None else path.parent / "eval" / split
    out.mkdir(parents=True, exist_ok=True)
    boot = {"n_resamples": n_resamples, "seed": seed, "confidence": 0.95, "method": "BCa"}
    pooled, averaged = _metric_kinds()

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
        table, acc, seconds = _infer(model.to(dev), recipe, samples, dev, progress, path.name)
        table_b = None
        if path_b is not None:
            model_b, recipe_b, meta_b = load_checkpoint(path_b, map_location=dev)
            table_b, _, seconds_b = _infer(
                model_b.to(dev), recipe_b, samples, dev, progress, path_b.name
            )

    result: dict[str, Any] = {
        "command": "evaluate",
        "checkpoint": str(path),
        "epoch": meta.get("epoch"),
        "recipe": recipe.name,
        "device": str(dev),
        "data": data_info,
        "seconds_per_image": seconds / len(samples),
        "bootstrap": boot,
        "counts": {k: int(table[k].sum()) for k in ("tp", "fp", "fn", "tn")},
        "metrics": summarize_evaluation(table, pooled, averaged, **boot),
        "per_class": label_breakdown(table, pooled, averaged),
        "environment": environment(),
    }
    # The accumulator is the training loop's own summary: the pooled values must agree with it.
    result["accumulator"] = acc.compute()
    written = table.copy()
    if table_b is not None:
        diffs = _recipe_differences(recipe, recipe_b)
        result["compare"] = {
            "checkpoint": str(path_b),
            "epoch": meta_b.get("epoch"),
            "recipe": recipe_b.name,
            "recipe_differences": diffs,
            "seconds_per_image": seconds_b / len(samples),
            "metrics": summarize_evaluation(table_b, pooled, averaged, **boot),
            "paired": compare_evaluations(table, table_b, pooled, averaged, **boot),
        }
        for col in table_b.columns.drop(["image_id", "label"]):
            written[f"compare.{col}"] = table_b[col].to_numpy()
    written.to_csv(out / "per_image.csv", index=False)
    result["overlays"] = _write_overlays(
        out, samples, table, table_b, overlays, (model, recipe), path_b, dev
    )
    result["out"] = str(out)
    write_json(out / "metrics.json", result)
    return result


def _write_overlays(
    out: Path,
    samples: list,
    table: pd.DataFrame,
    table_b: pd.DataFrame | None,
    k: int,
    model_a: tuple[Any, Recipe],
    path_b: Path | None,
    dev: Any,
) -> list[str]:
    if k == 0:
        return []
    from trials import load_checkpoint

    folder = out / "overlays"
    folder.mkdir(exist_ok=True)
    model_b = load_checkpoint(path_b, map_location=dev)[:2] if path_b is not None else None
    by_id = {s.id: s for s in samples}
    written = []
    for rank, row in enumerate(_overlay_order(table, table_b, k), start=1):
        sample = by_id[table["image_id"].iloc[row]]
        pred = _predict(*model_a, sample, dev)
        title = f"A: IoU {table[_OVERLAY_METRIC].iloc[row]:.3f}"
        other, other_title = None, ""
        if model_b is not None and table_b is not None:
            other = _predict(*model_b, sample, dev)
            other_title = f"B: IoU {table_b[_OVERLAY_METRIC].iloc[row]:.3f}"
        target = folder / f"{rank:02d}_{sample.id}.png"
        write_overlay(target, sample, pred, title, other, other_title)
        written.append(str(target))
    return written


def _fmt(value: float) -> str:
    return "nan" if value is None or math.isnan(value) else f"{value:.4f}"


def _print(result: dict[str, Any], console: Console) -> None:
    data = result["data"]
    table = Table(
        title=f"{Path(result['checkpoint']).name} (epoch {result['epoch']}) on {data['source']}, "
        f"{data['split']} split, {data['n_images']} images"
    )
    for col in ("metric", "pooled", "95% CI", "mean per image"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in result["metrics"].items():
        label = name if m["aggregation"] == "pooled" else f"{name} (mean)"
        ci = f"[{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]"
        table.add_row(label, _fmt(m["value"]), ci, _fmt(m["mean_per_image"]))
    console.print(table)
    notes = {m["ci_note"] for m in result["metrics"].values() if m["ci_note"]}
    for note in sorted(notes):
        console.print(f"[yellow]note:[/] {note}")
    classes = result["per_class"]
    console.print(
        f"{result['seconds_per_image']:.3f} s per image on {result['device']}; "
        + (
            f"per-class breakdown of {len(classes)} classes in metrics.json"
            if classes
            else "no per-class breakdown (the file names carry no class)"
        )
    )
    if "compare" in result:
        cmp = result["compare"]
        if cmp["recipe_differences"]:
            shown = ", ".join(cmp["recipe_differences"][:8])
            more = len(cmp["recipe_differences"]) - 8
            console.print(
                f"[yellow]note:[/] the compared recipes differ in {shown}"
                + (f" and {more} more" if more > 0 else "")
            )
        paired = Table(
            title=f"paired, per image: A = {result['checkpoint']}, B = {cmp['checkpoint']}"
        )
        for col in ("metric", "A", "B", "mean A-B", "95% CI", "p (t)", "p (Wilcoxon)", "d_z"):
            paired.add_column(col, justify="left" if col == "metric" else "right")
        for name, p in cmp["paired"].items():
            paired.add_row(
                name,
                _fmt(p["mean_a"]),
                _fmt(p["mean_b"]),
                _fmt(p["mean_diff"]),
                f"[{_fmt(p['diff_ci_low'])}, {_fmt(p['diff_ci_high'])}]",
                _fmt(p["p_t"]),
                _fmt(p["p_wilcoxon"]),
                _fmt(p["d_z"]),
            )
        console.print(paired)
        console.print(f"B: {cmp['seconds_per_image']:.3f} s per image")
    console.print(f"wrote metrics.json, per_image.csv to {result['out']}")


def evaluate_command(checkpoint: Path, console: Console, **options: Any) -> int:
    """Run ``harness evaluate``; return the exit code."""
    _print(run_evaluation(checkpoint, console=console, **options), console)
    return 0
