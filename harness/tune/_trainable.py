"""The thin Ray function trainable around a ``run_trial``-shaped function.

Any function ``fn(recipe, report, **kwargs)`` can be searched (``--trainable module:function``):
``trials.run_trial`` by default, analytic objectives in tests and benchmarks. The wrapper turns
the trial's config (effective recipe values by dotted path) into a recipe, forwards each epoch's
metrics to ``ray.tune.report`` and, when the function returns, reports one final record with the
trial's status so the searcher can tell Optuna how the trial ended.

Fault tolerance: a function that takes ``checkpoint_fn`` gets one that stores its state after each
epoch as a Ray checkpoint attached to that epoch's report; one that takes ``resume_state`` is given
the state of the trial's last checkpoint when Ray restarts the trial (its node died, its worker
crashed), so it goes on at the next epoch instead of starting over. Every report carries the id of
the Ray node that ran it (``node_id``), so the tables say where each trial ran.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import pickle
import shutil
import tempfile
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from harness.tune._searcher import STATUS_KEY
from search_spaces import ConfigError, TrialStatus, apply_overrides

__all__ = [
    "MISSING_METRIC_KEY",
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
STATE_FILE = "trial_state.pkl"
# in an epoch's report when the search's metric is missing from it: what was reported instead
MISSING_METRIC_KEY = "harness_missing_metric"
# trials.train._faults.FAULT_ENV, spelled out: importing trials would load torch in every worker,
# also those of analytic objectives that never touch it
FAULT_ENV = "HARNESS_FAULT_INJECT"


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
    # Fault injection (tests only) is switched on in the driver's environment, never by a trial's
    # config; it is carried to the workers here because they do not share the driver's env.
    fault = os.environ.get(FAULT_ENV) or None

    def harness_trial(config: dict[str, Any]) -> None:
        import ray
        from ray import tune

        if fault is None:
            os.environ.pop(FAULT_ENV, None)
        else:
            os.environ[FAULT_ENV] = fault
        node_id = ray.get_runtime_context().get_node_id()
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

        pending: dict[int, str] = {}  # epoch -> directory of the state checkpoint_fn saved
        if "checkpoint_fn" in accepted:

            def checkpoint_fn(epoch: int, state: Any) -> None:
                folder = tempfile.mkdtemp(prefix="harness-ckpt-")
                with open(os.path.join(folder, STATE_FILE), "wb") as fh:
                    pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
                pending[int(epoch)] = folder

            kwargs["checkpoint_fn"] = checkpoint_fn
        restored = tune.get_checkpoint()
        if restored is not None and "resume_state" in accepted:
            with (
                restored.as_directory() as folder,
                open(os.path.join(folder, STATE_FILE), "rb") as fh,
            ):
                kwargs["resume_state"] = pickle.load(fh)  # written by checkpoint_fn below

        reached = {"epoch": 0, "in_ray": False}

        def report(epoch: int, metrics: Mapping[str, Any]) -> None:
            record: dict[str, Any] = _numbers(metrics)
            if metric not in record:
                # the search's metric is not among what this trainable reports: the driver's
                # MissingMetricStopper ends the search and names what it does report
                record[MISSING_METRIC_KEY] = ", ".join(sorted(record)) or "nothing"
            record.setdefault(metric, math.nan)
            record = {
                **record,
                "epoch": int(epoch),
                STATUS_KEY: str(TrialStatus.RUNNING),
                "node_id": node_id,
            }
            reached["epoch"], reached["in_ray"] = int(epoch), True
            folder = pending.pop(int(epoch), None)
            try:
                if folder is None:
                    tune.report(record)
                else:
                    tune.report(record, checkpoint=tune.Checkpoint.from_directory(folder))
            finally:
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)  # Ray has persisted its own copy
            reached["in_ray"] = False

        try:
            summary = fn(recipe, report, **kwargs)
        except Exception as exc:
            if reached["in_ray"]:
                raise  # Ray's own signal (a stop, a lost connection): Ray handles it
            # A bug or an unforeseen failure of this configuration: a status like the others,
            # not retried (FailureConfig's retries are for dead workers and nodes).
            traceback.print_exc()
            summary = {
                "status": str(TrialStatus.ERROR),
                "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:500],
                "epochs": reached["epoch"],
            }
        if hasattr(summary, "to_dict"):
            summary = summary.to_dict()
        summary = dict(summary or {})
        final = _numbers(summary.get("final") or {})
        record = {**final, **_numbers({k: summary[k] for k in _SUMMARY_FIELDS if k in summary})}
        record.setdefault(metric, math.nan)
        record.update(
            {
                "epoch": int(summary.get("epochs", 0)),
                STATUS_KEY: str(summary.get("status", TrialStatus.COMPLETED)),
                "error": str(summary.get("error") or ""),
                "pid": os.getpid(),
                "node_id": node_id,
                "attempts": len(summary.get("attempts") or []) or 1,
            }
        )
        tune.report(record)

    harness_trial.__name__ = "harness_trial"
    return harness_trial
