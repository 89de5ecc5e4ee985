"""The cells of a paired experiment as arrays by pairing unit, and the notes on the cells left out.

:class:`_Cells` holds each cell's variant, pairing unit (its seed for a single key, else a label
such as ``"fold 1 seed 0"``) and whether it succeeded, as plain arrays the statistics loop indexes
cheaply; :func:`_cell_notes` says which variants lack a cell for a unit, which cells failed and
which units have no completed baseline cell to pair with, in the words :func:`_unit_words` gives
for the pairing keys.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from search_spaces import SUCCESS_STATUSES

__all__ = ["_Cells", "_cell_notes", "_unit_words"]


@dataclass(frozen=True)
class _Cells:
    """The cells as plain arrays: the statistics loop indexes them thousands of times in tests.

    ``unit`` is the pairing unit of each cell: its seed for a single key, else a label such as
    ``"fold 1 seed 0"``.
    """

    variant: np.ndarray
    unit: np.ndarray
    done: np.ndarray

    @classmethod
    def of(cls, cells: pd.DataFrame, pairing: Sequence[str]) -> _Cells:
        if len(pairing) == 1:
            unit = cells[pairing[0]].to_numpy()
        else:
            parts = [cells[k].astype(str).radd(f"{k} ") for k in pairing]
            unit = functools.reduce(lambda a, b: a + " " + b, parts).to_numpy()
        return cls(
            variant=cells["variant"].astype(str).to_numpy(),
            unit=unit,
            done=cells["status"].isin(SUCCESS_STATUSES).to_numpy(),
        )

    def values(self, column: pd.Series, variant: str) -> dict[Any, float]:
        """``{unit: value}`` of one variant's successful cells with a finite value."""
        v = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        keep = (self.variant == variant) & self.done & np.isfinite(v)
        return dict(zip(self.unit[keep].tolist(), v[keep].tolist(), strict=True))


def _unit_words(pairing: Sequence[str]) -> tuple[str, str, str]:
    """How a note names one unit, one or more, and many: ``("seed ", "seed(s)", "paired
    seeds")`` for an ablation."""
    if len(pairing) == 1:
        return f"{pairing[0]} ", f"{pairing[0]}(s)", f"paired {pairing[0]}s"
    return "", f"({', '.join(pairing)}) pair(s)", "pairs"


def _cell_notes(
    arrays: _Cells, status: np.ndarray, names: Sequence[str], baseline: str, pairing: Sequence[str]
) -> list[str]:
    one, several, _ = _unit_words(pairing)
    notes = []
    all_units = set(arrays.unit.tolist())
    base_units = set(arrays.unit[(arrays.variant == baseline) & arrays.done].tolist())
    for name in names:
        mine = arrays.variant == name
        absent = sorted(all_units - set(arrays.unit[mine].tolist()))
        if absent:
            notes.append(f"{name}: no cell for {several} {absent}")
        failed = mine & ~arrays.done
        if failed.any():
            what = ", ".join(
                f"{one}{s} {st}" for s, st in zip(arrays.unit[failed], status[failed], strict=True)
            )
            notes.append(f"{name}: failed cells excluded ({what})")
        if name != baseline:
            unpaired = sorted(set(arrays.unit[mine & arrays.done].tolist()) - base_units)
            if unpaired:
                notes.append(
                    f"{name}: {several} {unpaired} left out, the baseline has no completed cell "
                    "for them"
                )
    return notes
