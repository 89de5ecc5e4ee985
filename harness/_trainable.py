"""The thin Ray function trainable around a ``run_trial``-shaped function.

Any function ``fn(recipe, report, **kwargs)`` can be searched (``--trainable module:function``):
``trials.run_trial`` by default, analytic objectives in tests and benchmarks. The wrapper turns
the trial's config (effective recipe values by dotted path) into a recipe, forwards each epoch's
metrics to ``ray.tune.report`` and, when the function returns, reports one final record with the
trial's status so the searcher can tell Optuna how the trial ended.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

from harness._searcher import STATUS_KEY
from search_spaces import ConfigError, apply_overrides

__all__ = [
    "RAW_MARK",
    "effective_config",
    "make_ray_trainable",
    "resolve_trainable",
    "trial_dirname",
]

# Optuna's raw parameters (simplex uniforms, stride fractions) carry this mark in their name;
# everything else in a trial config is an effective recipe value by dotted path.
RAW_MARK = "~"
_SUMMARY_FIELDS = ("peak_memory_bytes", "wall_time_s", "images_per_s", "n_params")


def resolve_trainable(spec: str) -> Callable[..., Any]:
    """Import ``module:function`` and check that it can be called as ``fn(recipe, report)``.

    Raises:
        ConfigError: malformed spec, module or function not found, or a wrong signature.
    """
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise ConfigError(f"--trainable {spec!r}: expected module:function, e.g. trials:run_trial")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--trainable {spec!r}: cannot import {module_name!r} ({exc})") from None
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise ConfigError(f"--trainable {spec!r}: {module_name} has no function {func_name!r}")
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        raise ConfigError(
            f"--trainable {spec!r}: must accept (recipe, report) like trials.run_trial"
        ) from None
    return fn


def trial_dirname(trial_id: str) -> str:
    """The directory name of a trial, as Ray is told to name it (``trial_dirname_creator``)."""
    return f"trial_{trial_id}"


def effective_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe values of a trial config (raw Optuna parameters dropped)."""
    return {k: v for k, v in config.items() if RAW_MARK not in k}


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool | int | float):
            out[key] = float(value)
    return out


def make_ray_trainable(
    trainable: str,
    base_recipe: Mapping[str, Any],
    metric: str,
    experiment_dir: str | None = None,
) -> Callable[[dict[str, Any]], None]:
    """The function Ray Tune runs for each trial.

    Args:
        trainable: ``module:function`` of a ``run_trial``-shaped function.
        base_recipe: the base recipe as a JSON-able mapping.
        metric: the metric the search optimises (present in every report, NaN when unknown,
            as Ray requires).
        experiment_dir: the experiment directory: it holds the shared ``split.json`` and each
            trial's own directory (``trial_<id>``, as Ray names it), where the trial's files
            (``best.pt``) go. Ray's ``get_trial_dir()`` is a staging directory whose files Ray
            does not keep, so the trial writes to the experiment directory itself.
    """
    resolve_trainable(trainable)  # fail in the driver, not in every worker
    base = dict(base_recipe)

    def harness_trial(config: dict[str, Any]) -> None:
        from ray import tune

        fn = resolve_trainable(trainable)
        recipe = apply_overrides(base, effective_config(config), source="trial config")
        accepted = inspect.signature(fn).parameters
        kwargs: dict[str, Any] = {}
        if experiment_dir:
            trial_dir = os.path.join(
                experiment_dir, trial_dirname(tune.get_context().get_trial_id())
            )
            if "workdir" in accepted:
                kwargs["workdir"] = trial_dir
            if "split_dir" in accepted:
                kwargs["split_dir"] = experiment_dir

        def report(epoch: int, metrics: Mapping[str, Any]) -> None:
            record = _numbers(metrics)
            record.setdefault(metric, math.nan)
            tune.report({**record, "epoch": int(epoch), STATUS_KEY: "running"})

        summary = fn(recipe, report, **kwargs)
        if hasattr(summary, "to_dict"):
            summary = summary.to_dict()
        summary = dict(summary or {})
        final = _numbers(summary.get("final") or {})
        record = {**final, **_numbers({k: summary[k] for k in _SUMMARY_FIELDS if k in summary})}
        record.setdefault(metric, math.nan)
        record.update(
            {
                "epoch": int(summary.get("epochs", 0)),
                STATUS_KEY: str(summary.get("status", "completed")),
                "error": str(summary.get("error") or ""),
                "pid": os.getpid(),
            }
        )
        tune.report(record)

    harness_trial.__name__ = "harness_trial"
    return harness_trial
