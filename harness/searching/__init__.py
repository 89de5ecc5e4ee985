"""Search: spaces turned into define-by-run sampling, range narrowing, stages and staged plans.

A search stage (:func:`run_stage`) and a plan's validation stage are configurations of the
engine core :func:`harness.tune.run_experiment`; nothing here imports ray.
"""

from __future__ import annotations

import sys
import types
from typing import Any

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


class _SearchPackage(types.ModuleType):
    """This package, callable as the API's :func:`harness.search`.

    Importing ``harness.search`` (the package) makes it the attribute ``search`` of ``harness``
    (Python's import system sets it), which would hide the function of the same name; so the
    package itself calls the function, and ``harness.search(...)`` works in any import order.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from harness._search_api import search

        return search(*args, **kwargs)

    @property
    def __signature__(self) -> Any:
        import inspect

        from harness._search_api import search

        return inspect.signature(search)


sys.modules[__name__].__class__ = _SearchPackage
