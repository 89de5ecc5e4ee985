"""The checkpoints ``harness evaluate`` reads: a file or a run directory, refused in one line."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from search_spaces import ConfigError, Recipe

__all__ = ["EXPECTED_CHECKPOINT", "checkpoint_path", "load_evaluated_model"]

EXPECTED_CHECKPOINT = (
    "expected a best.pt written by `harness train` "
    "(a torch checkpoint holding the recipe and the model state)"
)


def checkpoint_path(path: str | Path, param: str) -> Path:
    """``path`` itself, or ``path/best.pt`` for a run directory.

    Args:
        path: a checkpoint file or the folder holding ``best.pt``.
        param: the API parameter it came from (``checkpoint``, ``compare``), for the error.

    Raises:
        ConfigError: no such file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise ConfigError(f"{param} {str(path)!r}: no such checkpoint file", param=param)
    return path


def _describe_non_checkpoint(path: Path, exc: Exception) -> str:
    """What a file that ``load_checkpoint`` refused holds, in a few words (the error path only)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # any failure to unpickle means "not a plain torch file"
        if zipfile.is_zipfile(path):
            return "it is a torch file whose content torch.load(weights_only=True) refuses"
        return "it is not a torch file"
    if isinstance(state, dict):
        keys = sorted(map(str, state))
        shown = ", ".join(repr(k) for k in keys[:6]) + (", ..." if len(keys) > 6 else "")
        missing = [k for k in ("recipe", "model") if k not in state]
        if missing:
            return f"it holds a dict without {' or '.join(map(repr, missing))} (keys: {shown})"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return f"its recipe or model state does not load ({reason})"
    if isinstance(state, torch.Tensor):
        return f"it holds a tensor of shape {tuple(state.shape)}"
    return f"it holds a {type(state).__name__}"


def load_evaluated_model(path: Path, param: str, device: Any) -> tuple[Any, Recipe, dict]:
    """``trials.load_checkpoint`` on ``device``, with one line naming the file on failure.

    Returns:
        The model (on ``device``, in eval mode), its recipe and the checkpoint's metadata.

    Raises:
        ConfigError: the file is not a checkpoint; the message says what it holds instead.
    """
    from trials.train import load_checkpoint

    try:
        model, recipe, meta = load_checkpoint(path, map_location=device)
    except (ConfigError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as exc:
        what = _describe_non_checkpoint(path, exc)
        raise ConfigError(
            f"{param} {str(path)!r} is not a checkpoint: {what}; {EXPECTED_CHECKPOINT}",
            param=param,
        ) from None
    return model.to(device), recipe, meta
