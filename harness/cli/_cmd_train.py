"""The ``train``, ``evaluate`` and ``bench`` commands: parse, call the API, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._console import console
from harness.cli._options import (
    CalibrateOpt,
    CompareOpt,
    DetectFractionOpt,
    EvalDataOpt,
    EvalSplitOpt,
    OverlaysOpt,
    SizeThresholdsOpt,
)

__all__ = ["bench", "evaluate", "train"]


def train(
    recipe: Annotated[
        str,
        typer.Option(
            help="Built-in recipe (cpu_demo, stage1pp) or a YAML path; 'auto' = stage1pp with a "
            "GPU, cpu_demo without."
        ),
    ] = "auto",
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder of images and masks (images/ + masks/ or PlantSeg images/ + "
            "annotations/, optionally split into train/val/test). Default: synthetic data."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a recipe value by dotted path, e.g. --set optim.lr=3e-4 "
            "--set loss.weights.boundary=0 (repeatable).",
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (optim.epochs).")] = None,
    name: Annotated[
        str | None, typer.Option(help="Run name: the run goes to RUNS_DIR/NAME.")
    ] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run directories are made.")] = Path("runs"),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    on_bad_sample: Annotated[
        str | None,
        typer.Option(
            help="error (default) or skip: what to do with an unreadable image/mask pair."
        ),
    ] = None,
) -> None:
    """Train one configuration of the recipe and keep its run directory.

    The run directory holds the resolved recipe.yaml, split.json, metrics.csv (one row per
    epoch, written as the run goes), best.pt (the best checkpoint) and summary.json.
    """
    from harness.cli._train import resolve_recipe, train_command

    resolved = resolve_recipe(recipe, data, set_ or [], epochs, on_bad_sample)
    raise typer.Exit(train_command(resolved, name, runs_dir, device, console))


def evaluate(
    checkpoint: Annotated[
        Path, typer.Argument(help="A best.pt written by harness train (or its run directory).")
    ],
    data: EvalDataOpt = None,
    split: EvalSplitOpt = "test",
    compare: CompareOpt = None,
    overlays: OverlaysOpt = 0,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: CHECKPOINT's folder/eval/SPLIT).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples (of images) for the 95% intervals.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    size_thresholds: SizeThresholdsOpt = None,
    detect_fraction: DetectFractionOpt = 0.5,
    calibrate: CalibrateOpt = False,
) -> None:
    """Metrics of a checkpoint on full images (sliding windows), with 95% bootstrap intervals.

    Writes metrics.json (pooled metrics with intervals, mean per image, per-class breakdown when
    file names carry a class, seconds per image, the paired comparison, metrics by lesion size,
    calibration), per_image.csv and calibration.png (reliability diagram; ECE over 15
    equal-width bins, Brier score).
    """
    from harness.cli._evaluate import evaluate_command

    raise typer.Exit(
        evaluate_command(
            checkpoint,
            console,
            data=data,
            split=split,
            compare=compare,
            overlays=overlays,
            out=out,
            device=device,
            n_resamples=bootstrap,
            seed=seed,
            size_thresholds=size_thresholds,
            detect_fraction=detect_fraction,
            calibrate=calibrate,
        )
    )


def bench(
    recipe: Annotated[
        str,
        typer.Option(
            help="Built-in recipe (cpu_demo, stage1pp) or a YAML path; 'auto' = stage1pp with a "
            "GPU, cpu_demo without."
        ),
    ] = "auto",
    grid: Annotated[
        list[str] | None,
        typer.Option(
            help="A grid axis: a recipe path and comma-separated values, e.g. --grid "
            "data.batch_size=1,2,4 --grid optim.amp=true,false (repeatable; every combination "
            "of all axes is measured)."
        ),
    ] = None,
    steps: Annotated[int, typer.Option(help="Measured training steps per combination.")] = 10,
    warmup: Annotated[int, typer.Option(help="Unmeasured warm-up steps before them.")] = 3,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    data: Annotated[
        Path | None,
        typer.Option(help="Folder of images and masks (default: the recipe's synthetic data)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a base-recipe value by dotted path, e.g. --set memory.cap=8GiB "
            "(repeatable).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output folder for bench.csv and bench.png (default: runs/bench-<time>)."
        ),
    ] = None,
) -> None:
    """Step time, images/s and peak memory of the recipe's training step over a grid.

    Each combination trains on real tiles of the recipe's data (so data.max_tiles_per_image sets
    the epoch length): warm-up steps, then measured steps of one micro-batch each (forward, loss,
    backward, AdamW step; optim.accumulation is ignored). Reports the median step time and its
    IQR, images/s, peak memory (CUDA: NVML per process and torch's peak allocated/reserved; CPU:
    RSS) and the parameter count. A combination that runs out of memory or passes memory.cap is a
    row with status oom / memory_cap. optim.amp and optim.channels_last act on CUDA only.
    Writes bench.csv and bench.png (throughput and memory against each axis) to --out.
    """
    from harness.cli._bench import bench_command
    from harness.cli._train import resolve_recipe

    resolved = resolve_recipe(recipe, data, set_ or [], None, None)
    raise typer.Exit(bench_command(resolved, grid or [], steps, warmup, device, out, console))
