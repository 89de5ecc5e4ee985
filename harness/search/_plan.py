"""Staged plans: coarse-to-fine stages that narrow the space or inherit the best so far.

Each stage is its own Ray Tune experiment in ``<plan dir>/<NN>-<stage>``; ``plan_state.json``
records finished stages, so ``--resume`` skips them, restores the interrupted one from Ray's
state and goes on. A validation stage runs the best configuration so far with N seeds at full
length, without early stopping.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from harness.search._stage import (
    SearchSettings,
    StageResult,
    make_trainable,
    run_stage,
    stage_recipe,
)
from harness.tune._rundir import write_json
from search_spaces import (
    ConfigError,
    Plan,
    Recipe,
    Space,
    Stage,
    apply_overrides,
    flatten,
    load_space,
)

__all__ = ["fidelity_table", "run_plan"]

STATE = "plan_state.json"


def fidelity_table(
    trials: pd.DataFrame, curves: pd.DataFrame, metric: str
) -> tuple[pd.DataFrame, int | None]:
    """Each trial's parameters and its metric at one common epoch: the report's default
    fidelity (:func:`analysis.default_epoch`), so a plan narrows on what a report would rank.

    Returns:
        (table with one row per trial that reached the epoch, the epoch) — ``(empty, None)``
        when there are no curves.
    """
    from analysis import default_epoch  # analysis (scipy, statsmodels) loads only for a plan

    if curves.empty or metric not in curves:
        return trials.iloc[0:0], None
    reached = curves.dropna(subset=[metric]).groupby("trial_id")["epoch"].max()
    if reached.empty:
        return trials.iloc[0:0], None
    epoch = default_epoch(reached)
    at = curves[curves["epoch"] == epoch][["trial_id", metric]]
    table = trials.drop(columns=[metric], errors="ignore").merge(at, on="trial_id", how="inner")
    return table, epoch


def _params(best: dict[str, Any], space: Space) -> dict[str, Any]:
    return {p: best[p] for p in space.paths() if p in best and not _missing(best[p])}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _validation_stage(
    directory: Path,
    base: Recipe,
    settings: SearchSettings,
    seeds: int,
    console: Console | None,
    resume: bool,
) -> StageResult:
    """The best configuration with ``seeds`` seeds at full length (a grid over ``seed``)."""
    from harness.tune import Experiment, best_row, grid_search, run_experiment

    directory = directory.resolve()
    recipe = stage_recipe(base, settings)
    result = run_experiment(
        Experiment(
            directory=directory,
            trainable=make_trainable(directory, recipe, settings),
            metric=settings.metric,
            mode=settings.mode,
            max_epochs=settings.max_epochs,
            trials=seeds,
            concurrency=settings.concurrency,
            resources=settings.resources,
            param_space={"seed": grid_search([recipe.seed + k for k in range(seeds)])},
            storage=settings.storage,
            max_failures=settings.max_failures,
            restore=resume,
            title=f"validation x{seeds} seeds",
        ),
        console,
    )
    best = best_row(result.trials, settings.metric, settings.mode)
    return StageResult(directory, result.trials, result.curves, best, result.interrupted)


def _stage_settings(
    settings: SearchSettings, stage: Stage, recipe: Recipe, run_dir: Path
) -> SearchSettings:
    max_epochs = stage.max_epochs or recipe.optim.epochs
    return replace(
        settings,
        trials=stage.trials or stage.seeds or 1,
        max_epochs=max_epochs,
        grace_period=min(stage.grace_period, max_epochs),
        reduction_factor=stage.reduction_factor,
        # under a storage URI each stage's Ray state goes to <URI>/<plan run>/<NN-stage>
        storage=None if settings.storage is None else f"{settings.storage}/{run_dir.name}",
    )


def _stage_space(
    stage: Stage,
    previous: tuple[Space, StageResult] | None,
    base: Recipe,
    settings: SearchSettings,
    narrowing: list[dict[str, Any]],
) -> Space:
    """The space a stage searches: its own, narrowed around the previous stage's best trials
    when the plan says so (each changed range is appended to ``narrowing``)."""
    from harness.search._narrow import narrow_space

    if stage.is_validation:
        if previous is None:  # the plan loader refuses this; never reached
            raise ConfigError(f"stage {stage.name}: a validation stage needs a stage before it")
        return previous[0]
    space = load_space(stage.space)
    if stage.narrow is None or previous is None:
        return space
    table, epoch = fidelity_table(previous[1].trials, previous[1].curves, settings.metric)
    space, rows = narrow_space(
        space,
        table,
        settings.metric,
        settings.mode,
        stage.narrow.top_fraction,
        stage.narrow.min_trials,
        base=flatten(base),
    )
    narrowing.extend(
        {"stage": stage.name, "fidelity_epoch": epoch, **row} for row in rows if row.get("changed")
    )
    return space


def _summary_row(stage: Stage, result: StageResult, metric: str) -> dict[str, Any]:
    column = f"final.{metric}"
    return {
        "stage": stage.name,
        "space": stage.space or "(validation)",
        "trials": len(result.trials),
        "best": None if result.best is None else result.best.get(column),
        "mean": float(result.trials[column].mean()) if column in result.trials else None,
    }


def run_plan(
    run_dir: Path,
    plan: Plan,
    recipe: Recipe,
    settings: SearchSettings,
    *,
    console: Console,
    resume: bool = False,
) -> int:
    """Run (or resume) every stage of ``plan``; print how the ranges narrowed; return exit code."""
    import json

    from harness.tune import can_restore

    state_path = run_dir / STATE
    state = json.loads(state_path.read_text()) if state_path.exists() else {"finished": []}
    base = recipe
    previous: tuple[Space, StageResult] | None = None
    summary: list[dict[str, Any]] = []
    narrowing: list[dict[str, Any]] = []
    for index, stage in enumerate(plan.stages, start=1):
        directory = (run_dir / f"{index:02d}-{stage.name}").resolve()
        stage_settings = _stage_settings(settings, stage, recipe, run_dir)
        if stage.inherits_best and previous is not None and previous[1].best is not None:
            base = apply_overrides(
                base, _params(previous[1].best, previous[0]), source=f"stage {stage.name}"
            )
        finished = stage.name in state["finished"]
        restorable = can_restore(directory, stage_settings.storage)
        if not finished and directory.exists() and not restorable:
            shutil.rmtree(directory)  # killed before Ray saved anything: start the stage over
        console.print(f"[bold]stage {index}/{len(plan.stages)}: {stage.name}[/]")
        space = _stage_space(stage, previous, base, settings, narrowing)
        if finished:
            result = _load(directory, stage_settings)
        elif stage.is_validation:
            seeds = stage.seeds or 1
            result = _validation_stage(directory, base, stage_settings, seeds, console, restorable)
        else:
            result = run_stage(
                directory,
                space,
                base,
                stage_settings,
                console=console,
                resume=resume and restorable,
                title=stage.name,
            )
        if result.interrupted:
            console.print(
                f"[yellow]interrupted in stage {stage.name}[/]; continue with: "
                f"harness search --resume --name {run_dir.name}"
            )
            return 130
        if not finished:
            state["finished"].append(stage.name)
            write_json(state_path, state)
        summary.append(_summary_row(stage, result, settings.metric))
        previous = (space, result)
    write_json(
        run_dir / "plan_summary.json",
        {"stages": summary, "narrowing": narrowing, "best_recipe": base.model_dump(mode="json")},
    )
    _print_summary(summary, narrowing, console)
    console.print(f"experiment directory: [bold]{run_dir}[/]")
    return 0


def _load(directory: Path, settings: SearchSettings) -> StageResult:
    from harness.tune import best_row

    trials = pd.read_parquet(directory / "trials.parquet")
    curves = pd.read_parquet(directory / "curves.parquet")
    return StageResult(directory, trials, curves, best_row(trials, settings.metric, settings.mode))


def _print_summary(summary: list[dict], narrowing: list[dict], console: Console) -> None:
    table = Table(title="plan summary")
    for col in ("stage", "space", "trials", "best", "mean"):
        table.add_column(col)
    for row in summary:
        table.add_row(
            *(
                f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c])
                for c in ("stage", "space", "trials", "best", "mean")
            )
        )
    console.print(table)
    if narrowing:
        ranges = Table(title="how the ranges narrowed")
        for col in ("stage", "parameter", "before", "after"):
            ranges.add_column(col)
        for row in narrowing:
            ranges.add_row(row["stage"], row["path"], str(row["old"]), str(row["new"]))
        console.print(ranges)
