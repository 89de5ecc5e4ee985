"""Every access to Ray Tune's and Optuna's private attributes, in one place.

Ray Tune has no public way to reach the Optuna study inside ``OptunaSearch``, to attach fresh
callbacks to a restored ``Tuner``, or to read the trial states behind a ``ResultGrid``; the
harness needs all three. Each such access is one small function here, exercised by the contract
test ``tests/harness/tune/test_ray_compat.py`` against the installed Ray, and ``pyproject.toml``
caps Ray below the next minor version that test has not run on. When Ray changes one of these
internals, this module (and only this module) changes with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "TESTED_RAY",
    "completed_trial_ids",
    "mlflow_callback",
    "optuna_study",
    "optuna_trial",
    "result_grid_trial_states",
    "set_restored_callbacks",
    "snapshot_finished_trial_ids",
    "tuner_search_alg",
]

#: the Ray minor versions the contract test has passed on (pyproject caps Ray below the next)
TESTED_RAY = ("2.60",)


def optuna_study(search: Any) -> Any:
    """The ``optuna.Study`` an ``OptunaSearch`` drives (``None`` before its ``setup``)."""
    return getattr(search, "_ot_study", None)


def optuna_trial(search: Any, trial_id: str) -> Any | None:
    """The live ``optuna.Trial`` behind Ray trial ``trial_id`` (``None`` if Optuna has none)."""
    return getattr(search, "_ot_trials", {}).get(trial_id)


def completed_trial_ids(search: Any) -> set[str]:
    """The ids of Ray trials an ``OptunaSearch`` has already told Optuna about (mutable)."""
    return search._completed_trials


def tuner_search_alg(tuner: Any) -> Any | None:
    """The searcher inside a ``Tuner`` (given to it, or rebuilt by ``Tuner.restore``), with a
    ``ConcurrencyLimiter`` unwrapped."""
    config = getattr(getattr(tuner, "_local_tuner", None), "_tune_config", None)
    search = getattr(config, "search_alg", None)
    return getattr(search, "searcher", search)


def set_restored_callbacks(tuner: Any, callbacks: list[Any]) -> None:
    """Give a restored ``Tuner`` new callbacks: ``Tuner.restore`` unpickles the old ones, but a
    progress display holds a terminal and is attached anew."""
    tuner._local_tuner.get_run_config().callbacks = callbacks


def result_grid_trial_states(grid: Any) -> dict[str, str]:
    """``{trial_id: Ray status}`` of the trials behind a ``ResultGrid`` (``Result`` has no
    status; an interrupted run leaves some PENDING or RUNNING, which are not failures)."""
    analysis = getattr(grid, "_experiment_analysis", None)
    return {str(t.trial_id): str(t.status) for t in getattr(analysis, "trials", None) or []}


def snapshot_finished_trial_ids(
    experiment: Path, read: Callable[[Path], str] = Path.read_text
) -> set[str]:
    """Trial ids that Ray's own experiment snapshot (``experiment_state-*.json``, what
    ``Tuner.restore`` resumes from) records as TERMINATED or ERROR.

    Ray rewrites this snapshot about once a second, so for a moment after a trial ends the
    harness's tables know it and the snapshot does not.
    """
    done: set[str] = set()
    for path in sorted(Path(experiment).glob("experiment_state-*.json")):
        try:
            data = json.loads(read(path))
        except (OSError, ValueError):  # being rewritten
            continue
        for state, _ in data.get("trial_data", []):
            trial = json.loads(state) if isinstance(state, str) else state
            if trial.get("status") in ("TERMINATED", "ERROR"):
                done.add(str(trial.get("trial_id")))
    return done


def mlflow_callback(tracking_uri: str, experiment_name: str, hidden_mark: str) -> Any:
    """Ray's ``MLflowLoggerCallback`` logging each trial as an MLflow run, without the config
    keys that carry ``hidden_mark`` (the sampler's raw coordinates, whose names MLflow refuses
    and which are not recipe values). Filtering needs the callback's run ids
    (``_trial_runs``), which Ray keeps private."""
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    class _Callback(MLflowLoggerCallback):
        def log_trial_start(self, trial: Any) -> None:
            keep = self.log_params_on_trial_end
            self.log_params_on_trial_end = True  # the parent then logs no params here
            try:
                super().log_trial_start(trial)
            finally:
                self.log_params_on_trial_end = keep
            params = {k: v for k, v in trial.config.items() if hidden_mark not in k}
            self.mlflow_util.log_params(run_id=self._trial_runs[trial], params_to_log=params)

    return _Callback(
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        save_artifact=False,
        log_params_on_trial_end=False,
    )
