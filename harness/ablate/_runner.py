"""Run the cells of an ablation (variant x seed) on Ray Tune, at full length, and table them.

The cells are a grid over one config key (:data:`CELL_KEY`) run by the same trainable as a search
(``make_ray_trainable``), FIFO (no scheduler, no early stopping), ``reuse_actors=True``. The
progress callback rewrites ``trials.parquet`` and ``cells.parquet`` whenever a cell ends, so a
killed driver loses nothing that finished; ``--resume`` continues from Ray's state with
``Tuner.restore`` and runs only the cells that did not finish.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from harness.ablate._design import CELL_KEY, AblationDesign
from search_spaces import SUCCESS_STATUSES, ConfigError, TrialStatus, apply_overrides

__all__ = [
    "CELLS",
    "AblationSettings",
    "cells_from_trials",
    "run_cells",
    "run_cells_inline",
    "write_cells",
]

CELLS = "cells.parquet"
# cost columns kept beside the metrics
_COSTS = ("peak_memory_bytes", "wall_time_s", "images_per_s")


@dataclass(frozen=True)
class AblationSettings:
    """How the cells run."""

    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    metric: str = "iou_lesion"
    mode: str = "max"
    trainable: str = "trials:run_trial"
    # restarts of a cell whose worker or node died, from its last epoch checkpoint
    max_failures: int = 2
    storage: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.concurrency < 1:
            problems.append(f"--concurrency must be >= 1, got {self.concurrency}")
        if self.cpus_per_trial <= 0:
            problems.append(f"--cpus-per-trial must be > 0, got {self.cpus_per_trial}")
        if self.gpus_per_trial < 0:
            problems.append(f"--gpus-per-trial must be >= 0, got {self.gpus_per_trial}")
        if self.max_failures < 0:
            problems.append(f"--max-failures must be >= 0, got {self.max_failures}")
        if self.mode not in ("max", "min"):
            problems.append(f"--mode must be max or min, got {self.mode!r}")
        if problems:
            raise ConfigError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for spec.json)."""
        return asdict(self)


def cells_from_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: ``trial_id``, ``variant``, ``seed``, ``status`` (``completed`` for a
    cell that ran to its end, else the failure status), ``stopped_early`` (the recipe's own
    early stopping), then each final metric and the costs."""
    column = f"raw.{CELL_KEY}"
    if trials.empty or column not in trials:
        return pd.DataFrame(columns=["trial_id", "variant", "seed", "status"])
    rows = []
    for _, row in trials.iterrows():
        if not isinstance(row[column], str):
            continue  # a trial Ray has not started yet: no cell, nothing to table
        variant, seed = AblationDesign.parse_cell(row[column])
        status = str(row["status"])
        out: dict[str, Any] = {
            "trial_id": row["trial_id"],
            "variant": variant,
            "seed": seed,
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
        rows.append(out)
    if not rows:
        return pd.DataFrame(columns=["trial_id", "variant", "seed", "status"])
    return pd.DataFrame(rows).sort_values(["variant", "seed"], kind="stable").reset_index(drop=True)


def write_cells(directory: Path) -> None:
    """Derive ``cells.parquet`` from the experiment's ``trials.parquet``."""
    trials = pd.read_parquet(directory / "trials.parquet")
    cells = cells_from_trials(trials)
    tmp = directory / f".{CELLS}.tmp"
    cells.to_parquet(tmp, index=False)
    tmp.replace(directory / CELLS)


def _cell_trainable(
    inner: Callable[[dict[str, Any]], None], cells: Mapping[str, Mapping[str, Any]]
) -> Callable[[dict[str, Any]], None]:
    table = {k: dict(v) for k, v in cells.items()}

    def ablation_cell(config: dict[str, Any]) -> None:
        cell = config[CELL_KEY]
        inner({**table[cell], CELL_KEY: cell})

    return ablation_cell


def run_cells(
    directory: Path,
    design: AblationDesign,
    settings: AblationSettings,
    *,
    console: Console | None,
    resume: bool = False,
) -> tuple[pd.DataFrame, bool]:
    """Run every cell of ``design`` (or the unfinished ones, with ``resume``) in ``directory``.

    Returns:
        The cells table and whether the run was interrupted (cells missing or unfinished).
    """
    from harness.search import make_trainable
    from harness.tune import Experiment, grid_search, run_experiment

    directory = directory.resolve()
    cells = design.cells()
    for cell, overrides in cells.items():
        apply_overrides(design.base, overrides, source=f"ablation cell {cell}")
    # one split for every cell; bad data fails here
    inner = make_trainable(directory, design.base, settings)
    result = run_experiment(
        Experiment(
            directory=directory,
            trainable=_cell_trainable(inner, cells),
            metric=settings.metric,
            mode=settings.mode,
            max_epochs=max(design.base.optim.epochs, 1),
            trials=len(cells),
            concurrency=settings.concurrency,
            resources={"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial},
            param_space={CELL_KEY: grid_search(list(cells))},
            storage=settings.storage,
            max_failures=settings.max_failures,
            restore=resume,
            title="ablation",
            show_best=False,  # the cells are not competing configurations
            on_write=lambda: write_cells(directory),
        ),
        console,
    )
    table = pd.read_parquet(directory / CELLS)
    finished = (
        table["status"].ne(TrialStatus.RUNNING) if not table.empty else pd.Series([], dtype=bool)
    )
    interrupted = result.interrupted or len(table) < len(cells) or not bool(finished.all())
    return table, interrupted


def run_cells_inline(design: AblationDesign, settings: AblationSettings) -> pd.DataFrame:
    """Every cell run one after another in this process, without Ray: the simulator backend.

    For cheap trainables (tests, power simulations of the statistics): the cells go through the
    same recipe overrides, the same tables and :func:`cells_from_trials` as :func:`run_cells`.
    """
    from harness.tune import STATUS_KEY, TrialRecord, build_tables, resolve_trainable

    fn = resolve_trainable(settings.trainable)
    records = []
    for i, (cell, overrides) in enumerate(design.cells().items()):
        recipe = apply_overrides(design.base, overrides, source=f"ablation cell {cell}")
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
        records.append(TrialRecord(f"inline_{i:05d}", {CELL_KEY: cell}, results))
    trials, _ = build_tables(records, settings.metric, settings.mode, design.base.optim.epochs)
    return cells_from_trials(trials)
