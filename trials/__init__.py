"""The training recipe: data and tiling, model, losses, metrics, training loop, memory guard.

``trials.run_trial(recipe, report)`` trains one configuration and calls ``report(epoch,
metrics)`` after every epoch. This package never imports ray.
"""

from __future__ import annotations

from trials._check import check_recipe
from trials._device import check_device
from trials.train import (
    STATUSES,
    TrialSummary,
    evaluate_samples,
    load_checkpoint,
    run_trial,
    save_checkpoint,
)

__all__ = [
    "STATUSES",
    "TrialSummary",
    "check_device",
    "check_recipe",
    "evaluate_samples",
    "load_checkpoint",
    "run_trial",
    "save_checkpoint",
]
