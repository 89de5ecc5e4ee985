"""What an ablation runs: the base configuration, its variants and the paired seeds.

The base is a built-in recipe, a YAML file, or the best trial of an earlier experiment
(``runs/X``). Every variant runs with the same seeds; seed ``k`` sets the recipe's ``seed`` (model
initialisation, data order, augmentation) to ``base.seed + k`` in every variant, and all cells
share one data split, so each variant's seed-``k`` cell is paired with the full configuration's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.paired._design import Cell
from search_spaces import (
    ConfigError,
    Recipe,
    RunSpec,
    Variant,
    apply_overrides,
    list_components,
    load_recipe,
    read_spec,
    variant_drop,
    variant_only,
)

__all__ = [
    "BASELINE",
    "AblationDesign",
    "base_from_experiment",
    "best_configuration",
    "build_variants",
    "resolve_base",
    "settings_of",
]

BASELINE = "full"


def best_configuration(
    directory: Path, option: str = "base"
) -> tuple[dict[str, Any], RunSpec, dict[str, Any]]:
    """The searched values of the best trial of a search directory, its spec and its row.

    Returns:
        (dotted path -> value of every recipe value the trial set, spec.json with its settings'
        ``metric`` and ``mode`` filled in, the trial's row).

    Raises:
        ConfigError: not a search directory, or no trial finished with a value.
    """
    import pandas as pd

    from harness.tune._tables import best_row
    from search_spaces import flatten

    spec_path, trials_path = directory / "spec.json", directory / "trials.parquet"
    if not (spec_path.is_file() and trials_path.is_file()):
        raise ConfigError(
            f"{option} {directory}: not a search directory (expected spec.json and "
            "trials.parquet from harness search; of a plan, give plan_summary.json's folder or "
            "one stage folder)",
            param=option,
        )
    spec = read_spec(directory, "a search")
    spec = spec.updated(settings=settings_of(spec))
    settings = settings_of(spec)
    best = best_row(pd.read_parquet(trials_path), settings["metric"], settings["mode"])
    if best is None:
        raise ConfigError(
            f"{option} {directory}: no trial finished with a value of {settings['metric']}",
            param=option,
        )
    known = set(flatten(Recipe.model_validate(spec.recipe)))
    params = {
        k: _native(v)
        for k, v in best.items()
        if k in known and not (isinstance(v, float) and v != v)  # NaN: not set in this trial
    }
    return params, spec, dict(best)


def settings_of(spec: RunSpec) -> dict[str, Any]:
    """A search's settings, ``metric`` and ``mode`` filled in for directories older than them."""
    return {"metric": "iou_lesion", "mode": "max", **(spec.settings or {})}


def base_from_experiment(directory: Path) -> tuple[Recipe, str]:
    """The best configuration an earlier ``harness search`` found (search or plan directory).

    Raises:
        ConfigError: not an experiment directory, or no trial finished with a value.
    """
    summary = directory / "plan_summary.json"
    if summary.is_file():
        data = json.loads(summary.read_text())
        if data.get("best_recipe"):
            return Recipe.model_validate(data["best_recipe"]), f"best of plan {directory}"
    params, spec, best = best_configuration(directory)
    metric = settings_of(spec)["metric"]
    base = Recipe.model_validate(spec.recipe)
    recipe = apply_overrides(base, params, source=f"best trial of {directory}")
    value = best[f"final.{metric}"]
    return recipe, f"best trial {best['trial_id']} of {directory} ({metric} {value:.4g})"


def _native(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def resolve_base(base: str, *, has_gpu: bool | None = None) -> tuple[Recipe, str]:
    """The base configuration named by ``base``: ``auto``, a recipe name, a YAML path or an
    experiment directory. Returns the recipe and a description of where it came from."""
    if base == "auto":
        if has_gpu is None:
            import torch

            has_gpu = torch.cuda.is_available()
        base = "stage1pp" if has_gpu else "cpu_demo"
    path = Path(base)
    if path.is_dir():
        return base_from_experiment(path)
    return load_recipe(base), f"recipe {base}"


@dataclass(frozen=True)
class AblationDesign:
    """The variants (the full configuration first) and the seeds every variant runs with: a
    design of :mod:`harness.paired` whose cells pair up by seed and share one data split."""

    base: Recipe
    variants: tuple[Variant, ...]
    seeds: int
    kind: str = "ablation"

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ConfigError(f"seeds must be >= 1, got {self.seeds}", param="seeds")

    def seed_value(self, k: int) -> int:
        """The recipe ``seed`` of seed ``k`` (the same in every variant)."""
        return self.base.seed + k

    def cells(self) -> dict[str, Cell]:
        """Cell id (``"drop_boundary/s2"``) -> cell, in run order (seed-major, so the first
        completed cells already pair up)."""
        cells = (
            Cell(v.name, {"seed": k}, self.base, {**v.overrides, "seed": self.seed_value(k)})
            for k in range(self.seeds)
            for v in self.variants
        )
        return {c.id: c for c in cells}

    def shared_split(self) -> Recipe:
        """Every cell reads the base recipe's one split."""
        return self.base


def build_variants(
    base: Recipe,
    drops: Sequence[str],
    onlys: Sequence[str],
    *,
    renormalize: bool = True,
) -> tuple[Variant, ...]:
    """The full configuration plus one variant per ``drops`` and ``onlys`` entry.

    ``each`` is one variant per component (leave-one-out); ``a+b`` drops both in one variant.

    Raises:
        ConfigError: no variant asked for, an unknown component, a duplicate variant.
    """
    if not drops and not onlys:
        raise ConfigError(
            "nothing to ablate: give drop COMPONENT (repeatable, or 'each') or only TERM; "
            f"components: {', '.join(list_components())}",
            param="drop",
        )
    variants = [Variant(BASELINE, "the full configuration", {})]
    names: list[list[str]] = []
    for drop in drops:
        if drop == "each":
            names.extend([c] for c in list_components())
        else:
            names.append([p for p in drop.split("+") if p])
    for group in names:
        variants.append(variant_drop(base, group, renormalize=renormalize))
    for only in onlys:
        variants.append(variant_only(base, only, renormalize=renormalize))
    seen: set[str] = set()
    unique = []
    for v in variants:
        if v.name not in seen:
            seen.add(v.name)
            unique.append(v)
    for v in unique[1:]:
        # fail here, before Ray starts, on a variant the recipe schema rejects
        apply_overrides(base, v.overrides, source=f"ablation variant {v.name}")
    return tuple(unique)
