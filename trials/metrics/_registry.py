"""The registry of evaluation metrics, keyed by the names used in reports and ``optim.monitor``.

Shaped like timm's ``timm/models/_registry.py``: :func:`register_metric` (a function decorator),
:func:`create_metric` / :func:`get_metric` and :func:`list_metrics`. A metric is a function of an
*inputs* object computed once per image from the masks (confusion counts, surface distances), so
that :class:`~trials.metrics.MetricAccumulator` computes each input once and then every registered
metric from it; a metric registered by a plug-in is therefore picked up by the accumulator with no
other change.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from search_spaces import ConfigError
from trials.metrics._masks import check_mask_pair

__all__ = [
    "Metric",
    "MetricSpec",
    "create_metric",
    "get_metric",
    "higher_is_better",
    "list_metrics",
    "metric_mode",
    "register_metric",
]

MetricFn = Callable[..., float]
InputsFn = Callable[[np.ndarray, np.ndarray], Any]


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric.

    Attributes:
        name: the registry key (``"iou_lesion"``, ``"hd95"``, ...).
        fn: ``fn(inputs, **params) -> float``.
        inputs: ``inputs(pred, target)`` builds what ``fn`` reads from a validated mask pair;
            metrics that share an ``inputs`` function share its (possibly costly) result.
        higher_is_better: direction of improvement, used by the search (``mode``).
        pooled: ``True``: over a data set the metric is computed once from the *sum* of the
            per-image inputs (micro average; the inputs must support ``+`` and ``as_dict()``);
            ``False``: it is the mean of the per-image values, ``nan`` values left out.
        params: the keyword-only parameters ``fn`` accepts (e.g. ``("tolerance",)``).
    """

    name: str
    fn: MetricFn
    inputs: InputsFn
    higher_is_better: bool
    pooled: bool
    params: tuple[str, ...] = field(default=())

    @property
    def summary(self) -> str:
        """First line of the metric function's docstring."""
        doc = inspect.getdoc(self.fn) or ""
        return doc.splitlines()[0] if doc else ""


_METRICS: dict[str, MetricSpec] = {}


def register_metric(
    name: str, *, inputs: InputsFn, higher_is_better: bool, pooled: bool
) -> Callable[[MetricFn], MetricFn]:
    """Decorator that registers ``fn(inputs, **params) -> float`` as the metric ``name``.

    Args:
        name: the registry key.
        inputs: function of ``(pred, target)`` bool masks whose result ``fn`` takes.
        higher_is_better: ``True`` if larger values are better.
        pooled: see :attr:`MetricSpec.pooled`.

    Raises:
        ValueError: ``name`` is already registered, or ``fn`` has parameters after the first
            that are not keyword-only with a default.
    """

    def decorator(fn: MetricFn) -> MetricFn:
        if name in _METRICS:
            raise ValueError(
                f"metric {name!r} is already registered by {_METRICS[name].fn.__qualname__}; "
                f"cannot register {fn.__qualname__} under the same name"
            )
        rest = list(inspect.signature(fn).parameters.values())[1:]
        bad = [
            p.name
            for p in rest
            if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty
        ]
        if bad:
            raise ValueError(
                f"register_metric({name!r}): parameters after the inputs must be keyword-only "
                f"with defaults, {fn.__qualname__} has {bad}"
            )
        _METRICS[name] = MetricSpec(
            name=name,
            fn=fn,
            inputs=inputs,
            higher_is_better=higher_is_better,
            pooled=pooled,
            params=tuple(p.name for p in rest),
        )
        return fn

    return decorator


def list_metrics(filter: str = "") -> list[str]:
    """Sorted names of the registered metrics, optionally filtered by a shell pattern.

    Args:
        filter: an ``fnmatch`` pattern such as ``"iou_*"``; empty means all.
    """
    names = sorted(_METRICS)
    return fnmatch.filter(names, filter) if filter else names


def get_metric(name: str) -> MetricSpec:
    """The :class:`MetricSpec` registered under ``name``.

    Raises:
        ConfigError: ``name`` is not registered; the message lists the valid names.
    """
    if name not in _METRICS:
        raise ConfigError(f"unknown metric {name!r}; valid names are: {', '.join(list_metrics())}")
    return _METRICS[name]


def higher_is_better(name: str) -> bool:
    """Whether larger values of metric ``name`` are better (``False`` for ``hd95``).

    Raises:
        ConfigError: ``name`` is not registered.
    """
    return get_metric(name).higher_is_better


def metric_mode(name: str) -> Literal["max", "min"]:
    """``"max"`` or ``"min"``: the ``mode`` a searcher or scheduler needs for metric ``name``.

    Raises:
        ConfigError: ``name`` is not registered.
    """
    return "max" if higher_is_better(name) else "min"


class Metric:
    """A registered metric bound to its parameters; call it on a mask pair.

    Example:
        >>> bf1 = create_metric("boundary_f1", tolerance=2)
        >>> bf1(pred, target)  # doctest: +SKIP
        0.93
    """

    def __init__(self, spec: MetricSpec, params: dict[str, Any]) -> None:
        self.spec = spec
        self.params = dict(params)

    @property
    def name(self) -> str:
        """The registry key."""
        return self.spec.name

    @property
    def higher_is_better(self) -> bool:
        """Direction of improvement."""
        return self.spec.higher_is_better

    def from_inputs(self, inputs: Any) -> float:
        """The metric from an already computed inputs object (e.g. summed counts)."""
        return float(self.spec.fn(inputs, **self.params))

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        """The metric of one predicted mask against its target (``H x W`` bool each).

        Raises:
            DataError: the masks are not 2-D bool arrays of one shape.
        """
        pred_mask, target_mask = check_mask_pair(pred, target, where=f"metric {self.name!r}")
        return self.from_inputs(self.spec.inputs(pred_mask, target_mask))

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"create_metric({self.name!r}{args})"


def create_metric(name: str, **params: Any) -> Metric:
    """Build the metric registered under ``name`` with its parameters.

    Args:
        name: a registered name (see :func:`list_metrics`).
        **params: the metric's keyword parameters (only ``boundary_f1`` has one: ``tolerance``).

    Raises:
        ConfigError: ``name`` is not registered (the message lists the valid names), or a
            parameter is not one the metric accepts.
    """
    spec = get_metric(name)
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        accepted = ", ".join(spec.params) if spec.params else "none"
        raise ConfigError(
            f"metric {name!r} does not accept parameter(s) {', '.join(unknown)}; "
            f"accepted: {accepted}"
        )
    return Metric(spec, params)
