"""The thin Ray function trainable around a ``run_trial``-shaped function.

Any function ``fn(recipe, report, **kwargs)`` can be searched (``--trainable module:function``):
``trials.run_trial`` by default, analytic objectives in tests and benchmarks. ``module`` is
imported as ``python -m`` would: the driver's working directory is on ``sys.path``, in the driver
and in every Ray worker (which runs elsewhere), so a module next to where the search was started
works. The wrapper turns the trial's config (effective recipe values by dotted path) into a
recipe, forwards each epoch's metrics to ``ray.tune.report`` and, when the function returns,
reports one final record with the trial's status so the searcher can tell Optuna how the trial
ended.

Objective parameters (a space's paths outside the recipe, see :mod:`search_spaces._space`) are
not recipe values: a function that takes ``params`` receives them as
``params={"lcbench.momentum": 0.53, ...}`` (every objective parameter active in the trial, by its
full dotted name; ``{}`` when the space has none).

The last epoch's report (epoch ``optim.epochs`` of the base recipe, which a search stage sets to
the scheduler's ``max_t``) is held back until the function returns and then sent once, merged
with the summary the function returned: a scheduler stops a trial as soon as it reports its
``max_t``, so a separate final record sent after it would never arrive and the summary
(``final``, ``peak_memory_bytes``, anything else) would be lost. The scheduler and the searcher
see the same epochs and values as before, the last one a little later and still ``running``
(a run that reached ``max_t`` is complete, :func:`harness.tune.classify`); only a failure status
(an exception after the last report) replaces ``running``, so that Optuna hears of the failure.
The held report keeps its own time (:data:`REPORT_TIME_KEY`, and ``time_this_iter_s`` for Ray's
``time_total_s``) and is marked with :data:`HELD_EPOCH_KEY`, so the tables take it as the last
epoch and as the summary. The summary travels under :data:`SUMMARY_PREFIX` keys (its status as
``summary/status``), apart from the epoch's metrics of the same name (``images_per_s`` of the
last epoch is not that of the whole run).

Fault tolerance: a function that takes ``checkpoint_fn`` gets one that stores its state after each
epoch as a Ray checkpoint attached to that epoch's report; one that takes ``resume_state`` is given
the state of the trial's last checkpoint when Ray restarts the trial (its node died, its worker
crashed), so it goes on at the next epoch instead of starting over. Every report carries the id of
the Ray node that ran it (``node_id``), so the tables say where each trial ran.
"""

from __future__ import annotations

import inspect
import math
import os
import pickle
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from harness._trainables import resolve_trainable, takes_params
from harness.tune._searcher import STATUS_KEY
from search_spaces import (
    SUCCESS_STATUSES,
    ConfigError,
    TrialStatus,
    apply_overrides,
    is_objective_path,
)

__all__ = [
    "HELD_EPOCH_KEY",
    "MISSING_METRIC_KEY",
    "RAW_MARK",
    "REPORT_TIME_KEY",
    "SUMMARY_PREFIX",
    "effective_config",
    "make_ray_trainable",
    "objective_config",
    "resolve_trainable",
    "takes_params",
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
# Unix time (float seconds) at which the function reported an epoch; Ray's own ``timestamp`` is
# whole seconds taken when the report reaches Ray, too coarse to order parallel trials' epochs
REPORT_TIME_KEY = "harness_reported_at"
# in the final record when it carries the last epoch's report (held back until the function
# returned): that record is an epoch of the curve as well as the trial's summary
HELD_EPOCH_KEY = "harness_held_epoch"
# the summary the function returned, in the final record: ``summary/<field>`` for its scalar
# fields, ``summary/final.<metric>`` for its final metrics
SUMMARY_PREFIX = "summary/"
_BOOKKEEPING = ("status", "error", "attempts")


def trial_dirname(trial_id: str) -> str:
    """The directory name of a trial, as Ray is told to name it (``trial_dirname_creator``)."""
    return f"trial_{trial_id}"


def effective_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe values of a trial config (raw Optuna parameters and objective parameters
    dropped)."""
    return {k: v for k, v in config.items() if RAW_MARK not in k and not is_objective_path(k)}


def objective_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The objective parameters of a trial config, by full dotted name (what ``params`` gets)."""
    return {k: v for k, v in config.items() if RAW_MARK not in k and is_objective_path(k)}


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool | int | float):
            out[key] = float(value)
    return out


def _summary_fields(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary's scalar fields (numbers as floats, short strings, flags) and its final
    metrics, under :data:`SUMMARY_PREFIX`; lists and other nested values are left out."""
    out: dict[str, Any] = {}
    for key, value in summary.items():
        if key in _BOOKKEEPING:
            continue
        if key == "final" and isinstance(value, Mapping):
            out.update({f"{SUMMARY_PREFIX}final.{k}": v for k, v in _numbers(value).items()})
        elif isinstance(value, bool):
            out[f"{SUMMARY_PREFIX}{key}"] = value
        elif isinstance(value, int | float):
            out[f"{SUMMARY_PREFIX}{key}"] = float(value)
        elif isinstance(value, str):
            out[f"{SUMMARY_PREFIX}{key}"] = value[:500]
    return out


def _final_record(
    summary: Mapping[str, Any], held: Mapping[str, Any] | None, metric: str, node_id: str
) -> dict[str, Any]:
    """The record sent when the function has returned: the held last epoch's report (or, when
    none was held, the final metrics and costs as the last epoch's repetition), the summary
    under :data:`SUMMARY_PREFIX`, and how the trial ended (module docstring)."""
    status = str(summary.get("status", TrialStatus.COMPLETED))
    if held is not None:
        record: dict[str, Any] = {**held, HELD_EPOCH_KEY: True, f"{SUMMARY_PREFIX}status": status}
        if status in SUCCESS_STATUSES:
            status = str(TrialStatus.RUNNING)  # the last epoch, as the scheduler always saw it
    else:
        final = _numbers(summary.get("final") or {})
        costs = _numbers({k: summary[k] for k in _SUMMARY_FIELDS if k in summary})
        record = {**final, **costs, "epoch": int(summary.get("epochs", 0))}
        record.setdefault(metric, math.nan)
    record.update(_summary_fields(summary))
    record.update(
        {
            STATUS_KEY: status,
            "error": str(summary.get("error") or ""),
            "pid": os.getpid(),
            "node_id": node_id,
            "attempts": len(summary.get("attempts") or []) or 1,
        }
    )
    return record


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
    # the driver's working directory, importable in the workers as it is here (python -m)
    search_dir = os.getcwd()
    resolve_trainable(trainable, search_dir)  # fail in the driver, not in every worker
    base = dict(base_recipe)
    # the stage's max_t (stage_recipe sets it): a report of this epoch is held (module docstring)
    last_epoch = int(base.get("optim", {}).get("epochs", 0)) or math.inf
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
        fn = resolve_trainable(trainable, search_dir)
        accepted = inspect.signature(fn).parameters
        objective = objective_config(config)
        kwargs: dict[str, Any] = {}
        if takes_params(fn):
            kwargs["params"] = objective
        elif objective:
            # load_space(..., objective_params=takes_params(...)) refuses such a space before
            # Ray starts; this is the last line of defence
            raise ConfigError(
                f"trial config: objective parameters {', '.join(sorted(objective))} are not "
                f"recipe paths, and trainable {trainable!r} takes no `params` argument",
                param="trainable",
            )
        recipe = apply_overrides(base, effective_config(config), source="trial config")
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

        reached: dict[str, Any] = {"epoch": 0, "in_ray": False, "sent_at": time.time()}
        # the last epoch's (record, checkpoint folder), sent with the summary (module docstring)
        held: list[tuple[dict[str, Any], str | None]] = []

        def send(record: dict[str, Any], folder: str | None) -> None:
            reached["in_ray"], reached["sent_at"] = True, time.time()
            try:
                if folder is None:
                    tune.report(record)
                else:
                    tune.report(record, checkpoint=tune.Checkpoint.from_directory(folder))
            finally:
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)  # Ray has persisted its own copy
            reached["in_ray"] = False

        def report(epoch: int, metrics: Mapping[str, Any]) -> None:
            now = time.time()
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
                REPORT_TIME_KEY: now,
            }
            reached["epoch"] = int(epoch)
            folder = pending.pop(int(epoch), None)
            while held:  # an epoch reported after the held one: the held one was not the last
                send(*held.pop())
            if int(epoch) >= last_epoch:
                # Ray's time_total_s counts to this moment, not to when the record is sent
                record["time_this_iter_s"] = now - reached["sent_at"]
                held.append((record, folder))
            else:
                send(record, folder)

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
        record, folder = held.pop() if held else (None, None)
        send(_final_record(dict(summary or {}), record, metric, node_id), folder)

    harness_trial.__name__ = "harness_trial"
    return harness_trial
