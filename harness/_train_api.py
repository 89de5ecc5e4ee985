"""``harness.train`` and ``harness.bench``: one configuration trained, or its step measured.

    import harness
    run = harness.train("cpu_demo", epochs=2, set={"optim.lr": 3e-4})
    print(run.status, run.best["iou_lesion"], run.checkpoint)
    speed = harness.bench("cpu_demo", grid=["data.batch_size=2,4"], steps=5)
    print(speed.table[["data.batch_size", "images_per_s"]])

Both write what ``harness train`` / ``harness bench`` write (a run directory with ``spec.json``)
and return a typed result; progress goes to ``console`` (a rich Console) or to ``logging``.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness._progress import Reporter
from harness._recipes import Overrides, resolve_recipe
from harness.tune._rundir import create_run_dir, environment, write_json
from search_spaces import (
    SUCCESS_STATUSES,
    ConfigError,
    DataError,
    Recipe,
    RunSpec,
    TrialStatus,
    format_bytes,
    recipe_to_yaml,
    write_spec,
)

if TYPE_CHECKING:
    from rich.console import Console

    from trials import TrialSummary

__all__ = ["BENCH_CSV", "BENCH_PLOT", "BenchResult", "TrainResult", "bench", "train"]

logger = logging.getLogger(__name__)

BENCH_CSV = "bench.csv"
BENCH_PLOT = "bench.png"
_CUDA_ONLY = ("optim.amp", "optim.channels_last")
_FAILED_BENCH = ("data_error", "error")


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What ``harness.train`` made.

    Attributes:
        path: the run directory (``recipe.yaml``, ``spec.json``, ``split.json``,
            ``metrics.csv``, ``best.pt``, ``summary.json``).
        recipe: the recipe that was trained (after ``data``, ``epochs``, ``set``...).
        summary: the trial's summary (status, error, best and final metrics, memory, speed).
        metrics: one row per finished epoch: ``epoch``, the losses, every validation metric.
    """

    path: Path
    recipe: Recipe
    summary: TrialSummary
    metrics: pd.DataFrame

    @property
    def status(self) -> str:
        """How the run ended (``completed``, ``early_stopped``, ``oom``, ...)."""
        return str(self.summary.status)

    @property
    def ok(self) -> bool:
        """Whether the status is a success (a finished or early-stopped run)."""
        return self.summary.status in SUCCESS_STATUSES

    @property
    def best(self) -> dict[str, float]:
        """Validation metrics of the best epoch."""
        return dict(self.summary.best)

    @property
    def final(self) -> dict[str, float]:
        """Validation metrics of the last finished epoch."""
        return dict(self.summary.final)

    @property
    def best_epoch(self) -> int | None:
        """The best epoch (``None`` when none finished)."""
        return self.summary.best_epoch

    @property
    def checkpoint(self) -> Path | None:
        """``best.pt``, the best epoch's checkpoint (``None`` when none was written)."""
        path = Path(self.summary.checkpoint) if self.summary.checkpoint else self.path / "best.pt"
        return path if path.is_file() else None


@dataclass(frozen=True, eq=False)
class BenchResult:
    """What ``harness.bench`` measured.

    Attributes:
        path: the output folder (``recipe.yaml``, ``spec.json``, ``bench.csv``, ``bench.png``).
        table: one row per combination: the axis values by path, then
            ``trials.bench.BENCH_COLUMNS`` (status, median step time and IQR, images/s, peak
            memory, parameters).
        axes: the grid's recipe paths, in the order given.
        plot: ``bench.png`` (throughput and memory against each axis).
        title: what was measured, in words.
    """

    path: Path
    table: pd.DataFrame
    axes: list[str]
    plot: Path
    title: str

    @property
    def csv(self) -> Path:
        """``bench.csv``."""
        return self.path / BENCH_CSV

    @property
    def ok(self) -> bool:
        """Whether every combination ran (``oom`` and ``memory_cap`` are results too)."""
        return not self.table["status"].isin(_FAILED_BENCH).any()


def _epoch_line(epoch: int, metrics: dict[str, float]) -> str:
    return (
        f"epoch {epoch}: loss {metrics.get('train_loss', math.nan):.3f} "
        f"val IoU {metrics.get('iou_lesion', math.nan):.3f} "
        f"mem {format_bytes(metrics.get('memory_peak_bytes', 0))}"
    )


class _TrainProgress:
    """``run_trial``'s ``report`` and ``progress`` callbacks, on two bars."""

    def __init__(self, bars: Any, run_dir: Path, epochs: int, out: Reporter) -> None:
        self.bars, self.run_dir, self.out = bars, run_dir, out
        self.rows: list[dict[str, float]] = []
        self.epochs_task = bars.add_task("starting", total=epochs)
        self.step_task = bars.add_task("  loading data", total=None)

    def report(self, epoch: int, metrics: dict[str, float]) -> None:
        self.rows.append({"epoch": epoch, **metrics})
        # Rewritten whole each epoch: an interrupted run keeps every finished epoch.
        pd.DataFrame(self.rows).to_csv(self.run_dir / "metrics.csv", index=False)
        self.bars.update(self.epochs_task, advance=1, description=_epoch_line(epoch, metrics))

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            self.bars.update(self.epochs_task, total=event["epochs"])
            self.bars.update(self.step_task, total=event["steps_per_epoch"])
            self.out.info(
                f"{event['n_train']} training / {event['n_val']} validation images on "
                f"{event['device']}"
            )
        elif kind == "step":
            self.bars.update(
                self.step_task,
                completed=event["step"],
                description=f"  train step (loss {event['loss']:.3f})",
            )
        elif kind == "val":
            self.bars.update(
                self.step_task,
                completed=event["done"],
                total=event["total"],
                description="  validate (full images)",
            )


def train(
    recipe: str | Recipe = "auto",
    *,
    data: str | Path | None = None,
    set: Overrides = None,  # the --set of the command line
    epochs: int | None = None,
    name: str | None = None,
    runs_dir: str | Path = "runs",
    device: str = "auto",
    on_bad_sample: str | None = None,
    console: Console | None = None,
) -> TrainResult:
    """Train one configuration of the recipe and keep its run directory (``harness train``).

    Args:
        recipe: ``auto`` (``stage1pp`` with a GPU, ``cpu_demo`` without), a built-in recipe's
            name, a YAML path or a :class:`~search_spaces.Recipe`.
        data: a folder of images and masks (default: the recipe's data, synthetic by default).
        set: overrides by dotted path: ``["optim.lr=3e-4"]`` or ``{"optim.lr": 3e-4}``.
        epochs: training epochs (``optim.epochs``).
        name: the run goes to ``runs_dir/name`` (default ``train-<recipe>-<time>``).
        runs_dir: where run directories are made.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        on_bad_sample: ``error`` or ``skip``: what an unreadable image/mask pair does.
        console: a rich Console for live progress; ``None`` logs through ``logging``.

    Returns:
        The run: its directory, recipe, summary, per-epoch metrics and checkpoint. A run that
        fails while training (``oom``, ``diverged``...) is a result too: see ``status``.

    Raises:
        ConfigError: a bad recipe, override, name or device.
        DataError: the data cannot be used at all (no run directory is left).
        KeyboardInterrupt: interrupted; the finished epochs stay in ``metrics.csv``.
    """
    from trials import check_device, check_recipe, run_trial

    resolved = resolve_recipe(recipe, data, set, epochs, on_bad_sample)
    check_recipe(resolved)
    dev = check_device(device)
    run_dir = create_run_dir(runs_dir, name, f"train-{resolved.name}")
    (run_dir / "recipe.yaml").write_text(recipe_to_yaml(resolved), encoding="utf-8")
    spec = RunSpec(
        command="train",
        kind="train",
        recipe=resolved.model_dump(mode="json"),
        environment=environment(),
    )
    write_spec(run_dir, spec)
    out = Reporter(console, logger)
    out.info(
        f"harness train recipe {resolved.name} -> {run_dir}",
        f"[bold]harness train[/] recipe [cyan]{resolved.name}[/] -> {run_dir}",
    )
    out.info(
        f"data: {resolved.data.root or 'synthetic'}; encoder {resolved.model.encoder}; "
        f"{resolved.optim.epochs} epochs"
    )
    with out.bars() as bars:
        progress = _TrainProgress(bars, run_dir, resolved.optim.epochs, out)
        try:
            summary = run_trial(
                resolved,
                progress.report,
                workdir=run_dir,
                device=dev,
                progress=progress.on_event,
                log=out.warn,
            )
        except KeyboardInterrupt:
            bars.stop()
            out.warn(f"interrupted: {len(progress.rows)} finished epoch(s) kept in {run_dir}")
            raise
    if summary.status == TrialStatus.DATA_ERROR and summary.epochs == 0:
        # the data could not be used at all: a user error, not a training result; nothing of
        # the run is worth keeping
        shutil.rmtree(run_dir, ignore_errors=True)
        raise DataError(summary.error or f"the data in {resolved.data.root} cannot be used")
    write_json(run_dir / "summary.json", summary.to_dict())
    return TrainResult(run_dir, resolved, summary, pd.DataFrame(progress.rows))


def _bench_dir(out: str | Path | None) -> Path:
    if out is None:
        return create_run_dir(Path("runs"), None, "bench")
    out = Path(out)
    if (out / BENCH_CSV).exists():
        raise ConfigError(
            f"out {out}: already holds a {BENCH_CSV}; choose another folder", param="out"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def _check_steps(steps: int, warmup: int) -> None:
    if steps < 1:
        raise ConfigError(f"steps {steps}: at least 1 measured step is needed", param="steps")
    if warmup < 0:
        raise ConfigError(f"warmup {warmup}: must be 0 or more", param="warmup")


def bench(
    recipe: str | Recipe = "auto",
    *,
    grid: list[str] | None = None,
    steps: int = 10,
    warmup: int = 3,
    device: str = "auto",
    data: str | Path | None = None,
    set: Overrides = None,  # the --set of the command line
    out: str | Path | None = None,
    console: Console | None = None,
) -> BenchResult:
    """Step time, images/s and peak memory of the recipe's training step over a grid
    (``harness bench``).

    Args:
        recipe: as for :func:`train`.
        grid: axes ``"path=v1,v2,..."``; every combination of all axes is measured.
        steps: measured training steps per combination (one micro-batch each).
        warmup: unmeasured steps before them.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        data: a folder of images and masks (default: the recipe's data).
        set: overrides of the base recipe by dotted path (list or mapping).
        out: the output folder (default ``runs/bench-<time>``); it must not hold a bench yet.
        console: a rich Console for progress lines; ``None`` logs through ``logging``.

    Returns:
        The table (also ``bench.csv``, rewritten after every row) and the plot.

    Raises:
        ConfigError: a bad grid, step count, device, recipe or output folder; every
            combination is checked before the first is measured.
        KeyboardInterrupt: interrupted; the finished rows stay in ``bench.csv``.
    """
    from analysis import write_bench_plot
    from trials import check_device, check_recipe
    from trials.bench import BENCH_COLUMNS, bench_grid, describe_row, expand_grid, parse_grid

    _check_steps(steps, warmup)
    resolved = resolve_recipe(recipe, data, set, None, None)
    check_recipe(resolved)
    dev = check_device(device)
    axes = parse_grid(grid or [], resolved)
    paths = [a.path for a in axes]
    n_combos = len(expand_grid(resolved, axes))  # every combination validated before any work
    out_dir = _bench_dir(out)
    (out_dir / "recipe.yaml").write_text(recipe_to_yaml(resolved), encoding="utf-8")
    spec = RunSpec(
        command="bench",
        kind="bench",
        recipe=resolved.name,
        grid={a.path: list(a.values) for a in axes},
        steps=steps,
        warmup=warmup,
        device=dev,
        environment=environment(),
    )
    write_spec(out_dir, spec)
    report = Reporter(console, logger)
    head = f"recipe {resolved.name} on {dev}: {n_combos} combination(s) x ({warmup} warm-up + "
    report.info(
        f"harness bench {head}{steps} measured) steps -> {out_dir}",
        f"[bold]harness bench[/] {head}{steps} measured) steps -> {out_dir}",
    )
    report.info(
        f"real training tiles of {resolved.data.root or 'the synthetic data'}; one step = one "
        "micro-batch: forward, loss, backward, AdamW step (optim.accumulation ignored)"
    )
    if dev == "cpu" and any(p in _CUDA_ONLY for p in paths):
        report.warn(
            "note: optim.amp and optim.channels_last take effect on CUDA only (as in "
            "training); on CPU their values measure the same step"
        )
    rows: list[dict[str, Any]] = []
    columns = [*paths, *BENCH_COLUMNS]

    def on_start(index: int, total: int, values: dict[str, Any]) -> None:
        label = " ".join(f"{k}={v}" for k, v in values.items()) or "base recipe"
        report.info(f"[{index}/{total}] {label} ...")

    def on_row(row: dict[str, Any]) -> None:
        rows.append(row)
        report.info(f"        {describe_row(row)}")
        # Rewritten whole after each row: an interrupted bench keeps every finished row.
        pd.DataFrame(rows, columns=columns).to_csv(out_dir / BENCH_CSV, index=False)

    try:
        bench_grid(
            resolved,
            axes,
            steps=steps,
            warmup=warmup,
            device=dev,
            on_start=on_start,
            on_row=on_row,
            log=report.warn,
        )
    except KeyboardInterrupt:
        report.warn(f"interrupted: {len(rows)} row(s) kept in {out_dir / BENCH_CSV}")
        raise
    title = f"harness bench: {resolved.name} on {dev}, median of {steps} steps"
    frame = pd.DataFrame(rows, columns=columns)
    plot = write_bench_plot(frame, paths, out_dir / BENCH_PLOT, title=title)
    return BenchResult(out_dir, frame, paths, plot, title)
