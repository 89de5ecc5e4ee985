"""Metrics by lesion size and calibration in ``harness evaluate``, from its one inference pass.

:class:`PixelStats` is the ``observe`` callback of ``trials.evaluate_samples``: for every image it
keeps the lesion counts per size stratum (``trials.metrics.lesion_counts``), the reliability bins
and squared errors of the probabilities (``trials.metrics.reliability_bins``,
``squared_error_sum``) and, with a temperature, the same after scaling; the pixels themselves are
not kept. A trial's own validation reports a few of the same numbers each epoch
(``trials.metrics.BreakdownAccumulator``). To fit the temperature
(``--calibrate``) the validation split is predicted first and a deterministic subsample of its
pixels kept: at most :data:`FIT_PIXELS_PER_IMAGE` per image, drawn uniformly without replacement
with ``numpy.random.default_rng((seed, image index))``, so the fit's memory does not grow with the
image size. The statistics are ``analysis.summarize_lesion_sizes`` and
``analysis.calibration_summary``; this module collects, writes and prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from search_spaces import ConfigError

__all__ = [
    "FIT_PIXELS_PER_IMAGE",
    "PixelStats",
    "check_options",
    "fit_on_validation",
    "parse_size_thresholds",
    "print_breakdowns",
    "summarize_breakdowns",
]

FIT_PIXELS_PER_IMAGE = 50_000


def parse_size_thresholds(value: str | Sequence[int] | None) -> tuple[int, ...]:
    """``--size-thresholds``: comma-separated areas in pixels (``"64,1024"``) or a sequence.

    ``None`` gives :data:`trials.metrics.DEFAULT_SIZE_THRESHOLDS`.

    Raises:
        ConfigError: a part is not a whole number, or the values are not positive and increasing.
    """
    from trials.metrics import DEFAULT_SIZE_THRESHOLDS, size_strata

    if value is None:
        return tuple(DEFAULT_SIZE_THRESHOLDS)
    parts: list[Any] = list(value) if not isinstance(value, str) else value.split(",")
    numbers = []
    for part in parts:
        try:
            numbers.append(int(str(part).strip()))
        except ValueError:
            raise ConfigError(
                f"--size-thresholds {value!r}: {str(part).strip()!r} is not a whole number of "
                f"pixels; give increasing areas separated by commas, e.g. 64,1024"
            ) from None
    size_strata(numbers, f"--size-thresholds {value!r}")
    return tuple(numbers)


def check_options(
    size_thresholds: str | Sequence[int] | None, detect_fraction: float, n_bins: int
) -> tuple[tuple[Any, ...], float]:
    """The size strata and the detect fraction of the options, checked before anything loads.

    Raises:
        ConfigError: bad ``--size-thresholds``, ``--detect-fraction`` or bin count.
    """
    from trials.metrics import bin_edges, check_detect_fraction, size_strata

    strata = size_strata(parse_size_thresholds(size_thresholds), "--size-thresholds")
    fraction = check_detect_fraction(detect_fraction, "--detect-fraction")
    bin_edges(n_bins)
    return strata, fraction


class PixelStats:
    """Per-image lesion counts and calibration bins, as the ``observe`` of ``evaluate_samples``.

    Args:
        strata: the lesion-size strata (``trials.metrics.size_strata``).
        detect_fraction: covered share of a lesion that counts as detected.
        n_bins: calibration bins.
        temperature: also collect the calibration after ``sigmoid(z / T)``.
        keep_pixels: keep up to this many (logit, label) pixels per image, for a temperature fit.
        seed: seed of that subsample.
    """

    def __init__(
        self,
        strata: Sequence[Any],
        detect_fraction: float,
        n_bins: int,
        temperature: float | None = None,
        keep_pixels: int = 0,
        seed: int = 0,
    ) -> None:
        self.strata, self.detect_fraction, self.n_bins = tuple(strata), detect_fraction, n_bins
        self.temperature, self.keep_pixels, self.seed = temperature, keep_pixels, seed
        self.rows: list[dict[str, Any]] = []
        self.bins: list[np.ndarray] = []
        self.squared: list[float] = []
        self.bins_after: list[np.ndarray] = []
        self.squared_after: list[float] = []
        self.kept: list[tuple[np.ndarray, np.ndarray]] = []

    def __call__(self, sample: Any, logits: np.ndarray, prob: np.ndarray) -> None:
        from analysis import lesion_column
        from analysis import scale_logits as scaled
        from trials.metrics import lesion_counts, reliability_bins, squared_error_sum

        target = sample.target_mask
        where = f"image {sample.id!r}"
        counts = lesion_counts(prob >= 0.5, target, self.strata, self.detect_fraction, where)
        row: dict[str, Any] = {"image_id": sample.id}
        for name, fields in counts.items():
            row.update({lesion_column(name, f): v for f, v in fields.items()})
        self.rows.append(row)
        self.bins.append(reliability_bins(prob, target, self.n_bins))
        self.squared.append(squared_error_sum(prob, target))
        if self.temperature is not None:
            after = scaled(logits, self.temperature)
            self.bins_after.append(reliability_bins(after, target, self.n_bins))
            self.squared_after.append(squared_error_sum(after, target))
        if self.keep_pixels:
            flat_z, flat_y = logits.ravel(), target.ravel()
            if flat_z.size > self.keep_pixels:
                rng = np.random.default_rng((self.seed, len(self.rows) - 1))
                pick = rng.choice(flat_z.size, self.keep_pixels, replace=False)
                flat_z, flat_y = flat_z[pick], flat_y[pick]
            self.kept.append((flat_z.astype(np.float32), flat_y.astype(bool)))

    def fit(self) -> Any:
        """``analysis.fit_temperature`` on the kept pixels."""
        from analysis import fit_temperature

        logits = np.concatenate([z for z, _ in self.kept])
        return fit_temperature(logits, np.concatenate([y for _, y in self.kept]))

    def columns(self, image_ids: Sequence[str]) -> pd.DataFrame:
        """Per-image columns (lesion counts, ``ece``, ``brier``, ``*_calibrated``) in that order.

        Raises:
            RuntimeError: the images were not observed in the order of ``image_ids`` (a bug).
        """
        from trials.metrics import expected_calibration_error

        frame = pd.DataFrame(self.rows)
        if list(frame["image_id"]) != list(image_ids):
            raise RuntimeError("evaluate: per-image lesion rows out of step with the metrics")
        n_pixels = np.array([b[0].sum() for b in self.bins])
        frame["ece"] = [expected_calibration_error(b) for b in self.bins]
        frame["brier"] = np.array(self.squared) / n_pixels
        if self.bins_after:
            frame["ece_calibrated"] = [expected_calibration_error(b) for b in self.bins_after]
            frame["brier_calibrated"] = np.array(self.squared_after) / n_pixels
        return frame.drop(columns="image_id")


def fit_on_validation(
    infer: Callable[[PixelStats], Any], info: dict[str, Any], split: str, seed: int
) -> tuple[Any, dict[str, Any]]:
    """Fit one temperature on a subsample of the validation pixels (``--calibrate``).

    Args:
        infer: runs the evaluation's inference on the validation images with an ``observe``.
        info: where the validation images came from (``source``, ``n_images``).
        split: the evaluated split (``val`` and ``all`` hold the fitting images: a note says so).
        seed: seed of the pixel subsample.

    Returns:
        The ``TemperatureFit`` and ``{"fitted_on", "note"}``.
    """
    stats = PixelStats((), 1.0, 1, keep_pixels=FIT_PIXELS_PER_IMAGE, seed=seed)
    infer(stats)
    fit = stats.fit()
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


def summarize_breakdowns(
    stats: PixelStats,
    columns: pd.DataFrame,
    boot: dict[str, Any],
    fit: Any = None,
    fit_info: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``lesion_sizes`` and ``calibration`` entries of ``metrics.json``.

    Args:
        stats: the collected per-image statistics.
        columns: ``stats.columns(...)``, the per-image table's lesion columns.
        boot: the bootstrap settings (``n_resamples``, ``seed``, ``confidence``, ``method``).
        fit: the ``TemperatureFit`` with ``--calibrate``; ``fit_info`` says what it was fitted on.
    """
    from analysis import calibration_summary, summarize_lesion_sizes
    from trials.metrics import CONNECTIVITY

    per_stratum = summarize_lesion_sizes(columns, [s.name for s in stats.strata], **boot)
    sizes = {
        "connectivity": CONNECTIVITY,
        "thresholds": [s.low for s in stats.strata[1:]],
        "detect_fraction": stats.detect_fraction,
        "definition": (
            f"lesions are {CONNECTIVITY}-connected components of the ground truth, sized by area "
            f"in pixels of the evaluated masks; a lesion is detected when the prediction covers "
            f">= {stats.detect_fraction:g} of its pixels; false-positive components are predicted "
            f"components touching no lesion, sized by their own area"
        ),
        "strata": {s.name: {"range": s.label, **per_stratum[s.name]} for s in stats.strata},
    }
    calibration = calibration_summary(np.stack(stats.bins), np.array(stats.squared), **boot)
    calibration["binning"] = f"{stats.n_bins} equal-width bins of [0, 1], pooled over pixels"
    if fit is not None:
        after = calibration_summary(
            np.stack(stats.bins_after), np.array(stats.squared_after), **boot
        )
        after.pop("per_image")
        calibration["temperature"] = {**fit.as_dict(), **(fit_info or {}), "after": after}
    return sizes, calibration


def _fmt(value: float | None) -> str:
    return "nan" if value is None or math.isnan(value) else f"{value:.4f}"


def _ci(entry: dict[str, Any]) -> Text:
    # Text, not a string: rich would take "[nan, nan]" for a markup tag and drop it
    return Text(f"[{_fmt(entry['ci_low'])}, {_fmt(entry['ci_high'])}]")


def print_breakdowns(result: dict[str, Any], console: Console) -> None:
    """The per-size table and the calibration lines of an evaluation result."""
    sizes = result["lesion_sizes"]
    table = Table(
        title=f"lesions by size ({sizes['connectivity']}-connected ground-truth components; "
        f"detected when >= {sizes['detect_fraction']:g} of a lesion is predicted)"
    )
    columns = ("size", "lesions", "detection recall", "95% CI", "pixel recall", "95% CI")
    for col in (*columns, "FP comp./image", "95% CI"):
        table.add_column(col, justify="left" if col == "size" else "right")
    notes = []
    for name, s in sizes["strata"].items():
        det, pix, fp = s["detection_recall"], s["pixel_recall"], s["fp_per_image"]
        if s["counts"]["n"] and s["n_images_with_lesions"] < 2:
            notes.append(f"{name}: {s['n_images_with_lesions']} image(s) hold such lesions")
        table.add_row(
            f"{name} ({s['range']})",
            str(s["counts"]["n"]),
            _fmt(det["value"]),
            _ci(det),
            _fmt(pix["value"]),
            _ci(pix),
            _fmt(fp["value"]),
            _ci(fp),
        )
    console.print(table)
    if notes:
        console.print(
            f"note: no recall interval where fewer than 2 images hold a lesion of the size "
            f"({'; '.join(notes)})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    cal = result["calibration"]
    ece, brier = cal["ece"], cal["brier"]
    lines = [
        f"calibration ({cal['n_bins']} equal-width bins, {cal['n_pixels']} pixels): "
        f"ECE {_fmt(ece['value'])} {_ci(ece)}, Brier {_fmt(brier['value'])} {_ci(brier)}; "
        f"mean per image ECE {_fmt(ece['mean_per_image'])}, "
        f"Brier {_fmt(brier['mean_per_image'])}"
    ]
    temp = cal.get("temperature")
    if temp:
        after = temp["after"]
        lines.append(
            f"temperature scaling fitted on {temp['fitted_on']}, {temp['n_pixels']} pixels "
            f"({temp['subsample']}): "
            f"T = {temp['temperature']:.3f}; ECE {_fmt(ece['value'])} -> "
            f"{_fmt(after['ece']['value'])} {_ci(after['ece'])}, Brier {_fmt(brier['value'])} "
            f"-> {_fmt(after['brier']['value'])} {_ci(after['brier'])}"
        )
        if temp.get("note"):
            lines.append(f"note: {temp['note']}")
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def fmt(value: float) -> str:
    """A metric value to 4 decimals, NaN (or None) as \"nan\"."""
    return "nan" if value is None or math.isnan(value) else f"{value:.4f}"


def metrics_table(result: dict[str, Any]) -> Table:
    """The pooled metrics with their intervals (a NaN interval prints as "[nan, nan]")."""
    data = result["data"]
    table = Table(
        title=f"{Path(result['checkpoint']).name} (epoch {result['epoch']}) on {data['source']}, "
        f"{data['split']} split, {data['n_images']} images"
    )
    for col in ("metric", "pooled", "95% CI", "mean per image"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in result["metrics"].items():
        label = name if m["aggregation"] == "pooled" else f"{name} (mean)"
        ci = escape(f"[{fmt(m['ci_low'])}, {fmt(m['ci_high'])}]")  # not rich markup
        table.add_row(label, fmt(m["value"]), ci, fmt(m["mean_per_image"]))
    return table
