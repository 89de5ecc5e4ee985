"""Grid sampling of a search space: every value list, and every distinct configuration."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from optuna.distributions import BaseDistribution

from harness.searching._sampling import _resolve, fraction_name
from search_spaces import ConfigError, FloatParam, FractionOfParam, IntParam, SimplexParam, Space

__all__ = ["grid_points", "grid_search_space"]


def grid_search_space(space: Space) -> dict[str, list[Any]]:
    """The value list of every raw parameter, for ``optuna.samplers.GridSampler``.

    Raises:
        ConfigError: a simplex, or a float/int parameter without ``step``.
    """
    out: dict[str, list[Any]] = {}
    for key, spec in space.params.items():
        if isinstance(spec, SimplexParam):
            raise ConfigError(
                f"space {space.name!r}: grid sampling does not support simplex spaces "
                f"({key}); use tpe or random"
            )
        if isinstance(spec, FloatParam | IntParam):
            if spec.step is None:
                raise ConfigError(
                    f"space {space.name!r}: grid sampling needs a step for {spec.type} "
                    f"parameter {key} (or make it categorical); use tpe or random"
                )
            n = round((spec.high - spec.low) / spec.step)
            grid = [spec.low + i * spec.step for i in range(n + 1)]
            out[key] = [int(v) for v in grid] if isinstance(spec, IntParam) else grid
        elif isinstance(spec, FractionOfParam):
            out[fraction_name(key)] = list(spec.choices)
        else:
            out[key] = list(spec.choices)
    return out


def grid_points(space: Space, base: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every distinct configuration of the grid, as raw parameters.

    The Cartesian product of :func:`grid_search_space`, with the parameters that a point's own
    conditions switch off removed and the duplicates this leaves dropped (``attention``: 4 types
    x 3 block counts = 12 products, 10 distinct configurations). A condition on a path outside
    the space is read from ``base``; without ``base`` such a parameter counts as active.
    """
    grid = grid_search_space(space)
    out: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    for combo in itertools.product(*grid.values()):
        raw = dict(zip(grid, combo, strict=True))
        drawn: list[str] = []

        def draw(name: str, dist: BaseDistribution, raw: dict = raw, drawn: list = drawn) -> Any:
            drawn.append(name)
            return raw[name]

        _resolve(space, draw, base or {}, {}, lenient=base is None)
        point = {name: raw[name] for name in drawn}
        signature = tuple(point.items())
        if signature not in seen:
            seen.add(signature)
            out.append(point)
    return out
