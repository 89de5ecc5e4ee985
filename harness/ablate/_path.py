"""``harness ablate --path runs/X``: the ablation path from the base to X's best configuration.

With real runs each step's candidates (one flipped parameter each) run as the cells of one
ablation round (N seeds each, in parallel on Ray) in ``path/step_NN/``; the candidate with the
best mean over its seeds is taken. A finished round is read back instead of being run again, so
``--resume`` after a crash replays the walk up to where it stopped. With ``--surrogate`` the values
are a random forest's predictions from X's trials (``analysis.surrogate_path``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from harness.ablate._design import AblationDesign, best_configuration
from harness.ablate._runner import CELLS, AblationSettings, run_cells
from search_spaces import Recipe, TrialStatus, Variant, flatten

__all__ = ["experiment_target", "run_path", "surrogate_steps"]


def experiment_target(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """X's best configuration (its searched parameters, dotted path -> value; the training
    length excluded) and X's settings.

    Raises:
        ConfigError: not a search directory, or no trial with a value.
    """
    params, spec, _ = best_configuration(directory, "--path")
    params.pop("optim.epochs", None)
    return params, spec["settings"]


def _round(
    directory: Path,
    base: Recipe,
    batch: Sequence[Mapping[str, Any]],
    seeds: int,
    settings: AblationSettings,
    console: Console | None,
) -> list[float]:
    """Run (or read back) one step's candidates; the mean of the metric over their seeds."""
    variants = tuple(Variant(f"c{j:02d}", "candidate", dict(cfg)) for j, cfg in enumerate(batch))
    design = AblationDesign(base, variants, seeds)
    expected = len(design.cells())
    cells = pd.read_parquet(directory / CELLS) if (directory / CELLS).is_file() else None
    done = (
        cells is not None
        and len(cells) == expected
        and cells["status"].ne(TrialStatus.RUNNING).all()
    )
    if not done:
        from harness.tune import can_restore

        resume = can_restore(directory.resolve(), settings.storage) if directory.exists() else False
        cells, _ = run_cells(directory, design, settings, console=console, resume=resume)
    ok = cells[cells["status"] == TrialStatus.COMPLETED]
    means = ok.groupby("variant")[settings.metric].mean() if not ok.empty else pd.Series()
    return [float(means.get(v.name, math.nan)) for v in variants]


def run_path(
    directory: Path,
    base: Recipe,
    target: Mapping[str, Any],
    seeds: int,
    settings: AblationSettings,
    *,
    console: Console | None,
) -> Any:
    """The ablation path with real runs, rounds in ``directory/path/step_NN``."""
    from analysis import ablation_path

    source = {k: v for k, v in flatten(base).items() if k in target}
    rounds = itertools.count()

    def evaluate(batch: Sequence[Mapping[str, Any]]) -> list[float]:
        k = next(rounds)
        if console is not None:
            label = "the base configuration" if k == 0 else f"{len(batch)} candidate(s)"
            console.print(f"[bold]path step {k}[/]: {label} x {seeds} seed(s)")
        return _round(directory / "path" / f"step_{k:02d}", base, batch, seeds, settings, console)

    def on_step(step: Any) -> None:
        if console is not None:
            console.print(
                f"  step {step.step}: {step.parameter} {step.source_value!r} -> "
                f"{step.target_value!r}: {settings.metric} {step.value:.4g} "
                f"(gain {step.gain:+.4g})"
            )

    return ablation_path(
        source, target, evaluate, mode=settings.mode, method="runs", on_step=on_step
    )


def surrogate_steps(
    experiment: Path, base: Recipe, target: Mapping[str, Any], metric: str, mode: str
) -> tuple[Any, dict[str, Any]]:
    """The path predicted from ``experiment``'s trials at the report's fidelity."""
    from analysis import choose_fidelity, load_experiment, surrogate_path

    exp = load_experiment(experiment)
    fidelity = choose_fidelity(exp, metric)
    source = {k: v for k, v in flatten(base).items() if k in target}
    path, facts = surrogate_path(fidelity.table, "value", source, target, mode=mode)
    facts["fidelity"] = fidelity.rule
    return path, facts
