"""Optuna TPE behind Ray Tune, telling Optuna how each trial really ended.

Ray's ``OptunaSearch`` reports a trial that ASHA stopped early as COMPLETE with its low-budget
score, which would teach TPE that the configuration is bad at full budget. Here a trial reaches
Optuna as COMPLETE only when it ran to its end; an early stop is PRUNED (its intermediate values
were reported epoch by epoch), and our failure statuses (OOM, divergence, bad data) are FAIL,
while our own table keeps the precise status.

A trial past the memory cap is not a FAIL: TPE ignores failed trials, so it would go on proposing
batch and tile sizes that cannot fit. It is told as PRUNED with a violated constraint instead,
for Optuna's constrained TPE (``TPESampler(constraints_func=...)``; the idea is Watanabe & Hutter,
"c-TPE: Tree-structured Parzen Estimator with Inequality Constraints for Expensive Hyperparameter
Optimization", IJCAI 2023, though Optuna's algorithm differs): every trial records its measured
peak memory and the cap as user attributes, :func:`memory_constraints` turns them into
``peak / cap - 1`` (> 0: infeasible), and TPE ranks infeasible trials after every feasible and
pruned one, so the region past the cap drops out of its "good" density. The precise status
``memory_cap`` stays in our tables and in the trial's user attribute ``trial_status``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import pydantic
from optuna.trial import TrialState
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from harness.tune._ray_compat import completed_trial_ids, optuna_study, optuna_trial
from search_spaces import SUCCESS_STATUSES, ConfigError, TrialStatus

__all__ = [
    "CAP_ATTR",
    "PEAK_ATTR",
    "STATUS_KEY",
    "HarnessOptunaSearch",
    "TPEGoodGroup",
    "build_searcher",
    "classify",
    "export_study",
    "make_sampler",
    "memory_constraint",
    "memory_constraints",
]

# the key of a trial's status in its reports: "running" in each epoch's, how it ended in the
# final one its trainable sends
STATUS_KEY = "trial_status"
# the trial's measured peak memory, in the keys its reports may carry it under: the summary's
# (in the final record, plain or under harness.tune._trainable.SUMMARY_PREFIX) and each epoch's
# (the peak so far)
_PEAK_KEYS = ("peak_memory_bytes", "summary/peak_memory_bytes", "memory_peak_bytes")
# user attributes of an Optuna trial, read by memory_constraints: the peak memory the trial
# reached and the memory cap in force (bytes)
PEAK_ATTR = "peak_memory_bytes"
CAP_ATTR = "memory_cap_bytes"
_CAP_PATH = "memory.cap"
# the constraint of a trial past the cap whose peak or cap is unknown (only its status is)
_UNKNOWN_BREACH = 1.0
# the least constraint of a trial past the cap: infeasible is > 0, and a float ratio of a peak a
# few bytes over the cap may round to 0
_MIN_BREACH = 1e-6


def _bytes(value: Any) -> float | None:
    """A positive finite number of bytes, or ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


def memory_constraint(status: Any, peak_bytes: Any, cap_bytes: Any) -> float:
    """A trial's memory constraint as Optuna reads one: > 0 infeasible, <= 0 feasible.

    A trial that ended ``memory_cap`` is infeasible: ``peak / cap - 1`` (at least a tiny
    positive value; 1.0 when its peak or the cap is unknown). Any other trial is feasible:
    ``peak / cap - 1`` capped at 0 (how much room it left), or 0.0 when either is unknown.
    Never NaN (Optuna refuses a NaN constraint in the middle of ``tell``).
    """
    peak, cap = _bytes(peak_bytes), _bytes(cap_bytes)
    ratio = None if peak is None or cap is None else peak / cap - 1.0
    if status == TrialStatus.MEMORY_CAP:
        return _UNKNOWN_BREACH if ratio is None else max(ratio, _MIN_BREACH)
    return 0.0 if ratio is None else min(ratio, 0.0)


def _searched_cap(params: Mapping[str, Any], base_cap: int | None) -> int | None:
    """The cap in force in a trial: its own ``memory.cap`` when the space searches it (a plain
    parameter keeps its dotted path as its Optuna name), else the base recipe's."""
    value = params.get(_CAP_PATH)
    if value is None:
        return base_cap
    with contextlib.suppress(ValueError, TypeError):
        return int(pydantic.TypeAdapter(pydantic.ByteSize).validate_python(value))
    return base_cap


def memory_constraints(trial: optuna.trial.FrozenTrial) -> tuple[float]:
    """Optuna's ``constraints_func`` (``TPESampler(constraints_func=...)``): the trial's
    :func:`memory_constraint` from the user attributes :class:`HarnessOptunaSearch` sets.

    A module-level function, so that the sampler holding it pickles (Ray saves the searcher with
    its sampler in every experiment snapshot). Optuna calls it for trials told COMPLETE or
    PRUNED only.
    """
    attrs = trial.user_attrs
    return (memory_constraint(attrs.get(STATUS_KEY), attrs.get(PEAK_ATTR), attrs.get(CAP_ATTR)),)


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

    Every trial is told with its peak memory and the cap (user attributes :data:`PEAK_ATTR`,
    :data:`CAP_ATTR`) for the sampler's :func:`memory_constraints`; a trial past the cap is told
    PRUNED, so that the constraint is recorded (Optuna evaluates constraints for COMPLETE and
    PRUNED trials only) and TPE learns where the cap lies.

    Args:
        max_epochs: the scheduler's ``max_t``, to tell a scheduler stop at the end from one before.
        memory_cap: the trials' memory cap in bytes (the recipe's ``memory.cap``), or ``None``
            (a trial past the cap is then infeasible by its status alone, with constraint 1.0).
        memory_cap_as_fail: tell a trial past the cap as FAIL, which TPE ignores (the behaviour
            before constraints; for tests and benchmarks that compare the two, not a user option).
        **kwargs: passed to :class:`ray.tune.search.optuna.OptunaSearch`.
    """

    def __init__(
        self,
        *,
        max_epochs: int,
        memory_cap: int | None = None,
        memory_cap_as_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._max_epochs = max_epochs
        self._memory_cap = memory_cap
        self._memory_cap_as_fail = memory_cap_as_fail
        self._reported: dict[str, set[int]] = {}
        self._peaks: dict[str, float] = {}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in completed_trial_ids(self):
            self._note_peak(trial_id, result)
            self._report(trial_id, result)

    def _note_peak(self, trial_id: str, result: Mapping[str, Any] | None) -> None:
        """Keep the highest peak memory the trial's reports carried (a trial stopped by the
        scheduler has no final record, only its epochs' peaks so far)."""
        # setdefault: a searcher pickled by an older harness (``--resume``) has no _peaks
        peaks = self.__dict__.setdefault("_peaks", {})
        for key in _PEAK_KEYS:
            value = _bytes((result or {}).get(key))
            if value is not None:
                peaks[trial_id] = max(peaks.get(trial_id, 0.0), value)

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
        self._note_peak(trial_id, result)
        status = classify(result, self._max_epochs, errored=error)
        value = (result or {}).get(self.metric)
        completed_trial_ids(self).add(trial_id)
        peak = self.__dict__.get("_peaks", {}).pop(trial_id, None)
        # Optuna may have ended the trial itself (GridSampler does once its grid is exhausted).
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            self._tell(ot_trial, status, value, peak)

    def _tell(self, ot_trial: Any, status: str, value: Any, peak: float | None = None) -> None:
        # The study keeps our status next to Optuna's state (readable from study.trials), and
        # what memory_constraints reads.
        ot_trial.set_user_attr(STATUS_KEY, str(status))
        cap = _searched_cap(ot_trial.params, getattr(self, "_memory_cap", None))
        if peak is not None:
            ot_trial.set_user_attr(PEAK_ATTR, int(peak))
        if cap is not None:
            ot_trial.set_user_attr(CAP_ATTR, int(cap))
        study = optuna_study(self)
        if status in SUCCESS_STATUSES and value is not None and math.isfinite(value):
            study.tell(ot_trial, float(value), state=TrialState.COMPLETE)
        elif status == TrialStatus.PRUNED or (
            status == TrialStatus.MEMORY_CAP and not getattr(self, "_memory_cap_as_fail", False)
        ):
            # A trial past the cap is PRUNED with an infeasible constraint: TPE puts infeasible
            # trials after every feasible one, whatever their intermediate values.
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
ConstraintsFn = Callable[[optuna.trial.FrozenTrial], Sequence[float]]


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


class TPEGoodGroup:
    """How many of ``n`` finished trials form TPE's "good" group (Bergstra et al. 2011's gamma):
    ⌈min(10%, 35% / d) of n⌉ for a space of ``d`` parameters, at most 25 (Optuna's cap).

    Up to three parameters this is Optuna's default (10%). In larger spaces the group shrinks
    (5% for seven parameters, 1.5% for 24), so that the good density's prior weighs as much as
    the few best trials and TPE keeps exploring where a few dozen trials cannot map the space.
    Measured on two cases (benchmarks/README.md): on LCBench's real learning curves (seven
    parameters, under ASHA) 5% instead of 10% lowered the median regret from 0.87 to 0.64 over
    160 simulated runs, where 10% locked onto bad regions; on the three-parameter Hartmann
    function 5% slowed TPE down (126 against 83 median epochs to the target), hence 10% there.
    The form of the rule between and beyond those two is a judgement, not a measurement.

    ``n_params=None`` (the space's size unknown) gives Optuna's default. A class, not a closure:
    Ray pickles the sampler with the searcher.
    """

    def __init__(self, n_params: int | None = None) -> None:
        self.n_params = n_params

    def __call__(self, n: int) -> int:
        # ceil(n * min(1/10, 7/(20 d))) in integers, so that d = 7 gives exactly ceil(n / 20);
        # an unknown size gets Optuna's default, 1/10
        small = self.n_params is None or 2 * self.n_params <= 7
        num, den = (n, 10) if small else (7 * n, 20 * self.n_params)
        return min(-(-num // den), 25)


def make_sampler(
    kind: str,
    seed: int,
    grid: list[dict] | None = None,
    *,
    constraints_func: ConstraintsFn | None = memory_constraints,
    n_params: int | None = None,
) -> optuna.samplers.BaseSampler:
    """The Optuna sampler for ``--sampler``.

    ``tpe`` is multivariate TPE with grouped decomposition for conditional spaces and the
    constant liar for parallel trials (Bergstra et al. 2011; Falkner et al. 2018 for the
    multivariate kernel; constant liar after Ginsbourger et al. 2010), its good group the best
    trials as :class:`TPEGoodGroup` counts them for ``n_params`` parameters, constrained by
    ``constraints_func`` (default :func:`memory_constraints`: the memory cap; ``None``: no
    constraint). ``random`` and ``grid`` model nothing, so no constraint applies to them.
    ``constraints_func`` must pickle (a module-level function or a small class, not a lambda):
    Ray saves the sampler with the searcher.
    """
    quiet_optuna()
    if kind == "tpe-budget":
        from harness.tune._mf_sampler import CommonBudgetTPESampler

        return CommonBudgetTPESampler(
            make_sampler("tpe", seed, constraints_func=constraints_func, n_params=n_params)
        )
    if kind == "tpe":
        with warnings.catch_warnings():
            # Optuna 5 deprecates constraints_func for Trial.set_constraint (removal planned for
            # 7.0); the harness supports Optuna 4, which has only constraints_func. Optuna 4.9
            # deprecates gamma too (removal in 6.0, hence optuna<6 in pyproject.toml): the
            # measured choice of the good group has no other way in.
            warnings.filterwarnings(
                "ignore", message=".*(constraints_func|gamma).*", category=FutureWarning
            )
            return optuna.samplers.TPESampler(
                multivariate=True,
                group=True,
                constant_liar=True,
                gamma=TPEGoodGroup(n_params),
                seed=seed,
                constraints_func=constraints_func,
            )
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        if not grid:
            raise ConfigError(
                "sampler grid: the space has no grid (give steps or choices)", param="sampler"
            )
        space: dict[str, list] = {}
        for point in grid:
            for key, value in point.items():
                space.setdefault(key, [])
                if value not in space[key]:
                    space[key].append(value)
        return _RayGridSampler(space, seed=seed)
    raise ConfigError(
        f"sampler {kind!r}: unknown; valid: tpe, tpe-budget, random, grid", param="sampler"
    )


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
    memory_cap: int | None = None,
    memory_cap_as_fail: bool = False,
) -> ConcurrencyLimiter:
    """OptunaSearch (define-by-run) behind a ConcurrencyLimiter, with metric/mode set on it.

    The study lives in memory and is saved with the searcher in Ray's experiment snapshots, so
    it stays consistent with Ray's trial states across ``--resume``; :func:`export_study` writes
    a copy for analysis once the stage ends. ``memory_cap`` (bytes, the recipe's ``memory.cap``)
    and ``memory_cap_as_fail`` are :class:`HarnessOptunaSearch`'s.
    """
    search = HarnessOptunaSearch(
        space=define_by_run,
        metric=metric,
        mode=mode,
        sampler=sampler,
        points_to_evaluate=points_to_evaluate or None,
        max_epochs=max_epochs,
        study_name=study_name,
        memory_cap=int(memory_cap) if memory_cap is not None else None,
        memory_cap_as_fail=memory_cap_as_fail,
    )
    return ConcurrencyLimiter(search, max_concurrent=concurrency)
