"""How close a real-photo training epoch is to the time of its training steps.

Goal: epoch time <= 2 x (bench step time x steps per epoch + validation forward time).

Measured in one process, on the data folder given (e.g. ``../shared/data/soybean_rust``; never
copied into the repository) with the recipe given (default ``cpu_demo``):

- data: ``load_splits`` twice, the second one as the next trial in the same worker would
  (the process-wide decoded-image cache of ``trials.data`` answers it);
- bench: ``trials.bench.bench_recipe`` as ``harness bench`` calls it (median step), times
  ``ceil(tiles per epoch / batch)`` steps = the bench's ``epoch_s_est``; measured before and after
  the training run, and the mean of the two used, so that load from other processes on the
  machine hits both sides alike;
- validation: sliding-window forward over the validation images (``predict_full`` at the loaded
  size, with the training loop's model function), then, apart, what the training loop adds to
  it: the logits resized to the full-resolution mask and every metric (``MetricAccumulator``);
- train: ``trials.run_trial`` as ``harness train`` calls it, each epoch's ``epoch_time_s``
  split into training steps and validation by the progress events.

The ratio is the median epoch over ``bench step x steps + validation forward``. Threads: torch's
default, as ``harness train`` runs (``--threads`` sets ``torch.set_num_threads``, as a Ray trial
with ``--cpus-per-trial`` gets). It prints the figures and whether the goal is met; it does not
assert.

    .venv/bin/python benchmarks/epoch_time.py ../shared/data/soybean_rust [--epochs 3]
        [--recipe cpu_demo] [--threads N] [--bench-steps 20] [--device cpu]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from typing import Any

GOAL_RATIO = 2.0


def _validation_parts(recipe: Any, splits: Any, device: Any) -> tuple[float, float]:
    """Seconds of the validation forward alone, and of the resize-and-metrics it is followed by."""
    import torch
    import torch.nn.functional as F

    from trials.data import predict_full
    from trials.metrics import MetricAccumulator
    from trials.train._setup import build_networks
    from trials.train._step import Precision

    precision = Precision.of(recipe, device)
    model, _ = build_networks(recipe, device, precision)
    model.eval()

    def model_fn(batch: torch.Tensor) -> torch.Tensor:
        batch = precision.format_input(batch)
        with precision.autocast(device):
            return model.predict_mask(batch).float()

    forward_s = rest_s = 0.0
    acc = MetricAccumulator(tolerance=2)
    for sample in splits.val:
        t0 = time.perf_counter()
        logits = predict_full(model_fn, sample.image, recipe.data, device, return_logits=True)
        t1 = time.perf_counter()
        full = torch.from_numpy(logits)
        if sample.full_mask is not None:
            size = tuple(sample.full_mask.shape)
            full = F.interpolate(full[None, None], size=size, mode="bilinear")[0, 0]
        acc.update(full.numpy() >= 0.0, sample.target_mask, sample.id, sample.label)
        forward_s += t1 - t0
        rest_s += time.perf_counter() - t1
    return forward_s, rest_s


def _bench(recipe: Any, splits: Any, device: str, steps: int, warmup: int) -> dict[str, Any]:
    from trials.bench import BENCH_OK, bench_recipe

    row = bench_recipe(recipe, steps=steps, warmup=warmup, device=device, splits=splits)
    if row["status"] != BENCH_OK:
        raise SystemExit(f"bench failed: {row['status']}: {row['error']}")
    return row


def _train(recipe: Any, device: str) -> tuple[list[dict[str, float]], Any]:
    """Per-epoch ``epoch_time_s`` of ``run_trial``, split into steps and validation."""
    from trials import run_trial

    epochs: list[dict[str, float]] = []
    marks: dict[str, float] = {}

    def on_event(event: dict[str, Any]) -> None:
        now = time.perf_counter()
        if event["event"] == "step":
            marks.setdefault("first_step", now)
            marks["last_step"] = now
        elif event["event"] == "val":
            marks["last_val"] = now

    def report(epoch: int, metrics: dict[str, float]) -> None:
        epoch_s = float(metrics["epoch_time_s"])
        val_s = marks["last_val"] - marks["last_step"]
        epochs.append({"epoch": epoch, "epoch_s": epoch_s, "val_s": val_s})
        marks.clear()

    with tempfile.TemporaryDirectory() as workdir:
        summary = run_trial(recipe, report, workdir=workdir, device=device, progress=on_event)
    return epochs, summary


def main(argv: list[str] | None = None) -> None:
    """Run the measurement and print it."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="the data folder (data.root), e.g. ../shared/data/soybean_rust")
    ap.add_argument("--recipe", default="cpu_demo")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--bench-steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)

    import torch

    from search_spaces import load_recipe
    from trials.data import load_splits
    from trials.train._setup import resolve_device

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    recipe = load_recipe(args.recipe, {"data.root": args.data, "optim.epochs": args.epochs})
    dev = resolve_device(args.device)
    print(
        f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; torch threads "
        f"{torch.get_num_threads()}; recipe {recipe.name} on {dev}; data {args.data}"
    )

    t0 = time.perf_counter()
    splits = load_splits(recipe.data)
    t1 = time.perf_counter()
    load_splits(recipe.data)
    t2 = time.perf_counter()
    print(
        f"data: {len(splits.train)} train / {len(splits.val)} val images; load_splits "
        f"{t1 - t0:.2f} s, again in the same process {t2 - t1:.2f} s"
    )

    before = _bench(recipe, splits, str(dev), args.bench_steps, args.warmup)
    forward_s, rest_s = _validation_parts(recipe, splits, dev)
    epochs, summary = _train(recipe, str(dev))
    after = _bench(recipe, splits, str(dev), args.bench_steps, args.warmup)

    steps = math.ceil(before["tiles_per_epoch"] / recipe.data.batch_size)
    step_s = (before["step_s_median"] + after["step_s_median"]) / 2
    bench_epoch_s = step_s * steps
    print(
        f"bench: step {before['step_s_median'] * 1000:.0f} ms before, "
        f"{after['step_s_median'] * 1000:.0f} ms after the training run; "
        f"x {steps} steps = {bench_epoch_s:.2f} s per epoch"
    )
    print(
        f"validation ({len(splits.val)} images): forward {forward_s:.2f} s; resize to the "
        f"full-resolution masks + metrics {rest_s:.2f} s"
    )
    print(f"train ({summary.status}, {summary.epochs} epochs):")
    for e in epochs:
        print(
            f"  epoch {e['epoch']}: {e['epoch_s']:.2f} s = steps and data "
            f"{e['epoch_s'] - e['val_s']:.2f} s + validation {e['val_s']:.2f} s"
        )
    epoch_s = statistics.median(e["epoch_s"] for e in epochs)
    reference = bench_epoch_s + forward_s
    ratio = epoch_s / reference
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    print(
        f"median epoch {epoch_s:.2f} s / (bench {bench_epoch_s:.2f} s + validation forward "
        f"{forward_s:.2f} s) = {ratio:.2f} (goal <= {GOAL_RATIO:g}: {verdict}); "
        f"load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
