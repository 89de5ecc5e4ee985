"""The entry point of the data pipeline: a ``DataConfig`` in, train/val/test samples out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from search_spaces import DataError
from search_spaces._recipe import DataConfig
from trials.data._folder import downscale, load_folder
from trials.data._sample import Sample
from trials.data._split import (
    SPLIT_FILE,
    make_split,
    read_split,
    split_from_folders,
    write_split,
)
from trials.data._synthetic import generate_synthetic

__all__ = ["DataSplits", "load_splits"]


@dataclass(frozen=True)
class DataSplits:
    """The data of one run, split.

    Attributes:
        train: training samples.
        val: validation samples (model selection, early stopping, the search metric).
        test: held-out samples (may be empty when ``data.split.test_fraction`` is 0, or when the
            split folders have no test folder).
        skipped: ``(file, reason)`` of each pair left out under ``data.on_bad_sample="skip"``.
        source: the data folder, or ``"synthetic(n=..., size=..., seed=...)"``.
        split_path: the ``split.json`` used or written, ``None`` without a work directory.
    """

    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""
    split_path: Path | None = None


def _downscaled(sample: Sample, max_side: int) -> Sample:
    if max(sample.mask.shape) <= max_side:
        return sample
    image, mask = downscale(sample.image, sample.mask, max_side)
    return replace(sample, image=image, mask=mask, full_mask=sample.mask)


def _check_against_folders(
    split: Mapping[str, Sequence[str]], computed: Mapping[str, Sequence[str]], path: Path
) -> None:
    # split.json may re-draw train/val, but must never move an image across the test folder.
    if set(split["test"]) != set(computed["test"]):
        raise DataError(
            f"the test split of {path} differs from the test split folder of the data "
            f"({len(split['test'])} vs {len(computed['test'])} ids): delete {path} or use a "
            "fresh run directory"
        )


def load_splits(data_cfg: DataConfig, workdir: Path | None = None) -> DataSplits:
    """Load (or generate) the data of ``data_cfg`` and split it into train/val/test.

    ``data_cfg.root`` unset means the synthetic generator (``data.synthetic``). A folder with
    split folders is split by them (val carved out of train when there is no val folder);
    otherwise the split is seeded and stratified by lesion fraction (``data.split``). With a
    ``workdir``, ``workdir/split.json`` is read when it exists, so that every trial of an experiment
    uses the same split, and written otherwise.

    Args:
        data_cfg: the recipe's ``data`` section.
        workdir: the run directory that holds ``split.json``; ``None`` neither reads nor writes it.

    Raises:
        DataError: the data folder or one of its pairs is unusable, there are too few images to
            split, or ``split.json`` does not match the data.
    """
    skipped: list[tuple[str, str]] = []
    if data_cfg.root is None:
        syn = data_cfg.synthetic
        samples = generate_synthetic(syn.n_images, syn.size, syn.seed)
        if data_cfg.max_image_side is not None:
            samples = [_downscaled(s, data_cfg.max_image_side) for s in samples]
        groups: dict[str, list[Sample]] = {"all": samples}
        source = f"synthetic(n={syn.n_images}, size={syn.size}, seed={syn.seed})"
    else:
        folder = load_folder(
            data_cfg.root,
            max_image_side=data_cfg.max_image_side,
            on_bad_sample=data_cfg.on_bad_sample,
        )
        groups, skipped, source = folder.samples, folder.skipped, str(folder.root)
    all_samples = [s for group in groups.values() for s in group]
    by_id = {s.id: s for s in all_samples}
    if "all" in groups:
        computed = make_split(all_samples, data_cfg.split)
    else:
        computed = split_from_folders(groups, data_cfg.split)

    split_path = None if workdir is None else Path(workdir) / SPLIT_FILE
    split = computed
    if split_path is not None and split_path.exists():
        split = read_split(split_path, by_id)
        if "all" not in groups:
            _check_against_folders(split, computed, split_path)
    elif split_path is not None:
        write_split(split_path, computed, seed=data_cfg.split.seed, source=source)
    return DataSplits(
        train=[by_id[i] for i in split["train"]],
        val=[by_id[i] for i in split["val"]],
        test=[by_id[i] for i in split["test"]],
        skipped=skipped,
        source=source,
        split_path=split_path,
    )
