"""Where the library's one-line messages go: the caller's console, else the log.

A command-line caller passes its console (any object with rich's ``print``); a notebook or a
script passes none, and the lines go to :mod:`logging` under the module that said them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["say"]


def say(
    console: Console | None,
    message: str,
    logger: logging.Logger | None = None,
    *,
    warning: bool = False,
) -> None:
    """Tell the user ``message``: on ``console`` when one is given (printed as plain text, in
    yellow when ``warning``), else through ``logger`` (default: the ``harness`` logger) at
    WARNING or INFO level."""
    logger = logger or logging.getLogger("harness")
    if console is None:
        logger.log(logging.WARNING if warning else logging.INFO, "%s", message)
        return
    console.print(message, markup=False, highlight=False, style="yellow" if warning else None)
