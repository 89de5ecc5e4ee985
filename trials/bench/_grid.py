"""The benchmark grid: ``grid`` items ``path=v1,v2`` parsed, validated and expanded.

Each axis is a dotted recipe path with a list of values; the grid is the Cartesian product of
all axes. Every value is validated through :func:`search_spaces.apply_overrides` when parsed, and
every combination again when expanded (rules across fields, such as ``data.stride <=
data.tile_size``, only show up in combination), so a typo fails before anything is measured.
Errors name the item and carry ``param="grid"`` (the command line prints ``--grid``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from search_spaces import ConfigError, Recipe, apply_overrides, flatten

__all__ = ["GridAxis", "expand_grid", "parse_grid"]


@dataclass(frozen=True)
class GridAxis:
    """One axis of the grid.

    Attributes:
        path: the dotted recipe path, e.g. ``data.batch_size``.
        values: the validated values, in the recipe's own types (``"true"`` becomes ``True``,
            ``"1MiB"`` for ``memory.cap`` becomes ``1048576``), in the order given.
        source: the ``grid`` item it came from (for error messages).
    """

    path: str
    values: tuple[Any, ...]
    source: str


def _error(message: str) -> ConfigError:
    return ConfigError(message, param="grid")


def _apply(base: Recipe, overrides: dict[str, Any], source: str) -> Recipe:
    try:
        return apply_overrides(base, overrides, source=source)
    except ConfigError as exc:
        raise _error(str(exc)) from None


def _parse_value(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _split_item(item: str, seen: dict[str, str]) -> tuple[str, list[Any]]:
    source = f"grid {item}"
    if "=" not in item:
        raise _error(f"{source}: expected the form path=v1,v2,... e.g. data.batch_size=1,2,4")
    path, raw = (part.strip() for part in item.split("=", 1))
    if not path:
        raise _error(f"{source}: the path before '=' is empty")
    if path in seen:
        raise _error(
            f"{source}: {path!r} is already an axis (from {seen[path]!r}); give each path once"
        )
    raws = [r.strip() for r in raw.split(",")]
    if not raw.strip() or any(not r for r in raws):
        raise _error(
            f"{source}: every value must be non-empty, got {raw!r}; "
            "separate values with commas, e.g. 1,2,4"
        )
    seen[path] = item
    return path, [_parse_value(r) for r in raws]


def _validated(
    base: Recipe, path: str, value: Any, others: dict[str, list[Any]], source: str
) -> Any:
    """``value`` in the recipe's type, if it is valid with at least one choice of the others.

    A value is first applied alone to ``base``; if a rule across fields rejects it there (for
    example ``data.stride`` larger than the base ``data.tile_size``), it is tried together with
    the values of the other axes, so that ``--grid data.tile_size=64,128 --grid
    data.stride=48,96`` is accepted here and only the bad combination is refused by
    :func:`expand_grid`.
    """
    try:
        return flatten(_apply(base, {path: value}, source))[path]
    except ConfigError as alone:
        for combo in itertools.product(*others.values()):
            overrides = {**dict(zip(others, combo, strict=True)), path: value}
            try:
                return flatten(_apply(base, overrides, source))[path]
            except ConfigError:
                continue
        raise alone from None


def parse_grid(items: Iterable[str], base: Recipe) -> list[GridAxis]:
    """Parse ``["data.batch_size=1,2,4", "optim.amp=true,false"]`` into validated axes.

    Args:
        items: the ``grid`` items, each ``path=v1,v2,...``.
        base: the recipe the values are applied to (each value is validated against it, or
            against it with some values of the other axes when a rule across fields needs them).

    Returns:
        One :class:`GridAxis` per argument, in the order given.

    Raises:
        ConfigError: an argument without ``=``, an empty value list or value, a path given twice,
            an unknown path or a value the recipe rejects; the message names the ``grid``
            item (``param="grid"``).
    """
    seen: dict[str, str] = {}
    parsed = [(item, *_split_item(item, seen)) for item in items]
    axes: list[GridAxis] = []
    for item, path, raws in parsed:
        source = f"grid {item}"
        others = {p: r for _, p, r in parsed if p != path}
        values = [_validated(base, path, value, others, source) for value in raws]
        if len(set(map(repr, values))) != len(values):
            raise _error(f"{source}: values repeat after parsing ({values}); give each once")
        axes.append(GridAxis(path=path, values=tuple(values), source=source))
    return axes


def expand_grid(base: Recipe, axes: Sequence[GridAxis]) -> list[tuple[dict[str, Any], Recipe]]:
    """Every combination of the axes as ``(values by path, recipe)``; the first axis varies slowest.

    With no axes the result is the base recipe alone, with an empty combination.

    Raises:
        ConfigError: a combination breaks a rule across fields (the message gives the
            combination).
    """
    out = []
    for combo in itertools.product(*(axis.values for axis in axes)):
        values = {axis.path: value for axis, value in zip(axes, combo, strict=True)}
        label = " ".join(f"{k}={v}" for k, v in values.items()) or "<base recipe>"
        recipe = _apply(base, values, f"grid combination {label}")
        out.append((values, recipe))
    return out
