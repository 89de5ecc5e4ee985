"""Search: spaces turned into define-by-run sampling, range narrowing, stages and staged plans.

A search stage (:func:`run_stage`) and a plan's validation stage are configurations of the
engine core :func:`harness.tune.run_experiment`; nothing here imports ray.
"""

from __future__ import annotations

from harness.search._grid import grid_points
from harness.search._narrow import narrow_space
from harness.search._plan import fidelity_table, run_plan
from harness.search._sampling import (
    base_point,
    define_by_run,
    effective_params,
    simplex_weights,
)
from harness.search._stage import (
    DEFAULT_TRAINABLE,
    SearchSettings,
    StageResult,
    make_trainable,
    run_stage,
    stage_recipe,
)

__all__ = [
    "DEFAULT_TRAINABLE",
    "SearchSettings",
    "StageResult",
    "base_point",
    "define_by_run",
    "effective_params",
    "fidelity_table",
    "grid_points",
    "make_trainable",
    "narrow_space",
    "run_plan",
    "run_stage",
    "simplex_weights",
    "stage_recipe",
]
