"""A paired experiment's directory: ``spec.json`` (its ``kind``) and ``cells.parquet``.

``harness ablate`` and ``harness validate`` write one; ``harness report`` recognises it by the
kind its ``spec.json`` records and renders its table instead of an importance report. An
ablation's directory also holds ``variants.json``. This module imports neither ray nor torch.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.paired._statistics import check_cell_columns
from search_spaces import SPEC_FILE, ConfigError, DataError, RunSpec, read_spec

__all__ = ["CELLS", "PAIRED_KINDS", "load_cells", "paired_kind"]

CELLS = "cells.parquet"
#: the kinds of paired experiment, and the pairing keys of their cells
PAIRED_KINDS = {"ablation": ("seed",), "validation": ("fold", "seed")}


def paired_kind(directory: str | Path) -> str | None:
    """``"ablation"`` or ``"validation"`` when ``directory`` holds that paired experiment (its
    ``spec.json`` says so), else ``None``."""
    if not (Path(directory) / SPEC_FILE).is_file():
        return None
    try:
        kind = read_spec(directory).kind
    except ConfigError:
        return None
    return kind if kind in PAIRED_KINDS else None


def load_cells(
    directory: str | Path, kind: str, extra: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, RunSpec]:
    """Read a paired experiment's directory: ``(cells, spec)``.

    Args:
        directory: the directory.
        kind: the experiment it must hold (``"ablation"`` or ``"validation"``).
        extra: more files it must hold (an ablation's ``variants.json``).

    Raises:
        DataError: a file is missing or unreadable, or ``spec.json`` records another kind.
    """
    path = Path(directory)
    article = "an" if kind[0] in "aeiou" else "a"
    for name in (SPEC_FILE, CELLS, *extra):
        if not (path / name).is_file():
            raise DataError(f"{path} is not {article} {kind} directory: it has no {name}")
    try:
        spec = read_spec(path, f"{article} {kind}")
    except ConfigError as err:
        raise DataError(str(err)) from None
    if spec.kind != kind:
        raise DataError(f"{path / SPEC_FILE}: 'kind' must be {kind!r}, got {spec.kind!r}")
    cells = pd.read_parquet(path / CELLS)
    check_cell_columns(cells, f"{path / CELLS}", PAIRED_KINDS[kind])
    return cells, spec
