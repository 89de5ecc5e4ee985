"""The engine on Ray Tune: the only package of the harness that imports ray.

:func:`run_experiment` runs every Ray Tune experiment of the harness (search stages, validation
stages, ablation cells); around it are the Ray trainable, the Optuna searcher adapter, the display
and persistence callbacks, the tables, the cluster connection and the run directory.
:mod:`harness.tune._ray_compat` holds every access to Ray's and Optuna's private attributes.

Names are imported on first use (PEP 562), so importing a ray-free module of this package (the
run directory) or the package itself does not load ray; using the engine does.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BUDGET_FILE": "harness.tune._budget",
    "Budget": "harness.tune._budget",
    "Experiment": "harness.tune._engine",
    "FAULT_ENV": "harness.tune._trainable",
    "HarnessOptunaSearch": "harness.tune._searcher",
    "JOURNAL": "harness.tune._engine",
    "STATUS_KEY": "harness.tune._searcher",
    "SearchProgress": "harness.tune._progress",
    "TESTED_RAY": "harness.tune._ray_compat",
    "TableWriter": "harness.tune._table_writer",
    "TrialRecord": "harness.tune._tables",
    "asha_scheduler": "harness.tune._engine",
    "create_run_dir": "harness.tune._rundir",
    "environment": "harness.tune._rundir",
    "grid_search": "harness.tune._engine",
    "write_json": "harness.tune._rundir",
    "best_row": "harness.tune._tables",
    "build_searcher": "harness.tune._searcher",
    "build_tables": "harness.tune._tables",
    "can_restore": "harness.tune._engine",
    "connect": "harness.tune._cluster",
    "make_ray_trainable": "harness.tune._trainable",
    "make_sampler": "harness.tune._searcher",
    "rebuild_tables": "harness.tune._engine",
    "records_from_result_grid": "harness.tune._tables",
    "resolve_storage": "harness.tune._cluster",
    "resolve_trainable": "harness.tune._trainable",
    "run_experiment": "harness.tune._engine",
    "snapshot_finished_trial_ids": "harness.tune._ray_compat",
}

__all__ = [
    "BUDGET_FILE",
    "FAULT_ENV",
    "JOURNAL",
    "STATUS_KEY",
    "TESTED_RAY",
    "Budget",
    "Experiment",
    "HarnessOptunaSearch",
    "SearchProgress",
    "TableWriter",
    "TrialRecord",
    "asha_scheduler",
    "best_row",
    "build_searcher",
    "build_tables",
    "can_restore",
    "connect",
    "create_run_dir",
    "environment",
    "grid_search",
    "make_ray_trainable",
    "make_sampler",
    "rebuild_tables",
    "records_from_result_grid",
    "resolve_storage",
    "resolve_trainable",
    "run_experiment",
    "snapshot_finished_trial_ids",
    "write_json",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.tune' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
