"""The training loop: ``run_trial(recipe, report)`` and what it returns.

``run_trial`` (``_loop``) loads the data and makes one attempt, or an OOM retry
(``_attempt``: set-up, epochs, validation, bookkeeping, checkpoints); every micro-batch is one
:class:`TrainStep` (``_step``), the same step ``harness bench`` times.
"""

from __future__ import annotations

from trials.train._checkpoint import load_checkpoint, save_checkpoint
from trials.train._evaluate import evaluate_samples
from trials.train._loop import run_trial
from trials.train._step import Precision, TrainStep
from trials.train._summary import STATUSES, TrialSummary

__all__ = [
    "STATUSES",
    "Precision",
    "TrainStep",
    "TrialSummary",
    "evaluate_samples",
    "load_checkpoint",
    "run_trial",
    "save_checkpoint",
]
