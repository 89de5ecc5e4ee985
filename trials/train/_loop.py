"""``run_trial``: train one configuration of the recipe and report every epoch.

No Ray here: the harness wraps this function in a Ray trainable, and ``harness train`` calls it
directly. Anything a trial can fail at that is not a bug (memory cap, CUDA OOM, divergence, bad
data) ends it with a status in the returned summary instead of an exception.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from search_spaces import (
    DataError,
    DivergedError,
    MemoryCapExceeded,
    Recipe,
    apply_overrides,
)
from trials._check import check_recipe
from trials.data import TileSampler, epoch_loader, load_splits, predict_full
from trials.losses import CompositeLoss
from trials.memory import MemoryGuard
from trials.metrics import MetricAccumulator
from trials.model import LesionSegmenter, build_model
from trials.train._checkpoint import restore_training_state, save_checkpoint, training_state
from trials.train._faults import parse_fault
from trials.train._summary import TrialSummary

__all__ = ["CheckpointFn", "ReportFn", "evaluate_samples", "run_trial"]

ReportFn = Callable[[int, dict[str, float]], Any]
# (epoch, state): the whole training state after an epoch, handed over right before report()
CheckpointFn = Callable[[int, dict[str, Any]], Any]
ProgressFn = Callable[[dict[str, Any]], None]


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _autocast(recipe: Recipe, device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda" and recipe.optim.amp:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def _val_progress(emit: ProgressFn, epoch: int) -> Callable[[int, int], None]:
    return lambda done, total: emit({"event": "val", "epoch": epoch, "done": done, "total": total})


def evaluate_samples(
    model: LesionSegmenter,
    samples: list,
    recipe: Recipe,
    device: torch.device,
    progress: Callable[[int, int], None] | None = None,
) -> MetricAccumulator:
    """Sliding-window inference on whole images and the metrics of the recipe.

    Metrics are computed against each sample's full-resolution mask (images downscaled on load
    are predicted at the loaded size and the averaged logits resized back).
    """
    model.eval()
    acc = MetricAccumulator(tolerance=2)
    fmt = torch.channels_last if device.type == "cuda" and recipe.optim.channels_last else None

    def model_fn(batch: torch.Tensor) -> torch.Tensor:
        if fmt is not None:
            batch = batch.contiguous(memory_format=fmt)
        with _autocast(recipe, device):
            return model.predict_mask(batch).float()

    for i, sample in enumerate(samples):
        out_size = sample.full_mask.shape if sample.full_mask is not None else None
        prob = predict_full(model_fn, sample.image, recipe.data, device, out_size=out_size)
        acc.update(prob >= 0.5, sample.target_mask, sample.id, sample.label)
        if progress is not None:
            progress(i + 1, len(samples))
    return acc


def run_trial(
    recipe: Recipe | Mapping[str, Any],
    report: ReportFn | None = None,
    *,
    workdir: str | Path | None = None,
    split_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: ProgressFn | None = None,
    log: Callable[[str], None] | None = None,
    checkpoint_fn: CheckpointFn | None = None,
    resume_state: Mapping[str, Any] | None = None,
) -> TrialSummary:
    """Train one configuration and call ``report(epoch, metrics)`` after each epoch.

    Args:
        recipe: the configuration (a :class:`Recipe` or its mapping, validated here).
        report: called with the 1-based epoch and the epoch's metrics (training loss and
            per-term losses, learning rate, every validation metric on full images, epoch time,
            images/s, peak memory so far).
        workdir: where ``best.pt`` goes (and ``split.json`` unless ``split_dir`` is given);
            nothing is written when ``None``.
        split_dir: the directory whose ``split.json`` every trial of an experiment shares
            (default: ``workdir``).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``; default: CUDA when available.
        progress: receives fine-grained events (``start``, ``step``, ``val``) for progress bars.
        log: receives human-readable warnings (memory, skipped samples, OOM retries).
        checkpoint_fn: called after each epoch, right before ``report``, with the epoch and the
            whole training state (model, optimizer, scheduler, scaler, best so far, early-stopping
            counter, random generators, summary so far): a dict of tensors and plain values that
            ``torch.save`` or pickle can store. Nothing here knows where it goes.
        resume_state: such a state: training continues at the epoch after it, with the same
            epoch numbers, the same batches and the same result as an uninterrupted run.

    Returns:
        The trial's summary; ``status`` says how it ended (see ``STATUSES``).
    """
    if not isinstance(recipe, Recipe):
        recipe = apply_overrides(dict(recipe), {}, source="run_trial(recipe)")
    check_recipe(recipe)
    started = time.perf_counter()
    dev = _resolve_device(device)
    workdir = Path(workdir) if workdir is not None else None
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    summary = TrialSummary(device=str(dev))
    if resume_state is not None:
        # the summary so far (attempts, best, peak memory, time spent) carries on
        summary = TrialSummary(**{**resume_state["summary"], "device": str(dev)})
        started -= summary.wall_time_s
    emit = progress or (lambda event: None)
    say = log or (lambda msg: None)

    try:
        splits = load_splits(recipe.data, Path(split_dir) if split_dir is not None else workdir)
    except DataError as exc:
        summary.status, summary.error = "data_error", str(exc)
        summary.wall_time_s = time.perf_counter() - started
        return summary
    summary.skipped = list(splits.skipped)
    if splits.skipped:
        say(f"skipped {len(splits.skipped)} bad sample(s): {splits.skipped[:5]}")

    attempt = recipe
    if resume_state is not None and summary.attempts:
        last = summary.attempts[-1]
        attempt = apply_overrides(
            recipe,
            {"data.batch_size": last["batch_size"], "optim.accumulation": last["accumulation"]},
            source="resumed attempt",
        )
    fault = parse_fault()
    while True:
        if resume_state is None or len(summary.attempts) == 0:
            summary.attempts.append(
                {"batch_size": attempt.data.batch_size, "accumulation": attempt.optim.accumulation}
            )
        hooks = _Hooks(report, checkpoint_fn, resume_state, fault, len(summary.attempts), started)
        resume_state = None  # a retry after an OOM starts from scratch
        try:
            _train(attempt, splits, dev, workdir, hooks, emit, say, summary)
            if summary.status in ("completed", "early_stopped"):
                summary.error = None  # an OOM before a successful retry is not the outcome
            break
        except torch.cuda.OutOfMemoryError as exc:
            summary.status, summary.error = "oom", f"CUDA out of memory: {exc}".splitlines()[0]
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            can_retry = attempt.memory.oom_retry and len(summary.attempts) == 1
            if not can_retry or attempt.data.batch_size < 2:
                break
            attempt = apply_overrides(
                attempt,
                {
                    "data.batch_size": attempt.data.batch_size // 2,
                    "optim.accumulation": attempt.optim.accumulation * 2,
                },
                source="oom retry",
            )
            say(
                f"CUDA OOM; retrying at batch {attempt.data.batch_size} "
                f"x accumulation {attempt.optim.accumulation}"
            )
    summary.wall_time_s = time.perf_counter() - started
    return summary


class _Hooks:
    """What one attempt reports to, resumes from and has injected (see ``trials.train._faults``)."""

    def __init__(
        self,
        report: ReportFn | None,
        checkpoint_fn: CheckpointFn | None,
        resume_state: Mapping[str, Any] | None,
        fault: Any,
        attempt: int,
        started: float,
    ) -> None:
        self.report, self.checkpoint_fn, self.resume_state = report, checkpoint_fn, resume_state
        self.fault, self.attempt, self.started = fault, attempt, started

    def inject(self, recipe: Recipe, epoch: int) -> None:
        """Raise the injected fault when this is its epoch on a first attempt."""
        if self.fault is None or self.attempt != 1 or epoch != self.fault.epoch:
            return
        from search_spaces import flatten

        if self.fault.applies(flatten(recipe)):
            self.fault.raise_now()


def _train(
    recipe: Recipe,
    splits: Any,
    dev: torch.device,
    workdir: Path | None,
    hooks: _Hooks,
    emit: ProgressFn,
    say: Callable[[str], None],
    summary: TrialSummary,
) -> None:
    """One training attempt; fills ``summary`` in place (so a failure keeps what was done)."""
    _seed_everything(recipe.seed)
    criterion = CompositeLoss(recipe.loss).to(dev)
    model = build_model(recipe.model, criterion.required_outputs).to(dev)
    channels_last = dev.type == "cuda" and recipe.optim.channels_last
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    summary.n_params = sum(p.numel() for p in model.parameters())
    opt_cfg, data_cfg = recipe.optim, recipe.data

    tiles = TileSampler(
        splits.train,
        data_cfg.tile_size,
        data_cfg.stride,
        data_cfg.tile_jitter,
        data_cfg.max_tiles_per_image,
        data_cfg.pos_tile_prob,
    )
    n_tiles = len(tiles)
    n_batches = math.ceil(n_tiles / data_cfg.batch_size)
    steps_per_epoch = math.ceil(n_batches / opt_cfg.accumulation)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=opt_cfg.lr, weight_decay=opt_cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=opt_cfg.lr,
        total_steps=steps_per_epoch * opt_cfg.epochs,
        pct_start=opt_cfg.onecycle.pct_start,
        div_factor=opt_cfg.onecycle.div_factor,
        final_div_factor=opt_cfg.onecycle.final_div_factor,
    )
    use_scaler = dev.type == "cuda" and opt_cfg.amp and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    monitor, maximise = opt_cfg.monitor, opt_cfg.monitor_mode == "max"
    best_value: float | None = None
    since_best = 0
    tiles_seen, train_seconds = 0, 0.0
    start_epoch = 1
    if hooks.resume_state is not None:
        state = hooks.resume_state
        counters = restore_training_state(state, (model, optimizer, scheduler, scaler))
        best_value, since_best, tiles_seen, train_seconds = counters
        start_epoch = int(state["epoch"]) + 1

    emit(
        {
            "event": "start",
            "epochs": opt_cfg.epochs,
            "steps_per_epoch": n_batches,
            "n_train": len(splits.train),
            "n_val": len(splits.val),
            "device": str(dev),
        }
    )
    guard = MemoryGuard(recipe.memory, dev, log=say)
    summary.memory_kind = guard.kind
    try:
        with guard:
            for epoch in range(start_epoch, opt_cfg.epochs + 1):
                t0 = time.perf_counter()
                frozen = epoch <= opt_cfg.freeze_encoder_epochs
                for p in model.encoder.parameters():
                    p.requires_grad_(not frozen)
                model.train()
                if frozen:
                    # A frozen encoder also keeps its BatchNorm statistics (those of its
                    # pretrained weights when a weights file was given).
                    model.encoder.eval()
                loader = epoch_loader(
                    splits.train, data_cfg, epoch, recipe.seed, train=True, sampler=tiles
                )
                sums: dict[str, float] = {}
                optimizer.zero_grad(set_to_none=True)
                for i, batch in enumerate(loader):
                    guard.check()
                    if i == 0:
                        hooks.inject(recipe, epoch)
                    images = batch["image"].to(dev, non_blocking=True)
                    masks = batch["mask"].to(dev, non_blocking=True)
                    if channels_last:
                        images = images.contiguous(memory_format=torch.channels_last)
                    with _autocast(recipe, dev):
                        outputs = model(images)
                    outputs = {k: v.float() for k, v in outputs.items()}
                    loss, terms = criterion(outputs, {"mask": masks})
                    if not torch.isfinite(loss):
                        raise DivergedError(
                            f"loss is {loss.item()} at epoch {epoch}, step {i + 1} "
                            f"(terms: {terms}); lower optim.lr or check the data"
                        )
                    group = i // opt_cfg.accumulation
                    group_size = min(opt_cfg.accumulation, n_batches - group * opt_cfg.accumulation)
                    scaler.scale(loss / group_size).backward()
                    if (i + 1) % opt_cfg.accumulation == 0 or i + 1 == n_batches:
                        if opt_cfg.grad_clip is not None:
                            scaler.unscale_(optimizer)
                            torch.nn.utils.clip_grad_norm_(model.parameters(), opt_cfg.grad_clip)
                        scaler.step(optimizer)
                        scaler.update()
                        optimizer.zero_grad(set_to_none=True)
                        scheduler.step()
                    sums["train_loss"] = sums.get("train_loss", 0.0) + loss.item()
                    for name, value in terms.items():
                        sums[f"loss_{name}"] = sums.get(f"loss_{name}", 0.0) + value
                    tiles_seen += images.shape[0]
                    emit({"event": "step", "epoch": epoch, "step": i + 1, "loss": loss.item()})
                train_time = time.perf_counter() - t0
                train_seconds += train_time
                guard.check()

                acc = evaluate_samples(
                    model,
                    splits.val,
                    recipe,
                    dev,
                    _val_progress(emit, epoch),
                )
                metrics = {k: v / max(1, n_batches) for k, v in sums.items()}
                metrics.update(acc.compute())
                metrics.update(
                    {
                        "lr": scheduler.get_last_lr()[0],
                        "epoch_time_s": time.perf_counter() - t0,
                        "images_per_s": (n_tiles / train_time) if train_time > 0 else 0.0,
                        "memory_peak_bytes": float(guard.peak_bytes),
                        "encoder_frozen": float(frozen),
                        "attempt": float(hooks.attempt),
                    }
                )
                summary.epochs = epoch
                summary.final = metrics
                summary.peak_memory_bytes = guard.peak_bytes
                summary.images_per_s = tiles_seen / train_seconds if train_seconds else 0.0

                value = metrics.get(monitor)
                improved = (
                    value is not None
                    and not math.isnan(value)
                    and (
                        best_value is None
                        or (
                            value > best_value * (1 + opt_cfg.early_stopping.min_rel_improvement)
                            if maximise
                            else value
                            < best_value * (1 - opt_cfg.early_stopping.min_rel_improvement)
                        )
                    )
                )
                if improved or summary.best_epoch is None:
                    if improved:
                        best_value = value
                    summary.best_epoch, summary.best = epoch, metrics
                    since_best = 0
                    if workdir is not None:
                        path = workdir / "best.pt"
                        save_checkpoint(path, model, recipe, epoch, metrics)
                        summary.checkpoint = str(path)
                else:
                    since_best += 1
                if hooks.checkpoint_fn is not None:
                    summary.wall_time_s = time.perf_counter() - hooks.started
                    counters = (best_value, since_best, tiles_seen, train_seconds)
                    modules = (model, optimizer, scheduler, scaler)
                    state = training_state(epoch, modules, counters, summary.to_dict())
                    hooks.checkpoint_fn(epoch, state)
                if hooks.report is not None:
                    hooks.report(epoch, metrics)
                patience = opt_cfg.early_stopping.patience
                if patience is not None and since_best >= patience and epoch < opt_cfg.epochs:
                    summary.status = "early_stopped"
                    return
        summary.status = "completed"
    except MemoryCapExceeded as exc:
        summary.status, summary.error = "memory_cap", str(exc)
        summary.peak_memory_bytes = max(guard.peak_bytes, exc.peak_bytes)
    except DivergedError as exc:
        summary.status, summary.error = "diverged", str(exc)
    finally:
        summary.peak_memory_bytes = max(summary.peak_memory_bytes, guard.peak_bytes)
