"""A compute budget split across a staged plan's stages, and the plan's budget record.

Under ``--budget-epochs``/``--budget-hours`` every stage gets a share in proportion to its nominal
cost (trials x max_epochs; seeds x epochs for a validation stage), and what a stage leaves unused
carries to the next: stage i may spend the budget's cumulative share of stages 1..i minus what
stages 1..i-1 spent (:class:`BudgetSplit`, which also refuses a budget too small for a stage's
first rung). :func:`_skip` says when a stage's allowance is spent, :func:`_stage_budget` and
:func:`_budget_record` write the plan's ``budget.json``, :func:`_allowance_text` words an
allowance for the console.
"""

from __future__ import annotations

import math
from typing import Any

from harness.searching._stage import StageResult
from harness.tune._budget import Budget, spent_in_tables
from harness.tune._rundir import param_error
from search_spaces import Plan, Recipe, Stage

__all__ = [
    "BudgetSplit",
    "_allowance_text",
    "_budget_record",
    "_skip",
    "_stage_budget",
    "_stage_epochs",
]


def _stage_epochs(stage: Stage, recipe: Recipe) -> int:
    return stage.max_epochs or recipe.optim.epochs


def _nominal_cost(stage: Stage, recipe: Recipe) -> int:
    """Epochs a stage would train if no trial stopped early: trials (or seeds) x max_epochs."""
    return (stage.seeds if stage.is_validation else stage.trials or 1) * _stage_epochs(
        stage, recipe
    )


class BudgetSplit:
    """A compute budget split across a plan's stages in proportion to their nominal cost, what
    a stage leaves unused carried to the next.

    Args:
        plan: the plan (its trial counts already scaled by ``--budget``).
        recipe: the base recipe (a validation stage without ``max_epochs`` runs its epochs).
        budget: the whole plan's budget.
    """

    def __init__(self, plan: Plan, recipe: Recipe, budget: Budget) -> None:
        self.plan, self.budget = plan, budget
        self.costs = [_nominal_cost(s, recipe) for s in plan.stages]
        self.needs = [
            _stage_epochs(s, recipe) if s.is_validation else s.grace_period for s in plan.stages
        ]
        total = sum(self.costs)
        running, self.cumulative = 0, []
        for cost in self.costs:
            running += cost
            self.cumulative.append(running / total)
        self.cumulative[-1] = 1.0

    def _epochs_through(self, index: int, epochs: int) -> int:
        """The budget's epochs for stages ``0..index`` together (whole epochs)."""
        return math.floor(epochs * self.cumulative[index] + 1e-9) if index >= 0 else 0

    def shares(self, epochs: int | None = None) -> list[int]:
        """Each stage's own share of ``epochs`` (default: the budget's) before any carry."""
        epochs = self.budget.epochs if epochs is None else epochs
        if epochs is None:
            return []
        return [
            self._epochs_through(i, epochs) - self._epochs_through(i - 1, epochs)
            for i in range(len(self.costs))
        ]

    def check(self, plan_name: str) -> None:
        """Refuse an epochs budget with a stage whose share cannot pay for one trial's first
        rung (its grace period; for a validation stage, one seed at full length).

        Raises:
            ConfigError: naming the stage, its share, what it needs and the least budget that
                gives every stage enough (about ``budget_epochs``).
        """
        epochs = self.budget.epochs
        if epochs is None:
            return
        short = [
            (stage, share, need)
            for stage, share, need in zip(self.plan.stages, self.shares(), self.needs, strict=True)
            if share < need
        ]
        if not short:
            return
        least = epochs
        while any(sh < nd for sh, nd in zip(self.shares(least), self.needs, strict=True)):
            least += 1
        stage, share, need = short[0]
        what = (
            "one seed at full length"
            if stage.is_validation
            else "its grace period (one trial's first ASHA rung)"
        )
        raise param_error(
            f"budget_epochs {epochs} is too small for plan {plan_name}: stage "
            f"{stage.name!r} would get {share} epoch(s) (its share of the budget is in "
            f"proportion to its nominal cost, {self.costs[self.plan.stages.index(stage)]} of "
            f"{sum(self.costs)} epochs), less than {what}: {need}; give at least "
            f"budget_epochs {least}",
            "budget_epochs",
        )

    def allowance(
        self, index: int, epochs_before: int, hours_before: float
    ) -> tuple[int | None, float | None]:
        """What stage ``index`` may spend, given what the stages before it spent: its
        cumulative share minus that (``None`` for a limit the budget does not set)."""
        epochs = None
        if self.budget.epochs is not None:
            epochs = self._epochs_through(index, self.budget.epochs) - epochs_before
        hours = None
        if self.budget.hours is not None:
            hours = self.budget.hours * self.cumulative[index] - hours_before
        return epochs, hours


def _skip(allowance: tuple[int | None, float | None]) -> bool:
    """Whether a stage's allowance is spent (less than one epoch, or no time)."""
    epochs, hours = allowance
    return (epochs is not None and epochs < 1) or (hours is not None and hours <= 0)


def _budget_record(budget: Budget, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The plan's budget record (its ``budget.json``): the limits, the totals, each stage."""
    epochs = sum(r["epochs_used"] for r in rows)
    hours = sum(r["hours_used"] for r in rows)
    spent = (budget.epochs is not None and epochs >= budget.epochs) or (
        budget.hours is not None and hours >= budget.hours
    )
    return {
        **budget.to_dict(),
        "epochs_used": epochs,
        "hours_used": round(hours, 6),
        "exhausted": bool(spent or any(r.get("exhausted") for r in rows)),
        "split": "in proportion to each stage's nominal cost (trials x max_epochs), what a "
        "stage leaves unused carried to the next",
        "stages": rows,
    }


def _allowance_text(allowance: tuple[int | None, float | None]) -> str:
    epochs, hours = allowance
    parts = [] if epochs is None else [f"{epochs} epochs"]
    parts += [] if hours is None else [f"{hours:.4g} trial-hours"]
    return " and ".join(parts)


def _stage_budget(
    stage: Stage,
    split: BudgetSplit,
    index: int,
    allowance: tuple[int | None, float | None],
    result: StageResult | None,
) -> dict[str, Any]:
    """One stage's line of the plan's budget record."""
    epochs, hours = (0, 0.0) if result is None else spent_in_tables(result.trials, result.curves)
    own = split.shares()
    return {
        "stage": stage.name,
        "nominal_epochs": split.costs[index],
        "share_epochs": own[index] if own else None,
        "allowance_epochs": allowance[0],
        "allowance_hours": None if allowance[1] is None else round(allowance[1], 6),
        "epochs_used": epochs,
        "hours_used": round(hours, 6),
        "exhausted": bool(result is not None and (result.budget or {}).get("exhausted")),
        "skipped": result is None,
    }
