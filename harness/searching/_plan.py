"""Staged plans: coarse-to-fine stages that narrow the space or inherit the best so far.

Each stage is its own Ray Tune experiment in ``<plan dir>/<NN>-<stage>``; ``plan_state.json``
records finished stages, so ``--resume`` skips them, restores the interrupted one from Ray's
state and goes on. A validation stage runs the best configuration so far with N seeds at full
length, without early stopping.

Under a compute budget (``--budget-epochs``, ``--budget-hours``) every stage gets a share in
proportion to its nominal cost (trials x max_epochs; seeds x epochs for a validation stage), and
what a stage leaves unused carries to the next: stage i may spend the budget's cumulative share
of stages 1..i minus what stages 1..i-1 spent (:class:`BudgetSplit`). The stages' trial counts
stay upper bounds: a budget cuts a plan short, it never makes it longer.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness._notify import say
from harness.searching._plan_budget import (
    BudgetSplit,
    _allowance_text,
    _budget_record,
    _skip,
    _stage_budget,
    _stage_epochs,
)
from harness.searching._stage import (
    SearchSettings,
    StageResult,
    make_trainable,
    run_stage,
    stage_recipe,
)
from harness.tune._budget import BUDGET_FILE, spent_in_tables
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

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["PlanResult", "fidelity_table", "run_plan"]

STATE = "plan_state.json"
_log = logging.getLogger(__name__)


@dataclass
class PlanResult:
    """What a plan produced.

    Attributes:
        directory: the plan's run directory.
        stages: each stage that ran (or had run before a resume), in order.
        summary: one row per stage of the plan (``plan_summary.json``'s ``stages``).
        narrowing: each range a stage narrowed (``plan_summary.json``'s ``narrowing``).
        best_recipe: the base recipe after every stage that inherits the best so far.
        interrupted: the plan stopped in a stage (``resume=True`` continues it).
        budget: the plan's budget record (``budget.json``) when it ran under a budget.
    """

    directory: Path
    stages: list[StageResult] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    narrowing: list[dict[str, Any]] = field(default_factory=list)
    best_recipe: Recipe | None = None
    interrupted: bool = False
    budget: dict[str, Any] | None = None


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
            budget=settings.budget,
        ),
        console,
    )
    best = best_row(result.trials, settings.metric, settings.mode)
    return StageResult(
        directory, result.trials, result.curves, best, result.interrupted, result.budget
    )


def _stage_settings(
    settings: SearchSettings,
    stage: Stage,
    recipe: Recipe,
    run_dir: Path,
    allowance: tuple[int | None, float | None] = (None, None),
) -> SearchSettings:
    max_epochs = _stage_epochs(stage, recipe)
    return replace(
        settings,
        trials=stage.trials or stage.seeds or 1,
        max_epochs=max_epochs,
        grace_period=min(stage.grace_period, max_epochs),
        reduction_factor=stage.reduction_factor,
        # under a storage URI each stage's Ray state goes to <URI>/<plan run>/<NN-stage>
        storage=None if settings.storage is None else f"{settings.storage}/{run_dir.name}",
        budget_epochs=allowance[0],
        budget_hours=allowance[1],
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
    from harness.searching._narrow import narrow_space

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


def _summary_row(stage: Stage, result: StageResult | None, metric: str) -> dict[str, Any]:
    """One stage in the plan's summary (``result`` ``None``: skipped, the budget was spent)."""
    column = f"final.{metric}"
    if result is None:
        row = {"stage": stage.name, "space": stage.space or "(validation)", "trials": 0}
        return {**row, "epochs": 0, "best": None, "mean": None, "skipped": "budget spent"}
    return {
        "stage": stage.name,
        "space": stage.space or "(validation)",
        "trials": len(result.trials),
        "epochs": spent_in_tables(result.trials, result.curves)[0],
        "best": None if result.best is None else result.best.get(column),
        "mean": float(result.trials[column].mean()) if column in result.trials else None,
    }


class _PlanRun:
    """The state of one plan while its stages run (what each stage hands the next)."""

    def __init__(self, run_dir: Path, plan: Plan, recipe: Recipe, settings: SearchSettings) -> None:
        self.run_dir, self.plan, self.recipe, self.settings = run_dir, plan, recipe, settings
        state_path = run_dir / STATE
        self.state = json.loads(state_path.read_text()) if state_path.exists() else {"finished": []}
        self.base = recipe
        self.previous: tuple[Space, StageResult] | None = None
        self.result = PlanResult(run_dir, best_recipe=recipe)
        self.budget = settings.budget
        self.split = None if self.budget is None else BudgetSplit(plan, recipe, self.budget)
        self.spent: list[dict[str, Any]] = []  # per stage, for budget.json

    def allowance(self, index: int) -> tuple[int | None, float | None]:
        if self.split is None:
            return (None, None)
        return self.split.allowance(
            index - 1,
            sum(r["epochs_used"] for r in self.spent),
            sum(r["hours_used"] for r in self.spent),
        )

    def record_budget(
        self, stage: Stage, index: int, allowance: tuple[int | None, float | None], result: Any
    ) -> None:
        if self.split is None or self.budget is None:
            return
        self.spent.append(_stage_budget(stage, self.split, index - 1, allowance, result))
        self.result.budget = _budget_record(self.budget, self.spent)
        write_json(self.run_dir / BUDGET_FILE, self.result.budget)

    def run_stage(
        self,
        index: int,
        stage: Stage,
        allowance: tuple[int | None, float | None],
        console: Console | None,
        resume: bool,
    ) -> tuple[Space, StageResult, bool]:
        """Run (or load, or resume) stage ``index``; return its space, result and whether it
        had finished before."""
        from harness.tune import can_restore

        directory = (self.run_dir / f"{index:02d}-{stage.name}").resolve()
        stage_settings = _stage_settings(self.settings, stage, self.recipe, self.run_dir, allowance)
        previous = self.previous
        if stage.inherits_best and previous is not None and previous[1].best is not None:
            self.base = apply_overrides(
                self.base, _params(previous[1].best, previous[0]), source=f"stage {stage.name}"
            )
        finished = stage.name in self.state["finished"]
        restorable = can_restore(directory, stage_settings.storage)
        if not finished and directory.exists() and not restorable:
            shutil.rmtree(directory)  # killed before Ray saved anything: start the stage over
        line = f"stage {index}/{len(self.plan.stages)}: {stage.name}"
        if stage_settings.budget is not None:
            line += f" (budget: {_allowance_text(allowance)})"
        say(console, line, _log)
        space = _stage_space(stage, previous, self.base, self.settings, self.result.narrowing)
        if finished:
            result = _load(directory, stage_settings)
        elif stage.is_validation:
            result = _validation_stage(
                directory, self.base, stage_settings, stage.seeds or 1, console, restorable
            )
        else:
            result = run_stage(
                directory,
                space,
                self.base,
                stage_settings,
                console=console,
                resume=resume and restorable,
                title=stage.name,
            )
        return space, result, finished


def run_plan(
    run_dir: Path,
    plan: Plan,
    recipe: Recipe,
    settings: SearchSettings,
    *,
    console: Console | None = None,
    resume: bool = False,
) -> PlanResult:
    """Run (or resume) every stage of ``plan`` in ``run_dir``.

    Args:
        run_dir: the plan's run directory (each stage gets a folder ``NN-<stage>`` in it).
        plan: the plan, its trial counts already scaled.
        recipe: the base recipe.
        settings: the search settings every stage starts from (its own override them).
        console: a rich console for the live progress and the stage lines (``None``: they go to
            :mod:`logging`).
        resume: continue an interrupted plan (finished stages are read back, not run).

    Returns:
        The stages' results, the summary and how the ranges narrowed (also written to
        ``plan_summary.json``); ``interrupted`` when a stage was stopped.
    """
    run = _PlanRun(run_dir, plan, recipe, settings)
    out = run.result
    for index, stage in enumerate(plan.stages, start=1):
        allowance = run.allowance(index)
        if _skip(allowance):
            say(
                console,
                f"stage {index}/{len(plan.stages)}: {stage.name} skipped: the budget is spent",
                _log,
                warning=True,
            )
            out.summary.append(_summary_row(stage, None, settings.metric))
            run.record_budget(stage, index, allowance, None)
            continue
        space, result, finished = run.run_stage(index, stage, allowance, console, resume)
        out.stages.append(result)
        run.record_budget(stage, index, allowance, result)
        if result.interrupted:
            say(
                console,
                f"interrupted in stage {stage.name}; continue with: "
                f"harness search --resume --name {run_dir.name}",
                _log,
                warning=True,
            )
            out.interrupted = True
            return out
        if not finished:
            run.state["finished"].append(stage.name)
            write_json(run_dir / STATE, run.state)
        out.summary.append(_summary_row(stage, result, settings.metric))
        run.previous = (space, result)
    out.best_recipe = run.base
    write_json(
        run_dir / "plan_summary.json",
        {
            "stages": out.summary,
            "narrowing": out.narrowing,
            "best_recipe": run.base.model_dump(mode="json"),
        },
    )
    if run.budget is not None:
        out.budget = _budget_record(run.budget, run.spent)
        write_json(run_dir / BUDGET_FILE, out.budget)
    return out


def _load(directory: Path, settings: SearchSettings) -> StageResult:
    from harness.tune import best_row

    trials = pd.read_parquet(directory / "trials.parquet")
    curves = pd.read_parquet(directory / "curves.parquet")
    return StageResult(directory, trials, curves, best_row(trials, settings.metric, settings.mode))
