"""Importance against answers known exactly (issue 13's "done when"), and against statsmodels.

Ishigami (a = 7, b = 0.1, x ~ U[-π, π]³): first-order Sobol indices 0.314, 0.442, 0 and an
x1·x3 interaction (Ishigami & Homma 1990; Saltelli et al., *Global Sensitivity Analysis*, 2008).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from patsy import bs  # noqa: F401 - the formulas below call it
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.multitest import multipletests

from analysis.importance import RELIABLE_PER_PARAM, estimate_importance

A, B = 7.0, 0.1
_V = A**2 / 8 + B * np.pi**4 / 5 + B**2 * np.pi**8 / 18 + 0.5
TRUTH = {
    "x1": 0.5 * (1 + B * np.pi**4 / 5) ** 2 / _V,
    "x2": A**2 / 8 / _V,
    "x3": 0.0,
}
NAMES = list(TRUTH)
SPACE = {"params": {p: {"type": "float", "low": -np.pi, "high": np.pi} for p in NAMES}}


def ishigami_table(n: int, seed: int, noise: float = 0.0, extra: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, (n, 3 + extra))
    y = np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])
    table = pd.DataFrame(x[:, :3], columns=NAMES)
    for j in range(extra):
        table[f"null{j}"] = x[:, 3 + j]
    table["value"] = y + rng.normal(0, noise, n)
    return table


@pytest.fixture(scope="module")
def at_200():
    return [
        estimate_importance(ishigami_table(200, seed), NAMES, definition=SPACE, seed=seed)
        for seed in range(5)
    ]


@pytest.mark.parametrize("method", ["anova", "fanova"])
def test_ishigami_at_200_ranks_x2_x1_x3_and_is_within_010(at_200, method):
    ranked_right = 0
    for est in at_200:
        shares = est.effects.set_index("parameter")[method].astype(float)
        ranked_right += list(shares.sort_values(ascending=False).index) == ["x2", "x1", "x3"]
        for p in NAMES:
            assert abs(shares[p] - TRUTH[p]) <= 0.10, (method, p, shares[p])
    assert ranked_right >= 4


@pytest.mark.parametrize("method", ["anova", "fanova"])
def test_ishigami_90_percent_intervals_cover_the_truth_at_200(at_200, method):
    covered = 0
    for est in at_200:
        rows = est.effects.set_index("parameter")
        for p in NAMES:
            lo, hi = rows.loc[p, f"{method}_lo"], rows.loc[p, f"{method}_hi"]
            assert lo <= rows.loc[p, method] + 1e-12 <= hi + 2e-12 or method == "anova"
            covered += bool(lo - 1e-12 <= TRUTH[p] <= hi + 1e-12)
    assert covered >= 12  # 80% of 5 seeds x 3 parameters


def test_ishigami_finds_the_x1_x3_interaction_at_200_holm_adjusted(at_200):
    for est in at_200:
        inter = est.interactions
        assert len(inter) == 3
        top = inter.sort_values("share", ascending=False).iloc[0]
        assert {top["a"], top["b"]} == {"x1", "x3"}
        assert top["p_holm"] < 0.001 and top["share_lo"] > 0.05
        # Holm is statsmodels' Holm over the pairs tested
        expected = multipletests(inter["p"].to_numpy(dtype=float), method="holm")[1]
        np.testing.assert_allclose(inter["p_holm"].to_numpy(dtype=float), expected)


@pytest.mark.parametrize("n", [1000, 4000])
@pytest.mark.slow
def test_ishigami_within_005_at_1000_and_4000(n):
    for seed in range(5):
        est = estimate_importance(
            ishigami_table(n, seed), NAMES, definition=SPACE, bootstrap=0, seed=seed
        )
        rows = est.effects.set_index("parameter")
        for method in ("anova", "fanova"):
            for p in NAMES:
                assert abs(rows.loc[p, method] - TRUTH[p]) <= 0.05, (n, seed, method, p)


@pytest.mark.parametrize("n", [50, 100, 200])
@pytest.mark.slow
def test_a_parameter_without_effect_gets_an_interval_reaching_zero(n):
    for seed in range(5):
        table = ishigami_table(n, seed, noise=1.0, extra=1)
        est = estimate_importance(table, [*NAMES, "null0"], bootstrap=200, seed=seed)
        row = est.effects.set_index("parameter").loc["null0"]
        assert row["anova_lo"] < 0.02, (n, seed, row.to_dict())
        if np.isfinite(row["fanova"]):
            assert row["fanova_lo"] < 0.02, (n, seed, row.to_dict())


@pytest.mark.slow
def test_interaction_false_positives_are_rare_after_holm():
    """A function whose pairs share at most 0.002: no Holm-adjusted p < .05 in 9 runs of 6
    parameters (3 pairs tested each)."""
    hits = 0
    for seed in range(9):
        rng = np.random.default_rng(100 + seed)
        x = rng.uniform(0, 1, (150, 6))
        y = 2 * x[:, 0] + np.sin(6 * x[:, 1]) + x[:, 2] ** 2 + 0.1 * x[:, 0] * x[:, 1]
        table = pd.DataFrame(x, columns=[f"p{i}" for i in range(6)])
        table["value"] = y + rng.normal(0, 0.5, len(y))
        est = estimate_importance(table, list(table.columns[:6]), bootstrap=0, seed=seed)
        hits += int((est.interactions["p_holm"] < 0.05).sum())
    assert hits <= 1


def test_main_effects_match_statsmodels_type_ii_on_the_same_splines():
    """F, p and the share's parts equal statsmodels' anova_lm(typ=2) fitted on the same basis."""
    table = ishigami_table(300, 7)
    est = estimate_importance(
        table, NAMES, definition=SPACE, bootstrap=0, interactions=0, spline_df=5
    )
    terms = []
    for p in NAMES:  # the basis the estimator uses: df 5 → cubic with 2 interior knots
        knots = [float(k) for k in np.quantile(table[p], [1 / 3, 2 / 3])]
        terms.append(f"bs({p}, knots={knots}, degree=3, lower_bound={-np.pi}, upper_bound={np.pi})")
    fit = ols("value ~ " + " + ".join(terms), data=table).fit()
    ref = anova_lm(fit, typ=2)
    mse = ref.loc["Residual", "sum_sq"] / ref.loc["Residual", "df"]
    sst = float(((table["value"] - table["value"].mean()) ** 2).sum())
    rows = est.effects.set_index("parameter")
    for p, term in zip(NAMES, terms, strict=True):
        assert rows.loc[p, "df"] == ref.loc[term, "df"] == 5
        assert rows.loc[p, "anova_F"] == pytest.approx(ref.loc[term, "F"], rel=1e-6)
        expected_p = ref.loc[term, "PR(>F)"]
        assert rows.loc[p, "anova_p"] == pytest.approx(expected_p, rel=1e-5, abs=1e-300)
        share = max(ref.loc[term, "sum_sq"] - 5 * mse, 0) / sst
        assert rows.loc[p, "anova"] == pytest.approx(share, rel=1e-6, abs=1e-12)


def test_gcv_bends_for_a_periodic_effect_and_stays_straight_for_a_line():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (200, 2))
    line = pd.DataFrame(x, columns=["a", "b"]).assign(value=3 * x[:, 0] + rng.normal(0, 0.1, 200))
    wave = line.assign(value=np.sin(4 * np.pi * x[:, 0]) + rng.normal(0, 0.1, 200))
    assert estimate_importance(line, ["a", "b"], bootstrap=0).spline_df <= 2
    bent = estimate_importance(wave, ["a", "b"], bootstrap=0)
    assert bent.spline_df >= 6
    assert bent.effects.set_index("parameter").loc["a", "anova"] > 0.9


def test_rank_probabilities_are_high_for_a_clear_order_and_honest_for_a_tie():
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (120, 3))
    y = 3 * x[:, 0] + x[:, 1] + x[:, 2] + rng.normal(0, 0.3, 120)  # b and c tie
    table = pd.DataFrame(x, columns=["a", "b", "c"]).assign(value=y)
    rows = estimate_importance(table, ["a", "b", "c"], seed=1).effects.set_index("parameter")
    assert rows.loc["a", "anova_rank"] == 1 and rows.loc["a", "anova_rank_prob"] > 0.95
    for p in ("b", "c"):
        assert 0.2 < rows.loc[p, "anova_rank_prob"] < 0.8


def test_small_samples_are_flagged_and_fanova_refuses_below_its_floor():
    est = estimate_importance(ishigami_table(14, 0), NAMES, definition=SPACE, seed=0)
    assert not est.reliable and len(NAMES) * RELIABLE_PER_PARAM > 14
    assert est.effects["fanova"].isna().all() and "fANOVA needs" in est.fanova_refused
    assert any("trials per parameter" in n for n in est.notes)
    enough = estimate_importance(ishigami_table(60, 0), NAMES, definition=SPACE, bootstrap=0)
    assert enough.reliable and enough.effects["fanova"].notna().all()


def test_a_simplex_is_ranked_on_its_independent_draws():
    """Weights that sum to 1 are collinear; their draws are not: each component gets a share,
    and the one that drives the outcome ranks first."""
    rng = np.random.default_rng(11)
    n = 150
    u = rng.uniform(1e-9, 1, (n, 3))
    e = -np.log(u)
    w = e / e.sum(axis=1, keepdims=True)
    comps = ["w.a", "w.b", "w.c"]
    table = pd.DataFrame(w, columns=comps)
    for j, c in enumerate(comps):
        table[f"raw.{c}~u"] = u[:, j]
    table["value"] = 2 * w[:, 0] + rng.normal(0, 0.05, n)
    space = {"params": {"w": {"type": "simplex", "total": 1.0, "components": {
        "a": [0, 1], "b": [0, 1], "c": [0, 1]}}}}  # fmt: skip
    est = estimate_importance(table, comps, definition=space, seed=0)
    rows = est.effects.set_index("parameter")
    assert not rows["treatment"].str.startswith("dropped").any()
    assert rows["treatment"].str.contains("simplex draw").all()
    assert rows["anova"].idxmax() == "w.a" and rows.loc["w.a", "anova_rank_prob"] > 0.9
    assert any("simplex components" in n for n in est.notes)


def test_numeric_grid_without_a_range_is_a_number_not_a_category():
    """A 6 x 6 x 8 grid imported without a space: shares follow the known effect sizes."""
    a, b, c = np.meshgrid(np.linspace(0, 1, 6), np.linspace(0, 1, 6), np.linspace(0, 1, 8))
    a, b, c = a.ravel(), b.ravel(), c.ravel()
    y = 3 * a + np.sqrt(0.1 / 0.9) * 3 * b  # variance shares 0.9 and 0.1 (equal variances)
    table = pd.DataFrame({"a": a, "b": b, "c": c, "value": y})
    est = estimate_importance(table, ["a", "b", "c"], bootstrap=0)
    rows = est.effects.set_index("parameter")
    assert rows.loc["a", "anova"] == pytest.approx(0.9, abs=0.02)
    assert rows.loc["b", "anova"] == pytest.approx(0.1, abs=0.02)
    assert rows.loc["b", "fanova"] == pytest.approx(0.1, abs=0.03)
    assert rows.loc["c", "anova"] < 0.01
    assert any("no recorded range" in n for n in est.notes)
