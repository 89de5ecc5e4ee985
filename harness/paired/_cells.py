"""Run the cells of a paired experiment on Ray Tune, at full length, and table them.

The cells are a grid over one config key (:data:`CELL_KEY`) run by the engine core
(:func:`harness.tune.run_experiment`) with the search's own trainable
(:func:`harness.tune.make_ray_trainable`), one per base recipe and folder, FIFO (no scheduler,
no early stopping), ``reuse_actors=True``. The table writer rewrites ``trials.parquet`` and
``cells.parquet`` whenever a cell ends, so a killed driver loses nothing that finished;
``resume`` continues from Ray's state with ``Tuner.restore`` and runs only the cells that did
not finish (nothing at all when every cell has). :func:`run_cells_inline` runs the same cells in
this process without Ray, for cheap trainables (the simulator backend).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pandas as pd

from harness.paired._design import CELL_KEY, Cell, PairedDesign, parse_cell
from harness.paired._settings import DEFAULT_TRAINABLE, PairedSettings
from search_spaces import SUCCESS_STATUSES, TrialStatus

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "CELLS",
    "CellsRun",
    "cells_from_trials",
    "run_cells",
    "run_cells_inline",
    "write_cells",
]

logger = logging.getLogger(__name__)

CELLS = "cells.parquet"
# cost columns kept beside the metrics
_COSTS = ("peak_memory_bytes", "wall_time_s", "images_per_s")


class CellsRun(NamedTuple):
    """What :func:`run_cells` left: the cells table, whether the run was interrupted (cells
    missing or unfinished), and how many cells were still to run when it started."""

    cells: pd.DataFrame
    interrupted: bool
    ran: int


def _row(row: Mapping[str, Any], cell: str) -> dict[str, Any]:
    status = str(row["status"])
    out: dict[str, Any] = {
        "trial_id": row["trial_id"],
        **parse_cell(cell),
        "status": str(TrialStatus.COMPLETED) if status in SUCCESS_STATUSES else status,
        "stopped_early": status == TrialStatus.EARLY_STOPPED,
        "epochs": row.get("epochs", math.nan),
    }
    for key, value in row.items():
        if isinstance(key, str) and key.startswith("final."):
            out[key[len("final.") :]] = value
    for key in _COSTS:
        out[key] = row.get(key, math.nan)
    out["error"] = row.get("error")
    return out


def cells_from_trials(trials: pd.DataFrame, keys: Sequence[str] = ("seed",)) -> pd.DataFrame:
    """One row per cell: ``trial_id``, ``variant``, the pairing ``keys`` (``seed``, or ``fold``
    and ``seed``), ``status`` (``completed`` for a cell that ran to its end, else the failure
    status), ``stopped_early`` (the recipe's own early stopping), then each final metric and
    the costs; sorted by variant (an ablation) or fold-major (a validation)."""
    column = f"raw.{CELL_KEY}"
    empty = pd.DataFrame(columns=["trial_id", "variant", *keys, "status"])
    if trials.empty or column not in trials:
        return empty
    # a trial Ray has not started yet has no cell: nothing to table
    rows = [
        _row(row, row[column]) for row in trials.to_dict("records") if isinstance(row[column], str)
    ]
    if not rows:
        return empty
    order = [*keys, "variant"] if "fold" in keys else ["variant", *keys]
    return pd.DataFrame(rows).sort_values(order, kind="stable").reset_index(drop=True)


def write_cells(directory: Path, keys: Sequence[str] = ("seed",)) -> None:
    """Derive ``cells.parquet`` from the experiment's ``trials.parquet``."""
    cells = cells_from_trials(pd.read_parquet(directory / "trials.parquet"), keys)
    tmp = directory / f".{CELLS}.tmp"
    cells.to_parquet(tmp, index=False)
    tmp.replace(directory / CELLS)


def _keys(design: PairedDesign) -> tuple[str, ...]:
    first = next(iter(design.cells().values()))
    return tuple(first.keys)


def _cell_trainable(
    inners: Sequence[Callable[[dict[str, Any]], None]],
    table: Mapping[str, tuple[int, dict[str, Any]]],
    kind: str,
) -> Callable[[dict[str, Any]], None]:
    def paired_cell(config: dict[str, Any]) -> None:
        cell = config[CELL_KEY]
        group, overrides = table[cell]
        inners[group]({**overrides, CELL_KEY: cell})

    paired_cell.__name__ = f"{kind}_cell"
    return paired_cell


def _trainable(
    directory: Path, cells: Mapping[str, Cell], settings: PairedSettings, kind: str
) -> Callable[[dict[str, Any]], None]:
    """One trainable for every cell: the search's trainable of each (base recipe, folder)."""
    from harness.tune import make_ray_trainable

    groups: dict[tuple[str, str], int] = {}
    inners, table = [], {}
    for cid, cell in cells.items():
        base = cell.base.model_dump(mode="json")
        key = (json.dumps(base, sort_keys=True), cell.folder)
        if key not in groups:
            groups[key] = len(inners)
            folder = directory / cell.folder if cell.folder else directory
            inners.append(
                make_ray_trainable(settings.trainable, base, settings.metric, str(folder))
            )
        table[cid] = (groups[key], dict(cell.overrides))
    return _cell_trainable(inners, table, kind)


def _finished(directory: Path, expected: int) -> pd.DataFrame | None:
    """The cells table when every cell has finished (nothing left to run), else ``None``."""
    path = directory / CELLS
    if not path.is_file():
        return None
    table = pd.read_parquet(path)
    if len(table) == expected and table["status"].ne(TrialStatus.RUNNING).all():
        return table
    return None


def _done_before(directory: Path) -> int:
    if not (directory / CELLS).is_file():
        return 0
    return int(pd.read_parquet(directory / CELLS)["status"].ne(TrialStatus.RUNNING).sum())


def run_cells(
    directory: Path,
    design: PairedDesign,
    settings: PairedSettings,
    *,
    console: Console | None = None,
    resume: bool = False,
) -> CellsRun:
    """Run every cell of ``design`` (or the unfinished ones, with ``resume``) in ``directory``.

    Args:
        directory: the experiment directory (the cells' folders, such as a validation's
            ``fold-<f>/`` with its ``split.json``, must be there already).
        design: the cells.
        settings: how they run.
        console: a rich console for live progress, or ``None`` (progress through logging).
        resume: continue from Ray's state; a directory without one starts afresh.

    Returns:
        The :class:`CellsRun`.

    Raises:
        ConfigError: a cell's recipe breaks the recipe's rules (before Ray runs anything).
        DataError: the shared data cannot be loaded or split.
    """
    from harness.tune import Experiment, can_restore, grid_search, run_experiment

    directory = directory.resolve()
    cells = design.cells()
    keys = _keys(design)
    done = _finished(directory, len(cells)) if resume else None
    if done is not None:
        return CellsRun(done, False, 0)
    # a driver killed before Ray saved its state leaves nothing to restore: start afresh
    resume = resume and directory.exists() and can_restore(directory, settings.storage)
    before = _done_before(directory) if resume else 0
    recipes = [cell.recipe() for cell in cells.values()]  # every cell checked before Ray runs
    shared = design.shared_split()
    if shared is not None and settings.trainable == DEFAULT_TRAINABLE:
        from trials.data import load_splits

        directory.mkdir(parents=True, exist_ok=True)
        load_splits(shared.data, directory)  # one split for every cell; bad data fails here
    result = run_experiment(
        Experiment(
            directory=directory,
            trainable=_trainable(directory, cells, settings, design.kind),
            metric=settings.metric,
            mode=settings.mode,
            max_epochs=max(max(r.optim.epochs for r in recipes), 1),
            trials=len(cells),
            concurrency=settings.concurrency,
            resources={"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial},
            param_space={CELL_KEY: grid_search(list(cells))},
            storage=settings.storage,
            max_failures=settings.max_failures,
            restore=resume,
            title=design.kind,
            show_best=False,  # the cells are not competing configurations
            on_write=lambda: write_cells(directory, keys),
        ),
        console,
    )
    table = pd.read_parquet(directory / CELLS)
    finished = table["status"].ne(TrialStatus.RUNNING) if not table.empty else pd.Series([])
    interrupted = result.interrupted or len(table) < len(cells) or not bool(finished.all())
    return CellsRun(table, interrupted, len(cells) - before)


def run_cells_inline(design: PairedDesign, settings: PairedSettings) -> pd.DataFrame:
    """Every cell run one after another in this process, without Ray: the simulator backend.

    For cheap trainables (tests, power simulations of the statistics): the cells go through the
    same recipes, the same tables and :func:`cells_from_trials` as :func:`run_cells`.
    """
    from harness.tune import STATUS_KEY, TrialRecord, build_tables, resolve_trainable

    fn = resolve_trainable(settings.trainable)
    records = []
    epochs = 1
    for i, (cid, cell) in enumerate(design.cells().items()):
        recipe = cell.recipe()
        epochs = max(epochs, recipe.optim.epochs)
        results: list[dict[str, Any]] = []

        def report(epoch: int, metrics: Mapping[str, Any], results: list = results) -> None:
            results.append({**metrics, "epoch": int(epoch), STATUS_KEY: TrialStatus.RUNNING})

        summary = fn(recipe, report)
        summary = dict(summary.to_dict() if hasattr(summary, "to_dict") else summary or {})
        final = {
            **(summary.get("final") or {}),
            **{k: summary[k] for k in _COSTS if k in summary},
            "epoch": int(summary.get("epochs", 0)),
            STATUS_KEY: str(summary.get("status", TrialStatus.COMPLETED)),
        }
        results.append(final)
        records.append(TrialRecord(f"inline_{i:05d}", {CELL_KEY: cid}, results))
    trials, _ = build_tables(records, settings.metric, settings.mode, epochs)
    return cells_from_trials(trials, _keys(design))
