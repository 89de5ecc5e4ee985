"""The recipe a command runs: a built-in name or a YAML path, then its options, then ``--set``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from search_spaces import Recipe, apply_overrides, load_recipe, parse_override

__all__ = ["local_gpu", "resolve_recipe"]


def local_gpu() -> bool:
    """Whether torch sees a GPU here (for the commands that train or measure in this process)."""
    import torch

    return bool(torch.cuda.is_available())


def resolve_recipe(
    recipe: str,
    data: Path | None,
    sets: list[str],
    epochs: int | None,
    on_bad_sample: str | None,
    *,
    has_gpu: bool | None = None,
    memory_cap: str | None = None,
) -> Recipe:
    """The recipe a command runs: ``auto`` picks ``stage1pp`` with a GPU, ``cpu_demo`` without
    (``has_gpu``; by default whether torch sees one here); then the dedicated options, then
    ``--set`` overrides (which win).

    Raises:
        ConfigError: a value that breaks the recipe's rules, naming the option it came from
            (``--epochs 0`` is reported as ``--epochs``, not as ``--set optim.epochs``).
    """
    if recipe == "auto":
        recipe = "stage1pp" if (local_gpu() if has_gpu is None else has_gpu) else "cpu_demo"
    base = load_recipe(recipe)
    options = {
        "--data": ("data.root", None if data is None else str(data)),
        "--epochs": ("optim.epochs", epochs),
        "--on-bad-sample": ("data.on_bad_sample", on_bad_sample),
        "--memory-cap": ("memory.cap", memory_cap),
    }
    overrides: dict[str, Any] = {}
    for option, (path, value) in options.items():
        if value is not None:
            apply_overrides(base, {path: value}, source=option)  # the option's own rule first
            overrides[path] = value
    overrides.update(dict(parse_override(s) for s in sets))
    return apply_overrides(base, overrides) if overrides else base
