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

RecipeOpt = Annotated[
    str,
    typer.Option(
        help="Built-in recipe (cpu_demo, stage1pp) or a YAML path; 'auto' = stage1pp with a "
        "GPU, cpu_demo without."
    ),
]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
TrainDataOpt = Annotated[
    Path | None,
    typer.Option(
        help="Folder of images and masks (images/ + masks/ or PlantSeg images/ + "
        "annotations/, optionally split into train/val/test). Default: synthetic data."
    ),
]
TrainSetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a recipe value by dotted path, e.g. --set optim.lr=3e-4 "
        "--set loss.weights.boundary=0 (repeatable).",
    ),
]
EpochsOpt = Annotated[int | None, typer.Option(help="Training epochs (optim.epochs).")]
RunNameOpt = Annotated[str | None, typer.Option(help="Run name: the run goes to RUNS_DIR/NAME.")]
TrainRunsDirOpt = Annotated[Path, typer.Option(help="Where run directories are made.")]
BadSampleOpt = Annotated[
    str | None,
    typer.Option(help="error (default) or skip: what to do with an unreadable image/mask pair."),
]
CheckpointArg = Annotated[
    Path, typer.Argument(help="A best.pt written by harness train (or its run directory).")
]
EvalOutOpt = Annotated[
    Path | None, typer.Option(help="Output folder (default: CHECKPOINT's folder/eval/SPLIT).")
]
BootstrapOpt = Annotated[
    int, typer.Option(help="Bootstrap resamples (of images) for the 95% intervals.")
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the bootstrap.")]
GridOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="A grid axis: a recipe path and comma-separated values, e.g. --grid "
        "data.batch_size=1,2,4 --grid optim.amp=true,false (repeatable; every combination "
        "of all axes is measured)."
    ),
]
StepsOpt = Annotated[int, typer.Option(help="Measured training steps per combination.")]
WarmupOpt = Annotated[int, typer.Option(help="Unmeasured warm-up steps before them.")]
BenchDataOpt = Annotated[
    Path | None,
    typer.Option(help="Folder of images and masks (default: the recipe's synthetic data)."),
]
BenchSetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a base-recipe value by dotted path, e.g. --set memory.cap=8GiB "
        "(repeatable).",
    ),
]
BenchOutOpt = Annotated[
    Path | None,
    typer.Option(help="Output folder for bench.csv and bench.png (default: runs/bench-<time>)."),
]


def train(
    recipe: RecipeOpt = "auto",
    data: TrainDataOpt = None,
    set_: TrainSetOpt = None,
    epochs: EpochsOpt = None,
    name: RunNameOpt = None,
    runs_dir: TrainRunsDirOpt = Path("runs"),
    device: DeviceOpt = "auto",
    on_bad_sample: BadSampleOpt = None,
) -> None:
    """Train one configuration of the recipe and keep its run directory.

    The run directory holds the resolved recipe.yaml, split.json, metrics.csv (one row per
    epoch, written as the run goes), best.pt (the best checkpoint) and summary.json.
    """
    import harness
    from harness.cli._train import print_train

    try:
        result = harness.train(
            recipe,
            data=data,
            set=set_,
            epochs=epochs,
            name=name,
            runs_dir=runs_dir,
            device=device,
            on_bad_sample=on_bad_sample,
            console=console,
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(print_train(result, console))


def evaluate(
    checkpoint: CheckpointArg,
    data: EvalDataOpt = None,
    split: EvalSplitOpt = "test",
    compare: CompareOpt = None,
    overlays: OverlaysOpt = 0,
    out: EvalOutOpt = None,
    device: DeviceOpt = "auto",
    bootstrap: BootstrapOpt = 2000,
    seed: SeedOpt = 0,
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
    import harness
    from harness.cli._evaluate import print_evaluation

    result = harness.evaluate(
        checkpoint,
        data=data,
        split=split,
        compare=compare,
        overlays=overlays,
        out=out,
        device=device,
        bootstrap=bootstrap,
        seed=seed,
        size_thresholds=size_thresholds,
        detect_fraction=detect_fraction,
        calibrate=calibrate,
        console=console,
    )
    print_evaluation(result, console)


def bench(
    recipe: RecipeOpt = "auto",
    grid: GridOpt = None,
    steps: StepsOpt = 10,
    warmup: WarmupOpt = 3,
    device: DeviceOpt = "auto",
    data: BenchDataOpt = None,
    set_: BenchSetOpt = None,
    out: BenchOutOpt = None,
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
    import harness
    from harness.cli._bench import print_bench

    options = {"grid": grid, "steps": steps, "warmup": warmup, "device": device, "data": data}
    try:
        result = harness.bench(recipe, **options, set=set_, out=out, console=console)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(print_bench(result, console))
