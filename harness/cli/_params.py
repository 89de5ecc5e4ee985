"""A library error inside a command, in the command's words: every parameter it names becomes
the flag the user typed (``grace_period`` -> ``--grace-period``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from harness.cli._errors import user_message
from search_spaces import HarnessError

__all__ = ["in_flags"]


@contextmanager
def in_flags(command: Any) -> Iterator[None]:
    """Run a command's call to the API; a :class:`HarnessError` raised in it leaves with each
    parameter it names (``params``, else ``param``) replaced by ``command``'s flag (``command``:
    the click command, ``ctx.command`` of the typer context).

    The command line's entry point maps the one ``param`` as well; a message about several
    parameters (``budget_epochs 2 is smaller than grace_period 3``) needs them all mapped.
    """
    try:
        yield
    except HarnessError as exc:
        names = getattr(exc, "params", None) or ((exc.param,) if exc.param else ())
        for name in names:
            exc.param = name
            exc.args = (user_message(exc, command),)
        exc.param = None  # mapped: nothing is left for the entry point to map
        raise
