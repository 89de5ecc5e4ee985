"""The default search's settings, as chosen on LCBench (benchmarks/README.md)."""

from __future__ import annotations

import pytest

from harness.search import SearchSettings
from harness.search._stage import default_grace_period
from search_spaces import ConfigError


@pytest.mark.parametrize(
    ("max_epochs", "factor", "grace"),
    [(52, 3, 6), (12, 3, 2), (9, 3, 1), (1, 3, 1), (10, 2, 3), (100, 4, 7)],
)
def test_the_default_grace_period_is_two_rungs_below_the_full_length(max_epochs, factor, grace):
    assert default_grace_period(max_epochs, factor) == grace
    assert SearchSettings(max_epochs=max_epochs, reduction_factor=factor).grace_period == grace


def test_a_grace_period_that_is_given_is_kept_and_checked():
    assert SearchSettings(max_epochs=52, grace_period=1).grace_period == 1
    with pytest.raises(ConfigError, match="--grace-period must be between 1 and --max-epochs"):
        SearchSettings(max_epochs=5, grace_period=6)


def test_tpe_budget_is_tpe_shown_the_trials_at_a_common_budget_with_the_memory_constraint():
    import optuna

    from harness.tune._mf_sampler import CommonBudgetTPESampler
    from harness.tune._searcher import make_sampler, memory_constraints

    sampler = make_sampler("tpe-budget", seed=3)
    assert isinstance(sampler, CommonBudgetTPESampler)
    assert isinstance(sampler._tpe, optuna.samplers.TPESampler)
    assert sampler._tpe._constraints_func is memory_constraints
    assert SearchSettings(sampler="tpe-budget").sampler == "tpe-budget"
    with pytest.raises(ConfigError, match="tpe, tpe-budget, random, grid"):
        SearchSettings(sampler="bohb")


def test_tpe_fits_its_good_density_on_the_best_five_percent():

    from harness.tune._searcher import make_sampler, tpe_gamma

    assert [tpe_gamma(n) for n in (1, 20, 21, 40, 41, 60, 500, 5000)] == [1, 1, 2, 2, 3, 3, 25, 25]
    assert make_sampler("tpe", seed=0)._gamma is tpe_gamma
    assert make_sampler("tpe-budget", seed=0)._tpe._gamma is tpe_gamma


def test_the_small_good_group_both_refines_the_best_and_explores():
    """40 finished trials of a 1-d objective peaked at 0.3. With a good group of two, TPE's
    good density is the prior plus two kernels, so the harness's TPE proposes near the peak
    often and far from it often; Optuna's default (10%: four) never leaves the peak. On LCBench
    the default's searches locked onto bad regions; this one's less often (benchmarks/README)."""
    import warnings

    import numpy as np
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    from harness.tune._searcher import make_sampler

    dist = {"x": FloatDistribution(0.0, 1.0)}
    finished = [
        create_trial(params={"x": x}, distributions=dist, value=-((x - 0.3) ** 2))
        for x in [i / 39 for i in range(40)]
    ]

    def distances(make: object) -> np.ndarray:
        out = []
        for seed in range(60):
            study = optuna.create_study(direction="maximize", sampler=make(seed))
            study.add_trials(finished)
            out.append(abs(study.ask(dist).params["x"] - 0.3))
        return np.array(out)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = distances(lambda seed: make_sampler("tpe", seed, constraints_func=None))
        default = distances(
            lambda seed: optuna.samplers.TPESampler(
                multivariate=True, group=True, constant_liar=True, seed=seed
            )
        )
    assert (ours < 0.03).mean() > 0.25 and (ours > 0.15).mean() > 0.4
    assert (default < 0.03).mean() > 0.9 and (default > 0.15).mean() == 0
