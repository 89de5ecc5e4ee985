"""Speed and memory of the recipe's training step, for one recipe or a grid of them.

What one measured step is: fetch one micro-batch of ``data.batch_size`` real training tiles (drawn
by :class:`~trials.data.TileSampler` and loaded by :func:`~trials.data.epoch_loader` exactly as the
training loop does, augmentation included), forward, the composite loss, backward, gradient
clipping and an AdamW step, then a CUDA synchronise. ``optim.accumulation`` is ignored: every
micro-batch ends with an optimiser step, so the optimiser state is allocated from the first
step and counts in the peak memory (with accumulation the training loop steps once every
``accumulation`` micro-batches, so its time per image is slightly lower). The encoder is trainable
(the frozen-encoder warm-up epochs use less memory), and the learning-rate schedule is left out
(negligible cost). AMP and channels_last follow the training loop: they take effect on CUDA only
and are ignored on CPU, which the row records (``amp_active``, ``channels_last_active``).

Timing follows the usual practice of GPU benchmarking (e.g. ``torch.utils.benchmark``):
``warmup`` unmeasured steps first (cuDNN autotuning, allocator growth, lazy initialisation), then
``steps`` timed with ``time.perf_counter`` around a synchronised step; the median is reported with
its interquartile range, being robust to the occasional slow step of a shared machine.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from scipy import stats

from search_spaces import ConfigError, DataError, MemoryCapExceeded, Recipe, format_bytes
from trials._check import check_recipe
from trials.bench._grid import GridAxis, expand_grid
from trials.data import DataSplits, TileSampler, epoch_loader, load_splits
from trials.losses import CompositeLoss
from trials.memory import MemoryGuard
from trials.model import build_model
from trials.train._loop import _autocast, _resolve_device, _seed_everything

__all__ = ["BENCH_COLUMNS", "BENCH_STATUSES", "bench_grid", "bench_recipe", "describe_row"]

#: How a measured combination ended.
BENCH_STATUSES = ("ok", "oom", "memory_cap", "data_error", "error")

#: The measurement columns of a bench row, in table order (grid axes come before them).
BENCH_COLUMNS = (
    "status",
    "device",
    "batch_size",
    "image_size",
    "n_params",
    "steps",
    "warmup",
    "step_s_median",
    "step_s_iqr",
    "step_s_min",
    "step_s_max",
    "data_s_median",
    "images_per_s",
    "tiles_per_epoch",
    "epoch_s_est",
    "mem_kind",
    "mem_baseline_bytes",
    "mem_peak_bytes",
    "torch_peak_allocated_bytes",
    "torch_peak_reserved_bytes",
    "amp_active",
    "amp_dtype",
    "channels_last_active",
    "error",
)


def _full_batches(
    splits: DataSplits, recipe: Recipe, sampler: TileSampler
) -> Iterator[dict[str, torch.Tensor]]:
    """Training batches of exactly ``data.batch_size`` tiles, epoch after epoch.

    The short last batch of an epoch is skipped so that every measured step has the same size.
    """
    epoch = 1
    while True:
        loader = epoch_loader(
            splits.train, recipe.data, epoch, recipe.seed, train=True, sampler=sampler
        )
        for batch in loader:
            if batch["image"].shape[0] == recipe.data.batch_size:
                yield batch
        epoch += 1


def _empty_row(recipe: Recipe, dev: torch.device, steps: int, warmup: int) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(BENCH_COLUMNS, math.nan)
    cuda = dev.type == "cuda"
    amp = cuda and recipe.optim.amp
    row.update(
        status="ok",
        device=str(dev),
        batch_size=recipe.data.batch_size,
        image_size=recipe.data.image_size,
        steps=steps,
        warmup=warmup,
        mem_kind="",
        amp_active=amp,
        amp_dtype=(
            ("bfloat16" if torch.cuda.is_bf16_supported() else "float16") if amp else "float32"
        ),
        channels_last_active=cuda and recipe.optim.channels_last,
        error="",
    )
    return row


def bench_recipe(
    recipe: Recipe,
    *,
    steps: int = 10,
    warmup: int = 3,
    device: str | torch.device | None = "auto",
    splits: DataSplits | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time ``steps`` training steps of ``recipe`` after ``warmup`` ones; record peak memory.

    See the module docstring for what a step contains. Memory is watched by the trial's own
    :class:`~trials.memory.MemoryGuard` (NVML per-process GPU memory on CUDA, process RSS on
    CPU), entered before the model is built so that the model, the activations and the optimiser
    state all count, and with the recipe's ``memory.cap`` in force. On CUDA, torch's peak
    allocated and reserved bytes are reset before and read after the measurement.

    Args:
        recipe: the configuration to measure.
        steps: measured steps (``>= 1``).
        warmup: unmeasured steps before them (``>= 0``).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        splits: the data already loaded for ``recipe.data`` (a grid loads it once); default:
            loaded here, without writing a split file.
        log: receives the memory guard's warnings.

    Returns:
        One row: the keys of :data:`BENCH_COLUMNS`. ``status`` is ``ok``, ``oom`` (CUDA out of
        memory), ``memory_cap`` (``memory.cap`` passed; the peak is the one that passed it) or
        ``data_error`` (the data cannot be loaded, or has fewer training tiles than one batch)
        or ``error`` (the step raised, e.g. BatchNorm refusing a batch of one 1x1 feature map;
        the message is kept); timing columns are NaN unless ``ok``. ``images_per_s`` is
        ``batch_size / step_s_median``; ``epoch_s_est`` is the time of one training epoch at
        that median (``ceil(tiles_per_epoch / batch_size)`` steps, so
        ``data.max_tiles_per_image`` counts).

    Raises:
        ConfigError: ``steps < 1`` or ``warmup < 0``, or a recipe the registries reject.
    """
    if steps < 1:
        raise ConfigError(f"bench: steps must be at least 1, got {steps}")
    if warmup < 0:
        raise ConfigError(f"bench: warmup must be 0 or more, got {warmup}")
    check_recipe(recipe)
    dev = _resolve_device(device)
    row = _empty_row(recipe, dev, steps, warmup)
    try:
        if splits is None:
            splits = load_splits(recipe.data)
        data_cfg = recipe.data
        sampler = TileSampler(
            splits.train,
            data_cfg.tile_size,
            data_cfg.stride,
            data_cfg.tile_jitter,
            data_cfg.max_tiles_per_image,
            data_cfg.pos_tile_prob,
        )
    except DataError as exc:
        row.update(status="data_error", error=str(exc))
        return row
    row["tiles_per_epoch"] = len(sampler)
    if len(sampler) < data_cfg.batch_size:
        row.update(
            status="data_error",
            error=(
                f"the training set gives {len(sampler)} tiles per epoch, fewer than "
                f"data.batch_size = {data_cfg.batch_size}: no full batch to time"
            ),
        )
        return row

    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    guard = MemoryGuard(recipe.memory, dev, log=log)
    row["mem_kind"] = guard.kind
    try:
        with guard:
            row["mem_baseline_bytes"] = guard.peak_bytes
            step_s, data_s = _measure(recipe, splits, sampler, dev, guard, steps, warmup, row)
        median = float(np.median(step_s))
        row.update(
            step_s_median=median,
            step_s_iqr=float(stats.iqr(step_s)),
            step_s_min=float(np.min(step_s)),
            step_s_max=float(np.max(step_s)),
            data_s_median=float(np.median(data_s)),
            images_per_s=data_cfg.batch_size / median,
            epoch_s_est=math.ceil(len(sampler) / data_cfg.batch_size) * median,
        )
    except torch.cuda.OutOfMemoryError as exc:
        row.update(status="oom", error=f"CUDA out of memory: {exc}".splitlines()[0])
    except MemoryCapExceeded as exc:
        row.update(status="memory_cap", error=str(exc))
        row["mem_peak_bytes"] = max(guard.peak_bytes, exc.peak_bytes)
    except (RuntimeError, ValueError) as exc:
        # A combination the model cannot run (e.g. batch 1 with a 1x1 deepest feature map,
        # which BatchNorm refuses in training) must not end the rest of the grid.
        row.update(status="error", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
    finally:
        if math.isnan(row["mem_peak_bytes"]):
            row["mem_peak_bytes"] = guard.peak_bytes
        gc.collect()
        if dev.type == "cuda":
            row["torch_peak_allocated_bytes"] = torch.cuda.max_memory_allocated(dev)
            row["torch_peak_reserved_bytes"] = torch.cuda.max_memory_reserved(dev)
            torch.cuda.empty_cache()
    return row


def _measure(
    recipe: Recipe,
    splits: DataSplits,
    sampler: TileSampler,
    dev: torch.device,
    guard: MemoryGuard,
    steps: int,
    warmup: int,
    row: dict[str, Any],
) -> tuple[list[float], list[float]]:
    """The timed loop; returns per-step total and data-fetch seconds of the measured steps."""
    _seed_everything(recipe.seed)
    criterion = CompositeLoss(recipe.loss).to(dev)
    model = build_model(recipe.model, criterion.required_outputs).to(dev)
    if row["channels_last_active"]:
        model = model.to(memory_format=torch.channels_last)
    row["n_params"] = sum(p.numel() for p in model.parameters())
    model.train()
    opt_cfg = recipe.optim
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=opt_cfg.lr, weight_decay=opt_cfg.weight_decay
    )
    scaler = torch.amp.GradScaler("cuda", enabled=row["amp_dtype"] == "float16")
    batches = _full_batches(splits, recipe, sampler)
    cuda = dev.type == "cuda"
    step_s: list[float] = []
    data_s: list[float] = []
    try:
        for i in range(warmup + steps):
            guard.check()
            t0 = time.perf_counter()
            batch = next(batches)
            images = batch["image"].to(dev, non_blocking=True)
            masks = batch["mask"].to(dev, non_blocking=True)
            if row["channels_last_active"]:
                images = images.contiguous(memory_format=torch.channels_last)
            t_data = time.perf_counter() - t0
            with _autocast(recipe, dev):
                outputs = model(images)
            outputs = {k: v.float() for k, v in outputs.items()}
            loss, _ = criterion(outputs, {"mask": masks})
            scaler.scale(loss).backward()
            if opt_cfg.grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), opt_cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize(dev)
            elapsed = time.perf_counter() - t0
            if i >= warmup:
                step_s.append(elapsed)
                data_s.append(t_data)
    finally:
        # Ends the DataLoader (and its workers, if any) of an abandoned epoch now.
        batches.close()
    guard.check()
    row["mem_peak_bytes"] = guard.peak_bytes
    return step_s, data_s


def _data_key(recipe: Recipe) -> str:
    # The loaded images depend on these fields only; tiling and batching are per combination.
    d = recipe.data
    return repr((d.root, d.synthetic, d.split, d.max_image_side, d.on_bad_sample))


def bench_grid(
    base: Recipe,
    axes: Sequence[GridAxis],
    *,
    steps: int = 10,
    warmup: int = 3,
    device: str | torch.device | None = "auto",
    on_start: Callable[[int, int, dict[str, Any]], None] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """:func:`bench_recipe` on every combination of ``axes`` (see :func:`expand_grid`).

    Every combination is validated before the first is measured. The data is loaded once per
    distinct data source, not once per combination. A combination that ends in ``oom`` or
    ``memory_cap`` is a row with that status; the grid goes on.

    Args:
        base: the recipe the axes modify.
        axes: from :func:`parse_grid`; none means the base recipe alone.
        steps, warmup, device, log: as for :func:`bench_recipe`.
        on_start: called with (1-based index, total, combination) before each combination.
        on_row: called with each finished row.

    Returns:
        One row per combination: the axis values by path, then :data:`BENCH_COLUMNS`.
    """
    combos = expand_grid(base, axes)
    for _, recipe in combos:
        check_recipe(recipe)
    cache: dict[str, DataSplits | DataError] = {}
    rows = []
    for index, (values, recipe) in enumerate(combos, start=1):
        if on_start is not None:
            on_start(index, len(combos), values)
        key = _data_key(recipe)
        if key not in cache:
            try:
                cache[key] = load_splits(recipe.data)
            except DataError as exc:
                cache[key] = exc
        loaded = cache[key]
        if isinstance(loaded, DataError):
            row = _empty_row(recipe, _resolve_device(device), steps, warmup)
            row.update(status="data_error", error=str(loaded))
        else:
            row = bench_recipe(
                recipe, steps=steps, warmup=warmup, device=device, splits=loaded, log=log
            )
        row = {**values, **row}
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def describe_row(row: dict[str, Any]) -> str:
    """One line for a log: status, median step, images/s and peak memory."""
    if row["status"] != "ok":
        return f"{row['status']}: {row['error']}"
    return (
        f"{row['step_s_median'] * 1000:.1f} ms/step, {row['images_per_s']:.1f} images/s, "
        f"peak {format_bytes(row['mem_peak_bytes'])} ({row['mem_kind']})"
    )
