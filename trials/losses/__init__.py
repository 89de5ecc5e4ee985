"""The multi-term segmentation loss: a registry of loss terms and their weighted sum.

Each term is registered under its recipe name (a field of ``LossWeights``): ``focal_tversky``,
``boundary``, ``weighted_ce``, ``soft_dice``, ``region``, ``affinity``, ``query``.
:class:`CompositeLoss` builds the terms whose weight is positive and tells the model, through
``required_outputs``, which heads it needs.
"""

from __future__ import annotations

# Each term's module registers it under its recipe name when imported: import them all here,
# so that the registry is complete whatever a caller imports first.
from trials.losses import (  # noqa: F401  (imported for their registrations)
    _aux_heads,
    _boundary,
    _focal_tversky,
    _query,
    _soft_dice,
    _weighted_ce,
)
from trials.losses._base import LossTerm
from trials.losses._boundary import boundary_weight_map
from trials.losses._composite import CompositeLoss
from trials.losses._query import lesion_components
from trials.losses._registry import create_loss, list_losses, register_loss

__all__ = [
    "CompositeLoss",
    "LossTerm",
    "boundary_weight_map",
    "create_loss",
    "lesion_components",
    "list_losses",
    "register_loss",
]
