"""An ablation directory: ``spec.json`` (kind ``"ablation"``), ``cells.parquet``, ``variants.json``.

``harness ablate`` writes one; ``harness report`` recognises it by ``spec.json`` and renders its
table instead of an importance report. This module imports neither ray nor torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.ablation._statistics import check_cell_columns
from search_spaces import DataError

__all__ = ["is_ablation_dir", "load_ablation"]

SPEC, CELLS, VARIANTS = "spec.json", "cells.parquet", "variants.json"
_VARIANT_KEYS = ("variant", "description", "renormalized", "overrides")


def is_ablation_dir(directory: str | Path) -> bool:
    """Whether ``directory`` holds an ablation (its ``spec.json`` says ``"kind": "ablation"``)."""
    spec = Path(directory) / SPEC
    if not spec.is_file():
        return False
    try:
        return json.loads(spec.read_text(encoding="utf-8")).get("kind") == "ablation"
    except (json.JSONDecodeError, AttributeError):
        return False


def load_ablation(directory: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Read an ablation directory: ``(cells, variants, spec)``.

    ``cells.parquet`` holds one row per (variant, seed) cell, ``variants.json`` a list of
    ``{"variant", "description", "renormalized", "overrides"}`` records and ``spec.json`` the
    keys ``kind`` (``"ablation"``), ``base``, ``seeds``, ``metric``, ``renormalize``, ``command``.

    Raises:
        DataError: a file is missing or unreadable, or ``spec.json`` is not an ablation's.
    """
    path = Path(directory)
    for name in (SPEC, CELLS, VARIANTS):
        if not (path / name).is_file():
            raise DataError(f"{path} is not an ablation directory: it has no {name}")
    try:
        spec = json.loads((path / SPEC).read_text(encoding="utf-8"))
        records = json.loads((path / VARIANTS).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: unreadable JSON ({err})") from err
    if not isinstance(spec, dict) or spec.get("kind") != "ablation":
        kind = spec.get("kind") if isinstance(spec, dict) else type(spec).__name__
        raise DataError(f"{path / SPEC}: 'kind' must be 'ablation', got {kind!r}")
    if not isinstance(records, list):
        raise DataError(f"{path / VARIANTS}: must hold a list of variant records")
    variants = pd.DataFrame(records)
    lacking = [c for c in _VARIANT_KEYS if c not in variants.columns]
    if lacking:
        raise DataError(f"{path / VARIANTS}: the variant records lack the key(s) {lacking}")
    cells = pd.read_parquet(path / CELLS)
    check_cell_columns(cells, f"{path / CELLS}")
    return cells, variants, spec
