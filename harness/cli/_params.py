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
    parameter it names (``exc.params``) replaced by ``command``'s own flag (``command``: the
    click command, ``ctx.command`` of the typer context): the entry point's mapping, which
    searches every command, then has nothing left to do.
    """
    try:
        yield
    except HarnessError as exc:
        exc.args = (user_message(exc, command),)
        exc.params, exc.param = (), None  # mapped
        raise
