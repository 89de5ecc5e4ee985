"""A process-wide cache of decoded (and downscaled) image/mask pairs, keyed by their files.

A trial reads its data folder once (:func:`~trials.data.load_folder` decodes every pair into
memory, and the epochs tile those arrays). What this cache saves is the next read of the same
folder in the same process: Ray runs trial after trial in one reused worker, ``harness bench``
measures a grid, ``harness evaluate`` reloads the data of the run. Decoding and downscaling 63
JPEGs of 1280 x 960 takes one to five seconds on two loaded cores; a cache hit takes none.

Decisions:

* The key is both paths (absolute), a digest of each file's bytes (BLAKE2b, 128 bits) and
  ``data.max_image_side``: a file rewritten, even with the same size and time stamp, or another
  downscale, is a miss. Reading and hashing a file costs a small fraction of decoding it
  (the 8 MB of soybean-rust JPEGs and PNGs: under 0.1 s, against 1 to 5 s to decode them).
* The cached :class:`Sample` is shared, so its arrays are made read-only: a consumer that
  writes into them fails loudly instead of changing the data of later trials. A hit returns the
  very arrays the first read produced, so tiles and augmentations see the same pixels.
* What it costs: the bytes of the cached arrays (image, training mask and the full-resolution
  mask kept for the metrics), which the trial holds anyway while it runs; the cache only keeps
  them alive between trials. The soybean-rust set (63 photos, 1280 x 960 to 1280 x 1280) costs
  116 MB at ``cpu_demo``'s ``max_image_side: 384`` (86 MB of it the full-resolution bool masks,
  23 MB the images) and 342 MB at full resolution.
* The budget (:data:`DEFAULT_LIMIT_BYTES`, :func:`set_image_cache_limit`; 0 turns the cache off)
  is enforced per folder read: a folder whose pairs do not fit in it is not cached at all
  (caching a part of a folder that is read in the same order each time would only evict itself);
  otherwise the least recently used pairs of other folders make room.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from search_spaces import ConfigError
from trials.data._sample import Sample

__all__ = [
    "DEFAULT_LIMIT_BYTES",
    "ImageCacheInfo",
    "clear_image_cache",
    "image_cache_info",
    "set_image_cache_limit",
]

#: The default budget of the cache: 1 GiB.
DEFAULT_LIMIT_BYTES = 1 << 30

PairKey = tuple[str, str, int | None, bytes, bytes]


@dataclass(frozen=True)
class ImageCacheInfo:
    """What the cache holds and has done since the process started (or the last clear).

    Attributes:
        hits: pairs answered from the cache.
        misses: pairs that had to be decoded.
        entries: pairs held now.
        bytes: bytes of the arrays held now.
        limit_bytes: the budget (0: the cache is off).
    """

    hits: int
    misses: int
    entries: int
    bytes: int
    limit_bytes: int


def _digest(path: Path) -> bytes:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).digest()


def pair_key(image_path: Path, mask_path: Path, max_image_side: int | None) -> PairKey | None:
    """The key of a pair as its files are now; ``None`` when a file cannot be read."""
    try:
        digests = _digest(image_path), _digest(mask_path)
    except OSError:
        return None  # the decode will report the problem
    return (str(image_path), str(mask_path), max_image_side, *digests)


def sample_bytes(sample: Sample) -> int:
    """Bytes of a sample's arrays."""
    arrays = (sample.image, sample.mask, sample.full_mask)
    return sum(a.nbytes for a in arrays if a is not None)


def _freeze(sample: Sample) -> Sample:
    for array in (sample.image, sample.mask, sample.full_mask):
        if array is not None:
            array.flags.writeable = False
    return sample


class _PairCache:
    """LRU of decoded pairs under a byte budget; safe to use from several threads."""

    def __init__(self, limit_bytes: int) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[PairKey, tuple[Sample, int]] = OrderedDict()
        self._bytes = 0
        self.limit_bytes = limit_bytes
        self.hits = self.misses = 0

    @property
    def on(self) -> bool:
        """Whether the budget allows caching at all."""
        return self.limit_bytes > 0

    def get(self, key: PairKey | None) -> Sample | None:
        with self._lock:
            found = None if key is None else self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found[0]

    def put_all(self, items: Sequence[tuple[PairKey | None, Sample]]) -> bool:
        """Cache the pairs of one folder read, all or none; whether they were cached."""
        fresh = {key: sample for key, sample in items if key is not None}
        with self._lock:
            new = [(k, s, sample_bytes(s)) for k, s in fresh.items() if k not in self._entries]
            held = sum(self._entries[k][1] for k in fresh if k in self._entries)
            if held + sum(n for _, _, n in new) > self.limit_bytes:
                return False
            for key, sample, size in new:
                self._entries[key] = (_freeze(sample), size)
                self._bytes += size
            for key in fresh:
                self._entries.move_to_end(key)
            while self._bytes > self.limit_bytes:  # the pairs of this read are the newest
                _, (_, size) = self._entries.popitem(last=False)
                self._bytes -= size
            return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def set_limit(self, limit_bytes: int) -> None:
        with self._lock:
            self.limit_bytes = limit_bytes
            while self._bytes > limit_bytes:
                _, (_, size) = self._entries.popitem(last=False)
                self._bytes -= size

    def info(self) -> ImageCacheInfo:
        with self._lock:
            return ImageCacheInfo(
                self.hits, self.misses, len(self._entries), self._bytes, self.limit_bytes
            )


PAIR_CACHE = _PairCache(DEFAULT_LIMIT_BYTES)


def image_cache_info() -> ImageCacheInfo:
    """Hits, misses, entries and bytes of the process-wide cache of decoded pairs."""
    return PAIR_CACHE.info()


def clear_image_cache() -> None:
    """Drop every cached pair and reset the counters."""
    PAIR_CACHE.clear()


def set_image_cache_limit(limit_bytes: int) -> None:
    """Set the cache's budget in bytes (0 turns it off); pairs over the new budget are dropped.

    Raises:
        ConfigError: ``limit_bytes`` is not an integer >= 0.
    """
    if isinstance(limit_bytes, bool) or not isinstance(limit_bytes, int) or limit_bytes < 0:
        raise ConfigError(
            f"set_image_cache_limit: the budget must be an integer number of bytes >= 0, "
            f"got {limit_bytes!r}"
        )
    PAIR_CACHE.set_limit(limit_bytes)
