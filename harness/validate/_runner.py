"""Run the cells of a validation (configuration × fold × seed) on Ray Tune, and table them.

Like the ablation's cells (:func:`harness.ablate.run_cells`): a grid over one config key run by
the engine core (:func:`harness.tune.run_experiment`), FIFO at full length, with the search's own
trainable (:func:`harness.tune.make_ray_trainable`), one per configuration and fold: its
experiment directory is the fold's folder, so its trials read that fold's ``split.json`` and
write their files there. The table writer rewrites ``trials.parquet`` and ``cells.parquet``
whenever a cell ends; ``resume`` continues from Ray's state and runs only the cells that did not
finish (nothing at all when every cell has).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from harness.ablate import CELL_KEY, AblationSettings, cells_from_trials
from harness.validate._design import VARIANTS, ValidationDesign, fold_dir
from search_spaces import TrialStatus

__all__ = ["CELLS", "run_validation", "validation_cells", "write_cells"]

CELLS = "cells.parquet"
_KEY = ["trial_id", "variant", "fold", "seed", "status"]


def validation_cells(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: ``trial_id``, ``variant``, ``fold``, ``seed`` (the seed's index),
    ``status``, then each final metric and the costs (as :func:`harness.ablate.cells_from_trials`
    gives them)."""
    cells = cells_from_trials(trials)
    if cells.empty:
        return pd.DataFrame(columns=_KEY)
    # the ablation's parser reads "candidate/f2/s1" as variant "candidate/f2", seed 1
    parts = cells["variant"].astype(str).str.rpartition("/f")
    cells["variant"] = parts[0]
    cells.insert(2, "fold", parts[2].astype(int))
    return cells.sort_values(["fold", "seed", "variant"], kind="stable").reset_index(drop=True)


def write_cells(directory: Path) -> None:
    """Derive ``cells.parquet`` from the validation's ``trials.parquet``."""
    cells = validation_cells(pd.read_parquet(directory / "trials.parquet"))
    tmp = directory / f".{CELLS}.tmp"
    cells.to_parquet(tmp, index=False)
    tmp.replace(directory / CELLS)


def _cell_trainable(
    inners: Mapping[tuple[str, int], Callable[[dict[str, Any]], None]],
    cells: Mapping[str, tuple[str, int, int]],
) -> Callable[[dict[str, Any]], None]:
    table = dict(cells)

    def validation_cell(config: dict[str, Any]) -> None:
        cell = config[CELL_KEY]
        variant, fold, seed = table[cell]
        inners[(variant, fold)]({"seed": seed, CELL_KEY: cell})

    return validation_cell


def _finished(directory: Path, expected: int) -> pd.DataFrame | None:
    """The cells table when every cell has finished (nothing left to run), else ``None``."""
    path = directory / CELLS
    if not path.is_file():
        return None
    table = pd.read_parquet(path)
    if len(table) == expected and table["status"].ne(TrialStatus.RUNNING).all():
        return table
    return None


def run_validation(
    directory: Path,
    design: ValidationDesign,
    settings: AblationSettings,
    *,
    console: Console | None,
    resume: bool = False,
) -> tuple[pd.DataFrame, bool, int]:
    """Run every cell of ``design`` (or the unfinished ones, with ``resume``) in ``directory``,
    whose ``fold-<f>/split.json`` files must exist for the recipe's trainable.

    Returns:
        The cells table, whether the run was interrupted (cells missing or unfinished), and how
        many cells were still to run when it started.
    """
    from harness.tune import (
        Experiment,
        can_restore,
        grid_search,
        make_ray_trainable,
        run_experiment,
    )

    directory = directory.resolve()
    cells = design.cells()
    done = _finished(directory, len(cells)) if resume else None
    if done is not None:
        return done, False, 0
    # a driver killed before Ray saved its state leaves nothing to restore: start afresh
    resume = resume and can_restore(directory, settings.storage)
    before = 0
    if resume and (directory / CELLS).is_file():
        table = pd.read_parquet(directory / CELLS)
        before = int(table["status"].ne(TrialStatus.RUNNING).sum())
    inners = {
        (v, f): make_ray_trainable(
            settings.trainable,
            design.recipe(v).model_dump(mode="json"),
            settings.metric,
            str(fold_dir(directory, f)),
        )
        for f in range(design.folds)
        for v in VARIANTS
    }
    result = run_experiment(
        Experiment(
            directory=directory,
            trainable=_cell_trainable(inners, cells),
            metric=settings.metric,
            mode=settings.mode,
            max_epochs=max(design.candidate.optim.epochs, design.reference.optim.epochs, 1),
            trials=len(cells),
            concurrency=settings.concurrency,
            resources={"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial},
            param_space={CELL_KEY: grid_search(list(cells))},
            storage=settings.storage,
            max_failures=settings.max_failures,
            restore=resume,
            title="validation",
            show_best=False,  # the cells are not competing configurations
            on_write=lambda: write_cells(directory),
        ),
        console,
    )
    table = pd.read_parquet(directory / CELLS)
    finished = table["status"].ne(TrialStatus.RUNNING) if not table.empty else pd.Series([])
    interrupted = result.interrupted or len(table) < len(cells) or not bool(finished.all())
    return table, interrupted, len(cells) - before
