"""The recipe a command runs: a built-in name or a YAML path, then its options, then ``set``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from search_spaces import ConfigError, Recipe, apply_overrides, load_recipe, parse_override

__all__ = ["Overrides", "local_gpu", "parse_sets", "resolve_recipe"]

#: ``set``: ``["optim.lr=3e-4", ...]`` (as on the command line) or ``{"optim.lr": 3e-4}``
Overrides = Mapping[str, Any] | Sequence[str] | None


def local_gpu() -> bool:
    """Whether torch sees a GPU here (for the commands that train or measure in this process)."""
    import torch

    return bool(torch.cuda.is_available())


def parse_sets(sets: Overrides) -> dict[str, Any]:
    """``set`` as ``{dotted path: value}``: a mapping as it is, ``"path=value"`` strings parsed.

    Raises:
        ConfigError: a string without ``=`` (``param="set"``).
    """
    if sets is None:
        return {}
    if isinstance(sets, Mapping):
        return dict(sets)
    if isinstance(sets, str):
        sets = [sets]
    try:
        return dict(parse_override(s) for s in sets)
    except ConfigError as exc:
        raise ConfigError(str(exc), param="set") from None


def resolve_recipe(
    recipe: str | Recipe,
    data: str | Path | None,
    sets: Overrides,
    epochs: int | None,
    on_bad_sample: str | None,
    *,
    has_gpu: bool | None = None,
    memory_cap: str | None = None,
) -> Recipe:
    """The recipe a command runs: ``auto`` picks ``stage1pp`` with a GPU, ``cpu_demo`` without
    (``has_gpu``; by default whether torch sees one here); then the dedicated arguments, then
    ``sets`` (which win).

    Args:
        recipe: ``auto``, a built-in recipe's name, a YAML path, or a :class:`Recipe`.
        data, epochs, on_bad_sample, memory_cap: the dedicated arguments (``None``: the
            recipe's own value).
        sets: overrides by dotted path (see :data:`Overrides`).

    Raises:
        ConfigError: a value that breaks the recipe's rules, naming the argument it came from
            (``epochs=0`` is reported as ``epochs``, with ``param="epochs"``, not as a ``set``
            of ``optim.epochs``).
    """
    if isinstance(recipe, Recipe):
        base = recipe
    else:
        if recipe == "auto":
            recipe = "stage1pp" if (local_gpu() if has_gpu is None else has_gpu) else "cpu_demo"
        base = load_recipe(recipe)
    options = {
        "data": ("data.root", None if data is None else str(data)),
        "epochs": ("optim.epochs", epochs),
        "on_bad_sample": ("data.on_bad_sample", on_bad_sample),
        "memory_cap": ("memory.cap", memory_cap),
    }
    overrides: dict[str, Any] = {}
    for param, (path, value) in options.items():
        if value is not None:
            _check_option(base, param, path, value)
            overrides[path] = value
    overrides.update(parse_sets(sets))
    return apply_overrides(base, overrides) if overrides else base


def _check_option(base: Recipe, param: str, path: str, value: Any) -> None:
    """The argument's own rule first, so that its error names the argument."""
    try:
        apply_overrides(base, {path: value}, source=param)
    except ConfigError as exc:
        # "data" also begins the path "data.root": its flag would replace both
        raise ConfigError(str(exc), param=None if param == "data" else param) from None
