"""A search space as an Optuna define-by-run function, and the way back from raw parameters.

Optuna sees *raw* parameters; the recipe sees *effective* values. They are the same for ordinary
parameters. A ``fraction_of`` parameter is drawn as ``<path>~fraction`` and becomes
``round(fraction * value of 'of')`` (Python's round: halves go to the even integer). A simplex
``<prefix>`` is drawn as one uniform ``<prefix>.<component>~u`` per component and becomes weights
that sum to ``total`` within each component's range (:func:`simplex_weights`). A parameter with a
``when`` condition is drawn only in trials where the condition holds; elsewhere the recipe keeps
its base value.

Values that a parameter depends on (a condition's path, a fraction's ``of``) are looked up in this
order: drawn in the same trial, then ``fixed`` (values a stage holds fixed, e.g. inherited from
the best configuration so far), then ``base`` (the flattened base recipe).

Objective parameters (paths outside the recipe, for a trainable that takes ``params``) are drawn
like any other under their own names. The recipe has no value for them: :func:`base_point`
starts them at :func:`search_spaces.start_value` (the space's ``default``, else the midpoint or
the first choice), so the base configuration is a whole point, the same in every search, rather
than one whose missing coordinates the sampler would fill at random.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from search_spaces import (
    CategoricalParam,
    ConfigError,
    FloatParam,
    FractionOfParam,
    IntParam,
    ParamSpec,
    SimplexParam,
    Space,
    is_objective_path,
    start_value,
)

__all__ = [
    "base_point",
    "define_by_run",
    "effective_params",
    "fraction_name",
    "raw_distributions",
    "simplex_uniforms",
    "simplex_weights",
    "uniform_name",
]

_SUM_TOL = 1e-9
# -log(u) must stay finite and positive: u is kept inside the open interval (0, 1).
_U_MIN = np.finfo(float).tiny
_U_MAX = np.nextafter(1.0, 0.0)


def uniform_name(prefix: str, component: str) -> str:
    """Optuna name of the uniform drawn for a simplex component: ``loss.weights.boundary~u``."""
    return f"{prefix}.{component}~u"


def fraction_name(path: str) -> str:
    """Optuna name of the fraction drawn for ``fraction_of`` (``data.stride~fraction``)."""
    return f"{path}~fraction"


# ------------------------------------------------------------------------------------ simplex


def simplex_weights(
    us: Sequence[float], lows: Sequence[float], highs: Sequence[float], total: float
) -> np.ndarray:
    """Weights in ``[lows, highs]`` that sum to ``total``, from one uniform per component.

    The uniforms become a point of the flat Dirichlet distribution on the unit simplex by the
    exponential-spacings construction: ``e_i = -log(u_i)`` are i.i.d. Exp(1) and
    ``p = e / sum(e)`` is Dirichlet(1, ..., 1) distributed (Rubin 1981, "The Bayesian bootstrap";
    Devroye 1986, *Non-Uniform Random Variate Generation*, ch. V, uniform and exponential
    spacings). ``p`` then shares the slack above the lower bounds,
    ``w = low + p * (total - sum(low))``, and a component pushed above its ``high`` is clipped
    there, its excess going to the unsaturated components in
    proportion to their ``p`` (water-filling), until no component is above its bound. Without
    upper bounds that bind, ``w`` is exactly a scaled, shifted flat Dirichlet draw; with them the
    mass beyond a bound piles onto that bound (TPE still models the uniforms smoothly).

    Args:
        us: one number in [0, 1] per component (0 and 1 are nudged inside the open interval).
        lows: lower bounds, ``0 <= low``.
        highs: upper bounds, ``low <= high``.
        total: the sum of the weights, ``sum(lows) <= total <= sum(highs)``.

    Returns:
        The weights; ``abs(sum - total) <= 1e-9`` and every weight within its bounds.

    Raises:
        ConfigError: bounds of different lengths or an infeasible ``total``.
    """
    u = np.clip(np.asarray(us, dtype=float), _U_MIN, _U_MAX)
    low, high = np.asarray(lows, dtype=float), np.asarray(highs, dtype=float)
    if not u.shape == low.shape == high.shape or u.ndim != 1:
        raise ConfigError(
            f"simplex: need one uniform, low and high per component, got {u.shape}, "
            f"{low.shape}, {high.shape}"
        )
    slack = total - low.sum()
    if slack < -_SUM_TOL or high.sum() < total - _SUM_TOL or np.any(low > high):
        raise ConfigError(
            f"simplex: infeasible bounds, need sum(low) ({low.sum():g}) <= total ({total:g}) "
            f"<= sum(high) ({high.sum():g}) and low <= high"
        )
    e = -np.log(u)
    p = e / e.sum()
    w = low + p * max(slack, 0.0)
    saturated = np.zeros(len(w), dtype=bool)
    for _ in range(len(w)):
        over = w > high
        if not over.any():
            break
        excess = float((w[over] - high[over]).sum())
        w[over] = high[over]
        saturated |= over
        free = ~saturated
        share = p[free].sum()
        if share > 0:
            w[free] += excess * p[free] / share
        else:
            # Every free component drew p = 0: fill them by their remaining room instead.
            room = high[free] - w[free]
            w[free] += excess * room / room.sum()
    return np.clip(w, low, high)


def simplex_uniforms(
    weights: Sequence[float], lows: Sequence[float], highs: Sequence[float], total: float
) -> np.ndarray:
    """Uniforms that :func:`simplex_weights` turns back into ``weights``.

    Any feasible ``weights`` (within bounds, summing to ``total``) is reached without clipping:
    ``p = (w - low) / (total - sum(low))`` and ``u_i = exp(-K * p_i)``, so that ``-log(u)`` is
    proportional to ``p`` (K, the number of components, gives ``-log(u)`` a mean of 1, as for
    Exp(1) draws).

    Raises:
        ConfigError: weights outside their bounds or not summing to ``total`` within 1e-9.
    """
    w = np.asarray(weights, dtype=float)
    low, high = np.asarray(lows, dtype=float), np.asarray(highs, dtype=float)
    if np.any(w < low - _SUM_TOL) or np.any(w > high + _SUM_TOL):
        raise ConfigError(f"simplex: weights {w.tolist()} leave the bounds {low}..{high}")
    if abs(w.sum() - total) > _SUM_TOL:
        raise ConfigError(f"simplex: weights sum to {w.sum():.12g}, not to total {total:g}")
    slack = total - low.sum()
    if slack <= _SUM_TOL:
        return np.full(len(w), math.exp(-1.0))
    p = np.clip((w - low) / slack, 0.0, 1.0)
    return np.clip(np.exp(-len(w) * p), _U_MIN, _U_MAX)


def _fit_simplex(values: np.ndarray, spec: SimplexParam) -> np.ndarray:
    """The nearest-in-spirit feasible weights: rescale to ``total``, clip, then refill."""
    low, high = np.asarray(spec.lows()), np.asarray(spec.highs())
    w = values * (spec.total / values.sum()) if values.sum() > 0 else low.copy()
    w = np.clip(w, low, high)
    gap = spec.total - w.sum()
    # Move the gap onto the components that have room, in proportion to that room.
    room = (high - w) if gap > 0 else (w - low)
    if abs(gap) > 0 and room.sum() > 0:
        w = w + np.sign(gap) * room * min(1.0, abs(gap) / room.sum())
    return w


# ------------------------------------------------------------------------------ raw to values


def _native(value: Any) -> Any:
    """A numpy scalar (as read from a table) as the Python value Optuna would have given."""
    return value.item() if isinstance(value, np.generic) else value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class _Unknown:
    """A value outside the space that no mapping gives (grid points built without a base)."""


_UNKNOWN = _Unknown()


def _lookup(
    path: str, values: Mapping, fixed: Mapping, base: Mapping, lenient: bool = False
) -> Any:
    for source in (values, fixed, base):
        if path in source:
            return source[path]
    if lenient:
        return _UNKNOWN
    raise ConfigError(f"the base recipe has no parameter {path!r} (needed by the search space)")


def _active(
    spec: Any, values: Mapping, fixed: Mapping, base: Mapping, lenient: bool = False
) -> bool:
    for target, allowed in (spec.when or {}).items():
        value = _lookup(target, values, fixed, base, lenient)
        if value is not _UNKNOWN and value not in allowed:
            return False
    return True


def raw_distributions(space: Space) -> dict[str, BaseDistribution]:
    """The Optuna distribution of every raw parameter of ``space`` (by raw name)."""
    out: dict[str, BaseDistribution] = {}
    for key, spec in space.params.items():
        if isinstance(spec, FloatParam):
            out[key] = FloatDistribution(spec.low, spec.high, log=spec.log, step=spec.step)
        elif isinstance(spec, IntParam):
            out[key] = IntDistribution(spec.low, spec.high, log=spec.log, step=spec.step or 1)
        elif isinstance(spec, CategoricalParam):
            out[key] = CategoricalDistribution(spec.choices)
        elif isinstance(spec, FractionOfParam):
            out[fraction_name(key)] = CategoricalDistribution(spec.choices)
        else:
            for c in spec.components:
                out[uniform_name(key, c)] = FloatDistribution(0.0, 1.0)
    return out


def _resolve(
    space: Space,
    draw: Callable[[str, BaseDistribution], Any],
    base: Mapping[str, Any],
    fixed: Mapping[str, Any],
    lenient: bool = False,
) -> dict[str, Any]:
    """Effective values of one trial, drawing each active raw parameter with ``draw``.

    ``lenient``: a path found nowhere satisfies every condition instead of raising.
    """
    dists = raw_distributions(space)
    values: dict[str, Any] = {}
    for key in space.sampling_order():
        spec = space.params[key]
        if not _active(spec, values, fixed, base, lenient):
            continue
        if isinstance(spec, SimplexParam):
            names = [uniform_name(key, c) for c in spec.components]
            us = [draw(n, dists[n]) for n in names]
            weights = simplex_weights(us, spec.lows(), spec.highs(), spec.total)
            values.update(
                {f"{key}.{c}": float(w) for c, w in zip(spec.components, weights, strict=True)}
            )
        elif isinstance(spec, FractionOfParam):
            frac = draw(fraction_name(key), dists[fraction_name(key)])
            of_value = _lookup(spec.of, values, fixed, base, lenient)
            values[key] = of_value if of_value is _UNKNOWN else round(frac * of_value)
        else:
            values[key] = draw(key, dists[key])
    return values


def define_by_run(
    space: Space, base: Mapping[str, Any], fixed: Mapping[str, Any] | None = None
) -> Callable[[optuna.Trial], dict[str, Any]]:
    """The space as an Optuna define-by-run function.

    Args:
        space: the search space.
        base: the flattened base recipe (``search_spaces.flatten(recipe)``).
        fixed: values this stage holds fixed over ``base`` (used only for paths not drawn).

    Returns:
        A function that suggests the raw parameters on a trial and returns the effective recipe
        values ``{dotted.path: value}`` of the parameters active in that trial.
    """
    fixed = dict(fixed or {})

    def suggest(trial: optuna.Trial) -> dict[str, Any]:
        def draw(name: str, dist: BaseDistribution) -> Any:
            if isinstance(dist, FloatDistribution):
                return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
            if isinstance(dist, IntDistribution):
                return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
            return trial.suggest_categorical(name, dist.choices)

        return _resolve(space, draw, base, fixed)

    return suggest


def effective_params(
    space: Space,
    raw_params: Mapping[str, Any],
    base: Mapping[str, Any],
    fixed: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The effective values that :func:`define_by_run` returns for these raw parameters.

    Raises:
        ConfigError: a raw parameter that the trial's conditions make active is missing.
    """

    def draw(name: str, dist: BaseDistribution) -> Any:
        value = _native(raw_params.get(name))
        none_ok = isinstance(dist, CategoricalDistribution) and None in dist.choices
        if name not in raw_params or (_missing(value) and not none_ok):
            raise ConfigError(f"raw parameters lack {name!r}, active in this trial")
        return None if _missing(value) else value

    return _resolve(space, draw, base, dict(fixed or {}))


# ------------------------------------------------------------------------- values to raw: base


def _nearest(value: Any, choices: Sequence[Any]) -> Any:
    numeric = [c for c in choices if isinstance(c, int | float) and not isinstance(c, bool)]
    if isinstance(value, int | float) and not isinstance(value, bool) and numeric:
        return min(numeric, key=lambda c: abs(c - value))
    return choices[0]


def base_point(
    space: Space, base: Mapping[str, Any], fixed: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The raw parameters that reproduce the base recipe, to evaluate it first.

    A base value outside a numeric range is clipped into it (and snapped to its step); a
    categorical value that is not a choice becomes the nearest numeric choice, or the first
    one; a ``fraction_of`` value becomes the nearest fraction; simplex weights that do not sum
    to ``total`` are rescaled (stage1pp's seven weights sum to 1.1), then fitted into the
    component ranges when they leave them. An objective parameter, which the recipe does not
    hold, starts at :func:`search_spaces.start_value` (with a note unless it is its default).

    Args:
        space: the search space.
        base: the flattened base recipe.
        fixed: values held fixed over ``base`` (as for :func:`define_by_run`).

    Returns:
        (raw parameters for ``points_to_evaluate`` / ``enqueue_trial``, one note per adjustment).
    """
    fixed = dict(fixed or {})
    point: dict[str, Any] = {}
    values: dict[str, Any] = {}
    notes: list[str] = []
    for key in space.sampling_order():
        spec = space.params[key]
        if not _active(spec, values, fixed, base):
            continue
        if isinstance(spec, SimplexParam):
            _base_simplex(key, spec, fixed, base, point, values, notes)
        elif isinstance(spec, FractionOfParam):
            _base_fraction(key, spec, fixed, base, point, values, notes)
        else:
            current = _lookup(key, {}, fixed, base, lenient=is_objective_path(key))
            if current is _UNKNOWN:
                value = _base_value(spec, start_value(spec))  # a narrowed range may move it
                default = getattr(spec, "default", None)
                if value != default:
                    where = f"default {default!r}" if default is not None else "no default"
                    notes.append(
                        f"{key}: an objective parameter ({where}), not in the recipe; "
                        f"starting at {value!r}"
                    )
            else:
                value = _base_value(spec, current)
                if value != current:
                    notes.append(
                        f"{key}: base value {current!r} is outside the space; starting at {value!r}"
                    )
            point[key] = value
            values[key] = value
    return point, notes


def _base_simplex(
    key: str,
    spec: SimplexParam,
    fixed: Mapping[str, Any],
    base: Mapping[str, Any],
    point: dict[str, Any],
    values: dict[str, Any],
    notes: list[str],
) -> None:
    """The uniforms that reproduce the base's weights (rescaled to the total, fitted into the
    component ranges when they leave them)."""
    names = list(spec.components)
    given = np.array([float(_lookup(f"{key}.{c}", {}, fixed, base)) for c in names])
    w = given
    if abs(given.sum() - spec.total) > _SUM_TOL:
        w = given * (spec.total / given.sum()) if given.sum() > 0 else given
        notes.append(
            f"{key}: the base weights sum to {given.sum():g}, not {spec.total:g}; "
            f"rescaled by {spec.total:g}/{given.sum():g}"
        )
    low, high = np.asarray(spec.lows()), np.asarray(spec.highs())
    if np.any(w < low - _SUM_TOL) or np.any(w > high + _SUM_TOL) or w.sum() <= 0:
        w = _fit_simplex(w, spec)
        notes.append(
            f"{key}: the base weights leave the component ranges; fitted into them as "
            + ", ".join(f"{c}={x:.4g}" for c, x in zip(names, w, strict=True))
        )
    us = simplex_uniforms(w, low, high, spec.total)
    point.update({uniform_name(key, c): float(u) for c, u in zip(names, us, strict=True)})
    values.update({f"{key}.{c}": float(x) for c, x in zip(names, w, strict=True)})


def _base_fraction(
    key: str,
    spec: FractionOfParam,
    fixed: Mapping[str, Any],
    base: Mapping[str, Any],
    point: dict[str, Any],
    values: dict[str, Any],
    notes: list[str],
) -> None:
    """The base's own fraction (of its own ``of``), kept even if ``of`` was adjusted."""
    current = _lookup(key, {}, fixed, base)
    frac = _nearest(current / _lookup(spec.of, {}, fixed, base), spec.choices)
    of_value = _lookup(spec.of, values, fixed, base)
    value = round(frac * of_value)
    if value != current:
        notes.append(
            f"{key}: base value {current} becomes {frac:g} x {spec.of} ({of_value}) = {value}"
        )
    point[fraction_name(key)] = frac
    values[key] = value


def _base_value(spec: ParamSpec, current: Any) -> Any:
    """A base value moved into a float/int/categorical parameter's range (and onto its step)."""
    if isinstance(spec, CategoricalParam):
        return current if current in spec.choices else _nearest(current, spec.choices)
    if current is None:
        return spec.low
    value = min(max(current, spec.low), spec.high)
    if spec.step is not None:
        value = spec.low + round((value - spec.low) / spec.step) * spec.step
        value = min(value, spec.high)
    return round(value) if isinstance(spec, IntParam) else float(value)
