"""A validation directory: ``spec.json`` (kind ``"validation"``) and ``cells.parquet``.

``harness validate`` writes one; ``harness report`` recognises it by ``spec.json`` and renders
its table (:mod:`analysis.paired` reads it). This module imports neither ray nor torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from analysis.paired._load import load_cells, paired_kind

__all__ = ["is_validation_dir", "load_validation"]


def is_validation_dir(directory: str | Path) -> bool:
    """Whether ``directory`` holds a validation (``spec.json`` says ``"kind": "validation"``)."""
    return paired_kind(directory) == "validation"


def load_validation(directory: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a validation directory: ``(cells, spec)``.

    ``cells.parquet`` holds one row per (variant, fold, seed) cell; ``spec.json`` the keys
    ``kind`` (``"validation"``), ``candidate``, ``reference``, ``folds``, ``seeds``, ``metric``,
    ``mode``, ``search_best`` and ``command`` (as its JSON dictionary).

    Raises:
        DataError: a file is missing or unreadable, or ``spec.json`` is not a validation's.
    """
    cells, spec = load_cells(directory, "validation")
    return cells, spec.to_json()
