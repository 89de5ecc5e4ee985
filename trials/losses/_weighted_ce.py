"""Binary cross-entropy with per-batch inverse-frequency ("balanced") class weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trials.losses._base import LossTerm, binary_target
from trials.losses._registry import register_loss

__all__ = ["WeightedCELoss", "balanced_class_weights"]


def balanced_class_weights(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-batch ``(w_pos, w_neg)`` of scikit-learn's ``class_weight="balanced"``.

    ``w_c = N / (n_classes * n_c)`` with ``N = y.numel()`` and ``n_classes`` the number of classes
    *present* in ``y`` (as ``compute_class_weight("balanced", classes=np.unique(y), y=y)``): with
    both classes present ``w_pos = N / (2 n_pos)`` and ``w_neg = N / (2 n_neg)``; when one class is
    absent the other gets weight 1 (and the absent one's weight, never used, is ``N``).
    Computed on the device without a host sync.

    Args:
        y: boolean target of any shape.

    Returns:
        Two 0-d float64 tensors on ``y``'s device.
    """
    n = float(y.numel())
    n_pos = y.sum(dtype=torch.float64)
    n_neg = n - n_pos
    n_classes = (n_pos > 0).double() + (n_neg > 0).double()
    return n / (n_classes * n_pos.clamp_min(1.0)), n / (n_classes * n_neg.clamp_min(1.0))


@register_loss("weighted_ce")
class WeightedCELoss(LossTerm):
    r"""Class-balanced binary cross-entropy on the mask logits.

    .. math::

        L = \frac{1}{N} \sum_x w_{t(x)}\, \mathrm{BCE}(z_x, t_x),\qquad
        \mathrm{BCE}(z, t) = -t \log\sigma(z) - (1 - t)\log(1 - \sigma(z))

    over the :math:`N` pixels of the batch, with the weights of :func:`balanced_class_weights`
    (``w_pos = N/(2 n_pos)``, ``w_neg = N/(2 n_neg)``, recomputed for every batch from its
    target; 1 for all pixels when the batch has a single class). With both classes present
    :math:`\sum_x w = N`, so :math:`L` is also the weighted mean
    :math:`\sum w\,\mathrm{BCE} / \sum w`, and each class contributes half of the loss whatever
    its frequency. Implemented with ``F.binary_cross_entropy_with_logits(weight=w)``.

    References:
        King & Zeng, "Logistic regression in rare events data", Political Analysis 2001 (the
        ``n_samples / (n_classes * n_c)`` heuristic of scikit-learn's ``"balanced"`` mode).
    """

    requires = ("mask",)

    def compute(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        logits = outputs["mask"]
        self._check_shape("mask", logits, tuple(target.shape))
        y = binary_target(target)
        w_pos, w_neg = balanced_class_weights(y)
        weight = torch.where(y, w_pos, w_neg).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), weight=weight)
