"""An ablation directory: ``spec.json`` (kind ``"ablation"``), ``cells.parquet``, ``variants.json``.

``harness ablate`` writes one; ``harness report`` recognises it by ``spec.json`` and renders its
table instead of an importance report (:mod:`analysis.paired` reads it). This module imports
neither ray nor torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.paired._load import load_cells, paired_kind
from search_spaces import DataError

__all__ = ["is_ablation_dir", "load_ablation"]

VARIANTS = "variants.json"
_VARIANT_KEYS = ("variant", "description", "renormalized", "overrides")


def is_ablation_dir(directory: str | Path) -> bool:
    """Whether ``directory`` holds an ablation (its ``spec.json`` says ``"kind": "ablation"``)."""
    return paired_kind(directory) == "ablation"


def load_ablation(directory: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Read an ablation directory: ``(cells, variants, spec)``.

    ``cells.parquet`` holds one row per (variant, seed) cell, ``variants.json`` a list of
    ``{"variant", "description", "renormalized", "overrides"}`` records and ``spec.json`` the
    keys ``kind`` (``"ablation"``), ``base``, ``seeds``, ``metric``, ``renormalize``, ``command``
    (as its JSON dictionary).

    Raises:
        DataError: a file is missing or unreadable, or ``spec.json`` is not an ablation's.
    """
    path = Path(directory)
    cells, spec = load_cells(path, "ablation", (VARIANTS,))
    try:
        records = json.loads((path / VARIANTS).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: unreadable JSON ({err})") from err
    if not isinstance(records, list):
        raise DataError(f"{path / VARIANTS}: must hold a list of variant records")
    variants = pd.DataFrame(records)
    lacking = [c for c in _VARIANT_KEYS if c not in variants.columns]
    if lacking:
        raise DataError(f"{path / VARIANTS}: the variant records lack the key(s) {lacking}")
    return cells, variants, spec.to_json()
