"""Did the search really help: a configuration against a reference on the same k folds × seeds.

:func:`validation_statistics` compares the two, paired by (fold, seed), with the ablation's
statistics and a verdict in words; :func:`load_validation` reads the directory
``harness validate`` writes; :func:`write_validation` renders it (CSV, JSON, Markdown).
"""

from __future__ import annotations

from analysis.render._validation import (
    VALIDATION_FILES,
    validation_markdown,
    validation_rows,
    write_validation,
)
from analysis.validation._load import is_validation_dir, load_validation
from analysis.validation._statistics import (
    CANDIDATE,
    DEFAULT_VALIDATION_METRICS,
    REFERENCE,
    VALIDATION_COLUMNS,
    ValidationResult,
    validation_statistics,
    verdict_sentences,
)

__all__ = [
    "CANDIDATE",
    "DEFAULT_VALIDATION_METRICS",
    "REFERENCE",
    "VALIDATION_COLUMNS",
    "VALIDATION_FILES",
    "ValidationResult",
    "is_validation_dir",
    "load_validation",
    "validation_markdown",
    "validation_rows",
    "validation_statistics",
    "verdict_sentences",
    "write_validation",
]
