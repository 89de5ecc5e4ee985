"""The design interface of a paired experiment: its cells, and the recipe of each cell.

A cell is one run of one configuration on one pairing unit (an ablation's variant × seed, a
validation's configuration × fold × seed). Its id (``"drop_boundary/s2"``,
``"candidate/f1/s0"``) is the one config value of the Ray trial that runs it (:data:`CELL_KEY`),
and :func:`parse_cell` reads the pairing keys back from it, for every kind alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from search_spaces import ConfigError, Recipe, apply_overrides

__all__ = ["CELL_KEY", "KEY_LETTERS", "Cell", "PairedDesign", "cell_id", "parse_cell"]

# the cell a Ray trial runs ("<variant>/s<k>"); the "~" keeps it out of the recipe values
CELL_KEY = "ablation~cell"
#: the letters of the pairing keys in a cell id, in the order they are written
KEY_LETTERS = {"f": "fold", "s": "seed"}


@dataclass(frozen=True)
class Cell:
    """One cell: what it runs and where.

    Attributes:
        variant: the configuration's name (``"full"``, ``"drop_boundary"``, ``"candidate"``).
        keys: the pairing keys (``{"seed": 2}``, ``{"fold": 1, "seed": 0}``; seed = its index).
        base: the recipe the cell's overrides apply to.
        overrides: dotted path -> value, the recipe ``seed`` included.
        folder: the sub-folder of the experiment whose ``split.json`` the cell reads (``""``:
            the experiment's own).
    """

    variant: str
    keys: Mapping[str, int]
    base: Recipe
    overrides: Mapping[str, Any] = field(default_factory=dict)
    folder: str = ""

    @property
    def id(self) -> str:
        """``"drop_boundary/s2"``, ``"candidate/f1/s0"``."""
        return cell_id(self.variant, self.keys)

    def recipe(self) -> Recipe:
        """The configuration the cell trains."""
        return apply_overrides(self.base, dict(self.overrides), source=f"cell {self.id}")


class PairedDesign(Protocol):
    """What a paired experiment runs: an ablation's variants or a validation's two
    configurations on their folds, each on the same seeds."""

    @property
    def kind(self) -> str:
        """``"ablation"`` or ``"validation"``."""
        ...

    def cells(self) -> dict[str, Cell]:
        """Cell id -> cell, in run order (unit-major, so the first cells to finish pair up)."""
        ...

    def shared_split(self) -> Recipe | None:
        """The recipe whose data split every cell shares (made once in the experiment
        directory before the cells run), or ``None`` when the cells' folders hold theirs."""
        ...


def cell_id(variant: str, keys: Mapping[str, int]) -> str:
    """The id of the cell of ``variant`` at ``keys`` (``{"fold": 1, "seed": 0}`` ->
    ``"variant/f1/s0"``)."""
    letters = {name: letter for letter, name in KEY_LETTERS.items()}
    return "/".join([variant, *(f"{letters[k]}{v}" for k, v in keys.items())])


def parse_cell(cell: str) -> dict[str, Any]:
    """``{"variant": "candidate", "fold": 2, "seed": 1}`` from ``"candidate/f2/s1"``.

    Raises:
        ConfigError: no seed in the id.
    """
    parts = cell.split("/")
    keys: dict[str, int] = {}
    while len(parts) > 1 and parts[-1][:1] in KEY_LETTERS and parts[-1][1:].isdigit():
        part = parts.pop()
        keys[KEY_LETTERS[part[0]]] = int(part[1:])
    if "seed" not in keys:
        raise ConfigError(f"cell id {cell!r}: expected '<variant>[/f<fold>]/s<seed>'")
    return {"variant": "/".join(parts), **dict(reversed(keys.items()))}
