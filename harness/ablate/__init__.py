"""Ablations: variants of a base configuration, their cells (variant x seed) run through the
engine core, and the ablation path (Fawcett & Hoos 2016) with real runs or a surrogate."""

from __future__ import annotations

from harness.ablate._design import (
    BASELINE,
    CELL_KEY,
    AblationDesign,
    base_from_experiment,
    best_configuration,
    build_variants,
    resolve_base,
)
from harness.ablate._path import experiment_target, run_path, surrogate_steps
from harness.ablate._runner import (
    CELLS,
    AblationSettings,
    cells_from_trials,
    run_cells,
    run_cells_inline,
)

__all__ = [
    "BASELINE",
    "CELLS",
    "CELL_KEY",
    "AblationDesign",
    "AblationSettings",
    "base_from_experiment",
    "best_configuration",
    "build_variants",
    "cells_from_trials",
    "experiment_target",
    "resolve_base",
    "run_cells",
    "run_cells_inline",
    "run_path",
    "surrogate_steps",
]
