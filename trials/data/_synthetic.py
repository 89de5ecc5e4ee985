"""The built-in synthetic leaf-lesion data set: seeded, deterministic, no files needed.

Each image is one leaf (an ellipse with an ovate taper, a wavy outline from a few angular
harmonics and a smooth-noise edge, randomly rotated) on textured soil. The leaf is green with
low-frequency shading, fine texture, a midrib and secondary veins. Lesions lie only on the leaf,
in one "disease" style per image:

========== ================================================================================
style      appearance (lesion radii, in px, for image side ``s``)
========== ================================================================================
rust       many small orange-brown pustules with a bright core, clustered (1 .. 0.012 s)
leaf_spot  round brown spots with a dark rim and a yellow halo; the halo is *not* lesion
           (1 .. 0.05 s)
blight     few large irregular dark patches with mottled texture (1.5 .. 0.16 s)
mildew     pale, powdery, diffuse-looking patches with irregular outlines (1.5 .. 0.10 s)
========== ================================================================================

Lesion radii are log-uniform, so every image mixes many tiny lesions (1-3 px) with a few large
ones. The lesion share of the image is drawn log-uniformly in [1 %, 20 %] (capped at 60 % of the
leaf); about 3 % of the images (``round(0.03 n)``) are healthy leaves without lesion (label
``healthy``). Styles are assigned in equal shares, in a seeded random order. Lesion outlines are
discs whose radius is modulated by a smooth noise field, stamped into a map of "distance to the
nearest lesion centre in units of its radius" (a lesion is where that map is <= 1), which also
gives the radial profile used to shade pustule cores, spot rims and halos.

Everything derives from ``numpy.random.default_rng(seed)``, one spawned child stream per image
(so images are generated in parallel threads without changing the result): the same
``(n_images, size, seed)`` gives identical arrays with the same numpy and Pillow versions.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image

from search_spaces import ConfigError
from trials.data._sample import Sample

__all__ = ["HEALTHY", "STYLES", "SyntheticImage", "generate_synthetic", "synthesize"]

STYLES = ("rust", "leaf_spot", "blight", "mildew")
HEALTHY = "healthy"

# (min radius px, max radius as a share of the image side, min of that max, outline noise)
_RADII = {
    "rust": (1.0, 0.012, 2.5, 0.15),
    "leaf_spot": (1.0, 0.05, 4.0, 0.10),
    "blight": (1.5, 0.16, 8.0, 0.55),
    "mildew": (1.5, 0.10, 6.0, 0.45),
}
_HALO = 1.7  # leaf_spot: halo out to this many lesion radii


@dataclass(frozen=True, eq=False)
class SyntheticImage:
    """One generated image with its ground truth.

    Attributes:
        image: ``H x W x 3`` uint8 RGB.
        mask: ``H x W`` bool lesion mask (always inside ``leaf``).
        leaf: ``H x W`` bool leaf mask.
        style: the lesion style (one of :data:`STYLES`) or ``"healthy"``.
    """

    image: np.ndarray
    mask: np.ndarray
    leaf: np.ndarray
    style: str


def _noise(rng: np.random.Generator, size: int, cells: int, fine: int = 0) -> np.ndarray:
    """Smooth noise (std about 1): a ``cells x cells`` normal grid, bicubic-upsampled to ``size``.

    With ``fine`` > ``cells`` a second, finer octave of half the amplitude is added on a
    ``fine x fine`` grid first, so that the two octaves cost a single full-size resize.
    """
    grid = rng.standard_normal((cells, cells), np.float32)
    if fine > cells:
        grid = _resize(grid, fine) + 0.5 * rng.standard_normal((fine, fine), np.float32)
    return _resize(grid, size)


def _resize(grid: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC))


def _leaf(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leaf coverage (0..1, anti-aliased), and the leaf-frame coordinates ``u``, ``v`` in px."""
    cy, cx = (size / 2 + rng.uniform(-0.08, 0.08, 2) * size).tolist()  # floats: keep float32
    a = rng.uniform(0.30, 0.42) * size
    b = a * rng.uniform(0.45, 0.70)
    cos_t, sin_t = math.cos(theta := rng.uniform(0, math.pi)), math.sin(theta)
    taper = rng.uniform(-0.35, 0.35)
    harmonics = [(k, rng.uniform(0, 0.04), rng.uniform(0, 2 * math.pi)) for k in range(2, 6)]

    def frame(ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, ...]:
        u = (xs - cx) * cos_t + (ys - cy) * sin_t
        v = (ys - cy) * cos_t - (xs - cx) * sin_t
        un = u / a
        return u, v, un, v / (b * np.clip(1 + taper * un, 0.3, None))

    # The outline radius depends on the angle only, a smooth function away from the centre:
    # evaluate it (arctan2 is costly) on a coarse grid of the same extent and upsample.
    n = size // 8 + 2
    centres = ((np.arange(n, dtype=np.float32) + 0.5) * size / n - 0.5).astype(np.float32)
    _, _, un_c, vn_c = frame(centres[:, None], centres[None, :])
    phi = np.arctan2(vn_c, un_c)
    outline = np.ones((n, n), np.float32)
    for k, amplitude, phase in harmonics:
        outline += amplitude * np.cos(k * phi + phase)
    outline += 0.02 * _resize(rng.standard_normal((24, 24), np.float32), n)
    axis = np.arange(size, dtype=np.float32)
    u, v, un, vn = frame(axis[:, None], axis[None, :])
    rho = np.sqrt(un * un + vn * vn)
    coverage = np.clip(0.5 + (_resize(outline, size) - rho) * a, 0.0, 1.0)  # ~1 px soft edge
    return coverage, u, v


def _veins(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, size: int) -> np.ndarray:
    width = max(0.6, size / 300)
    abs_v = np.abs(v)
    midrib = np.clip(1 - np.square(abs_v / (2 * width)), 0, None)  # a bump; exp is slower
    spacing = size * rng.uniform(0.06, 0.09)
    phase = (u - rng.uniform(0.6, 1.2) * abs_v) / spacing
    dist = np.abs(phase - np.round(phase)) * (spacing / width)
    secondary = np.clip(1 - np.square(dist), 0, None) * np.clip(abs_v / (3 * width), 0, 0.6)
    return np.maximum(midrib, secondary)


def _lesion_radii(rng: np.random.Generator, style: str, size: int, area: float) -> np.ndarray:
    r_min, share, floor, _ = _RADII[style]
    r_max = max(floor, share * size)
    log_lo, log_hi = math.log(r_min), math.log(r_max)
    mean_area = math.pi * (r_max**2 - r_min**2) / (2 * (log_hi - log_lo))
    radii = np.exp(rng.uniform(log_lo, log_hi, int(area / mean_area * 1.5) + 8))
    keep = np.searchsorted(np.cumsum(math.pi * radii**2), area) + 1
    return radii[:keep]


def _stamp(
    field: np.ndarray, wobble: np.ndarray, centres: np.ndarray, radii: np.ndarray, reach: float
) -> None:
    """Lower ``field`` to distance / (noisy radius) within ``reach`` radii of each centre."""
    size = field.shape[0]
    for (cy, cx), r in zip(centres, radii, strict=True):
        extent = r * reach * 1.6 + 1  # 1.6 = the largest wobble
        y0, y1 = max(0, int(cy - extent)), min(size, int(cy + extent) + 2)
        x0, x1 = max(0, int(cx - extent)), min(size, int(cx + extent) + 2)
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
        dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
        ratio = np.sqrt(dy * dy + dx * dx) / (r * wobble[y0:y1, x0:x1])
        np.minimum(field[y0:y1, x0:x1], ratio, out=field[y0:y1, x0:x1])


def _lesions(rng: np.random.Generator, style: str, leaf: np.ndarray, target: float) -> np.ndarray:
    """Distance-to-lesion map (in lesion radii; lesion where <= 1) reaching ``target`` share."""
    size = leaf.shape[0]
    wobble = np.clip(1 + _RADII[style][3] * _noise(rng, size, max(6, size // 24)), 0.35, 1.6)
    inside = np.flatnonzero(leaf)
    weights = None
    if style == "rust":  # pustules cluster in patches of the leaf
        coarse = _noise(rng, size // 4 + 1, 8)
        rows, cols = np.divmod(inside, size)
        weights = np.clip(coarse[rows // 4, cols // 4] + 0.8, 0, None) ** 2
        weights /= weights.sum()
    field = np.full((size, size), np.inf, dtype=np.float32)
    reach = _HALO if style == "leaf_spot" else 1.0
    area = target * size * size
    for _ in range(4):  # top up where overlaps and the leaf edge ate part of the target area
        deficit = area - np.count_nonzero((field <= 1) & leaf)
        if deficit <= 0.15 * area:
            break
        radii = _lesion_radii(rng, style, size, deficit * 1.2)
        picks = rng.choice(inside.size, radii.size, p=weights)
        centres = np.stack(np.divmod(inside[picks], size), axis=1).astype(np.float32)
        centres += rng.uniform(-0.5, 0.5, centres.shape).astype(np.float32)
        _stamp(field, wobble, centres, radii, reach)
    return field


def _colour(r: int, g: int, b: int) -> np.ndarray:
    """A ``3 x 1`` float32 colour column (float32, so that the image stays float32)."""
    return np.array([[r], [g], [b]], np.float32)


def _paint(
    rng: np.random.Generator,
    rgb: np.ndarray,
    style: str,
    field: np.ndarray,
    leaf: np.ndarray,
    light: np.ndarray,
    grain: np.ndarray,
) -> np.ndarray:
    """Colour the lesions (and leaf-spot halos) into the planar ``3 x H x W`` image; the mask."""
    size = leaf.shape[0]
    lesion = (field <= 1) & leaf
    at = np.nonzero(lesion)
    radial = field[at]
    tint = rng.uniform(0.9, 1.1, (3, 1)).astype(np.float32)
    noise = grain[at]
    if style == "rust":
        core, edge = _colour(205, 125, 50) * tint, _colour(140, 75, 35) * tint
        colour = core + (edge - core) * radial + 10 * noise
    elif style == "leaf_spot":
        halo = np.nonzero((field > 1) & (field <= _HALO) & leaf)
        weight = (_HALO - field[halo]) / (_HALO - 1) * 0.75
        yellow = _colour(215, 200, 70) * light[halo]
        rgb[:, halo[0], halo[1]] += (yellow - rgb[:, halo[0], halo[1]]) * weight
        centre, rim = _colour(150, 115, 80) * tint, _colour(80, 45, 25) * tint
        colour = centre + (rim - centre) * radial**2 + 8 * noise
    elif style == "blight":
        mottle = _noise(rng, size // 2 + 1, max(8, size // 20))[at[0] // 2, at[1] // 2]
        colour = _colour(70, 50, 32) * tint * (1 + 0.18 * mottle) + 10 * noise
    else:  # mildew: powder over the leaf, so the leaf colour shows through a little
        opacity = np.clip(0.8 + 0.12 * noise, 0.6, 1) * rng.uniform(0.8, 0.95)
        white = _colour(225, 228, 215) * tint * light[at]
        rgb[:, at[0], at[1]] = rgb[:, at[0], at[1]] * (1 - opacity) + white * opacity
        return lesion
    rgb[:, at[0], at[1]] = colour * light[at]
    return lesion


def _one(rng: np.random.Generator, style: str, size: int) -> SyntheticImage:
    # Planar 3 x H x W float32: per-channel 2-D operations are several times faster than
    # broadcasting over a trailing channel axis.
    ramp = rng.uniform(-0.12, 0.12, 2).astype(np.float32)
    axis = np.linspace(-1, 1, size, dtype=np.float32)
    light = 1 + ramp[0] * axis[:, None] + ramp[1] * axis[None, :]
    shade = _noise(rng, size, 6, max(8, size // 6))  # soil and leaf do not overlap: share it
    grain = (rng.random((size, size), np.float32) - 0.5) * 3.46  # unit variance
    coverage, u, v = _leaf(rng, size)
    veins = _veins(rng, u, v, size)
    soil = (np.array([115, 98, 82]) * rng.uniform(0.8, 1.15) + rng.uniform(-6, 6, 3)).tolist()
    green = (np.array([70, 128, 45]) + rng.uniform(-15, 15, 3)).tolist()
    soil_shade = (1 + 0.12 * shade) * light
    leaf_shade = (1 + 0.08 * shade) * light
    soil_grain, leaf_grain = 9 * grain, 5 * grain
    leaf = coverage >= 0.5
    edge = np.nonzero((coverage > 0) & (coverage < 1))
    rgb = np.empty((3, size, size), np.float32)
    for c, vein_colour in enumerate((38, 42, 18)):
        soil_c = soil[c] * soil_shade + soil_grain
        leaf_c = green[c] * leaf_shade + vein_colour * veins + leaf_grain
        rgb[c] = np.where(leaf, leaf_c, soil_c)
        rgb[c][edge] = soil_c[edge] + (leaf_c[edge] - soil_c[edge]) * coverage[edge]

    lesion = np.zeros((size, size), dtype=bool)
    if style != HEALTHY:
        core = coverage >= 1.0  # lesions stay off the anti-aliased leaf edge
        target = min(math.exp(rng.uniform(math.log(0.01), math.log(0.20))), 0.6 * core.mean())
        field = _lesions(rng, style, core, target)
        lesion = _paint(rng, rgb, style, field, core, light, grain)

    rgb += 0.5
    np.clip(rgb, 0, 255, out=rgb)
    image = np.ascontiguousarray(rgb.astype(np.uint8).transpose(1, 2, 0))
    return SyntheticImage(image=image, mask=lesion, leaf=leaf, style=style)


def _check(n_images: int, size: int) -> None:
    if n_images < 1:
        raise ConfigError(f"data.synthetic.n_images must be at least 1, got {n_images}")
    if size < 32:
        raise ConfigError(f"data.synthetic.size must be at least 32 px, got {size}")


def synthesize(n_images: int, size: int, seed: int) -> list[SyntheticImage]:
    """Generate ``n_images`` square images of side ``size`` with their lesion and leaf masks.

    Raises:
        ConfigError: ``n_images < 1`` or ``size < 32``.
    """
    _check(n_images, size)
    rng = np.random.default_rng(seed)
    styles = [STYLES[i % len(STYLES)] for i in range(n_images)]
    rng.shuffle(styles)
    for i in rng.choice(n_images, round(0.03 * n_images), replace=False):
        styles[i] = HEALTHY
    # one child stream per image: image i does not depend on how many numbers image i-1 drew
    children = rng.spawn(n_images)
    workers = max(1, min(4, os.cpu_count() or 1, n_images))
    with ThreadPoolExecutor(workers) as pool:  # numpy and PIL release the GIL on whole arrays
        return list(pool.map(partial(_one, size=size), children, styles))


def generate_synthetic(n_images: int, size: int, seed: int) -> list[Sample]:
    """The synthetic data set as samples with ids ``synthetic_<style>_<index:03d>``.

    Args:
        n_images: number of images (``data.synthetic.n_images``).
        size: side of each square image in px (``data.synthetic.size``).
        seed: generator seed (``data.synthetic.seed``); equal seeds give identical arrays.

    Raises:
        ConfigError: ``n_images < 1`` or ``size < 32``.
    """
    return [
        Sample(
            id=f"synthetic_{item.style}_{i:03d}", image=item.image, mask=item.mask, label=item.style
        )
        for i, item in enumerate(synthesize(n_images, size, seed))
    ]
