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
    "BudgetLedger": "harness.tune._budget",
    "Experiment": "harness.tune._engine",
    "ExperimentResult": "harness.tune._engine",
    "FAULT_ENV": "harness.tune._trainable",
    "HarnessOptunaSearch": "harness.tune._searcher",
    "JOURNAL": "harness.tune._engine",
    "RAW_MARK": "harness.tune._trainable",
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
    "check_mlflow": "harness.tune._engine",
    "classify": "harness.tune._searcher",
    "cluster_gpus": "harness.tune._cluster",
    "connect": "harness.tune._cluster",
    "effective_config": "harness.tune._trainable",
    "error_line": "harness.tune._tables",
    "export_study": "harness.tune._searcher",
    "make_ray_trainable": "harness.tune._trainable",
    "make_sampler": "harness.tune._searcher",
    "ray_experiment_path": "harness.tune._engine",
    "rebuild_tables": "harness.tune._engine",
    "records_from_result_grid": "harness.tune._tables",
    "resolve_storage": "harness.tune._cluster",
    "resolve_trainable": "harness.tune._trainable",
    "run_experiment": "harness.tune._engine",
    "snapshot_finished_trial_ids": "harness.tune._ray_compat",
    "spent_in_tables": "harness.tune._budget",
    "trial_dirname": "harness.tune._trainable",
    "write_tables": "harness.tune._tables",
}

__all__ = [
    "BUDGET_FILE",
    "FAULT_ENV",
    "JOURNAL",
    "RAW_MARK",
    "STATUS_KEY",
    "TESTED_RAY",
    "Budget",
    "BudgetLedger",
    "Experiment",
    "ExperimentResult",
    "HarnessOptunaSearch",
    "SearchProgress",
    "TableWriter",
    "TrialRecord",
    "asha_scheduler",
    "best_row",
    "build_searcher",
    "build_tables",
    "can_restore",
    "check_mlflow",
    "classify",
    "cluster_gpus",
    "connect",
    "create_run_dir",
    "effective_config",
    "environment",
    "error_line",
    "export_study",
    "grid_search",
    "make_ray_trainable",
    "make_sampler",
    "ray_experiment_path",
    "rebuild_tables",
    "records_from_result_grid",
    "resolve_storage",
    "resolve_trainable",
    "run_experiment",
    "snapshot_finished_trial_ids",
    "spent_in_tables",
    "trial_dirname",
    "write_json",
    "write_tables",
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
