"""The train/val/test split: seeded, stratified by lesion fraction, and recorded in ``split.json``.

Stratification is proportionate stratified sampling (Cochran, *Sampling Techniques*, 3rd ed.,
1977, ch. 5) with one draw per stratum: to pick ``k`` of ``m`` images, they are sorted by lesion
fraction (ties by id) and cut into ``k`` consecutive quantile bins of (almost) equal size, and one
image is drawn at random from each bin. Every split then spans the whole range of lesion
fractions, and with few images (63 in the soybean set) the validation score does not hinge on
whether the one nearly-empty or nearly-covered image fell into it. Validation is drawn first, then
test from the rest; the sort makes the result independent of the order the samples come in.

``split.json`` (``{"train": [...], "val": [...], "test": [...], "seed": ..., "source": ...}``) is
written into the run directory so that every trial of an experiment sees the same split.

:func:`kfold_ids` cuts the images into ``k`` folds for cross-validation (``harness validate``)
with the same stratification: sorted by lesion fraction and cut into consecutive blocks of ``k``,
each block's images go to ``k`` different folds in a random order (the last, shorter block to
as many random folds), so every fold spans the range of lesion fractions and fold sizes differ
by at most one.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces import DataError
from search_spaces._recipe import SplitConfig
from trials.data._sample import Sample

__all__ = [
    "SPLITS",
    "SPLIT_FILE",
    "kfold_ids",
    "make_split",
    "read_split",
    "split_from_folders",
    "write_split",
]

SPLITS = ("train", "val", "test")
SPLIT_FILE = "split.json"


def _stratified_pick(samples: Sequence[Sample], k: int, rng: np.random.Generator) -> list[str]:
    """Ids of ``k`` samples, one drawn from each of ``k`` lesion-fraction quantile bins."""
    if k <= 0:
        return []
    ordered = sorted(samples, key=lambda s: (s.lesion_fraction, s.id))
    m = len(ordered)
    bounds = [j * m // k for j in range(k + 1)]
    return [ordered[int(rng.integers(lo, hi))].id for lo, hi in pairwise(bounds)]


def _sizes(n: int, cfg: SplitConfig) -> tuple[int, int]:
    """(n_val, n_test) for ``n`` images: rounded shares, at least one each, training kept."""
    n_test = max(1, round(n * cfg.test_fraction)) if cfg.test_fraction > 0 else 0
    n_val = max(1, round(n * cfg.val_fraction))
    need = 2 + (cfg.test_fraction > 0)
    if n < need:
        raise DataError(
            f"a train/val{'/test' if need == 3 else ''} split needs at least {need} images so that "
            f"every split is non-empty, got {n} (data.split)"
        )
    while n - n_val - n_test < 1:
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test


def make_split(samples: Sequence[Sample], split_cfg: SplitConfig) -> dict[str, list[str]]:
    """A seeded train/val/test split of ``samples``, stratified by lesion fraction.

    Args:
        samples: the whole data set (ids must be unique).
        split_cfg: ``val_fraction``, ``test_fraction`` (0 gives an empty test set) and ``seed``.

    Returns:
        Sorted ids per split, under ``"train"``, ``"val"`` and ``"test"``.

    Raises:
        DataError: too few images for every split to be non-empty, or duplicate ids.
    """
    _unique_ids(samples)
    n_val, n_test = _sizes(len(samples), split_cfg)
    rng = np.random.default_rng(split_cfg.seed)
    val = set(_stratified_pick(samples, n_val, rng))
    rest = [s for s in samples if s.id not in val]
    test = set(_stratified_pick(rest, n_test, rng))
    train = [s.id for s in rest if s.id not in test]
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


def kfold_ids(samples: Sequence[Sample], k: int, seed: int) -> list[list[str]]:
    """``k`` seeded folds of ``samples``, stratified by lesion fraction (module docstring).

    Pass only the images cross-validation may use (not the test split): each fold is in turn
    the validation set, the other folds the training set.

    Args:
        samples: the images to partition (ids must be unique).
        k: the number of folds, from 2 to ``len(samples)``.
        seed: seed of the assignment within each block.

    Returns:
        ``k`` lists of sorted ids; together they hold every id exactly once.

    Raises:
        DataError: ``k`` below 2 or above the number of images, or duplicate ids.
    """
    _unique_ids(samples)
    if k < 2 or k > len(samples):
        raise DataError(
            f"{k} folds of {len(samples)} images: the number of folds must be between 2 and "
            "the number of images, so that every fold holds a validation image and training "
            "images remain"
        )
    ordered = sorted(samples, key=lambda s: (s.lesion_fraction, s.id))
    rng = np.random.default_rng(seed)
    folds: list[list[str]] = [[] for _ in range(k)]
    sizes = np.zeros(k, dtype=int)
    for start in range(0, len(ordered), k):
        block = ordered[start : start + k]
        if len(block) == k:
            targets = rng.permutation(k)
        else:
            # the shorter last block goes to the smallest folds (all equal here), chosen at random
            smallest = np.flatnonzero(sizes == sizes.min())
            targets = rng.choice(smallest, size=len(block), replace=False)
        for sample, fold in zip(block, targets, strict=True):
            folds[int(fold)].append(sample.id)
            sizes[int(fold)] += 1
    return [sorted(fold) for fold in folds]


def split_from_folders(
    groups: Mapping[str, Sequence[Sample]], split_cfg: SplitConfig
) -> dict[str, list[str]]:
    """The split given by split folders; without a ``val`` folder, val is carved out of train.

    The carved validation set holds ``val_fraction`` of all images (train + test folders), drawn
    from the training folder with the same stratification as :func:`make_split`. A missing test
    folder gives an empty test set.

    Raises:
        DataError: there is no training folder, a split folder has no usable pair, or too few
            training images to carve val from.
    """
    if "train" not in groups:
        raise DataError(
            f"split folders {sorted(groups)} have no train folder; training data is required"
        )
    for name, found in groups.items():
        if not found:
            raise DataError(
                f"the {name} split folder has no usable image/mask pair (all were skipped)"
            )
    train = list(groups["train"])
    test = sorted(s.id for s in groups.get("test", []))
    if "val" in groups:
        val = sorted(s.id for s in groups["val"])
        return {"train": sorted(s.id for s in train), "val": val, "test": test}
    if len(train) < 2:
        raise DataError(
            f"no val folder, and the train folder has {len(train)} image(s): at least 2 are "
            "needed to carve a validation set out of it"
        )
    n_val = min(len(train) - 1, max(1, round((len(train) + len(test)) * split_cfg.val_fraction)))
    val_ids = set(_stratified_pick(train, n_val, np.random.default_rng(split_cfg.seed)))
    train_ids = sorted(s.id for s in train if s.id not in val_ids)
    return {"train": train_ids, "val": sorted(val_ids), "test": test}


def _unique_ids(samples: Sequence[Sample]) -> None:
    seen: set[str] = set()
    for s in samples:
        if s.id in seen:
            raise DataError(f"sample id '{s.id}' occurs twice; ids (file stems) must be unique")
        seen.add(s.id)


def write_split(path: Path, split: Mapping[str, Sequence[str]], *, seed: int, source: str) -> None:
    """Write ``split.json`` atomically (trials racing to write it write the same content)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {name: list(split[name]) for name in SPLITS}
    record.update(seed=seed, source=source)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_split(path: Path, ids: Collection[str]) -> dict[str, list[str]]:
    """Read ``split.json`` and check it against the ids of the data actually loaded.

    Raises:
        DataError: the file is not valid JSON or lacks a split; it names ids that are not in the
            data, repeats an id, leaves data ids out, or has an empty train or val split.
    """
    path = Path(path)
    fix = f"delete {path} to make a new split"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the split file {path}: {exc}") from exc
    if not isinstance(record, dict):
        raise DataError(f"{path} must hold a JSON object with {list(SPLITS)}, got {record!r:.80}")
    split: dict[str, list[str]] = {}
    for name in SPLITS:
        value = record.get(name)
        if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
            raise DataError(f"{path}: '{name}' must be a list of sample ids, got {value!r:.80}")
        split[name] = value
    for name in ("train", "val"):
        if not split[name]:
            raise DataError(f"{path}: the '{name}' split is empty; {fix}")
    listed = [i for name in SPLITS for i in split[name]]
    if len(set(listed)) != len(listed):
        repeated = sorted(i for i, count in Counter(listed).items() if count > 1)
        raise DataError(f"{path} lists ids more than once: {_some(repeated)}; {fix}")
    known = set(ids)
    unknown = sorted(set(listed) - known)
    if unknown:
        raise DataError(
            f"{path} names {len(unknown)} sample id(s) that are not in the data: "
            f"{_some(unknown)}; the data changed since the split was made: {fix}"
        )
    missing = sorted(known - set(listed))
    if missing:
        raise DataError(
            f"{len(missing)} sample id(s) of the data are in no split of {path}: "
            f"{_some(missing)}; the data changed since the split was made: {fix}"
        )
    return split


def _some(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")
