"""Losses of the auxiliary heads: image-level lesion presence (region) and pixel affinity."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trials.losses._base import LossTerm, binary_target
from trials.losses._registry import register_loss

__all__ = ["AffinityLoss", "RegionLoss", "affinity_targets"]


@register_loss("region")
class RegionLoss(LossTerm):
    r"""BCE of the image-level lesion-presence logit.

    .. math:: L = \frac1B \sum_b \mathrm{BCE}(r_b, [\max_x t_b(x) > 0])

    with :math:`r` = ``outputs["region"]`` of shape ``(B, 1)``: the head predicts whether the
    image contains any lesion pixel, a deep-supervision signal that is cheap for empty tiles.

    References:
        Lee et al., "Deeply-supervised nets", AISTATS 2015 (auxiliary supervision of
        intermediate heads); the image-level presence target follows the classification branch
        of multi-task lesion segmenters.
    """

    requires = ("region",)

    def compute(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        logits = outputs["region"]
        self._check_shape("region", logits, (target.shape[0], 1))
        present = binary_target(target).flatten(1).any(dim=1, keepdim=True)
        return F.binary_cross_entropy_with_logits(logits, present.to(logits.dtype))


def affinity_targets(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Same-label targets of the right and lower neighbours of a boolean ``(B, H, W)`` mask.

    Returns:
        ``right`` of shape ``(B, H, W - 1)``: ``y[:, i, j] == y[:, i, j + 1]``, and ``down`` of
        shape ``(B, H - 1, W)``: ``y[:, i, j] == y[:, i + 1, j]``.
    """
    return y[:, :, :-1] == y[:, :, 1:], y[:, :-1, :] == y[:, 1:, :]


@register_loss("affinity")
class AffinityLoss(LossTerm):
    r"""BCE of the two pixel-affinity channels against same-label targets from the mask.

    Channel 0 of ``outputs["affinity"]`` (``(B, 2, H, W)`` logits) predicts whether pixel
    :math:`(y, x)` has the same label as its right neighbour :math:`(y, x + 1)`, channel 1
    whether it has the same label as its lower neighbour :math:`(y + 1, x)`. The last column of
    channel 0 and the last row of channel 1 have no neighbour and are excluded; the loss is the
    mean BCE over the remaining :math:`B\,(H (W - 1) + (H - 1) W)` entries of both channels
    together (a graph-connected 0 when there are none, e.g. a 1 x 1 image).

    References:
        Ke et al., "Adaptive affinity fields for semantic segmentation", ECCV 2018.
        Ahn & Kwak, "Learning pixel-level semantic affinity with image-level supervision",
        CVPR 2018.
    """

    requires = ("affinity",)

    def compute(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        logits = outputs["affinity"]
        b, _, h, w = target.shape
        self._check_shape("affinity", logits, (b, 2, h, w))
        right, down = affinity_targets(binary_target(target)[:, 0])
        count = right.numel() + down.numel()
        if count == 0:
            return logits.sum() * 0.0
        loss_right = F.binary_cross_entropy_with_logits(
            logits[:, 0, :, :-1], right.to(logits.dtype), reduction="sum"
        )
        loss_down = F.binary_cross_entropy_with_logits(
            logits[:, 1, :-1, :], down.to(logits.dtype), reduction="sum"
        )
        return (loss_right + loss_down) / count
