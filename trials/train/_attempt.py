"""One training attempt of a trial: set-up, epochs, validation, bookkeeping and checkpoints.

``run_trial`` makes one attempt, or two when a CUDA out-of-memory error is retried at half the
batch size. An attempt fills the trial's summary in place as it goes, so a failure keeps what
was done; a memory-cap breach or a diverged loss ends it with that status, while a CUDA OOM
propagates to ``run_trial``, which decides on the retry.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from search_spaces import DivergedError, MemoryCapExceeded, Recipe, TrialStatus, flatten
from trials.data import DataSplits, epoch_loader
from trials.memory import MemoryGuard
from trials.metrics import BreakdownAccumulator
from trials.train._checkpoint import restore_training_state, save_checkpoint, training_state
from trials.train._early_stopping import BestTracker
from trials.train._evaluate import evaluate_samples
from trials.train._faults import Fault
from trials.train._setup import (
    build_networks,
    build_optimizer,
    build_scheduler,
    build_tile_sampler,
)
from trials.train._step import Precision, StepResult, TrainStep
from trials.train._summary import TrialSummary

__all__ = ["CheckpointFn", "Hooks", "ProgressFn", "ReportFn", "train_attempt"]

ReportFn = Callable[[int, dict[str, float]], Any]
# (epoch, state): the whole training state after an epoch, handed over right before report()
CheckpointFn = Callable[[int, dict[str, Any]], Any]
ProgressFn = Callable[[dict[str, Any]], None]


class Hooks:
    """What one attempt reports to, resumes from and has injected (see ``trials.train._faults``).

    Args:
        report: called with each epoch's metrics, or ``None``.
        checkpoint_fn: called with each epoch's training state, or ``None``.
        resume_state: the state to continue from, or ``None`` to start afresh.
        fault: the injected fault, or ``None``.
        attempt: 1 for the first attempt, 2 for an OOM retry.
        started: ``time.perf_counter()`` at the trial's start (less the time of resumed runs).
    """

    def __init__(
        self,
        report: ReportFn | None,
        checkpoint_fn: CheckpointFn | None,
        resume_state: Mapping[str, Any] | None,
        fault: Fault | None,
        attempt: int,
        started: float,
    ) -> None:
        self.report, self.checkpoint_fn, self.resume_state = report, checkpoint_fn, resume_state
        self.fault, self.attempt, self.started = fault, attempt, started

    def inject(self, recipe: Recipe, epoch: int) -> None:
        """Raise the injected fault when this is its epoch on a first attempt."""
        if self.fault is None or self.attempt != 1 or epoch != self.fault.epoch:
            return
        if self.fault.applies(flatten(recipe)):
            self.fault.raise_now()


def train_attempt(
    recipe: Recipe,
    splits: DataSplits,
    device: torch.device,
    workdir: Path | None,
    hooks: Hooks,
    emit: ProgressFn,
    say: Callable[[str], None],
    summary: TrialSummary,
) -> None:
    """Train one attempt under the memory guard; its status and results go into ``summary``.

    Raises:
        torch.cuda.OutOfMemoryError: CUDA ran out of memory (``run_trial`` may retry).
    """
    attempt = _Attempt(recipe, splits, device, workdir, hooks, emit, summary)
    attempt.resume(hooks.resume_state)
    attempt.announce()
    guard = MemoryGuard(recipe.memory, device, log=say)
    summary.memory_kind = guard.kind
    try:
        with guard:
            summary.end(attempt.run(guard))
    except MemoryCapExceeded as exc:
        summary.end(TrialStatus.MEMORY_CAP, str(exc))
        summary.peak_memory_bytes = max(guard.peak_bytes, exc.peak_bytes)
    except DivergedError as exc:
        summary.end(TrialStatus.DIVERGED, str(exc))
    finally:
        summary.peak_memory_bytes = max(summary.peak_memory_bytes, guard.peak_bytes)


class _Attempt:
    """The state of one attempt and its parts, in the order an epoch runs them."""

    # ---------------------------------------------------------------------------------- set-up

    def __init__(
        self,
        recipe: Recipe,
        splits: DataSplits,
        device: torch.device,
        workdir: Path | None,
        hooks: Hooks,
        emit: ProgressFn,
        summary: TrialSummary,
    ) -> None:
        self.recipe, self.splits, self.device, self.workdir = recipe, splits, device, workdir
        self.hooks, self.emit, self.summary = hooks, emit, summary
        precision = Precision.of(recipe, device)
        self.model, criterion = build_networks(recipe, device, precision)
        summary.n_params = sum(p.numel() for p in self.model.parameters())
        self.tiles = build_tile_sampler(splits, recipe)
        self.n_batches = math.ceil(len(self.tiles) / recipe.data.batch_size)
        steps_per_epoch = math.ceil(self.n_batches / recipe.optim.accumulation)
        self.optimizer = build_optimizer(self.model, recipe)
        self.scheduler = build_scheduler(self.optimizer, recipe, steps_per_epoch)
        self.step = TrainStep(
            self.model,
            criterion,
            self.optimizer,
            precision,
            device,
            grad_clip=recipe.optim.grad_clip,
            accumulation=recipe.optim.accumulation,
            scheduler=self.scheduler,
        )
        self.tracker = BestTracker(recipe)
        self.tiles_seen, self.train_seconds, self.start_epoch = 0, 0.0, 1

    def resume(self, state: Mapping[str, Any] | None) -> None:
        """Continue from a :func:`training_state` (nothing to do when ``state`` is ``None``)."""
        if state is None:
            return
        counters = restore_training_state(state, self._modules())
        best_value, since_best, self.tiles_seen, self.train_seconds = counters
        self.tracker = BestTracker(self.recipe, best_value, since_best)
        self.start_epoch = int(state["epoch"]) + 1

    def announce(self) -> None:
        """The ``start`` progress event."""
        self.emit(
            {
                "event": "start",
                "epochs": self.recipe.optim.epochs,
                "steps_per_epoch": self.n_batches,
                "n_train": len(self.splits.train),
                "n_val": len(self.splits.val),
                "device": str(self.device),
            }
        )

    # ------------------------------------------------------------------------------ the epochs

    def run(self, guard: MemoryGuard) -> TrialStatus:
        """Train the remaining epochs; ``completed``, or ``early_stopped`` when patience ran out."""
        for epoch in range(self.start_epoch, self.recipe.optim.epochs + 1):
            t0 = time.perf_counter()
            frozen = self._freeze_encoder(epoch)
            losses = self._train_epoch(epoch, guard)
            train_time = time.perf_counter() - t0
            self.train_seconds += train_time
            guard.check()
            metrics = {**losses, **self._validate(epoch)}
            metrics.update(
                {
                    "lr": self.scheduler.get_last_lr()[0],
                    "epoch_time_s": time.perf_counter() - t0,
                    "images_per_s": (len(self.tiles) / train_time) if train_time > 0 else 0.0,
                    "memory_peak_bytes": float(guard.peak_bytes),
                    "encoder_frozen": float(frozen),
                    "attempt": float(self.hooks.attempt),
                }
            )
            if self._end_epoch(epoch, metrics, guard.peak_bytes):
                return TrialStatus.EARLY_STOPPED
        return TrialStatus.COMPLETED

    def _freeze_encoder(self, epoch: int) -> bool:
        """Put the model in training mode, the encoder frozen in the warm-up epochs."""
        frozen = epoch <= self.recipe.optim.freeze_encoder_epochs
        for p in self.model.encoder.parameters():
            p.requires_grad_(not frozen)
        self.model.train()
        if frozen:
            # A frozen encoder also keeps its BatchNorm statistics (those of its pretrained
            # weights when a weights file was given).
            self.model.encoder.eval()
        return frozen

    def _train_epoch(self, epoch: int, guard: MemoryGuard) -> dict[str, float]:
        """One pass over the epoch's tiles; the mean loss and mean loss terms per micro-batch."""
        loader = epoch_loader(
            self.splits.train,
            self.recipe.data,
            epoch,
            self.recipe.seed,
            train=True,
            sampler=self.tiles,
        )
        sums: dict[str, float] = {}
        self.step.zero_grad()
        for i, batch in enumerate(loader):
            guard.check()
            if i == 0:
                self.hooks.inject(self.recipe, epoch)
            images, masks = self.step.inputs(batch)
            result = self.step(images, masks, i, self.n_batches, f"epoch {epoch}, step {i + 1}")
            _add_losses(sums, result)
            self.tiles_seen += result.n_images
            self.emit({"event": "step", "epoch": epoch, "step": i + 1, "loss": result.loss})
        return {k: v / max(1, self.n_batches) for k, v in sums.items()}

    # ------------------------------------------------------------------------------ validation

    def _validate(self, epoch: int) -> dict[str, float]:
        """Every metric of the validation images, predicted whole by sliding window.

        The registry's metrics, and from the same predictions the lesion-size and calibration
        metrics of ``trials.metrics.BREAKDOWN_METRICS``.
        """

        def progress(done: int, total: int) -> None:
            self.emit({"event": "val", "epoch": epoch, "done": done, "total": total})

        extra = BreakdownAccumulator()
        acc = evaluate_samples(
            self.model, self.splits.val, self.recipe, self.device, progress, extra.observe
        )
        return {**acc.compute(), **extra.compute()}

    # ------------------------------------------------------------- end-of-epoch bookkeeping

    def _end_epoch(self, epoch: int, metrics: dict[str, float], peak_bytes: int) -> bool:
        """Record the epoch, keep the best, hand over state and metrics; whether to stop early."""
        summary = self.summary
        summary.epochs, summary.final = epoch, metrics
        summary.peak_memory_bytes = peak_bytes
        summary.images_per_s = self.tiles_seen / self.train_seconds if self.train_seconds else 0.0
        value = metrics.get(self.recipe.optim.monitor)
        if self.tracker.observe(value, first=summary.best_epoch is None):
            summary.best_epoch, summary.best = epoch, metrics
            self._save_best(epoch, metrics)
        if self.hooks.checkpoint_fn is not None:
            summary.wall_time_s = time.perf_counter() - self.hooks.started
            self.hooks.checkpoint_fn(epoch, self._state(epoch))
        if self.hooks.report is not None:
            self.hooks.report(epoch, metrics)
        return self.tracker.should_stop(epoch)

    # ------------------------------------------------------------------- checkpoint / resume

    def _save_best(self, epoch: int, metrics: dict[str, float]) -> None:
        """Write ``best.pt`` when there is a work directory."""
        if self.workdir is None:
            return
        path = self.workdir / "best.pt"
        save_checkpoint(path, self.model, self.recipe, epoch, metrics)
        self.summary.checkpoint = str(path)

    def _state(self, epoch: int) -> dict[str, Any]:
        """The whole training state after ``epoch`` (what :meth:`resume` takes back)."""
        counters = (
            self.tracker.best_value,
            self.tracker.since_best,
            self.tiles_seen,
            self.train_seconds,
        )
        return training_state(epoch, self._modules(), counters, self.summary.to_dict())

    def _modules(self) -> tuple[Any, ...]:
        return (self.model, self.optimizer, self.scheduler, self.step.scaler)


def _add_losses(sums: dict[str, float], result: StepResult) -> None:
    sums["train_loss"] = sums.get("train_loss", 0.0) + result.loss
    for name, value in result.terms.items():
        sums[f"loss_{name}"] = sums.get(f"loss_{name}", 0.0) + value
