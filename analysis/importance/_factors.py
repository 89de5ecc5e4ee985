"""Parameters as ANOVA factors: levels, bins, missing values, constant and aliased columns.

A categorical parameter keeps its values as levels; a numeric one with at most ``2 * bins``
distinct values is a "grid" of those values; any other numeric one is cut into ``bins`` quantile
bins (``pandas.qcut``, equal counts, so a log-uniform learning rate gets as many trials per bin as
a uniform weight). A parameter that a condition leaves unset in some trials gets one more level,
"not set". Constant factors and factors that the others determine (aliased: the same groups of
trials under another name) cannot be estimated and are dropped with a note.

The bootstrap of the eta² (resampling trials) lives here too: it refits the main-effects design
of these factors many times, through normal equations rather than formulas, for speed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve

__all__ = ["Factors", "bootstrap_eta2", "factorise"]


@dataclass(frozen=True, eq=False)
class Factors:
    """The factors of an ANOVA.

    Attributes:
        codes: one integer-coded column per kept factor, named by ``safe``.
        safe: parameter → formula-safe column name (``f0``, ``f1``, …).
        kept: parameters that enter the model, in order.
        treatment: parameter → "categorical", "grid", "binned(k)", or "dropped: …".
        levels: parameter → number of levels (including "not set").
        notes: why parameters were dropped or are partly confounded.
        rank: rank of the main-effects design (intercept included).
        full_rank: whether every kept factor adds all of its levels − 1 to the rank.
        labels: parameter → the label of each level code (for rendering marginal plots).
    """

    codes: pd.DataFrame
    safe: dict[str, str]
    kept: list[str]
    treatment: dict[str, str]
    levels: dict[str, int]
    notes: list[str]
    rank: int
    full_rank: bool
    labels: dict[str, list[str]] = field(default_factory=dict)

    def design(self) -> tuple[np.ndarray, list[slice]]:
        """Intercept + treatment-coded dummies of the kept factors, and each factor's columns."""
        blocks, slices, start = [np.ones((len(self.codes), 1))], [], 1
        for p in self.kept:
            block = _dummies(np.asarray(self.codes[self.safe[p]].cat.codes), self.levels[p])
            blocks.append(block)
            slices.append(slice(start, start + block.shape[1]))
            start += block.shape[1]
        return np.hstack(blocks), slices


def _dummies(codes: np.ndarray, levels: int) -> np.ndarray:
    """Indicator columns of levels 1 … levels-1 (level 0 is the reference)."""
    return (codes[:, None] == np.arange(1, levels)[None, :]).astype(float)


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _code(series: pd.Series, bins: int) -> tuple[np.ndarray, str, list[str]]:
    """Integer level codes of the present values, the treatment, and the level labels."""
    if _numeric(series):
        values = series.astype(float)
        distinct = np.unique(values)
        if len(distinct) <= 2 * bins:
            return np.searchsorted(distinct, values), "grid", [f"{v:g}" for v in distinct]
        cut = pd.qcut(values, bins, duplicates="drop")
        codes = cut.cat.codes.to_numpy()
        labels = [str(c) for c in cut.cat.categories]
        return codes, f"binned({len(labels)})", labels
    text = series.astype(str)
    cats = sorted(text.unique())
    return np.searchsorted(np.array(cats, dtype=object), text.to_numpy()), "categorical", cats


def factorise(frame: pd.DataFrame, params: list[str], bins: int) -> Factors:
    """Factors of ``params`` over the rows of ``frame`` (see the module docstring)."""
    n = len(frame)
    codes: dict[str, np.ndarray] = {}
    treatment: dict[str, str] = {}
    levels: dict[str, int] = {}
    labels: dict[str, list[str]] = {}
    notes: list[str] = []
    for p in params:
        if p not in frame.columns:
            treatment[p] = "dropped: not in the table"
            notes.append(f"{p}: not a column of the trials used: dropped")
            continue
        series = frame[p]
        missing = series.isna().to_numpy()
        if missing.all():
            treatment[p] = "dropped: never set"
            notes.append(f"{p} is not set in any trial used: dropped")
            continue
        present, kind, names = _code(series[~missing], bins)
        code = np.full(n, len(names), dtype=int)
        code[~missing] = present
        if missing.any():
            names = [*names, "not set"]
            notes.append(
                f"{p} is not set in {int(missing.sum())} of {n} trials (a condition): "
                "'not set' is one more level"
            )
        if len(names) < 2:
            treatment[p] = "dropped: constant"
            notes.append(f"{p} takes one value ({names[0]}) in every trial used: dropped")
            continue
        codes[p], treatment[p], levels[p], labels[p] = code, kind, len(names), names
    return _drop_aliased(codes, treatment, levels, labels, notes, n)


def _drop_aliased(
    codes: dict[str, np.ndarray],
    treatment: dict[str, str],
    levels: dict[str, int],
    labels: dict[str, list[str]],
    notes: list[str],
    n: int,
) -> Factors:
    """Keep the factors in order; drop one that adds nothing to the rank of the design."""
    blocks = [np.ones((n, 1))] + [_dummies(c, levels[p]) for p, c in codes.items()]
    x = np.hstack(blocks)
    gram = x.T @ x  # ranks from the small Gram matrix: far cheaper than SVDs of the tall design
    starts = np.cumsum([0] + [b.shape[1] for b in blocks])
    chosen = [0]
    rank, full_rank = 1, True
    kept: list[str] = []
    for i, (p, code) in enumerate(codes.items(), start=1):
        cols = chosen + list(range(starts[i], starts[i + 1]))
        new_rank = _rank(gram[np.ix_(cols, cols)])
        added = new_rank - rank
        if added == 0:
            twin = next((q for q in kept if _same_partition(code, codes[q])), None)
            why = (
                f"aliased with {twin} (it splits the trials into the same groups)"
                if twin
                else "determined by the other parameters (collinear)"
            )
            treatment[p] = f"dropped: {why.split(' (')[0]}"
            notes.append(f"{p} is {why}: dropped; its effect is counted under the others")
            continue
        if added < levels[p] - 1:
            full_rank = False
            notes.append(
                f"{p} is partly confounded with the parameters before it: {added} of its "
                f"{levels[p] - 1} degrees of freedom can be estimated"
            )
        chosen, rank = cols, new_rank
        kept.append(p)
    safe = {p: f"f{i}" for i, p in enumerate(kept)}
    frame = pd.DataFrame(
        {safe[p]: pd.Categorical(codes[p], categories=range(levels[p])) for p in kept},
        index=pd.RangeIndex(n),
    )
    return Factors(
        codes=frame,
        safe=safe,
        kept=kept,
        treatment=treatment,
        levels={p: levels[p] for p in levels},
        notes=notes,
        rank=rank,
        full_rank=full_rank,
        labels=labels,
    )


def _rank(gram: np.ndarray) -> int:
    """Rank of X from X'X: singular values of X are the square roots of its eigenvalues."""
    singular = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None))
    return int((singular > singular.max() * 1e-6).sum())


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = len(np.unique(np.stack([a, b], axis=1), axis=0))
    return pairs == len(np.unique(a)) == len(np.unique(b))


def bootstrap_eta2(factors: Factors, y: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """eta² of every kept factor in ``draws`` resamples of the trials (rows: resamples).

    The factors' levels stay those of the full sample (they are properties of the trials); each
    resample refits the main-effects model through its weighted normal equations, which is the
    OLS fit on the resampled rows, and takes type-II SS as the loss in fit when a factor's
    columns are removed. Least squares with a pseudo-inverse handles levels absent from a
    resample. (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993: percentile interval.)
    """
    x, slices = factors.design()
    z = (y - y.mean()) / y.std()  # scale-free: SS of bytes would lose digits in y'y - b'X'y
    rng = np.random.default_rng(seed)
    n = len(z)
    out = np.full((draws, len(slices)), np.nan)
    for i in range(draws):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        # A resample with fewer distinct trials than the model has columns (plus residual
        # room) is saturated: every factor then "explains" nothing. Such draws carry no
        # information about eta² and are left out (NaN) instead of pulling the interval to 0.
        if np.linalg.matrix_rank(x[w > 0]) >= int((w > 0).sum()) - 1:
            continue
        xw = x.T * w
        gram, xty = xw @ x, xw @ z
        mean = w @ z / n
        sst = w @ (z * z) - n * mean * mean
        if sst > 0:
            out[i] = _drop_one_ss(gram, xty, slices) / sst
    return out


def _drop_one_ss(gram: np.ndarray, xty: np.ndarray, slices: list[slice]) -> np.ndarray:
    """Increase in the residual sum of squares when each block of columns is removed.

    Well conditioned: the Wald form b_S' [(X'X)^-1]_SS^-1 b_S, one Cholesky for all blocks. A
    resample that misses a level makes X'X singular, and one that nearly does makes it so ill
    conditioned that the inverse's blocks lose their digits: then each reduced model is solved
    by least squares, which handles rank deficiency.
    """
    wald = _wald_ss(gram, xty, slices)
    if wald is not None:
        return wald
    everything = np.arange(len(gram))
    full = _fit_term(gram, xty, everything)
    return np.array(
        [
            full - _fit_term(gram, xty, np.setdiff1d(everything, np.arange(s.start, s.stop)))
            for s in slices
        ]
    )


_MAX_CONDITION = 1e10  # beyond this the inverse's blocks of X'X keep fewer than ~6 digits


def _wald_ss(gram: np.ndarray, xty: np.ndarray, slices: list[slice]) -> np.ndarray | None:
    """The Wald form of every block's SS, or None where X'X is singular or ill conditioned."""
    if not np.isfinite(gram).all() or np.linalg.cond(gram) > _MAX_CONDITION:
        return None
    try:
        factor = cho_factor(gram)
        inverse = cho_solve(factor, np.eye(len(gram)))
        b = inverse @ xty
        out = np.array([float(b[s] @ np.linalg.solve(inverse[s, s], b[s])) for s in slices])
    except np.linalg.LinAlgError:
        return None
    return out if np.isfinite(out).all() else None


def _fit_term(gram: np.ndarray, xty: np.ndarray, cols: np.ndarray) -> float:
    """b'X'Wy of the least-squares fit on ``cols`` (RSS = y'Wy minus this)."""
    sub = gram[np.ix_(cols, cols)]
    b = np.linalg.lstsq(sub, xty[cols], rcond=None)[0]
    return float(b @ xty[cols])
