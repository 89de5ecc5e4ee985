"""Data sources: folder layouts and masks, bad input, downscaling, the synthetic set, the split."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats

from search_spaces import DataError
from search_spaces._recipe import DataConfig, SplitConfig, SyntheticConfig
from trials.data._folder import binarise_mask, label_from_stem, load_folder, load_pair
from trials.data._sample import Sample
from trials.data._sources import load_splits
from trials.data._split import make_split, split_from_folders
from trials.data._synthetic import STYLES, generate_synthetic, synthesize

SOYBEAN = Path(__file__).resolve().parents[3] / "shared/data/soybean_rust"


def _rgb(seed: int, h: int = 12, w: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _blob(h: int = 12, w: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + 100).random((h, w)) < 0.3


def _pair(
    image_dir: Path,
    mask_dir: Path,
    stem: str,
    seed: int = 0,
    image_ext: str = ".png",
    mask_ext: str = ".png",
) -> tuple[np.ndarray, np.ndarray]:
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    image, mask = _rgb(seed), _blob(seed=seed)
    Image.fromarray(image).save(image_dir / f"{stem}{image_ext}")
    Image.fromarray(mask.astype(np.uint8) * 255).save(mask_dir / f"{stem}{mask_ext}")
    return image, mask


# ----------------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    ("image_dir", "mask_dir", "splits"),
    [
        ("images", "masks", None),
        ("images", "annotations", None),
        ("images/{s}", "annotations/{s}", ("train", "val", "test")),
        ("Images/{s}", "Masks/{s}", ("train", "test")),
        ("{s}/images", "{s}/annotations", ("train", "val", "test")),
        ("{s}/images", "{s}/masks", ("train", "val")),
    ],
)
def test_layouts_are_discovered_and_paired_by_stem(
    tmp_path: Path, image_dir: str, mask_dir: str, splits: tuple[str, ...] | None
) -> None:
    expected: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for k, split in enumerate(splits or ("all",)):
        images = tmp_path / image_dir.format(s=split)
        masks = tmp_path / mask_dir.format(s=split)
        expected[split] = {
            f"apple_rust_{k}{j}": _pair(images, masks, f"apple_rust_{k}{j}", 10 * k + j, ext, mext)
            for j, (ext, mext) in enumerate([(".png", ".png"), (".PNG", ".bmp"), (".tif", ".png")])
        }
    (tmp_path / image_dir.format(s=(splits or ("all",))[0]) / "notes.txt").write_text("ignored")
    data = load_folder(tmp_path)
    assert data.has_split_folders == (splits is not None)
    assert sorted(data.samples) == sorted(expected)
    for split, pairs in expected.items():
        got = {s.id: s for s in data.samples[split]}
        assert sorted(got) == sorted(pairs)
        for stem, (image, mask) in pairs.items():
            np.testing.assert_array_equal(got[stem].image, image)
            np.testing.assert_array_equal(got[stem].mask, mask)
            assert got[stem].full_mask is None
            assert got[stem].label == "apple_rust"
    assert data.skipped == []


@pytest.mark.parametrize(
    ("stem", "label"),
    [
        ("apple_black_rot_28", "apple_black_rot"),
        ("soybean_rust_3", "soybean_rust"),
        ("image12", None),
        ("leaf_spot", None),
        ("_12", None),
    ],
)
def test_label_from_plantseg_file_name(stem: str, label: str | None) -> None:
    assert label_from_stem(stem) == label


def test_mask_kinds_binarise_to_lesion_greater_than_zero(tmp_path: Path) -> None:
    classes = np.array([[0, 1, 2, 3], [0, 0, 5, 0], [255, 0, 0, 7]], dtype=np.uint8)
    expected = classes > 0
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for stem in ("l255", "l01", "classes", "palette", "rgb", "jpeg"):
        Image.fromarray(_rgb(1, 3, 4)).save(images / f"{stem}.png")
    Image.fromarray(expected.astype(np.uint8) * 255).save(masks / "l255.png")
    Image.fromarray(expected.astype(np.uint8)).save(masks / "l01.png")
    Image.fromarray(classes).save(masks / "classes.png")
    palette = Image.fromarray(classes, mode="P")
    palette.putpalette([255, 255, 255] + [0, 0, 0] * 255)  # index 0 is white: colours are ignored
    palette.save(masks / "palette.png")
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[..., 1] = classes  # only the green channel carries the lesion
    Image.fromarray(rgb).save(masks / "rgb.png")
    big = np.kron(expected, np.ones((8, 8), bool))  # JPEG blocks, so compression noise is small
    Image.fromarray(_rgb(2, 24, 32)).save(images / "jpeg.png")
    Image.fromarray(big.astype(np.uint8) * 255).save(masks / "jpeg.jpg", quality=90)
    got = {s.id: s.mask for s in load_folder(tmp_path).samples["all"]}
    for stem in ("l255", "l01", "classes", "palette", "rgb"):
        np.testing.assert_array_equal(got[stem], expected, err_msg=stem)
    np.testing.assert_array_equal(got["jpeg"], big)
    np.testing.assert_array_equal(binarise_mask(rgb), expected)


def test_exif_rotation_only_when_the_mask_needs_it(tmp_path: Path) -> None:
    image = _rgb(3, 10, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 20 wide, shown rotated 90 degrees clockwise
    Image.fromarray(image).save(tmp_path / "a.png", exif=exif)
    Image.fromarray(np.zeros((20, 10), np.uint8)).save(tmp_path / "rotated.png")
    Image.fromarray(np.zeros((10, 20), np.uint8)).save(tmp_path / "stored.png")
    rotated = load_pair(tmp_path / "a.png", tmp_path / "rotated.png")
    np.testing.assert_array_equal(rotated.image, np.rot90(image, k=-1))
    stored = load_pair(tmp_path / "a.png", tmp_path / "stored.png")
    np.testing.assert_array_equal(stored.image, image)


# --------------------------------------------------------------------------------- bad input


def _bad_folder(root: Path) -> dict[str, str]:
    """Three good pairs plus one of each bad case; returns file name -> expected problem."""
    images, masks = root / "images", root / "masks"
    for j in range(3):
        _pair(images, masks, f"good_{j}", j)
    _pair(images, masks, "truncated", 5, image_ext=".jpg")
    data = (images / "truncated.jpg").read_bytes()
    (images / "truncated.jpg").write_bytes(data[: len(data) // 2])
    _pair(images, masks, "garbage", 6)
    (images / "garbage.png").write_bytes(b"this is not a png")
    Image.fromarray(_rgb(7)).save(images / "lonely_image.png")
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(masks / "lonely_mask.png")
    Image.fromarray(_rgb(8)).save(images / "wrong_size.png")
    Image.fromarray(np.zeros((12, 15), np.uint8)).save(masks / "wrong_size.png")
    return {
        "truncated.jpg": "truncated",
        "garbage.png": "unreadable",
        "lonely_image.png": "image without a mask",
        "lonely_mask.png": "mask without an image",
        "wrong_size.png": "mask size 15x12 differs from its image wrong_size.png size 16x12",
    }


def test_each_bad_pair_is_reported_with_file_and_problem(tmp_path: Path) -> None:
    problems = _bad_folder(tmp_path)
    with pytest.raises(DataError) as info:
        load_folder(tmp_path)
    message = str(info.value)
    assert "5 bad image/mask pair(s)" in message
    assert "on_bad_sample" in message
    lines = message.splitlines()
    for name, problem in problems.items():
        assert any(name in line and problem in line for line in lines), (name, message)
    with pytest.raises(DataError, match=r"truncated\.jpg: unreadable or truncated image"):
        load_pair(tmp_path / "images/truncated.jpg", tmp_path / "masks/truncated.png")


def test_skip_lists_bad_pairs_and_keeps_the_good_ones(tmp_path: Path) -> None:
    problems = _bad_folder(tmp_path)
    data = load_folder(tmp_path, on_bad_sample="skip")
    assert sorted(s.id for s in data.samples["all"]) == ["good_0", "good_1", "good_2"]
    assert len(data.skipped) == len(problems)
    assert {Path(path).name: reason for path, reason in data.skipped}.keys() == problems.keys()
    for path, reason in data.skipped:
        assert problems[Path(path).name] in reason
    splits = load_splits(DataConfig(root=str(tmp_path), on_bad_sample="skip"))
    assert len(splits.skipped) == 5
    assert [len(splits.train), len(splits.val), len(splits.test)] == [1, 1, 1]


def test_truncated_jpeg_is_caught_even_when_downscaling(tmp_path: Path) -> None:
    big = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "a.jpg", quality=90)
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "a.jpg").write_bytes(data[: len(data) * 3 // 4])
    Image.fromarray(np.zeros((128, 128), np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(DataError, match="truncated"):
        load_pair(tmp_path / "a.jpg", tmp_path / "m.png", max_image_side=32)


@pytest.mark.parametrize("on_bad_sample", ["error", "skip"])
def test_folder_problems_are_always_errors(tmp_path: Path, on_bad_sample: str) -> None:
    def load(root: Path) -> None:
        load_folder(root, on_bad_sample=on_bad_sample)  # type: ignore[arg-type]

    with pytest.raises(DataError, match="does not exist"):
        load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"is empty; expected root/images/ \+ root/annotations/"):
        load(tmp_path / "empty")
    (tmp_path / "other/photos").mkdir(parents=True)
    with pytest.raises(DataError, match="no images/ nor annotations/ or masks/ subfolder"):
        load(tmp_path / "other")
    (tmp_path / "no_masks/images").mkdir(parents=True)
    with pytest.raises(DataError, match="has images/ but no annotations/ or masks/ folder"):
        load(tmp_path / "no_masks")
    (tmp_path / "no_images/images").mkdir(parents=True)
    (tmp_path / "no_images/masks").mkdir()
    (tmp_path / "no_images/images/readme.txt").write_text("x")
    with pytest.raises(DataError, match=r"no images found in .*no_images/images"):
        load(tmp_path / "no_images")
    _pair(tmp_path / "all_bad/images", tmp_path / "all_bad/masks", "a")
    (tmp_path / "all_bad/masks/a.png").unlink()
    pattern = "every image/mask pair" if on_bad_sample == "skip" else "image without a mask"
    with pytest.raises(DataError, match=pattern):
        load(tmp_path / "all_bad")


# -------------------------------------------------------------------------------- downscaling


def test_downscale_keeps_full_mask_and_alignment(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    mask = ndimage.zoom(rng.random((16, 24)), 4, order=1) > 0.55  # 64 x 96 blobs
    image = np.zeros((64, 96, 3), np.uint8)
    image[..., 0] = mask * 255
    image[..., 1] = rng.integers(0, 256, (64, 96))
    Image.fromarray(image).save(tmp_path / "a.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "m.png")
    sample = load_pair(tmp_path / "a.png", tmp_path / "m.png", max_image_side=24)
    share = mask.reshape(16, 4, 24, 4).mean(axis=(1, 3))  # area average, 4 x 4 blocks
    assert sample.image.shape == (16, 24, 3)
    np.testing.assert_array_equal(sample.full_mask, mask)
    np.testing.assert_array_equal(sample.mask, share >= 0.5)
    np.testing.assert_array_equal(sample.image[..., 0] >= 128, share >= 0.5)
    green = image[..., 1].reshape(16, 4, 24, 4).mean(axis=(1, 3))
    assert np.abs(sample.image[..., 1] - green).max() <= 1
    assert sample.lesion_fraction == pytest.approx(mask.mean())
    small = load_pair(tmp_path / "a.png", tmp_path / "m.png", max_image_side=40)
    assert small.image.shape == (27, 40, 3) and small.mask.shape == (27, 40)
    same = load_pair(tmp_path / "a.png", tmp_path / "m.png", max_image_side=96)
    assert same.full_mask is None and same.mask.shape == (64, 96)


def test_downscaled_jpeg_stays_aligned_with_its_mask(tmp_path: Path) -> None:
    mask = np.zeros((256, 256), bool)
    mask[64:160, 96:224] = True
    image = np.full((256, 256, 3), 30, np.uint8)
    image[mask] = 230
    Image.fromarray(image).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "m.png")
    sample = load_pair(tmp_path / "a.jpg", tmp_path / "m.png", max_image_side=64)
    expected = np.zeros((64, 64), bool)
    expected[16:40, 24:56] = True
    np.testing.assert_array_equal(sample.mask, expected)
    assert sample.image[expected].min() > 200 and sample.image[~expected].max() < 60


# ---------------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_and_seeded() -> None:
    first, again, other = (generate_synthetic(8, 64, seed) for seed in (3, 3, 4))
    assert [s.id for s in first] == [s.id for s in again]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.mask, b.mask)
    assert not all(np.array_equal(a.image, b.image) for a, b in zip(first, other, strict=True))


def test_synthetic_ids_styles_and_lesion_fractions() -> None:
    start = time.perf_counter()
    samples = generate_synthetic(64, 128, 0)
    assert time.perf_counter() - start < 5  # generous: 2 shared CPU cores in CI
    ids = [s.id for s in samples]
    assert len(set(ids)) == 64
    for i, s in enumerate(samples):
        assert re.fullmatch(rf"synthetic_{s.label}_{i:03d}", s.id)
        assert s.image.shape == (128, 128, 3) and s.image.dtype == np.uint8
        assert s.mask.shape == (128, 128) and s.mask.dtype == bool
    labels = [s.label for s in samples]
    counts = {label: labels.count(label) for label in set(labels)}
    assert counts.pop("healthy") == 2  # round(3 % of 64)
    assert counts.keys() == set(STYLES) and set(counts.values()) <= {15, 16}  # equal shares
    fractions = np.array([s.lesion_fraction for s in samples])
    healthy = np.array([label == "healthy" for label in labels])
    assert healthy.sum() == 2 and np.all(fractions[healthy] == 0)
    sick = fractions[~healthy]
    assert sick.min() > 0.003 and sick.max() < 0.25
    assert np.mean((sick >= 0.008) & (sick <= 0.21)) >= 0.9
    assert np.quantile(sick, 0.1) < 0.025 and np.quantile(sick, 0.9) > 0.08


def test_synthetic_lesions_lie_on_the_leaf_and_look_different() -> None:
    items = synthesize(16, 96, 1)
    for item in items:
        assert not np.any(item.mask & ~item.leaf)
        image = item.image.astype(float)
        soil = np.median(image[~item.leaf], axis=0)
        healthy_leaf = np.median(image[item.leaf & ~item.mask], axis=0)
        assert healthy_leaf[1] > healthy_leaf[0] + 20 and healthy_leaf[1] > healthy_leaf[2] + 20
        assert soil[1] < soil[0] + 5  # soil is brown-grey, not green
        if item.mask.sum() > 20:
            lesion = np.median(image[item.mask], axis=0)
            assert np.abs(lesion - healthy_leaf).max() > 40, item.style
    spots = [item for item in items if item.style == "leaf_spot"]
    assert spots
    for item in spots:  # the yellow halo around spots is on the leaf but not lesion
        ring = ndimage.binary_dilation(item.mask, iterations=2) & ~item.mask & item.leaf
        rest = item.leaf & ~ndimage.binary_dilation(item.mask, iterations=6)
        ring_rg = item.image[ring][:, 0].astype(float).mean()
        assert ring_rg > item.image[rest][:, 0].astype(float).mean() + 30


def test_synthetic_lesion_sizes_range_from_tiny_to_large() -> None:
    items = synthesize(16, 256, 2)
    sizes: dict[str, list[int]] = {}
    for item in items:
        labels, _ = ndimage.label(item.mask)
        sizes.setdefault(item.style, []).extend(np.bincount(labels.ravel())[1:].tolist())
    everything = np.concatenate([np.asarray(v) for v in sizes.values()])
    assert np.sum(everything <= 13) >= 50  # discs of radius 1-2 px
    assert everything.max() >= 2000  # large patches
    assert np.median(sizes["rust"]) < np.median(sizes["blight"])
    assert {"rust", "leaf_spot", "blight", "mildew"} <= sizes.keys()


# -------------------------------------------------------------------------------------- split


def _samples(n: int, seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    lesion = (rng.lognormal(-3, 1, n) * 400).clip(0, 400).astype(int)  # skewed, like real data
    out = []
    for i, k in enumerate(lesion):
        mask = np.zeros(400, bool)
        mask[:k] = True
        out.append(Sample(f"s{i:03d}", np.zeros((20, 20, 3), np.uint8), mask.reshape(20, 20)))
    return out


def test_split_sizes_disjoint_deterministic_and_order_free() -> None:
    samples = _samples(100)
    cfg = SplitConfig(val_fraction=0.15, test_fraction=0.2, seed=7)
    split = make_split(samples, cfg)
    assert [len(split[k]) for k in ("train", "val", "test")] == [65, 15, 20]
    assert sorted(split["train"] + split["val"] + split["test"]) == [s.id for s in samples]
    assert make_split(samples[::-1], cfg) == split
    assert make_split(samples, cfg.model_copy(update={"seed": 8})) != split
    no_test = make_split(samples, SplitConfig(val_fraction=0.1, test_fraction=0, seed=0))
    assert no_test["test"] == [] and len(no_test["val"]) == 10
    tiny = make_split(_samples(3), SplitConfig(val_fraction=0.4, test_fraction=0.45, seed=0))
    assert [len(tiny[k]) for k in ("train", "val", "test")] == [1, 1, 1]
    with pytest.raises(DataError, match="at least 3 images"):
        make_split(_samples(2), SplitConfig())


def test_split_is_stratified_by_lesion_fraction() -> None:
    samples = _samples(120, seed=1)
    fraction = {s.id: s.lesion_fraction for s in samples}
    everything = list(fraction.values())
    for seed in range(5):
        split = make_split(samples, SplitConfig(val_fraction=0.15, test_fraction=0.15, seed=seed))
        for name in ("val", "test"):
            values = [fraction[i] for i in split[name]]
            # one draw per quantile bin: the ECDFs differ by at most one bin (1/18)
            assert stats.ks_2samp(values, everything).statistic <= 1 / 18 + 1e-9
            assert abs(np.median(values) - np.median(everything)) < 0.01
        train = [fraction[i] for i in split["train"]]
        assert abs(np.median(train) - np.median(everything)) < 0.005


def test_split_json_is_written_and_reused(tmp_path: Path) -> None:
    cfg = DataConfig(synthetic=SyntheticConfig(n_images=12, size=32, seed=5))
    first = load_splits(cfg, tmp_path)
    record = json.loads((tmp_path / "split.json").read_text())
    assert first.split_path == tmp_path / "split.json"
    assert record["seed"] == 0 and record["source"] == "synthetic(n=12, size=32, seed=5)"
    assert record["train"] == [s.id for s in first.train]
    assert [len(first.train), len(first.val), len(first.test)] == [8, 2, 2]
    everything = first.train + first.val + first.test
    recorded = {name: record[name] for name in ("train", "val", "test")}
    seed = next(k for k in range(1, 50) if make_split(everything, SplitConfig(seed=k)) != recorded)
    other_seed = cfg.model_copy(update={"split": SplitConfig(seed=seed)})
    again = load_splits(other_seed, tmp_path)  # the file wins over the new seed
    assert [s.id for s in again.val] == record["val"]
    assert [s.id for s in again.test] == record["test"]
    small = load_splits(cfg.model_copy(update={"max_image_side": 16}), None)
    assert small.split_path is None
    for sample in small.train:
        assert sample.image.shape == (16, 16, 3) and sample.full_mask is not None
        assert sample.full_mask.shape == (32, 32)
        share = sample.full_mask.reshape(16, 2, 16, 2).mean(axis=(1, 3))
        np.testing.assert_array_equal(sample.mask, share >= 0.5)
    record["val"].append("synthetic_rust_999")
    (tmp_path / "split.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match=r"split\.json names 1 sample id.*synthetic_rust_999"):
        load_splits(cfg, tmp_path)
    (tmp_path / "split.json").write_text("{not json")
    with pytest.raises(DataError, match=r"cannot read the split file .*split\.json"):
        load_splits(cfg, tmp_path)


def test_split_folders_define_the_split_and_val_is_carved(tmp_path: Path) -> None:
    for j in range(10):
        _pair(tmp_path / "train/images", tmp_path / "train/masks", f"tr{j}", j)
    for j in range(4):
        _pair(tmp_path / "test/images", tmp_path / "test/masks", f"te{j}", 20 + j)
    cfg = DataConfig(root=str(tmp_path), split=SplitConfig(val_fraction=0.2, test_fraction=0.1))
    splits = load_splits(cfg, tmp_path / "run")
    assert sorted(s.id for s in splits.test) == [f"te{j}" for j in range(4)]
    assert len(splits.val) == 3  # round(0.2 * 14)
    assert sorted(s.id for s in splits.train + splits.val) == [f"tr{j}" for j in range(10)]
    assert splits.source == str(tmp_path.resolve())
    record = json.loads((tmp_path / "run/split.json").read_text())
    record["train"], record["test"] = record["train"][1:], [*record["test"], record["train"][0]]
    (tmp_path / "run/split.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match="differs from the test split folder"):
        load_splits(cfg, tmp_path / "run")
    with pytest.raises(DataError, match="no train folder"):
        split_from_folders({"val": splits.val}, cfg.split)


# ---------------------------------------------------------------------------------- real data


def test_soybean_rust_folder_loads_as_in_its_manifest() -> None:
    if not SOYBEAN.is_dir():
        print(f"soybean_rust data not found at {SOYBEAN}")
        pytest.skip(f"real data set absent: {SOYBEAN} does not exist")
    with (SOYBEAN / "manifest.csv").open() as f:
        manifest = {row["stem"]: row for row in csv.DictReader(f)}
    data = load_folder(SOYBEAN, max_image_side=128)
    samples = {s.id: s for s in data.samples["all"]}
    assert len(samples) == 63 == len(manifest) and data.skipped == []
    for stem, row in manifest.items():
        s = samples[stem]
        assert s.full_mask is not None
        assert s.full_mask.shape == (int(row["height"]), int(row["width"]))
        assert max(s.image.shape[:2]) == 128 and s.mask.shape == s.image.shape[:2]
        assert s.lesion_fraction == pytest.approx(float(row["lesion_fraction"]), abs=1e-3)
        assert s.label is None
    raw = np.asarray(Image.open(SOYBEAN / "masks/image1.png"))
    assert set(np.unique(raw).tolist()) == {0, 255}
    np.testing.assert_array_equal(samples["image1"].full_mask, raw == 255)
    split = make_split(list(samples.values()), SplitConfig())
    assert [len(split[k]) for k in ("train", "val", "test")] == [45, 9, 9]
