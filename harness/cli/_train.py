"""``harness train``: one configuration of the recipe, trained with live progress."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from harness._recipes import local_gpu, resolve_recipe
from harness.tune._resources import cluster_gpus
from harness.tune._rundir import create_run_dir, environment, write_json
from search_spaces import (
    SUCCESS_STATUSES,
    DataError,
    Recipe,
    TrialStatus,
    format_bytes,
    recipe_to_yaml,
)

__all__ = ["cluster_gpus", "local_gpu", "resolve_recipe", "train_command"]

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


def _metrics_table(summary: Any) -> Table:
    table = Table(title=f"validation metrics (full images, {summary.device})")
    table.add_column("metric")
    table.add_column(f"best (epoch {summary.best_epoch})", justify="right")
    table.add_column(f"final (epoch {summary.epochs})", justify="right")
    for key in _SHOWN:
        if key in summary.final:
            best, final = summary.best.get(key, math.nan), summary.final[key]
            table.add_row(key, f"{best:.4f}", f"{final:.4f}")
    return table


def train_command(
    recipe: Recipe,
    name: str | None,
    runs_dir: Path,
    device: str,
    console: Console,
) -> int:
    """Run ``harness train``; return the process exit code."""
    from trials import check_recipe, run_trial

    check_recipe(recipe)
    run_dir = create_run_dir(runs_dir, name, f"train-{recipe.name}")
    (run_dir / "recipe.yaml").write_text(recipe_to_yaml(recipe), encoding="utf-8")
    write_json(run_dir / "spec.json", {"command": "train", "environment": environment()})
    console.print(f"[bold]harness train[/] recipe [cyan]{recipe.name}[/] -> {run_dir}")
    console.print(
        f"data: {recipe.data.root or 'synthetic'}; encoder {recipe.model.encoder}; "
        f"{recipe.optim.epochs} epochs"
    )

    rows: list[dict[str, float]] = []

    def report(epoch: int, metrics: dict[str, float]) -> None:
        rows.append({"epoch": epoch, **metrics})
        # Rewritten whole each epoch: an interrupted run keeps every finished epoch.
        pd.DataFrame(rows).to_csv(run_dir / "metrics.csv", index=False)
        progress.update(
            epochs_task,
            advance=1,
            description=(
                f"epoch {epoch}: loss {metrics.get('train_loss', math.nan):.3f} "
                f"val IoU {metrics.get('iou_lesion', math.nan):.3f} "
                f"mem {format_bytes(metrics.get('memory_peak_bytes', 0))}"
            ),
        )

    def on_event(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            progress.update(epochs_task, total=event["epochs"])
            progress.update(step_task, total=event["steps_per_epoch"])
            console.print(
                f"{event['n_train']} training / {event['n_val']} validation images on "
                f"{event['device']}"
            )
        elif kind == "step":
            progress.update(
                step_task,
                completed=event["step"],
                description=f"  train step (loss {event['loss']:.3f})",
            )
        elif kind == "val":
            progress.update(
                step_task,
                completed=event["done"],
                total=event["total"],
                description="  validate (full images)",
            )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        epochs_task = progress.add_task("starting", total=recipe.optim.epochs)
        step_task = progress.add_task("  loading data", total=None)
        try:
            summary = run_trial(
                recipe,
                report,
                workdir=run_dir,
                device=device,
                progress=on_event,
                log=lambda msg: console.print(f"[yellow]{msg}[/]"),
            )
        except KeyboardInterrupt:
            progress.stop()
            console.print(
                f"[red]interrupted[/]: {len(rows)} finished epoch(s) kept in {run_dir}/metrics.csv"
            )
            return 130
    if summary.status == TrialStatus.DATA_ERROR and summary.epochs == 0:
        # the data could not be used at all: a user error, not a training result; nothing of
        # the run is worth keeping
        shutil.rmtree(run_dir, ignore_errors=True)
        raise DataError(summary.error or f"the data in {recipe.data.root} cannot be used")
    write_json(run_dir / "summary.json", summary.to_dict())
    if summary.skipped:
        console.print(f"[yellow]skipped {len(summary.skipped)} bad sample(s):[/]")
        for path, reason in summary.skipped:
            console.print(f"  {path}: {reason}")
    if summary.epochs:
        console.print(_metrics_table(summary))
    console.print(
        f"status [bold]{summary.status}[/] after {summary.epochs} epoch(s), "
        f"{summary.wall_time_s:.1f} s, {summary.images_per_s:.1f} images/s, "
        f"peak memory {format_bytes(summary.peak_memory_bytes)} ({summary.memory_kind}); "
        f"run directory {run_dir}"
    )
    if summary.error:
        console.print(f"[red]{summary.error}[/]")
    return 0 if summary.status in SUCCESS_STATUSES else 1
