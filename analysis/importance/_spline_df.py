"""Choice of the splines' degrees of freedom for the main-effects model of parameter importance.

:func:`_choose_df` picks the degrees of freedom of the numeric parameters' splines by generalised
cross-validation (GCV = n RSS / (n - p)², Craven & Wahba 1979): first one df shared by every
numeric parameter (:func:`_shared_df`) among :data:`DF_CANDIDATES`, then, up to
:data:`_REFINE_MAX_N` trials, one pass that lets each parameter take its own df
(:func:`_refine_df`); designs too wide to leave the residual (and a bootstrap resample) room are
refused. :func:`_min_width` is the narrowest a parameter's columns can be, for the message when
none fits.
"""

from __future__ import annotations

import numpy as np

from analysis.importance._coords import Coordinate
from analysis.importance._model import Design

__all__ = ["DF_CANDIDATES", "PAIR_DF", "_choose_df", "_min_width"]

# spline degrees of freedom tried (shared by the numeric parameters); GCV picks one
DF_CANDIDATES = (1, 2, 3, 4, 6, 8)
# above this many trials the df stays shared (per-parameter refinement costs a fit per candidate)
_REFINE_MAX_N = 5000
# an interaction term's spline df on each side
PAIR_DF = 3


def _min_width(c: Coordinate) -> int:
    return c.with_df(1, np.array([c.low, c.high])).width if c.kind == "numeric" else c.width


def _choose_df(
    coords: list[Coordinate], columns: dict[str, np.ndarray], y: np.ndarray, forced: int | None
) -> tuple[list[Coordinate], int] | None:
    """The splines' degrees of freedom, by the lowest GCV = n RSS / (n - p)².

    First one df shared by every numeric parameter; then (unless ``forced``, and up to
    :data:`_REFINE_MAX_N` trials) one pass over the parameters, each trying every candidate with
    the others held: a wiggly effect gets the df it needs, a straight one keeps few. A main
    effect fitted too stiffly leaves structure that an interaction term would pick up as a
    false interaction. Designs keep p <= n / 3 columns, so that a bootstrap resample (about 63%
    distinct trials) still leaves residual room; when even df = 1 is wider, df = 1 alone with
    p <= n - 3 (then there is no interval).
    """
    shared_df = _shared_df(coords, columns, y, forced)
    if shared_df is None:
        return None
    chosen, shared, best_gcv = shared_df
    if not any(c.kind == "numeric" and not c.grid for c in chosen):
        return chosen, 0
    if forced or len(y) > _REFINE_MAX_N:
        return chosen, shared
    return _refine_df(chosen, best_gcv, columns, y), shared


def _shared_df(
    coords: list[Coordinate], columns: dict[str, np.ndarray], y: np.ndarray, forced: int | None
) -> tuple[list[Coordinate], int, float] | None:
    """The coordinates with the one df (shared by every numeric parameter) of lowest GCV, that
    df and its GCV; None when even the first candidate is too wide."""
    best, best_gcv = None, np.inf
    splines = any(c.kind == "numeric" for c in coords)
    for df in (forced,) if forced else DF_CANDIDATES if splines else (1,):
        candidate = [c.with_df(df, columns[c.column]) for c in coords]
        gcv = _gcv(candidate, columns, y, strict=best is not None or df > 1)
        if gcv is None:
            break
        if gcv < best_gcv:
            best, best_gcv = (candidate, df), gcv
    if best is None:
        return None
    return best[0], best[1], best_gcv


def _refine_df(
    chosen: list[Coordinate], best_gcv: float, columns: dict[str, np.ndarray], y: np.ndarray
) -> list[Coordinate]:
    """One pass over the numeric parameters, each trying every candidate df with the others
    held; a change stands when it lowers the GCV."""
    for i, c in enumerate(chosen):
        if c.kind != "numeric":
            continue
        for df in DF_CANDIDATES:
            if df == chosen[i].df:
                continue
            trial = [*chosen[:i], c.with_df(df, columns[c.column]), *chosen[i + 1 :]]
            gcv = _gcv(trial, columns, y, strict=True)
            if gcv is not None and gcv < best_gcv:
                chosen, best_gcv = trial, gcv
    return chosen


def _gcv(
    coords: list[Coordinate], columns: dict[str, np.ndarray], y: np.ndarray, strict: bool
) -> float | None:
    """GCV of the main-effects model, or None when it is too wide (see :func:`_choose_df`)."""
    n = len(y)
    design = Design.build(coords, [], PAIR_DF)
    p = design.width
    if p > n - 3 or (strict and p > n / 3):
        return None
    x = design.matrix(columns, n)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    rss = float(((y - x @ coef) ** 2).sum())
    return n * rss / (n - p) ** 2
