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
    run_cells,
    run_cells_inline,
    write_cells,
)
from harness.paired._folds import (
    ValidationDesign,
    make_folds,
    write_folds,
)
from harness.paired._settings import PairedSettings
from harness.paired._variants import (
    AblationDesign,
    build_variants,
)

__all__ = [
    "AblationDesign",
    "PairedSettings",
    "ValidationDesign",
    "build_variants",
    "make_folds",
    "run_cells",
    "run_cells_inline",
    "write_cells",
    "write_folds",
]
