"""Live progress of a search in the terminal, and tables kept up to date as trials end."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.tune import Callback
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness._searcher import classify
from harness._tables import TrialRecord, best_row, build_tables, write_tables

__all__ = ["SearchProgress"]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    return str(value)


class SearchProgress(Callback):
    """Counts running / completed / pruned / failed trials, shows the best so far with its
    parameters and an ETA, and rewrites ``trials.parquet`` / ``curves.parquet`` after trials end
    (so an interrupted search keeps everything that finished).

    The tables are rewritten at most once every ``write_interval_s`` (pending ends are flushed at
    the next step of Tune's loop after that, and when the experiment ends): rebuilding them costs
    time in proportion to the trials so far, and doing it at every trial end made long searches
    quadratic. The counts and the best trial are kept up to date one finished trial at a time.

    Args:
        directory: the experiment (stage) directory where the tables go.
        total: trials planned for this stage.
        metric, mode, max_epochs: what is optimised and the scheduler's budget.
        console: where to draw; ``None`` draws nothing (tests, non-interactive runs).
        title: shown above the counts.
    """

    def __init__(
        self,
        directory: Path,
        total: int,
        metric: str,
        mode: str,
        max_epochs: int,
        console: Console | None,
        title: str = "search",
        on_write: Callable[[], None] | None = None,
        show_best: bool = True,
        write_interval_s: float = 1.0,
    ) -> None:
        self.directory = directory
        self.total = total
        self.metric, self.mode, self.max_epochs = metric, mode, max_epochs
        self.console = console
        self.title = title
        self.records: dict[str, TrialRecord] = {}
        self.done: set[str] = set()
        self.started = time.monotonic()
        self._live: Live | None = None
        self._on_write = on_write
        self.show_best = show_best
        self.write_interval_s = write_interval_s
        self._pending = False
        self._last_write = 0.0
        self._status: dict[str, str] = {}  # finished trials' statuses
        self._best: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the run config (with its callbacks) into the experiment directory; the
        # terminal is not part of the state, a resumed search attaches a new display.
        state = self.__dict__.copy()
        state.update(console=None, _live=None, _on_write=None)
        return state

    # --------------------------------------------------------------------- ray callback hooks

    def setup(self, **info: Any) -> None:
        if self.console is not None and self._live is None:
            self._live = Live(self._render(), console=self.console, refresh_per_second=2)
            self._live.start()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.records.setdefault(trial.trial_id, TrialRecord(trial.trial_id, dict(trial.config)))
        self._refresh()

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        rec = self.records.setdefault(
            trial.trial_id, TrialRecord(trial.trial_id, dict(trial.config))
        )
        rec.results.append(dict(result))
        self._refresh()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finished(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        rec = self.records.setdefault(
            trial.trial_id, TrialRecord(trial.trial_id, dict(trial.config))
        )
        rec.error = "error (see the trial's error.txt)"
        self._finished(trial.trial_id)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self._pending and time.monotonic() - self._last_write >= self.write_interval_s:
            self.write()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self._pending:
            self.write()
        self.stop()

    # ------------------------------------------------------------------------------ helpers

    def _finished(self, trial_id: str) -> None:
        self.done.add(trial_id)
        rec = self.records.get(trial_id) or TrialRecord(trial_id, {})
        rec.done = True
        self._status[trial_id] = classify(
            rec.results[-1] if rec.results else None, self.max_epochs, rec.error is not None
        )
        one, _ = build_tables([rec], self.metric, self.mode, self.max_epochs)
        row = best_row(one, self.metric, self.mode)
        if row is not None and self._status[trial_id] in ("completed", "early_stopped"):
            column = f"final.{self.metric}"
            better = self._best is None or (
                row[column] > self._best[column]
                if self.mode == "max"
                else row[column] < self._best[column]
            )
            if better:
                self._best = row
        self._pending = True
        if time.monotonic() - self._last_write >= self.write_interval_s:
            self.write()
        else:
            self._refresh()

    def write(self) -> None:
        """Rewrite the tables from what this driver has seen."""
        self._pending = False
        self._last_write = time.monotonic()
        for tid, rec in self.records.items():
            rec.done = tid in self.done
        trials, curves = build_tables(
            self.records.values(), self.metric, self.mode, self.max_epochs
        )
        write_tables(self.directory, trials, curves)
        if self._on_write is not None:
            self._on_write()
        self._refresh()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None
            if self.console is not None and not self.console.is_terminal:
                self.console.print()  # in a log, Live's last frame ends without a newline

    def counts(self) -> dict[str, int]:
        counts = {"running": len(self.records) - len(self.done), "completed": 0, "pruned": 0}
        counts["failed"] = 0
        for status in self._status.values():
            if status in ("completed", "early_stopped"):
                counts["completed"] += 1
            elif status == "pruned":
                counts["pruned"] += 1
            else:
                counts["failed"] += 1
        return counts

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Group:
        counts = self.counts()
        finished = len(self.done)
        elapsed = time.monotonic() - self.started
        eta = "?"
        if finished:
            remaining = max(0, self.total - finished)
            eta = f"{remaining * elapsed / finished:.0f} s"
        head = Text(
            f"{self.title}: {finished}/{self.total} trials done | running {counts['running']} "
            f"| completed {counts['completed']} | pruned {counts['pruned']} "
            f"| failed {counts['failed']} | elapsed {elapsed:.0f} s | ETA {eta}"
        )
        best = self._best
        if best is None or not self.show_best:
            return Group(head)
        table = Table(title=f"best so far: {self.metric} = {_fmt(best[f'final.{self.metric}'])}")
        table.add_column("parameter")
        table.add_column("value", justify="right")
        params = [k for k in best if "." in k and not k.startswith(("final.", "best.", "raw."))]
        for key in params:
            table.add_row(key, _fmt(best[key]))
        return Group(head, table)
