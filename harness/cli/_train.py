"""``harness train``'s printing: the metrics table and the closing line of a run."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from search_spaces import format_bytes

if TYPE_CHECKING:
    from harness import TrainResult

__all__ = ["print_train"]

_SHOWN = (
    "iou_lesion",
    "dice",
    "precision",
    "recall",
    "f1",
    "miou",
    "pixel_accuracy",
    "boundary_f1",
    "hd95",
    "train_loss",
)


def _metrics_table(result: TrainResult) -> Table:
    summary = result.summary
    table = Table(title=f"validation metrics (full images, {summary.device})")
    table.add_column("metric")
    table.add_column(f"best (epoch {summary.best_epoch})", justify="right")
    table.add_column(f"final (epoch {summary.epochs})", justify="right")
    for key in _SHOWN:
        if key in summary.final:
            best, final = summary.best.get(key, math.nan), summary.final[key]
            table.add_row(key, f"{best:.4f}", f"{final:.4f}")
    return table


def print_train(result: TrainResult, console: Console) -> int:
    """Print a finished run (skipped samples, metrics, status); return the exit code."""
    summary = result.summary
    if summary.skipped:
        console.print(f"[yellow]skipped {len(summary.skipped)} bad sample(s):[/]")
        for path, reason in summary.skipped:
            console.print(f"  {path}: {reason}", markup=False, highlight=False)
    if summary.epochs:
        console.print(_metrics_table(result))
    console.print(
        f"status [bold]{summary.status}[/] after {summary.epochs} epoch(s), "
        f"{summary.wall_time_s:.1f} s, {summary.images_per_s:.1f} images/s, "
        f"peak memory {format_bytes(summary.peak_memory_bytes)} ({summary.memory_kind}); "
        f"run directory {escape(str(result.path))}"
    )
    if summary.error:
        console.print(f"[red]{escape(summary.error)}[/]")
    return 0 if result.ok else 1
