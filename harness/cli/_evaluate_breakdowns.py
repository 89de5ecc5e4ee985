"""``harness evaluate``'s printing: the pooled metrics, the lesion sizes and the calibration."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["fmt", "metrics_table", "print_breakdowns"]


def fmt(value: float | None) -> str:
    """A metric value to 4 decimals, NaN (or None) as "nan"."""
    return "nan" if value is None or math.isnan(value) else f"{value:.4f}"


def _ci(entry: dict[str, Any]) -> Text:
    # Text, not a string: rich would take "[nan, nan]" for a markup tag and drop it
    return Text(f"[{fmt(entry['ci_low'])}, {fmt(entry['ci_high'])}]")


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
            fmt(det["value"]),
            _ci(det),
            fmt(pix["value"]),
            _ci(pix),
            fmt(fp["value"]),
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
        f"ECE {fmt(ece['value'])} {_ci(ece)}, Brier {fmt(brier['value'])} {_ci(brier)}; "
        f"mean per image ECE {fmt(ece['mean_per_image'])}, "
        f"Brier {fmt(brier['mean_per_image'])}"
    ]
    temp = cal.get("temperature")
    if temp:
        after = temp["after"]
        lines.append(
            f"temperature scaling fitted on {temp['fitted_on']}, {temp['n_pixels']} pixels "
            f"({temp['subsample']}): "
            f"T = {temp['temperature']:.3f}; ECE {fmt(ece['value'])} -> "
            f"{fmt(after['ece']['value'])} {_ci(after['ece'])}, Brier {fmt(brier['value'])} "
            f"-> {fmt(after['brier']['value'])} {_ci(after['brier'])}"
        )
        if temp.get("note"):
            lines.append(f"note: {temp['note']}")
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


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
