"""What a training run is built from: seeds, device, model and loss, tiles, optimiser, schedule.

Training (``run_trial``) and the benchmark (``harness bench``) build their model, loss, tile
sampler and optimiser here, so both measure the same thing.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from search_spaces import Recipe
from trials.data import DataSplits, TileSampler
from trials.losses import CompositeLoss
from trials.model import LesionSegmenter, build_model
from trials.train._step import Precision

__all__ = [
    "build_networks",
    "build_optimizer",
    "build_scheduler",
    "build_tile_sampler",
    "resolve_device",
    "seed_everything",
]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"``: CUDA when available, else the CPU; otherwise ``device``."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def build_networks(
    recipe: Recipe, device: torch.device, precision: Precision
) -> tuple[LesionSegmenter, CompositeLoss]:
    """Seed, then build the loss and the model with the heads it needs, on ``device``.

    The order (seed, loss, model) fixes the initial weights of a seed; the tests that rebuild
    the initial model rely on it.
    """
    seed_everything(recipe.seed)
    criterion = CompositeLoss(recipe.loss).to(device)
    model = build_model(recipe.model, criterion.required_outputs).to(device)
    return precision.format_model(model), criterion


def build_tile_sampler(splits: DataSplits, recipe: Recipe) -> TileSampler:
    """The training tiles of an epoch, drawn as the recipe's ``data`` section says."""
    data = recipe.data
    return TileSampler(
        splits.train,
        data.tile_size,
        data.stride,
        data.tile_jitter,
        data.max_tiles_per_image,
        data.pos_tile_prob,
    )


def build_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.AdamW:
    """AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019)."""
    return torch.optim.AdamW(
        model.parameters(), lr=recipe.optim.lr, weight_decay=recipe.optim.weight_decay
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int
) -> torch.optim.lr_scheduler.OneCycleLR:
    """The one-cycle schedule (Smith & Topin, "Super-Convergence", 2019) over the whole run."""
    cfg = recipe.optim
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=cfg.lr,
        total_steps=steps_per_epoch * cfg.epochs,
        pct_start=cfg.onecycle.pct_start,
        div_factor=cfg.onecycle.div_factor,
        final_div_factor=cfg.onecycle.final_div_factor,
    )
