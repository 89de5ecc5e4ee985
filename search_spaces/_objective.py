"""Objective parameters: space entries outside the recipe, for a ``--trainable`` taking ``params``.

A path whose first segment is not a top-level recipe field names a parameter of the objective
itself (``lcbench.momentum``); these are the rules such a path must follow.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from search_spaces._errors import ConfigError
from search_spaces._recipe import Recipe

__all__ = ["OBJECTIVE_RULE", "check_objective_path", "is_objective_path"]

# the types an objective parameter may have: fraction_of and simplex are defined by recipe fields
_OBJECTIVE_TYPES = ("float", "int", "categorical")
# a namespace this close to a recipe section (difflib ratio) is taken for a misspelt section
_NAMESPACE_CUTOFF = 0.8
OBJECTIVE_RULE = (
    "only a trainable whose function takes a `params` argument may declare parameters of its "
    "own (objective parameters, named <namespace>.<name>); the default trainable "
    "trials:run_trial does not"
)


def is_objective_path(path: str) -> bool:
    """Whether ``path`` names an objective parameter rather than a recipe field: its first
    segment is not a top-level field of :class:`~search_spaces.Recipe`."""
    return path.split(".", 1)[0] not in Recipe.model_fields


def check_objective_path(
    error: Callable[[tuple[str | int, ...], str], ConfigError],
    path: str,
    kind: str,
    objective: bool,
    unknown: str,
) -> None:
    """The rules of a path outside the recipe (an objective parameter), in the order a user
    most likely broke them: a misspelt recipe path, no trainable that takes ``params``, then
    the form of the name and the type.

    Args:
        error: makes the error for a location in the space file (``file:line`` prefixed).
        path: the parameter's dotted path; ``kind`` its type.
        objective: whether the search's trainable takes ``params``.
        unknown: the message for a path that is no recipe field (with close matches).
    """
    loc = ("params", path)
    head = path.split(".", 1)[0]
    sections = list(Recipe.model_fields)
    close = difflib.get_close_matches(head, sections, n=1, cutoff=_NAMESPACE_CUTOFF)
    if not objective:
        raise error(loc, f"{unknown}; {OBJECTIVE_RULE}")
    if close:
        raise error(
            loc,
            f"{unknown}; its namespace {head!r} is too close to "
            f"the recipe section {close[0]!r} to name objective parameters: give them a "
            "namespace of their own (e.g. mlp.momentum)",
        )
    if "." not in path or not all(path.split(".")):
        raise error(
            loc,
            f"objective parameter {path!r}: name it <namespace>.<name> (e.g. mlp.{path}); "
            "the dot is what makes it a parameter column of the tables",
        )
    if kind not in _OBJECTIVE_TYPES:
        raise error(
            (*loc, "type"),
            f"objective parameter {path!r}: type {kind!r} sets recipe fields; an objective "
            f"parameter is one of {', '.join(_OBJECTIVE_TYPES)}",
        )
