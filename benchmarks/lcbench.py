"""`harness search` against plain Ray Tune on real learning curves (LCBench), at an equal budget.

The LCBench surrogate of YAHPO Gym answers in milliseconds with real MLP learning curves (52
epochs), so every method gets the same budget in epochs and the same tasks and seeds, in one run:

    harness           harness search --trainable harness.testing:lcbench --budget-epochs B
                      (its default search; --harness-args adds options)
    ray_tpe_asha      plain Ray Tune: OptunaSearch (TPE) + ASHA, budget stopper
    ray_tpe_fifo      plain Ray Tune: OptunaSearch (TPE), every trial at full length
    ray_random_asha   plain Ray Tune: random search + ASHA, budget stopper

Score of a run: the best epoch-52 accuracy among trials that reached epoch 52 within the budget.
Regret: the best of 20,000 random configurations (epoch 52) minus that score. The script prints
the median regret per method, its ratio to the best plain Ray Tune method, and the paired win
counts of the harness against each (a tie counts half).

The surrogate needs yahpo-gym==1.0.2 with numpy<2, so it runs in an environment of its own:

    make lcbench-env            # .venv-lcbench: the project + yahpo-gym, numpy<2
    .venv-lcbench/bin/python benchmarks/lcbench.py --seeds 5

Only the development tasks are used by default. The other LCBench tasks are kept to check the
result independently: do not tune on them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.testing._lcbench import (  # noqa: E402
    LCBENCH_EPOCHS,
    LCBENCH_PARAMS,
    lcbench_curves,
    lcbench_final,
    lcbench_random_configs,
)

DEV_TASKS = ("3945", "34539", "126025", "146212", "167104", "167149", "168330", "189862")
PLAIN = ("ray_tpe_asha", "ray_tpe_fifo", "ray_random_asha")
METRIC = "val_accuracy"
SPACE = REPO / "benchmarks" / "lcbench_space.yaml"


def reference_best(task: str, out: Path, n: int = 20_000) -> float:
    """The best epoch-52 accuracy of ``n`` random configurations (cached in ``out``)."""
    cache = out / "reference.json"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    if task not in known:
        configs = lcbench_random_configs(n, seed=12345)
        known[task] = float(lcbench_final(task, configs).max())
        cache.write_text(json.dumps(known, indent=1))
    return known[task]


def score_of(curves: pd.DataFrame) -> float:
    """Best accuracy at epoch 52 among trials that got there (NaN if none did)."""
    final = curves[curves["epoch"] == LCBENCH_EPOCHS]
    return float(final[METRIC].max()) if len(final) else float("nan")


# ---------------------------------------------------------------- plain Ray Tune


def _plain_trainable(config: dict, task: str) -> None:
    from ray import tune

    curve = lcbench_curves(task, [config], LCBENCH_EPOCHS)[0]
    for epoch in range(1, LCBENCH_EPOCHS + 1):
        tune.report({METRIC: float(curve[epoch - 1]), "epoch": epoch, "trial_status": "running"})


def optuna_space() -> dict:
    """LCBench's space as Optuna distributions (for benchmarks/lcbench_sim.py)."""
    import optuna

    space = {}
    for name, (low, high, log, integer) in LCBENCH_PARAMS.items():
        kind = (
            optuna.distributions.IntDistribution
            if integer
            else optuna.distributions.FloatDistribution
        )
        space[name] = kind(low, high, log=log)
    return space


def _tune_space() -> dict:
    from ray import tune

    space = {}
    for name, (low, high, log, integer) in LCBENCH_PARAMS.items():
        if integer:
            space[name] = tune.lograndint(low, high + 1) if log else tune.randint(low, high + 1)
        else:
            space[name] = tune.loguniform(low, high) if log else tune.uniform(low, high)
    return space


class _EpochBudget:
    """Stop everything once the trials have reported ``budget`` epochs (a plain Ray Stopper)."""

    def __init__(self, budget: int) -> None:
        from ray.tune import Stopper

        class _Stop(Stopper):
            def __init__(self) -> None:
                self.seen: set[tuple[str, int]] = set()

            def __call__(self, trial_id: str, result: dict) -> bool:
                # a trial that ends by itself is shown here once more (done=True) with its
                # last epoch: count epochs, not calls
                if "epoch" in result:
                    self.seen.add((trial_id, int(result["epoch"])))
                return False

            def stop_all(self) -> bool:
                return len(self.seen) >= budget

        self.stopper = _Stop()


def run_plain(method: str, task: str, seed: int, budget: int, storage: Path) -> pd.DataFrame:
    """One plain Ray Tune run; returns its epoch reports (trial_id, epoch, metric)."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.basic_variant import BasicVariantGenerator
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    full = method.endswith("_fifo")
    if method.startswith("ray_tpe"):
        searcher = ConcurrencyLimiter(
            OptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed)), max_concurrent=2
        )
    else:
        searcher = BasicVariantGenerator(random_state=seed, max_concurrent=2)
    scheduler = (
        FIFOScheduler()
        if full
        else ASHAScheduler(max_t=LCBENCH_EPOCHS, grace_period=1, reduction_factor=3)
    )
    trials = budget // LCBENCH_EPOCHS if full else 10_000
    tuner = tune.Tuner(
        tune.with_parameters(_plain_trainable, task=task),
        param_space=_tune_space(),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=trials,
            max_concurrent_trials=2,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"{method}-{task}-{seed}",
            storage_path=str(storage),
            stop=_EpochBudget(budget).stopper,
            verbose=0,
        ),
    )
    tuner.fit()
    return plain_curves(storage / f"{method}-{task}-{seed}")


def plain_curves(directory: Path) -> pd.DataFrame:
    """Every epoch report of a plain Ray Tune run, from its trials' ``result.json`` files (the
    ResultGrid's ``metrics_dataframe`` lost about one row per trial in FIFO runs here)."""
    rows = []
    for path in sorted(directory.glob("*/result.json")):
        for line in path.read_text().splitlines():
            result = json.loads(line)
            if METRIC in result and "epoch" in result:
                rows.append({k: result[k] for k in ("trial_id", "epoch", METRIC)})
    return pd.DataFrame(rows, columns=["trial_id", "epoch", METRIC])


# ---------------------------------------------------------------- harness search


def run_harness(
    task: str, seed: int, budget: int, storage: Path, extra: list[str]
) -> tuple[pd.DataFrame, float]:
    """One ``harness search`` run through its CLI; returns its curves and the wall time."""
    name = f"harness-{task}-{seed}"
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "search",
        "--trainable",
        "harness.testing:lcbench",
        "--space",
        str(SPACE),
        "--metric",
        METRIC,
        "--mode",
        "max",
        "--max-epochs",
        str(LCBENCH_EPOCHS),
        "--budget-epochs",
        str(budget),
        "--concurrency",
        "2",
        "--seed",
        str(seed),
        "--runs-dir",
        str(storage),
        "--name",
        name,
        *extra,
    ]
    env = {**os.environ, "LCBENCH_TASK": task, "RAY_ADDRESS": ""}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"harness search failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    curves = pd.read_parquet(storage / name / "curves.parquet")
    return curves[["trial_id", "epoch", METRIC]], took


# ---------------------------------------------------------------- the comparison


def summarise(rows: pd.DataFrame) -> str:
    """Median regret per method, ratio to the best plain method, paired wins of the harness."""
    lines = []
    medians = rows.groupby("method")["regret"].median().sort_values()
    plain = [m for m in medians.index if m in PLAIN]
    best_plain = medians[plain].min() if plain else float("nan")
    lines.append(f"{'method':<18}{'median regret':>14}{'mean':>8}{'runs':>6}")
    for method, median in medians.items():
        sub = rows[rows["method"] == method]["regret"]
        lines.append(f"{method:<18}{median:>14.2f}{sub.mean():>8.2f}{len(sub):>6}")
    wide = rows.pivot_table(index=["task", "seed"], columns="method", values="regret")
    if "harness" in wide and plain:
        h = medians.get("harness", float("nan"))
        lines.append(
            f"harness median regret / best plain Ray Tune ({medians[plain].idxmin()}): "
            f"{h:.2f} / {best_plain:.2f} = {h / best_plain:.2f}"
        )
        for method in plain:
            pair = wide[["harness", method]].dropna()
            wins = (pair["harness"] < pair[method]).sum() + 0.5 * (
                pair["harness"] == pair[method]
            ).sum()
            lines.append(f"harness beats {method} in {wins:g} of {len(pair)} paired runs")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(DEV_TASKS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=30 * LCBENCH_EPOCHS, help="epochs per run")
    parser.add_argument("--methods", nargs="+", default=["harness", *PLAIN])
    parser.add_argument("--harness-args", default="", help="extra `harness search` options")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "lcbench")
    args = parser.parse_args()
    args.out = args.out.resolve()  # Ray's storage wants an absolute path
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("LCBENCH_DATA", str(REPO.parent / "shared" / "data"))
    results = args.out / "results.csv"
    done = pd.read_csv(results, dtype={"task": str}) if results.exists() else pd.DataFrame()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = [done] if len(done) else []
    for task in args.tasks:
        best = reference_best(task, args.out)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for method in args.methods:
                if (
                    len(done)
                    and (
                        (done["task"] == task) & (done["seed"] == seed) & (done["method"] == method)
                    ).any()
                ):
                    continue
                start = time.perf_counter()
                if method == "harness":
                    curves, _ = run_harness(
                        task, seed, args.budget, args.out / "harness", args.harness_args.split()
                    )
                else:
                    curves = run_plain(method, task, seed, args.budget, args.out / "ray")
                score = score_of(curves)
                row = {
                    "task": task,
                    "seed": seed,
                    "method": method,
                    "score": score,
                    "regret": best - score if np.isfinite(score) else best,
                    "epochs": len(curves),
                    "trials": curves["trial_id"].nunique() if len(curves) else 0,
                    "seconds": time.perf_counter() - start,
                }
                print(json.dumps(row), flush=True)
                frame = pd.DataFrame([row])
                frame.to_csv(results, mode="a", header=not results.exists(), index=False)
                rows.append(frame)
    table = pd.concat(rows, ignore_index=True)
    table = table[table["task"].isin(args.tasks)]
    print(summarise(table))


if __name__ == "__main__":
    main()
