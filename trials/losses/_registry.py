"""The registry of loss terms, keyed by the recipe's names (the fields of ``LossWeights``).

Shaped like timm's ``timm/models/_registry.py``: :func:`register_loss` (a class decorator),
:func:`create_loss` and :func:`list_losses`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from search_spaces import ConfigError, LossConfig
from trials.losses._base import LossTerm

__all__ = ["create_loss", "list_losses", "register_loss"]

_LOSSES: dict[str, type[LossTerm]] = {}


def register_loss(name: str) -> Callable[[type[LossTerm]], type[LossTerm]]:
    """Class decorator that registers a :class:`LossTerm` subclass under ``name``.

    Args:
        name: the recipe name of the term (a field of ``LossWeights``), e.g. ``"boundary"``.

    Raises:
        ValueError: ``name`` is already registered, or the class is not a ``LossTerm``.
    """

    def decorator(cls: type[LossTerm]) -> type[LossTerm]:
        if not (isinstance(cls, type) and issubclass(cls, LossTerm)):
            raise ValueError(f"register_loss({name!r}) decorates LossTerm subclasses, got {cls!r}")
        if name in _LOSSES:
            raise ValueError(
                f"loss {name!r} is already registered by {_LOSSES[name].__qualname__}; "
                f"cannot register {cls.__qualname__} under the same name"
            )
        cls.name = name
        _LOSSES[name] = cls
        return cls

    return decorator


def list_losses(filter: str = "") -> list[str]:
    """Sorted names of the registered loss terms, optionally filtered by a shell pattern.

    Args:
        filter: an ``fnmatch`` pattern such as ``"*dice*"``; empty means all.
    """
    names = sorted(_LOSSES)
    return fnmatch.filter(names, filter) if filter else names


def create_loss(name: str, loss_cfg: LossConfig | None = None) -> LossTerm:
    """Build the loss term registered under ``name`` from the recipe's ``loss`` section.

    Args:
        name: a registered name (see :func:`list_losses`).
        loss_cfg: the recipe's ``loss`` section; ``None`` means the defaults.

    Raises:
        ConfigError: ``name`` is not registered; the message lists the valid names.
    """
    if name not in _LOSSES:
        raise ConfigError(
            f"unknown loss term {name!r} (loss.weights); valid names are: "
            f"{', '.join(list_losses())}"
        )
    return _LOSSES[name].from_config(loss_cfg if loss_cfg is not None else LossConfig())
