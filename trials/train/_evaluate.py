"""Validation: sliding-window inference on whole images and the recipe's metrics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from search_spaces import Recipe
from trials.data import Sample, predict_full
from trials.metrics import MetricAccumulator
from trials.model import LesionSegmenter
from trials.train._step import Precision

__all__ = ["evaluate_samples"]


def evaluate_samples(
    model: LesionSegmenter,
    samples: list,
    recipe: Recipe,
    device: torch.device,
    progress: Callable[[int, int], None] | None = None,
    observe: Callable[[Sample, np.ndarray, np.ndarray], None] | None = None,
) -> MetricAccumulator:
    """Sliding-window inference on whole images and the metrics of the recipe.

    Metrics are computed against each sample's full-resolution mask (images downscaled on load
    are predicted at the loaded size and the averaged logits resized back). AMP and
    channels_last act as in training (see :class:`~trials.train._step.Precision`).

    Args:
        model: the network (put in eval mode here).
        samples: the images to predict, with their masks.
        recipe: gives the tiling of the sliding window and the precision.
        device: where the model is.
        progress: called with (images done, images in all) after each image.
        observe: called with each sample, its full-resolution logit map and its probability map
            (``sigmoid`` of the logits), e.g. to compute calibration or lesion-level metrics
            without a second inference pass.

    Returns:
        The accumulated metrics; ``compute()`` gives their values.
    """
    model.eval()
    acc = MetricAccumulator(tolerance=2)
    precision = Precision.of(recipe, device)

    def model_fn(batch: torch.Tensor) -> torch.Tensor:
        batch = precision.format_input(batch)
        with precision.autocast(device):
            return model.predict_mask(batch).float()

    for i, sample in enumerate(samples):
        out_size = sample.full_mask.shape if sample.full_mask is not None else None
        if observe is None:
            prob = predict_full(model_fn, sample.image, recipe.data, device, out_size=out_size)
        else:
            logits = predict_full(
                model_fn, sample.image, recipe.data, device, out_size=out_size, return_logits=True
            )
            # the sigmoid predict_full would apply, on the same float32 logits
            prob = torch.sigmoid(torch.from_numpy(logits)).numpy()
            observe(sample, logits, prob)
        acc.update(prob >= 0.5, sample.target_mask, sample.id, sample.label)
        if progress is not None:
            progress(i + 1, len(samples))
    return acc
