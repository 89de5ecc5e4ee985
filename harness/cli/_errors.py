"""How a library error reaches the terminal: one unwrapped line on stderr, in the CLI's words.

Library code names the Python parameter at fault (``HarnessError.param``, e.g. ``grace_period``);
here that name becomes the command's flag (``--grace-period``), so a message reads the way the
user typed the command.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.text import Text

from search_spaces import HarnessError

__all__ = ["flag_of", "print_error", "user_message"]


def flag_of(param: str, command: Any) -> str | None:
    """The flag of the Python parameter ``param`` among ``command``'s (and its sub-commands')
    options, e.g. ``grace_period`` -> ``--grace-period``; ``None`` when no option has it."""
    for option in getattr(command, "params", []):
        if option.name == param or option.name == f"{param}_":
            longs = [o for o in option.opts if o.startswith("--")]
            if longs:
                return longs[0]
            return option.name.rstrip("_").upper() if option.param_type_name == "argument" else None
    for sub in getattr(command, "commands", {}).values():
        found = flag_of(param, sub)
        if found is not None:
            return found
    return None


def user_message(exc: HarnessError, command: Any) -> str:
    """``exc``'s message with each parameter it names (``exc.params``) replaced by the flag the
    user typed."""
    message = str(exc)
    for param in getattr(exc, "params", ()):
        flag = flag_of(param, command)
        if flag is None:
            continue
        # the first mention, as a word (not part of a dotted recipe path or another
        # identifier): messages lead with the parameter, and a later mention may be the plain
        # word ("checkpoint ... is not a checkpoint")
        pattern = rf"(?<![\w.\-]){re.escape(param)}(?![\w\-])"
        message = re.sub(pattern, flag, message, count=1)
    return message


def print_error(message: str) -> None:
    """Print ``error: message`` on stderr without wrapping it: a log file or a pipe gets the
    sentence whole (rich would otherwise break it at 80 columns, mid-sentence)."""
    console = Console(stderr=True, soft_wrap=True)
    console.print(Text("error: ", style="bold red") + Text(message))
