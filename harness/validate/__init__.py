"""Cross-validation of a search's answer: its best configuration against a reference on the same
k folds × seeds (``harness validate``), run as cells through the engine core like an ablation."""

from __future__ import annotations

from harness.validate._design import (
    CANDIDATE,
    REFERENCE,
    VARIANTS,
    Candidate,
    FoldPlan,
    ValidationDesign,
    align_data,
    fold_dir,
    make_folds,
    resolve_candidate,
    resolve_reference,
    write_folds,
)
from harness.validate._runner import CELLS, run_validation, validation_cells, write_cells

__all__ = [
    "CANDIDATE",
    "CELLS",
    "REFERENCE",
    "VARIANTS",
    "Candidate",
    "FoldPlan",
    "ValidationDesign",
    "align_data",
    "fold_dir",
    "make_folds",
    "resolve_candidate",
    "resolve_reference",
    "run_validation",
    "validation_cells",
    "write_cells",
    "write_folds",
]
