"""The best epoch so far and early stopping on the monitored validation metric."""

from __future__ import annotations

import math

from search_spaces import Recipe

__all__ = ["BestTracker"]


class BestTracker:
    """Which epoch is the best so far, and whether the run should stop early.

    A value counts as an improvement when it beats the best by more than the relative margin
    ``optim.early_stopping.min_rel_improvement`` in the direction of ``optim.monitor_mode``; a
    missing or NaN value never does. The first validated epoch is the best until one improves on
    it, even when its value is NaN. The run stops after ``patience`` epochs in a row without
    improvement (never after its last epoch: that one simply completes it).

    Args:
        recipe: gives ``optim.monitor_mode`` and ``optim.early_stopping``.
        best_value: the best monitored value so far (``None``: none yet), when resuming.
        since_best: epochs since the best, when resuming.
    """

    def __init__(self, recipe: Recipe, best_value: float | None = None, since_best: int = 0):
        self.maximise = recipe.optim.monitor_mode == "max"
        self.min_rel = recipe.optim.early_stopping.min_rel_improvement
        self.patience = recipe.optim.early_stopping.patience
        self.epochs = recipe.optim.epochs
        self.best_value, self.since_best = best_value, since_best

    def observe(self, value: float | None, *, first: bool) -> bool:
        """Record an epoch's monitored value; whether that epoch becomes the best one.

        Args:
            value: the monitored metric of the epoch (``None`` if not reported).
            first: no epoch is the best yet (the first validated one becomes it regardless).
        """
        improved = self._improves(value)
        if improved:
            self.best_value = value
        if improved or first:
            self.since_best = 0
            return True
        self.since_best += 1
        return False

    def should_stop(self, epoch: int) -> bool:
        """Whether patience ran out after ``epoch`` (before the run's last epoch)."""
        return (
            self.patience is not None and self.since_best >= self.patience and epoch < self.epochs
        )

    def _improves(self, value: float | None) -> bool:
        if value is None or math.isnan(value):
            return False
        if self.best_value is None:
            return True
        if self.maximise:
            return value > self.best_value * (1 + self.min_rel)
        return value < self.best_value * (1 - self.min_rel)
