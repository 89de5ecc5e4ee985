"""One paired-experiment core: a design of cells, run-cells, one settings type, and the
new/resume/summarise lifecycle. ``harness ablate`` (variants × seeds) and ``harness validate``
(two configurations × folds × seeds) are two kinds of it; their cells are configurations of the
engine core :func:`harness.tune.run_experiment`.

An ablation's design (:class:`AblationDesign`: the variants of a base configuration, paired by
seed, sharing one split) and its ablation path (Fawcett & Hoos 2016) live in ``_variants`` and
``_path``; a validation's (:class:`ValidationDesign`: a candidate and a reference on the same
folds × seeds, each cell reading its fold's split) in ``_folds``; ``_ablation`` and
``_validation`` are the two kinds of the lifecycle. (The packages ``harness.ablate`` and
``harness.validate`` would hide the API functions of the same names, so they live here.)"""

from __future__ import annotations

from harness.paired._cells import (
    CELLS,
    CellsRun,
    cells_from_trials,
    run_cells,
    run_cells_inline,
    write_cells,
)
from harness.paired._design import CELL_KEY, Cell, PairedDesign, parse_cell
from harness.paired._folds import (
    CANDIDATE,
    REFERENCE,
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
from harness.paired._lifecycle import PairedKind, PairedOptions, PairedOutcome, run_paired
from harness.paired._path import experiment_target, run_path, surrogate_steps
from harness.paired._settings import DEFAULT_TRAINABLE, PairedSettings
from harness.paired._variants import (
    BASELINE,
    AblationDesign,
    base_from_experiment,
    best_configuration,
    build_variants,
    resolve_base,
)

__all__ = [
    "BASELINE",
    "CANDIDATE",
    "CELLS",
    "CELL_KEY",
    "DEFAULT_TRAINABLE",
    "REFERENCE",
    "AblationDesign",
    "Candidate",
    "Cell",
    "CellsRun",
    "FoldPlan",
    "PairedDesign",
    "PairedKind",
    "PairedOptions",
    "PairedOutcome",
    "PairedSettings",
    "ValidationDesign",
    "align_data",
    "base_from_experiment",
    "best_configuration",
    "build_variants",
    "cells_from_trials",
    "experiment_target",
    "fold_dir",
    "make_folds",
    "parse_cell",
    "resolve_base",
    "resolve_candidate",
    "resolve_reference",
    "run_cells",
    "run_cells_inline",
    "run_paired",
    "run_path",
    "surrogate_steps",
    "write_cells",
    "write_folds",
]
