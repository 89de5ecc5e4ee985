"""Saving and loading the best model of a run, and the random state of a resumable trial."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from search_spaces import ConfigError, Recipe
from trials.model import HEAD_OUTPUTS, LesionSegmenter, build_model

__all__ = [
    "capture_rng",
    "load_checkpoint",
    "restore_rng",
    "restore_training_state",
    "save_checkpoint",
    "training_state",
]


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


def capture_rng() -> dict[str, Any]:
    """The states of every random generator a trial draws from (to resume it exactly)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng` captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def training_state(
    epoch: int, modules: tuple[Any, ...], counters: tuple[Any, ...], summary: dict[str, Any]
) -> dict[str, Any]:
    """The whole state of a trial after ``epoch`` (what ``run_trial(resume_state=...)`` takes).

    Args:
        epoch: the epoch just completed.
        modules: (model, optimizer, scheduler, grad scaler).
        counters: (best monitored value, epochs since it, tiles seen, training seconds).
        summary: the trial's summary so far, as a dict.
    """
    model, optimizer, scheduler, scaler = modules
    return {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "counters": list(counters),
        "rng": capture_rng(),
        "summary": summary,
    }


def restore_training_state(state: dict[str, Any], modules: tuple[Any, ...]) -> tuple[Any, ...]:
    """Load a :func:`training_state` into ``modules``; return its counters."""
    model, optimizer, scheduler, scaler = modules
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    restore_rng(state["rng"])
    return tuple(state["counters"])
