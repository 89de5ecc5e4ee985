"""What a component is worth: paired ablation statistics, ablation directories, ablation paths.

:func:`ablation_statistics` compares each variant with the full configuration, paired by seed;
:func:`load_ablation` reads the directory ``harness ablate`` writes; :func:`ablation_path` and
:func:`surrogate_path` walk from one configuration to another, one parameter at a time.
Rendering lives in :mod:`analysis.render`.
"""

from __future__ import annotations

from analysis.ablation._load import is_ablation_dir, load_ablation
from analysis.ablation._path import (
    AblationPath,
    PathStep,
    ablation_path,
    differing,
    surrogate_path,
)
from analysis.ablation._statistics import (
    ABLATION_COLUMNS,
    DEFAULT_ABLATION_METRICS,
    VERDICTS,
    AblationResult,
    ablation_sentences,
    ablation_statistics,
)

__all__ = [
    "ABLATION_COLUMNS",
    "DEFAULT_ABLATION_METRICS",
    "VERDICTS",
    "AblationPath",
    "AblationResult",
    "PathStep",
    "ablation_path",
    "ablation_sentences",
    "ablation_statistics",
    "differing",
    "is_ablation_dir",
    "load_ablation",
    "surrogate_path",
]
