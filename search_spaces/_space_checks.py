"""A space parameter's values checked against the recipe fields they set.

The recipe's own rules applied to a parameter of a space as :func:`~search_spaces.load_space`
reads it: the recipe's dotted paths (:func:`_recipe_paths`) and the hint for an unknown one,
whether a field accepts a value (:func:`_accepted`, converted to the field's type) or is an
integer field, and the checks built on them: condition targets and their values
(:func:`_check_when`), bounds (:func:`_check_bounds`), choices (:func:`_accepted_choices`), a
``fraction_of``'s fields (:func:`_check_fraction_of`) and a simplex's components
(:func:`_check_components`), all joined by :func:`_check_values`; errors name the file and line
through the space file's ``error``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, get_args, get_origin

from pydantic import BaseModel, ValidationError, create_model

from search_spaces._loader import _field_form, flatten
from search_spaces._objective import OBJECTIVE_RULE, is_objective_path
from search_spaces._params import (
    PARAM_ADAPTER,
    CategoricalParam,
    FloatParam,
    FractionOfParam,
    IntParam,
    ParamSpec,
    SimplexParam,
)
from search_spaces._recipe import Recipe

if TYPE_CHECKING:
    from search_spaces._space import _File

__all__ = [
    "_accepted",
    "_accepted_choices",
    "_check_bounds",
    "_check_components",
    "_check_fraction_of",
    "_check_values",
    "_check_when",
    "_is_int_field",
    "_recipe_paths",
    "_unknown_path",
    "_with_update",
]


@cache
def _recipe_paths() -> tuple[str, ...]:
    return tuple(flatten(Recipe()))


@cache
def _field_model(path: str) -> type[BaseModel]:
    model: Any = Recipe
    for key in path.split("."):
        info = model.model_fields[key]
        model = info.annotation
    return create_model("Field", v=(info.annotation, info))


def _unknown_path(path: str, what: str, candidates: Iterable[str] | None = None) -> str:
    pool = list(candidates) if candidates is not None else list(_recipe_paths())
    close = difflib.get_close_matches(path, pool, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {what} {path!r} (not a parameter of the recipe){hint}"


def _accepted(path: str, value: Any) -> Any:
    """``value`` as the recipe field at ``path`` holds it; ValueError when the field rejects it."""
    try:
        return _field_model(path)(v=value).model_dump(mode="json")["v"]
    except ValidationError as exc:
        form = _field_form(tuple(path.split(".")))
        raise ValueError(
            f"value {value!r} is rejected by the recipe field {path}: "
            f"{exc.errors()[0]['msg']}" + (f" ({form})" if form else "")
        ) from None


def _is_int_field(path: str) -> bool:
    ann = _field_model(path).model_fields["v"].annotation
    kinds = set(get_args(ann)) if get_origin(ann) is not None else {ann}
    return int in kinds and float not in kinds


def _check_when(f: _File, path: str, spec: ParamSpec, objective: bool) -> dict[str, Any]:
    """Condition targets exist and their values fit the recipe field (converted to its type);
    a target that is an objective parameter is checked against the space by
    :func:`_check_links`."""
    loc = ("params", path)
    update: dict[str, Any] = {}
    for target, allowed in (spec.when or {}).items():
        if is_objective_path(target):
            if not objective:
                message = _unknown_path(target, "condition path")
                raise f.error((*loc, "when", target), f"{message}; {OBJECTIVE_RULE}")
            continue
        if target not in _recipe_paths():
            raise f.error((*loc, "when", target), _unknown_path(target, "condition path"))
        try:
            update.setdefault("when", {**(spec.when or {})})[target] = tuple(
                _accepted(target, v) for v in allowed
            )
        except ValueError as exc:
            raise f.error((*loc, "when", target), str(exc)) from None
    return update


def _with_update(f: _File, path: str, spec: ParamSpec, update: dict[str, Any]) -> ParamSpec:
    if not update:
        return spec
    try:
        return PARAM_ADAPTER.validate_python({**spec.model_dump(), **update})
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise f.error(
            ("params", path, "choices"), f"{msg} (after conversion to the field's type)"
        ) from None


def _check_values(f: _File, path: str, spec: ParamSpec, objective: bool = False) -> ParamSpec:
    """The recipe's own rules applied to every bound and choice; choices get the field's type."""
    update = _check_when(f, path, spec, objective)
    if isinstance(spec, FloatParam | IntParam):
        _check_bounds(f, path, spec)
    elif isinstance(spec, CategoricalParam):
        update["choices"] = _accepted_choices(f, path, spec)
    elif isinstance(spec, FractionOfParam):
        _check_fraction_of(f, path, spec)
    elif isinstance(spec, SimplexParam):
        _check_components(f, path, spec)
    return _with_update(f, path, spec, update)


def _check_bounds(f: _File, path: str, spec: FloatParam | IntParam) -> None:
    loc = ("params", path)
    if isinstance(spec, FloatParam) and _is_int_field(path):
        raise f.error((*loc, "type"), f"{path} is an integer field: use type: int")
    for bound in ("low", "high"):
        try:
            _accepted(path, getattr(spec, bound))
        except ValueError as exc:
            raise f.error((*loc, bound), str(exc)) from None


def _accepted_choices(f: _File, path: str, spec: CategoricalParam) -> tuple[Any, ...]:
    """The choices as the recipe field holds them."""
    try:
        return tuple(_accepted(path, c) for c in spec.choices)
    except ValueError as exc:
        raise f.error(("params", path, "choices"), str(exc)) from None


def _check_fraction_of(f: _File, path: str, spec: FractionOfParam) -> None:
    loc = ("params", path)
    if spec.of not in _recipe_paths():
        raise f.error((*loc, "of"), _unknown_path(spec.of, "'of' path"))
    for p in (path, spec.of):
        if not _is_int_field(p):
            raise f.error((*loc, "of"), f"fraction_of needs integer fields; {p} is not")


def _check_components(f: _File, path: str, spec: SimplexParam) -> None:
    """Each component is a field of the section ``path`` and accepts both its bounds."""
    loc = ("params", path)
    n = len(path) + 1
    children = [p[n:] for p in _recipe_paths() if p.startswith(f"{path}.") and "." not in p[n:]]
    for name, (low, high) in spec.components.items():
        if name not in children:
            msg = _unknown_path(name, f"component of {path}", children)
            raise f.error((*loc, "components", name), f"{msg}; valid: {children}")
        for value in (low, high):
            try:
                _accepted(f"{path}.{name}", value)
            except ValueError as exc:
                raise f.error((*loc, "components", name), str(exc)) from None
