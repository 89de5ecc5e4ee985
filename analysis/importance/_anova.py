"""Classical ANOVA importance: the share of the outcome's variance explained by each parameter.

Each parameter becomes a factor (categorical values as levels; a numeric parameter with few
distinct values as a "grid" of its values; otherwise quantile bins), and an ordinary least-squares
model with every main effect is fitted (statsmodels ``ols``). Type-II sums of squares
(``anova_lm(typ=2)``) give each factor's sum of squares after all the other factors, so with
correlated or unbalanced trials a share of variance that two parameters explain together is
credited to neither. eta² = SS_factor / SS_total is reported as "% of performance variance";
partial eta² = SS_factor / (SS_factor + SS_residual) is the share among what the other factors
leave unexplained. The analysis of variance is R. A. Fisher's (*Statistical Methods for Research
Workers*, 1925); eta² and partial eta² follow Cohen (*Statistical Power Analysis*, 1988); type-II
sums of squares follow Langsrud ("ANOVA for unbalanced data: use type II instead of type III sums
of squares", Statistics and Computing 13, 2003).

What ANOVA measures, and where it disagrees with fANOVA (Hutter, Hoos & Leyton-Brown, "An
Efficient Approach for Assessing Hyperparameter Importance", ICML 2014): ANOVA explains the outcome
by the MEANS of the factor levels, i.e. by a step function with one step per bin. Structure inside a
bin is lost: sin²(x) on [-π, π] has the same mean in each of 4 quartile bins, so 4-bin ANOVA sees no
effect at all where fANOVA (a random forest, marginalised over the whole space) sees most of the
variance. Conversely ANOVA weighs the trials as sampled (a TPE search crowds good regions), while
fANOVA integrates the forest uniformly over the space, so a parameter that matters only in rarely
sampled regions counts more for fANOVA. Type-II credits shared variance to no one; fANOVA splits
variance into main effects and interactions of the forest's function.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from statsmodels.api import OLS
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm
from statsmodels.tools.sm_exceptions import SingularMatrixWarning

from analysis.importance._factors import Factors, bootstrap_eta2, factorise
from search_spaces import ConfigError

try:  # installed with scikit-learn, which Optuna's fANOVA needs anyway
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    threadpool_limits = None

__all__ = ["DEFAULT_GROUPS", "AnovaResult", "anova_importance", "group_of", "one_blas_thread"]

# prefixes whose parameters are reported together; any other parameter by its first section
DEFAULT_GROUPS: dict[str, str] = {"loss.weights": "loss weights", "optim.onecycle": "onecycle"}

_EFFECT_COLUMNS = [
    "parameter",
    "group",
    "treatment",
    "levels",
    "df",
    "sum_sq",
    "eta2",
    "eta2_lo",
    "eta2_hi",
    "partial_eta2",
    "F",
    "p",
]
_PAIR_COLUMNS = ["a", "b", "df", "sum_sq", "eta2", "F", "p"]
_SHARED_NOTE = 0.05


@dataclass(frozen=True, eq=False)
class AnovaResult:
    """ANOVA importance of every parameter.

    Attributes:
        effects: one row per parameter (in the order given): ``parameter``, ``group``,
            ``treatment`` ("categorical", "grid", "binned(k)", or why it was dropped), ``levels``,
            ``df``, ``sum_sq``, ``eta2`` with its bootstrap interval ``eta2_lo``/``eta2_hi``,
            ``partial_eta2``, ``F``, ``p``; NaN where a parameter was dropped.
        interactions: ``a``, ``b``, ``df``, ``sum_sq``, ``eta2``, ``F``, ``p`` for the pairs tested.
        groups: ``group``, ``eta2`` (sum over its parameters), ``eta2_lo``, ``eta2_hi``.
        binned_r2: R² of the main-effects model on the factors (NaN when it was not fitted).
        n: trials used.
        ss_total: total sum of squares of the outcome.
        residual_df: residual degrees of freedom of the main-effects model.
        notes: what was dropped, merged or could not be estimated, and why.
        unavailable: why no share could be estimated at all (a short phrase for the table's
            cells), or ``None`` when the model was fitted.
        shared: ``binned_r2`` minus the sum of the eta²: variance the model explains that
            type-II sums of squares credit to no single parameter (correlated parameters).
    """

    effects: pd.DataFrame
    interactions: pd.DataFrame
    groups: pd.DataFrame
    binned_r2: float
    n: int
    ss_total: float
    residual_df: float
    notes: list[str] = field(default_factory=list)
    shared: float = float("nan")
    unavailable: str | None = None


def group_of(param: str, groups: Mapping[str, str] | None = None) -> str:
    """The group a parameter is reported in: the longest matching prefix, else its first section.

    ``groups`` maps a dotted prefix (or a full parameter name) to a group name and takes
    precedence over :data:`DEFAULT_GROUPS`.
    """
    for mapping in (groups or {}, DEFAULT_GROUPS):
        hits = [k for k in mapping if param == k or param.startswith(k.rstrip(".") + ".")]
        if hits:
            return mapping[max(hits, key=len)]
    return param.split(".", 1)[0]


def one_blas_thread() -> AbstractContextManager:
    """Run BLAS on one thread: for these small matrices its threads cost more than they save,
    and on a busy machine they stall (an SVD of 1000 × 400 took 0.5 s on two threads, 0.03 s on
    one)."""
    return threadpool_limits(1, user_api="blas") if threadpool_limits else nullcontext()


def anova_importance(
    table: pd.DataFrame,
    params: Sequence[str],
    value: str = "value",
    bins: int = 4,
    interactions: int = 3,
    bootstrap: int = 200,
    seed: int = 0,
    groups: Mapping[str, str] | None = None,
) -> AnovaResult:
    """Type-II ANOVA of ``value`` on the parameters, with interactions, groups and intervals.

    Args:
        table: one row per trial.
        params: parameter columns to analyse.
        value: the outcome column.
        bins: quantile bins for numeric parameters with more than ``2 * bins`` distinct values.
        interactions: how many two-way interactions to test: the pairs with the largest summed
            main-effect eta², fitted together in a second model (main effects + pair terms).
        bootstrap: resamples of the trials for the 95% percentile interval of each eta²
            (0: no interval).
        seed: seed of the resampling.
        groups: prefix → group name, overriding :data:`DEFAULT_GROUPS`.

    Returns:
        The result; parameters that cannot be estimated get NaN and a note, never an exception.
    """
    with one_blas_thread():
        unique = list(dict.fromkeys(params))
        return _anova(table, unique, value, bins, interactions, bootstrap, seed, groups)


def _anova(
    table: pd.DataFrame,
    params: list[str],
    value: str,
    bins: int,
    interactions: int,
    bootstrap: int,
    seed: int,
    groups: Mapping[str, str] | None,
) -> AnovaResult:
    if bins < 2:
        raise ConfigError(f"--bins must be >= 2, got {bins}")
    if interactions < 0 or bootstrap < 0:
        raise ConfigError(
            f"--interactions and --bootstrap must be >= 0, got {interactions} and {bootstrap}"
        )
    y = pd.to_numeric(table[value], errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(y)
    frame = table.loc[finite].reset_index(drop=True)
    y = y[finite]
    notes: list[str] = []
    if (~finite).any():
        notes.append(f"{int((~finite).sum())} trials without a finite {value} left out")
    n = len(y)
    ss_total = float(((y - y.mean()) ** 2).sum()) if n else float("nan")
    factors = factorise(frame, params, bins)
    notes.extend(factors.notes)
    effects = _empty_effects(params, factors, groups)
    empty = AnovaResult(
        effects, pd.DataFrame(columns=_PAIR_COLUMNS), _groups(effects, None, groups),
        float("nan"), n, ss_total, float("nan"), notes,
    )  # fmt: skip
    if n < 3:
        notes.append(f"too few trials for ANOVA: {n} (need at least 3)")
        return replace(empty, unavailable=f"n/a: {n} trials, need 3")
    if not factors.kept:
        notes.append("no parameter varies among the trials used: nothing to attribute")
        return replace(empty, unavailable="n/a: no parameter varies")
    if ss_total <= 0:
        notes.append("the outcome is the same in every trial used: no variance to explain")
        return replace(empty, unavailable="n/a: outcome constant")
    need = factors.rank + 2
    if n < need:
        notes.append(
            f"too few trials for ANOVA: {n} trials for {factors.rank - 1} model degrees of "
            f"freedom (need at least {need}); use fewer bins (--bins 2) or more trials"
        )
        return replace(empty, unavailable=f"n/a: {n} trials, need {need}")
    data = factors.codes.assign(_y=y)
    terms = {p: f"C({factors.safe[p]})" for p in factors.kept}
    fit = _ols("_y ~ " + " + ".join(terms.values()), data)
    main = _main_effects(fit, terms, factors.full_rank)
    ss_resid = float(fit.ssr)
    for p, term in terms.items():
        ss, df, f_stat, p_val = main[term]
        effects.loc[p, ["df", "sum_sq", "F", "p"]] = [df, ss, f_stat, p_val]
        effects.loc[p, "eta2"] = ss / ss_total
        effects.loc[p, "partial_eta2"] = ss / (ss + ss_resid) if ss + ss_resid > 0 else np.nan
    draws = None
    if bootstrap:
        draws = bootstrap_eta2(factors, y, bootstrap, seed)
        usable = np.isfinite(draws).all(axis=1).mean() if len(draws) else 0.0
        if usable >= 0.5:
            effects.loc[factors.kept, "eta2_lo"] = np.nanpercentile(draws, 2.5, axis=0)
            effects.loc[factors.kept, "eta2_hi"] = np.nanpercentile(draws, 97.5, axis=0)
        else:
            draws = None
            notes.append(
                f"no bootstrap interval: {1 - usable:.0%} of the resamples have too few "
                f"distinct trials for the {factors.design()[0].shape[1]}-column model; run more "
                "trials or use fewer bins"
            )
    shared = float(fit.rsquared - effects.loc[factors.kept, "eta2"].sum())
    if shared > _SHARED_NOTE:
        notes.append(
            f"{shared:.0%} of the variance is explained by correlated parameters together and "
            "credited to none of them (type-II sums of squares): their eta² understate them"
        )
    pairs = _interactions(data, terms, effects, interactions, n, factors, ss_total, notes)
    return AnovaResult(
        effects=effects.reset_index(drop=True),
        interactions=pairs,
        groups=_groups(effects, draws, groups, factors.kept),
        binned_r2=float(fit.rsquared),
        n=n,
        ss_total=ss_total,
        residual_df=float(fit.df_resid),
        notes=notes,
        shared=shared,
    )


def _empty_effects(
    params: list[str], factors: Factors, groups: Mapping[str, str] | None
) -> pd.DataFrame:
    effects = pd.DataFrame(np.nan, index=params, columns=_EFFECT_COLUMNS)
    effects["parameter"] = params
    effects["group"] = [group_of(p, groups) for p in params]
    effects["treatment"] = [factors.treatment.get(p, "") for p in params]
    effects["levels"] = [factors.levels.get(p, np.nan) for p in params]
    return effects


def _main_effects(
    fit, terms: dict[str, str], full_rank: bool
) -> dict[str, tuple[float, float, float, float]]:
    """Type-II (SS, df, F, p) of every main-effect term.

    With every main effect only, type II is "this term after all the others". A full-rank design
    uses ``anova_lm(typ=2)``; when factors are partly confounded (a conditional parameter's
    "not set" level duplicates its condition) the Wald tests behind it assume the wrong degrees of
    freedom, so each term is tested by comparing the model without it (rank-aware df).
    """
    if full_rank:
        table = anova_lm(fit, typ=2)
        return {
            t: (
                float(table.loc[t, "sum_sq"]),
                float(table.loc[t, "df"]),
                float(table.loc[t, "F"]),
                float(table.loc[t, "PR(>F)"]),
            )
            for t in terms.values()
        }
    slices = _term_slices(fit.model.exog_names)
    return {t: _compare(_without(fit, slices[t]), fit) for t in terms.values()}


def _term_slices(names: list[str]) -> dict[str, list[int]]:
    """Design columns of each formula term, from names such as ``C(f0)[T.1]:C(f1)[T.2]``."""
    out: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        term = ":".join(part.split("[", 1)[0] for part in name.split(":"))
        out.setdefault(term, []).append(i)
    return out


def _without(fit, columns: list[int]):
    """The same least-squares fit without some design columns (statsmodels ``OLS``)."""
    exog = fit.model.exog
    keep = np.setdiff1d(np.arange(exog.shape[1]), columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularMatrixWarning)
        return OLS(fit.model.endog, exog[:, keep]).fit()


def _ols(formula: str, data: pd.DataFrame):
    """``ols(formula).fit()``; a rank-deficient design is expected (confounded factors, empty
    interaction cells) and handled by rank-aware degrees of freedom, so its warning is muted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularMatrixWarning)
        return ols(formula, data=data).fit()


def _compare(reduced, full) -> tuple[float, float, float, float]:
    """(SS, df, F, p) of the terms in ``full`` but not in ``reduced``."""
    df = float(reduced.df_resid - full.df_resid)
    ss = max(float(reduced.ssr - full.ssr), 0.0)
    if df <= 0:
        return ss, df, float("nan"), float("nan")
    row = anova_lm(reduced, full).iloc[1]
    return ss, df, float(row["F"]), float(row["Pr(>F)"])


def _interactions(
    data: pd.DataFrame,
    terms: dict[str, str],
    effects: pd.DataFrame,
    k: int,
    n: int,
    factors: Factors,
    ss_total: float,
    notes: list[str],
) -> pd.DataFrame:
    """Two-way interactions of the ``k`` pairs with the largest summed main-effect eta².

    All chosen pairs enter one model with every main effect; each pair is tested against that
    model without it, which is its type-II test (no other term contains it).
    """
    if k == 0 or len(terms) < 2:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    eta = effects["eta2"].fillna(0.0)
    pairs = sorted(
        itertools.combinations(list(terms), 2), key=lambda ab: -(eta[ab[0]] + eta[ab[1]])
    )[:k]
    cells = {ab: (factors.levels[ab[0]] - 1) * (factors.levels[ab[1]] - 1) for ab in pairs}
    while pairs and factors.rank + sum(cells[ab] for ab in pairs) + 2 > n:
        dropped = pairs.pop()
        notes.append(
            f"interaction {dropped[0]} × {dropped[1]} not tested: too few trials ({n}) for its "
            f"{cells[dropped]} extra degrees of freedom"
        )
    if not pairs:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    pair_terms = {ab: f"{terms[ab[0]]}:{terms[ab[1]]}" for ab in pairs}
    formula = "_y ~ " + " + ".join([*terms.values(), *pair_terms.values()])
    full = _ols(formula, data)
    slices = _term_slices(full.model.exog_names)
    rows = []
    for ab, term in pair_terms.items():
        ss, df, f_stat, p_val = _compare(_without(full, slices[term]), full)
        if df <= 0:
            notes.append(
                f"interaction {ab[0]} × {ab[1]}: no degrees of freedom beyond the main effects "
                "(the pairs of levels are confounded with them)"
            )
        rows.append([ab[0], ab[1], df, ss, ss / ss_total, f_stat, p_val])
    out = pd.DataFrame(rows, columns=_PAIR_COLUMNS)
    return out.sort_values("eta2", ascending=False, kind="stable").reset_index(drop=True)


def _groups(
    effects: pd.DataFrame,
    draws: np.ndarray | None,
    groups: Mapping[str, str] | None,
    kept: list[str] | None = None,
) -> pd.DataFrame:
    """eta² summed over each group's parameters, with a bootstrap interval of the sum.

    A sum of type-II shares is a lower bound of what the group explains jointly when its members
    are correlated (simplex weights are: they sum to 1).
    """
    rows = []
    for name, members in effects.groupby("group", sort=False):
        eta = members["eta2"]
        total = float(eta.sum()) if eta.notna().any() else np.nan
        lo = hi = np.nan
        if draws is not None and kept is not None:
            idx = [kept.index(p) for p in members["parameter"] if p in kept]
            if idx:
                sums = np.nansum(draws[:, idx], axis=1)
                lo, hi = np.nanpercentile(sums, [2.5, 97.5])
        rows.append([name, total, lo, hi])
    out = pd.DataFrame(rows, columns=["group", "eta2", "eta2_lo", "eta2_hi"])
    return out.sort_values("eta2", ascending=False, kind="stable").reset_index(drop=True)
