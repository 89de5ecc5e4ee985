"""Overlay panels of an evaluation: the image, the ground truth and each prediction with
its true positives, false positives and false negatives coloured apart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces import Recipe

__all__ = [
    "OVERLAY_COLOURS",
    "OVERLAY_LEGEND",
    "confusion_overlay",
    "overlay_order",
    "write_overlay",
    "write_overlays",
]

# Green and magenta stay apart for red-green colour blindness; blue stands out on leaves.
OVERLAY_COLOURS: dict[str, tuple[int, int, int]] = {
    "tp": (0, 200, 0),
    "fp": (255, 0, 255),
    "fn": (0, 120, 255),
}
OVERLAY_LEGEND = "TP green, FP magenta, FN blue"
_TINT = 0.55  # share of the colour in a tinted pixel; the image shows through the rest


def _tint(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    out = image.astype(np.float32)
    out[mask] = (1 - _TINT) * out[mask] + _TINT * np.asarray(colour, dtype=np.float32)
    return np.rint(out).astype(np.uint8)


def confusion_overlay(image: np.ndarray, target: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The image with each pixel tinted by how the prediction agrees with the ground truth.

    True positives (lesion, predicted lesion) are tinted green, false positives (predicted lesion
    on healthy tissue or background) magenta, false negatives (missed lesion) blue, in the colours
    of :data:`OVERLAY_COLOURS`; true negatives keep the image's own colour. A tinted pixel is
    ``round(0.45 * image + 0.55 * colour)``.

    Args:
        image: ``H x W x 3`` uint8 RGB.
        target: ``H x W`` boolean ground truth.
        pred: ``H x W`` boolean prediction.

    Returns:
        A new ``H x W x 3`` uint8 array.

    Raises:
        ValueError: when the three shapes do not agree.
    """
    target, pred = np.asarray(target, dtype=bool), np.asarray(pred, dtype=bool)
    if image.shape[:2] != target.shape or target.shape != pred.shape or image.shape[2:] != (3,):
        raise ValueError(
            f"confusion_overlay: image {image.shape}, target {target.shape} and prediction "
            f"{pred.shape} must be H x W x 3, H x W and H x W"
        )
    out = image
    for kind, mask in (("tp", target & pred), ("fp", ~target & pred), ("fn", target & ~pred)):
        out = _tint(out, mask, OVERLAY_COLOURS[kind])
    return out


def write_overlay(
    path: Path,
    sample: Any,
    pred: np.ndarray,
    title: str,
    other: np.ndarray | None = None,
    other_title: str = "",
) -> None:
    """One PNG row of panels: image, ground truth, prediction (and the second one, difference).

    The ground truth is tinted yellow. Each prediction panel colours true positives green, false
    positives magenta and false negatives blue (:func:`confusion_overlay`), with a legend under
    the panels. With ``other``, the difference panel shows grey where both predictions say
    lesion, red where only A does and blue where only B does.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from PIL import Image

    target = sample.target_mask
    image = np.asarray(Image.fromarray(sample.image).resize(target.shape[::-1], Image.BILINEAR))
    panels = [
        (image, "image"),
        (_tint(image, target, (255, 215, 0)), "ground truth"),
        (confusion_overlay(image, target, pred), title),
    ]
    if other is not None:
        diff = np.zeros((*target.shape, 3), dtype=np.uint8)
        diff[pred & other] = (200, 200, 200)
        diff[pred & ~other] = (230, 30, 30)
        diff[~pred & other] = (30, 90, 230)
        panels += [
            (confusion_overlay(image, target, other), other_title),
            (diff, "grey both, red A only, blue B only"),
        ]
    # Panels 3.2 in wide at the image's aspect, plus room for the titles and the legend.
    height = 3.2 * target.shape[0] / target.shape[1] + 1.0
    fig = Figure(figsize=(3.2 * len(panels), height), layout="constrained")
    for ax, (picture, name) in zip(fig.subplots(1, len(panels)), panels, strict=True):
        ax.imshow(picture, interpolation="nearest")
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.suptitle(sample.id, fontsize=9)
    names = {"tp": "true positive", "fp": "false positive", "fn": "false negative"}
    handles = [
        Patch(facecolor=np.asarray(c) / 255, label=names[k]) for k, c in OVERLAY_COLOURS.items()
    ]
    handles.append(Patch(facecolor=(1.0, 215 / 255, 0.0), label="ground truth"))
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    fig.savefig(path, dpi=100)


def overlay_order(values: np.ndarray, other: np.ndarray | None, k: int) -> list[int]:
    """Rows to draw: the ``k`` largest ``|values - other|`` with a comparison, else the ``k``
    lowest values (the worst images); NaN last, ties in table order."""
    values = np.asarray(values, dtype=float)
    key = -np.abs(values - np.asarray(other, dtype=float)) if other is not None else values
    return [int(i) for i in np.argsort(np.nan_to_num(key, nan=np.inf), kind="stable")[:k]]


def write_overlays(
    folder: Path,
    samples: Sequence[Any],
    rows: Sequence[int],
    model_a: tuple[Any, Recipe],
    model_b: tuple[Any, Recipe] | None,
    titles: Sequence[tuple[str, str]],
    device: Any,
) -> list[str]:
    """Predict and draw the samples at ``rows`` (``NN_<id>.png`` in ``folder``, ranked).

    Args:
        folder: created if needed.
        samples: the evaluated samples, in the order of the metrics table.
        rows: which of them, in the order to rank them.
        model_a, model_b: (model, recipe) of the checkpoint and of the compared one.
        titles: per drawn row, the titles of A's and B's panels.
        device: where the models are.

    Returns:
        The written files.
    """
    from trials.evaluate._inference import predict_mask

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for rank, (row, (title, other_title)) in enumerate(zip(rows, titles, strict=True), start=1):
        sample = samples[row]
        pred = predict_mask(*model_a, sample, device)
        other = predict_mask(*model_b, sample, device) if model_b is not None else None
        target = folder / f"{rank:02d}_{sample.id}.png"
        write_overlay(target, sample, pred, title, other, other_title)
        written.append(str(target))
    return written
