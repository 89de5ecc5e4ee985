"""Searching: spaces turned into define-by-run sampling, range narrowing, stages and staged plans.

(The API function ``harness.search`` lives in :mod:`harness._search_api`; this package has a name
of its own so that importing it never hides that function.)

A search stage (:func:`run_stage`) and a plan's validation stage are configurations of the
engine core :func:`harness.tune.run_experiment`; nothing here imports ray.
"""

from __future__ import annotations

from harness.searching._narrow import narrow_space
from harness.searching._plan import fidelity_table, run_plan
from harness.searching._stage import (
    SearchSettings,
    run_stage,
)

__all__ = [
    "SearchSettings",
    "fidelity_table",
    "narrow_space",
    "run_plan",
    "run_stage",
]
