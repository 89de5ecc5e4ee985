"""Recipes, search spaces and plans as validated YAML data.

This package imports only pydantic and yaml, so every other package (and the CLI, before Ray or
torch start) can load and validate configuration cheaply.
"""

from __future__ import annotations

from search_spaces._components import (
    AUX_HEADS,
    LOSS_COMPONENTS,
    Component,
    Variant,
    get_component,
    list_components,
    variant_drop,
    variant_only,
)
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
from search_spaces._params import (
    CategoricalParam,
    FloatParam,
    FractionOfParam,
    IntParam,
    ParamSpec,
    SimplexParam,
    describe_param,
    format_value,
    start_value,
)
from search_spaces._plan import NarrowSpec, Plan, Stage, list_plans, load_plan
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
from search_spaces._space import Space, is_objective_path, list_spaces, load_space
from search_spaces._spec import SPEC_FILE, RunKind, RunSpec, has_spec, read_spec, write_spec
from search_spaces._vocab import (
    FAILURE_STATUSES,
    FINISHED_STATUSES,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    RECIPE_METRICS,
    SUCCESS_STATUSES,
    TrialStatus,
    check_recipe_metric,
    metric_direction,
)

__all__ = [
    "AUX_HEADS",
    "FAILURE_STATUSES",
    "FINISHED_STATUSES",
    "HIGHER_IS_BETTER",
    "LOSS_COMPONENTS",
    "LOWER_IS_BETTER",
    "RECIPE_METRICS",
    "SPEC_FILE",
    "SUCCESS_STATUSES",
    "AttentionConfig",
    "CategoricalParam",
    "Component",
    "ConfigError",
    "DataConfig",
    "DataError",
    "DivergedError",
    "FloatParam",
    "FractionOfParam",
    "HarnessError",
    "IntParam",
    "LossConfig",
    "LossWeights",
    "MemoryCapExceeded",
    "MemoryConfig",
    "ModelConfig",
    "NarrowSpec",
    "OptimConfig",
    "ParamSpec",
    "Plan",
    "Recipe",
    "RunKind",
    "RunSpec",
    "SimplexParam",
    "Space",
    "Stage",
    "TrialStatus",
    "Variant",
    "apply_overrides",
    "check_recipe_metric",
    "describe_param",
    "flatten",
    "format_bytes",
    "format_value",
    "get_component",
    "has_spec",
    "is_objective_path",
    "list_components",
    "list_plans",
    "list_recipes",
    "list_spaces",
    "load_plan",
    "load_recipe",
    "load_space",
    "metric_direction",
    "parse_override",
    "read_spec",
    "recipe_to_yaml",
    "start_value",
    "variant_drop",
    "variant_only",
    "write_spec",
]
