"""A validation directory: ``spec.json`` (kind ``"validation"``) and ``cells.parquet``.

``harness validate`` writes one; ``harness report`` recognises it by ``spec.json`` and renders
its table. This module imports neither ray nor torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from search_spaces import DataError

__all__ = ["is_validation_dir", "load_validation"]

SPEC, CELLS = "spec.json", "cells.parquet"
KIND = "validation"


def is_validation_dir(directory: str | Path) -> bool:
    """Whether ``directory`` holds a validation (``spec.json`` says ``"kind": "validation"``)."""
    spec = Path(directory) / SPEC
    if not spec.is_file():
        return False
    try:
        return json.loads(spec.read_text(encoding="utf-8")).get("kind") == KIND
    except (json.JSONDecodeError, AttributeError):
        return False


def load_validation(directory: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a validation directory: ``(cells, spec)``.

    ``cells.parquet`` holds one row per (variant, fold, seed) cell; ``spec.json`` the keys
    ``kind`` (``"validation"``), ``candidate``, ``reference``, ``folds``, ``seeds``, ``metric``,
    ``mode``, ``search_best`` and ``command``.

    Raises:
        DataError: a file is missing or unreadable, or ``spec.json`` is not a validation's.
    """
    path = Path(directory)
    for name in (SPEC, CELLS):
        if not (path / name).is_file():
            raise DataError(f"{path} is not a validation directory: it has no {name}")
    try:
        spec = json.loads((path / SPEC).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path / SPEC}: unreadable JSON ({err})") from err
    if not isinstance(spec, dict) or spec.get("kind") != KIND:
        kind = spec.get("kind") if isinstance(spec, dict) else type(spec).__name__
        raise DataError(f"{path / SPEC}: 'kind' must be {KIND!r}, got {kind!r}")
    return pd.read_parquet(path / CELLS), spec
