"""Classical ANOVA importance against known answers and an independent statsmodels computation."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

from analysis import choose_fidelity, load_experiment
from analysis.importance import anova_importance, group_of
from search_spaces import ConfigError

X = ["p.x1", "p.x2", "p.x3"]


@pytest.fixture(scope="module")
def ishigami_table(ishigami_dir):
    return choose_fidelity(load_experiment(ishigami_dir)).table


def _binned_shares(k: int) -> tuple[float, float]:
    """Analytic eta² of x1 and x2 with k equal-probability bins of U[-π, π].

    The main effect of x1 is (1 + 0.1·E[x3⁴]) sin x1 with E[x3⁴] = π⁴/5; that of x2 is 7 sin² x2.
    Binning keeps the variance of their bin means. Total variance D = 7²/8 + 0.1π⁴/5 +
    0.1²π⁸/18 + 1/2 (Ishigami & Homma 1990; Sobol' indices S1 = 0.3139, S2 = 0.4424).
    """
    total = 49 / 8 + 0.1 * np.pi**4 / 5 + 0.01 * np.pi**8 / 18 + 0.5
    edges = np.linspace(-np.pi, np.pi, k + 1)
    a, b = edges[:-1], edges[1:]
    mean_sin = (np.cos(a) - np.cos(b)) / (b - a)
    mean_sin2 = 0.5 - (np.sin(2 * b) - np.sin(2 * a)) / (4 * (b - a))
    c1 = 1 + 0.1 * np.pi**4 / 5
    return c1**2 * mean_sin.var() / total, 49 * mean_sin2.var() / total


def test_ishigami_with_enough_bins_ranks_x2_first_and_finds_the_x1_x3_interaction(
    ishigami_table,
):
    # 12 quantile bins (width π/6). 8 bins also resolve sin² x2, but keep only 0.359 of the
    # variance for x2 against 0.298 for x1: with 1,000 trials the two estimates (sd ≈ 0.02 each)
    # come out tied in some samples (0.319 vs 0.320 in this one); 12 bins keep 0.403 vs 0.307.
    bins = 12
    x1_share, x2_share = _binned_shares(bins)
    assert (round(x1_share, 3), round(x2_share, 3)) == (0.307, 0.403)
    result = anova_importance(ishigami_table, X, bins=bins, interactions=3, bootstrap=50)
    effects = result.effects.set_index("parameter")

    assert (effects["treatment"] == f"binned({bins})").all()
    assert effects["eta2"].idxmax() == "p.x2"
    assert effects.loc["p.x1", "eta2"] == pytest.approx(x1_share, abs=0.04)
    assert effects.loc["p.x2", "eta2"] == pytest.approx(x2_share, abs=0.04)
    # x3 acts only through its interaction with x1: its main effect is zero
    assert effects.loc["p.x3", "eta2"] < 0.01
    assert effects.loc["p.x3", "p"] > 0.05
    assert effects.loc["p.x1", "p"] < 1e-6 and effects.loc["p.x2", "p"] < 1e-6
    top = result.interactions.iloc[0]
    assert {top["a"], top["b"]} == {"p.x1", "p.x3"} and top["p"] < 1e-6
    assert result.interactions["eta2"].iloc[0] > 3 * result.interactions["eta2"].iloc[1]
    assert len(result.interactions) == 3
    # the bootstrap interval brackets every estimate
    assert (effects["eta2_lo"] <= effects["eta2"]).all()
    assert (effects["eta2"] <= effects["eta2_hi"]).all()


def test_ishigami_with_4_quartile_bins_sees_no_x2_effect(ishigami_table):
    # Quartile bins of [-π, π] are [-π, -π/2], …, each of length π/2 = half of sin²'s period:
    # sin² x2 averages 1/2 in every one of them, so the bin means are equal.
    x1_share, x2_share = _binned_shares(4)
    assert x2_share < 1e-12
    result = anova_importance(ishigami_table, X, bins=4, interactions=0, bootstrap=0)
    eta = result.effects.set_index("parameter")["eta2"]

    assert eta["p.x2"] < 0.01
    assert eta["p.x1"] == pytest.approx(x1_share, abs=0.03)
    assert result.binned_r2 < 0.35  # the function's main effects explain 75.6% (S1 + S2)


def test_linear_model_on_a_balanced_grid_matches_the_analytic_shares():
    rng = np.random.default_rng(7)
    levels = np.linspace(0.0, 1.0, 5)
    grid = np.array(list(itertools.product(levels, levels, levels)) * 4)  # 500 trials
    coef, sigma = np.array([3.0, 2.0, 1.0]), 0.3
    y = grid @ coef + rng.normal(0.0, sigma, len(grid))
    table = pd.DataFrame(grid, columns=["m.a", "m.b", "m.c"]).assign(value=y)

    result = anova_importance(table, ["m.a", "m.b", "m.c"], bootstrap=0)

    # Var of 5 equally spaced levels on [0, 1] (population): 0.125. Share of parameter i:
    # coef_i² · 0.125 / (Σ coef² · 0.125 + σ²) = 1.125, 0.5, 0.125 over 1.84.
    var_level = levels.var()
    total = (coef**2).sum() * var_level + sigma**2
    analytic = coef**2 * var_level / total
    np.testing.assert_allclose(analytic, [1.125 / 1.84, 0.5 / 1.84, 0.125 / 1.84])
    effects = result.effects.set_index("parameter")
    assert (effects["treatment"] == "grid").all()
    np.testing.assert_allclose(effects["eta2"].to_numpy(), analytic, atol=0.03)


def _mixed_frame(n: int = 300, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "optim.lr": 10 ** rng.uniform(-5, -3, n),
            "model.attention.type": rng.choice(["esca", "cbam", "se", "none"], n),
            "data.batch_size": rng.choice([1, 2, 4, 8], n),
        }
    )
    frame["value"] = (
        np.log10(frame["optim.lr"])
        + frame["model.attention.type"].map({"esca": 0.5, "cbam": 0.2, "se": 0.0, "none": -0.4})
        + 0.05 * frame["data.batch_size"]
        + 0.3 * (frame["data.batch_size"] > 2) * (frame["model.attention.type"] == "none")
        + rng.normal(0, 0.3, n)
    )
    return frame


def test_figures_equal_an_independent_statsmodels_computation():
    frame = _mixed_frame()
    params = ["optim.lr", "model.attention.type", "data.batch_size"]
    result = anova_importance(frame, params, bins=4, interactions=1, bootstrap=0)

    # the same model written by hand: lr in 4 quantile bins, the others as factors
    ref = pd.DataFrame(
        {
            "lr": pd.qcut(frame["optim.lr"], 4, labels=False),
            "att": frame["model.attention.type"],
            "bs": frame["data.batch_size"],
            "y": frame["value"],
        }
    )
    fit = ols("y ~ C(lr) + C(att) + C(bs)", data=ref).fit()
    table = anova_lm(fit, typ=2)
    ss_total = ((ref["y"] - ref["y"].mean()) ** 2).sum()
    effects = result.effects.set_index("parameter")
    for param, term in zip(params, ["C(lr)", "C(att)", "C(bs)"], strict=True):
        row = effects.loc[param]
        assert row["sum_sq"] == pytest.approx(table.loc[term, "sum_sq"], rel=1e-9)
        assert row["df"] == table.loc[term, "df"]
        assert row["F"] == pytest.approx(table.loc[term, "F"], rel=1e-9)
        assert row["p"] == pytest.approx(table.loc[term, "PR(>F)"], rel=1e-6, abs=1e-300)
        assert row["eta2"] == pytest.approx(table.loc[term, "sum_sq"] / ss_total, rel=1e-9)
        ss_resid = table.loc["Residual", "sum_sq"]
        partial = table.loc[term, "sum_sq"] / (table.loc[term, "sum_sq"] + ss_resid)
        assert row["partial_eta2"] == pytest.approx(partial, rel=1e-9)
    assert result.binned_r2 == pytest.approx(fit.rsquared, rel=1e-12)
    assert list(effects["treatment"]) == ["binned(4)", "categorical", "grid"]

    # the top pair by summed eta² (lr and attention), in a model with every main effect
    pair = result.interactions.iloc[0]
    assert {pair["a"], pair["b"]} == {"optim.lr", "model.attention.type"}
    fit2 = ols("y ~ C(lr) + C(att) + C(bs) + C(lr):C(att)", data=ref).fit()
    table2 = anova_lm(fit2, typ=2)
    assert pair["sum_sq"] == pytest.approx(table2.loc["C(lr):C(att)", "sum_sq"], rel=1e-7)
    assert pair["df"] == table2.loc["C(lr):C(att)", "df"]
    assert pair["F"] == pytest.approx(table2.loc["C(lr):C(att)", "F"], rel=1e-7)
    assert pair["p"] == pytest.approx(table2.loc["C(lr):C(att)", "PR(>F)"], rel=1e-6)
    assert pair["eta2"] == pytest.approx(table2.loc["C(lr):C(att)", "sum_sq"] / ss_total)


def test_bootstrap_interval_equals_refits_on_resampled_trials():
    frame = _mixed_frame(n=200, seed=5)
    params = ["optim.lr", "model.attention.type", "data.batch_size"]
    draws, seed = 40, 11
    result = anova_importance(frame, params, bins=4, interactions=0, bootstrap=draws, seed=seed)

    # Independent: resample rows with the same generator, refit statsmodels on each resample.
    # Bins are those of the full sample: a bin is a property of the trial, not of the resample.
    ref = pd.DataFrame(
        {
            "lr": pd.qcut(frame["optim.lr"], 4, labels=False),
            "att": frame["model.attention.type"],
            "bs": frame["data.batch_size"],
            "y": frame["value"],
        }
    )
    rng = np.random.default_rng(seed)
    eta = []
    for _ in range(draws):
        sample = ref.iloc[rng.integers(0, len(ref), len(ref))]
        table = anova_lm(ols("y ~ C(lr) + C(att) + C(bs)", data=sample).fit(), typ=2)
        ss_total = ((sample["y"] - sample["y"].mean()) ** 2).sum()
        eta.append(table["sum_sq"].iloc[:3].to_numpy() / ss_total)
    lo, hi = np.percentile(np.array(eta), [2.5, 97.5], axis=0)
    effects = result.effects.set_index("parameter").loc[params]
    np.testing.assert_allclose(effects["eta2_lo"], lo, rtol=1e-6)
    np.testing.assert_allclose(effects["eta2_hi"], hi, rtol=1e-6)
    again = anova_importance(frame, params, bins=4, interactions=0, bootstrap=draws, seed=seed)
    pd.testing.assert_frame_equal(result.effects, again.effects)


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")  # the reference fit
def test_constant_aliased_and_conditional_columns_are_handled_with_notes():
    rng = np.random.default_rng(1)
    n = 120
    frame = pd.DataFrame(
        {
            "model.attention.type": rng.choice(["esca", "se", "none"], n),
            "data.tile_size": rng.choice([256, 384, 512], n),
            "optim.epochs": np.full(n, 12),
        }
    )
    # data.stride = 0.75 · tile size: the same grouping of trials as tile size
    frame["data.stride"] = frame["data.tile_size"] * 3 // 4
    # blocks exists only where attention is on: its "not set" level repeats attention = none
    frame["model.attention.blocks"] = np.where(
        frame["model.attention.type"] == "none", np.nan, rng.choice([1.0, 2.0, 3.0], n)
    )
    frame["value"] = (
        (frame["data.tile_size"] / 256)
        + (frame["model.attention.type"] == "esca")
        + 0.5 * frame["model.attention.blocks"].fillna(0)
        + rng.normal(0, 0.1, n)
    )
    params = list(frame.columns[:-1])

    result = anova_importance(frame, params, bootstrap=20)

    effects = result.effects.set_index("parameter")
    assert effects.loc["optim.epochs", "treatment"] == "dropped: constant"
    assert effects.loc["data.stride", "treatment"] == "dropped: aliased with data.tile_size"
    assert np.isnan(effects.loc["optim.epochs", "eta2"])
    assert np.isnan(effects.loc["data.stride", "eta2"])
    notes = " ".join(result.notes)
    assert "optim.epochs takes one value (12) in every trial used: dropped" in notes
    assert "data.stride is aliased with data.tile_size" in notes
    assert "'not set' is one more level" in notes
    assert "model.attention.blocks is partly confounded" in notes and "2 of its 3" in notes
    # the confounded factor is tested on the degrees of freedom it really has: 2 (1, 2, 3 among
    # the trials with attention on); compare with the model without it, fitted here directly
    ref = pd.DataFrame(
        {
            "att": frame["model.attention.type"],
            "tile": frame["data.tile_size"],
            "blocks": frame["model.attention.blocks"].fillna(0).astype(int),
            "y": frame["value"],
        }
    )
    full = ols("y ~ C(att) + C(tile) + C(blocks)", data=ref).fit()
    reduced = ols("y ~ C(att) + C(tile)", data=ref).fit()
    comparison = anova_lm(reduced, full)
    assert effects.loc["model.attention.blocks", "df"] == 2
    assert effects.loc["model.attention.blocks", "sum_sq"] == pytest.approx(
        comparison["ss_diff"].iloc[1], rel=1e-8
    )
    assert effects.loc["model.attention.blocks", "F"] == pytest.approx(
        comparison["F"].iloc[1], rel=1e-8
    )
    assert effects.loc["data.tile_size", "eta2"] > 0.1


def test_too_few_trials_give_nan_and_a_note_not_an_exception():
    frame = pd.DataFrame({"p.a": [1.0, 2.0], "p.b": ["x", "y"], "value": [0.1, 0.2]})
    result = anova_importance(frame, ["p.a", "p.b"])
    assert result.effects["eta2"].isna().all()
    assert any("too few trials for ANOVA: 2" in note for note in result.notes)

    # 8 trials and 2 factors of 4 levels: intercept + 6 degrees of freedom need 9 trials
    frame = pd.DataFrame(
        {
            "p.a": [1, 2, 3, 4, 1, 2, 3, 4],
            "p.b": ["w", "x", "y", "z", "x", "y", "z", "w"],
            "value": np.arange(8.0),
        }
    )
    result = anova_importance(frame, ["p.a", "p.b"])
    assert result.effects["eta2"].isna().all() and np.isnan(result.binned_r2)
    assert any("need at least 9" in note for note in result.notes)


def test_bad_settings_are_config_errors():
    frame = _mixed_frame(n=30)
    with pytest.raises(ConfigError, match="--bins must be >= 2, got 1"):
        anova_importance(frame, ["optim.lr"], bins=1)
    with pytest.raises(ConfigError, match="got -1 and 200"):
        anova_importance(frame, ["optim.lr"], interactions=-1)


def test_groups_sum_eta2_by_prefix():
    assert group_of("loss.weights.boundary") == "loss weights"
    assert group_of("optim.onecycle.pct_start") == "onecycle"
    assert group_of("optim.lr") == "optim"
    assert group_of("model.attention.type", {"model.attention": "attention"}) == "attention"
    assert group_of("optim.lr", {"optim.lr": "learning rate"}) == "learning rate"

    rng = np.random.default_rng(4)
    n = 400
    grid = [0.1, 0.2, 0.3]
    frame = pd.DataFrame(
        {
            "loss.weights.boundary": rng.choice(grid, n),
            "loss.weights.soft_dice": rng.choice(grid, n),
            "optim.lr": rng.choice([1e-4, 1e-3], n),
        }
    )
    frame["value"] = (
        frame["loss.weights.boundary"] + frame["loss.weights.soft_dice"] + rng.normal(0, 0.05, n)
    )
    result = anova_importance(frame, list(frame.columns[:-1]), bootstrap=30)
    eta = result.effects.set_index("parameter")["eta2"]
    groups = result.groups.set_index("group")
    assert groups.loc["loss weights", "eta2"] == pytest.approx(
        eta["loss.weights.boundary"] + eta["loss.weights.soft_dice"]
    )
    assert groups.loc["optim", "eta2"] == pytest.approx(eta["optim.lr"])
    assert groups.index[0] == "loss weights"
    assert groups.loc["loss weights", "eta2_lo"] <= groups.loc["loss weights", "eta2"]


def test_a_nearly_saturated_model_gives_no_bootstrap_interval_rather_than_zero():
    # 24 trials, 7 parameters x 4 bins = 22 columns: every resample (about 15 distinct trials)
    # fits perfectly, so its eta² are all 0. That says nothing about eta²: no interval, a note.
    rng = np.random.default_rng(0)
    params = [f"w.p{i}" for i in range(7)]
    frame = pd.DataFrame(rng.uniform(size=(24, 7)), columns=params)
    frame["value"] = frame["w.p0"] + rng.normal(0, 0.1, 24)
    result = anova_importance(frame, params, bins=4, interactions=0, bootstrap=50, seed=1)
    eff = result.effects.set_index("parameter")
    assert eff["eta2"].notna().all()
    assert eff["eta2_lo"].isna().all() and eff["eta2_hi"].isna().all()
    assert any("no bootstrap interval" in note for note in result.notes)


def test_type2_ss_of_an_ill_conditioned_resample_equals_the_least_squares_refits():
    """A resample that nearly loses a level makes X'X ill conditioned: the Wald shortcut would
    divide by a block of the inverse with no digits left (CI once died of "Singular matrix"
    here). The SS must then come from the least-squares refits and be finite."""
    from analysis.importance._factors import _drop_one_ss, _fit_term

    rng = np.random.default_rng(3)
    n = 40
    a = rng.integers(0, 2, n).astype(float)
    x = np.column_stack([np.ones(n), a, a + 1e-9 * rng.standard_normal(n), rng.normal(size=n)])
    y = 2.0 * a + x[:, 3] + rng.normal(size=n)
    gram, xty = x.T @ x, x.T @ y
    assert np.linalg.cond(gram) > 1e12
    slices = [slice(1, 3), slice(3, 4)]
    ss = _drop_one_ss(gram, xty, slices)
    everything = np.arange(4)
    full = _fit_term(gram, xty, everything)
    expected = [
        full - _fit_term(gram, xty, np.setdiff1d(everything, np.arange(s.start, s.stop)))
        for s in slices
    ]
    assert np.isfinite(ss).all()
    np.testing.assert_allclose(ss, expected, rtol=1e-6)
    # and the factor a carries its real effect
    assert ss[0] > 10.0  # noise alone would give about 2 (a chi-squared on 2 d.f.)


def test_type2_ss_of_a_well_conditioned_design_matches_statsmodels():
    import pandas as pd
    import statsmodels.api as sm
    from statsmodels.formula.api import ols

    from analysis.importance._factors import _drop_one_ss

    rng = np.random.default_rng(4)
    n = 60
    frame = pd.DataFrame({"a": rng.integers(0, 3, n), "b": rng.integers(0, 2, n)})
    frame["y"] = frame["a"] * 0.7 - frame["b"] + rng.normal(size=n)
    x = np.column_stack([np.ones(n), frame["a"] == 1, frame["a"] == 2, frame["b"] == 1]).astype(
        float
    )
    ss = _drop_one_ss(x.T @ x, x.T @ frame["y"].to_numpy(), [slice(1, 3), slice(3, 4)])
    table = sm.stats.anova_lm(ols("y ~ C(a) + C(b)", frame).fit(), typ=2)
    np.testing.assert_allclose(ss, table["sum_sq"].iloc[:2].to_numpy(), rtol=1e-9)
