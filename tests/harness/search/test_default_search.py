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
