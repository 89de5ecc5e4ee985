"""Importance of every parameter with intervals, rank probabilities and tested interactions.

:func:`estimate_importance` chooses the splines' degrees of freedom by generalised
cross-validation (Craven & Wahba 1979) over a few candidates that leave the residual enough
room, fits the model of :mod:`analysis.importance._model`, tests the interactions of the pairs
whose main effects are largest (F tests, Holm-adjusted for the number of pairs, Holm 1979), and
resamples the trials (``scipy.stats.bootstrap``, percentile intervals; Efron & Tibshirani 1993)
refitting each time, for 90% intervals of every share and the probability that each parameter
ranks where it is shown. The intervals cover the share of the metric's variance that the
parameter's main effect explains in the population the trials were drawn from (ANOVA) or over
the search space (fANOVA); an interaction's share only counts what its smooth term captures
beyond the main effects, so it is a lower bound.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis._fidelity import RELIABLE_PER_PARAM
from analysis.importance._bootstrap import bias_corrected_interval, bootstrap_tables
from analysis.importance._coords import Coordinate, coordinates
from analysis.importance._model import Design, Fit, fit
from analysis.importance._spline_df import PAIR_DF, _choose_df, _min_width
from search_spaces import ConfigError

try:  # installed with scikit-learn
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    threadpool_limits = None

__all__ = [
    "EFFECT_COLUMNS",
    "FANOVA_MIN_PER_PARAM",
    "PAIR_COLUMNS",
    "RELIABLE_PER_PARAM",
    "Estimate",
    "bias_corrected_interval",
    "estimate_importance",
    "one_blas_thread",
]

# above this many trials the bootstrap draws fewer resamples (see _resamples)
_FULL_BOOTSTRAP_N = 2000
# measured with benchmarks/importance_accuracy.py (see benchmarks/README.md) on Ishigami with 0
# and 7 extra no-effect parameters: fANOVA (a model over the whole space) still ranked a no-effect
# parameter first in 2 of 10 at 17 per parameter and never from 20 on. Below RELIABLE_PER_PARAM
# (analysis._fidelity) the table flags the ANOVA ranking; below FANOVA_MIN_PER_PARAM fANOVA is
# not computed
FANOVA_MIN_PER_PARAM = 20
LEVEL = 0.90

EFFECT_COLUMNS = [
    "parameter",
    "treatment",
    "df",
    "anova",
    "anova_lo",
    "anova_hi",
    "anova_F",
    "anova_p",
    "anova_rank",
    "anova_rank_prob",
    "fanova",
    "fanova_lo",
    "fanova_hi",
    "fanova_rank",
    "fanova_rank_prob",
]
PAIR_COLUMNS = ["a", "b", "df", "share", "share_lo", "share_hi", "F", "p", "p_holm"]


@dataclass(frozen=True, eq=False)
class Estimate:
    """Shares of the metric's variance explained by each parameter.

    Attributes:
        effects: one row per parameter analysed (:data:`EFFECT_COLUMNS`), in the order given;
            shares are fractions (0–1), intervals 90% bootstrap percentile intervals.
        interactions: :data:`PAIR_COLUMNS`, one row per pair tested, largest share first.
        dropped: parameter → why it was left out ("dropped: constant", ...).
        n: trials used.
        spline_df: the splines' degrees of freedom (0 when no numeric spline).
        r2: R² of the main-effects model.
        shared: R² minus the summed type-II shares: variance credited to no single parameter.
        draws: bootstrap draws, ``{"anova": (B, P), "fanova": (B, P)}`` (rows: resamples).
        notes: assumptions, refusals and warnings, as sentences.
        unavailable: why nothing could be estimated, as a short phrase; else None.
        fanova_refused: why fANOVA was not computed (a short phrase); else None.
        reliable: whether the ANOVA ranking has the trials it needs (see
            :data:`RELIABLE_PER_PARAM`).
    """

    effects: pd.DataFrame
    interactions: pd.DataFrame
    dropped: dict[str, str]
    n: int
    spline_df: int
    r2: float
    shared: float
    draws: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unavailable: str | None = None
    fanova_refused: str | None = None
    reliable: bool = True
    bootstrap: int = 0


def estimate_importance(
    table: pd.DataFrame,
    params: Sequence[str],
    value: str = "value",
    *,
    definition: Mapping[str, Any] | None = None,
    interactions: int = 3,
    bootstrap: int = 200,
    seed: int = 0,
    fanova: bool = True,
    spline_df: int | None = None,
) -> Estimate:
    """Main-effect shares (ANOVA and fANOVA) of the parameters on ``value``.

    Args:
        table: one row per trial: the parameters' columns (and ``raw.*~u`` simplex draws) and
            the outcome.
        params: the parameters, in order.
        value: the outcome column.
        definition: the space recorded in ``spec.json`` (ranges, log scales, choices).
        interactions: pairs to test (those whose main-effect shares sum highest).
        bootstrap: resamples of the trials for the intervals and rank probabilities (0: none).
        seed: seed of the resampling and of the space's Monte-Carlo sample.
        fanova: compute the functional ANOVA over the space too.
        spline_df: force the splines' degrees of freedom instead of choosing by GCV.

    Returns:
        The estimate; what cannot be estimated is NaN with a note, never an exception.
    """
    with one_blas_thread():
        return _estimate(
            table, params, value, definition, interactions, bootstrap, seed, fanova, spline_df
        )


def one_blas_thread() -> AbstractContextManager:
    """Run BLAS on one thread: for these small matrices its threads cost more than they save,
    and on a busy machine they stall (an SVD of 50 x 50 took 5 ms on two threads)."""
    return threadpool_limits(1, user_api="blas") if threadpool_limits else nullcontext()


def _estimate(
    table, params, value, definition, interactions, bootstrap, seed, fanova, spline_df
) -> Estimate:
    _check_options(interactions, bootstrap, spline_df)
    params = list(dict.fromkeys(params))
    y_all = pd.to_numeric(table[value], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(y_all)
    frame = table.loc[keep].reset_index(drop=True)
    y = y_all[keep]
    notes: list[str] = []
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} trials without a finite {value} left out")
    coords, dropped = coordinates(frame, params, definition, notes)
    n = len(y)
    empty = _empty(params, coords, dropped)

    def unavailable(why: str, note: str) -> Estimate:
        notes.append(note)
        return Estimate(empty, pd.DataFrame(columns=PAIR_COLUMNS), dropped, n, 0,
                        float("nan"), float("nan"), {}, notes, why, why, False)  # fmt: skip

    nothing = _nothing_to_explain(n, coords, y)
    if nothing is not None:
        return unavailable(*nothing)
    columns = {c.column: frame[c.column].to_numpy() for c in coords}
    chosen = _choose_df(coords, columns, y, spline_df)
    if chosen is None:
        need = 1 + sum(_min_width(c) for c in coords) + 3
        return unavailable(
            f"n/a: {n} trials, need {need}",
            f"too few trials for ANOVA: {n} trials for {len(coords)} parameters (need at least "
            f"{need}, the model's columns plus 3)",
        )
    coords, df = chosen
    main_design = Design.build(coords, [], PAIR_DF)
    x_main = main_design.matrix(columns, n)
    first = fit(main_design, x_main, y, None, None)
    if first is None:  # _choose_df keeps p <= n - 3 and the variance is positive: not expected
        return unavailable(
            f"n/a: {n} trials", f"the main-effects model could not be fitted to {n} trials"
        )
    pairs = _pairs(first.anova_shares(main_design), coords, interactions, n, notes)
    design = Design.build(coords, pairs, PAIR_DF, columns)
    x = design.matrix(columns, n)
    rng = np.random.default_rng(seed)
    fanova_refused = _fanova_refusal(fanova, n, coords, notes)
    forms = design.space_forms(rng) if fanova_refused is None else None
    point = fit(design, x, y, None, forms)
    if point is None:  # interactions took the room: fall back to main effects only
        design, x, pairs = main_design, x_main, []
        forms = design.space_forms(rng) if fanova_refused is None else None
        point = fit(design, x, y, None, forms)
    if point is None:
        return unavailable(f"n/a: {n} trials", f"the model could not be fitted to {n} trials")
    effects = _effects(params, coords, dropped, design, point)
    inter = _interactions(design, point)
    draws: dict[str, np.ndarray] = {}
    resamples = _resamples(bootstrap, n, notes)
    if resamples:
        draws, effects, inter = bootstrap_tables(
            design, x, y, forms, resamples, rng, effects, inter, notes, LEVEL
        )
    raw = point.main_ss / point.ss_total
    shared = float(point.r2_main - raw.sum())
    notes.extend(_shared_note(shared, coords, columns))
    reliable = _reliable(n, coords, notes)
    inter = inter.sort_values("share", ascending=False, kind="stable").reset_index(drop=True)
    return Estimate(
        effects=effects,
        interactions=inter,
        dropped=dropped,
        n=n,
        spline_df=df,
        r2=point.r2_main,
        shared=shared,
        draws=draws,
        notes=notes,
        fanova_refused=fanova_refused,
        reliable=reliable,
        bootstrap=resamples,
    )


def _check_options(interactions: int, bootstrap: int, spline_df: int | None) -> None:
    for name, value in (("interactions", interactions), ("bootstrap", bootstrap)):
        if value < 0:
            raise ConfigError(f"{name} must be >= 0, got {value}", param=name)
    if spline_df is not None and not 1 <= spline_df <= 20:
        raise ConfigError(f"spline_df must be between 1 and 20, got {spline_df}", param="spline_df")


def _nothing_to_explain(n: int, coords: list[Coordinate], y: np.ndarray) -> tuple[str, str] | None:
    """Why no model can be fitted at all (a short phrase, a note), checked before any fit."""
    if n < 3:
        return f"n/a: {n} trials", f"too few trials for ANOVA: {n} (need 3)"
    if not coords:
        return (
            "n/a: no parameter varies",
            "no parameter varies among the trials used: nothing to attribute",
        )
    if float(np.var(y)) <= 0:
        return (
            "n/a: outcome constant",
            "the outcome is the same in every trial used: no variance to explain",
        )
    return None


def _fanova_refusal(fanova: bool, n: int, coords: list[Coordinate], notes: list[str]) -> str | None:
    """Why fANOVA is not computed (a short phrase, with a note where it was asked); else None."""
    floor = FANOVA_MIN_PER_PARAM * len(coords)
    if not fanova:
        return "not asked"
    if n < floor:
        notes.append(
            f"fANOVA not computed: {n} trials for {len(coords)} parameters; below "
            f"{FANOVA_MIN_PER_PARAM} trials per parameter its model over the whole space is "
            "mostly extrapolation"
        )
        return f"n/a: {n} trials, fANOVA needs {floor}"
    if any(c.conditional for c in coords):
        notes.append(
            "fANOVA not computed: some parameters are unset in some trials (a condition), and "
            "integrating over the space would need the condition's structure; the ANOVA column "
            "treats 'not set' as one more level"
        )
        return "n/a: conditional parameters"
    return None


def _resamples(asked: int, n: int, notes: list[str]) -> int:
    """Fewer resamples above :data:`_FULL_BOOTSTRAP_N` trials (never below 50), in
    proportion: the refits' cost grows with n while the intervals shrink; a note says so."""
    if asked == 0 or n <= _FULL_BOOTSTRAP_N:
        return asked
    resamples = min(asked, max(50, int(asked * _FULL_BOOTSTRAP_N / n)))
    if resamples < asked:
        notes.append(
            f"{resamples} bootstrap resamples instead of {asked}: above {_FULL_BOOTSTRAP_N} "
            "trials the intervals are narrow and each refit is costly (benchmarks/README.md "
            "measures what this costs in precision)"
        )
    return resamples


def _reliable(n: int, coords: list[Coordinate], notes: list[str]) -> bool:
    """Whether the ANOVA ranking has the trials it needs; a note when it has not."""
    reliable = n >= RELIABLE_PER_PARAM * len(coords)
    if not reliable:
        notes.append(
            f"{n} trials for {len(coords)} parameters: below {RELIABLE_PER_PARAM} trials per "
            "parameter the ranking is often wrong on functions whose answer is known "
            "(benchmarks/importance_accuracy.py); read the intervals, not the order"
        )
    return reliable


def _pairs(
    shares: np.ndarray, coords: list[Coordinate], k: int, n: int, notes: list[str]
) -> list[tuple[int, int]]:
    """The ``k`` pairs with the largest summed main-effect shares that the trials can afford."""
    if k == 0 or len(coords) < 2:
        return []
    order = sorted(
        itertools.combinations(range(len(coords)), 2),
        key=lambda ab: -(np.nan_to_num(shares[ab[0]]) + np.nan_to_num(shares[ab[1]])),
    )[:k]
    chosen: list[tuple[int, int]] = []
    for ab in order:  # the full model keeps half the trials for residual room, as above
        if Design.build(coords, [*chosen, ab], PAIR_DF).width > n / 2:
            notes.append(
                f"interaction {coords[ab[0]].name} × {coords[ab[1]].name} not tested: too few "
                f"trials ({n}) for its terms"
            )
            continue
        chosen.append(ab)
    return chosen


# -------------------------------------------------------------------------- tables


def _empty(params: list[str], coords: list[Coordinate], dropped: dict[str, str]) -> pd.DataFrame:
    out = pd.DataFrame(np.nan, index=params, columns=EFFECT_COLUMNS)
    out["parameter"] = params
    by_name = {c.name: c for c in coords}
    out["treatment"] = [by_name[p].treatment if p in by_name else dropped[p] for p in params]
    return out


def _effects(
    params: list[str],
    coords: list[Coordinate],
    dropped: dict[str, str],
    design: Design,
    point: Fit,
) -> pd.DataFrame:
    out = _empty(params, coords, dropped)
    names = [c.name for c in coords]
    df = np.array([b.df for b in design.main], dtype=float)
    f_stat = (point.main_ss / df) / point.main_mse if point.main_mse > 0 else np.nan * df
    out.loc[names, "df"] = df
    out.loc[names, "anova"] = point.anova_shares(design)
    out.loc[names, "anova_F"] = f_stat
    out.loc[names, "anova_p"] = stats.f.sf(f_stat, df, point.main_resid_df)
    out.loc[names, "fanova"] = point.fanova_shares()
    for method in ("anova", "fanova"):
        out[f"{method}_rank"] = out[method].rank(ascending=False, method="min")
    return out.reset_index(drop=True)


def _interactions(design: Design, point: Fit) -> pd.DataFrame:
    if not design.pairs:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    df = np.array([b.df for b in design.pairs], dtype=float)
    f_stat = (point.pair_ss / df) / point.full_mse if point.full_mse > 0 else np.nan * df
    p = stats.f.sf(f_stat, df, point.full_resid_df)
    finite = np.isfinite(p)
    holm = np.full(len(p), np.nan)
    if finite.any():
        holm[finite] = multipletests(p[finite], method="holm")[1]
    rows = [
        [*(design.coords[i].name for i in b.members), b.df, s, np.nan, np.nan, f, pv, ph]
        for b, s, f, pv, ph in zip(
            design.pairs, point.pair_shares(design), f_stat, p, holm, strict=True
        )
    ]
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def _shared_note(shared: float, coords: list[Coordinate], columns) -> list[str]:
    """Say that correlated parameters share credit only when they are correlated beyond
    chance (Spearman, Holm-adjusted p < 0.01): independent sampling shares little."""
    if not shared > 0.05:
        return []
    numeric = [c for c in coords if c.kind == "numeric"]
    pvalues, pairs = [], []
    for a, b in itertools.combinations(numeric, 2):
        va = pd.to_numeric(pd.Series(columns[a.column]), errors="coerce")
        vb = pd.to_numeric(pd.Series(columns[b.column]), errors="coerce")
        both = va.notna() & vb.notna()
        if both.sum() < 5:
            continue
        rho, p = stats.spearmanr(va[both], vb[both])
        if np.isfinite(p):
            pvalues.append(p)
            pairs.append((a.name, b.name, rho))
    if not pvalues:
        return []
    holm = multipletests(pvalues, method="holm")[1]
    hits = [pairs[i] for i in np.flatnonzero(holm < 0.01)]
    if not hits:
        return []
    named = ", ".join(f"{a} ~ {b} (ρ = {r:+.2f})" for a, b, r in hits[:3])
    return [
        f"{shared:.0%} of the variance is explained by correlated parameters together and "
        f"credited to none of them (type-II sums of squares): {named}; their shares understate "
        "them"
    ]
