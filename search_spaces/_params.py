"""The parameter types of a search space, one frozen pydantic model each.

Each model holds the rules of one parameter on its own (a non-empty, non-inverted range, a log
range above 0, choices without duplicates, a feasible simplex, a ``default`` inside its range);
the rules that need the recipe or the other parameters of a space are checked by
:func:`search_spaces.load_space`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, TypeAdapter, model_validator

__all__ = [
    "PARAM_TYPES",
    "CategoricalParam",
    "FloatParam",
    "FractionOfParam",
    "IntParam",
    "ParamSpec",
    "SimplexParam",
    "describe_param",
    "format_value",
    "start_value",
]

Scalar = str | bool | int | float | None
_TOL = 1e-9


class _Param(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    when: dict[str, tuple[Scalar, ...]] | None = Field(
        None, description="Sample only when every named path takes one of the listed values."
    )

    @model_validator(mode="after")
    def _when_lists(self) -> _Param:
        for target, allowed in (self.when or {}).items():
            if not allowed:
                raise ValueError(f"when: the list of values of {target!r} is empty")
        return self


def _check_range(low: float, high: float, log: bool, step: float | None) -> None:
    if not low < high:
        raise ValueError(f"empty or inverted range: low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log range needs low > 0, got low = {low}")
    if log and step is not None:
        raise ValueError("step cannot be combined with log (a log range is sampled continuously)")
    if step is not None:
        n = (high - low) / step
        if abs(n - round(n)) > _TOL * max(1.0, n):
            raise ValueError(f"high - low ({high - low:g}) must be a multiple of step ({step})")


_DEFAULT_HELP = (
    "Objective parameters only: the value the base configuration is evaluated with "
    "(default: the midpoint of the range, the geometric one for a log range; the first choice)."
)


def _check_default(default: float | None, low: float, high: float) -> None:
    if default is not None and not low <= default <= high:
        raise ValueError(f"default ({default}) must lie within [low, high] = [{low}, {high}]")


class FloatParam(_Param):
    """A real value in ``[low, high]``, optionally log-uniform or on a grid of ``step``."""

    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: PositiveFloat | None = None
    default: float | None = Field(None, description=_DEFAULT_HELP)

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        _check_range(self.low, self.high, self.log, self.step)
        _check_default(self.default, self.low, self.high)
        return self


class IntParam(_Param):
    """An integer in ``[low, high]``, optionally log-uniform or on a grid of ``step``."""

    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int | None = Field(None, gt=0)
    default: int | None = Field(None, description=_DEFAULT_HELP)

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        _check_range(self.low, self.high, self.log, self.step)
        _check_default(self.default, self.low, self.high)
        return self


def _no_duplicates(choices: tuple[Any, ...]) -> None:
    if not choices:
        raise ValueError("choices must not be empty")
    for i, c in enumerate(choices):
        if c in choices[:i]:
            raise ValueError(f"duplicate choice {c!r} in {list(choices)}")


class CategoricalParam(_Param):
    """One of a list of values."""

    type: Literal["categorical"]
    choices: tuple[Scalar, ...]
    default: Scalar = Field(None, description=_DEFAULT_HELP)

    @model_validator(mode="after")
    def _choices(self) -> CategoricalParam:
        _no_duplicates(self.choices)
        if self.default is not None and self.default not in self.choices:
            raise ValueError(
                f"default {self.default!r} is not one of the choices {list(self.choices)}"
            )
        return self


class FractionOfParam(_Param):
    """An integer set as ``round(fraction * value of 'of')``, the fraction taken from choices."""

    type: Literal["fraction_of"]
    of: str
    choices: tuple[float, ...]

    @model_validator(mode="after")
    def _choices(self) -> FractionOfParam:
        _no_duplicates(self.choices)
        bad = [f for f in self.choices if not 0 < f <= 1]
        if bad:
            raise ValueError(f"fractions must lie in (0, 1], got {bad}")
        return self


class SimplexParam(_Param):
    """Child fields of a section that sum to ``total``, each within its ``[low, high]``."""

    type: Literal["simplex"]
    total: PositiveFloat = 1.0
    components: dict[str, tuple[float, float]]

    @model_validator(mode="after")
    def _feasible(self) -> SimplexParam:
        if len(self.components) < 2:
            raise ValueError(f"a simplex needs at least 2 components, got {len(self.components)}")
        for name, (low, high) in self.components.items():
            if not 0 <= low <= high <= self.total:
                raise ValueError(
                    f"component {name!r}: need 0 <= low <= high <= total ({self.total}), "
                    f"got [{low}, {high}]"
                )
        lows, highs = sum(self.lows()), sum(self.highs())
        if not lows - _TOL <= self.total <= highs + _TOL:
            raise ValueError(
                f"infeasible simplex: need sum(low) ({lows:g}) <= total ({self.total:g}) "
                f"<= sum(high) ({highs:g})"
            )
        return self

    def lows(self) -> list[float]:
        """Lower bounds, in component order."""
        return [lo for lo, _ in self.components.values()]

    def highs(self) -> list[float]:
        """Upper bounds, in component order."""
        return [hi for _, hi in self.components.values()]


ParamSpec = Annotated[
    FloatParam | IntParam | CategoricalParam | FractionOfParam | SimplexParam,
    Field(discriminator="type"),
]
PARAM_TYPES = ("float", "int", "categorical", "fraction_of", "simplex")
PARAM_ADAPTER: TypeAdapter[Any] = TypeAdapter(ParamSpec)


def format_value(x: Any) -> str:
    """A value as tables show it (floats in their shortest ``g`` form)."""
    return f"{x:g}" if isinstance(x, float) else str(x)


def describe_param(spec: ParamSpec) -> str:
    """The range or choices of a parameter as one short string (tables, narrowing summaries)."""
    default = getattr(spec, "default", None)
    tail = f" default {format_value(default)}" if default is not None else ""
    if isinstance(spec, FloatParam | IntParam):
        text = f"[{format_value(spec.low)}, {format_value(spec.high)}]"
        return text + (f" step {format_value(spec.step)}" if spec.step is not None else "") + tail
    if isinstance(spec, CategoricalParam):
        return "{" + ", ".join(format_value(c) for c in spec.choices) + "}" + tail
    if isinstance(spec, FractionOfParam):
        return "{" + ", ".join(format_value(c) for c in spec.choices) + f"}} x {spec.of}"
    parts = [
        f"{k} [{format_value(lo)}, {format_value(hi)}]" for k, (lo, hi) in spec.components.items()
    ]
    return ", ".join(parts) + f"; sum = {format_value(spec.total)}"


def start_value(spec: ParamSpec) -> Any:
    """Where a parameter without a base value (an objective parameter) starts: its ``default``,
    else the midpoint of its range (the geometric one for a log range; on its step grid; rounded
    for an int), else its first choice.

    Raises:
        ValueError: a ``fraction_of`` or ``simplex`` parameter (they take their values from the
            recipe).
    """
    if isinstance(spec, CategoricalParam):
        return spec.default if spec.default is not None else spec.choices[0]
    if not isinstance(spec, FloatParam | IntParam):
        raise ValueError(f"a {spec.type} parameter has no start value of its own")
    if spec.default is not None:
        return spec.default
    value = math.sqrt(spec.low * spec.high) if spec.log else (spec.low + spec.high) / 2
    if spec.step is not None:
        value = spec.low + round((value - spec.low) / spec.step) * spec.step
    return round(value) if isinstance(spec, IntParam) else float(value)
