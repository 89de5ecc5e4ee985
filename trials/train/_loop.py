"""``run_trial``: train one configuration of the recipe and report every epoch.

No Ray here: the harness wraps this function in a Ray trainable, and ``harness train`` calls it
directly. Anything a trial can fail at that is not a bug (memory cap, CUDA OOM, divergence, bad
data) ends it with a status in the returned summary instead of an exception. One attempt is
:func:`~trials.train._attempt.train_attempt`; this module loads the data, resumes and retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from search_spaces import (
    SUCCESS_STATUSES,
    DataError,
    Recipe,
    TrialStatus,
    apply_overrides,
)
from trials._check import check_recipe
from trials.data import DataSplits, load_splits
from trials.train._attempt import CheckpointFn, Hooks, ProgressFn, ReportFn, train_attempt
from trials.train._evaluate import evaluate_samples
from trials.train._faults import parse_fault
from trials.train._setup import resolve_device
from trials.train._summary import TrialSummary

__all__ = ["CheckpointFn", "ProgressFn", "ReportFn", "evaluate_samples", "run_trial"]


def run_trial(
    recipe: Recipe | Mapping[str, Any],
    report: ReportFn | None = None,
    *,
    workdir: str | Path | None = None,
    split_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: ProgressFn | None = None,
    log: Callable[[str], None] | None = None,
    checkpoint_fn: CheckpointFn | None = None,
    resume_state: Mapping[str, Any] | None = None,
) -> TrialSummary:
    """Train one configuration and call ``report(epoch, metrics)`` after each epoch.

    Args:
        recipe: the configuration (a :class:`Recipe` or its mapping, validated here).
        report: called with the 1-based epoch and the epoch's metrics (training loss and
            per-term losses, learning rate, every validation metric on full images, epoch time,
            images/s, peak memory so far).
        workdir: where ``best.pt`` goes (and ``split.json`` unless ``split_dir`` is given);
            nothing is written when ``None``.
        split_dir: the directory whose ``split.json`` every trial of an experiment shares
            (default: ``workdir``).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``; default: CUDA when available.
        progress: receives fine-grained events (``start``, ``step``, ``val``) for progress bars.
        log: receives human-readable warnings (memory, skipped samples, OOM retries).
        checkpoint_fn: called after each epoch, right before ``report``, with the epoch and the
            whole training state (model, optimizer, scheduler, scaler, best so far, early-stopping
            counter, random generators, summary so far): a dict of tensors and plain values that
            ``torch.save`` or pickle can store. Nothing here knows where it goes.
        resume_state: such a state: training continues at the epoch after it, with the same
            epoch numbers, the same batches and the same result as an uninterrupted run.

    Returns:
        The trial's summary; ``status`` says how it ended (see ``STATUSES``).
    """
    if not isinstance(recipe, Recipe):
        recipe = apply_overrides(dict(recipe), {}, source="run_trial(recipe)")
    check_recipe(recipe)
    started = time.perf_counter()
    dev = resolve_device(device)
    workdir = Path(workdir) if workdir is not None else None
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    summary = TrialSummary(device=str(dev))
    if resume_state is not None:
        # the summary so far (attempts, best, peak memory, time spent) carries on
        summary = TrialSummary(**{**resume_state["summary"], "device": str(dev)})
        started -= summary.wall_time_s
    say = log or (lambda msg: None)
    splits = _load_data(recipe, split_dir, workdir, summary, say)
    if splits is not None:
        hooks = Hooks(report, checkpoint_fn, resume_state, parse_fault(), 0, started)
        _attempts(recipe, splits, dev, workdir, hooks, progress, say, summary)
    summary.wall_time_s = time.perf_counter() - started
    return summary


def _load_data(
    recipe: Recipe,
    split_dir: str | Path | None,
    workdir: Path | None,
    summary: TrialSummary,
    say: Callable[[str], None],
) -> DataSplits | None:
    """The trial's splits; ``None`` after ending the trial with ``data_error``."""
    try:
        splits = load_splits(recipe.data, Path(split_dir) if split_dir is not None else workdir)
    except DataError as exc:
        summary.end(TrialStatus.DATA_ERROR, str(exc))
        return None
    summary.skipped = list(splits.skipped)
    if splits.skipped:
        say(f"skipped {len(splits.skipped)} bad sample(s): {splits.skipped[:5]}")
    return splits


def _attempts(
    recipe: Recipe,
    splits: DataSplits,
    dev: torch.device,
    workdir: Path | None,
    hooks: Hooks,
    progress: ProgressFn | None,
    say: Callable[[str], None],
    summary: TrialSummary,
) -> None:
    """The first attempt (or the resumed one) and, after a CUDA OOM, at most one retry."""
    emit = progress or (lambda event: None)
    resuming = hooks.resume_state is not None and bool(summary.attempts)
    attempt = _resumed_attempt(recipe, summary) if resuming else recipe
    while True:
        if not resuming:
            summary.attempts.append(
                {"batch_size": attempt.data.batch_size, "accumulation": attempt.optim.accumulation}
            )
        hooks.attempt, resuming = len(summary.attempts), False
        try:
            train_attempt(attempt, splits, dev, workdir, hooks, emit, say, summary)
        except torch.cuda.OutOfMemoryError as exc:
            summary.end(TrialStatus.OOM, f"CUDA out of memory: {exc}".splitlines()[0])
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            attempt = _oom_retry(attempt, summary)
            hooks.resume_state = None  # a retry after an OOM starts from scratch
            if attempt is None:
                return
            say(
                f"CUDA OOM; retrying at batch {attempt.data.batch_size} "
                f"x accumulation {attempt.optim.accumulation}"
            )
            continue
        if summary.status in SUCCESS_STATUSES:
            summary.error = None  # an OOM before a successful retry is not the outcome
        return


def _resumed_attempt(recipe: Recipe, summary: TrialSummary) -> Recipe:
    """The recipe of the attempt a resumed trial was in (an OOM retry has its own batching)."""
    last = summary.attempts[-1]
    return apply_overrides(
        recipe,
        {"data.batch_size": last["batch_size"], "optim.accumulation": last["accumulation"]},
        source="resumed attempt",
    )


def _oom_retry(attempt: Recipe, summary: TrialSummary) -> Recipe | None:
    """Half the batch at twice the accumulation, once, when allowed; else ``None``."""
    can_retry = attempt.memory.oom_retry and len(summary.attempts) == 1
    if not can_retry or attempt.data.batch_size < 2:
        return None
    return apply_overrides(
        attempt,
        {
            "data.batch_size": attempt.data.batch_size // 2,
            "optim.accumulation": attempt.optim.accumulation * 2,
        },
        source="oom retry",
    )
