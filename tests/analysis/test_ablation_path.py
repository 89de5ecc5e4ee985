"""Ablation paths (Fawcett & Hoos 2016) and their surrogate (Biedenkapp et al. 2017) on
functions whose path is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.ablation import ablation_path, differing, surrogate_path
from search_spaces import ConfigError

GAINS = {"p.a": 3.0, "p.b": 1.0, "p.c": 2.0}


def additive(cfg):
    return sum(GAINS[p] * float(cfg[p]) for p in GAINS)


def test_additive_path_flips_the_largest_gain_first():
    calls = []

    def evaluate(batch):
        calls.append(len(batch))
        return [additive(c) for c in batch]

    path = ablation_path(dict.fromkeys(GAINS, 0.0), dict.fromkeys(GAINS, 1.0), evaluate)

    table = path.table()
    assert table["parameter"].tolist() == ["p.a", "p.c", "p.b"]
    assert table["gain"].tolist() == [3.0, 2.0, 1.0]
    assert path.source_value == 0.0 and path.total_gain == 6.0
    assert table["share"].tolist() == pytest.approx([0.5, 1 / 3, 1 / 6])
    # the source, then k, k-1, ... 1 candidates per step: one batch per step
    assert calls == [1, 3, 2, 1]
    assert path.steps[0].candidates == {"p.a": 3.0, "p.b": 1.0, "p.c": 2.0}


def test_interaction_is_found_only_once_its_partner_is_flipped():
    # f = a*b + 0.5 c: neither a nor b helps alone, so c goes first; a then gains nothing and
    # b gains the whole interaction
    def evaluate(batch):
        return [c["a"] * c["b"] + 0.5 * c["c"] for c in batch]

    path = ablation_path({"a": 0, "b": 0, "c": 0}, {"a": 1, "b": 1, "c": 1}, evaluate)

    assert [(s.parameter, s.gain) for s in path.steps] == [("c", 0.5), ("a", 0.0), ("b", 1.0)]


def test_minimisation_flips_what_lowers_the_value_first_and_gains_are_positive():
    path = ablation_path(
        dict.fromkeys(GAINS, 1.0),
        dict.fromkeys(GAINS, 0.0),
        lambda batch: [additive(c) for c in batch],
        mode="min",
    )
    assert [s.parameter for s in path.steps] == ["p.a", "p.c", "p.b"]
    assert [s.gain for s in path.steps] == [3.0, 2.0, 1.0]


def test_only_differing_parameters_are_candidates_and_a_failed_run_never_wins():
    assert differing({"x": 1.0, "y": "esca"}, {"x": 1.0 + 1e-15, "y": "cbam"}) == ["y"]

    def evaluate(batch):
        return [float("nan") if c["x"] == 1 else 0.1 for c in batch]

    path = ablation_path({"x": 0, "y": 0}, {"x": 1, "y": 1}, evaluate, source_value=0.0)
    assert path.steps[0].parameter == "y"


def test_bad_evaluate_and_mode_are_clear_errors():
    with pytest.raises(ConfigError, match="returned 2 values for 1"):
        ablation_path({"a": 0}, {"a": 1}, lambda batch: [0.0, 1.0])
    with pytest.raises(ConfigError, match="mode must be max or min"):
        ablation_path({"a": 0}, {"a": 1}, lambda b: [0.0] * len(b), mode="best")


def test_surrogate_recovers_the_additive_path_from_random_trials():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(300, 3))
    trials = pd.DataFrame(x, columns=list(GAINS)).assign(
        score=x @ np.array(list(GAINS.values())), kind=rng.choice(["u", "v"], size=300)
    )

    path, facts = surrogate_path(
        trials, "score", dict.fromkeys(GAINS, 0.05), dict.fromkeys(GAINS, 0.95)
    )

    assert [s.parameter for s in path.steps] == ["p.a", "p.c", "p.b"]
    # true gains are 0.9 x (3, 2, 1); a forest's predictions shrink towards the mean near the
    # edges of the sampled range (measured: 2.22, 1.67, 0.69), so gains come out ~20% smaller
    gains = np.array([s.gain for s in path.steps])
    np.testing.assert_allclose(gains, [2.7, 1.8, 0.9], rtol=0.3)
    assert path.method == "surrogate" and facts["n_trials"] == 300 and facts["oob_r2"] > 0.9


def test_surrogate_needs_enough_trials():
    trials = pd.DataFrame({"p.a": [0.1, 0.2], "score": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="at least 10"):
        surrogate_path(trials, "score", {"p.a": 0.0}, {"p.a": 1.0})
