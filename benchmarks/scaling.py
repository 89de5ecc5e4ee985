"""Throughput of a fixed number of equal trials at concurrency 1, 2, ... and the speed-up against
the ideal (concurrency x the throughput at 1).

Every trial trains the same small recipe (``cpu_demo`` shrunk: a few synthetic images of 96 px,
tiles of 64 px) for the same number of epochs through ``harness.run_stage`` with one CPU per
trial (Ray sets one thread per trial); the ``lr`` space is searched with random sampling (the
learning rate does not change the work) and the grace period is the full budget, so ASHA stops
nothing and every trial does the same work. All stages run in one Ray instance, alternating
the concurrency levels in each round so that load from other processes hits all alike. It prints
trials per minute, the speed-up and its share of the ideal; it does not assert.

With ``--gpu`` the trials share one GPU instead: the reference recipe (``stage1pp``: EfficientNet-B2
at 256 px, AMP, channels_last) on a few synthetic images, each trial given 1/concurrency of the GPU
(``--gpus-per-trial``), so that concurrency 3 is three trials on one GPU against one trial alone.

    .venv/bin/python benchmarks/scaling.py [--trials 6] [--epochs 10] [--concurrency 1 2] [--gpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# cpu_demo shrunk to a few seconds of work per epoch (the shape of tests/conftest.py's
# tiny_overrides).
SETS = {
    "data.synthetic.n_images": 12,
    "data.synthetic.size": 96,
    "data.max_tiles_per_image": 2,
    "data.tile_size": 64,
    "data.stride": 48,
    "data.tile_jitter": 4,
    "data.image_size": 64,
    "data.batch_size": 8,
    "optim.freeze_encoder_epochs": 1,
}
# The reference recipe at its own tile and input sizes, on fewer synthetic images (GPU).
GPU_SETS = {
    "data.synthetic.n_images": 48,
    "optim.freeze_encoder_epochs": 1,
}


def time_stage(
    directory: Path, trials: int, epochs: int, concurrency: int, seed: int, gpu: bool = False
) -> float:
    """Wall seconds of one stage of ``trials`` equal trials at ``concurrency``."""
    from harness.searching import SearchSettings, run_stage
    from search_spaces import load_recipe, load_space

    settings = SearchSettings(
        trials=trials,
        max_epochs=epochs,
        grace_period=epochs,
        concurrency=concurrency,
        cpus_per_trial=1.0,
        gpus_per_trial=1.0 / concurrency if gpu else 0.0,
        sampler="random",
        seed=seed,
    )
    t0 = time.perf_counter()
    recipe = load_recipe("stage1pp", GPU_SETS) if gpu else load_recipe("cpu_demo", SETS)
    result = run_stage(directory, load_space("lr"), recipe, settings, console=None)
    elapsed = time.perf_counter() - t0
    done = int((result.trials["status"] == "completed").sum()) if not result.trials.empty else 0
    if done != trials:
        print(f"warning: {done} of {trials} trials completed at concurrency {concurrency}")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    """Alternate the concurrency levels; print throughput and speed-up against the ideal."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--gpu", action="store_true", help="trials share one GPU (stage1pp)")
    args = ap.parse_args(argv)
    if args.trials < 1 or args.epochs < 1 or args.rounds < 1 or min(args.concurrency) < 1:
        ap.error("--trials, --epochs, --rounds and every --concurrency must be >= 1")
    levels = sorted(set(args.concurrency))
    if levels[0] != 1:
        levels = [1, *levels]  # the speed-up is measured against concurrency 1

    import ray

    ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    gpus = ray.cluster_resources().get("GPU", 0)
    print(f"{cpus} CPUs and {gpus:g} GPUs for Ray; load {os.getloadavg()[0]:.2f}")
    if args.gpu and gpus < 1:
        ap.error("--gpu: Ray sees no GPU on this machine")
    if levels[-1] > cpus:
        print(f"note: concurrency {levels[-1]} > {cpus} CPUs: Ray queues the extra trials")
    seconds: dict[int, list[float]] = {c: [] for c in levels}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            time_stage(Path(tmp) / "warm", 1, 1, 1, 0, args.gpu)  # workers and imports warm for all
            for r in range(args.rounds):
                order = levels if r % 2 == 0 else levels[::-1]
                for c in order:
                    s = time_stage(
                        Path(tmp) / f"c{c}r{r}", args.trials, args.epochs, c, r, args.gpu
                    )
                    seconds[c].append(s)
                    print(f"round {r + 1} concurrency {c}: {s:6.1f} s", flush=True)
    finally:
        ray.shutdown()
    base = args.trials / statistics.median(seconds[1])
    print(f"\n{args.trials} trials x {args.epochs} epochs, {args.rounds} round(s) (median):")
    for c in levels:
        tput = args.trials / statistics.median(seconds[c])
        speedup = tput / base
        print(
            f"  concurrency {c}: {60 * tput:6.2f} trials/min, speed-up {speedup:.2f} "
            f"(ideal {c}, {speedup / c:.0%} of ideal)"
        )


if __name__ == "__main__":
    sys.exit(main())
