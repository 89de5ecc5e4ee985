"""The training loop: ``run_trial(recipe, report)`` and what it returns."""

from __future__ import annotations

from trials.train._checkpoint import load_checkpoint, save_checkpoint
from trials.train._loop import ReportFn, evaluate_samples, run_trial
from trials.train._summary import STATUSES, TrialSummary

__all__ = [
    "STATUSES",
    "ReportFn",
    "TrialSummary",
    "evaluate_samples",
    "load_checkpoint",
    "run_trial",
    "save_checkpoint",
]
