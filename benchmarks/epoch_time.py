"""How close a real-photo training epoch is to the time of its training steps.

Goal: epoch time <= 2 x (bench step time x steps per epoch + validation forward time).

Measured in one process, on the data folder given (e.g. ``../shared/data/soybean_rust``; never
copied into the repository) with the recipe given (default ``cpu_demo``):

- data: ``load_splits`` twice, the second one as the next trial in the same worker would
  (answered by the process-wide decoded-image cache of ``trials.data``);
- the epochs: ``trials.run_trial`` as ``harness train`` calls it, each epoch's ``epoch_time_s``
  split into training steps and validation by the progress events;
- the reference, measured before the first epoch and again after each one (in the report
  callback, outside the epoch's own timing), so that load from other processes on a shared
  machine hits an epoch and its reference alike: ``trials.bench.bench_recipe`` as ``harness
  bench`` calls it (median step) times ``ceil(tiles per epoch / batch)`` steps, plus the
  sliding-window forward over the validation images (``predict_full`` at the loaded size, with
  the training loop's model function). An epoch's reference is the mean of the one before and
  the one after it;
- once, apart: what validation adds to its forward, the logits resized to the full-resolution
  masks and every metric (``MetricAccumulator``).

The figure is the median over epochs of epoch / reference. Threads: torch's default, as
``harness train`` runs (``--threads`` sets ``torch.set_num_threads``, as a Ray trial with
``--cpus-per-trial`` gets). It prints the figures and whether the goal is met; it does not
assert.

    .venv/bin/python benchmarks/epoch_time.py ../shared/data/soybean_rust [--epochs 5]
        [--recipe cpu_demo] [--threads N] [--bench-steps 10] [--device cpu]
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


class _Reference:
    """The reference of an epoch, measured on demand: bench step x steps + validation forward."""

    def __init__(self, recipe: Any, splits: Any, device: Any, steps: int, warmup: int) -> None:
        import torch

        from trials.train._setup import build_networks
        from trials.train._step import Precision

        self.recipe, self.splits, self.device = recipe, splits, device
        self.steps, self.warmup = steps, warmup
        precision = Precision.of(recipe, device)
        # An untrained copy: the forward's cost does not depend on the weights.
        model, _ = build_networks(recipe, device, precision)
        model.eval()

        def model_fn(batch: torch.Tensor) -> torch.Tensor:
            batch = precision.format_input(batch)
            with precision.autocast(device):
                return model.predict_mask(batch).float()

        self.model_fn = model_fn

    def bench_step(self) -> float:
        """Median step of ``bench_recipe``, as ``harness bench`` measures it."""
        from trials.bench import BENCH_OK, bench_recipe

        row = bench_recipe(
            self.recipe,
            steps=self.steps,
            warmup=self.warmup,
            device=self.device,
            splits=self.splits,
        )
        if row["status"] != BENCH_OK:
            raise SystemExit(f"bench failed: {row['status']}: {row['error']}")
        return float(row["step_s_median"])

    def validation(self, metrics: bool = False) -> tuple[float, float]:
        """Seconds of the sliding-window forward alone, and of the resize and metrics after it."""
        import torch
        import torch.nn.functional as F

        from trials.data import predict_full
        from trials.metrics import MetricAccumulator

        forward_s = rest_s = 0.0
        acc = MetricAccumulator(tolerance=2)
        for sample in self.splits.val:
            t0 = time.perf_counter()
            logits = predict_full(
                self.model_fn, sample.image, self.recipe.data, self.device, return_logits=True
            )
            t1 = time.perf_counter()
            forward_s += t1 - t0
            if not metrics:
                continue
            full = torch.from_numpy(logits)
            if sample.full_mask is not None:
                size = tuple(sample.full_mask.shape)
                full = F.interpolate(full[None, None], size=size, mode="bilinear")[0, 0]
            acc.update(full.numpy() >= 0.0, sample.target_mask, sample.id, sample.label)
            rest_s += time.perf_counter() - t1
        return forward_s, rest_s

    def measure(self) -> dict[str, float]:
        """One reference now: bench step and validation forward."""
        return {"step_s": self.bench_step(), "forward_s": self.validation()[0]}


def _train(recipe: Any, device: str, reference: _Reference) -> tuple[list[dict[str, Any]], Any]:
    """Per-epoch ``epoch_time_s`` of ``run_trial``, split into steps and validation, each with
    the reference measured right after it (outside the epoch's own timing)."""
    from trials import run_trial

    epochs: list[dict[str, Any]] = []
    marks: dict[str, float] = {}

    def on_event(event: dict[str, Any]) -> None:
        now = time.perf_counter()
        if event["event"] == "step":
            marks["last_step"] = now
        elif event["event"] == "val":
            marks["last_val"] = now

    def report(epoch: int, metrics: dict[str, float]) -> None:
        epoch_s = float(metrics["epoch_time_s"])
        val_s = marks["last_val"] - marks["last_step"]
        marks.clear()
        # (the bench reseeds the global generators: the training goes on differently from an
        # unmeasured run, at the same speed)
        epochs.append({"epoch": epoch, "epoch_s": epoch_s, "val_s": val_s, **reference.measure()})

    with tempfile.TemporaryDirectory() as workdir:
        summary = run_trial(recipe, report, workdir=workdir, device=device, progress=on_event)
    return epochs, summary


def main(argv: list[str] | None = None) -> None:
    """Run the measurement and print it."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="the data folder (data.root), e.g. ../shared/data/soybean_rust")
    ap.add_argument("--recipe", default="cpu_demo")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--bench-steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
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
    reference = _Reference(recipe, splits, dev, args.bench_steps, args.warmup)
    first = reference.measure()
    forward_s, rest_s = reference.validation(metrics=True)
    print(
        f"validation ({len(splits.val)} images): forward {forward_s:.2f} s; resize to the "
        f"full-resolution masks + metrics {rest_s:.2f} s"
    )
    epochs, summary = _train(recipe, str(dev), reference)
    steps = math.ceil(len(splits.train) * recipe.data.max_tiles_per_image / recipe.data.batch_size)

    print(f"train ({summary.status}, {summary.epochs} epochs; {steps} steps per epoch):")
    ratios = []
    before = first
    for e in epochs:
        step_s = (before["step_s"] + e["step_s"]) / 2
        forward = (before["forward_s"] + e["forward_s"]) / 2
        ratio = e["epoch_s"] / (step_s * steps + forward)
        ratios.append(ratio)
        print(
            f"  epoch {e['epoch']}: {e['epoch_s']:.2f} s = steps and data "
            f"{e['epoch_s'] - e['val_s']:.2f} s + validation {e['val_s']:.2f} s; bench "
            f"{step_s * 1000:.0f} ms x {steps} = {step_s * steps:.2f} s, forward {forward:.2f} s; "
            f"ratio {ratio:.2f}"
        )
        before = e
    ratio = statistics.median(ratios)
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    print(
        f"median ratio epoch / (bench step x steps + validation forward) = {ratio:.2f} "
        f"(goal <= {GOAL_RATIO:g}: {verdict}); load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
