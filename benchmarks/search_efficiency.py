"""How many epochs TPE+ASHA, random search+ASHA and an exhaustive grid spend to come within 1% of
the best value the grid finds, on a multi-fidelity function with a known optimum.

Goal: TPE+ASHA at <= 5% of the grid's epochs (median over seeds), and ahead of random
search+ASHA at equal budget in >= 8 of 10 seeds.

The function is ``harness.testing:mf_hartmann3`` (Hartmann 3-D, maximum 3.86278, whose value
at epoch e approaches the final one; ``--hard`` takes mf-prior-bench's harsher bias). Every search
runs through ``harness.run_stage`` (Optuna sampler behind a ConcurrencyLimiter, ASHA, tables) in
one Ray instance, by default at concurrency 1, where ASHA's decisions and the epoch counts do not
depend on timing (the same command prints the same numbers on any machine). The grid (every point
at full budget) runs once; the searchers run once per seed. Epochs spent are read from each
stage's tables: ``epochs`` per trial in ``trials.parquet``, ordered by when each trial ended (the
objective stamps each report; ``curves.parquet`` keeps the stamps); a trial reaches the target
when it ran all epochs and its final score is within 1% of the grid's best. "At equal budget"
compares the best full-budget score each searcher had found after the same number of epochs (the
smaller of the two runs' totals). It prints; it does not assert.

    .venv/bin/python benchmarks/search_efficiency.py [--seeds 10] [--trials 60] [--grid-step 0.2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

GOAL_FRACTION = 0.05
GOAL_SEEDS_AHEAD = 8
TOLERANCE = 0.01
METRIC = "score"


def write_spaces(folder: Path, grid_step: float) -> tuple[Path, Path]:
    """A continuous space over the unit cube and its grid twin, as YAML files in ``folder``."""
    from harness.testing import HARTMANN3_PATHS

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, extra in (("hartmann3", {}), ("hartmann3_grid", {"step": grid_step})):
        params = {p: {"type": "float", "low": 0.0, "high": 1.0, **extra} for p in HARTMANN3_PATHS}
        doc = {"description": f"Hartmann 3-D over the unit cube ({name})", "params": params}
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        paths.append(path)
    return paths[0], paths[1]


def run_search(
    directory: Path,
    space_path: Path,
    sampler: str,
    trials: int,
    seed: int,
    args: argparse.Namespace,
) -> pd.DataFrame:
    """One stage through the harness; its trials in the order they were created (= ended)."""
    from harness.searching import SearchSettings, run_stage
    from search_spaces import load_recipe, load_space

    grid = sampler == "grid"
    settings = SearchSettings(
        trials=trials,
        max_epochs=args.max_epochs,
        # the grid is exhaustive: every point runs its full budget
        grace_period=args.max_epochs if grid else args.grace_period,
        reduction_factor=args.reduction_factor,
        concurrency=args.concurrency,
        sampler=sampler,
        seed=seed,
        metric=METRIC,
        mode="max",
        trainable=f"harness.testing:{args.objective}",
    )
    result = run_stage(
        directory, load_space(space_path), load_recipe("cpu_demo"), settings, console=None
    )
    return in_completion_order(result.trials, result.curves)


def in_completion_order(trials: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Trials ordered by when they ended, with ``spent``: the epochs all trials had run by then.

    The objective stamps each epoch's report with ``reported_at``; counting the curve rows up to
    a trial's last one is exact at any concurrency.
    """
    ended = curves.groupby("trial_id")["reported_at"].max().rename("ended_at")
    out = trials.join(ended, on="trial_id").sort_values("ended_at").reset_index(drop=True)
    stamps = np.sort(curves["reported_at"].to_numpy())
    out["spent"] = np.searchsorted(stamps, out["ended_at"].to_numpy(), side="right")
    return out


def epochs_to_target(trials: pd.DataFrame, target: float, max_epochs: int) -> float:
    """Epochs spent up to the end of the first full-budget trial whose final score is at least
    ``target``; ``inf`` when none is."""
    hit = (trials["epochs"] >= max_epochs) & (trials[f"final.{METRIC}"] >= target)
    return float(trials["spent"][hit].iloc[0]) if hit.any() else math.inf


def best_within(trials: pd.DataFrame, budget: float, max_epochs: int) -> float:
    """Best full-budget final score among the trials that ended within ``budget`` epochs."""
    inside = trials[trials["spent"] <= budget]
    full = inside[inside["epochs"] >= max_epochs][f"final.{METRIC}"]
    return float(full.max()) if not full.empty else -math.inf


def _fmt(x: float) -> str:
    return "not reached" if math.isinf(x) else f"{x:.0f}"


def main(argv: list[str] | None = None) -> None:
    """Run the grid once and both searchers per seed; print epochs to target, medians, ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=60, help="trials per searcher run")
    ap.add_argument("--grid-step", type=float, default=0.2, help="grid spacing on each axis")
    ap.add_argument("--max-epochs", type=int, default=9)
    ap.add_argument("--grace-period", type=int, default=1)
    ap.add_argument("--reduction-factor", type=int, default=3)
    ap.add_argument(
        "--concurrency", type=int, default=1, help="trials at once (timing-dependent >1)"
    )
    ap.add_argument(
        "--hard", action="store_true", help="mf_hartmann3_hard: low fidelities barely rank points"
    )
    args = ap.parse_args(argv)
    args.objective = "mf_hartmann3_hard" if args.hard else "mf_hartmann3"
    if args.seeds < 1 or args.trials < 1:
        ap.error("--seeds and --trials must be >= 1")

    import ray

    ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    t_start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            space, grid_space = write_spaces(root / "spaces", args.grid_step)
            grid = run_search(root / "grid", grid_space, "grid", 10**6, 0, args)
            grid_best = float(grid[f"final.{METRIC}"].max())
            target = grid_best * (1 - TOLERANCE)
            grid_total = float(grid["epochs"].sum())
            grid_hit = epochs_to_target(grid, target, args.max_epochs)
            print(
                f"{args.objective}: grid of {len(grid)} points (step {args.grid_step}), "
                f"{grid_total:.0f} epochs; best {grid_best:.4f}, target >= {target:.4f}; "
                f"grid reached it after {grid_hit:.0f} epochs in its run order"
            )
            # The grid's values do not depend on its order: its epochs to target under other
            # orders (one per seed) come from the same table.
            grid_orders = []
            for seed in range(args.seeds):
                order = grid.iloc[np.random.default_rng(seed).permutation(len(grid))]
                order = order.assign(spent=order["epochs"].cumsum()).reset_index(drop=True)
                grid_orders.append(epochs_to_target(order, target, args.max_epochs))
            rows = []
            for seed in range(args.seeds):
                runs = {
                    s: run_search(root / f"{s}{seed}", space, s, args.trials, seed, args)
                    for s in ("tpe", "random")
                }
                budget = min(float(r["spent"].max()) for r in runs.values())
                row = {"seed": seed, "budget": budget}
                for s, r in runs.items():
                    row[f"{s}_to_target"] = epochs_to_target(r, target, args.max_epochs)
                    row[f"{s}_best_at_budget"] = best_within(r, budget, args.max_epochs)
                    row[f"{s}_best"] = float(r[f"final.{METRIC}"].max())
                row["grid_to_target"] = grid_orders[seed]
                rows.append(row)
                print(
                    f"seed {seed}: epochs to target TPE {_fmt(row['tpe_to_target'])}, "
                    f"random {_fmt(row['random_to_target'])}, grid {_fmt(grid_orders[seed])}; "
                    f"best at {budget:.0f} epochs TPE {row['tpe_best_at_budget']:.4f} "
                    f"random {row['random_best_at_budget']:.4f}",
                    flush=True,
                )
    finally:
        ray.shutdown()
    table = pd.DataFrame(rows)
    med = {k: statistics.median(table[f"{k}_to_target"]) for k in ("tpe", "random", "grid")}
    ahead = int((table["tpe_best_at_budget"] > table["random_best_at_budget"]).sum())
    ties = int((table["tpe_best_at_budget"] == table["random_best_at_budget"]).sum())
    reached = {k: int(np.isfinite(table[f"{k}_to_target"]).sum()) for k in ("tpe", "random")}
    print(
        f"\n{args.seeds} seeds, {args.trials} trials per searcher run, ASHA max "
        f"{args.max_epochs} grace {args.grace_period} factor {args.reduction_factor}, "
        f"{time.perf_counter() - t_start:.0f} s"
    )
    print("median epochs to within 1% of the grid's best:")
    print(f"  TPE+ASHA     {_fmt(med['tpe'])}   (reached in {reached['tpe']} of {args.seeds})")
    print(
        f"  random+ASHA  {_fmt(med['random'])}   (reached in {reached['random']} of {args.seeds})"
    )
    print(
        f"  grid         {_fmt(med['grid'])}   (over {args.seeds} orders; all {grid_total:.0f} "
        "epochs to know its best)"
    )
    for label, ref in (("grid's epochs to target", med["grid"]), ("grid's total", grid_total)):
        ratio = med["tpe"] / ref
        verdict = "met" if ratio <= GOAL_FRACTION else "NOT met"
        print(f"  TPE / {label}: {ratio:.3f}   goal <= {GOAL_FRACTION}: {verdict}")
    if math.isinf(med["random"]):
        print("  TPE / random: random search did not reach the target in most seeds")
    else:
        print(f"  TPE / random: {med['tpe'] / med['random']:.2f}")
    verdict = "met" if ahead >= GOAL_SEEDS_AHEAD else "NOT met"
    print(
        f"TPE ahead of random at equal budget in {ahead} of {args.seeds} seeds ({ties} ties); "
        f"goal >= {GOAL_SEEDS_AHEAD} of 10: {verdict}"
    )


if __name__ == "__main__":
    sys.exit(main())
