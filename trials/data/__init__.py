"""Data: folder data sets, the synthetic generator, the split, training tiles, inference."""

from __future__ import annotations

from trials.data._cache import (
    ImageCacheInfo,
    clear_image_cache,
    image_cache_info,
    set_image_cache_limit,
)
from trials.data._dataset import TileDataset, build_transform, epoch_loader
from trials.data._folder import (
    IMAGE_EXTENSIONS,
    FolderData,
    binarise_mask,
    downscale,
    label_from_stem,
    load_folder,
    load_pair,
)
from trials.data._sample import Sample
from trials.data._sliding import predict_full
from trials.data._sources import DataSplits, load_splits
from trials.data._split import (
    SPLIT_FILE,
    SPLITS,
    kfold_ids,
    make_split,
    read_split,
    split_from_folders,
    write_split,
)
from trials.data._synthetic import HEALTHY, STYLES, SyntheticImage, generate_synthetic, synthesize
from trials.data._tiles import Tile, TileSampler, grid_positions, pad_to_min

__all__ = [
    "HEALTHY",
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "SPLIT_FILE",
    "STYLES",
    "DataSplits",
    "FolderData",
    "ImageCacheInfo",
    "Sample",
    "SyntheticImage",
    "Tile",
    "TileDataset",
    "TileSampler",
    "binarise_mask",
    "build_transform",
    "clear_image_cache",
    "downscale",
    "epoch_loader",
    "generate_synthetic",
    "grid_positions",
    "image_cache_info",
    "kfold_ids",
    "label_from_stem",
    "load_folder",
    "load_pair",
    "load_splits",
    "make_split",
    "pad_to_min",
    "predict_full",
    "read_split",
    "set_image_cache_limit",
    "split_from_folders",
    "synthesize",
    "write_split",
]
