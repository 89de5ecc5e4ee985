"""Named search spaces: which recipe parameters a search varies, and over which values.

A space is a YAML file ``search_spaces/spaces/<name>.yaml`` (or any path)::

    description: One line shown by `harness spaces`.
    include: [lr, onecycle]          # optional: the union of other spaces
    params:
      optim.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
      model.attention.blocks: {type: categorical, choices: [1, 2, 3],
                               when: {model.attention.type: [esca, cbam, se]}}
      data.stride: {type: fraction_of, of: data.tile_size, choices: [0.5, 0.75, 1.0]}
      loss.weights: {type: simplex, total: 1.0, components: {boundary: [0.1, 0.3], ...}}

Every path is a dotted path of :class:`~search_spaces.Recipe`, except *objective parameters*,
which a ``--trainable`` taking a ``params`` keyword argument may declare for itself::

      lcbench.momentum: {type: float, low: 0.1, high: 0.99, default: 0.9}

The rule: a path whose first segment is no top-level field of the recipe (``data``, ``model``,
``loss``, ``optim``, ``memory``, ``seed``, ``name``) is an objective parameter, legal only with
``load_space(..., objective_params=True)`` (the search's trainable takes ``params``; with the
default ``trials:run_trial`` it is an error). It is named ``<namespace>.<name>`` (the dot makes
it a parameter column of the tables) with a namespace that is not a near-miss of a recipe
section (``optm.lr`` is a misspelt path), and is a ``float``, ``int`` or ``categorical``. Its
optional ``default`` is where the base configuration starts it (else the midpoint of its range,
or its first choice: :func:`~search_spaces.start_value`). The trainable receives
``params={"lcbench.momentum": 0.53, ...}``: the trial's objective parameters by full name.

The rules of one parameter live on its pydantic model; the rules that need the recipe or the
other parameters (paths that exist, values the recipe accepts, conditions, includes) are checked
by :func:`load_space`, which knows the file and line to blame.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from search_spaces._errors import ConfigError
from search_spaces._loader import (
    apply_overrides,
    flatten,
    list_named,
    read_named_yaml,
    yaml_line,
)
from search_spaces._objective import check_objective_path, is_objective_path
from search_spaces._params import (
    PARAM_ADAPTER,
    PARAM_TYPES,
    CategoricalParam,
    FloatParam,
    FractionOfParam,
    IntParam,
    ParamSpec,
    SimplexParam,
    describe_param,
    format_value,
)
from search_spaces._recipe import Recipe
from search_spaces._space_checks import (
    _check_values,
    _check_when,
    _recipe_paths,
    _unknown_path,
    _with_update,
)

__all__ = [
    "CategoricalParam",
    "FloatParam",
    "FractionOfParam",
    "IntParam",
    "ParamSpec",
    "SimplexParam",
    "Space",
    "is_objective_path",
    "list_spaces",
    "load_space",
]


class Space(BaseModel):
    """A loaded search space: parameters by recipe path, includes resolved, in file order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    params: dict[str, ParamSpec]
    source: str = "<memory>"
    includes: tuple[str, ...] = ()

    def paths(self) -> list[str]:
        """The paths this space sets (a simplex expanded into its components), recipe paths and
        objective parameters alike."""
        return [p for key in self.params for p in self.paths_of(key)]

    def paths_of(self, key: str) -> list[str]:
        """The recipe paths that the parameter ``key`` sets."""
        spec = self.params[key]
        if isinstance(spec, SimplexParam):
            return [f"{key}.{c}" for c in spec.components]
        return [key]

    def objective_params(self) -> list[str]:
        """The objective parameters of this space (not recipe paths; see the module docstring)."""
        return [key for key in self.params if is_objective_path(key)]

    def owner(self, path: str) -> str | None:
        """The parameter key that sets recipe ``path``, or ``None``."""
        return next((k for k in self.params if path in self.paths_of(k)), None)

    def depends_on(self, key: str) -> list[str]:
        """Parameter keys of this space that ``key`` needs first (its conditions, its 'of')."""
        spec = self.params[key]
        targets = list(spec.when or {})
        if isinstance(spec, FractionOfParam):
            targets.append(spec.of)
        owners = (self.owner(t) for t in targets)
        return list(dict.fromkeys(o for o in owners if o is not None))

    def sampling_order(self) -> list[str]:
        """Parameter keys with every dependency before its dependants (file order otherwise).

        Raises:
            ConfigError: conditions or ``of`` references that form a cycle.
        """
        order: list[str] = []
        pending = list(self.params)
        while pending:
            ready = [k for k in pending if all(d in order for d in self.depends_on(k))]
            if not ready:
                raise ConfigError(
                    f"{self.source}: the conditions ('when') and 'of' references of "
                    f"{', '.join(pending)} form a cycle"
                )
            order.append(ready[0])
            pending.remove(ready[0])
        return order

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per parameter: path, type, range (or choices), log, condition."""
        rows = []
        for key, spec in self.params.items():
            when = " and ".join(
                f"{t} in {{{', '.join(format_value(v) for v in vs)}}}"
                for t, vs in (spec.when or {}).items()
            )
            rows.append(
                {
                    "path": key,
                    "type": spec.type,
                    "range": describe_param(spec),
                    "log": bool(getattr(spec, "log", False)),
                    "condition": when,
                }
            )
        return rows


# ------------------------------------------------------------------------------------ loading


def list_spaces() -> list[str]:
    """Names of the spaces shipped in ``search_spaces/spaces/``."""
    return list_named("spaces")


def load_space(name_or_path: str | Path, *, objective_params: bool = False) -> Space:
    """Load and validate a shipped space by name, or a space YAML file.

    Args:
        name_or_path: a shipped space's name or a YAML path.
        objective_params: whether the search's trainable takes ``params``, so that paths outside
            the recipe are objective parameters (see the module docstring); ``False`` (the
            default trainable ``trials:run_trial``) makes any such path an error.

    Raises:
        ConfigError: the file, the line when known, the parameter, the field and the rule.
    """
    return _load(str(name_or_path), (), objective_params)


class _File:
    """Where errors point: a file label and its text, for ``file:line`` prefixes."""

    def __init__(self, label: str, text: str) -> None:
        self.label, self.text = label, text

    def error(self, loc: tuple[str | int, ...], message: str) -> ConfigError:
        line = yaml_line(self.text, loc)
        where = f"{self.label}:{line}" if line is not None else self.label
        if loc[:1] == ("params",) and len(loc) > 1:
            field = f"param {loc[1]!r}"
            field += f", field {'.'.join(map(str, loc[2:]))!r}" if len(loc) > 2 else ""
        else:
            field = ".".join(map(str, loc)) or "<space>"
        return ConfigError(f"{where}: {field}: {message}")


def _load(ref: str, chain: tuple[str, ...], objective: bool = False) -> Space:
    data, label, text = read_named_yaml(ref, "spaces", "space")
    f = _File(label, text)
    if label in chain:
        raise ConfigError(f"{label}: 'include' forms a cycle: {' -> '.join((*chain, label))}")
    includes, raw_params = _top_level(f, data)
    _no_repeated_keys(f)
    params: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for inc in includes:
        sub = _load_include(f, inc, (*chain, label), objective)
        for key, spec in sub.params.items():
            _add(f, params, origin, key, spec, sub.source, ("include",))
    own = {
        str(path): _parse_param(f, str(path), raw, objective) for path, raw in raw_params.items()
    }
    for key, spec in own.items():
        _add(f, params, origin, key, spec, label, ("params", key))
    space = Space(
        name=Path(label).stem,
        description=str(data.get("description") or ""),
        params=params,
        source=label,
        includes=tuple(includes),
    )
    for key in own:
        _check_links(f, space, key)
    space.sampling_order()
    return space


def _top_level(f: _File, data: dict[str, Any]) -> tuple[list[str], Mapping[str, Any]]:
    """The file's includes and raw params, after checking the top-level keys and their shapes."""
    for key in data:
        if key not in ("description", "params", "include"):
            raise f.error((key,), "unknown key; a space has description, params and include")
    includes = data.get("include") or []
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise f.error(("include",), f"must be a list of space names, got {includes!r}")
    raw_params = data.get("params") or {}
    if not isinstance(raw_params, Mapping):
        raise f.error(("params",), "must be a mapping of recipe paths to parameter specs")
    if not raw_params and not includes:
        raise f.error(("params",), "a space needs params or include")
    return includes, raw_params


def _load_include(f: _File, inc: str, chain: tuple[str, ...], objective: bool) -> Space:
    """The space ``inc`` that ``f`` includes: a shipped name, else a file beside ``f``."""
    sibling = Path(f.label).parent / inc
    inc_ref = str(sibling) if inc not in list_spaces() and sibling.is_file() else inc
    try:
        return _load(inc_ref, chain, objective)
    except ConfigError as exc:
        # the included file's own "unknown space" error would not say which file included it
        if str(exc).startswith(f"unknown space {inc!r}"):
            msg = f"unknown space {inc!r}; known spaces: {', '.join(list_spaces())}"
            raise f.error(("include",), msg) from None
        raise


def _no_repeated_keys(f: _File) -> None:
    """YAML keeps the last of two equal keys silently; a path given twice is a mistake."""
    root = yaml.compose(f.text)
    params = next((v for k, v in root.value if k.value == "params"), None)
    if not isinstance(params, yaml.MappingNode):
        return
    seen: set[str] = set()
    for key, _ in params.value:
        if key.value in seen:
            where = f"{f.label}:{key.start_mark.line + 1}"
            raise ConfigError(f"{where}: param {key.value!r}: given twice in params")
        seen.add(key.value)


def _add(f: _File, params: dict, origin: dict, key: str, spec: Any, src: str, loc: tuple) -> None:
    new = Space(name="_", params={key: spec})
    for path in new.paths():
        if path in origin:
            raise f.error(
                loc,
                f"parameter path {path!r} is set by both {origin[path]} and {src}; "
                "a path may appear in only one of the spaces combined",
            )
        origin[path] = src
    params[key] = spec


def _parse_param(f: _File, path: str, raw: Any, objective: bool = False) -> ParamSpec:
    loc = ("params", path)
    if not isinstance(raw, Mapping):
        raise f.error(
            loc, f"must be a mapping with a 'type' ({', '.join(PARAM_TYPES)}), got {raw!r}"
        )
    if raw.get("type") not in PARAM_TYPES:
        raise f.error(
            (*loc, "type"), f"unknown type {raw.get('type')!r}; valid: {', '.join(PARAM_TYPES)}"
        )
    if is_objective_path(path):
        _check_objective_path(f, path, str(raw["type"]), objective)
    elif raw["type"] == "simplex":
        if not any(p.startswith(f"{path}.") for p in _recipe_paths()):
            sections = {p.rsplit(".", 1)[0] for p in _recipe_paths()}
            raise f.error(loc, _unknown_path(path, "section", sections))
    elif path not in _recipe_paths():
        raise f.error(loc, _unknown_path(path, "parameter path"))
    try:
        spec = PARAM_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = tuple(err["loc"][1:])  # [0] is the union tag
        got = f" (got {err['input']!r})" if field and not isinstance(err["input"], dict) else ""
        raise f.error((*loc, *field), f"{err['msg'].removeprefix('Value error, ')}{got}") from None
    if is_objective_path(path):
        return _with_update(f, path, spec, _check_when(f, path, spec, objective))
    if getattr(spec, "default", None) is not None:
        raise f.error(
            (*loc, "default"),
            "a recipe parameter starts at the base recipe's value (a recipe override changes "
            "it); 'default' is for objective parameters only",
        )
    return _check_values(f, path, spec, objective)


def _check_objective_path(f: _File, path: str, kind: str, objective: bool) -> None:
    check_objective_path(f.error, path, kind, objective, _unknown_path(path, "parameter path"))


def _candidates(space: Space, path: str) -> list[Any]:
    """Values ``path`` may take during a search: its choices or bounds, or the default."""
    key = space.owner(path)
    spec = space.params.get(key) if key is not None else None
    if isinstance(spec, CategoricalParam):
        return list(spec.choices)
    if isinstance(spec, FloatParam | IntParam):
        return [spec.low, spec.high]
    return [flatten(Recipe())[path]]


def _check_links(f: _File, space: Space, key: str) -> None:
    """Conditions name values their target can take; fraction_of results fit the recipe."""
    spec = space.params[key]
    loc = ("params", key)
    for target, allowed in (spec.when or {}).items():
        if target in space.paths_of(key):
            raise f.error((*loc, "when"), f"{key} cannot be conditional on itself")
        target_spec = space.params.get(space.owner(target) or "")
        if is_objective_path(target) and (target_spec is None or target_spec.when):
            # the recipe holds no value of an objective parameter to test instead
            why = "is not a parameter of this space" if target_spec is None else "is conditional"
            raise f.error(
                (*loc, "when", target),
                f"objective parameter {target} {why}; a condition may test an objective "
                "parameter only if the space samples it in every trial",
            )
        if isinstance(target_spec, CategoricalParam):
            choices = target_spec.choices
            never = [v for v in allowed if v not in choices]
            if never:
                raise f.error(
                    (*loc, "when", target),
                    f"values {never} never occur: {target} is searched over {list(choices)}",
                )
    if isinstance(spec, FractionOfParam):
        for of_value in _candidates(space, spec.of):
            for frac in spec.choices:
                value = round(frac * of_value)
                try:
                    apply_overrides(Recipe(), {spec.of: of_value, key: value}, source=f.label)
                except ConfigError as exc:
                    raise f.error(
                        (*loc, "choices"),
                        f"fraction {frac} of {spec.of} = {of_value} gives {key} = {value}, "
                        f"which the recipe rejects: {str(exc).splitlines()[-1].strip()}",
                    ) from None
