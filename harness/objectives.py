"""Cheap objectives shaped like ``trials.run_trial``, for tests, benchmarks and ``--trainable``.

Each takes ``(recipe, report, **kwargs)``, reads its coordinates from recipe values by dotted path,
reports once per epoch and returns a summary dict. Their optimum is known analytically, so the
search machinery (TPE, ASHA, pruning, tables) can be checked without training a network:

    harness search --space lr --trainable harness.objectives:log_lr_bowl --metric score
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "LOG_LR_OPTIMUM",
    "WEIGHTS_OPTIMUM",
    "allocating",
    "instant",
    "log_lr_bowl",
    "slow_log_lr_bowl",
    "weights_bowl",
]

ReportFn = Callable[[int, Mapping[str, float]], Any]

LOG_LR_OPTIMUM = -3.7
# inside the loss_weights space's ranges and on the simplex
WEIGHTS_OPTIMUM = {
    "focal_tversky": 0.45,
    "boundary": 0.2,
    "weighted_ce": 0.12,
    "soft_dice": 0.13,
    "region": 0.03,
    "affinity": 0.03,
    "query": 0.04,
}


def _fidelity(value: float, epoch: int) -> float:
    # Lower at low budgets by the same amount for every configuration: low-fidelity rankings
    # equal full-fidelity rankings, the regime in which successive halving is sound.
    return value - 0.5 / epoch


def _run(recipe: Any, report: ReportFn, value: float) -> dict[str, Any]:
    epochs = recipe.optim.epochs
    score = math.nan
    for epoch in range(1, epochs + 1):
        score = _fidelity(value, epoch)
        report(epoch, {"score": score})
    return {"status": "completed", "epochs": epochs, "final": {"score": score}}


def log_lr_bowl(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """``score = 1 - (log10(optim.lr) - LOG_LR_OPTIMUM)^2`` at full budget (max 1 at lr=10^-3.7)."""
    return _run(recipe, report, 1.0 - (math.log10(recipe.optim.lr) - LOG_LR_OPTIMUM) ** 2)


def slow_log_lr_bowl(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """:func:`log_lr_bowl` taking 0.5 s per epoch: long enough to interrupt a search."""

    def slow_report(epoch: int, metrics: Mapping[str, float]) -> None:
        time.sleep(0.5)
        report(epoch, metrics)

    return _run(recipe, slow_report, 1.0 - (math.log10(recipe.optim.lr) - LOG_LR_OPTIMUM) ** 2)


def weights_bowl(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """``score = 1 - 10 * ||w - WEIGHTS_OPTIMUM||^2`` over the seven loss weights (max 1)."""
    w = recipe.loss.weights.model_dump()
    dist = sum((w[k] - v) ** 2 for k, v in WEIGHTS_OPTIMUM.items())
    return _run(recipe, report, 1.0 - 10.0 * dist)


def instant(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """Reports one epoch at once: what a trial costs the harness, without the work."""
    report(1, {"score": 0.0})
    return {"status": "completed", "epochs": 1, "final": {"score": 0.0}}


def allocating(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """Holds ``data.batch_size x 64 MiB`` under the real memory guard, one epoch per report.

    With ``memory.cap`` set, large batch sizes breach it and the trial ends with status
    ``memory_cap`` exactly as ``run_trial`` does; small ones complete.
    """
    import numpy as np

    from search_spaces import MemoryCapExceeded
    from trials.memory import MemoryGuard

    held: list[Any] = []
    guard = MemoryGuard(recipe.memory, "cpu")
    try:
        with guard:
            for _chunk in range(recipe.data.batch_size):
                held.append(np.ones(8 * 2**20))  # 64 MiB, pages touched
                guard.check()
                time.sleep(0.01)
            for epoch in range(1, recipe.optim.epochs + 1):
                report(
                    epoch,
                    {"score": float(recipe.data.batch_size), "memory_peak_bytes": guard.peak_bytes},
                )
        status, error = "completed", None
    except MemoryCapExceeded as exc:
        status, error = "memory_cap", str(exc)
    finally:
        held.clear()
    return {
        "status": status,
        "error": error,
        "epochs": 0 if status != "completed" else recipe.optim.epochs,
        "peak_memory_bytes": guard.peak_bytes,
        "final": {},
    }
