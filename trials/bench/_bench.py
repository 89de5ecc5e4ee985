"""Speed and memory of the recipe's training step, for one recipe or a grid of them.

What one measured step is: fetch one micro-batch of ``data.batch_size`` real training tiles (drawn
by :class:`~trials.data.TileSampler` and loaded by :func:`~trials.data.epoch_loader` exactly as the
training loop does, augmentation included), then the training loop's own
:class:`~trials.train.TrainStep` (forward, the composite loss and its finiteness check, backward,
gradient clipping, the AdamW step, with the same AMP, loss-scaling and channels_last decisions),
then a CUDA synchronise. The model, loss, tile sampler and optimiser are built by the same
functions as in training. ``optim.accumulation`` is ignored: every micro-batch ends with an
optimiser step, so the optimiser state is allocated from the first step and counts in the peak
memory (with accumulation the training loop steps once every ``accumulation`` micro-batches, so
its time per image is slightly lower). The encoder is trainable (the frozen-encoder warm-up
epochs use less memory), and the learning-rate schedule is left out (negligible cost). AMP and
channels_last take effect on CUDA only and are ignored on CPU, which the row records
(``amp_active``, ``channels_last_active``).

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

from search_spaces import (
    ConfigError,
    DataError,
    DivergedError,
    MemoryCapExceeded,
    Recipe,
    TrialStatus,
    format_bytes,
)
from trials._check import check_recipe
from trials.bench._grid import GridAxis, expand_grid
from trials.data import DataSplits, TileSampler, epoch_loader, load_splits
from trials.memory import MemoryGuard
from trials.train._setup import (
    build_networks,
    build_optimizer,
    build_tile_sampler,
    resolve_device,
)
from trials.train._step import Precision, TrainStep

__all__ = [
    "BENCH_COLUMNS",
    "BENCH_OK",
    "BENCH_STATUSES",
    "bench_grid",
    "bench_recipe",
    "describe_row",
]

#: A combination that was measured. A measurement is not a trial, so this one status is the
#: bench's own; every failure is a trial status of the shared vocabulary.
BENCH_OK = "ok"
#: How a measured combination ended (plain strings, as the table stores them).
BENCH_STATUSES = (
    BENCH_OK,
    *(
        str(s)
        for s in (
            TrialStatus.OOM,
            TrialStatus.MEMORY_CAP,
            TrialStatus.DIVERGED,
            TrialStatus.DATA_ERROR,
            TrialStatus.ERROR,
        )
    ),
)

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
    precision = Precision.of(recipe, dev)
    row.update(
        status=BENCH_OK,
        device=str(dev),
        batch_size=recipe.data.batch_size,
        image_size=recipe.data.image_size,
        steps=steps,
        warmup=warmup,
        mem_kind="",
        amp_active=precision.amp,
        amp_dtype=precision.dtype_name,
        channels_last_active=precision.channels_last,
        error="",
    )
    return row


def _failed(row: dict[str, Any], status: TrialStatus, error: str) -> dict[str, Any]:
    row.update(status=str(status), error=error)
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
        memory), ``memory_cap`` (``memory.cap`` passed; the peak is the one that passed it),
        ``diverged`` (the loss was not finite, as training would have stopped),
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
    dev = resolve_device(device)
    row = _empty_row(recipe, dev, steps, warmup)
    try:
        splits = load_splits(recipe.data) if splits is None else splits
        sampler = build_tile_sampler(splits, recipe)
    except DataError as exc:
        return _failed(row, TrialStatus.DATA_ERROR, str(exc))
    row["tiles_per_epoch"] = len(sampler)
    if len(sampler) < recipe.data.batch_size:
        return _failed(
            row,
            TrialStatus.DATA_ERROR,
            f"the training set gives {len(sampler)} tiles per epoch, fewer than "
            f"data.batch_size = {recipe.data.batch_size}: no full batch to time",
        )
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    guard = MemoryGuard(recipe.memory, dev, log=log)
    row["mem_kind"] = guard.kind
    try:
        with guard:
            row["mem_baseline_bytes"] = guard.peak_bytes
            step_s, data_s = _measure(recipe, splits, sampler, dev, guard, steps, warmup, row)
        row.update(_timings(step_s, data_s, recipe.data.batch_size, len(sampler)))
    except torch.cuda.OutOfMemoryError as exc:
        _failed(row, TrialStatus.OOM, f"CUDA out of memory: {exc}".splitlines()[0])
    except MemoryCapExceeded as exc:
        _failed(row, TrialStatus.MEMORY_CAP, str(exc))
        row["mem_peak_bytes"] = max(guard.peak_bytes, exc.peak_bytes)
    except DivergedError as exc:
        _failed(row, TrialStatus.DIVERGED, str(exc))
    except (RuntimeError, ValueError) as exc:
        # A combination the model cannot run (e.g. batch 1 with a 1x1 deepest feature map,
        # which BatchNorm refuses in training) must not end the rest of the grid.
        _failed(row, TrialStatus.ERROR, f"{type(exc).__name__}: {exc}".splitlines()[0])
    finally:
        _memory_after(row, guard, dev)
    return row


def _timings(
    step_s: list[float], data_s: list[float], batch_size: int, tiles_per_epoch: int
) -> dict[str, float]:
    """The timing columns of a row from the measured seconds per step and per data fetch."""
    median = float(np.median(step_s))
    return {
        "step_s_median": median,
        "step_s_iqr": float(stats.iqr(step_s)),
        "step_s_min": float(np.min(step_s)),
        "step_s_max": float(np.max(step_s)),
        "data_s_median": float(np.median(data_s)),
        "images_per_s": batch_size / median,
        "epoch_s_est": math.ceil(tiles_per_epoch / batch_size) * median,
    }


def _memory_after(row: dict[str, Any], guard: MemoryGuard, dev: torch.device) -> None:
    """The memory columns once the measurement ended, however it ended; frees the caches."""
    if math.isnan(row["mem_peak_bytes"]):
        row["mem_peak_bytes"] = guard.peak_bytes
    gc.collect()
    if dev.type == "cuda":
        row["torch_peak_allocated_bytes"] = torch.cuda.max_memory_allocated(dev)
        row["torch_peak_reserved_bytes"] = torch.cuda.max_memory_reserved(dev)
        torch.cuda.empty_cache()


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
    precision = Precision.of(recipe, dev)
    model, criterion = build_networks(recipe, dev, precision)
    row["n_params"] = sum(p.numel() for p in model.parameters())
    model.train()
    optimizer = build_optimizer(model, recipe)
    step = TrainStep(model, criterion, optimizer, precision, dev, grad_clip=recipe.optim.grad_clip)
    batches = _full_batches(splits, recipe, sampler)
    step_s: list[float] = []
    data_s: list[float] = []
    try:
        for i in range(warmup + steps):
            guard.check()
            t0 = time.perf_counter()
            images, masks = step.inputs(next(batches))
            t_data = time.perf_counter() - t0
            step(images, masks, i, where=f"bench step {i + 1}")
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if i >= warmup:
                step_s.append(time.perf_counter() - t0)
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
            row = _empty_row(recipe, resolve_device(device), steps, warmup)
            _failed(row, TrialStatus.DATA_ERROR, str(loaded))
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
    if row["status"] != BENCH_OK:
        return f"{row['status']}: {row['error']}"
    return (
        f"{row['step_s_median'] * 1000:.1f} ms/step, {row['images_per_s']:.1f} images/s, "
        f"peak {format_bytes(row['mem_peak_bytes'])} ({row['mem_kind']})"
    )
