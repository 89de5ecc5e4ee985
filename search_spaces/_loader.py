"""Load, override and validate recipes, with errors that say where and which rule.

Recipes are YAML files shipped in ``search_spaces/recipes/`` (found through
``importlib.resources`` so that an installed wheel works) or any path the user gives. A recipe may
start with ``extends: <name or path>``; its own values are then merged over that base.
"""

from __future__ import annotations

import copy
import importlib.resources
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from search_spaces._errors import ConfigError
from search_spaces._recipe import Recipe

__all__ = [
    "apply_overrides",
    "flatten",
    "list_named",
    "list_recipes",
    "load_recipe",
    "parse_override",
    "read_named_yaml",
    "recipe_to_yaml",
    "yaml_line",
]

_EXTENDS = "extends"


def list_recipes() -> list[str]:
    """Names of the recipes shipped with the package (``cpu_demo``, ``stage1pp``)."""
    return list_named("recipes")


def _read_yaml(name_or_path: str | Path) -> tuple[dict[str, Any], str, str]:
    """Return (mapping, source label, raw text) of a built-in recipe name or a YAML path."""
    return read_named_yaml(name_or_path, "recipes", "recipe")


def list_named(folder: str) -> list[str]:
    """Names of the YAML files shipped in ``search_spaces/<folder>/`` (``spaces``, ``plans``)."""
    root = importlib.resources.files("search_spaces") / folder
    if not root.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def read_named_yaml(
    name_or_path: str | Path, folder: str, kind: str
) -> tuple[dict[str, Any], str, str]:
    """Read a shipped ``<folder>/<name>.yaml`` or a YAML path as a mapping.

    Returns:
        (mapping, source label such as ``spaces/lr.yaml`` or the path, raw text).

    Raises:
        ConfigError: an unknown name (the message lists the shipped ones), a missing file, YAML
            that does not parse (with its line) or a document that is not a mapping.
    """
    known = list_named(folder)
    as_path = Path(name_or_path)
    if str(name_or_path) in known:
        resource = importlib.resources.files("search_spaces") / folder / f"{name_or_path}.yaml"
        text = resource.read_text(encoding="utf-8")
        label = f"{folder}/{name_or_path}.yaml"
    elif as_path.suffix in {".yaml", ".yml"} or as_path.exists():
        if not as_path.is_file():
            raise ConfigError(
                f"{kind} {str(name_or_path)!r}: no such file; give a YAML path or one of the "
                f"built-in {kind}s: {', '.join(known)}"
            )
        text = as_path.read_text(encoding="utf-8")
        label = str(as_path)
    else:
        raise ConfigError(
            f"unknown {kind} {str(name_or_path)!r}: give a YAML path or one of the built-in "
            f"{kind}s: {', '.join(known)}"
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: a {kind} must be a mapping, got {type(data).__name__}")
    return data, label, text


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve_extends(name_or_path: str | Path, seen: tuple[str, ...] = ()) -> tuple[dict, str, str]:
    data, label, text = _read_yaml(name_or_path)
    if label in seen:
        raise ConfigError(f"{label}: 'extends' forms a cycle: {' -> '.join((*seen, label))}")
    parent = data.pop(_EXTENDS, None)
    if parent is None:
        return data, label, text
    parent_ref = str(parent)
    # A relative parent path is relative to the file that names it, not to the working directory.
    sibling = Path(label).parent / parent_ref
    if parent_ref not in list_recipes() and Path(label).is_file() and sibling.is_file():
        parent_ref = str(sibling)
    base, _, _ = _resolve_extends(parent_ref, (*seen, label))
    return _deep_merge(base, data), label, text


def yaml_line(text: str, loc: Iterable[str | int]) -> int | None:
    """1-based line of the YAML node at ``loc``, or of its nearest existing parent.

    Like the recipes' own lookup, but ``loc`` may also hold sequence indices
    (``("stages", 1, "narrow")``), as plans and spaces need.
    """
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if not 0 <= key < len(node.value):
                break
            node = node.value[key]
            line = node.start_mark.line + 1
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                break
        else:
            break
    return line


def _field_form(loc: tuple[str | int, ...]) -> str:
    """Describe the allowed form of the field at ``loc`` (its type and description)."""
    model: type[BaseModel] = Recipe
    info = None
    for key in loc:
        if not isinstance(key, str) or model is None or key not in model.model_fields:
            return ""
        info = model.model_fields[key]
        ann = info.annotation
        nested = [
            a for a in (ann, *get_args(ann)) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        model = nested[0] if nested else None  # type: ignore[assignment]
    if info is None:
        return ""
    ann = info.annotation
    kind = getattr(ann, "__name__", None) if get_origin(ann) is None else None
    kind = kind or str(ann).replace("typing.", "")
    bounds = [_bound(m) for m in info.metadata]
    extra = f" with {', '.join(bounds)}" if bounds else ""
    return f"expected {kind}{extra}: {info.description}"


_BOUND_SYMBOLS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _bound(meta: Any) -> str:
    for attr, symbol in _BOUND_SYMBOLS.items():
        if hasattr(meta, attr):
            return f"{symbol} {getattr(meta, attr)}"
    return str(meta)


def _validate(data: Mapping[str, Any], label: str, text: str | None) -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            path = ".".join(str(p) for p in loc) or "<recipe>"
            where = label
            if text is not None:
                line = yaml_line(text, loc)
                if line is not None:
                    where = f"{label}:{line}"
            if err["type"] == "extra_forbidden":
                parent = loc[:-1]
                valid = _valid_keys(parent)
                msg = f"unknown parameter {path!r}; valid keys here: {', '.join(valid)}"
            elif isinstance(err.get("input"), Mapping):
                # A rule across fields of a section: the section itself is not worth printing.
                msg = f"{path}: {err['msg']}"
            else:
                form = _field_form(loc)
                msg = f"{path} = {err.get('input')!r}: {err['msg']}"
                if form:
                    msg += f" ({form})"
            lines.append(f"{where}: {msg}")
        raise ConfigError("invalid recipe:\n  " + "\n  ".join(lines)) from None


def _valid_keys(loc: tuple[str | int, ...]) -> list[str]:
    model: Any = Recipe
    for key in loc:
        if model is None or key not in model.model_fields:
            return []
        ann = model.model_fields[key].annotation
        nested = [
            a for a in (ann, *get_args(ann)) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        model = nested[0] if nested else None
    return sorted(model.model_fields) if model is not None else []


def parse_override(item: str) -> tuple[str, Any]:
    """Split ``"optim.lr=3e-4"`` into the path and a YAML-parsed value.

    ``3e-4`` stays a string for YAML 1.1 but pydantic turns a numeric string into a float,
    so every form a user types on a command line ends up with the field's type.
    """
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected the form path=value, e.g. optim.lr=3e-4")
    path, raw = item.split("=", 1)
    path = path.strip()
    if not path:
        raise ConfigError(f"override {item!r}: the path before '=' is empty")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(
    recipe: Recipe | Mapping[str, Any],
    overrides: Mapping[str, Any] | Iterable[str],
    source: str = "set",
) -> Recipe:
    """Return ``recipe`` with values replaced by dotted path, validated.

    Args:
        recipe: a recipe or its mapping.
        overrides: ``{"optim.lr": 3e-4}`` or ``["optim.lr=3e-4", ...]``.
        source: where the overrides came from, for error messages; a Python name (the default
            ``set``, the API's parameter) is also the errors' ``param``, which the command line
            turns into its flag (``--set``).

    Raises:
        ConfigError: an unknown path (the message lists the valid keys at that level) or a value
            of the wrong type (the message gives the path, the value and the allowed form).
    """
    # a deep copy: the caller's mapping (a Ray trainable's base recipe, reused by every trial an
    # actor runs) must not carry one trial's values into the next
    data = (
        recipe.model_dump(mode="json")
        if isinstance(recipe, Recipe)
        else copy.deepcopy(dict(recipe))
    )
    if not isinstance(overrides, Mapping):
        overrides = dict(parse_override(o) for o in overrides)
    params = (source,) if source.isidentifier() else ()
    for path, value in overrides.items():
        keys = path.split(".")
        node: Any = data
        for depth, key in enumerate(keys):
            if not isinstance(node, dict) or key not in node:
                valid = sorted(node) if isinstance(node, dict) else []
                prefix = ".".join(keys[:depth]) or "<recipe>"
                raise ConfigError(
                    f"{source}: unknown parameter path {path!r} ({key!r} is not a key of "
                    f"{prefix}); valid keys there: {', '.join(valid)}",
                    params=params,
                )
            if depth == len(keys) - 1:
                if isinstance(node[key], dict) and not isinstance(value, Mapping):
                    raise ConfigError(
                        f"{source}: {path!r} is a section, not a value; set one of its keys: "
                        f"{', '.join(sorted(node[key]))}",
                        params=params,
                    )
                node[key] = value
            else:
                node = node[key]
    try:
        return _validate(data, source, None)
    except ConfigError as exc:
        raise ConfigError(str(exc), params=params) from None


def load_recipe(
    name_or_path: str | Path = "stage1pp", overrides: Mapping[str, Any] | Iterable[str] = ()
) -> Recipe:
    """Load a built-in recipe by name or a YAML file, then apply dotted-path overrides.

    Raises:
        ConfigError: the file, the line when known, the field and the rule that failed.
    """
    data, label, text = _resolve_extends(name_or_path)
    recipe = _validate(data, label, text)
    if overrides:
        recipe = apply_overrides(recipe, overrides, source="overrides")
    return recipe


def flatten(recipe: Recipe | Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The recipe as ``{dotted.path: value}`` (the vocabulary of tables and reports)."""
    data = recipe.model_dump(mode="json") if isinstance(recipe, Recipe) else recipe
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def recipe_to_yaml(recipe: Recipe) -> str:
    """The fully resolved recipe as YAML (what a run directory keeps)."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)
