"""How often TPE proposes a configuration past the memory cap once it has seen 20 trials: memory-cap
trials told to Optuna as FAIL (which TPE ignores) vs as infeasible under a constraint.

Goal: with the constraint, the fraction of proposals 21..N that breach the cap is at most half the
FAIL behaviour's (over all seeds together).

The objective is ``harness.testing:allocating``: it really holds ``data.batch_size x 64 MiB x
(data.image_size / 64)^2`` under the real memory guard (the RSS the trial adds) and scores
``data.batch_size``, so the best configurations are large batches, and only small inputs let a large
batch fit under the cap. Over batch sizes 1..32 and input sizes 16..64 px with the default 192 MiB
cap, a configuration fits at up to 144 MiB and breaches from 256 MiB on; a third of the space
breaches: at batch 32 every input size but the smallest, at batch 4 only the largest. Each run goes
through the harness's engine (``harness.tune.run_experiment``: the real Ray trainable,
``HarnessOptunaSearch`` with the TPE sampler ``make_sampler`` builds, the tables and the exported
Optuna journal) at concurrency 1, one epoch per trial, no scheduler. The two behaviours alternate
seed by seed, so that load from other processes hits both alike; a proposal breaches the cap when
its trial ended ``memory_cap``. It prints; it does not assert.

    .venv/bin/python benchmarks/memory_constraints.py [--seeds 3] [--trials 40] [--cap 192MiB]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_RATIO = 0.5
WARMUP = 20
METRIC = "score"
SPACE = {
    "description": "batch size against input size under a memory cap",
    "params": {
        "data.batch_size": {"type": "categorical", "choices": [1, 2, 4, 8, 16, 32]},
        "data.image_size": {"type": "categorical", "choices": [16, 24, 32, 48, 64]},
    },
}


class DefineByRun:
    """A space's picklable define-by-run function (Ray pickles the searcher with it)."""

    def __init__(self, space: Any, base: dict[str, Any]) -> None:
        self.space, self.base = space, base

    def __call__(self, trial: Any) -> dict[str, Any]:
        from harness.searching._sampling import define_by_run

        return define_by_run(self.space, self.base)(trial)


def run_arm(directory: Path, *, seed: int, trials: int, cap: str, as_fail: bool) -> list[str]:
    """One search; the statuses of its trials in the order TPE proposed them."""
    import yaml

    from harness.tune import Experiment, build_searcher, make_ray_trainable, run_experiment
    from search_spaces import flatten, load_recipe, load_space

    directory.mkdir(parents=True, exist_ok=True)
    space_file = directory.parent / "memory_space.yaml"
    space_file.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    # critical_fraction 1: no gc.collect() near the cap (a second each with torch loaded)
    recipe = load_recipe(
        "cpu_demo", {"memory.cap": cap, "memory.critical_fraction": 1.0, "optim.epochs": 1}
    )
    searcher = build_searcher(
        DefineByRun(load_space(space_file), flatten(recipe)),
        metric=METRIC,
        mode="max",
        sampler=_sampler(seed),
        max_epochs=1,
        concurrency=1,
        study_name=directory.name,
        memory_cap=int(recipe.memory.cap),
        memory_cap_as_fail=as_fail,
    )
    trainable = make_ray_trainable(
        "harness.testing:allocating", recipe.model_dump(mode="json"), METRIC, str(directory)
    )
    run_experiment(
        Experiment(
            directory=directory,
            trainable=trainable,
            metric=METRIC,
            mode="max",
            max_epochs=1,
            trials=trials,
            concurrency=1,
            searcher=searcher,
        )
    )
    return proposal_statuses(directory)


def _sampler(seed: int) -> Any:
    from harness.tune import make_sampler

    return make_sampler("tpe", seed)


def proposal_statuses(directory: Path) -> list[str]:
    """Our status of each trial of the journal the run exported, by Optuna trial number (the
    order in which TPE proposed them)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from harness.tune import JOURNAL, STATUS_KEY

    storage = JournalStorage(JournalFileBackend(str(directory / JOURNAL)))
    study = optuna.load_study(study_name=directory.name, storage=storage)
    return [t.user_attrs[STATUS_KEY] for t in sorted(study.trials, key=lambda t: t.number)]


def breach_fraction(statuses: list[list[str]], warmup: int = WARMUP) -> tuple[int, int]:
    """(breaches, proposals) among proposals ``warmup + 1``.. of each run, summed over runs."""
    later = [s for run in statuses for s in run[warmup:]]
    return sum(s == "memory_cap" for s in later), len(later)


def main(argv: list[str] | None = None) -> int:
    """Run both behaviours per seed; print each seed's and the total breach fractions."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=40, help="trials per run (> 20)")
    ap.add_argument("--cap", default="192MiB", help="memory.cap (process RSS of a trial)")
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.trials <= WARMUP:
        ap.error(f"--seeds must be >= 1 and --trials > {WARMUP}")

    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    start = time.perf_counter()
    runs: dict[str, list[list[str]]] = {"fail": [], "constraint": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(args.seeds):
                for arm in runs:
                    statuses = run_arm(
                        Path(tmp) / f"{arm}{seed}",
                        seed=seed,
                        trials=args.trials,
                        cap=args.cap,
                        as_fail=arm == "fail",
                    )
                    runs[arm].append(statuses)
                    first, later = breach_fraction([statuses], 0), breach_fraction([statuses])
                    print(
                        f"seed {seed} {arm:>10}: breaches {later[0]}/{later[1]} of proposals "
                        f"{WARMUP + 1}..{args.trials} ({first[0]}/{first[1]} overall)",
                        flush=True,
                    )
    finally:
        ray.shutdown()
    fail, constraint = breach_fraction(runs["fail"]), breach_fraction(runs["constraint"])
    f_fail, f_con = fail[0] / fail[1], constraint[0] / constraint[1]
    ratio = f_con / f_fail if f_fail else float("nan")
    print(
        f"\n{args.seeds} seeds x {args.trials} trials, cap {args.cap}, "
        f"{time.perf_counter() - start:.0f} s"
    )
    print(f"breach fraction of proposals {WARMUP + 1}..{args.trials}:")
    print(f"  memory cap told as FAIL        {f_fail:.3f} ({fail[0]}/{fail[1]})")
    print(f"  memory cap as a constraint     {f_con:.3f} ({constraint[0]}/{constraint[1]})")
    met = "met" if ratio <= GOAL_RATIO else "not met"
    print(f"  ratio constraint / FAIL        {ratio:.3f} (goal <= {GOAL_RATIO}: {met})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
