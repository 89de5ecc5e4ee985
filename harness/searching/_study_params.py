"""The effective parameters of a trial as Optuna tools should see them (the exported journal).

Objective parameters (paths outside the recipe, for a trainable that takes ``params``) are
drawn under their own names with their own distributions, so they appear in the journal as they
do in the tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from harness.searching._sampling import _missing, _native, effective_params, raw_distributions
from search_spaces import CategoricalParam, ConfigError, FractionOfParam, SimplexParam, Space

__all__ = ["StudyParams", "effective_distributions"]


def effective_distributions(space: Space, base: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """The Optuna distribution of every effective value (by recipe path, or by name for an
    objective parameter): a range's own, a simplex component's bounds, and the values a
    ``fraction_of`` parameter can take."""
    raw = raw_distributions(space)
    out: dict[str, BaseDistribution] = {}
    for key, spec in space.params.items():
        if isinstance(spec, SimplexParam):
            for c, lo, hi in zip(spec.components, spec.lows(), spec.highs(), strict=True):
                out[f"{key}.{c}"] = FloatDistribution(float(lo), float(hi))
        elif isinstance(spec, FractionOfParam):
            of = space.params.get(spec.of)
            wholes = of.choices if isinstance(of, CategoricalParam) else [base.get(spec.of)]
            values = sorted({round(f * w) for f in spec.choices for w in wholes if w is not None})
            out[key] = CategoricalDistribution(values)
        else:
            out[key] = raw[key]
    return out


class StudyParams:
    """A trial's raw Optuna parameters -> (its effective values by recipe path, their
    distributions): what the exported journal shows to optuna-dashboard and Optuna's
    importance, so they name the same parameters as ``harness report``."""

    def __init__(self, space: Space, base: Mapping[str, Any]) -> None:
        self.space, self.base = space, dict(base)
        self.distributions = effective_distributions(space, base)

    def __call__(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            values = effective_params(self.space, raw, self.base)
        except ConfigError:  # a trial that failed before its parameters were all drawn
            return {}, {}
        params = {
            p: _native(values[p])
            for p in self.distributions
            if p in values and not _missing(values[p])
        }
        for path, value in list(params.items()):
            dist = self.distributions[path]
            if isinstance(dist, CategoricalDistribution) and value not in dist.choices:
                params.pop(path)  # a value the space cannot produce: left out, not mislabelled
            elif isinstance(dist, FloatDistribution | IntDistribution):
                params[path] = min(max(value, dist.low), dist.high)
        return params, {p: self.distributions[p] for p in params}
