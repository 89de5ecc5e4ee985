"""What a trial costs the search machinery: N trivial trials through the harness and through bare
Ray Tune, same concurrency. Goal: at most 0.2 s per trial at concurrency 2 on the 2-core machine.

Both sides run in one Ray instance started once by this script, in alternating rounds
(harness, bare, harness, bare, ...), so that load from other processes on the machine hits both
alike. The harness side is ``harness.run_stage`` (what ``harness search`` runs after connecting
to Ray) on the ``lr`` space with ``harness.testing:instant``: Optuna TPE behind a
ConcurrencyLimiter, ASHA, the progress callback that rewrites the tables as trials end and
renders the live display (to a string here, as ``harness search`` does to the terminal), and the
tables at the end. The bare side is ``tune.Tuner(fn, tune_config=TuneConfig(num_samples=N,
max_concurrent_trials=C))`` with Ray Tune's defaults otherwise (random search, FIFO). Ray's
start-up is outside both timings. It prints seconds per trial for both and the ratio; it does not
assert.

    .venv/bin/python benchmarks/scheduling.py [--trials 40] [--concurrency 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

GOAL_S = 0.2
# Driver-side settings run_stage puts into os.environ; removed after each harness round so that
# the bare Ray Tune rounds run with Ray's defaults.
_HARNESS_ENV = ("RAY_AIR_NEW_OUTPUT", "TUNE_GLOBAL_CHECKPOINT_S")


def _bare_objective(config: dict[str, Any]) -> None:
    from ray import tune

    tune.report({"score": 0.0})


def time_bare(n_trials: int, concurrency: int, storage: Path) -> float:
    """Wall seconds of ``Tuner.fit`` for ``n_trials`` instant trials with Ray Tune's defaults."""
    from ray import tune

    tuner = tune.Tuner(
        _bare_objective,
        param_space={"lr": tune.loguniform(1e-5, 1e-3)},
        tune_config=tune.TuneConfig(num_samples=n_trials, max_concurrent_trials=concurrency),
        # only where the results go differs from the defaults (not ~/ray_results)
        run_config=tune.RunConfig(storage_path=str(storage)),
    )
    t0 = time.perf_counter()
    # Ray's default console output is produced (part of the default cost), not shown.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        tuner.fit()
    return time.perf_counter() - t0


def time_harness(n_trials: int, concurrency: int, directory: Path, seed: int = 0) -> float:
    """Wall seconds of ``run_stage`` for ``n_trials`` instant trials (TPE, ASHA, tables)."""
    from rich.console import Console

    from harness.searching import SearchSettings, run_stage
    from search_spaces import load_recipe, load_space

    settings = SearchSettings(
        trials=n_trials,
        max_epochs=1,
        grace_period=1,
        concurrency=concurrency,
        seed=seed,
        metric="score",
        mode="max",
        trainable="harness.testing:instant",
    )
    before = {k: os.environ.get(k) for k in _HARNESS_ENV}
    # `harness search` draws its progress display; its rendering is part of the cost.
    console = Console(file=io.StringIO(), width=120)
    t0 = time.perf_counter()
    try:
        result = run_stage(
            directory, load_space("lr"), load_recipe("cpu_demo"), settings, console=console
        )
    finally:
        elapsed = time.perf_counter() - t0
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if len(result.trials) != n_trials:
        print(f"warning: harness recorded {len(result.trials)} of {n_trials} trials")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    """Alternate harness and bare Ray Tune rounds; print seconds per trial and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=40, help="trials per round and side")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="alternating harness/bare rounds")
    args = ap.parse_args(argv)
    if args.trials < 1 or args.concurrency < 1 or args.rounds < 1:
        ap.error("--trials, --concurrency and --rounds must be >= 1")

    import ray

    t0 = time.perf_counter()
    ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    print(f"ray.init: {time.perf_counter() - t0:.1f} s, {cpus} CPUs; load {os.getloadavg()[0]:.2f}")
    c = args.concurrency
    sides: dict[str, Callable[[Path, int, int], float]] = {
        "harness": lambda d, r, n: time_harness(n, c, d / f"h{r}", seed=max(r, 0)),
        "bare Ray Tune": lambda d, r, n: time_bare(n, c, d / f"b{r}"),
    }
    per_trial: dict[str, list[float]] = {name: [] for name in sides}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for fn in sides.values():  # the driver's first imports are not a per-trial cost
                fn(Path(tmp), -1, 2)
            for r in range(args.rounds):
                for name, fn in sides.items():
                    seconds = fn(Path(tmp), r, args.trials)
                    per_trial[name].append(seconds / args.trials)
                    print(
                        f"round {r + 1} {name:<14s} {seconds:7.2f} s for {args.trials} trials "
                        f"= {seconds / args.trials:.3f} s/trial"
                    )
    finally:
        ray.shutdown()
    h = statistics.median(per_trial["harness"])
    b = statistics.median(per_trial["bare Ray Tune"])
    print(
        f"\nconcurrency {args.concurrency}, {args.trials} trials x {args.rounds} rounds (median):"
    )
    verdict = "met" if h <= GOAL_S else "NOT met"
    print(f"  harness        {h:.3f} s/trial   goal <= {GOAL_S} s: {verdict}")
    print(f"  bare Ray Tune  {b:.3f} s/trial")
    print(f"  harness / bare {h / b:.2f}")


if __name__ == "__main__":
    sys.exit(main())
