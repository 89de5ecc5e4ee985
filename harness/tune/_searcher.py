"""Optuna TPE behind Ray Tune, telling Optuna how each trial really ended.

Ray's ``OptunaSearch`` reports a trial that ASHA stopped early as COMPLETE with its low-budget
score, which would teach TPE that the configuration is bad at full budget. Here a trial reaches
Optuna as COMPLETE only when it ran to its end; an early stop is PRUNED (its intermediate values
were reported epoch by epoch), and our failure statuses (memory cap, OOM, divergence, bad data)
are FAIL, while our own table keeps the precise status.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from harness.tune._ray_compat import completed_trial_ids, optuna_study, optuna_trial
from search_spaces import SUCCESS_STATUSES, ConfigError, TrialStatus

__all__ = [
    "STATUS_KEY",
    "HarnessOptunaSearch",
    "build_searcher",
    "classify",
    "export_study",
    "make_sampler",
]

# the key of a trial's status in its reports: "running" in each epoch's, how it ended in the
# final one its trainable sends
STATUS_KEY = "trial_status"


def classify(
    last_result: Mapping[str, Any] | None, max_epochs: int, errored: bool = False
) -> TrialStatus:
    """How a trial ended, from its last reported result.

    Returns one of our statuses (``completed``, ``early_stopped``, the failure statuses),
    ``pruned`` (stopped by the scheduler before ``max_epochs``) or ``error`` (an exception).
    """
    if errored or not last_result:
        return TrialStatus.ERROR
    status = last_result.get(STATUS_KEY, TrialStatus.RUNNING)
    if status != TrialStatus.RUNNING:
        return TrialStatus(status)
    # Still "running" in its last report: the scheduler stopped it, at max_t (a natural end) or
    # before (an early stop).
    if last_result.get("epoch", 0) >= max_epochs:
        return TrialStatus.COMPLETED
    return TrialStatus.PRUNED


class HarnessOptunaSearch(OptunaSearch):
    """``OptunaSearch`` whose tell() follows :func:`classify`.

    Args:
        max_epochs: the scheduler's ``max_t``, to tell a scheduler stop at the end from one before.
        **kwargs: passed to :class:`ray.tune.search.optuna.OptunaSearch`.
    """

    def __init__(self, *, max_epochs: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_epochs = max_epochs
        self._reported: dict[str, set[int]] = {}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in completed_trial_ids(self):
            self._report(trial_id, result)

    def _report(self, trial_id: str, result: Mapping[str, Any]) -> None:
        """Pass one epoch's value to Optuna as an intermediate value (once per epoch)."""
        value = result.get(self.metric)
        if result.get(STATUS_KEY, TrialStatus.RUNNING) != TrialStatus.RUNNING or value is None:
            return  # the final status record repeats the last epoch
        if not math.isfinite(value):
            return  # NaN is not a value
        epoch = int(result.get("epoch", 0))
        seen = self._reported.setdefault(trial_id, set())
        if epoch not in seen:
            seen.add(epoch)
            optuna_trial(self, trial_id).report(float(value), epoch)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        ot_trial = optuna_trial(self, trial_id)
        if trial_id in completed_trial_ids(self) or ot_trial is None:
            return
        # Ray hands the result that made the scheduler stop a trial to on_trial_complete only:
        # it is the pruned trial's last intermediate value.
        if result:
            self._report(trial_id, result)
        status = classify(result, self._max_epochs, errored=error)
        value = (result or {}).get(self.metric)
        completed_trial_ids(self).add(trial_id)
        # Optuna may have ended the trial itself (GridSampler does once its grid is exhausted).
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            self._tell(ot_trial, status, value)

    def _tell(self, ot_trial: Any, status: str, value: Any) -> None:
        # The study keeps our status next to Optuna's state (readable from study.trials).
        ot_trial.set_user_attr(STATUS_KEY, str(status))
        study = optuna_study(self)
        if status in SUCCESS_STATUSES and value is not None and math.isfinite(value):
            study.tell(ot_trial, float(value), state=TrialState.COMPLETE)
        elif status == TrialStatus.PRUNED:
            study.tell(ot_trial, None, state=TrialState.PRUNED)
        else:
            study.tell(ot_trial, None, state=TrialState.FAIL)

    @property
    def study(self) -> optuna.Study:
        """The Optuna study this searcher drives."""
        return optuna_study(self)


class _RayGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its ``study.stop()`` at the end of the grid.

    Ray Tune, not ``study.optimize``, runs the trials here (the harness caps the number of trials
    at the grid's size), and ``Study.stop`` outside ``optimize`` raises.
    """

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        return None


ParamsFn = Callable[[Mapping[str, Any]], tuple[dict[str, Any], dict[str, Any]]]


def _with_params(trial: optuna.trial.FrozenTrial, params_fn: ParamsFn) -> Any:
    """``trial`` with the parameters ``params_fn`` makes of its raw ones (the raw ones are kept
    as the user attribute ``raw_params``)."""
    params, distributions = params_fn(trial.params)
    return optuna.trial.create_trial(
        state=trial.state,
        # a pruned trial keeps its last intermediate value, as Optuna gives it on tell()
        value=trial.value if trial.state != TrialState.FAIL else None,
        params=params,
        distributions=distributions,
        user_attrs={**trial.user_attrs, "raw_params": dict(trial.params)},
        system_attrs=trial.system_attrs,
        intermediate_values=trial.intermediate_values,
    )


def export_study(study: optuna.Study, path: Path, params_fn: ParamsFn | None = None) -> None:
    """Write ``study`` (its trials with their states and intermediate values) to a journal file
    that ``optuna.load_study(study_name=..., storage=JournalStorage(...))`` reads.

    Args:
        study: the study the searcher drove.
        path: the journal file.
        params_fn: maps a trial's raw parameters to ``(effective parameters, their
            distributions)``, so that tools reading the journal (optuna-dashboard, Optuna's
            importance) see the values the trials ran with (the loss weights themselves, not the
            sampler's helper coordinates ``loss.weights.*~u``).
    """
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    copy = optuna.create_study(
        storage=JournalStorage(JournalFileBackend(str(tmp))),
        study_name=study.study_name,
        directions=study.directions,
    )
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    if params_fn is not None:
        finished = [_with_params(t, params_fn) for t in finished]
    copy.add_trials(finished)
    tmp.replace(path)


def quiet_optuna() -> None:
    """Optuna's per-trial INFO lines and the experimental-feature warning for ``group`` would
    drown the progress display; the harness reports trials itself."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def make_sampler(
    kind: str, seed: int, grid: list[dict] | None = None
) -> optuna.samplers.BaseSampler:
    """The Optuna sampler for ``--sampler``.

    ``tpe`` is multivariate TPE with grouped decomposition for conditional spaces and the
    constant liar for parallel trials (Bergstra et al. 2011; Falkner et al. 2018 for the
    multivariate kernel; constant liar after Ginsbourger et al. 2010).
    """
    quiet_optuna()
    if kind == "tpe":
        return optuna.samplers.TPESampler(
            multivariate=True, group=True, constant_liar=True, seed=seed
        )
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        if not grid:
            raise ConfigError("--sampler grid: the space has no grid (give steps or choices)")
        space: dict[str, list] = {}
        for point in grid:
            for key, value in point.items():
                space.setdefault(key, [])
                if value not in space[key]:
                    space[key].append(value)
        return _RayGridSampler(space, seed=seed)
    raise ConfigError(f"--sampler {kind!r}: unknown; valid: tpe, random, grid")


def build_searcher(
    define_by_run: Callable[[optuna.Trial], dict[str, Any] | None],
    *,
    metric: str,
    mode: str,
    sampler: optuna.samplers.BaseSampler,
    max_epochs: int,
    concurrency: int,
    points_to_evaluate: list[dict[str, Any]] | None = None,
    study_name: str = "search",
) -> ConcurrencyLimiter:
    """OptunaSearch (define-by-run) behind a ConcurrencyLimiter, with metric/mode set on it.

    The study lives in memory and is saved with the searcher in Ray's experiment snapshots, so
    it stays consistent with Ray's trial states across ``--resume``; :func:`export_study` writes
    a copy for analysis once the stage ends.
    """
    search = HarnessOptunaSearch(
        space=define_by_run,
        metric=metric,
        mode=mode,
        sampler=sampler,
        points_to_evaluate=points_to_evaluate or None,
        max_epochs=max_epochs,
        study_name=study_name,
    )
    return ConcurrencyLimiter(search, max_concurrent=concurrency)
