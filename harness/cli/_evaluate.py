"""``harness evaluate``: the metrics of a checkpoint on full images, with bootstrap intervals.

Inference is ``trials.evaluate_samples`` (sliding windows blended with Gaussian weights, metrics
against full-resolution masks); the statistics are ``analysis.summarize_evaluation`` /
``label_breakdown`` / ``compare_evaluations``; this module loads, times, writes and prints. The
metrics by lesion size and the calibration (with ``--calibrate``, temperature scaling fitted on the
validation split) come from the same inference pass (``_evaluate_breakdowns``); they are computed
for CHECKPOINT, not for ``--compare``'s second checkpoint.

Overlays colour each pixel of a prediction by its agreement with the ground truth
(:data:`OVERLAY_COLOURS`): true positives green, false positives magenta, false negatives blue;
true negatives show the image itself.
"""

from __future__ import annotations

import math
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.cli._evaluate_breakdowns import (
    PixelStats,
    check_options,
    fit_on_validation,
    metrics_table,
    print_breakdowns,
    summarize_breakdowns,
)
from harness.cli._evaluate_breakdowns import (
    fmt as _fmt,
)
from harness.cli._overlays import (
    OVERLAY_COLOURS,
    OVERLAY_LEGEND,
    confusion_overlay,
    write_overlay,
)
from harness.tune._rundir import environment, write_json
from search_spaces import ConfigError, DataError, Recipe, apply_overrides, flatten

__all__ = [
    "EVAL_SPLITS",
    "OVERLAY_COLOURS",
    "OVERLAY_LEGEND",
    "confusion_overlay",
    "evaluate_command",
    "lesion_fractions",
    "run_evaluation",
    "write_overlay",
]

EVAL_SPLITS = ("test", "val", "train", "all")
_SPLIT_SEARCH_DEPTH = 3  # best.pt may sit in a trial folder below the experiment's split.json
_OVERLAY_METRIC = "iou_lesion"
_EXPECTED_CHECKPOINT = (
    "expected a best.pt written by `harness train` "
    "(a torch checkpoint holding the recipe and the model state)"
)


def _checkpoint_path(path: Path, option: str) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise ConfigError(f"{option} {str(path)!r}: no such checkpoint file")
    return path


def _describe_non_checkpoint(path: Path, exc: Exception) -> str:
    """What a file that ``load_checkpoint`` refused holds, in a few words (the error path only)."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # any failure to unpickle means "not a plain torch file"
        if zipfile.is_zipfile(path):
            return "it is a torch file whose content torch.load(weights_only=True) refuses"
        return "it is not a torch file"
    if isinstance(state, dict):
        keys = sorted(map(str, state))
        shown = ", ".join(repr(k) for k in keys[:6]) + (", ..." if len(keys) > 6 else "")
        missing = [k for k in ("recipe", "model") if k not in state]
        if missing:
            return f"it holds a dict without {' or '.join(map(repr, missing))} (keys: {shown})"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return f"its recipe or model state does not load ({reason})"
    if isinstance(state, torch.Tensor):
        return f"it holds a tensor of shape {tuple(state.shape)}"
    return f"it holds a {type(state).__name__}"


def _load_model(path: Path, option: str, dev: Any) -> tuple[Any, Recipe, dict]:
    """``load_checkpoint``, with one line naming the file and what was expected on failure."""
    from trials import load_checkpoint

    try:
        return load_checkpoint(path, map_location=dev)
    except (ConfigError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as exc:
        what = _describe_non_checkpoint(path, exc)
        raise ConfigError(
            f"{option} {str(path)!r} is not a checkpoint: {what}; {_EXPECTED_CHECKPOINT}"
        ) from None


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


def _infer(
    model: Any,
    recipe: Recipe,
    samples: list,
    device: Any,
    progress: Progress,
    title: str,
    observe: Any = None,
):
    """Per-image table (with ``seconds``), the accumulator and the total seconds."""
    from trials import evaluate_samples

    task = progress.add_task(title, total=len(samples))
    stamps = [time.perf_counter()]

    def tick(done: int, total: int) -> None:
        stamps.append(time.perf_counter())
        progress.update(task, completed=done)

    acc = evaluate_samples(model, samples, recipe, device, tick, observe)
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


def lesion_fractions(counts: dict[str, int]) -> dict[str, float]:
    """True and predicted lesion fractions of pooled pixel counts (``tp``, ``fp``, ``fn``, ``tn``).

    Returns:
        ``{"true": (tp + fn) / n, "predicted": (tp + fp) / n}``; ``nan`` for zero pixels.
    """
    total = sum(int(counts[k]) for k in ("tp", "fp", "fn", "tn"))
    if total == 0:
        return {"true": math.nan, "predicted": math.nan}
    return {
        "true": (counts["tp"] + counts["fn"]) / total,
        "predicted": (counts["tp"] + counts["fp"]) / total,
    }


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
    size_thresholds: str | Sequence[int] | None = None,
    detect_fraction: float = 0.5,
    calibrate: bool = False,
    calibration_bins: int = 15,
    console: Console | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint; write metrics.json, per_image.csv, calibration.png and overlays.

    Args:
        size_thresholds: lesion areas in pixels cutting the size strata (``"64,1024"`` or a
            sequence; default ``trials.metrics.DEFAULT_SIZE_THRESHOLDS``).
        detect_fraction: covered share of a lesion's pixels that counts it as detected.
        calibrate: fit a temperature on the validation split and report its effect.
        calibration_bins: equal-width bins of the ECE and the reliability diagram.

    Returns:
        The content of ``metrics.json`` (with ``"out"``, the output folder).

    Raises:
        ConfigError: a missing checkpoint or a file that is not one, an unknown split, a negative
            count, bad size thresholds or detect fraction.
        DataError: the data folder is missing, has no images, or the split (or, with
            ``calibrate``, the validation split) is empty.
    """
    console = console or Console()
    if split not in EVAL_SPLITS:
        raise ConfigError(f"--split {split!r}: choose from {', '.join(EVAL_SPLITS)}")
    if overlays < 0:
        raise ConfigError(f"--overlays must be >= 0, got {overlays}")
    strata, detect_fraction = check_options(size_thresholds, detect_fraction, calibration_bins)
    path = _checkpoint_path(checkpoint, "CHECKPOINT")
    path_b = _checkpoint_path(compare, "--compare") if compare is not None else None
    import torch

    from analysis import (
        compare_evaluations,
        label_breakdown,
        summarize_evaluation,
        write_calibration_plot,
    )

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "auto":
        dev = torch.device(device)
    model, recipe, meta = _load_model(path, "CHECKPOINT", dev)
    model_b = _load_model(path_b, "--compare", dev) if path_b is not None else None
    samples, data_info = _samples(recipe, data, split, path)
    out = Path(out) if out is not None else path.parent / "eval" / split
    out.mkdir(parents=True, exist_ok=True)
    boot = {"n_resamples": n_resamples, "seed": seed, "confidence": 0.95, "method": "BCa"}
    pooled, averaged = _metric_kinds()

    fit, fit_info = None, None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
        if calibrate:
            try:
                val, val_info = _samples(recipe, data, "val", path)
            except DataError as exc:
                raise DataError(f"--calibrate fits a temperature on the val split: {exc}") from None
            fit, fit_info = fit_on_validation(
                lambda st: _infer(model.to(dev), recipe, val, dev, progress, "val split", st),
                val_info,
                split,
                seed,
            )
        stats = PixelStats(
            strata,
            detect_fraction,
            calibration_bins,
            temperature=fit.temperature if fit is not None else None,
        )
        table, acc, seconds = _infer(
            model.to(dev), recipe, samples, dev, progress, path.name, stats
        )
        table_b = None
        if model_b is not None and path_b is not None:
            table_b, _, seconds_b = _infer(
                model_b[0].to(dev), model_b[1], samples, dev, progress, path_b.name
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
        "lesion_fraction": None,  # filled below, from the counts
        "metrics": summarize_evaluation(table, pooled, averaged, **boot),
        "per_class": label_breakdown(table, pooled, averaged),
        "environment": environment(),
    }
    # The accumulator is the training loop's own summary: the pooled values must agree with it.
    result["accumulator"] = acc.compute()
    # Pooled over every pixel of the evaluated images, like the pooled metrics.
    result["lesion_fraction"] = lesion_fractions(result["counts"])
    extra = stats.columns(list(table["image_id"]))
    result["lesion_sizes"], result["calibration"] = summarize_breakdowns(
        stats, extra, boot, fit, fit_info
    )
    result["calibration"]["per_image"] = "per_image.csv: ece, brier (*_calibrated: after T)"
    write_calibration_plot(
        result["calibration"],
        out / "calibration.png",
        f"{path.name} on the {split} split ({len(samples)} images)",
    )
    result["calibration_plot"] = str(out / "calibration.png")
    table = pd.concat([table, extra.set_axis(table.index)], axis=1)
    written = table.copy()
    if table_b is not None and model_b is not None:
        _, recipe_b, meta_b = model_b
        diffs = _recipe_differences(recipe, recipe_b)
        counts_b = {k: int(table_b[k].sum()) for k in ("tp", "fp", "fn", "tn")}
        result["compare"] = {
            "checkpoint": str(path_b),
            "epoch": meta_b.get("epoch"),
            "recipe": recipe_b.name,
            "lesion_fraction": lesion_fractions(counts_b),
            "recipe_differences": diffs,
            "seconds_per_image": seconds_b / len(samples),
            "metrics": summarize_evaluation(table_b, pooled, averaged, **boot),
            "paired": compare_evaluations(table, table_b, pooled, averaged, **boot),
        }
        for col in table_b.columns.drop(["image_id", "label"]):
            written[f"compare.{col}"] = table_b[col].to_numpy()
    written.to_csv(out / "per_image.csv", index=False)
    result["overlays"] = _write_overlays(
        out, samples, table, table_b, overlays, (model, recipe), model_b, dev
    )
    result["overlay_folder"] = str(out / "overlays") if result["overlays"] else None
    result["overlay_colours"] = {k: list(c) for k, c in OVERLAY_COLOURS.items()}
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
    model_b: tuple[Any, Recipe, dict] | None,
    dev: Any,
) -> list[str]:
    if k == 0:
        return []
    folder = out / "overlays"
    folder.mkdir(exist_ok=True)
    by_id = {s.id: s for s in samples}
    written = []
    for rank, row in enumerate(_overlay_order(table, table_b, k), start=1):
        sample = by_id[table["image_id"].iloc[row]]
        pred = _predict(*model_a, sample, dev)
        title = f"A: IoU {table[_OVERLAY_METRIC].iloc[row]:.3f}"
        other, other_title = None, ""
        if model_b is not None and table_b is not None:
            other = _predict(*model_b[:2], sample, dev)
            other_title = f"B: IoU {table_b[_OVERLAY_METRIC].iloc[row]:.3f}"
        target = folder / f"{rank:02d}_{sample.id}.png"
        write_overlay(target, sample, pred, title, other, other_title)
        written.append(str(target))
    return written


def _print(result: dict[str, Any], console: Console) -> None:
    data = result["data"]
    console.print(metrics_table(result))
    notes = {m["ci_note"] for m in result["metrics"].values() if m["ci_note"]}
    for note in sorted(notes):
        console.print(f"[yellow]note:[/] {escape(note)}")
    frac = result["lesion_fraction"]
    line = (
        f"lesion fraction pooled over {data['n_images']} images: "
        f"true {_fmt(frac['true'])}, predicted {_fmt(frac['predicted'])}"
    )
    if "compare" in result:
        line += f" (B {_fmt(result['compare']['lesion_fraction']['predicted'])})"
    console.print(line, markup=False, highlight=False, soft_wrap=True)
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
                escape(f"[{_fmt(p['diff_ci_low'])}, {_fmt(p['diff_ci_high'])}]"),
                _fmt(p["p_t"]),
                _fmt(p["p_wilcoxon"]),
                _fmt(p["d_z"]),
            )
        console.print(paired)
        console.print(f"B: {cmp['seconds_per_image']:.3f} s per image")
    print_breakdowns(result, console)
    console.print(
        f"wrote metrics.json, per_image.csv, calibration.png to {result['out']}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if result["overlay_folder"]:
        console.print(
            f"{len(result['overlays'])} overlays ({OVERLAY_LEGEND}, ground truth yellow) in "
            f"{result['overlay_folder']}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def evaluate_command(checkpoint: Path, console: Console, **options: Any) -> int:
    """Run ``harness evaluate``; return the exit code."""
    _print(run_evaluation(checkpoint, console=console, **options), console)
    return 0
