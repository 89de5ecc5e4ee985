"""Data: folder data sets, the synthetic generator, the split, training tiles, inference."""

from __future__ import annotations

from trials.data._cache import (
    clear_image_cache,
    image_cache_info,
    set_image_cache_limit,
)
from trials.data._dataset import build_transform, epoch_loader
from trials.data._folder import (
    load_folder,
)
from trials.data._sample import Sample
from trials.data._sliding import predict_full
from trials.data._sources import DataSplits, load_splits
from trials.data._split import (
    SPLIT_FILE,
    kfold_ids,
    make_split,
    write_split,
)
from trials.data._synthetic import STYLES, generate_synthetic
from trials.data._tiles import TileSampler

__all__ = [
    "SPLIT_FILE",
    "STYLES",
    "DataSplits",
    "Sample",
    "TileSampler",
    "build_transform",
    "clear_image_cache",
    "epoch_loader",
    "generate_synthetic",
    "image_cache_info",
    "kfold_ids",
    "load_folder",
    "load_splits",
    "make_split",
    "predict_full",
    "set_image_cache_limit",
    "write_split",
]
