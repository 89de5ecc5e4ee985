"""What a validation runs: a candidate and a reference configuration on the same k folds × seeds.

The candidate is the best configuration of a search (``runs/X``: its best trial, or a plan's
best recipe) or a recipe file; the reference is the experiment's base recipe by default, or a
built-in recipe, a YAML file or another experiment's best. Both read the same images: the
reference takes the candidate's data source (folder, synthetic generator, split settings).

The folds partition the images that are not in the test split (the experiment's own test split
when it has one, else the recipe's seeded split): :func:`trials.data.kfold_ids`, stratified by
lesion fraction. Fold ``f`` is written as ``fold-<f>/split.json`` (train = the other folds, val =
fold ``f``, test unchanged), the same file a search's trials share, so each cell reads its
fold's split the way every trial reads its experiment's. Seed ``j`` sets the recipe's ``seed``
(initialisation, data order, augmentation) to ``reference.seed + j`` in both configurations, so
the candidate's cell (fold f, seed j) is paired with the reference's.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.paired._design import Cell
from harness.paired._variants import (
    base_from_experiment,
    best_configuration,
    resolve_base,
    settings_of,
)
from search_spaces import ConfigError, Recipe, apply_overrides, flatten, load_recipe, read_spec

__all__ = [
    "CANDIDATE",
    "REFERENCE",
    "VARIANTS",
    "Candidate",
    "FoldPlan",
    "ValidationDesign",
    "align_data",
    "fold_dir",
    "make_folds",
    "resolve_candidate",
    "resolve_reference",
    "write_folds",
]

CANDIDATE, REFERENCE = "candidate", "reference"
# the reference first: it is the baseline of the statistics
VARIANTS = (REFERENCE, CANDIDATE)
# the data settings that decide which images there are and which are held out for test
_DATA_SOURCE = ("data.root", "data.synthetic.", "data.split.", "data.on_bad_sample")


def fold_dir(directory: Path, fold: int) -> Path:
    """The folder of fold ``fold``: its ``split.json`` and its cells' trial folders."""
    return Path(directory) / f"fold-{fold}"


@dataclass(frozen=True)
class Candidate:
    """The configuration to validate and what the search said about it.

    Attributes:
        recipe: the configuration.
        source: where it came from, in words.
        experiment: the search directory, or ``None`` for a recipe file.
        base: the experiment's base recipe (the default reference), or ``None``.
        settings: the experiment's settings (``metric``, ``mode``, ``trainable``), or ``{}``.
        search_best: the search's own best score of its metric (the winner's curse), or ``None``.
    """

    recipe: Recipe
    source: str
    experiment: Path | None = None
    base: Recipe | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    search_best: float | None = None


def _plan_best(directory: Path, mode: str) -> float | None:
    data = json.loads((directory / "plan_summary.json").read_text())
    values = [s.get("best") for s in data.get("stages") or []]
    values = [float(v) for v in values if isinstance(v, int | float)]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def resolve_candidate(run: Path | None, config: Path | None) -> Candidate:
    """The candidate: the best configuration of the search directory ``run``, or the recipe
    file ``config``.

    Raises:
        ConfigError: neither or both given, no such directory or file, not a search directory,
            or no trial of it finished with a value.
    """
    if (run is None) == (config is None):
        raise ConfigError(
            "validate needs one configuration to validate: a search directory (run, "
            "e.g. runs/X) or config PATH.yaml, not " + ("both" if run else "neither"),
            param="run",
        )
    if config is not None:
        if not config.is_file():
            raise ConfigError(f"config {config}: no such recipe file", param="config")
        return Candidate(load_recipe(config), f"recipe {config}")
    run = Path(str(run))
    if not run.is_dir():
        raise ConfigError(
            f"run {run}: no such experiment directory (give runs/NAME of a search)", param="run"
        )
    if (run / "plan_summary.json").is_file() and (run / "spec.json").is_file():
        recipe, source = base_from_experiment(run)
        spec = read_spec(run, "a search")
        settings = settings_of(spec)
        best = _plan_best(run, settings["mode"])
    else:
        params, spec, row = best_configuration(run, "run")
        settings = settings_of(spec)
        base = Recipe.model_validate(spec.recipe)
        recipe = apply_overrides(base, params, source=f"best trial of {run}")
        value = row[f"final.{settings['metric']}"]
        source = f"best trial {row['trial_id']} of {run} ({settings['metric']} {value:.4g})"
        best = float(value)
    base = Recipe.model_validate(spec.recipe)
    return Candidate(recipe, source, run, base, dict(settings), best)


def resolve_reference(
    against: str | None, candidate: Candidate, *, has_gpu: bool | None
) -> tuple[Recipe, str]:
    """The reference named by ``against`` (default: the experiment's base recipe, or ``auto``
    for a ``config`` candidate).

    Raises:
        ConfigError: an unknown recipe name, a missing file, or a directory that is not a search.
    """
    if against is None and candidate.base is not None:
        return candidate.base, f"the base recipe of {candidate.experiment}"
    try:
        return resolve_base(against or "auto", has_gpu=has_gpu)
    except ConfigError as exc:
        raise ConfigError(
            f"against {against!r}: {exc} (it takes stage1pp, cpu_demo, a recipe YAML "
            "or runs/Y, an experiment whose best configuration is the reference)",
            param="against",
        ) from None


def align_data(candidate: Recipe, reference: Recipe) -> tuple[Recipe, list[str]]:
    """The reference reading the candidate's images; the paths that had to change."""
    mine, theirs = flatten(candidate), flatten(reference)
    changed = {k: v for k, v in mine.items() if k.startswith(_DATA_SOURCE) and theirs.get(k) != v}
    if not changed:
        return reference, []
    aligned = apply_overrides(reference, changed, source="the candidate's data source")
    return aligned, sorted(changed)


def check_design(folds: int, seeds: int) -> None:
    """Raise :class:`ConfigError` unless there are 2 folds or more and a seed or more."""
    if folds < 2:
        raise ConfigError(
            f"folds must be >= 2 (each fold is validated on while the others train), got {folds}",
            param="folds",
        )
    if seeds < 1:
        raise ConfigError(f"seeds must be >= 1, got {seeds}", param="seeds")


@dataclass(frozen=True)
class ValidationDesign:
    """Both configurations, the folds and the seeds every cell runs with: a design of
    :mod:`harness.paired` whose cells pair up by (fold, seed), each reading its fold's split."""

    candidate: Recipe
    reference: Recipe
    folds: int
    seeds: int
    kind: str = "validation"

    def __post_init__(self) -> None:
        check_design(self.folds, self.seeds)

    def recipe(self, variant: str) -> Recipe:
        """The configuration of ``candidate`` or ``reference``."""
        return self.candidate if variant == CANDIDATE else self.reference

    def seed_value(self, j: int) -> int:
        """The recipe ``seed`` of seed ``j`` (the same in both configurations)."""
        return self.reference.seed + j

    def cells(self) -> dict[str, Cell]:
        """Cell id (``"candidate/f2/s1"``) -> cell, fold-major and the reference first, so the
        first cells to finish already pair up."""
        cells = (
            Cell(
                v,
                {"fold": f, "seed": j},
                self.recipe(v),
                {"seed": self.seed_value(j)},
                fold_dir(Path(), f).name,
            )
            for f in range(self.folds)
            for j in range(self.seeds)
            for v in VARIANTS
        )
        return {c.id: c for c in cells}

    def shared_split(self) -> None:
        """No split is shared: each cell reads its fold's."""
        return None


@dataclass(frozen=True)
class FoldPlan:
    """The folds' splits and what they hold.

    Attributes:
        splits: per fold, ``{"train", "val", "test"}`` sample ids.
        summary: per fold, its sizes and the spread of its lesion fractions.
        source: the data, in words.
        test_from: where the test split came from.
    """

    splits: list[dict[str, list[str]]]
    summary: list[dict[str, Any]]
    source: str
    test_from: str


def make_folds(recipe: Recipe, k: int, experiment: Path | None) -> FoldPlan:
    """Cut the images of ``recipe`` that are not in the test split into ``k`` stratified folds.

    The test split is the experiment's (its ``split.json``) when the data is the experiment's,
    else the recipe's own seeded split.

    Raises:
        ConfigError: fewer non-test images than folds.
        DataError: the data cannot be loaded, or the experiment's split does not match it.
    """
    from trials.data import kfold_ids, load_splits

    same_data = experiment is not None and (experiment / "split.json").is_file()
    if same_data:
        theirs = flatten(Recipe.model_validate(read_spec(experiment).recipe))
        mine = flatten(recipe)
        same_data = all(theirs.get(p) == mine.get(p) for p in mine if p.startswith(_DATA_SOURCE))
    loaded = load_splits(recipe.data, experiment if same_data else None)
    test_from = (
        f"the test split of {experiment / 'split.json'}"
        if same_data
        else "the recipe's seeded split (data.split)"
    )
    pool = [*loaded.train, *loaded.val]
    if k > len(pool):
        raise ConfigError(
            f"folds {k}: more than the {len(pool)} images outside the test split of "
            f"{loaded.source}; every fold needs at least one validation image (use folds "
            f"{len(pool)} or fewer)",
            param="folds",
        )
    folds = kfold_ids(pool, k, seed=recipe.data.split.seed)
    fraction = {s.id: s.lesion_fraction for s in pool}
    test = sorted(s.id for s in loaded.test)
    splits, summary = [], []
    for f, val in enumerate(folds):
        held = set(val)
        train = sorted(i for i in fraction if i not in held)
        splits.append({"train": train, "val": list(val), "test": test})
        lf = [fraction[i] for i in val]
        summary.append(
            {
                "fold": f,
                "n_val": len(val),
                "n_train": len(train),
                "n_test": len(test),
                "lf_min": min(lf),
                "lf_median": statistics.median(lf),
                "lf_max": max(lf),
            }
        )
    return FoldPlan(splits, summary, loaded.source, test_from)


def write_folds(directory: Path, plan: FoldPlan, seed: int) -> None:
    """Write each fold's ``split.json`` (the file every cell of that fold reads)."""
    from trials.data import SPLIT_FILE, write_split

    for f, split in enumerate(plan.splits):
        write_split(
            fold_dir(directory, f) / SPLIT_FILE, split, seed=seed, source=f"{plan.source} fold {f}"
        )
