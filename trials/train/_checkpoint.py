"""Saving and loading the best model of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from search_spaces import ConfigError, Recipe
from trials.model import HEAD_OUTPUTS, LesionSegmenter, build_model

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(
    path: Path, model: LesionSegmenter, recipe: Recipe, epoch: int, metrics: dict[str, float]
) -> None:
    """Write the model weights with the recipe that built them (atomically: tmp + rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "heads": sorted(model.heads.keys()),
            "recipe": recipe.model_dump(mode="json"),
            "epoch": epoch,
            "metrics": metrics,
        },
        tmp,
    )
    tmp.replace(path)


def load_checkpoint(
    path: str | Path, map_location: Any = "cpu"
) -> tuple[LesionSegmenter, Recipe, dict]:
    """Rebuild the model of a checkpoint written by :func:`save_checkpoint`.

    Returns:
        (model in eval mode, its recipe, the rest of the checkpoint: epoch and metrics).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {str(path)!r}: no such file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ConfigError(f"checkpoint {str(path)!r}: cannot be read ({exc})") from None
    if not isinstance(state, dict) or "model" not in state or "recipe" not in state:
        raise ConfigError(f"checkpoint {str(path)!r}: not a harness checkpoint (no model/recipe)")
    recipe = Recipe.model_validate(state["recipe"])
    heads = {o for h in state.get("heads", []) for o in HEAD_OUTPUTS[h]}
    model = build_model(recipe.model.model_copy(update={"weights": None}), heads)
    model.load_state_dict(state["model"])
    model.eval()
    return model, recipe, {k: state[k] for k in ("epoch", "metrics") if k in state}
