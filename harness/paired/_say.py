"""How the paired core tells what it is doing: on the caller's console, else through logging
(the same rule as :func:`harness.searching._notify.say`, without importing the search)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["say"]

logger = logging.getLogger("harness.paired")


def say(console: Console | None, text: str, *, warning: bool = False) -> None:
    """Print ``text`` as it is (no markup; yellow when ``warning``) on ``console``, or log it."""
    if console is None:
        logger.log(logging.WARNING if warning else logging.INFO, "%s", text)
    else:
        console.print(text, markup=False, highlight=False, style="yellow" if warning else None)
