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
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness._notify import say
from harness.paired._cells import run_cells
from harness.paired._settings import PairedSettings
from harness.paired._variants import AblationDesign, best_configuration, settings_of
from search_spaces import Recipe, TrialStatus, Variant, flatten

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["experiment_target", "path_markdown", "run_path", "surrogate_steps", "write_path"]


def experiment_target(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """X's best configuration (its searched parameters, dotted path -> value; the training
    length excluded) and X's settings.

    Raises:
        ConfigError: not a search directory, or no trial with a value.
    """
    params, spec, _ = best_configuration(directory, "path")
    params.pop("optim.epochs", None)
    return params, settings_of(spec)


def _round(
    directory: Path,
    base: Recipe,
    batch: Sequence[Mapping[str, Any]],
    seeds: int,
    settings: PairedSettings,
    console: Console | None,
) -> list[float]:
    """Run (or read back) one step's candidates; the mean of the metric over their seeds."""
    variants = tuple(Variant(f"c{j:02d}", "candidate", dict(cfg)) for j, cfg in enumerate(batch))
    design = AblationDesign(base, variants, seeds)
    # a finished round is read back; an unfinished one continues from Ray's state, if any
    cells = run_cells(directory, design, settings, console=console, resume=True).cells
    ok = cells[cells["status"] == TrialStatus.COMPLETED]
    means = ok.groupby("variant")[settings.metric].mean() if not ok.empty else pd.Series()
    return [float(means.get(v.name, math.nan)) for v in variants]


def run_path(
    directory: Path,
    base: Recipe,
    target: Mapping[str, Any],
    seeds: int,
    settings: PairedSettings,
    *,
    console: Console | None,
) -> Any:
    """The ablation path with real runs, rounds in ``directory/path/step_NN``."""
    from analysis import ablation_path

    source = {k: v for k, v in flatten(base).items() if k in target}
    rounds = itertools.count()

    def evaluate(batch: Sequence[Mapping[str, Any]]) -> list[float]:
        k = next(rounds)
        label = "the base configuration" if k == 0 else f"{len(batch)} candidate(s)"
        say(console, f"path step {k}: {label} x {seeds} seed(s)")
        return _round(directory / "path" / f"step_{k:02d}", base, batch, seeds, settings, console)

    def on_step(step: Any) -> None:
        say(
            console,
            f"  step {step.step}: {step.parameter} {step.source_value!r} -> "
            f"{step.target_value!r}: {settings.metric} {step.value:.4g} (gain {step.gain:+.4g})",
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


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def path_markdown(path: Any, title: str, method: str, metric: str) -> str:
    """The path as Markdown: its title, its method and one row per step."""
    lines = [
        f"# Ablation path: {title}",
        "",
        f"Method: {method}; {metric} at the start {path.source_value:.4g}, "
        f"total gain {path.total_gain:+.4g}.",
        "",
        f"| step | parameter | from | to | {metric} | gain | share |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in path.table().itertuples(index=False):
        share = "" if math.isnan(r.share) else f"{100 * r.share:.0f}%"
        lines.append(
            f"| {r.step} | {r.parameter} | {_short(r[2])} | {_short(r[3])} | {r.value:.4g} "
            f"| {r.gain:+.4g} | {share} |"
        )
    return "\n".join(lines) + "\n"


def write_path(run_dir: Path, path: Any, doc: Mapping[str, Any], method: str) -> list[Path]:
    """Write ``path.csv``, ``path.json`` (``doc`` and the path) and ``path.md`` into
    ``run_dir``; ``doc`` holds ``source``, ``target`` and ``metric``."""
    from harness.tune import write_json

    run_dir.mkdir(parents=True, exist_ok=True)
    paths = [run_dir / "path.csv", run_dir / "path.json", run_dir / "path.md"]
    path.table().to_csv(paths[0], index=False)
    write_json(paths[1], {**doc, **path.to_dict()})
    title = f"{doc['source']} -> {doc['target'].replace('best trial of', 'best of')}"
    paths[2].write_text(path_markdown(path, title, method, doc["metric"]))
    return paths
