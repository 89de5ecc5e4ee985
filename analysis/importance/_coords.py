"""What each parameter is to the importance model: its column, its scale, its basis and its measure.

A parameter enters the model through one *coordinate*:

- a numeric parameter (float or int) through a regression spline of its value (of its log10 when
  the space samples it log-uniformly) whose degrees of freedom are chosen from the data (see
  :mod:`analysis.importance._estimate`); with no more distinct values than the spline has
  degrees of freedom, through a linear spline with a knot at every value (a grid: each value
  gets its own mean, and the function is defined between them);
- a categorical parameter through one level per choice (treatment-coded dummies);
- a component of a simplex (loss weights that sum to 1) through the uniform the sampler drew for
  it (``raw.<prefix>.<component>~u``, stored by ``harness search``): the weights themselves are
  collinear, these draws are independent, and raising a component's draw raises that weight at
  the expense of the others in proportion;
- a parameter that a condition leaves unset in some trials gets one more column: an indicator of
  "not set".

Each coordinate also carries its *measure*, the distribution over the search space that the
functional ANOVA integrates over: uniform (or log-uniform) over the recorded range, else over the
observed range (a grid too); uniform over the choices; uniform on [0, 1]
for a simplex draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import patsy

__all__ = ["Coordinate", "coordinates", "simplex_column"]

# a numeric column without a recorded scale is taken as log-scaled when it spans this ratio
_LOG_SPAN = 100.0


def simplex_column(param: str) -> str:
    """The column of the uniform a simplex component was drawn from (``harness search``)."""
    return f"raw.{param}~u"


@dataclass(frozen=True, eq=False)
class Coordinate:
    """One parameter as the model sees it.

    Attributes:
        name: the parameter as reported.
        column: the column of the trial table analysed (the parameter, or its simplex draw).
        kind: ``"numeric"`` (spline or grid) or ``"levels"`` (categorical).
        log: numeric values are analysed as log10.
        low: lower end of the measure's range, on the analysed scale (numeric only).
        high: upper end, on the analysed scale (numeric only).
        integer: numeric values are whole numbers (the measure draws integers).
        levels: the values of a categorical parameter, or of a numeric grid, as text
            (``levels`` kind) or numbers; ``None`` for a spline.
        range_source: where the range or the choices come from.
        conditional: the parameter is unset in some trials.
        df: degrees of freedom of the spline (numeric), set by :meth:`with_df`.
        knots: interior knots of the spline on the analysed scale.
    """

    name: str
    column: str
    kind: str
    log: bool = False
    low: float = float("nan")
    high: float = float("nan")
    integer: bool = False
    levels: tuple[Any, ...] | None = None
    range_source: str = ""
    conditional: bool = False
    df: int = 0
    knots: tuple[float, ...] = ()
    degree: int = 3
    grid: int = 0

    # ------------------------------------------------------------------ scale and degrees
    def scaled(self, values: np.ndarray) -> np.ndarray:
        """Numeric values on the analysed scale (log10 for a log parameter), NaN kept."""
        x = np.asarray(values, dtype=float)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log10(x)
        return x

    def with_df(self, df: int, observed: np.ndarray) -> Coordinate:
        """This coordinate with a spline of ``df`` degrees of freedom (knots at the quantiles of
        the observed values), or as a grid when it has at most ``df + 1`` distinct values."""
        if self.kind != "numeric":
            return self
        x = self.scaled(observed)
        x = x[np.isfinite(x)]
        distinct = np.unique(x)
        if len(distinct) <= df + 1:  # a grid: a linear spline through its values, which
            # fits each value its own mean (as levels would) and is defined between them
            inner = tuple(float(v) for v in distinct[1:-1])
            return replace(self, df=len(distinct) - 1, knots=inner, degree=1, grid=len(distinct))
        degree = min(3, df)
        inner = df - degree
        knots = tuple(np.quantile(x, np.linspace(0, 1, inner + 2)[1:-1]).tolist()) if inner else ()
        return replace(self, df=df, knots=knots, degree=degree, grid=0)

    @property
    def treatment(self) -> str:
        """How the coordinate enters the model, in words for the table."""
        if self.kind == "levels":
            text = f"levels({len(self.levels or ())})"
        elif self.grid:
            text = f"grid({self.grid}{', log' if self.log else ''})"
        elif self.df:
            text = f"spline(df={self.df}{', log' if self.log else ''})"
        else:  # before a model chose its degrees of freedom (none was fitted)
            text = f"spline({'log, ' if self.log else ''}not fitted)"
        if self.column != self.name:
            text += ", simplex draw"
        return text + (", +not set" if self.conditional else "")

    @property
    def width(self) -> int:
        """Columns of the main-effect basis."""
        levels = len(self.levels) - 1 if self.levels is not None else self.df
        return levels + (1 if self.conditional else 0)

    # ------------------------------------------------------------------------ basis
    def basis(self, values: Any, df: int | None = None) -> np.ndarray:
        """The main-effect basis (no intercept) at ``values`` of the column (NaN: not set).

        ``df`` asks for another spline (an interaction term's side, whatever the main effect's
        df; a grid's is at most its own); levels ignore it.
        """
        raw = np.asarray(values, dtype=object if self.kind == "levels" else float)
        missing = pd.isna(pd.Series(raw)).to_numpy()
        if self.levels is not None:
            coded = self._level_codes(raw, missing)
            out = (coded[:, None] == np.arange(1, len(self.levels))[None, :]).astype(float)
        else:
            out = self._spline(raw, missing, df or self.df)
        if self.conditional:
            out = np.hstack([out, missing[:, None].astype(float)])
        return out

    def _level_codes(self, raw: np.ndarray, missing: np.ndarray) -> np.ndarray:
        index = {str(v): i for i, v in enumerate(self.levels or ())}
        pairs = zip(raw, missing, strict=True)
        return np.array([0 if m else index.get(str(v), 0) for v, m in pairs])

    def _spline(self, raw: np.ndarray, missing: np.ndarray, df: int) -> np.ndarray:
        x = self.scaled(raw)
        fill = float(np.nanmedian(x)) if np.isfinite(x).any() else self.low
        x = np.clip(np.where(missing | ~np.isfinite(x), fill, x), self.low, self.high)
        if df == self.df:
            degree, knots = self.degree, list(self.knots)
        else:  # an interaction side: its own coarse spline, knots spread over the range
            df = min(df, self.df) if self.grid else df
            degree = min(1 if self.grid else 3, df)
            inner = df - degree
            knots = list(np.linspace(self.low, self.high, inner + 2)[1:-1]) if inner else []
        return np.asarray(
            patsy.bs(x, knots=knots, degree=degree, lower_bound=self.low, upper_bound=self.high),
            dtype=float,
        )

    # ---------------------------------------------------------------------- measure
    def sample(self, u: np.ndarray) -> np.ndarray:
        """Values of the column at quantiles ``u`` (in [0, 1)) of the coordinate's measure over
        the space: uniform draws give a random sample, a low-discrepancy sequence an even one."""
        u = np.clip(np.asarray(u, dtype=float), 0.0, np.nextafter(1.0, 0.0))
        if self.kind == "levels":
            levels = self.levels or ()
            picks = (u * len(levels)).astype(int)
            return np.array([levels[i] for i in picks], dtype=object)
        if self.integer:
            lo, hi = self._unscale(self.low), self._unscale(self.high)
            ints = np.arange(int(np.ceil(lo - 1e-9)), int(np.floor(hi + 1e-9)) + 1)
            weights = np.ones(len(ints))
            if self.log:  # log-uniform over the integers: weights by the log-width of each
                edges = np.log10(np.concatenate([ints - 0.5, [ints[-1] + 0.5]]).clip(min=lo))
                weights = np.diff(edges)
            cdf = np.cumsum(weights) / weights.sum()
            return ints[np.searchsorted(cdf, u, side="right").clip(max=len(ints) - 1)].astype(float)
        return self._unscale(self.low + u * (self.high - self.low))

    def _unscale(self, scaled: Any) -> Any:
        return np.power(10.0, scaled) if self.log else scaled


# ------------------------------------------------------------------------------ building


def coordinates(
    table: pd.DataFrame,
    params: list[str],
    definition: Mapping[str, Any] | None,
    notes: list[str],
) -> tuple[list[Coordinate], dict[str, str]]:
    """One coordinate per parameter that varies, and why each other one is left out.

    Args:
        table: the trials analysed.
        params: the parameters, in order.
        definition: the searched space as recorded in ``spec.json`` (its ``params``), if any.
        notes: receives a sentence for every assumption (observed ranges, simplex draws).

    Returns:
        The coordinates, and parameter → "dropped: …" for those left out.
    """
    recorded = _recorded(definition)
    coords: list[Coordinate] = []
    dropped: dict[str, str] = {}
    observed_range: list[str] = []
    simplex: list[str] = []
    for p in params:
        column = p
        if _is_simplex(p, table, recorded, definition is not None):
            column = simplex_column(p)
        if column not in table.columns:
            dropped[p] = "dropped: not in the table"
            notes.append(f"{p}: not a column of the trials used: dropped")
            continue
        series = table[column]
        present = series.dropna()
        if present.empty:
            dropped[p] = "dropped: never set"
            notes.append(f"{p} is not set in any trial used: dropped")
            continue
        if present.astype(str).nunique() < 2 and not series.isna().any():
            dropped[p] = "dropped: constant"
            notes.append(f"{p} takes one value ({present.iloc[0]}) in every trial used: dropped")
            continue
        conditional = bool(series.isna().any())
        if column != p:
            simplex.append(p)
            coord = Coordinate(p, column, "numeric", low=0.0, high=1.0, range_source="draw")
        else:
            coord = _coordinate(p, present, recorded.get(p))
            if coord.range_source == "observed":
                observed_range.append(p)
        coords.append(replace(coord, conditional=conditional))
    if simplex:
        notes.append(
            "simplex components are analysed through the independent uniform the sampler drew "
            "for each (raw.*~u): a component's share is the effect of raising that weight at "
            "the expense of the others in proportion; the weights themselves sum to a constant "
            f"and cannot be separated ({', '.join(simplex)})"
        )
    if observed_range:
        notes.append(
            "no recorded range for " + ", ".join(observed_range) + ": analysed as numbers over "
            "the range observed (log scale when it spans a factor of 100 or more with most values "
            "in its lowest tenth)"
        )
    return coords, dropped


def _is_simplex(
    param: str, table: pd.DataFrame, recorded: dict[str, Mapping[str, Any]], has_space: bool
) -> bool:
    """Whether to analyse the parameter through its simplex draw: the recorded space says it is
    a simplex component, or (no space recorded) a varying ``raw.<param>~u`` column exists."""
    draw = simplex_column(param)
    if draw not in table.columns or not table[draw].notna().any():
        return False
    if has_space:
        return bool(recorded.get(param, {}).get("simplex"))
    return table[draw].nunique() > 1


def _recorded(definition: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """parameter → its recorded spec; simplex components get their own ``[low, high]``."""
    out: dict[str, Mapping[str, Any]] = {}
    for key, spec in ((definition or {}).get("params") or {}).items():
        if not isinstance(spec, Mapping):
            continue
        if spec.get("type") == "simplex":
            for name, bounds in (spec.get("components") or {}).items():
                try:
                    low, high = (float(b) for b in bounds)
                except (TypeError, ValueError):
                    continue
                out[f"{key}.{name}"] = {"type": "float", "low": low, "high": high, "simplex": True}
        else:
            out[key] = spec
    return out


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _coordinate(name: str, present: pd.Series, spec: Mapping[str, Any] | None) -> Coordinate:
    kind = (spec or {}).get("type")
    if kind == "categorical" or not _numeric(present):
        choices = [c for c in (spec or {}).get("choices", []) if c is not None]
        seen = sorted({str(v) for v in present})
        levels = [str(c) for c in choices if str(c) in seen] if choices else []
        levels += [v for v in seen if v not in levels]
        source = "choices" if choices else "observed"
        return Coordinate(name, name, "levels", levels=tuple(levels), range_source=source)
    x = present.to_numpy(dtype=float)
    integer = bool(np.all(x == np.round(x)))
    if kind in ("float", "int"):
        try:
            low, high = float(spec["low"]), float(spec["high"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            low, high = float(x.min()), float(x.max())
        log = bool(spec.get("log")) and min(low, x.min()) > 0  # type: ignore[union-attr]
        low, high, source = min(low, float(x.min())), max(high, float(x.max())), "spec.json"
        integer = kind == "int" or integer
    else:
        low, high, source = float(x.min()), float(x.max()), "observed"
        # log-spaced values crowd the bottom of a linear axis: median far below the top
        log = bool(low > 0 and high / low >= _LOG_SPAN and np.median(x) < 0.1 * high)
    coord = Coordinate(name, name, "numeric", log=log, integer=integer, range_source=source)
    lo, hi = coord.scaled(np.array([low, high]))
    return replace(coord, low=float(lo), high=float(hi))
