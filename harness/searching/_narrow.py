"""Shrink a search space around the best trials of a previous stage (coarse-to-fine plans).

The kept trials are the top ``max(min_trials, ceil(top_fraction * n))`` by the metric. Each
parameter shrinks to what those trials used, never beyond its old range:

- ``float``/``int``: ``[min, max]`` of the kept values (a log range stays log, a step stays).
  When every kept trial used the same value the parameter becomes a one-choice
  ``categorical``: an epsilon-wide range would only pretend to search, and the table then says
  plainly that the value is fixed.
- ``categorical``: the choices seen among the kept trials, in their old order.
- ``fraction_of``: the fractions seen, recovered as value / value of ``of`` and mapped to the
  nearest listed fraction (the effective value was rounded).
- ``simplex``: each component's range shrinks to the kept envelope. Every kept trial sums to
  ``total`` and lies inside the envelope, so ``sum(low) <= total <= sum(high)`` still holds.

A parameter that the table lacks, or that no kept trial drew (a condition switched it off),
keeps its old range. This is the coarse-to-fine search of Hsu, Chang & Lin (2003), "A Practical
Guide to Support Vector Classification", section 3.2: a coarse search first, then a finer one over
the region where the best results were found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from search_spaces import (
    CategoricalParam,
    ConfigError,
    FloatParam,
    FractionOfParam,
    IntParam,
    SimplexParam,
    Space,
    describe_param,
)

__all__ = ["narrow_space"]


def _kept(
    table: pd.DataFrame, metric: str, mode: str, top_fraction: float, min_trials: int
) -> pd.DataFrame:
    if metric not in table.columns:
        raise ConfigError(
            f"narrow: the previous stage's table has no column {metric!r}; "
            f"columns: {', '.join(map(str, table.columns))}"
        )
    if mode not in ("max", "min"):
        raise ConfigError(f"narrow: mode must be max or min, got {mode!r}")
    if not 0 < top_fraction <= 1:
        raise ConfigError(f"narrow: top_fraction must lie in (0, 1], got {top_fraction}")
    if min_trials < 1:
        raise ConfigError(f"narrow: min_trials must be >= 1, got {min_trials}")
    scored = table[pd.to_numeric(table[metric], errors="coerce").notna()]
    if scored.empty:
        raise ConfigError(f"narrow: no trial of the previous stage has a value of {metric!r}")
    k = min(len(scored), max(min_trials, math.ceil(top_fraction * len(scored))))
    order = scored[metric].astype(float).sort_values(ascending=(mode == "min"), kind="stable")
    return scored.loc[order.index[:k]]


def _column(kept: pd.DataFrame, path: str) -> pd.Series | None:
    if path not in kept.columns:
        return None
    col = kept[path].dropna()
    return col if len(col) else None


def _narrow_numeric(spec: FloatParam | IntParam, col: pd.Series) -> Any:
    values = pd.to_numeric(col, errors="coerce").dropna()
    if values.empty:
        return spec
    low = max(spec.low, float(values.min()))
    high = min(spec.high, float(values.max()))
    if spec.step is not None:
        # The kept values lie on the old grid; re-anchoring guards against float drift.
        low = spec.low + round((low - spec.low) / spec.step) * spec.step
        high = spec.low + round((high - spec.low) / spec.step) * spec.step
    if isinstance(spec, IntParam):
        low, high = round(low), round(high)
    if low >= high:
        return CategoricalParam(type="categorical", choices=(low,), when=spec.when)
    return spec.model_copy(update={"low": low, "high": high})


def _narrow_choices(spec: CategoricalParam, col: pd.Series | None, kept: pd.DataFrame) -> Any:
    seen = list(col) if col is not None else []
    # A table stores a None choice as a missing value; without a condition that is the only
    # reason a value can be missing.
    none_seen = spec.when is None and col is not None and len(col) < len(kept)
    choices = tuple(
        c
        for c in spec.choices
        if (c is None and none_seen) or (c is not None and any(_same(c, v) for v in seen))
    )
    return spec.model_copy(update={"choices": choices}) if choices else spec


def _same(choice: Any, value: Any) -> bool:
    if isinstance(choice, int | float) and not isinstance(choice, bool):
        try:
            return math.isclose(float(value), float(choice), rel_tol=1e-12, abs_tol=1e-15)
        except (TypeError, ValueError):
            return False
    return bool(choice == value)


def _narrow_fraction(
    key: str, spec: FractionOfParam, kept: pd.DataFrame, base: Mapping[str, Any]
) -> Any:
    col = _column(kept, key)
    if col is None:
        return spec
    if spec.of in kept.columns:
        of_values = kept.loc[col.index, spec.of].astype(float)
    elif spec.of in base:
        of_values = pd.Series(float(base[spec.of]), index=col.index)
    else:
        return spec
    fractions = col.astype(float) / of_values
    nearest = {min(spec.choices, key=lambda c, f=f: abs(c - f)) for f in fractions.dropna()}
    choices = tuple(c for c in spec.choices if c in nearest)
    return spec.model_copy(update={"choices": choices}) if choices else spec


def _towards(x: np.ndarray, bound: np.ndarray, amount: float) -> np.ndarray:
    room = np.abs(bound - x)
    if room.sum() <= 0:
        return x
    return x + np.sign(bound - x) * room * min(1.0, amount / room.sum())


def _narrow_simplex(key: str, spec: SimplexParam, kept: pd.DataFrame) -> Any:
    cols = [f"{key}.{c}" for c in spec.components]
    if not all(c in kept.columns for c in cols):
        return spec
    rows = kept[cols].astype(float).dropna()
    if rows.empty:
        return spec
    old_low, old_high = np.asarray(spec.lows()), np.asarray(spec.highs())
    low = np.maximum(old_low, rows.min().to_numpy())
    high = np.minimum(old_high, rows.max().to_numpy())
    # Kept rows sum to total only within 1e-9: move the envelope back towards the old bounds
    # by that excess so it stays feasible exactly (there is room: the old range was feasible).
    if low.sum() > spec.total:
        low = _towards(low, old_low, low.sum() - spec.total)
    if high.sum() < spec.total:
        high = _towards(high, old_high, spec.total - high.sum())
    pairs = zip(spec.components, low, high, strict=True)
    components = {c: (float(lo), float(hi)) for c, lo, hi in pairs}
    return spec.model_copy(update={"components": components})


def narrow_space(
    space: Space,
    table: pd.DataFrame,
    metric: str,
    mode: str,
    top_fraction: float,
    min_trials: int = 3,
    base: Mapping[str, Any] | None = None,
) -> tuple[Space, list[dict[str, Any]]]:
    """The space shrunk to the envelope of the best trials of ``table``.

    Args:
        space: the space the previous stage searched (or the next stage's space).
        table: one row per trial, effective values in columns named by dotted path, and the
            ``metric`` column at the fidelity chosen for the comparison; NaN metrics are dropped.
        metric: the column to rank by.
        mode: ``"max"`` or ``"min"``.
        top_fraction: share of the scored trials kept, in (0, 1].
        min_trials: keep at least this many trials (all of them when fewer were scored).
        base: the flattened base recipe, for a ``fraction_of`` whose ``of`` is not a column.

    Returns:
        (the narrowed space named ``<name>@narrowed``, one row per parameter with ``path``,
        ``type``, ``old``, ``new``, ``changed`` and ``kept``, the number of trials kept).

    Raises:
        ConfigError: a missing metric column, no scored trial, or a bad mode or fraction.
    """
    kept = _kept(table, metric, mode, top_fraction, min_trials)
    params: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for key, spec in space.params.items():
        if isinstance(spec, FloatParam | IntParam):
            col = _column(kept, key)
            new = spec if col is None else _narrow_numeric(spec, col)
        elif isinstance(spec, CategoricalParam):
            new = _narrow_choices(spec, _column(kept, key), kept)
        elif isinstance(spec, FractionOfParam):
            new = _narrow_fraction(key, spec, kept, base or {})
        else:
            new = _narrow_simplex(key, spec, kept)
        params[key] = new
        rows.append(
            {
                "path": key,
                "type": new.type,
                "old": describe_param(spec),
                "new": describe_param(new),
                "changed": new != spec,
                "kept": len(kept),
            }
        )
    narrowed = Space(
        name=f"{space.name}@narrowed",
        description=(
            f"{space.description} (narrowed to the top {len(kept)} of "
            f"{int(table[metric].notna().sum())} trials by {metric}, {mode})"
        ),
        params=params,
        source=space.source,
        includes=space.includes,
    )
    return narrowed, rows
