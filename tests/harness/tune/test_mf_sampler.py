"""TPE at a common budget (BOHB's model choice) against plain TPE, on studies with known answers."""

from __future__ import annotations

import pickle

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from harness.tune._mf_sampler import CommonBudgetTPESampler, common_budget, common_budget_view

X = FloatDistribution(0.0, 1.0)
OPTIMUM = 0.8


def _f(x: float, step: int) -> float:
    """Higher is better; peaks at x = 0.8 at every budget."""
    return 1.0 - (x - OPTIMUM) ** 2 - 0.5 / step


def _asha_like_study(seed: int) -> optuna.Study:
    """What TPE sees after an asynchronous successive-halving run: the first three trials ran to
    the end (the rungs were empty, ASHA promoted them) although they sit in the poor region near
    x = 0.1; the other 40 were stopped at epoch 1 or 3, and the best of them are near x = 0.8."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(seed)
    study = optuna.create_study(direction="maximize")
    for x in (0.08, 0.1, 0.12):
        steps = {s: _f(x, s) for s in range(1, 10)}
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=steps[9],
                params={"x": x},
                distributions={"x": X},
                intermediate_values=steps,
            )
        )
    for x in rng.uniform(0, 1, 40):
        last = 3 if abs(x - OPTIMUM) < 0.3 else 1
        study.add_trial(
            create_trial(
                state=TrialState.PRUNED,
                params={"x": float(x)},
                distributions={"x": X},
                intermediate_values={s: _f(float(x), s) for s in range(1, last + 1)},
            )
        )
    return study


def _proposals(sampler: optuna.samplers.BaseSampler, study: optuna.Study, n: int) -> np.ndarray:
    study.sampler = sampler
    out = []
    for _ in range(n):
        trial = optuna.Trial(study, study._storage.create_new_trial(study._study_id))
        out.append(trial.suggest_float("x", 0.0, 1.0))
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    return np.array(out)


def test_the_common_budget_is_the_largest_step_with_enough_trials():
    study = _asha_like_study(0)
    trials = study.get_trials()
    n3 = sum(3 in t.intermediate_values for t in trials)
    assert common_budget(trials, min_points=n3) == 3
    assert common_budget(trials, min_points=3) == 9
    assert common_budget(trials, min_points=len(trials)) == 1
    assert common_budget(trials, min_points=len(trials) + 1) is None


def test_the_view_ranks_every_trial_that_reached_the_budget_by_its_value_there():
    trials = _asha_like_study(0).get_trials()
    view = common_budget_view(trials, 3)
    for before, after in zip(trials, view, strict=True):
        if 3 in before.intermediate_values:
            assert after.state == TrialState.COMPLETE
            assert after.value == pytest.approx(before.intermediate_values[3])
        else:
            assert after.state == TrialState.PRUNED
        assert after.params == before.params and after.number == before.number


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_proposes_near_the_optimum_where_plain_tpe_follows_the_first_completed_trials(seed):
    plain = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    common = CommonBudgetTPESampler(
        optuna.samplers.TPESampler(seed=seed, n_startup_trials=5), min_points=5
    )
    plain_x = _proposals(plain, _asha_like_study(seed), 40)
    common_x = _proposals(common, _asha_like_study(seed), 40)
    assert common.last_budget == 3  # epoch 9 has only the three completed trials (< 5)
    # plain TPE's "good" group starts with the three completed trials near 0.1 (Optuna ranks
    # COMPLETE above PRUNED whatever the values): part of its proposals go there
    assert np.mean(np.abs(plain_x - 0.1) < 0.1) >= 0.1
    assert np.mean(np.abs(common_x - 0.1) < 0.1) == 0.0
    assert np.median(np.abs(common_x - OPTIMUM)) < 0.05
    assert np.median(np.abs(common_x - OPTIMUM)) < 0.5 * np.median(np.abs(plain_x - OPTIMUM))


def test_by_default_a_budget_needs_the_number_of_parameters_plus_two_trials():
    study = _asha_like_study(0)  # one parameter: three trials at epoch 9 are enough
    common = CommonBudgetTPESampler(optuna.samplers.TPESampler(seed=0))
    _proposals(common, study, 1)
    assert common.last_budget == 9


def test_before_any_budget_has_enough_trials_it_is_plain_tpe():
    study = _asha_like_study(0)
    common = CommonBudgetTPESampler(optuna.samplers.TPESampler(seed=0), min_points=10_000)
    plain_x = _proposals(optuna.samplers.TPESampler(seed=0), _asha_like_study(0), 10)
    assert np.array_equal(_proposals(common, study, 10), plain_x)
    assert common.last_budget is None


def test_it_pickles_with_its_state_as_ray_snapshots_need():
    sampler = CommonBudgetTPESampler(optuna.samplers.TPESampler(seed=3, multivariate=True))
    copy = pickle.loads(pickle.dumps(sampler))
    study = _asha_like_study(1)
    assert np.array_equal(_proposals(copy, study, 5), _proposals(sampler, _asha_like_study(1), 5))
