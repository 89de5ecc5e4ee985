"""Naming a trainable (``--trainable module:function``) without Ray: the CLI checks it, and the
search space's objective parameters, before Ray starts; :mod:`harness.tune._trainable` wraps it."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from search_spaces import ConfigError

__all__ = ["objective_params", "resolve_trainable", "takes_params"]


def _importable(directory: str | None) -> None:
    """Put ``directory`` (default: the working directory) on ``sys.path`` (last, so it shadows
    no installed package), as ``python -m`` puts the working directory."""
    directory = os.path.abspath(directory or os.getcwd())
    if directory not in sys.path:
        sys.path.append(directory)


def resolve_trainable(spec: str, search_dir: str | None = None) -> Callable[..., Any]:
    """Import ``module:function`` and check that it can be called as ``fn(recipe, report)``.

    Args:
        spec: ``module:function``.
        search_dir: a directory put on ``sys.path`` first, as ``python -m`` puts the working
            directory (default: the working directory); a Ray worker is given the driver's.

    Raises:
        ConfigError: malformed spec, module or function not found, or a wrong signature.
    """
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise ConfigError(
            f"trainable {spec!r}: expected module:function, e.g. trials:run_trial",
            param="trainable",
        )
    _importable(search_dir)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"trainable {spec!r}: cannot import {module_name!r} ({exc})", param="trainable"
        ) from None
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise ConfigError(
            f"trainable {spec!r}: {module_name} has no function {func_name!r}",
            param="trainable",
        )
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        raise ConfigError(
            f"trainable {spec!r}: must accept (recipe, report) like trials.run_trial",
            param="trainable",
        ) from None
    return fn


def takes_params(fn_or_spec: Callable[..., Any] | str) -> bool:
    """Whether a trainable (a function or ``module:function``) takes objective parameters: it
    has a parameter named ``params`` that can be passed by keyword. A bare ``**kwargs`` does not
    count: it would drop them silently.

    This decides ``load_space(..., objective_params=...)`` for a search with this trainable.

    Raises:
        ConfigError: a spec that :func:`resolve_trainable` refuses.
    """
    fn = resolve_trainable(fn_or_spec) if isinstance(fn_or_spec, str) else fn_or_spec
    param = inspect.signature(fn).parameters.get("params")
    return param is not None and param.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


DEFAULT_TRAINABLE = "trials:run_trial"


def objective_params(spec: str | None) -> bool:
    """Whether a search with the trainable ``spec`` (``None``: the default) may declare objective
    parameters in its space (``load_space(..., objective_params=...)``). The default trainable
    does not take them, and is not imported to find that out (it loads torch)."""
    if spec is None or spec == DEFAULT_TRAINABLE:
        return False
    return takes_params(spec)
