"""A folder of images and binary (or class-index) lesion masks, read into :class:`Sample` records.

Layouts (folder names are matched case-insensitively; hidden files are ignored):

* PlantSeg: ``root/images/`` + ``root/annotations/``; plain: ``root/images/`` + ``root/masks/``.
* Either one split into ``train``/``val``/``test`` (also ``training``, ``valid``, ``validation``,
  ``testing``), nested as ``root/images/<split>/`` + ``root/annotations/<split>/`` or as
  ``root/<split>/images/`` + ``root/<split>/annotations/`` (or ``masks/``).

An image and its mask share the file stem (``leaf_3.jpg`` + ``leaf_3.png``); image extensions are
jpg, jpeg, png, bmp, tif and tiff in any case (masks may also be gif). The stem is the sample id.

Decisions, so that nobody has to guess:

* Images are decoded completely (``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off while
  loading) so that a truncated file is reported instead of silently padded with grey.
* EXIF orientation is *not* applied: annotation tools export masks in the stored pixel order, and
  rotating the image alone would misalign it with its mask. The one exception is an image whose
  orientation tag swaps width and height (tags 5-8) and whose mask matches only the rotated size:
  there the annotator evidently saw the rotated image, so the image is rotated to match.
* A mask is binarised as "value > 0": 0/255 and 0/1 greyscale, class-index masks (any disease class
  counts as lesion), palette masks (the palette *indices*, not their colours) and RGB masks (any
  channel > 0). A lossy JPEG mask is thresholded at > 127 instead, since compression turns 0 into
  small non-zero values.
* ``max_image_side`` downscales on load, keeping the aspect ratio: the image with area averaging
  (PIL's box filter), the training mask by the same box average of the lesion indicator kept where
  it is >= 0.5, so image and mask cover the same pixel footprints; the original mask is kept in
  ``Sample.full_mask`` for full-resolution metrics.
* :func:`load_folder` decodes (and downscales) each pair once per process: a later read of an
  unchanged file at the same ``max_image_side`` returns the same, read-only arrays from
  :mod:`trials.data._cache` (the next trial in a reused worker, a bench grid, ``evaluate``).
  :func:`load_pair` always decodes.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageFile, ImageOps

from search_spaces import DataError
from trials.data._cache import PAIR_CACHE, PairKey, pair_key
from trials.data._sample import Sample

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderData",
    "binarise_mask",
    "downscale",
    "label_from_stem",
    "load_folder",
    "load_pair",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
_MASK_EXTENSIONS = IMAGE_EXTENSIONS | {".gif"}
_MASK_DIRS = ("annotations", "masks")
_SPLIT_ALIASES = {
    **dict.fromkeys(("train", "training"), "train"),
    **dict.fromkeys(("val", "valid", "validation"), "val"),
    **dict.fromkeys(("test", "testing"), "test"),
}
_EXPECTED = (
    "expected root/images/ + root/annotations/ (PlantSeg) or root/images/ + root/masks/, "
    "optionally split as images/{train,val,test}/ + annotations|masks/{train,val,test}/ "
    "or {train,val,test}/images/ + {train,val,test}/annotations|masks/"
)
_LABEL_RE = re.compile(r"(.*[A-Za-z].*?)_(\d+)")
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class FolderData:
    """What :func:`load_folder` found.

    Attributes:
        root: the data folder (absolute).
        layout: a human-readable description of the layout that was recognised.
        samples: the samples by split folder (``"train"``, ``"val"``, ``"test"``), or under the
            single key ``"all"`` when the folder has no split folders.
        skipped: ``(file, reason)`` of every pair left out with ``on_bad_sample="skip"``.
    """

    root: Path
    layout: str
    samples: dict[str, list[Sample]]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def has_split_folders(self) -> bool:
        """Whether split folders (rather than a seeded split) define train/val/test."""
        return "all" not in self.samples


class _Problem(Exception):
    """One bad pair: the file at fault and what is wrong with it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def label_from_stem(stem: str) -> str | None:
    """The class name of a PlantSeg-style file stem: ``apple_black_rot_28`` -> ``apple_black_rot``.

    A stem without a trailing ``_<digits>`` (``image12``) has no label.
    """
    match = _LABEL_RE.fullmatch(stem)
    return match.group(1) if match else None


def binarise_mask(values: np.ndarray) -> np.ndarray:
    """Lesion indicator of a greyscale, class-index or RGB(A-less) mask array: ``value > 0``."""
    values = np.asarray(values)
    if values.ndim == 2:
        return values > 0
    if values.ndim == 3:
        return (values > 0).any(axis=2)
    raise DataError(f"a mask must be H x W or H x W x C, got an array of shape {values.shape}")


def downscale(image: np.ndarray, mask: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Shrink ``image`` and ``mask`` so that the long side is ``max_side`` (no-op if already so).

    Both use PIL's box filter (area averaging) over the same output grid; the mask keeps the output
    pixels whose lesion share is at least one half.
    """
    h, w = mask.shape
    if max(h, w) <= max_side:
        return image, mask
    size = _target_size(w, h, max_side)
    small = Image.fromarray(image).resize(size, Image.Resampling.BOX)
    share = Image.fromarray(mask.astype(np.float32)).resize(size, Image.Resampling.BOX)
    return np.asarray(small), np.asarray(share) >= 0.5


@contextlib.contextmanager
def _full_decode() -> Iterator[None]:
    # PIL pads truncated files silently when this global is on; force it off while we read.
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _open(path: Path, what: str) -> Image.Image:
    try:
        return Image.open(path)  # reads the header only; pixels are decoded by _decode
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise _Problem(path, f"unreadable or truncated {what} ({exc})") from exc


def _decode(im: Image.Image, path: Path, what: str) -> None:
    try:
        im.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise _Problem(path, f"unreadable or truncated {what} ({exc})") from exc


def _target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _draft(im: Image.Image, target: tuple[int, int]) -> None:
    # libjpeg can decode at 1/2, 1/4 or 1/8 scale in the DCT domain, several times faster; used
    # only where the factor divides the size exactly, so that pixel footprints stay those of the
    # mask, and still leaves at least the target size for the final box filter.
    width, height = im.size
    for factor in (8, 4, 2):
        fits = width // factor >= target[0] and height // factor >= target[1]
        if fits and width % factor == 0 and height % factor == 0:
            im.draft(None, (width // factor, height // factor))
            return


def _to_rgb(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(im).astype(np.float64)
        top = values.max(initial=0.0)
        if top > 255:  # 16/32-bit scans: map the used range onto 8 bits
            values = values * (255.0 / (65535.0 if im.mode.startswith("I;16") else top))
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(im.convert("RGB"))


def _mask_values(im: Image.Image) -> np.ndarray:
    if im.mode in ("P", "PA", "L", "LA", "1", "I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(im)  # for P/PA these are palette indices, not colours
        return values[:, :, 0] if values.ndim == 3 else values
    return np.asarray(im.convert("RGB"))


def load_pair(image_path: Path, mask_path: Path, *, max_image_side: int | None = None) -> Sample:
    """Read one image and its mask into a :class:`Sample` (see the module notes for the rules).

    Raises:
        DataError: the image or mask is unreadable or truncated, or their sizes differ; the message
            names the file and the problem.
    """
    with _full_decode():
        try:
            return _load_pair(Path(image_path), Path(mask_path), max_image_side)
        except _Problem as problem:
            raise DataError(str(problem)) from problem


def _load_pair(image_path: Path, mask_path: Path, max_image_side: int | None) -> Sample:
    with _open(image_path, "image") as image_im, _open(mask_path, "mask") as mask_im:
        return _read_pair(image_im, mask_im, image_path, mask_path, max_image_side)


def _read_pair(
    image_im: Image.Image,
    mask_im: Image.Image,
    image_path: Path,
    mask_path: Path,
    max_image_side: int | None,
) -> Sample:
    rotate = False
    if mask_im.size != image_im.size:
        orientation = image_im.getexif().get(_ORIENTATION_TAG, 1)
        rotate = orientation in (5, 6, 7, 8) and mask_im.size == image_im.size[::-1]
        if not rotate:
            (mw, mh), (iw, ih) = mask_im.size, image_im.size
            raise _Problem(
                mask_path,
                f"mask size {mw}x{mh} differs from its image {image_path.name} size {iw}x{ih} "
                "(width x height); a mask must have its image's size",
            )
    width, height = mask_im.size
    target = None
    if max_image_side is not None and max(width, height) > max_image_side:
        target = _target_size(width, height, max_image_side)
        if image_im.format == "JPEG" and not rotate:
            _draft(image_im, target)
    _decode(image_im, image_path, "image")
    _decode(mask_im, mask_path, "mask")
    if rotate:
        image_im = ImageOps.exif_transpose(image_im)
    values = _mask_values(mask_im)
    mask = values > 127 if mask_im.format == "JPEG" else binarise_mask(values)
    full_mask = None
    if target is not None:
        full_mask = mask
        if image_im.mode not in ("RGB", "L"):
            image_im = Image.fromarray(_to_rgb(image_im))
        image = _to_rgb(image_im.resize(target, Image.Resampling.BOX))
        share = Image.fromarray(mask.astype(np.float32)).resize(target, Image.Resampling.BOX)
        mask = np.asarray(share) >= 0.5
    else:
        image = _to_rgb(image_im)
    stem = image_path.stem
    return Sample(id=stem, image=image, mask=mask, full_mask=full_mask, label=label_from_stem(stem))


# ------------------------------------------------------------------------------- discovery


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _child(folder: Path, names: Sequence[str]) -> Path | None:
    found = [p for p in _visible(folder) if p.is_dir() and p.name.lower() in names]
    if len(found) > 1:
        raise DataError(
            f"{folder} has both {found[0].name}/ and {found[1].name}/: only one mask folder "
            f"is allowed; {_EXPECTED}"
        )
    return found[0] if found else None


def _split_children(folder: Path) -> dict[str, Path]:
    splits: dict[str, Path] = {}
    for p in _visible(folder):
        name = _SPLIT_ALIASES.get(p.name.lower())
        if p.is_dir() and name is not None:
            if name in splits:
                raise DataError(f"{folder} has two folders for split '{name}': {splits[name]}, {p}")
            splits[name] = p
    return splits


def _discover(root: Path) -> tuple[str, dict[str, tuple[Path, Path]]]:
    if not root.exists():
        raise DataError(f"data folder {root} does not exist (data.root)")
    if not root.is_dir():
        raise DataError(f"data.root must be a folder, {root} is a file")
    if not _visible(root):
        raise DataError(f"data folder {root} is empty; {_EXPECTED}")
    images, masks = _child(root, ("images",)), _child(root, _MASK_DIRS)
    if images is not None or masks is not None:
        return _images_and_masks_layout(root, images, masks)
    return _split_folders_layout(root)


def _images_and_masks_layout(
    root: Path, images: Path | None, masks: Path | None
) -> tuple[str, dict[str, tuple[Path, Path]]]:
    """``images/`` + ``annotations/`` (or ``masks/``), each with or without split folders."""
    if images is None or masks is None:
        have, lack = (masks, "images/") if images is None else (images, "annotations/ or masks/")
        raise DataError(f"{root} has {have.name}/ but no {lack} folder; {_EXPECTED}")
    kind = f"{'PlantSeg' if masks.name.lower() == 'annotations' else 'plain'}"
    image_splits, mask_splits = _split_children(images), _split_children(masks)
    if not image_splits and not mask_splits:
        return f"{kind} ({images.name}/ + {masks.name}/)", {"all": (images, masks)}
    if set(image_splits) != set(mask_splits):
        raise DataError(
            f"split folders of {images} ({sorted(image_splits)}) and {masks} "
            f"({sorted(mask_splits)}) differ; they must be the same"
        )
    loose = [p.name for p in _visible(images) if p.suffix.lower() in IMAGE_EXTENSIONS]
    if loose:
        raise DataError(f"{images} has both split folders and image files ({loose[0]}, ...)")
    layout = f"{kind} with split folders {images.name}/<split>/ + {masks.name}/<split>/"
    return layout, {s: (image_splits[s], mask_splits[s]) for s in image_splits}


def _split_folders_layout(root: Path) -> tuple[str, dict[str, tuple[Path, Path]]]:
    """``<split>/images/`` + ``<split>/annotations/`` (or ``masks/``)."""
    split_dirs = _split_children(root)
    if not split_dirs:
        raise DataError(f"{root} has no images/ nor annotations/ or masks/ subfolder; {_EXPECTED}")
    groups: dict[str, tuple[Path, Path]] = {}
    for split, folder in split_dirs.items():
        images, masks = _child(folder, ("images",)), _child(folder, _MASK_DIRS)
        if images is None or masks is None:
            raise DataError(
                f"split folder {folder} needs images/ and annotations/ (or masks/); {_EXPECTED}"
            )
        groups[split] = (images, masks)
    return "split folders <split>/images/ + <split>/annotations|masks/", groups


def _files(folder: Path, extensions: frozenset[str]) -> dict[str, list[Path]]:
    by_stem: dict[str, list[Path]] = {}
    for p in _visible(folder):
        if p.is_file() and p.suffix.lower() in extensions:
            by_stem.setdefault(p.stem, []).append(p)
    return by_stem


def _pair(images: Path, masks: Path) -> tuple[list[tuple[Path, Path]], list[_Problem]]:
    image_files, mask_files = _files(images, IMAGE_EXTENSIONS), _files(masks, _MASK_EXTENSIONS)
    if not image_files:
        raise DataError(
            f"no images found in {images} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    pairs: list[tuple[Path, Path]] = []
    problems: list[_Problem] = []
    for stem, found in image_files.items():
        masks_found = mask_files.get(stem, [])
        if len(found) > 1 or len(masks_found) > 1:
            names = ", ".join(p.name for p in [*found, *masks_found])
            problems.append(_Problem(found[0], f"several files share the stem '{stem}': {names}"))
        elif not masks_found:
            problems.append(_Problem(found[0], f"image without a mask: no {stem}.* in {masks}"))
        else:
            pairs.append((found[0], masks_found[0]))
    for stem, found in mask_files.items():
        if stem not in image_files:
            problems.append(_Problem(found[0], f"mask without an image: no {stem}.* in {images}"))
    return pairs, problems


def _load_or_problem(
    pair: tuple[Path, Path], max_image_side: int | None, cache: bool
) -> tuple[PairKey | None, Sample | _Problem]:
    """The pair's cache key (``None``: not to be cached) and its sample, or its problem."""
    key = pair_key(pair[0], pair[1], max_image_side) if cache and PAIR_CACHE.on else None
    cached = PAIR_CACHE.get(key) if key is not None else None
    if cached is not None:
        return key, cached
    try:
        return key, _load_pair(pair[0], pair[1], max_image_side)
    except _Problem as problem:
        return None, problem


def load_folder(
    root: str | os.PathLike[str],
    *,
    max_image_side: int | None = None,
    on_bad_sample: Literal["error", "skip"] = "error",
    cache: bool = True,
) -> FolderData:
    """Discover the layout of ``root``, pair images with masks and read them all.

    Args:
        root: the data folder (``data.root``).
        max_image_side: downscale on load so the long side is at most this (``None``: never).
        on_bad_sample: ``"error"`` raises on bad pairs (all of them listed in one message);
            ``"skip"`` leaves them out and lists them in ``FolderData.skipped``.
        cache: take unchanged pairs from the process-wide cache of decoded pairs and put the
            pairs read into it (see :mod:`trials.data._cache`); ``False`` decodes every pair
            and caches nothing.

    Raises:
        DataError: the folder is missing or empty, its layout is not recognised, a folder holds no
            images, a bad pair is found with ``on_bad_sample="error"``, or every pair is bad.
    """
    if on_bad_sample not in ("error", "skip"):
        raise DataError(f"data.on_bad_sample must be 'error' or 'skip', got {on_bad_sample!r}")
    root = Path(root).expanduser().resolve()
    layout, groups = _discover(root)
    paired = {split: _pair(images, masks) for split, (images, masks) in groups.items()}
    jobs = [(split, pair) for split, (pairs, _) in paired.items() for pair in pairs]
    problems = [problem for _, found in paired.values() for problem in found]
    results = _read_jobs(jobs, max_image_side, cache)
    samples, failed = _by_split(list(groups), jobs, results)
    problems.extend(failed)
    if problems and on_bad_sample == "error":
        raise DataError(_bad_pairs_message(root, problems))
    if not any(samples.values()):
        raise DataError(f"every image/mask pair under {root} is bad ({len(problems)} skipped)")
    _check_unique_ids(root, samples)
    if cache:
        PAIR_CACHE.put_all([r for r in results if not isinstance(r[1], _Problem)])
    skipped = [(str(p.path), p.reason) for p in problems]
    return FolderData(root=root, layout=layout, samples=samples, skipped=skipped)


def _read_jobs(
    jobs: list[tuple[str, tuple[Path, Path]]], max_image_side: int | None, cache: bool
) -> list[tuple[PairKey | None, Sample | _Problem]]:
    """Each job's cache key and sample (or problem), in the order of ``jobs``."""
    workers = max(1, min(8, os.cpu_count() or 1))
    with _full_decode(), ThreadPoolExecutor(workers) as pool:  # PIL decodes without the GIL
        return list(pool.map(lambda job: _load_or_problem(job[1], max_image_side, cache), jobs))


def _by_split(
    splits: list[str],
    jobs: list[tuple[str, tuple[Path, Path]]],
    results: list[tuple[PairKey | None, Sample | _Problem]],
) -> tuple[dict[str, list[Sample]], list[_Problem]]:
    """The samples read, by split (every split present, maybe empty), and the pairs that failed."""
    samples: dict[str, list[Sample]] = {split: [] for split in splits}
    problems: list[_Problem] = []
    for (split, _), (_, result) in zip(jobs, results, strict=True):
        if isinstance(result, _Problem):
            problems.append(result)
        else:
            samples[split].append(result)
    return samples, problems


def _bad_pairs_message(root: Path, problems: list[_Problem]) -> str:
    """The error for bad pairs with ``on_bad_sample="error"``: the first 20, and a count."""
    listing = "\n".join(f"  {p.path}: {p.reason}" for p in problems[:20])
    more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
    return (
        f"{len(problems)} bad image/mask pair(s) under {root} (data.on_bad_sample='error'; "
        f"set it to 'skip' to leave them out):\n{listing}{more}"
    )


def _check_unique_ids(root: Path, samples: dict[str, list[Sample]]) -> None:
    """A sample id (file stem) in two split folders would make the splits overlap."""
    seen: dict[str, str] = {}
    for split, found in samples.items():
        for sample in found:
            if sample.id in seen:
                raise DataError(
                    f"sample id '{sample.id}' appears in split folders '{seen[sample.id]}' and "
                    f"'{split}' of {root}; file stems must be unique across splits"
                )
            seen[sample.id] = split
