"""The process-wide cache of decoded pairs: one decode per file, the same pixels, a bounded size."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import trials.data._folder as folder_module
from search_spaces import ConfigError, load_recipe
from trials import run_trial
from trials.data import (
    clear_image_cache,
    generate_synthetic,
    image_cache_info,
    load_folder,
    load_splits,
    set_image_cache_limit,
)
from trials.data._cache import DEFAULT_LIMIT_BYTES, sample_bytes


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_image_cache()
    yield
    set_image_cache_limit(DEFAULT_LIMIT_BYTES)
    clear_image_cache()


@pytest.fixture
def decodes(monkeypatch) -> Counter:
    """How many times each image file was decoded (``_read_pair`` is the pixel decode)."""
    counts: Counter = Counter()
    read_pair = folder_module._read_pair

    def counting(image_im, mask_im, image_path, mask_path, max_image_side):
        counts[image_path.name] += 1
        return read_pair(image_im, mask_im, image_path, mask_path, max_image_side)

    monkeypatch.setattr(folder_module, "_read_pair", counting)
    return counts


def _write_folder(root: Path, n: int = 12, size: int = 96, seed: int = 0) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k, s in enumerate(generate_synthetic(n, size, seed)):
        Image.fromarray(s.image).save(root / "images" / f"leaf_{k}.png")
        Image.fromarray(s.mask.astype(np.uint8) * 255).save(root / "masks" / f"leaf_{k}.png")
    return root


def _arrays(data) -> dict[str, tuple]:
    return {s.id: (s.image, s.mask, s.full_mask) for group in data.samples.values() for s in group}


def _quality(metrics: dict[str, float]) -> dict[str, float]:
    timing = {"epoch_time_s", "images_per_s", "memory_peak_bytes"}
    return {k: v for k, v in metrics.items() if k not in timing}


def _assert_same_pixels(a: dict[str, tuple], b: dict[str, tuple]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        for x, y in zip(a[key], b[key], strict=True):
            assert (x is None) == (y is None)
            if x is not None:
                assert x.dtype == y.dtype and np.array_equal(x, y)


def test_a_trial_decodes_each_file_once_and_the_next_trial_none(
    tmp_path: Path, tiny_overrides: dict, decodes: Counter
) -> None:
    root = _write_folder(tmp_path / "data")
    recipe = load_recipe("cpu_demo", {**tiny_overrides, "data.root": str(root)})
    first = run_trial(recipe, workdir=tmp_path / "first")
    assert first.status == "completed" and first.epochs == 2
    assert sorted(decodes) == sorted(f"leaf_{k}.png" for k in range(12))
    assert set(decodes.values()) == {1}  # two epochs of tiles and validation: one decode each

    second = run_trial(recipe, workdir=tmp_path / "second")
    assert sum(decodes.values()) == 12  # the next trial in this process decodes nothing
    info = image_cache_info()
    assert (info.hits, info.misses, info.entries) == (12, 12, 12)
    # cached pixels train exactly as decoded ones
    assert second.best_epoch == first.best_epoch
    assert _quality(second.final) == _quality(first.final)


@pytest.mark.parametrize("max_image_side", [None, 64])
def test_cached_pixels_equal_decoded_ones(
    tmp_path: Path, decodes: Counter, max_image_side: int | None
) -> None:
    root = _write_folder(tmp_path, n=6)
    first = load_folder(root, max_image_side=max_image_side)
    again = load_folder(root, max_image_side=max_image_side)
    uncached = load_folder(root, max_image_side=max_image_side, cache=False)
    assert sum(decodes.values()) == 12  # the first read and the uncached one
    _assert_same_pixels(_arrays(again), _arrays(uncached))
    for key, arrays in _arrays(again).items():  # a hit is the very arrays of the first read
        assert all(x is y for x, y in zip(arrays, _arrays(first)[key], strict=True))
    sample = again.samples["all"][0]
    assert (sample.full_mask is not None) == (max_image_side is not None)
    with pytest.raises(ValueError, match="read-only"):
        sample.mask[0, 0] = True  # shared with later trials: never written in place


def test_a_changed_file_or_another_downscale_is_decoded_again(
    tmp_path: Path, decodes: Counter
) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for k in range(3):
        Image.fromarray(np.full((24, 32, 3), 40 * k, dtype=np.uint8)).save(
            tmp_path / "images" / f"leaf_{k}.png"
        )
        Image.fromarray(np.zeros((24, 32), dtype=np.uint8)).save(
            tmp_path / "masks" / f"leaf_{k}.bmp"
        )
    load_folder(tmp_path)
    # rewritten in place with the same size and the same time stamps: still a miss
    mask_path = tmp_path / "masks" / "leaf_1.bmp"
    stat = os.stat(mask_path)
    Image.fromarray(np.full((24, 32), 255, dtype=np.uint8)).save(mask_path)
    os.utime(mask_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(mask_path).st_size == stat.st_size
    changed = {s.id: s for s in load_folder(tmp_path).samples["all"]}
    assert changed["leaf_1"].mask.all() and not changed["leaf_0"].mask.any()
    assert decodes["leaf_1.png"] == 2 and decodes["leaf_0.png"] == 1
    load_folder(tmp_path, max_image_side=16)
    assert decodes["leaf_0.png"] == 2


def test_load_splits_reads_a_folder_once_per_process(tmp_path: Path, decodes: Counter) -> None:
    root = _write_folder(tmp_path, n=8)
    cfg = load_recipe("cpu_demo", {"data.root": str(root)}).data
    a, b = load_splits(cfg), load_splits(cfg)
    assert sum(decodes.values()) == 8
    assert [s.id for s in a.train] == [s.id for s in b.train]
    assert all(x.image is y.image for x, y in zip(a.val, b.val, strict=True))


def test_the_budget_bounds_the_cache(tmp_path: Path, decodes: Counter) -> None:
    small = _write_folder(tmp_path / "small", n=2, size=32)
    large = _write_folder(tmp_path / "large", n=4, size=96, seed=1)
    one_large = sample_bytes(load_folder(large, cache=False).samples["all"][0])
    small_bytes = sum(sample_bytes(s) for s in load_folder(small, cache=False).samples["all"])
    decodes.clear()

    set_image_cache_limit(3 * one_large)  # the large folder does not fit: cached not at all
    load_folder(large)
    load_folder(large)
    assert decodes["leaf_0.png"] == 2 and image_cache_info().entries == 0

    assert small_bytes < one_large
    set_image_cache_limit(4 * one_large + 1)
    load_folder(small)
    assert image_cache_info().entries == 2
    load_folder(large)  # fits alone: the least recently used pairs (small's) make room
    info = image_cache_info()
    assert info.entries == 4 and info.bytes == 4 * one_large <= info.limit_bytes

    set_image_cache_limit(0)  # off
    decodes.clear()
    load_folder(large)
    assert sum(decodes.values()) == 4 and image_cache_info().entries == 0


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1GB"])
def test_a_bad_budget_is_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match="integer number of bytes >= 0"):
        set_image_cache_limit(bad)  # type: ignore[arg-type]
