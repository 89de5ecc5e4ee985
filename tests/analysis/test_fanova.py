"""fANOVA importance (Optuna's evaluator on a rebuilt study) against known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from analysis.importance import distributions_from_space, fanova_importance

# Ishigami's first-order Sobol' indices (Ishigami & Homma 1990, with a = 7, b = 0.1):
# D = a²/8 + bπ⁴/5 + b²π⁸/18 + 1/2 = 13.8446; S1 = (1 + bπ⁴/5)²/2 / D = 0.3139,
# S2 = a²/8 / D = 0.4424, S3 = 0. fANOVA's normalised main effects estimate S_i / (S1 + S2 + S3).
S1, S2 = 0.3139, 0.4424
NORMALISED = {"p.x1": S1 / (S1 + S2), "p.x2": S2 / (S1 + S2), "p.x3": 0.0}


def test_ishigami_main_effects_match_the_sobol_indices(ishigami_report):
    assert NORMALISED["p.x1"] == pytest.approx(0.415, abs=5e-4)
    assert NORMALISED["p.x2"] == pytest.approx(0.585, abs=5e-4)
    result = ishigami_report.fanova
    got = result.importance.set_index("parameter")

    assert result.n == 1000 and result.seeds == (0, 1, 2, 3, 4)
    assert got["fanova"].sum() == pytest.approx(1.0)
    assert got["fanova"].idxmax() == "p.x2"
    assert got.loc["p.x3", "fanova"] < 0.05
    # Measured, not assumed: with 1,000 random trials Optuna's forest puts x2 at 0.51-0.57 and
    # x1 at 0.41-0.47 over 6 samples of the trials (0.569 for x2 with 4,000 trials): its
    # piecewise-constant trees leak part of sin² x2's variance into interactions, which moves the
    # normalised shares by up to 0.08. The 0.05 tolerance holds in some samples only (not this
    # one: x2 = 0.53), so the bound here is 0.1.
    for p in ("p.x1", "p.x2"):
        assert got.loc[p, "fanova"] == pytest.approx(NORMALISED[p], abs=0.1)
    # seeds agree with each other far more closely than the estimate agrees with the truth
    assert (got["fanova_sd"] < 0.03).all()
    # main effects hold S1 + S2 = 76% of the true variance; the forest's share is its own
    assert 0.5 < result.main_effect_share < 0.8


def test_additive_function_shares_are_coefficient_squared():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 1.0, size=(300, 3))
    table = pd.DataFrame(x, columns=["m.a", "m.b", "m.c"]).assign(value=x @ [3.0, 2.0, 1.0])

    result = fanova_importance(table, ["m.a", "m.b", "m.c"])

    # y = 3a + 2b + c on independent U[0, 1]: no interactions, shares 9 : 4 : 1 of Var = 14/12
    got = result.importance.set_index("parameter")["fanova"]
    np.testing.assert_allclose(got.to_numpy(), np.array([9, 4, 1]) / 14, atol=0.04)
    assert result.main_effect_share > 0.85


def test_distributions_from_a_recorded_space():
    definition = {
        "params": {
            "optim.lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
            "data.max_tiles_per_image": {"type": "int", "low": 1, "high": 24},
            "model.attention.type": {"type": "categorical", "choices": ["esca", "none"]},
            "model.num_queries": {"type": "categorical", "choices": [16, 32, 64]},
            "data.amp": {"type": "categorical", "choices": [True, False]},
            "loss.weights": {
                "type": "simplex",
                "total": 1.0,
                "components": {"boundary": [0.1, 0.3], "query": [0.0, 0.4]},
            },
            "data.stride": {"type": "fraction_of", "of": "data.tile_size", "choices": [0.5]},
        }
    }
    dists = distributions_from_space(definition)

    assert dists["optim.lr"] == FloatDistribution(1e-5, 1e-3, log=True)
    assert dists["data.max_tiles_per_image"] == IntDistribution(1, 24)
    assert dists["model.attention.type"] == CategoricalDistribution(("esca", "none"))
    assert dists["model.num_queries"] == CategoricalDistribution((16, 32, 64))
    assert dists["data.amp"] == CategoricalDistribution(("True", "False"))
    assert dists["loss.weights.boundary"] == FloatDistribution(0.1, 0.3)
    assert dists["loss.weights.query"] == FloatDistribution(0.0, 0.4)
    assert "data.stride" not in dists  # computed values: inferred from the table


def test_mixed_conditional_and_constant_parameters():
    rng = np.random.default_rng(8)
    n = 200
    table = pd.DataFrame(
        {
            "model.attention.type": rng.choice(["esca", "se", "none"], n),
            "data.batch_size": rng.choice([1, 2, 4, 8], n),
            "optim.lr": 10 ** rng.uniform(-5, -3, n),
            "optim.epochs": np.full(n, 12),
        }
    )
    table["model.attention.blocks"] = np.where(
        table["model.attention.type"] == "none", np.nan, rng.choice([1.0, 2.0], n)
    )
    table["value"] = (table["model.attention.type"] == "esca") * 2.0 + table["data.batch_size"]
    params = list(table.columns[:-1])
    # a recorded range narrower than the values seen is widened, not an error
    known = {"data.batch_size": IntDistribution(1, 4)}

    result = fanova_importance(table, params, distributions=known, seeds=(0, 1))

    got = result.importance.set_index("parameter")
    assert np.isnan(got.loc["optim.epochs", "fanova"])  # constant
    assert np.isnan(got.loc["model.attention.blocks", "fanova"])  # conditional
    assert any("model.attention.blocks" in note and "not set" in note for note in result.notes)
    # value = 2·[esca] + batch size: Var 2²·(1/3)(2/3) = 0.89 vs Var{1,2,4,8} = 7.1875
    assert got.loc["data.batch_size", "fanova"] > 0.75
    assert got.loc["model.attention.type", "fanova"] == pytest.approx(0.89 / 8.08, abs=0.05)
    assert got.loc["optim.lr", "fanova"] < 0.03


def test_seeded_and_reproducible():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(80, 2))
    table = pd.DataFrame(x, columns=["p.a", "p.b"]).assign(value=x[:, 0] + 0.3 * x[:, 1] ** 2)

    first = fanova_importance(table, ["p.a", "p.b"], seeds=(3, 4))
    second = fanova_importance(table, ["p.a", "p.b"], seeds=(3, 4))

    pd.testing.assert_frame_equal(first.importance, second.importance)
    assert first.main_effect_share == second.main_effect_share
    assert (first.importance["fanova_sd"] > 0).all()  # different forests per seed


def test_too_little_to_assess_gives_nan_with_a_note():
    table = pd.DataFrame({"p.a": [1.0, 2.0, 3.0], "value": [5.0, 5.0, 5.0]})
    result = fanova_importance(table, ["p.a"])
    assert result.importance["fanova"].isna().all()
    assert any("same in every trial" in note for note in result.notes)

    many = pd.DataFrame({"p.a": np.arange(50.0), "value": np.arange(50.0) ** 2})
    result = fanova_importance(many, ["p.a"], seeds=(0,), max_trials=20)
    assert result.n == 20 and any("random 20 of the 50" in note for note in result.notes)
    assert result.importance["fanova"].iloc[0] == pytest.approx(1.0)
