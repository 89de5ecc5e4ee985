"""Validation of a recipe against the registries, before any training starts."""

from __future__ import annotations

from pathlib import Path

import timm

from search_spaces import ConfigError, Recipe
from trials.losses import list_losses
from trials.metrics import higher_is_better, list_metrics
from trials.model import list_attention

__all__ = ["check_recipe"]

_OUTPUT_STRIDE = 32


def check_recipe(recipe: Recipe) -> Recipe:
    """Check the names a recipe uses against the registries that dispatch on them.

    The recipe model itself validates types and ranges; this checks what only the recipe's code
    knows: attention types, timm encoder names, metric names, loss names and whether the data
    folder exists. Called at the edge (the CLI) so a typo fails before Ray or training starts.

    Raises:
        ConfigError: the parameter path, the value and the valid choices.
    """
    problems: list[str] = []
    if recipe.model.attention.type not in list_attention():
        problems.append(
            f"model.attention.type = {recipe.model.attention.type!r}: unknown; valid: "
            f"{', '.join(list_attention())}"
        )
    if not timm.is_model(recipe.model.encoder):
        stem = recipe.model.encoder.split("_")[0]
        similar = timm.list_models(f"*{stem}*")[:10]
        problems.append(
            f"model.encoder = {recipe.model.encoder!r}: not a timm model"
            + (f"; similar: {', '.join(similar)}" if similar else "")
        )
    if recipe.optim.monitor not in list_metrics():
        problems.append(
            f"optim.monitor = {recipe.optim.monitor!r}: unknown metric; valid: "
            f"{', '.join(list_metrics())}"
        )
    elif (recipe.optim.monitor_mode == "max") != higher_is_better(recipe.optim.monitor):
        better = "max" if higher_is_better(recipe.optim.monitor) else "min"
        problems.append(
            f"optim.monitor_mode = {recipe.optim.monitor_mode!r} but {recipe.optim.monitor} is "
            f"better when {'higher' if better == 'max' else 'lower'}; use {better!r}"
        )
    if recipe.data.image_size % _OUTPUT_STRIDE:
        problems.append(
            f"data.image_size = {recipe.data.image_size}: must be a multiple of {_OUTPUT_STRIDE} "
            "(the encoder halves the resolution five times and the FPN adds the levels back)"
        )
    weights = recipe.loss.weights.model_dump()
    unknown = sorted(set(weights) - set(list_losses()))
    if unknown:  # the recipe model and the loss registry must name the same terms
        problems.append(f"loss.weights: no loss registered for {unknown}")
    if recipe.data.root is not None and not Path(recipe.data.root).is_dir():
        problems.append(f"data.root = {recipe.data.root!r}: no such folder")
    if problems:
        raise ConfigError("invalid recipe:\n  " + "\n  ".join(problems))
    return recipe
