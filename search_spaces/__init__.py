"""Recipes, search spaces and plans as validated YAML data.

This package imports only pydantic and yaml, so every other package (and the CLI, before Ray or
torch start) can load and validate configuration cheaply.
"""

from __future__ import annotations

from search_spaces._errors import (
    ConfigError,
    DataError,
    DivergedError,
    HarnessError,
    MemoryCapExceeded,
    format_bytes,
)
from search_spaces._loader import (
    apply_overrides,
    flatten,
    list_recipes,
    load_recipe,
    parse_override,
    recipe_to_yaml,
)
from search_spaces._recipe import (
    AttentionConfig,
    DataConfig,
    LossConfig,
    LossWeights,
    MemoryConfig,
    ModelConfig,
    OptimConfig,
    Recipe,
)

__all__ = [
    "AttentionConfig",
    "ConfigError",
    "DataConfig",
    "DataError",
    "DivergedError",
    "HarnessError",
    "LossConfig",
    "LossWeights",
    "MemoryCapExceeded",
    "MemoryConfig",
    "ModelConfig",
    "OptimConfig",
    "Recipe",
    "apply_overrides",
    "flatten",
    "format_bytes",
    "list_recipes",
    "load_recipe",
    "parse_override",
    "recipe_to_yaml",
]
