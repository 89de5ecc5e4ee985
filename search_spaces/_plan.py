"""Staged search plans: a sequence of search stages and validation stages.

A plan is a YAML file ``search_spaces/plans/<name>.yaml`` (or any path)::

    description: Coarse to fine.
    stages:
      - {name: coarse, space: full, trials: 40, max_epochs: 5, grace_period: 1,
         reduction_factor: 3}
      - {name: focused, space: full, trials: 20, max_epochs: 10, grace_period: 2,
         reduction_factor: 3, narrow: {top_fraction: 0.1}}
      - {name: final, seeds: 3, inherit: best}

A search stage runs ``trials`` configurations of its space under ASHA (``max_epochs`` is the
scheduler's ``max_t``). It may start from the previous stages in one of two ways:
``narrow`` shrinks its space to the envelope of the previous stage's best trials, and
``inherit: best`` takes the best configuration found so far as its base recipe. A validation
stage (``seeds: N``) searches nothing: it trains the best configuration so far with N seeds, for
``max_epochs`` epochs or, when absent, the recipe's full ``optim.epochs``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from search_spaces._errors import ConfigError
from search_spaces._loader import list_named, read_named_yaml, yaml_line
from search_spaces._space import list_spaces, load_space

__all__ = ["NarrowSpec", "Plan", "Stage", "list_plans", "load_plan"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NarrowSpec(_Frozen):
    """How a stage's space shrinks around the previous stage's best trials."""

    top_fraction: float = Field(
        gt=0, le=1, description="Share of the previous stage's trials kept (by the metric)."
    )
    min_trials: PositiveInt = Field(3, description="Keep at least this many trials.")


class Stage(_Frozen):
    """One stage of a plan: a search (``space`` + ``trials``) or a validation (``seeds``)."""

    name: str = Field(min_length=1, description="Name of the stage (its run sub-directory).")
    space: str | None = Field(None, description="Space name or YAML path (search stages).")
    trials: PositiveInt | None = Field(None, description="Trials before scaling by --budget.")
    seeds: PositiveInt | None = Field(None, description="Seeds of a validation stage.")
    max_epochs: PositiveInt | None = Field(
        None, description="ASHA max_t; for a validation stage, empty = the recipe's epochs."
    )
    grace_period: PositiveInt = Field(1, description="ASHA grace period (epochs).")
    reduction_factor: int = Field(3, ge=2, description="ASHA reduction factor.")
    narrow: NarrowSpec | None = Field(None, description="Shrink the space around the best.")
    inherit: Literal["best"] | None = Field(None, description="Start from the best so far.")

    @model_validator(mode="after")
    def _kind_rules(self) -> Stage:
        if self.seeds is not None:
            given = sorted(
                k
                for k in ("space", "trials", "narrow", "grace_period", "reduction_factor")
                if k in self.model_fields_set
            )
            if given:
                raise ValueError(
                    f"a validation stage (seeds: {self.seeds}) searches nothing: remove {given}"
                )
            return self
        missing = [k for k in ("space", "trials", "max_epochs") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a search stage needs {missing} (or seeds: N for a validation stage)")
        if self.grace_period > self.max_epochs:  # type: ignore[operator]
            raise ValueError(
                f"grace_period ({self.grace_period}) must not exceed max_epochs ({self.max_epochs})"
            )
        if self.narrow is not None and self.inherit is not None:
            raise ValueError("give at most one of narrow and inherit: best")
        return self

    @property
    def is_validation(self) -> bool:
        """Whether this stage validates the best configuration instead of searching."""
        return self.seeds is not None

    @property
    def inherits_best(self) -> bool:
        """Whether this stage starts from the best configuration of the previous stages."""
        return self.inherit == "best" or self.is_validation


def _plan_rules(stages: tuple[Stage, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """Rules across stages, as (location in the file, message)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if not stages:
        return [(("stages",), "a plan needs at least one stage")]
    seen: set[str] = set()
    for i, stage in enumerate(stages):
        if stage.name in seen:
            problems.append((("stages", i, "name"), f"duplicate stage name {stage.name!r}"))
        seen.add(stage.name)
    first = stages[0]
    if first.narrow is not None:
        problems.append(
            (("stages", 0, "narrow"), "the first stage cannot narrow: no stage ran before it")
        )
    if first.is_validation or first.inherit is not None:
        key = "seeds" if first.is_validation else "inherit"
        problems.append(
            (("stages", 0, key), "the first stage cannot start from a best configuration: none yet")
        )
    for i, stage in enumerate(stages[1:], start=1):
        if stage.narrow is not None and stages[i - 1].is_validation:
            problems.append(
                (
                    ("stages", i, "narrow"),
                    f"narrow needs a search stage before it; {stages[i - 1].name!r} is a "
                    "validation stage",
                )
            )
    return problems


class Plan(_Frozen):
    """A validated plan: its stages in order."""

    name: str
    description: str = ""
    stages: tuple[Stage, ...]
    source: str = "<memory>"

    @model_validator(mode="after")
    def _cross_stage(self) -> Plan:
        problems = _plan_rules(self.stages)
        if problems:
            raise ValueError("; ".join(msg for _, msg in problems))
        return self

    def scaled(self, budget: float) -> Plan:
        """The plan with every search stage's ``trials`` multiplied by ``budget``.

        Rounded half up, and at least 2 so that a stage still compares configurations.

        Raises:
            ConfigError: a budget that is not a positive finite number.
        """
        if not (isinstance(budget, int | float) and math.isfinite(budget) and budget > 0):
            raise ConfigError(f"budget must be a positive number, got {budget!r}", param="budget")
        stages = tuple(
            s
            if s.trials is None
            else s.model_copy(update={"trials": max(2, math.floor(s.trials * budget + 0.5))})
            for s in self.stages
        )
        return self.model_copy(update={"stages": stages})

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per stage, for a table: stage, kind, space, trials/seeds, ASHA, start."""
        rows = []
        for s in self.stages:
            start = "narrow" if s.narrow else ("best so far" if s.inherits_best else "base recipe")
            if s.narrow:
                start += f" (top {s.narrow.top_fraction:g}, >= {s.narrow.min_trials})"
            rows.append(
                {
                    "stage": s.name,
                    "kind": "validation" if s.is_validation else "search",
                    "space": s.space or "",
                    "trials": s.seeds if s.is_validation else s.trials,
                    "max_epochs": s.max_epochs if s.max_epochs is not None else "recipe",
                    "grace_period": "" if s.is_validation else s.grace_period,
                    "reduction_factor": "" if s.is_validation else s.reduction_factor,
                    "start": start,
                }
            )
        return rows


def list_plans() -> list[str]:
    """Names of the plans shipped in ``search_spaces/plans/``."""
    return list_named("plans")


def load_plan(name_or_path: str | Path) -> Plan:
    """Load and validate a shipped plan by name, or a plan YAML file.

    Every stage's space is loaded (and so validated) too; a space given as a relative path is
    resolved against the plan file and stored resolved.

    Raises:
        ConfigError: the file, the line when known, the stage, the field and the rule.
    """
    data, label, text = read_named_yaml(name_or_path, "plans", "plan")

    def error(loc: tuple[str | int, ...], message: str) -> ConfigError:
        line = yaml_line(text, loc)
        where = f"{label}:{line}" if line is not None else label
        field = ".".join(str(p) for p in loc) or "<plan>"
        if len(loc) >= 2 and loc[0] == "stages" and isinstance(loc[1], int):
            name = raw_stages[loc[1]].get("name") if isinstance(raw_stages[loc[1]], dict) else None
            field = f"stages[{loc[1]}]" + (f" ({name})" if name else "")
            field += "".join(f".{p}" for p in loc[2:])
        return ConfigError(f"{where}: {field}: {message}")

    raw_stages: list[Any] = []
    for key in data:
        if key not in ("description", "stages"):
            raise error((key,), "unknown key; a plan has description and stages")
    raw_stages = data.get("stages") or []
    if not isinstance(raw_stages, list) or not raw_stages:
        raise error(("stages",), "must be a non-empty list of stages")
    stages = []
    for i, raw in enumerate(raw_stages):
        if not isinstance(raw, dict):
            raise error(("stages", i), f"a stage must be a mapping, got {raw!r}")
        try:
            stage = Stage.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ("stages", i, *err["loc"])
            got = "" if isinstance(err["input"], dict) else f" (got {err['input']!r})"
            raise error(loc, err["msg"].removeprefix("Value error, ") + got) from None
        if stage.space is not None:
            space = _resolve_space(stage.space, label)
            stage = stage.model_copy(update={"space": space})
            try:
                load_space(space)
            except ConfigError as exc:
                if str(exc).startswith("unknown space"):
                    msg = f"unknown space {stage.space!r}; known spaces: {', '.join(list_spaces())}"
                    raise error(("stages", i, "space"), msg) from None
                raise
        stages.append(stage)
    for loc, message in _plan_rules(tuple(stages)):
        raise error(loc, message)
    return Plan(
        name=Path(label).stem,
        description=str(data.get("description") or ""),
        stages=tuple(stages),
        source=label,
    )


def _resolve_space(ref: str, plan_label: str) -> str:
    sibling = Path(plan_label).parent / ref
    if ref not in list_spaces() and Path(plan_label).is_file() and sibling.is_file():
        return str(sibling)
    return ref
