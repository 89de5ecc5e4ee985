"""Plain, readable ``--help``: click's formatter wraps at word boundaries to the terminal width
(rich's panels cut option descriptions to about 25 columns at 80), and each value is named by
what it is (``N``, ``X``, ``PATH``, ``TEXT``) rather than by its Python type (``<list[str]>``)."""

from __future__ import annotations

from typing import Any

__all__ = ["name_metavars"]

# typer's display type of a parameter -> the metavar shown instead
_METAVARS = {
    "int": "N",
    "float": "X",
    "str": "TEXT",
    "Path": "PATH",
    "bool": "BOOL",
}


def _metavar(display: str) -> str:
    inner = display.strip("<>")
    repeated = inner.startswith("list[")
    if repeated:
        inner = inner[len("list[") : -1]
    inner = inner.replace(" | None", "").replace("None | ", "")
    name = _METAVARS.get(inner, inner.upper())
    return f"{name}..." if repeated and not name.endswith("...") else name


def name_metavars(command: Any) -> Any:
    """Give every option and argument of ``command`` (and its sub-commands) a plain metavar."""
    from typer._click import Context

    ctx = Context(command)
    for param in getattr(command, "params", []):
        if param.metavar is not None or getattr(param, "is_flag", False):
            continue
        if param.param_type_name == "argument":
            param.metavar = (param.name or "value").upper()  # typer adds "..." when repeated
        elif param.param_type_name == "option" and hasattr(param, "display_type"):
            # Older typer releases have no display_type: their own metavars stay.
            param.metavar = _metavar(str(param.display_type(ctx)))
    for sub in getattr(command, "commands", {}).values():
        name_metavars(sub)
    return command
