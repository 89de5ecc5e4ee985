"""The multi-term segmentation loss: a registry of loss terms and their weighted sum.

Each term is registered under its recipe name (a field of ``LossWeights``): ``focal_tversky``,
``boundary``, ``weighted_ce``, ``soft_dice``, ``region``, ``affinity``, ``query``.
:class:`CompositeLoss` builds the terms whose weight is positive and tells the model, through
``required_outputs``, which heads it needs.
"""

from __future__ import annotations

from trials.losses._aux_heads import AffinityLoss, RegionLoss, affinity_targets
from trials.losses._base import LossTerm, binary_target
from trials.losses._boundary import BoundaryLoss, boundary_weight_map
from trials.losses._composite import CompositeLoss
from trials.losses._focal_tversky import FocalTverskyLoss
from trials.losses._query import QueryLoss, lesion_components
from trials.losses._registry import create_loss, list_losses, register_loss
from trials.losses._soft_dice import SoftDiceLoss
from trials.losses._weighted_ce import WeightedCELoss, balanced_class_weights

__all__ = [
    "AffinityLoss",
    "BoundaryLoss",
    "CompositeLoss",
    "FocalTverskyLoss",
    "LossTerm",
    "QueryLoss",
    "RegionLoss",
    "SoftDiceLoss",
    "WeightedCELoss",
    "affinity_targets",
    "balanced_class_weights",
    "binary_target",
    "boundary_weight_map",
    "create_loss",
    "lesion_components",
    "list_losses",
    "register_loss",
]
