"""The library's logger: what a notebook or a script sees without configuring anything.

As Optuna does (``optuna/logging.py``), the ``harness`` logger gets one handler of its own on
stderr at INFO, so progress lines and notes show in a notebook or a plain script; it does not
propagate to the root logger (which would print them twice where the root is configured).
:func:`set_verbosity` changes the level; the command line lowers it to WARNING, since it prints
its own rich output.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["set_verbosity"]

_LIBRARY = "harness"
_handler: logging.Handler | None = None


def _configure() -> None:
    global _handler
    if _handler is not None:
        return
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("[harness %(asctime)s] %(message)s", "%H:%M:%S"))
    root = logging.getLogger(_LIBRARY)
    root.addHandler(_handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def set_verbosity(level: int | str) -> None:
    """Set the level of the ``harness`` logger, e.g. ``logging.WARNING`` to hide progress."""
    logging.getLogger(_LIBRARY).setLevel(level)


_configure()
