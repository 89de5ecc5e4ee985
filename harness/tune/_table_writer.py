"""Persistence: the callback that keeps ``trials.parquet`` and ``curves.parquet`` up to date."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from ray.tune import Callback

from harness.tune._tables import (
    TrialRecord,
    build_tables,
    error_line,
    record_of,
    write_tables,
)

__all__ = ["TableWriter"]


class TableWriter(Callback):
    """Records every trial's reports and rewrites the tables after trials end, so an
    interrupted run keeps everything that finished.

    The tables are rewritten at most once every ``write_interval_s`` (pending ends are flushed
    at the next step of Tune's loop after that, and when the experiment ends): rebuilding them
    costs time in proportion to the trials so far, and doing it at every trial end made long
    searches quadratic. The first end is written at once.

    Args:
        directory: the experiment directory where the tables go.
        metric, mode, max_epochs: what is optimised and the scheduler's budget.
        on_write: called after each write (an ablation derives ``cells.parquet`` there).
        write_interval_s: the least time between two writes.
        clock: a monotonic clock in seconds (tests give their own).
    """

    def __init__(
        self,
        directory: Path,
        metric: str,
        mode: str,
        max_epochs: int,
        *,
        on_write: Callable[[], None] | None = None,
        write_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = Path(directory)
        self.metric, self.mode, self.max_epochs = metric, mode, max_epochs
        self.records: dict[str, TrialRecord] = {}
        self.write_interval_s = write_interval_s
        self._on_write = on_write
        self._clock = clock
        self._pending = False
        # None, not 0.0: a monotonic clock starts near boot, so "0.0 seconds ago" may not be
        # long enough ago on a machine that booted a moment before
        self._last_write: float | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the run config (with its callbacks) into the experiment directory.
        state = self.__dict__.copy()
        state.update(_on_write=None, _clock=time.monotonic)
        return state

    def _record(self, trial: Any) -> TrialRecord:
        return record_of(self.records, trial)

    # --------------------------------------------------------------------- ray callback hooks

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial)

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        self._record(trial).results.append(dict(result))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finished(self._record(trial))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        rec = self._record(trial)
        # the exception Ray's ResultGrid gives too, so both builds word the error alike
        rec.error = error_line(trial.get_pickled_error() or trial.get_error())
        self._finished(rec)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self._pending and self._due():
            self.write()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self._pending:
            self.write()

    # ------------------------------------------------------------------------------ helpers

    def _due(self) -> bool:
        return self._last_write is None or self._clock() - self._last_write >= self.write_interval_s

    def _finished(self, rec: TrialRecord) -> None:
        rec.done = True
        self._pending = True
        if self._due():
            self.write()

    def write(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Rewrite the tables from the records; return them (trials, curves)."""
        self._pending = False
        self._last_write = self._clock()
        trials, curves = build_tables(
            self.records.values(), self.metric, self.mode, self.max_epochs
        )
        write_tables(self.directory, trials, curves)
        if self._on_write is not None:
            self._on_write()
        return trials, curves

    def seed(self, records: Iterable[TrialRecord]) -> None:
        """Start from the trials an earlier driver recorded (a restored run), so a write during
        the resumed run keeps them; the events of this run then add to them."""
        for rec in records:
            if rec.done:  # unfinished ones (some not even started) come back through the events
                self.records.setdefault(rec.trial_id, rec)

    def finish(self, records: Iterable[TrialRecord]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Write the final tables: ``records`` (from Ray's ``ResultGrid``, which also holds the
        trials an earlier driver finished before a ``--resume``) replace what the events said."""
        # the final tables list trials in Ray's order (the order they were created: the base
        # configuration first), then any the events saw that the grid does not hold
        final = {rec.trial_id: rec for rec in records}
        final.update({k: v for k, v in self.records.items() if k not in final})
        self.records = final
        return self.write()
