"""Recipes, search spaces and plans as validated YAML data.

This package imports only pydantic and yaml, so every other package (and the CLI, before Ray or
torch start) can load and validate configuration cheaply.
"""

from __future__ import annotations

from search_spaces._components import (
    LOSS_COMPONENTS,
    Variant,
    get_component,
    list_components,
    only_term,
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
    start_value,
)
from search_spaces._plan import Plan, Stage, list_plans, load_plan
from search_spaces._recipe import (
    LossConfig,
    LossWeights,
    MemoryConfig,
    ModelConfig,
    Recipe,
)
from search_spaces._space import Space, is_objective_path, list_spaces, load_space
from search_spaces._spec import SPEC_FILE, RunSpec, has_spec, read_spec, write_spec
from search_spaces._vocab import (
    BREAKDOWN_METRICS,
    FAILURE_STATUSES,
    FINISHED_STATUSES,
    RECIPE_METRICS,
    SUCCESS_STATUSES,
    TrialStatus,
    check_recipe_metric,
    metric_direction,
)

__all__ = [
    "BREAKDOWN_METRICS",
    "FAILURE_STATUSES",
    "FINISHED_STATUSES",
    "LOSS_COMPONENTS",
    "RECIPE_METRICS",
    "SPEC_FILE",
    "SUCCESS_STATUSES",
    "CategoricalParam",
    "ConfigError",
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
    "ParamSpec",
    "Plan",
    "Recipe",
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
    "only_term",
    "parse_override",
    "read_spec",
    "recipe_to_yaml",
    "start_value",
    "variant_drop",
    "variant_only",
    "write_spec",
]
