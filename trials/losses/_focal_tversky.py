"""Focal Tversky loss on the mask logits, through segmentation_models_pytorch."""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch

from search_spaces import LossConfig
from trials.losses._base import LossTerm, binary_target
from trials.losses._registry import register_loss

__all__ = ["FocalTverskyLoss"]


@register_loss("focal_tversky")
class FocalTverskyLoss(LossTerm):
    r"""Focal Tversky loss :math:`(1 - TI)^\gamma` on the mask logits.

    With :math:`p = \sigmoid(\text{logit})` and the binary target :math:`t`, summed over **all
    pixels of the batch** (smp's binary mode reduces over ``dims=(0, 2)``, so the batch gets one
    index, not one per image):

    .. math::

        TP = \sum p t,\quad FP = \sum p (1 - t),\quad FN = \sum (1 - p) t,\qquad
        TI = \frac{TP}{\max(TP + \alpha FP + \beta FN,\ \varepsilon)},\qquad
        L = (1 - TI)^\gamma

    with :math:`\varepsilon = 10^{-7}` and no additive smoothing (smp's defaults, ``smooth=0``).
    :math:`\alpha` weighs false positives and :math:`\beta` false negatives; with
    :math:`\alpha = \beta = 0.5` the index is the Dice coefficient.

    This is ``smp.losses.TverskyLoss(mode="binary", from_logits=True, alpha, beta, gamma)``
    (segmentation_models_pytorch 0.6; it computes :math:`TP` as
    :math:`(\sum p + \sum t - \lVert p - t \rVert_1) / 2`, which equals :math:`\sum p t` for binary
    :math:`t`). smp sets the loss to 0 when the batch has no lesion pixel at all, so an all-empty
    batch contributes neither a value nor a gradient (false positives on it are not penalised;
    empty images *inside* a batch with lesion do count, through :math:`FP`). On such a batch, with
    :math:`\gamma < 1`, smp's ``0 ** gamma`` has an infinite derivative that turns the gradient
    into NaN, so this term returns a graph-connected 0 instead (one host sync, only when
    :math:`\gamma < 1`).

    References:
        Salehi, Erdogmus & Gholipour, "Tversky loss function for image segmentation using 3D
        fully convolutional deep networks", MLMI 2017 (the Tversky index as a loss).
        Abraham & Khan, "A novel focal Tversky loss function with improved attention U-Net for
        lesion segmentation", ISBI 2019 (the focal exponent).
    """

    requires = ("mask",)

    def __init__(self, alpha: float = 0.3, beta: float = 0.7, gamma: float = 1.2) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.tversky = smp.losses.TverskyLoss(
            mode="binary", from_logits=True, alpha=self.alpha, beta=self.beta, gamma=self.gamma
        )

    @classmethod
    def from_config(cls, loss_cfg: LossConfig) -> FocalTverskyLoss:
        p = loss_cfg.focal_tversky
        return cls(alpha=p.alpha, beta=p.beta, gamma=p.gamma)

    def compute(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        logits = outputs["mask"]
        self._check_shape("mask", logits, tuple(target.shape))
        y = binary_target(target)
        if self.gamma < 1.0 and not bool(y.any()):
            return logits.sum() * 0.0
        return self.tversky(logits, y.to(logits.dtype))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}"
