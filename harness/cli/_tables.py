"""``harness tables``: rebuild an experiment's ``trials.parquet`` and ``curves.parquet`` from
Ray's own state (also used by ``harness report`` when the tables are missing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from search_spaces import ConfigError

__all__ = ["needs_tables", "rebuild_experiment", "tables_command"]

SPEC = "spec.json"
TRIALS = "trials.parquet"


def _stage_dirs(run: Path) -> list[Path]:
    return sorted(p for p in run.iterdir() if p.is_dir() and p.name[:2].isdigit() and "-" in p.name)


def needs_tables(run: Path) -> bool:
    """A run directory (search, plan stage or ablation) with a spec but without its tables."""
    run = Path(run)
    if not (run / SPEC).is_file():
        return False
    try:
        spec = json.loads((run / SPEC).read_text(encoding="utf-8"))
    except ValueError:
        return False  # the report says what is wrong with it
    if spec.get("kind") == "ablation":  # an ablation's report reads its cells
        return not (run / "cells.parquet").is_file()
    stages = _stage_dirs(run)
    if stages:
        return any(not (s / TRIALS).is_file() for s in stages)
    return not (run / TRIALS).is_file()


def _rebuild_one(directory: Path, settings: dict[str, Any], storage: str | None, epochs: int):
    from harness.tune import rebuild_tables

    return rebuild_tables(
        directory, settings["metric"], settings["mode"], epochs or 1, storage=storage
    )


def rebuild_experiment(run: Path, console: Console) -> None:
    """Rebuild the tables of one run directory (a search, every stage of a plan, or an
    ablation, whose ``cells.parquet`` is derived again too).

    Raises:
        ConfigError: not a run directory, or no Ray state to rebuild from.
    """
    run = Path(run)
    spec_path = run / SPEC
    if not spec_path.is_file():
        raise ConfigError(f"{run} is not a run directory of the harness (no {SPEC})")
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    settings = spec.get("settings") or {}
    if "metric" not in settings or "mode" not in settings:
        raise ConfigError(f"{spec_path}: records no settings.metric and settings.mode")
    storage = settings.get("storage")
    if spec.get("kind") == "ablation":
        from harness.ablate._runner import write_cells

        epochs = int(spec["recipe"]["optim"]["epochs"])
        result = _rebuild_one(run, settings, storage, epochs)
        write_cells(run)
        targets = [(run, result)]
    elif _stage_dirs(run):
        from search_spaces import load_plan

        plan = load_plan(spec["plan"]).scaled(spec.get("budget", 1.0))
        default = int(spec["recipe"]["optim"]["epochs"])
        stage_storage = None if storage is None else f"{storage}/{run.name}"
        targets = []
        for stage in _stage_dirs(run):
            index = int(stage.name.split("-", 1)[0]) - 1
            epochs = plan.stages[index].max_epochs or default if index < len(plan.stages) else 0
            try:
                result = _rebuild_one(stage, settings, stage_storage, epochs or default)
            except ConfigError:
                continue  # a stage the plan never started
            targets.append((stage, result))
    else:
        targets = [(run, _rebuild_one(run, settings, storage, settings["max_epochs"]))]
    for directory, result in targets:
        counts = result.trials["status"].value_counts().to_dict() if not result.trials.empty else {}
        what = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no trial"
        console.print(
            f"rebuilt {directory / TRIALS} ({len(result.trials)} trials: {what}) and "
            f"curves.parquet ({len(result.curves)} rows) from Ray's state",
            markup=False,
        )


def tables_command(runs: list[Path], console: Console) -> int:
    """Run ``harness tables``; return the exit code."""
    for run in runs:
        rebuild_experiment(run, console)
    return 0
