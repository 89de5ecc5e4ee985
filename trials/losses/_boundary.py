"""Boundary-weighted binary cross-entropy from a distance transform of the target."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from search_spaces import LossConfig
from trials.losses._base import LossTerm, binary_target
from trials.losses._registry import register_loss

__all__ = ["BoundaryLoss", "boundary_weight_map"]


def boundary_weight_map(mask: np.ndarray, max_dist: float) -> np.ndarray:
    r"""Per-pixel weights that peak at the lesion boundary and decay to 1 away from it.

    :math:`d(x)` is the Euclidean distance from pixel :math:`x` to the nearest pixel of the other
    class: ``distance_transform_edt(mask)`` inside the lesion, ``distance_transform_edt(~mask)``
    outside, so the pixels on either side of the boundary have :math:`d = 1`. The weight is

    .. math:: w(x) = 1 + d_{\max} - \min(d(x), d_{\max})

    (``max_dist`` at the boundary, 1 at :math:`d \ge d_{\max}`; with :math:`d_{\max} \le 1` every
    weight is 1). A mask with no lesion, or lesion everywhere, has no boundary: :math:`w = 1`.

    Args:
        mask: ``H x W`` array, nonzero = lesion.
        max_dist: :math:`d_{\max} > 0` in pixels (``loss.boundary.max_dist``).

    Returns:
        ``H x W`` float64 weights.

    Raises:
        ValueError: ``mask`` is not 2-D or ``max_dist`` is not positive.
    """
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        raise ValueError(f"boundary_weight_map needs an H x W mask, got shape {m.shape}")
    if not max_dist > 0:
        raise ValueError(f"boundary_weight_map needs max_dist > 0 (loss.boundary), got {max_dist}")
    if m.all() or not m.any():
        return np.ones(m.shape, dtype=np.float64)
    d = np.where(m, ndimage.distance_transform_edt(m), ndimage.distance_transform_edt(~m))
    return 1.0 + max_dist - np.minimum(d, max_dist)


@register_loss("boundary")
class BoundaryLoss(LossTerm):
    r"""Boundary-weighted binary cross-entropy on the mask logits.

    .. math:: L = \frac{\sum_x w(x)\,\mathrm{BCE}(z_x, t_x)}{\sum_x w(x)}

    over all pixels of the batch, with :math:`w` from :func:`boundary_weight_map` computed per
    image on the ground truth (no gradient flows through :math:`w`). It is a weighted mean, so its
    scale matches plain BCE; pixels within ``max_dist`` of the boundary weigh up to ``max_dist``
    times more than the rest.

    Cost: the target is copied to the host once per batch (a device sync on GPU) and scipy's
    exact Euclidean distance transform runs twice per image, linear in the pixel count (a few
    milliseconds for a 256 x 256 tile); the weights are then copied back to the logits' device.

    References:
        Kervadec et al., "Boundary loss for highly unbalanced segmentation", MIDL 2019. Their
        loss is :math:`\sum_x \phi_G(x)\, s_\theta(x)`, the softmax output integrated against the
        *signed* distance map :math:`\phi_G` of the ground truth (negative inside), which is
        unbounded, changes sign and must be paired with a regional loss. This term keeps their
        idea (the geometry of the ground-truth boundary, through a distance transform, drives
        the loss) but uses the clipped unsigned distance as a positive *weight* on BCE, closer to
        the border-emphasising weight maps of Ronneberger et al., "U-Net", MICCAI 2015.
    """

    requires = ("mask",)

    def __init__(self, max_dist: float = 3.0) -> None:
        super().__init__()
        if not max_dist > 0:
            raise ValueError(f"loss.boundary.max_dist must be > 0, got {max_dist}")
        self.max_dist = float(max_dist)

    @classmethod
    def from_config(cls, loss_cfg: LossConfig) -> BoundaryLoss:
        return cls(max_dist=loss_cfg.boundary.max_dist)

    def weights(self, target: torch.Tensor) -> torch.Tensor:
        """The ``(B, 1, H, W)`` weight map of a target batch, on the target's device (float64)."""
        masks = binary_target(target)[:, 0].cpu().numpy()
        w = np.stack([boundary_weight_map(m, self.max_dist) for m in masks])
        return torch.from_numpy(w).unsqueeze(1).to(target.device)

    def compute(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        logits = outputs["mask"]
        self._check_shape("mask", logits, tuple(target.shape))
        w = self.weights(target).to(device=logits.device, dtype=logits.dtype)
        bce = F.binary_cross_entropy_with_logits(
            logits, binary_target(target).to(logits.dtype), reduction="none"
        )
        return (w * bce).sum() / w.sum()

    def extra_repr(self) -> str:
        return f"max_dist={self.max_dist}"
