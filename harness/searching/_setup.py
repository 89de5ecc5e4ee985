"""The checks and settings of a new search that need no Ray: made before Ray starts, so a wrong
argument stops at once with one line that names the parameter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.searching._stage import DEFAULT_TRAINABLE, SearchSettings, budget_trial_cap
from harness.tune._rundir import param_error
from search_spaces import ConfigError, Recipe, apply_overrides, load_recipe, parse_override

__all__ = [
    "DEFAULT_MAX_EPOCHS",
    "DEFAULT_TRIALS",
    "SearchRequest",
    "override_list",
    "prepare_search",
    "search_max_epochs",
    "search_trials",
]

DEFAULT_TRIALS = 24
DEFAULT_MAX_EPOCHS = 12


def override_list(overrides: Sequence[str] | Mapping[str, Any] | None) -> list[str]:
    """``set`` as ``path=value`` strings: a list of them as given, or a dict's items.

    Raises:
        ConfigError: ``set`` is a single string (a list of strings or a dict is expected).
    """
    if overrides is None:
        return []
    if isinstance(overrides, str):
        raise param_error(
            f"set {overrides!r}: give a list of 'path=value' strings or a dict, not one string",
            "set",
        )
    if isinstance(overrides, Mapping):
        return [f"{path}={value}" for path, value in overrides.items()]
    return [str(item) for item in overrides]


def search_max_epochs(max_epochs: int | None, sets: list[str], plan: bool) -> int:
    """The epochs a trial of a search trains: ``max_epochs`` (ASHA's ``max_t``, to which every
    trial's ``optim.epochs`` is set), or ``optim.epochs`` of ``set`` when that alone is given, or
    :data:`DEFAULT_MAX_EPOCHS`.

    Raises:
        ConfigError: both given with different values; ``max_epochs`` with a plan (each stage
            sets its own, and a validation stage without one runs ``optim.epochs``).
    """
    epochs = None
    for item in sets:
        path, value = parse_override(item)
        if path == "optim.epochs":
            # the recipe's own rule for the value (a whole number >= 1), named as given
            try:
                checked = apply_overrides(load_recipe("cpu_demo"), {path: value}, f"set {item}")
            except ConfigError as exc:
                raise param_error(str(exc), "set") from None
            epochs = checked.optim.epochs
    if plan:
        if max_epochs is not None:
            raise param_error(
                f"max_epochs {max_epochs} does not apply to plan: each stage gives its own "
                "length, and a validation stage without one trains the recipe's optim.epochs "
                "(set optim.epochs=N)",
                "max_epochs",
                "plan",
                "set",
            )
        return DEFAULT_MAX_EPOCHS
    if epochs is not None and max_epochs is not None and epochs != max_epochs:
        raise param_error(
            f"set optim.epochs={epochs} and max_epochs {max_epochs} disagree: a trial "
            "trains max_epochs epochs (ASHA's max_t; each trial's optim.epochs becomes it), "
            "so give one of them, or the same value",
            "max_epochs",
            "set",
        )
    return max_epochs or epochs or DEFAULT_MAX_EPOCHS


def search_trials(
    trials: int | None,
    budget_epochs: int | None,
    budget_hours: float | None,
    grace_period: int,
    concurrency: int,
) -> int:
    """``trials``, or its default: :data:`DEFAULT_TRIALS`, or under a budget as many trials as
    it can pay for (:func:`harness.searching._stage.budget_trial_cap`)."""
    if trials is not None:
        return trials
    if budget_epochs is None and budget_hours is None:
        return DEFAULT_TRIALS
    return budget_trial_cap(budget_epochs, grace_period, concurrency)


@dataclass(frozen=True)
class SearchRequest:
    """The arguments of a new search, as :func:`harness.search` received them."""

    space: str | None = None
    plan: str | None = None
    recipe: str = "auto"
    data: str | Path | None = None
    sets: tuple[str, ...] = ()
    trials: int | None = None
    max_epochs: int | None = None
    grace_period: int | None = None
    reduction_factor: int = 3
    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None
    memory_cap: str | None = None
    sampler: str = "tpe"
    seed: int = 0
    metric: str | None = None
    mode: str | None = None
    trainable: str | None = None
    max_failures: int = 2
    mlflow: str | None = None
    budget_epochs: int | None = None
    budget_hours: float | None = None
    address: str | None = None


def _check_target(req: SearchRequest) -> str | None:
    """Check the space or plan and the metric; return the mode (``None``: the recipe's)."""
    from harness._trainables import objective_params
    from search_spaces import check_recipe_metric, load_plan, load_space, metric_direction

    if (req.space is None) == (req.plan is None):
        raise param_error("give exactly one of space NAME or plan NAME", "space", "plan")
    if req.space is not None:
        load_space(req.space, objective_params=objective_params(req.trainable))
    else:
        load_plan(req.plan)
    mode = req.mode
    if req.metric is not None:
        if req.trainable in (None, DEFAULT_TRAINABLE):
            check_recipe_metric(req.metric)
        mode = metric_direction(req.metric, mode)
    return mode


def _check_extras(req: SearchRequest) -> Path | None:
    """Check MLflow, the memory cap and the data folder; return the data folder, absolute."""
    if req.mlflow is not None:
        from harness.tune._engine import check_mlflow

        check_mlflow(req.mlflow)
    if req.memory_cap is not None:  # its rule does not depend on the recipe: check it before Ray
        try:
            apply_overrides(load_recipe("cpu_demo"), {"memory.cap": req.memory_cap}, "memory_cap")
        except ConfigError as exc:
            raise param_error(str(exc), "memory_cap") from None
    if req.data is None:
        return None
    data = Path(req.data)
    if not data.is_dir():
        raise param_error(f"data {str(data)!r}: no such folder", "data")
    return data.resolve()  # trials run in their own directories


def prepare_search(req: SearchRequest) -> tuple[SearchSettings, Recipe]:
    """The search settings and the resolved base recipe of a new search (not a resume).

    Everything that can be checked without Ray is checked before it starts; then Ray is
    connected to count the cluster's GPUs (the trials run where Ray puts them).

    Raises:
        ConfigError: the parameter and the rule it breaks.
    """
    from harness._recipes import resolve_recipe
    from harness.searching._stage import default_grace_period
    from harness.tune._resources import cluster_gpus, gpu_share

    mode = _check_target(req)
    sets = list(req.sets)
    max_epochs = search_max_epochs(req.max_epochs, sets, req.plan is not None)
    grace_period = req.grace_period
    if grace_period is None:
        grace_period = default_grace_period(max_epochs, max(2, req.reduction_factor))
    settings = SearchSettings(
        trials=search_trials(
            req.trials, req.budget_epochs, req.budget_hours, grace_period, req.concurrency
        ),
        max_epochs=max_epochs,
        grace_period=grace_period,
        reduction_factor=req.reduction_factor,
        concurrency=req.concurrency,
        cpus_per_trial=req.cpus_per_trial,
        gpus_per_trial=req.gpus_per_trial or 0.0,
        sampler=req.sampler,
        seed=req.seed,
        mode=mode or "max",
        trainable=req.trainable or DEFAULT_TRAINABLE,
        max_failures=req.max_failures,
        mlflow=req.mlflow,
        budget_epochs=req.budget_epochs,
        budget_hours=req.budget_hours,
    )
    if req.space is not None:
        settings.check_budget()
    data = _check_extras(req)
    # the trials run where Ray puts them: the cluster's GPUs decide, not this driver's
    gpus = cluster_gpus(req.address)
    resolved = resolve_recipe(
        req.recipe, data, sets, None, None, has_gpu=gpus > 0, memory_cap=req.memory_cap
    )
    settings = replace(
        settings,
        gpus_per_trial=gpu_share(req.gpus_per_trial, req.concurrency, gpus),
        metric=req.metric or resolved.optim.monitor,
        mode=mode or resolved.optim.monitor_mode,
    )
    return settings, resolved
