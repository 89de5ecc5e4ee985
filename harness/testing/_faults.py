"""A cheap objective that checkpoints every epoch: fault-tolerance tests without training.

:func:`checkpointed_bowl` scores like ``harness.testing._objectives.log_lr_bowl`` but takes
``EPOCH_SECONDS`` per epoch, hands its state to ``checkpoint_fn`` after every epoch and, given a
``resume_state``, goes on at the next epoch. Each report says which epoch this run of the trial
started at (``start_epoch``), so a trial that Ray restarted from its checkpoint after its node
died shows ``start_epoch > 1``::

    harness search --space lr --trainable harness.testing._faults:checkpointed_bowl \\
        --metric score --mode max
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from harness.testing._objectives import LOG_LR_OPTIMUM
from search_spaces import TrialStatus

__all__ = ["EPOCH_SECONDS", "LOG_LR_OPTIMUM", "checkpointed_bowl", "failing_after_one_epoch"]

EPOCH_SECONDS = 1.0


def checkpointed_bowl(
    recipe: Any,
    report: Callable[[int, Mapping[str, float]], Any],
    *,
    checkpoint_fn: Callable[[int, dict[str, Any]], Any] | None = None,
    resume_state: Mapping[str, Any] | None = None,
    **_: Any,
) -> dict[str, Any]:
    """``score = 1 - (log10(optim.lr) + 3.7)^2 - 0.5 / epoch``, one epoch per ``EPOCH_SECONDS``.

    Args:
        recipe: the trial's recipe (``optim.lr``, ``optim.epochs``).
        report: called with ``(epoch, {"score", "start_epoch"})`` after each epoch.
        checkpoint_fn: receives ``(epoch, {"epoch": epoch})`` right before each report.
        resume_state: the last state given to ``checkpoint_fn``: training resumes after it.
    """
    value = 1.0 - (math.log10(recipe.optim.lr) - LOG_LR_OPTIMUM) ** 2
    start = int(resume_state["epoch"]) + 1 if resume_state else 1
    score = math.nan
    for epoch in range(start, recipe.optim.epochs + 1):
        time.sleep(EPOCH_SECONDS)
        score = value - 0.5 / epoch
        if checkpoint_fn is not None:
            checkpoint_fn(epoch, {"epoch": epoch})
        report(epoch, {"score": score, "start_epoch": float(start)})
    return {
        "status": TrialStatus.COMPLETED,
        "epochs": recipe.optim.epochs,
        "final": {"score": score},
    }


def failing_after_one_epoch(
    recipe: Any, report: Callable[[int, Mapping[str, float]], Any], *, workdir: Any = None
) -> dict[str, Any]:
    """Reports epoch 1, then raises ``RuntimeError``: a bug in a trainable.

    Each start appends a line to ``workdir/starts.txt``, so a test can count how often it ran.
    """
    if workdir is not None:
        from pathlib import Path

        Path(workdir).mkdir(parents=True, exist_ok=True)
        with (Path(workdir) / "starts.txt").open("a") as fh:
            fh.write("start\n")
    report(1, {"score": 0.5})
    raise RuntimeError("a bug after epoch 1")
