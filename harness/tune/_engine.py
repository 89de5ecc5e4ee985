"""The one engine core: every Ray Tune run of the harness goes through :func:`run_experiment`.

Search stages, validation stages and ablation cells are configurations of it
(:class:`Experiment`), never copies: it sets up the environment, builds a new ``Tuner`` or
restores one from Ray's state, runs it with a display callback (:class:`SearchProgress`) and a
persistence callback (:class:`TableWriter`), exports the Optuna study the searcher drove, and
writes the final tables.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from harness.tune._budget import BUDGET_FILE, Budget, BudgetLedger
from harness.tune._progress import SearchProgress
from harness.tune._ray_compat import set_restored_callbacks, tuner_search_alg
from harness.tune._rundir import param_error, write_json
from harness.tune._searcher import STATUS_KEY, HarnessOptunaSearch, export_study
from harness.tune._stopper import (
    BudgetStopper,
    BudgetWatch,
    ExperimentStopper,
    MissingMetricStopper,
    installed,
)
from harness.tune._table_writer import TableWriter
from harness.tune._tables import TrialRecord, records_from_result_grid
from harness.tune._trainable import trial_dirname
from search_spaces import FINISHED_STATUSES, ConfigError

__all__ = [
    "JOURNAL",
    "Experiment",
    "ExperimentResult",
    "asha_scheduler",
    "can_restore",
    "check_mlflow",
    "grid_search",
    "ray_experiment_path",
    "rebuild_tables",
    "run_experiment",
]

JOURNAL = "optuna.journal"


@dataclass(frozen=True)
class Experiment:
    """One Ray Tune run, described completely.

    Attributes:
        directory: the experiment directory (tables, spec, trials' files; Ray's state too unless
            ``storage`` is a remote URI).
        trainable: the function Ray runs for each trial (:func:`make_ray_trainable`).
        metric, mode: what the searcher and the scheduler optimise.
        max_epochs: a trial's full length (the scheduler's ``max_t``).
        trials: trials to run (with a ``param_space`` grid: the grid's size, run once).
        concurrency: trials at a time.
        resources: per trial, ``{"cpu": …, "gpu": …}``.
        searcher: a Ray search algorithm, or ``None`` (the ``param_space`` grid).
        scheduler: a Ray trial scheduler, or ``None`` (FIFO at full length).
        param_space: Ray's param space (a ``tune.grid_search`` of cells or seeds), if any.
        storage: a remote URI for Ray's state and checkpoints, or ``None``.
        max_failures: restarts of a trial whose worker or node died, from its last checkpoint.
        restore: continue from Ray's state in ``directory`` (``Tuner.restore``).
        title: shown above the progress counts.
        show_best: draw the best configuration so far.
        on_write: called after the tables are written (derived tables such as cells).
        study_params: maps a trial's raw Optuna parameters to its effective ones and their
            distributions, for the exported ``optuna.journal`` (see :func:`export_study`).
        mlflow: an MLflow tracking URI: every trial is logged there as a run of the MLflow
            experiment named after the directory (Ray's ``MLflowLoggerCallback``).
        budget: a compute budget (epochs, trial-hours): once the trials have spent it, no trial
            is proposed any more and the running ones are stopped at once
            (:class:`harness.tune._stopper.BudgetStopper`); ``trials`` is then an upper bound.
            What was spent is written to ``budget.json``.
    """

    directory: Path
    trainable: Callable[[dict[str, Any]], None]
    metric: str
    mode: str
    max_epochs: int
    trials: int
    concurrency: int
    resources: Mapping[str, float] = field(default_factory=lambda: {"cpu": 1.0, "gpu": 0.0})
    searcher: Any = None
    scheduler: Any = None
    param_space: Mapping[str, Any] | None = None
    storage: str | None = None
    max_failures: int = 2
    restore: bool = False
    title: str = "search"
    show_best: bool = True
    on_write: Callable[[], None] | None = None
    study_params: Callable[[Mapping[str, Any]], tuple[dict[str, Any], dict[str, Any]]] | None = None
    mlflow: str | None = None
    budget: Budget | None = None


@dataclass
class ExperimentResult:
    """What a run produced: the tables, whether it ended before every trial finished, and the
    budget record (``budget.json``) when it ran under a budget."""

    directory: Path
    trials: pd.DataFrame
    curves: pd.DataFrame
    interrupted: bool
    budget: dict[str, Any] | None = None


def ray_experiment_path(directory: Path, storage: str | None) -> str:
    """Where Ray keeps an experiment's state: the directory, or its place under ``storage``."""
    if storage is None:
        return str(directory)
    return f"{storage.rstrip('/')}/{Path(directory).name}"


def can_restore(directory: Path, storage: str | None) -> bool:
    """Whether Ray's state of an experiment exists (so ``restore=True`` can continue it)."""
    from ray import tune

    return bool(tune.Tuner.can_restore(ray_experiment_path(directory, storage)))


def asha_scheduler(
    metric: str, mode: str, *, max_t: int, grace_period: int, reduction_factor: int
) -> Any:
    """ASHA (Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning") with every
    argument set explicitly: one bracket, epochs as time, and trials still running at the end
    of the search stopped."""
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="epoch",
        metric=metric,
        mode=mode,
        max_t=max_t,
        grace_period=grace_period,
        reduction_factor=reduction_factor,
        brackets=1,
        stop_last_trials=True,
    )


def grid_search(values: list[Any]) -> dict[str, Any]:
    """A ``param_space`` entry that runs one trial per value (Ray's ``tune.grid_search``)."""
    from ray import tune

    return tune.grid_search(list(values))


def _run_config(exp: Experiment, callbacks: list[Any], stopper: Any) -> Any:
    """Where the state goes and how failed trials are retried: a trial whose worker or node
    dies restarts up to ``max_failures`` times from its last checkpoint (one per epoch; the
    last two are kept, enough to survive a failure while the newest is being written)."""
    from ray import tune

    storage = str(exp.directory.parent) if exp.storage is None else exp.storage
    return tune.RunConfig(
        name=exp.directory.name,
        storage_path=storage,
        callbacks=callbacks,
        stop=stopper,
        verbose=0,
        failure_config=tune.FailureConfig(max_failures=exp.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
    )


def _trial_dirname(trial: Any) -> str:
    return trial_dirname(trial.trial_id)


def _tuner(exp: Experiment, callbacks: list[Any], stopper: Any) -> Any:
    """A new ``Tuner``, or the one restored from Ray's state (to run what is unfinished)."""
    from ray import tune

    trainable = tune.with_resources(exp.trainable, dict(exp.resources))
    if exp.restore:
        path = ray_experiment_path(exp.directory, exp.storage)
        if not tune.Tuner.can_restore(path):
            raise param_error(f"resume: {path} holds no Ray Tune state to continue from", "resume")
        tuner = tune.Tuner.restore(
            path, trainable=trainable, resume_unfinished=True, resume_errored=True
        )
        set_restored_callbacks(tuner, callbacks)
        return tuner
    return tune.Tuner(
        trainable,
        param_space=dict(exp.param_space) if exp.param_space is not None else None,
        tune_config=tune.TuneConfig(
            search_alg=exp.searcher,
            scheduler=exp.scheduler,
            num_samples=1 if exp.param_space is not None else exp.trials,
            reuse_actors=True,
            trial_dirname_creator=_trial_dirname,
            max_concurrent_trials=exp.concurrency,
        ),
        run_config=_run_config(exp, callbacks, stopper),
    )


def _export_study(tuner: Any, directory: Path, params_fn: Any) -> None:
    """Save the study Optuna saw (COMPLETE / PRUNED / FAIL) next to the tables."""
    search = tuner_search_alg(tuner)
    if isinstance(search, HarnessOptunaSearch) and search.study is not None:
        export_study(search.study, directory / JOURNAL, params_fn)


def run_experiment(exp: Experiment, console: Console | None = None) -> ExperimentResult:
    """Run (or, with ``exp.restore``, resume) one experiment and write its tables.

    Args:
        exp: what to run.
        console: where progress is drawn (``None``: nothing is drawn).

    Raises:
        ConfigError: ``exp.restore`` without Ray state to restore.
    """
    # Ray's own console reporter would interleave with ours; its old engine honours verbose=0.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Ray snapshots the experiment (trial states, searcher) at most this often; a short period
    # means a driver crash loses at most a second of bookkeeping, which --resume would redo.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    directory = exp.directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if directory != exp.directory:
        exp = _with_directory(exp, directory)
    writer = TableWriter(directory, exp.metric, exp.mode, exp.max_epochs, on_write=exp.on_write)
    progress = SearchProgress(
        exp.trials,
        exp.metric,
        exp.mode,
        exp.max_epochs,
        console,
        title=exp.title,
        show_best=exp.show_best,
    )
    ledger = None if exp.budget is None else BudgetLedger(exp.budget, exp.max_epochs)
    stoppers: list[Any] = [MissingMetricStopper(exp.metric)]
    callbacks: list[Any] = [progress, writer]
    if ledger is not None:
        stoppers.append(BudgetStopper(ledger))
        callbacks.append(BudgetWatch(ledger))
    if exp.mlflow is not None:
        callbacks.append(_mlflow(exp.mlflow, directory.name))
    stopper = ExperimentStopper(*stoppers)
    with installed(stopper):
        tuner = _tuner(exp, callbacks, stopper)
        fitted = True
        if exp.restore:
            restored = records_from_result_grid(tuner.get_results())
            writer.seed(restored)
            if ledger is not None:
                ledger.seed(restored, _read_json(directory / BUDGET_FILE))
                # spent before the driver was killed: nothing more may run
                fitted = not ledger.exhausted
        try:
            grid = tuner.fit() if fitted else tuner.get_results()
        finally:
            progress.stop()
    records = records_from_result_grid(grid)
    if ledger is not None:
        records = _settle_budget(records, ledger, writer, tuner if fitted else None)
    if fitted:  # an unfitted restored tuner holds the searcher as it was pickled at the start
        _export_study(tuner, directory, exp.study_params)
    trials, curves = writer.finish(records)
    error = stoppers[0].error()
    if error is not None:
        raise error
    unfinished = (~trials["status"].isin(FINISHED_STATUSES)).any() if not trials.empty else True
    spent = ledger is not None and ledger.ran_out
    interrupted = bool(unfinished) or (len(trials) < exp.trials and not spent)
    record = None
    if ledger is not None:
        record = ledger.record()
        write_json(directory / BUDGET_FILE, record)
    return ExperimentResult(directory, trials, curves, interrupted, record)


def _settle_budget(
    records: list[TrialRecord], ledger: BudgetLedger, writer: TableWriter, tuner: Any
) -> list[TrialRecord]:
    """The final records of a run under a budget, with the trials it stopped accounted for.

    Ray's ``stop_all`` stops the live trials without telling the searcher or the callbacks, so:
    a stopped trial that reported epochs is told to the searcher here (Optuna sees it as
    PRUNED at its last epoch, as a trial ASHA stopped); one stopped before its first report
    trained nothing that could be recorded and leaves no row (it is in ``budget.json``). A run
    restored after its budget was spent ends the trials it left unfinished the same way.
    """
    if not ledger.ran_out:
        ledger.reset(records)
        return records
    if ledger.stopped is None:
        ledger.note_stopped({rec.trial_id: False for rec in records if not rec.done})
    stopped = ledger.stopped or {}

    def reported(rec: TrialRecord) -> bool:
        return rec.error is not None or any(STATUS_KEY in r for r in rec.results)

    # A trial that ended without a report was stopped by the budget before it trained an epoch:
    # it leaves no row (budget.json lists it). Ray's result for it holds no metrics, and at
    # times another trial's id (seen with reuse_actors), so it is told by its content.
    kept = [rec for rec in records if reported(rec)]
    for trial_id in [k for k, rec in writer.records.items() if not reported(rec)]:
        del writer.records[trial_id]
    for rec in kept:
        if rec.trial_id in stopped:
            rec.done = True
    search = None if tuner is None else tuner_search_alg(tuner)
    if isinstance(search, HarnessOptunaSearch):
        for rec in kept:
            if rec.trial_id in stopped and rec.results:
                search.on_trial_complete(rec.trial_id, dict(rec.results[-1]))
    ledger.reset(kept)
    return kept


def check_mlflow(uri: str) -> str:
    """``uri`` if MLflow is installed (the optional extra), else a ConfigError saying how."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise param_error(
            f"mlflow {uri!r}: MLflow is not installed; install the optional extra with "
            "pip install '.[dev]' or pip install mlflow-skinny",
            "mlflow",
        )
    return uri


def _mlflow(uri: str, experiment_name: str) -> Any:
    from harness.tune._ray_compat import mlflow_callback
    from harness.tune._trainable import RAW_MARK

    check_mlflow(uri)
    if uri.startswith("file:") or "://" not in uri:
        # MLflow 3 keeps its file store only on request; a local folder is what was asked for
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return mlflow_callback(uri, experiment_name, RAW_MARK)


def rebuild_tables(
    directory: Path, metric: str, mode: str, max_epochs: int, storage: str | None = None
) -> ExperimentResult:
    """Write ``trials.parquet`` and ``curves.parquet`` anew from Ray's own state of an
    experiment (its snapshot and every trial's results), e.g. after they were lost or deleted.

    Raises:
        ConfigError: no Ray Tune state where the experiment's state should be.
    """
    from ray.tune import ExperimentAnalysis, ResultGrid

    directory = Path(directory).resolve()
    path = ray_experiment_path(directory, storage)
    if not can_restore(directory, storage):
        raise ConfigError(f"{path} holds no Ray Tune state to rebuild the tables from")
    grid = ResultGrid(ExperimentAnalysis(path))
    writer = TableWriter(directory, metric, mode, max_epochs)
    trials, curves = writer.finish(records_from_result_grid(grid))
    unfinished = (~trials["status"].isin(FINISHED_STATUSES)).any() if not trials.empty else True
    return ExperimentResult(directory, trials, curves, bool(unfinished))


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _with_directory(exp: Experiment, directory: Path) -> Experiment:
    from dataclasses import replace

    return replace(exp, directory=directory)
