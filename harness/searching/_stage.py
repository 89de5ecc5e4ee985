"""One search stage: a configuration of the engine core (:func:`harness.tune.run_experiment`).

OptunaSearch (TPE) behind a ConcurrencyLimiter, ASHA, the base recipe evaluated first.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness._notify import say
from harness.tune._budget import Budget
from harness.tune._rundir import param_error
from search_spaces import Recipe, apply_overrides, flatten

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "DEFAULT_TRAINABLE",
    "HOURS_ONLY_TRIAL_CAP",
    "SearchSettings",
    "StageResult",
    "budget_trial_cap",
    "make_trainable",
    "run_stage",
    "stage_recipe",
]

from harness._trainables import DEFAULT_TRAINABLE

_log = logging.getLogger(__name__)

_SAMPLERS = ("tpe", "tpe-budget", "random", "grid")


def default_grace_period(max_epochs: int, reduction_factor: int) -> int:
    """ASHA's grace period when ``grace_period`` is not given: ``max_epochs`` divided by the
    reduction factor squared, rounded up (2 rungs below the full length: 6 of 52 epochs, 2 of
    12).

    Chosen by measurement on LCBench's real learning curves (benchmarks/lcbench_sim.py, 8 tasks
    x 5 seeds at an equal budget of 30 full-length trials): a grace period of 1 epoch, where
    low budgets mislead, gave a median regret of 3.6 accuracy points; this rule gave 0.84, and
    TPE at full length 1.12 (see benchmarks/README.md, also for the real-runtime runs).
    """
    return max(1, min(max_epochs, math.ceil(max_epochs / reduction_factor**2)))


#: the trials of a search under --budget-hours alone when --trials is not given: effectively
#: unlimited (the hours end it), yet finite, so trials that fail at once cannot loop forever
HOURS_ONLY_TRIAL_CAP = 10_000


def budget_trial_cap(budget_epochs: int | None, grace_period: int, concurrency: int) -> int:
    """The default ``trials`` of a search under a budget: as many as it can pay for.

    Every trial trains at least ``grace_period`` epochs before ASHA may stop it, so once
    ``budget_epochs / grace_period`` trials have ended the budget is spent; the trials in flight
    when it runs out come on top. Under an hours budget alone, :data:`HOURS_ONLY_TRIAL_CAP`.
    """
    if budget_epochs is None:
        return HOURS_ONLY_TRIAL_CAP
    return max(1, budget_epochs // max(1, grace_period)) + max(1, concurrency)


@dataclass(frozen=True)
class SearchSettings:
    """Everything that shapes one search stage besides the space and the base recipe."""

    trials: int = 24
    max_epochs: int = 12
    # None: default_grace_period(max_epochs, reduction_factor)
    grace_period: int | None = None
    reduction_factor: int = 3
    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    sampler: str = "tpe"
    seed: int = 0
    metric: str = "iou_lesion"
    mode: str = "max"
    trainable: str = DEFAULT_TRAINABLE
    # Ray restarts a trial this often after its worker or node died (from its last checkpoint)
    max_failures: int = 2
    # a non-local storage URI (s3://, gs://, ...) for Ray's state and checkpoints; None: they go
    # to the experiment directory itself (see harness.tune.resolve_storage)
    storage: str | None = None
    # an MLflow tracking URI every trial is logged to (None: no MLflow)
    mlflow: str | None = None
    # the compute budget (--budget-epochs, --budget-hours): once the trials have spent it, no
    # trial is proposed and the running ones are stopped; ``trials`` is then an upper bound
    budget_epochs: int | None = None
    budget_hours: float | None = None

    def __post_init__(self) -> None:
        Budget.of(self.budget_epochs, self.budget_hours)  # ConfigError naming the option
        if self.grace_period is None and self.max_epochs >= 1 and self.reduction_factor >= 2:
            grace = default_grace_period(self.max_epochs, self.reduction_factor)
            object.__setattr__(self, "grace_period", grace)
        rules = [
            (self.trials >= 1, "trials", f"trials must be >= 1, got {self.trials}"),
            (
                self.max_epochs >= 1,
                "max_epochs",
                f"max_epochs must be >= 1, got {self.max_epochs}",
            ),
            (
                1 <= self.grace_period <= self.max_epochs,
                "grace_period",
                f"grace_period must be between 1 and max_epochs ({self.max_epochs}), "
                f"got {self.grace_period}",
            ),
            (
                self.reduction_factor >= 2,
                "reduction_factor",
                f"reduction_factor must be >= 2, got {self.reduction_factor}",
            ),
            (
                self.concurrency >= 1,
                "concurrency",
                f"concurrency must be >= 1, got {self.concurrency}",
            ),
            (
                self.cpus_per_trial > 0,
                "cpus_per_trial",
                f"cpus_per_trial must be > 0, got {self.cpus_per_trial}",
            ),
            (
                self.gpus_per_trial >= 0,
                "gpus_per_trial",
                f"gpus_per_trial must be >= 0, got {self.gpus_per_trial}",
            ),
            (self.mode in ("max", "min"), "mode", f"mode must be max or min, got {self.mode!r}"),
            (
                self.max_failures >= 0,
                "max_failures",
                f"max_failures must be >= 0, got {self.max_failures}",
            ),
            (
                self.sampler in _SAMPLERS,
                "sampler",
                f"sampler must be one of {', '.join(_SAMPLERS)}, got {self.sampler!r}",
            ),
        ]
        broken = [(param, msg) for ok, param, msg in rules if not ok]
        if broken:
            names = [param for param, _ in broken]
            if "grace_period" in names:
                names.append("max_epochs")  # its rule names max_epochs too
            raise param_error("; ".join(msg for _, msg in broken), *dict.fromkeys(names))

    @property
    def budget(self) -> Budget | None:
        """The compute budget of the limits, or ``None`` without one."""
        return Budget.of(self.budget_epochs, self.budget_hours)

    def check_budget(self) -> None:
        """The rule a budget of one search stage must keep (a plan checks its own, per stage).

        Raises:
            ConfigError: ``budget_epochs`` smaller than ``grace_period``: no trial could
                reach ASHA's first rung.
        """
        if self.budget_epochs is not None and self.budget_epochs < self.grace_period:
            raise param_error(
                f"budget_epochs {self.budget_epochs} is smaller than grace_period "
                f"{self.grace_period}: no trial could reach ASHA's first rung; give at least "
                f"{self.grace_period} (or a smaller grace_period)",
                "budget_epochs",
                "grace_period",
            )

    @property
    def resources(self) -> dict[str, float]:
        """Ray resources of one trial."""
        return {"cpu": self.cpus_per_trial, "gpu": self.gpus_per_trial}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for spec.json)."""
        return asdict(self)


@dataclass
class StageResult:
    """What one stage produced."""

    directory: Path
    trials: pd.DataFrame
    curves: pd.DataFrame
    best: dict[str, Any] | None
    interrupted: bool = False
    # the budget record (budget.json) when the stage ran under a budget
    budget: dict[str, Any] | None = None


class _DefineByRun:
    """Picklable define-by-run function: Ray saves the searcher (and this) with plain pickle."""

    def __init__(self, space: Any, base: dict[str, Any], fixed: dict[str, Any] | None) -> None:
        self.space, self.base, self.fixed = space, base, fixed

    def __call__(self, trial: Any) -> dict[str, Any]:
        from harness.searching._sampling import define_by_run

        return define_by_run(self.space, self.base, self.fixed)(trial)


def stage_recipe(base: Recipe, settings: SearchSettings) -> Recipe:
    """The base recipe of a stage: its training length is the scheduler's ``max_t`` (the
    command line refuses an ``optim.epochs`` that differs from ``--max-epochs``, so this
    changes a recipe's epochs only where a plan's stage sets its own ``max_epochs``)."""
    return apply_overrides(base, {"optim.epochs": settings.max_epochs}, source="search settings")


def make_trainable(directory: Path, recipe: Recipe, settings: Any) -> Any:
    """The Ray trainable of an experiment in ``directory``; with the default trainable the data
    split is made here, once, so every trial reads the same ``split.json`` and bad data fails
    before Ray runs anything."""
    from harness.tune import make_ray_trainable

    trainable = make_ray_trainable(
        settings.trainable, recipe.model_dump(mode="json"), settings.metric, str(directory)
    )
    if settings.trainable == DEFAULT_TRAINABLE:
        from trials.data import load_splits

        directory.mkdir(parents=True, exist_ok=True)
        load_splits(recipe.data, directory)
    return trainable


def _searcher(
    directory: Path,
    space: Any,
    base_flat: dict[str, Any],
    settings: SearchSettings,
    console: Console | None,
) -> tuple[Any, SearchSettings]:
    """The searcher of a new stage (and the settings, with the trials capped at a grid's size)."""
    from harness.searching._grid import grid_points
    from harness.searching._sampling import base_point
    from harness.tune import build_searcher, make_sampler

    grid = grid_points(space) if settings.sampler == "grid" else None
    points = None
    if grid is not None and settings.trials > len(grid):
        say(
            console,
            f"the grid has {len(grid)} points: running {len(grid)} trials",
            _log,
            warning=True,
        )
        settings = replace(settings, trials=len(grid))
    if settings.sampler != "grid":
        point, notes = base_point(space, base_flat)
        points = [point]
        for note in notes:
            say(console, f"base configuration: {note}", _log, warning=True)
    searcher = build_searcher(
        _DefineByRun(space, base_flat, None),
        metric=settings.metric,
        mode=settings.mode,
        sampler=make_sampler(settings.sampler, settings.seed, grid, n_params=len(space.paths())),
        max_epochs=settings.max_epochs,
        concurrency=settings.concurrency,
        points_to_evaluate=points,
        study_name=directory.name,
        memory_cap=base_flat.get("memory.cap"),
    )
    return searcher, settings


def run_stage(
    directory: Path,
    space: Any,
    base: Recipe,
    settings: SearchSettings,
    *,
    console: Console | None,
    resume: bool = False,
    title: str = "search",
) -> StageResult:
    """Run (or resume) one search stage in ``directory`` and write its tables there.

    Args:
        directory: the stage's experiment directory (Ray's state goes inside it).
        space: a loaded search space.
        base: the base recipe; its own values are evaluated first.
        settings: trials, ASHA, resources, sampler, metric.
        console: a rich console for the live progress and notes (``None``: progress and notes
            go to :mod:`logging`).
        resume: continue an interrupted stage from Ray's state with ``Tuner.restore``.
    """
    from harness.tune import Experiment, asha_scheduler, best_row, run_experiment

    directory = directory.resolve()
    recipe = stage_recipe(base, settings)
    trainable = make_trainable(directory, recipe, settings)
    from harness.searching._study_params import StudyParams

    searcher = scheduler = None
    if not resume:
        searcher, settings = _searcher(directory, space, flatten(recipe), settings, console)
        scheduler = asha_scheduler(
            settings.metric,
            settings.mode,
            max_t=settings.max_epochs,
            grace_period=settings.grace_period,
            reduction_factor=settings.reduction_factor,
        )
    result = run_experiment(
        Experiment(
            directory=directory,
            trainable=trainable,
            metric=settings.metric,
            mode=settings.mode,
            max_epochs=settings.max_epochs,
            trials=settings.trials,
            concurrency=settings.concurrency,
            resources=settings.resources,
            searcher=searcher,
            scheduler=scheduler,
            storage=settings.storage,
            max_failures=settings.max_failures,
            restore=resume,
            title=title,
            study_params=StudyParams(space, flatten(recipe)),
            mlflow=settings.mlflow,
            budget=settings.budget,
        ),
        console,
    )
    best = best_row(result.trials, settings.metric, settings.mode)
    return StageResult(
        directory, result.trials, result.curves, best, result.interrupted, result.budget
    )
