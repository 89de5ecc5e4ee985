"""Searching: spaces turned into define-by-run sampling, range narrowing, stages and staged plans.

(The API function ``harness.search`` lives in :mod:`harness._search_api`; this package has a name
of its own so that importing it never hides that function.)

A search stage (:func:`run_stage`) and a plan's validation stage are configurations of the
engine core :func:`harness.tune.run_experiment`; nothing here imports ray.
"""

from __future__ import annotations

from harness.searching._grid import grid_points
from harness.searching._narrow import narrow_space
from harness.searching._plan import fidelity_table, run_plan
from harness.searching._sampling import (
    base_point,
    define_by_run,
    effective_params,
    simplex_weights,
)
from harness.searching._stage import (
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
