"""Set-prediction loss of the query head: Hungarian matching of queries to lesion components."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from trials.losses._base import LossTerm, binary_target
from trials.losses._registry import register_loss

__all__ = ["QueryLoss", "lesion_components"]

# 8-connectivity: after max-pooling to the decoder resolution, a thin oblique lesion becomes a
# chain of diagonally touching cells; 4-connectivity would split it into many tiny instances.
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def lesion_components(mask: np.ndarray, max_components: int) -> np.ndarray:
    """The connected lesion components of a 2-D mask, largest first, at most ``max_components``.

    Components are found with ``scipy.ndimage.label`` and 8-connectivity; they are ordered by
    pixel count, largest first (ties keep label order, i.e. raster order of their first pixel).

    Args:
        mask: ``h x w`` array, nonzero = lesion.
        max_components: keep at most this many (the number of queries).

    Returns:
        ``K x h x w`` boolean array, ``K <= max_components`` (``K = 0`` for an empty mask).
    """
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        raise ValueError(f"lesion_components needs an h x w mask, got shape {m.shape}")
    labels, k = ndimage.label(m, structure=_EIGHT_CONNECTED)
    if k == 0 or max_components <= 0:
        return np.zeros((0, *m.shape), dtype=bool)
    sizes = np.bincount(labels.ravel(), minlength=k + 1)[1:]
    keep = np.argsort(-sizes, kind="stable")[:max_components] + 1
    return labels[None] == keep[:, None, None]


@register_loss("query")
class QueryLoss(LossTerm):
    r"""DETR/MaskFormer-style set-prediction loss of the query head.

    ``outputs["query_masks"]`` are ``(B, N, h, w)`` mask logits of :math:`N` queries (at the
    decoder resolution, read from the tensor) and ``outputs["query_logits"]`` their ``(B, N)``
    objectness logits :math:`o`. For each image:

    1. The target is reduced to ``(h, w)`` by adaptive **max** pooling (a lesion smaller than a
       cell still marks it) and split into its connected components (8-connectivity, see
       :func:`lesion_components`), keeping the :math:`K \le N` largest.
    2. With :math:`p_n = \sigma(\text{query mask}_n)` and the soft Dice
       :math:`D(p, c) = (2 \sum p c + 1) / (\sum p + \sum c + 1)` (MaskFormer's smoothing of 1),
       the :math:`N \times K` matching cost is
       :math:`C_{nk} = (1 - D(p_n, c_k)) - \sigma(o_n)`, minimised by the Hungarian algorithm
       (``scipy.optimize.linear_sum_assignment``, on detached values: the matching is piecewise
       constant and carries no gradient). Every component gets one query.
    3. :math:`L = \frac1N \sum_n \mathrm{BCE}(o_n, [n\ \text{matched}])
       + \frac1K \sum_{(n, k)\ \text{matched}} \big[(1 - D(p_n, c_k))
       + \mathrm{mean}_x \mathrm{BCE}(\text{query mask}_n, c_k)\big]`; with :math:`K = 0` only
       the objectness term (all targets 0).

    The batch loss is the mean of the per-image losses. Cost: one host copy of the pooled
    targets per batch, and per image one small ``N x K`` copy for the matching (a device sync on
    GPU each).

    References:
        Carion et al., "End-to-end object detection with transformers" (DETR), ECCV 2020.
        Cheng, Schwing & Kirillov, "Per-pixel classification is not all you need for semantic
        segmentation" (MaskFormer), NeurIPS 2021.
    """

    requires = ("query_masks", "query_logits")
    dice_smooth = 1.0

    def compute(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        masks = outputs["query_masks"]
        objectness = outputs["query_logits"]
        if masks.ndim != 4 or masks.shape[0] != target.shape[0]:
            raise ValueError(
                f"loss term 'query': outputs['query_masks'] must have shape (B, N, h, w) with "
                f"B = {target.shape[0]}, got {tuple(masks.shape)}"
            )
        b, n, h, w = masks.shape
        self._check_shape("query_logits", objectness, (b, n))
        pooled = F.adaptive_max_pool2d(binary_target(target).to(masks.dtype), (h, w)) > 0.5
        pooled_np = pooled[:, 0].cpu().numpy()
        losses = [
            self._image_loss(
                masks[i].flatten(1),
                objectness[i],
                torch.from_numpy(lesion_components(pooled_np[i], n)).flatten(1),
            )
            for i in range(b)
        ]
        return torch.stack(losses).mean()

    def _image_loss(
        self, mask_logits: torch.Tensor, objectness: torch.Tensor, components: torch.Tensor
    ) -> torch.Tensor:
        """Loss of one image: ``mask_logits`` (N, P), ``objectness`` (N,), ``components`` (K, P)."""
        matched = torch.zeros_like(objectness)
        if components.shape[0] == 0:
            return F.binary_cross_entropy_with_logits(objectness, matched)
        comps = components.to(device=mask_logits.device, dtype=mask_logits.dtype)
        probs = torch.sigmoid(mask_logits)
        dice = (2.0 * probs @ comps.T + self.dice_smooth) / (
            probs.sum(1, keepdim=True) + comps.sum(1) + self.dice_smooth
        )
        cost = (1.0 - dice) - torch.sigmoid(objectness)[:, None]
        # Non-finite outputs (a diverging run) must not crash the matcher: they still make the
        # loss non-finite, which the training loop reports as status "diverged".
        cost_np = np.nan_to_num(cost.detach().cpu().numpy(), nan=1e6, posinf=1e6, neginf=-1e6)
        rows, cols = linear_sum_assignment(cost_np)
        rows_t = torch.as_tensor(rows, device=mask_logits.device)
        cols_t = torch.as_tensor(cols, device=mask_logits.device)
        matched[rows_t] = 1.0
        objectness_loss = F.binary_cross_entropy_with_logits(objectness, matched)
        mask_bce = F.binary_cross_entropy_with_logits(
            mask_logits[rows_t], comps[cols_t], reduction="none"
        ).mean(1)
        return objectness_loss + ((1.0 - dice[rows_t, cols_t]) + mask_bce).mean()
