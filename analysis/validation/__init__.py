"""Did the search really help: a configuration against a reference on the same k folds × seeds.

:func:`validation_statistics` compares the two, paired by (fold, seed), with the ablation's
statistics and a verdict in words; :func:`load_validation` reads the directory
``harness validate`` writes; :func:`write_validation` renders it (CSV, JSON, Markdown).
"""

from __future__ import annotations

from analysis.render._validation import (
    validation_rows,
    write_validation,
)
from analysis.validation._statistics import (
    ValidationResult,
    validation_statistics,
    verdict_sentences,
)

__all__ = [
    "ValidationResult",
    "validation_rows",
    "validation_statistics",
    "verdict_sentences",
    "write_validation",
]
