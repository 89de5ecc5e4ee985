"""The checks and settings of ``harness search`` that need no Ray: made before Ray starts, so
a wrong argument stops at once with one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["prepare_search"]


def prepare_search(
    *,
    space: str | None,
    plan: str | None,
    recipe: str,
    data: Path | None,
    set_: list[str] | None,
    trials: int | None,
    max_epochs: int | None,
    grace_period: int | None,
    reduction_factor: int,
    concurrency: int,
    cpus_per_trial: float,
    gpus_per_trial: float | None,
    memory_cap: str | None,
    sampler: str,
    seed: int,
    metric: str | None,
    mode: str | None,
    trainable: str | None,
    max_failures: int,
    mlflow: str | None,
    budget_epochs: int | None,
    budget_hours: float | None,
    address: str | None,
) -> tuple[Any, Any]:
    """The search settings and the resolved base recipe of a new search (not ``--resume``).

    Raises:
        ConfigError: the option and the rule it breaks.
    """
    from dataclasses import replace

    from harness._trainables import objective_params
    from harness.cli._search import search_max_epochs, search_trials
    from harness.cli._train import cluster_gpus, resolve_recipe
    from harness.search import SearchSettings
    from search_spaces import (
        ConfigError,
        check_recipe_metric,
        load_plan,
        load_space,
        metric_direction,
    )

    # everything that can be checked without Ray is checked before it starts
    if (space is None) == (plan is None):
        raise ConfigError("give exactly one of --space NAME or --plan NAME")
    if space is not None:
        load_space(space, objective_params=objective_params(trainable))
    else:
        load_plan(plan)
    if metric is not None:
        if trainable in (None, "trials:run_trial"):
            check_recipe_metric(metric)
        mode = metric_direction(metric, mode)
    sets = list(set_ or [])
    max_epochs = search_max_epochs(max_epochs, sets, plan is not None)
    if grace_period is None:
        from harness.search._stage import default_grace_period

        grace_period = default_grace_period(max_epochs, max(2, reduction_factor))
    settings = SearchSettings(
        trials=search_trials(trials, budget_epochs, budget_hours, grace_period, concurrency),
        max_epochs=max_epochs,
        grace_period=grace_period,
        reduction_factor=reduction_factor,
        concurrency=concurrency,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial or 0.0,
        sampler=sampler,
        seed=seed,
        mode=mode or "max",
        trainable=trainable or "trials:run_trial",
        max_failures=max_failures,
        mlflow=mlflow,
        budget_epochs=budget_epochs,
        budget_hours=budget_hours,
    )
    if space is not None:
        settings.check_budget()
    if mlflow is not None:
        from harness.tune._engine import check_mlflow

        check_mlflow(mlflow)
    if memory_cap is not None:  # its rule does not depend on the recipe: check it before Ray
        from search_spaces import apply_overrides, load_recipe

        apply_overrides(load_recipe("cpu_demo"), {"memory.cap": memory_cap}, "--memory-cap")
    if data is not None:
        if not data.is_dir():
            raise ConfigError(f"--data {str(data)!r}: no such folder")
        data = data.resolve()  # trials run in their own directories
    # the trials run where Ray puts them: the cluster's GPUs decide, not this driver's
    gpus = cluster_gpus(address)
    resolved = resolve_recipe(
        recipe, data, sets, None, None, has_gpu=gpus > 0, memory_cap=memory_cap
    )
    settings = replace(
        settings,
        gpus_per_trial=gpus_per_trial
        if gpus_per_trial is not None
        else (1.0 / concurrency if gpus > 0 else 0.0),
        metric=metric or resolved.optim.monitor,
        mode=mode or resolved.optim.monitor_mode,
    )
    return settings, resolved
