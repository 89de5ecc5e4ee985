"""One search stage on Ray Tune: OptunaSearch (TPE) behind a ConcurrencyLimiter, ASHA, tables."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from harness._progress import SearchProgress
from harness._searcher import build_searcher, make_sampler
from harness._tables import best_row, build_tables, records_from_result_grid, write_tables
from harness._trainable import make_ray_trainable, trial_dirname
from search_spaces import ConfigError, Recipe, apply_overrides, flatten

__all__ = [
    "DEFAULT_TRAINABLE",
    "SearchSettings",
    "StageResult",
    "ray_experiment_path",
    "restore_tuner",
    "run_config",
    "run_stage",
]

DEFAULT_TRAINABLE = "trials:run_trial"
JOURNAL = "optuna.journal"
# every status a trial can end with; "running" marks one an interruption left unfinished
FINISHED = frozenset(
    {"completed", "early_stopped", "pruned", "memory_cap", "oom", "diverged", "data_error", "error"}
)


@dataclass(frozen=True)
class SearchSettings:
    """Everything that shapes one search stage besides the space and the base recipe."""

    trials: int = 24
    max_epochs: int = 12
    grace_period: int = 2
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
    # to the experiment directory itself (see harness._cluster.resolve_storage)
    storage: str | None = None

    def __post_init__(self) -> None:
        rules = [
            (self.trials >= 1, f"--trials must be >= 1, got {self.trials}"),
            (self.max_epochs >= 1, f"--max-epochs must be >= 1, got {self.max_epochs}"),
            (
                1 <= self.grace_period <= self.max_epochs,
                f"--grace-period must be between 1 and --max-epochs ({self.max_epochs}), "
                f"got {self.grace_period}",
            ),
            (
                self.reduction_factor >= 2,
                f"--reduction-factor must be >= 2, got {self.reduction_factor}",
            ),
            (self.concurrency >= 1, f"--concurrency must be >= 1, got {self.concurrency}"),
            (self.cpus_per_trial > 0, f"--cpus-per-trial must be > 0, got {self.cpus_per_trial}"),
            (
                self.gpus_per_trial >= 0,
                f"--gpus-per-trial must be >= 0, got {self.gpus_per_trial}",
            ),
            (self.mode in ("max", "min"), f"--mode must be max or min, got {self.mode!r}"),
            (self.max_failures >= 0, f"--max-failures must be >= 0, got {self.max_failures}"),
            (
                self.sampler in ("tpe", "random", "grid"),
                f"--sampler must be tpe, random or grid, got {self.sampler!r}",
            ),
        ]
        problems = [msg for ok, msg in rules if not ok]
        if problems:
            raise ConfigError("; ".join(problems))

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


class _DefineByRun:
    """Picklable define-by-run function: Ray saves the searcher (and this) with plain pickle."""

    def __init__(self, space: Any, base: dict[str, Any], fixed: dict[str, Any] | None) -> None:
        self.space, self.base, self.fixed = space, base, fixed

    def __call__(self, trial: Any) -> dict[str, Any]:
        from harness._sampling import define_by_run

        return define_by_run(self.space, self.base, self.fixed)(trial)


def _export(tuner: Any, directory: Path) -> None:
    """Save the study Optuna saw (COMPLETE / PRUNED / FAIL) next to the tables."""
    from harness._searcher import HarnessOptunaSearch, export_study

    # The searcher in use: the one given to the Tuner, or the one Tuner.restore rebuilt.
    search = getattr(getattr(tuner, "_local_tuner", None), "_tune_config", None)
    search = getattr(search, "search_alg", None)
    inner = getattr(search, "searcher", search)
    if isinstance(inner, HarnessOptunaSearch) and inner.study is not None:
        export_study(inner.study, directory / JOURNAL)


def _trial_dirname(trial: Any) -> str:
    return trial_dirname(trial.trial_id)


def stage_recipe(base: Recipe, settings: SearchSettings) -> Recipe:
    """The base recipe of a stage: its training length is the scheduler's ``max_t``."""
    return apply_overrides(base, {"optim.epochs": settings.max_epochs}, source="search settings")


def ray_experiment_path(directory: Path, settings: SearchSettings) -> str:
    """Where Ray keeps a stage's state: the stage directory, or its place under the storage URI."""
    if settings.storage is None:
        return str(directory)
    return f"{settings.storage.rstrip('/')}/{directory.name}"


def run_config(directory: Path, settings: SearchSettings, callbacks: list[Any]) -> Any:
    """The ``RunConfig`` of a stage: where its state goes, how failed trials are retried.

    A trial whose worker or node dies is restarted up to ``settings.max_failures`` times from its
    last checkpoint (one per epoch; the last two are kept, enough to survive a failure while the
    newest is being written).
    """
    from ray import tune

    storage = str(directory.parent) if settings.storage is None else settings.storage
    return tune.RunConfig(
        name=directory.name,
        storage_path=storage,
        callbacks=callbacks,
        verbose=0,
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
    )


def restore_tuner(
    directory: Path,
    settings: Any,
    trainable: Any,
    resources: dict[str, float],
    callbacks: list[Any],
) -> Any:
    """The ``Tuner`` of an interrupted run, restored from Ray's state to run what is unfinished.

    Raises:
        ConfigError: no Ray Tune state where ``settings`` says it is.
    """
    from ray import tune

    ray_path = ray_experiment_path(directory, settings)
    if not tune.Tuner.can_restore(ray_path):
        raise ConfigError(f"--resume: {ray_path} holds no Ray Tune state to resume")
    tuner = tune.Tuner.restore(
        ray_path,
        trainable=tune.with_resources(trainable, resources),
        resume_unfinished=True,
        resume_errored=True,
    )
    # The progress display holds a terminal: it is attached anew, not restored.
    tuner._local_tuner.get_run_config().callbacks = callbacks
    return tuner


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
        console: where progress is drawn (``None``: nothing is drawn).
        resume: continue an interrupted stage from Ray's state with ``Tuner.restore``.
    """
    # Ray's own console reporter would interleave with ours; its old engine honours verbose=0.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Ray snapshots the experiment (trial states, searcher) at most this often; a short period
    # means a driver crash loses at most a second of bookkeeping, which --resume would redo.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from harness._sampling import base_point, grid_points

    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    recipe = stage_recipe(base, settings)
    base_flat = flatten(recipe)
    trainable = make_ray_trainable(
        settings.trainable, recipe.model_dump(mode="json"), settings.metric, str(directory)
    )
    if settings.trainable == DEFAULT_TRAINABLE:
        # Made once here so every trial reads the same split, and bad data fails before Ray.
        from trials.data import load_splits

        load_splits(recipe.data, directory)
    resources = {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
    progress = SearchProgress(
        directory,
        settings.trials,
        settings.metric,
        settings.mode,
        settings.max_epochs,
        console,
        title=title,
    )
    if resume:
        tuner = restore_tuner(directory, settings, trainable, resources, [progress])
    else:
        grid = grid_points(space) if settings.sampler == "grid" else None
        if grid is not None and settings.trials > len(grid):
            if console is not None:
                console.print(
                    f"[yellow]the grid has {len(grid)} points: running {len(grid)} trials[/]"
                )
            settings = replace(settings, trials=len(grid))
            progress.total = settings.trials
        points = None
        if settings.sampler != "grid":
            point, notes = base_point(space, base_flat)
            points = [point]
            for note in notes:
                if console is not None:
                    console.print(f"[yellow]base configuration:[/] {note}")
        searcher = build_searcher(
            _DefineByRun(space, base_flat, None),
            metric=settings.metric,
            mode=settings.mode,
            sampler=make_sampler(settings.sampler, settings.seed, grid),
            max_epochs=settings.max_epochs,
            concurrency=settings.concurrency,
            points_to_evaluate=points,
            study_name=directory.name,
        )
        scheduler = ASHAScheduler(
            time_attr="epoch",
            metric=settings.metric,
            mode=settings.mode,
            max_t=settings.max_epochs,
            grace_period=settings.grace_period,
            reduction_factor=settings.reduction_factor,
            brackets=1,
            stop_last_trials=True,
        )
        tuner = tune.Tuner(
            tune.with_resources(trainable, resources),
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                scheduler=scheduler,
                num_samples=settings.trials,
                reuse_actors=True,
                trial_dirname_creator=_trial_dirname,
                max_concurrent_trials=settings.concurrency,
            ),
            run_config=run_config(directory, settings, [progress]),
        )
    try:
        grid_result = tuner.fit()
    finally:
        progress.stop()
    _export(tuner, directory)
    records = records_from_result_grid(grid_result)
    trials, curves = build_tables(records, settings.metric, settings.mode, settings.max_epochs)
    write_tables(directory, trials, curves)
    unfinished = (~trials["status"].isin(FINISHED)).any() if not trials.empty else True
    interrupted = len(trials) < settings.trials or bool(unfinished)
    best = best_row(trials, settings.metric, settings.mode)
    return StageResult(directory, trials, curves, best, interrupted)
