"""Soft Dice loss on the mask logits, through segmentation_models_pytorch."""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch

from search_spaces import LossConfig
from trials.losses._base import LossTerm, binary_target
from trials.losses._registry import register_loss

__all__ = ["SoftDiceLoss"]


@register_loss("soft_dice")
class SoftDiceLoss(LossTerm):
    r"""Soft Dice loss :math:`1 - D` on the mask logits.

    With :math:`p = \sigmoid(\text{logit})`, the binary target :math:`t` and the sums taken over
    **all pixels of the batch** (smp's binary mode reduces over ``dims=(0, 2)``):

    .. math::

        D = \frac{TP + s}{\max(TP + \tfrac12 FP + \tfrac12 FN + s,\ \varepsilon)}
          = \frac{2\sum p t + 2s}{\sum p + \sum t + 2s}

    with :math:`s` = ``loss.soft_dice.smooth`` and :math:`\varepsilon = 10^{-7}` (so smp's
    ``smooth`` is half the smoothing of the textbook :math:`(2\sum pt + s)/(\sum p + \sum t + s)`).

    This is ``smp.losses.DiceLoss(mode="binary", from_logits=True, smooth=s)``
    (segmentation_models_pytorch 0.6). Empty targets: smp multiplies the loss by
    :math:`[\sum t > 0]` over the batch, so a batch without any lesion pixel gives loss 0 **and
    gradient 0** (false positives on it are not penalised by this term); an empty image inside a
    batch that has lesion elsewhere still contributes its false positives to the denominator.

    References:
        Milletari, Navab & Ahmadi, "V-Net: fully convolutional neural networks for volumetric
        medical image segmentation", 3DV 2016.
    """

    requires = ("mask",)

    def __init__(self, smooth: float = 1e-6) -> None:
        super().__init__()
        self.smooth = float(smooth)
        self.dice = smp.losses.DiceLoss(mode="binary", from_logits=True, smooth=self.smooth)

    @classmethod
    def from_config(cls, loss_cfg: LossConfig) -> SoftDiceLoss:
        return cls(smooth=loss_cfg.soft_dice.smooth)

    def compute(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        logits = outputs["mask"]
        self._check_shape("mask", logits, tuple(target.shape))
        return self.dice(logits, binary_target(target).to(logits.dtype))

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}"
