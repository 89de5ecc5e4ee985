"""TPE that compares trials at a common budget: BOHB's model choice, on Optuna's TPE.

Under ASHA most trials stop early. Optuna's TPE ranks every COMPLETE trial above every PRUNED
one (``optuna.samplers._tpe.sampler._split_trials``), so its "good" group is the first trials
that happened to run to the end, whatever their score: early in an asynchronous run the rungs
are empty and ASHA promotes anything. BOHB (Falkner, Klein & Hutter, ICML 2018) instead fits its
density model on the observations at the *highest budget that has enough of them*, comparing
like with like. :class:`CommonBudgetTPESampler` gives TPE that view: at each proposal it picks
that budget ``b*`` (the largest epoch with at least ``min_points`` trials reporting there, d + 2
by default as in BOHB) and shows TPE every trial that reached ``b*`` as COMPLETE with its value
*at* ``b*``; trials stopped before ``b*`` stay PRUNED (TPE ranks them after, by how far they got
and their last value), failed ones stay out, running ones stay running (constant liar). Until
some budget has ``min_points`` trials, TPE sees the study as it is.

Everything else (the Parzen estimators, multivariate/group, constraints, startup trials) is
Optuna's own TPESampler, which this wraps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

__all__ = ["CommonBudgetTPESampler", "common_budget", "common_budget_view"]


def common_budget(trials: Sequence[FrozenTrial], min_points: int) -> int | None:
    """The largest step with at least ``min_points`` trials reporting a value there."""
    counts: Counter[int] = Counter()
    for trial in trials:
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
            counts.update(trial.intermediate_values.keys())
    enough = [step for step, n in counts.items() if n >= min_points]
    return max(enough) if enough else None


def _as(trial: FrozenTrial, state: TrialState, value: float | None) -> FrozenTrial:
    return FrozenTrial(
        number=trial.number,
        state=state,
        value=value,
        values=None,
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
        params=trial.params,
        distributions=trial.distributions,
        user_attrs=trial.user_attrs,
        system_attrs=trial.system_attrs,
        intermediate_values=trial.intermediate_values,
        trial_id=trial._trial_id,
    )


def common_budget_view(trials: Sequence[FrozenTrial], budget: int) -> list[FrozenTrial]:
    """``trials`` as TPE should rank them at ``budget``: reached it → COMPLETE with the value
    there; stopped before → PRUNED; running and failed trials unchanged."""
    out = []
    for trial in trials:
        value = trial.intermediate_values.get(budget)
        if trial.state == TrialState.FAIL or value is None:
            if trial.state == TrialState.COMPLETE and trial.intermediate_values:
                # finished at a budget below b* (a shorter trial): ranked with the stopped ones
                out.append(_as(trial, TrialState.PRUNED, None))
            else:
                out.append(trial)
        else:
            out.append(_as(trial, TrialState.COMPLETE, float(value)))
    return out


class _StudyView:
    """The study as TPE reads it: its finished trials through :func:`common_budget_view`.

    TPESampler reads trials through ``Study._get_trials`` (Optuna 4 and 5); everything else is
    the real study. Writes (after_trial's constraint values) go to the real study, not here.
    """

    def __init__(self, study: optuna.Study, min_points: int) -> None:
        self._study = study
        self._min_points = min_points
        trials = study._get_trials(deepcopy=False, states=None, use_cache=False)
        budget = common_budget(trials, min_points)
        self.budget = budget
        self._trials = trials if budget is None else common_budget_view(trials, budget)

    def _get_trials(
        self,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        return [t for t in self._trials if states is None or t.state in states]

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return self._get_trials(deepcopy, states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return list(self._trials)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


class CommonBudgetTPESampler(BaseSampler):
    """Optuna's TPESampler, shown the trials at a common budget (see the module docstring).

    Args:
        tpe: the TPESampler that proposes (its settings, seed and constraints_func are used).
        min_points: trials needed at a budget before TPE ranks at it; ``None``: the number of
            parameters + 2 (BOHB's rule), found from the trials' distributions.
    """

    def __init__(self, tpe: TPESampler, min_points: int | None = None) -> None:
        self._tpe = tpe
        self._min_points = min_points
        self.last_budget: int | None = None

    def _view(self, study: optuna.Study) -> Any:
        need = self._min_points
        if need is None:
            names: set[str] = set()
            for trial in study._get_trials(deepcopy=False, states=None, use_cache=False):
                names.update(trial.distributions)
            need = max(len(names), 1) + 2
        view = _StudyView(study, need)
        self.last_budget = view.budget
        return study if view.budget is None else view

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._tpe.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._tpe.sample_relative(self._view(study), trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._tpe.sample_independent(
            self._view(study), trial, param_name, param_distribution
        )

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._tpe.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._tpe.after_trial(study, trial, state, values)
