"""What running a trial through ``harness search`` costs over calling ``trials.run_trial``.

Goal: at most 1.02 x the direct wall time for a trial of about 60 s.

Both sides are fresh processes timed from start to exit, run alternately (direct, search,
direct, search, ...) so that load from other processes on the machine hits both alike:

- direct: ``python -c`` that imports ``trials`` and calls ``run_trial(recipe, report,
  workdir=...)`` on the configuration;
- search: ``harness search --space lr --trials 1`` on the same configuration (the base recipe is
  the first, and here the only, trial), with ``--cpus-per-trial`` equal to the threads the
  direct run uses, concurrency 1 and the grace period at the full budget, so ASHA stops nothing.
  It includes what a one-trial search really pays: starting Ray, the worker, the tables.

The configuration is ``cpu_demo`` on 24 synthetic images of 96 px (``optim.lr`` set to 1e-3,
inside the ``lr`` space) with as many epochs as make a direct run last about ``--seconds``
(measured by a 2-epoch calibration run first, unless ``--epochs`` is given). It prints both wall
times, their ratio and the difference; it does not assert.

    .venv/bin/python benchmarks/overhead.py [--seconds 60] [--repeats 2] [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_RATIO = 1.02
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RECIPE = "cpu_demo"
# cpu_demo with a smaller synthetic data set, so that a ~60 s trial spans several epochs even
# on a loaded machine; optim.lr inside the lr space, so the searched trial is this exact recipe.
BASE_SETS = {"optim.lr": 1e-3, "data.synthetic.n_images": 24, "data.synthetic.size": 96}

_DIRECT = """
import json, sys, time
from search_spaces import load_recipe
from trials import run_trial
recipe = load_recipe(sys.argv[1], json.loads(sys.argv[2]))
stamps = []
summary = run_trial(recipe, lambda e, m: stamps.append(time.perf_counter()), workdir=sys.argv[3])
print(json.dumps({"status": summary.status, "stamps": stamps}))
"""


def _env(threads: int) -> dict[str, str]:
    # The direct run gets the same thread count Ray gives a trial with --cpus-per-trial.
    return {**os.environ, "OMP_NUM_THREADS": str(threads)}


def run_direct(epochs: int, threads: int, workdir: Path) -> tuple[float, list[float]]:
    """Wall seconds of a direct ``run_trial`` process, and its per-epoch report times."""
    sets = json.dumps({**BASE_SETS, "optim.epochs": epochs})
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(BIN / "python"), "-c", _DIRECT, RECIPE, sets, str(workdir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(threads),
        check=False,
    )
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"direct run failed ({out.returncode}): {out.stderr[-2000:]}")
    info = json.loads(out.stdout.strip().splitlines()[-1])
    if info["status"] != "completed":
        raise RuntimeError(f"direct run ended with status {info['status']!r}")
    return wall, info["stamps"]


def run_search(epochs: int, threads: int, runs_dir: Path, name: str) -> float:
    """Wall seconds of a one-trial ``harness search`` process on the same configuration."""
    cmd = [str(BIN / "harness"), "search", "--space", "lr", "--recipe", RECIPE]
    for key, value in BASE_SETS.items():
        cmd += ["--set", f"{key}={value}"]
    cmd += [
        "--trials", "1", "--max-epochs", str(epochs), "--grace-period", str(epochs),
        "--concurrency", "1", "--cpus-per-trial", str(threads), "--name", name,
        "--runs-dir", str(runs_dir),
    ]  # fmt: skip
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ.copy())
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"harness search failed ({out.returncode}): {out.stdout[-2000:]}")
    return wall


def main(argv: list[str] | None = None) -> None:
    """Calibrate, alternate direct and search runs, print the wall times and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="target length of one trial")
    ap.add_argument("--epochs", type=int, default=None, help="skip calibration, use N epochs")
    ap.add_argument("--repeats", type=int, default=2, help="direct/search pairs")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPUs of the trial")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.threads < 1 or args.seconds <= 0:
        ap.error("--repeats and --threads must be >= 1 and --seconds > 0")
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; {args.threads} threads")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        epochs = args.epochs
        if epochs is None:
            wall, stamps = run_direct(2, args.threads, root / "calibrate")
            per_epoch = stamps[1] - stamps[0]
            fixed = wall - 2 * per_epoch
            epochs = max(1, round((args.seconds - fixed) / per_epoch))
            print(
                f"calibration: {per_epoch:.1f} s per epoch, {fixed:.1f} s start-up and first "
                f"epoch's extra -> {epochs} epochs for about {args.seconds:.0f} s"
            )
        direct, search = [], []
        for r in range(args.repeats):
            direct.append(run_direct(epochs, args.threads, root / f"direct{r}")[0])
            print(f"pair {r + 1}: direct run_trial  {direct[-1]:7.1f} s", flush=True)
            search.append(run_search(epochs, args.threads, root / "runs", f"s{r}"))
            print(f"pair {r + 1}: harness search    {search[-1]:7.1f} s", flush=True)
    d, s = statistics.median(direct), statistics.median(search)
    ratios = [b / a for a, b in zip(direct, search, strict=True)]
    print(f"\n{RECIPE}, {epochs} epochs, {args.repeats} pairs (median):")
    print(f"  direct run_trial  {d:7.1f} s")
    print(f"  harness search    {s:7.1f} s   (+{s - d:.1f} s)")
    verdict = "met" if s / d <= GOAL_RATIO else "NOT met"
    print(
        f"  ratio {s / d:.3f} (pairs: {', '.join(f'{x:.3f}' for x in ratios)}); "
        f"goal <= {GOAL_RATIO} for a ~60 s trial: {verdict}"
    )


if __name__ == "__main__":
    sys.exit(main())
