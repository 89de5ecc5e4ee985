"""``harness.evaluate``: the metrics of a checkpoint on full images, with bootstrap intervals.

    import harness
    ev = harness.evaluate("runs/t1/best.pt", split="test", compare="runs/t2")
    print(ev.pooled["iou_lesion"])            # value, ci_low, ci_high, mean_per_image...
    ev.per_image.sort_values("iou_lesion").head()

Inference is :mod:`trials.evaluate` (sliding windows blended with Gaussian weights, metrics
against full-resolution masks, the per-pixel statistics collected in the same pass, overlays);
the statistics are :mod:`analysis.evaluation` (pooled metrics with BCa bootstrap intervals over
images, per-class breakdown, the paired comparison, metrics by lesion size, calibration and the
temperature fit); this module joins them and writes ``metrics.json``, ``per_image.csv``,
``calibration.png`` and the overlays. The lesion sizes and the calibration are computed for
``checkpoint``, not for ``compare``'s second checkpoint.

Overlays colour each pixel of a prediction by its agreement with the ground truth
(``trials.evaluate.OVERLAY_COLOURS``): true positives green, false positives magenta, false
negatives blue; true negatives show the image itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness._progress import Reporter
from harness.tune._rundir import environment, write_json
from search_spaces import ConfigError, DataError, Recipe, flatten

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EVAL_SPLITS", "EvaluationResult", "evaluate"]

logger = logging.getLogger(__name__)

EVAL_SPLITS = ("test", "val", "train", "all")
_OVERLAY_METRIC = "iou_lesion"
_COUNTS = ("tp", "fp", "fn", "tn")


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """What ``harness.evaluate`` measured.

    Attributes:
        path: the output folder (``metrics.json``, ``per_image.csv``, ``calibration.png``,
            ``overlays/``).
        metrics: the content of ``metrics.json``.
        per_image: the content of ``per_image.csv``: one row per image (counts, every metric,
            seconds, lesion counts by size, ECE and Brier; ``compare.*`` for the second model).
    """

    path: Path
    metrics: dict[str, Any]
    per_image: pd.DataFrame

    @property
    def checkpoint(self) -> Path:
        """The evaluated checkpoint file."""
        return Path(self.metrics["checkpoint"])

    @property
    def pooled(self) -> dict[str, dict[str, Any]]:
        """Per metric: ``value`` (pooled), ``ci_low``, ``ci_high``, ``mean_per_image``..."""
        return self.metrics["metrics"]

    @property
    def per_class(self) -> dict[str, Any]:
        """The breakdown by class (empty when the file names carry no class)."""
        return self.metrics["per_class"]

    @property
    def comparison(self) -> dict[str, Any] | None:
        """With ``compare``: the second checkpoint's metrics and the paired statistics."""
        return self.metrics.get("compare")

    @property
    def lesion_sizes(self) -> dict[str, Any]:
        """Detection and pixel recall and false-positive components by lesion size."""
        return self.metrics["lesion_sizes"]

    @property
    def calibration(self) -> dict[str, Any]:
        """ECE and Brier with intervals, the reliability curve, and the temperature fit."""
        return self.metrics["calibration"]

    @property
    def calibration_plot(self) -> Path:
        """``calibration.png``, the reliability diagram."""
        return Path(self.metrics["calibration_plot"])

    @property
    def overlays(self) -> list[Path]:
        """The overlay PNGs written (none unless ``overlays`` > 0)."""
        return [Path(p) for p in self.metrics["overlays"]]


def _check_arguments(split: str, overlays: int) -> None:
    if split not in EVAL_SPLITS:
        raise ConfigError(f"split {split!r}: choose from {', '.join(EVAL_SPLITS)}", param="split")
    if overlays < 0:
        raise ConfigError(f"overlays must be >= 0, got {overlays}", param="overlays")


def _recipe_differences(a: Recipe, b: Recipe) -> list[str]:
    fa, fb = flatten(a), flatten(b)
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k) and k != "name")


def _infer(
    bars: Any, model: Any, recipe: Recipe, samples: list, dev: Any, title: str, observe: Any = None
) -> Any:
    from trials.evaluate import infer

    task = bars.add_task(title, total=len(samples))
    return infer(
        model, recipe, samples, dev, lambda done, _: bars.update(task, completed=done), observe
    )


def _fit_temperature(
    bars: Any, model: tuple[Any, Recipe], where: tuple[Any, Path], dev: Any, split: str, seed: int
) -> tuple[Any, dict[str, Any]]:
    """Fit one temperature on a subsample of the validation pixels (``calibrate``).

    Returns:
        The ``TemperatureFit`` and what it was fitted on (``fitted_on``, ``subsample``,
        ``note``: the evaluated split holds the fitting images, or T is at a bound).
    """
    from analysis.evaluation import fit_temperature
    from trials.evaluate import FIT_PIXELS_PER_IMAGE, PixelStats, evaluation_samples

    data, path = where
    try:
        val, info = evaluation_samples(model[1], data, "val", path)
    except DataError as exc:
        raise DataError(
            f"calibrate fits a temperature on the val split: {exc}", param="calibrate"
        ) from None
    stats = PixelStats((), 1.0, 1, keep_pixels=FIT_PIXELS_PER_IMAGE, seed=seed)
    _infer(bars, model[0], model[1], val, dev, "val split", stats)
    fit = fit_temperature(*stats.kept_pixels())
    notes = []
    if split in ("val", "all"):
        notes.append(f"the {split} split holds the images the temperature was fitted on")
    if fit.at_bound:
        notes.append(f"T = {fit.temperature:.3g} is at the bound of its search interval")
    return fit, {
        "fitted_on": f"the val split of {info['source']} ({info['n_images']} images)",
        "subsample": f"at most {FIT_PIXELS_PER_IMAGE} pixels per image, drawn with seed {seed}",
        "note": "; ".join(notes) or None,
    }


def _counts(table: pd.DataFrame) -> dict[str, int]:
    return {k: int(table[k].sum()) for k in _COUNTS}


def _comparison(
    a: pd.DataFrame, b: pd.DataFrame, models: tuple[Any, Any], inference: Any, boot: dict
) -> dict[str, Any]:
    """The ``compare`` entry: B's metrics and the paired statistics, per image, A - B."""
    from analysis.evaluation import compare_evaluations, lesion_fractions, summarize_evaluation
    from trials.evaluate import metric_kinds

    (_, recipe_a, _), (path_b, recipe_b, meta_b) = models
    pooled, averaged = metric_kinds()
    return {
        "checkpoint": str(path_b),
        "epoch": meta_b.get("epoch"),
        "recipe": recipe_b.name,
        "lesion_fraction": lesion_fractions(_counts(b)),
        "recipe_differences": _recipe_differences(recipe_a, recipe_b),
        "seconds_per_image": inference.seconds / len(b),
        "metrics": summarize_evaluation(b, pooled, averaged, **boot),
        "paired": compare_evaluations(a, b, pooled, averaged, **boot),
    }


def _summary(
    table: pd.DataFrame, inference: Any, meta: dict[str, Any], boot: dict[str, Any]
) -> dict[str, Any]:
    """The first entries of ``metrics.json``: what was evaluated and its pooled metrics."""
    from analysis.evaluation import label_breakdown, lesion_fractions, summarize_evaluation
    from trials.evaluate import metric_kinds

    pooled, averaged = metric_kinds()
    counts = _counts(table)
    return {
        "command": "evaluate",
        **meta,
        "seconds_per_image": inference.seconds / len(table),
        "bootstrap": boot,
        "counts": counts,
        # Pooled over every pixel of the evaluated images, like the pooled metrics.
        "lesion_fraction": lesion_fractions(counts),
        "metrics": summarize_evaluation(table, pooled, averaged, **boot),
        "per_class": label_breakdown(table, pooled, averaged),
        "environment": environment(),
        # The accumulator is the training loop's own summary: the pooled values must agree.
        "accumulator": inference.accumulator.compute(),
    }


def _overlays(
    out: Path,
    samples: list,
    tables: tuple[pd.DataFrame, pd.DataFrame | None],
    k: int,
    models: tuple[tuple[Any, Recipe], tuple[Any, Recipe] | None],
    dev: Any,
) -> list[str]:
    """The ``k`` worst images (or, with a comparison, the largest differences), drawn."""
    from trials.evaluate import overlay_order, write_overlays

    if k == 0:
        return []
    table, table_b = tables
    values = table[_OVERLAY_METRIC].to_numpy(dtype=float)
    other = table_b[_OVERLAY_METRIC].to_numpy(dtype=float) if table_b is not None else None
    rows = overlay_order(values, other, k)
    titles = [
        (f"A: IoU {values[r]:.3f}", f"B: IoU {other[r]:.3f}" if other is not None else "")
        for r in rows
    ]
    by_id = {s.id: s for s in samples}
    ordered = [by_id[i] for i in table["image_id"]]
    return write_overlays(out / "overlays", ordered, rows, models[0], models[1], titles, dev)


def evaluate(
    checkpoint: str | Path,
    *,
    data: str | Path | None = None,
    split: str = "test",
    compare: str | Path | None = None,
    overlays: int = 0,
    out: str | Path | None = None,
    device: str = "auto",
    bootstrap: int = 2000,
    seed: int = 0,
    size_thresholds: str | Sequence[int] | None = None,
    detect_fraction: float = 0.5,
    calibrate: bool = False,
    calibration_bins: int = 15,
    console: Console | None = None,
) -> EvaluationResult:
    """Evaluate a checkpoint on full images (``harness evaluate``).

    Args:
        checkpoint: a ``best.pt`` written by ``harness train`` (or its run directory).
        data: a folder of images and masks; default: the checkpoint recipe's own data, split as
            its run's ``split.json``.
        split: ``test``, ``val``, ``train`` or ``all``.
        compare: a second checkpoint: paired per-image comparison (t-test, Wilcoxon, d_z,
            bootstrap interval of the difference A - B).
        overlays: draw this many PNG panels: the worst images, or the largest differences.
        out: the output folder (default ``<checkpoint's folder>/eval/<split>``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        bootstrap: bootstrap resamples (of images) of the 95% intervals.
        seed: seed of the bootstrap (and of the pixels a temperature is fitted on).
        size_thresholds: lesion areas in pixels cutting the size strata (``"64,1024"`` or a
            sequence; default ``trials.metrics.DEFAULT_SIZE_THRESHOLDS``).
        detect_fraction: covered share of a lesion's pixels that counts it as detected.
        calibrate: fit a temperature on the validation split and report its effect.
        calibration_bins: equal-width bins of the ECE and the reliability diagram.
        console: a rich Console for progress bars; ``None`` logs through ``logging``.

    Returns:
        The metrics (``metrics.json``), the per-image table and the paths written.

    Raises:
        ConfigError: a missing checkpoint or a file that is not one, an unknown split, a negative
            count, bad size thresholds, detect fraction or device.
        DataError: the data folder is missing, has no images, or the split (or, with
            ``calibrate``, the validation split) is empty.
    """
    import torch

    from analysis import write_calibration_plot
    from analysis.evaluation import lesion_column, summarize_breakdowns
    from trials import check_device
    from trials.evaluate import (
        OVERLAY_COLOURS,
        OVERLAY_LEGEND,
        PixelStats,
        check_options,
        checkpoint_path,
        evaluation_samples,
        load_evaluated_model,
    )

    _check_arguments(split, overlays)
    strata, detect_fraction = check_options(size_thresholds, detect_fraction, calibration_bins)
    path = checkpoint_path(checkpoint, "checkpoint")
    path_b = checkpoint_path(compare, "compare") if compare is not None else None
    dev = torch.device(check_device(device))
    model, recipe, meta = load_evaluated_model(path, "checkpoint", dev)
    model_b = load_evaluated_model(path_b, "compare", dev) if path_b is not None else None
    samples, data_info = evaluation_samples(recipe, data, split, path)
    out = Path(out) if out is not None else path.parent / "eval" / split
    out.mkdir(parents=True, exist_ok=True)
    boot = {"n_resamples": bootstrap, "seed": seed, "confidence": 0.95, "method": "BCa"}

    fit, fit_info, inference_b = None, None, None
    with Reporter(console, logger).bars(transient=True, times=False) as bars:
        if calibrate:
            fit, fit_info = _fit_temperature(bars, (model, recipe), (data, path), dev, split, seed)
        temperature = fit.temperature if fit is not None else None
        stats = PixelStats(strata, detect_fraction, calibration_bins, temperature=temperature)
        inference = _infer(bars, model, recipe, samples, dev, path.name, stats)
        if model_b is not None and path_b is not None:
            inference_b = _infer(bars, model_b[0], model_b[1], samples, dev, path_b.name)

    table = pd.DataFrame(inference.rows)
    described = {
        "checkpoint": str(path),
        "epoch": meta.get("epoch"),
        "recipe": recipe.name,
        "device": str(dev),
        "data": data_info,
    }
    result = _summary(table, inference, described, boot)
    extra = pd.DataFrame(stats.per_image(list(table["image_id"]), lesion_column))
    result["lesion_sizes"], result["calibration"] = summarize_breakdowns(
        stats, extra, boot, fit, fit_info
    )
    result["calibration"]["per_image"] = "per_image.csv: ece, brier (*_calibrated: after T)"
    plot = out / "calibration.png"
    title = f"{path.name} on the {split} split ({len(samples)} images)"
    result["calibration_plot"] = str(write_calibration_plot(result["calibration"], plot, title))
    table = pd.concat([table, extra.set_axis(table.index)], axis=1)
    written = table.copy()
    table_b = None
    if inference_b is not None and model_b is not None:
        table_b = pd.DataFrame(inference_b.rows)
        models = ((path, recipe, meta), (path_b, model_b[1], model_b[2]))
        result["compare"] = _comparison(table, table_b, models, inference_b, boot)
        for col in table_b.columns.drop(["image_id", "label"]):
            written[f"compare.{col}"] = table_b[col].to_numpy()
    written.to_csv(out / "per_image.csv", index=False)
    second = (model_b[0], model_b[1]) if model_b is not None else None
    result["overlays"] = _overlays(
        out, samples, (table, table_b), overlays, ((model, recipe), second), dev
    )
    result["overlay_folder"] = str(out / "overlays") if result["overlays"] else None
    result["overlay_colours"] = {k: list(c) for k, c in OVERLAY_COLOURS.items()}
    result["overlay_legend"] = OVERLAY_LEGEND
    result["out"] = str(out)
    write_json(out / "metrics.json", result)
    return EvaluationResult(out, result, written)
