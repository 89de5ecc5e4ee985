"""Display: live progress of an experiment in the terminal."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from ray.tune import Callback
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.tune._tables import TrialRecord, best_row, build_tables, record_of
from search_spaces import SUCCESS_STATUSES, TrialStatus

__all__ = ["SearchProgress"]

logger = logging.getLogger(__name__)

#: seconds between two progress lines when there is no live terminal (Ray Tune's own reporter
#: prints one every 30 s in that case too)
LINE_INTERVAL_S = 30.0


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    return str(value)


class SearchProgress(Callback):
    """Counts running / completed / pruned / failed trials and shows the best so far with its
    parameters and an ETA. It writes nothing (:class:`harness.tune.TableWriter` does).

    The counts and the best trial are kept up to date one finished trial at a time. On a
    terminal they are drawn live; written to a file or a pipe (CI logs, ``nohup``, a scheduler's
    log), or with no console at all (a notebook, a script: through :mod:`logging`), they are one
    line at most and at least every ``interval_s`` seconds while the experiment runs, and one at
    its end.

    Args:
        total: trials planned for this experiment.
        metric, mode, max_epochs: what is optimised and the scheduler's budget.
        console: where to draw; ``None`` writes the progress lines to this module's logger.
        title: shown above the counts.
        show_best: draw the best configuration so far (not for ablation cells, which are not
            competing configurations).
        interval_s: seconds between two progress lines without a live terminal.
        clock: the monotonic clock those seconds are read from.
    """

    def __init__(
        self,
        total: int,
        metric: str,
        mode: str,
        max_epochs: int,
        console: Console | None,
        title: str = "search",
        show_best: bool = True,
        interval_s: float = LINE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.interval_s = interval_s
        self._clock = clock
        self._last_line = clock()
        self.metric, self.mode, self.max_epochs = metric, mode, max_epochs
        self.console = console
        self.title = title
        self.show_best = show_best
        self.started = self._clock()
        self._stopped = False
        self._live: Live | None = None
        self._records: dict[str, TrialRecord] = {}
        self._status: dict[str, TrialStatus] = {}  # finished trials' statuses
        self._best: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the run config (with its callbacks) into the experiment directory; the
        # terminal is not part of the state, a resumed run attaches a new display.
        state = self.__dict__.copy()
        state.update(console=None, _live=None)
        return state

    # --------------------------------------------------------------------- ray callback hooks

    def setup(self, **info: Any) -> None:
        self._last_line = self._clock()
        if self._live_terminal() and self._live is None:
            self._live = Live(self._render(), console=self.console, refresh_per_second=2)
            self._live.start()

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        # Tune's loop calls this many times a second: the clock decides when a line is due
        if self._live is None and self._clock() - self._last_line >= self.interval_s:
            self._line()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial)
        self._refresh()

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        self._record(trial).results.append(dict(result))
        self._refresh()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finished(self._record(trial))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        rec = self._record(trial)
        rec.error = "error"
        self._finished(rec)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ helpers

    def _record(self, trial: Any) -> TrialRecord:
        return record_of(self._records, trial)

    def _finished(self, rec: TrialRecord) -> None:
        rec.done = True
        status = rec.status(self.max_epochs)
        self._status[rec.trial_id] = status
        if status in SUCCESS_STATUSES:
            one, _ = build_tables([rec], self.metric, self.mode, self.max_epochs)
            row = best_row(one, self.metric, self.mode)
            column = f"final.{self.metric}"
            if row is not None and not math.isnan(row[column]) and self._better(row[column]):
                self._best = row
        # a finished trial's reports are no longer needed for the display
        rec.results = rec.results[-1:]
        self._refresh()

    def _better(self, value: float) -> bool:
        if self._best is None:
            return True
        best = self._best[f"final.{self.metric}"]
        return value > best if self.mode == "max" else value < best

    def _live_terminal(self) -> bool:
        return self.console is not None and self.console.is_terminal

    def _line(self) -> None:
        """One progress line (counts, time, ETA and the best so far) to a log or a pipe."""
        self._last_line = self._clock()
        line = self._head()
        if self._best is not None and self.show_best:
            line += f" | best {self.metric} = {_fmt(self._best[f'final.{self.metric}'])}"
        if self.console is not None:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            logger.info(line)

    def stop(self) -> None:
        """Draw the last frame and release the terminal."""
        if self._live is None and self._status and not self._stopped:
            self._line()  # the final counts, in a log
        self._stopped = True
        if self._live is not None:
            # in a log the last frame is what stays: the counts only, the command prints the
            # best configuration itself right after
            terminal = self.console is not None and self.console.is_terminal
            self._live.update(self._render(with_best=terminal))
            self._live.stop()
            self._live = None
            if self.console is not None and not self.console.is_terminal:
                self.console.print()  # in a log, Live's last frame ends without a newline

    def counts(self) -> dict[str, int]:
        """Trials running, completed (or early-stopped), pruned and failed so far."""
        counts = {"running": len(self._records) - len(self._status), "completed": 0}
        counts.update(pruned=0, failed=0)
        for status in self._status.values():
            if status in SUCCESS_STATUSES:
                counts["completed"] += 1
            elif status == TrialStatus.PRUNED:
                counts["pruned"] += 1
            else:
                counts["failed"] += 1
        return counts

    @property
    def best(self) -> dict[str, Any] | None:
        """The best finished trial so far (a table row), or ``None``."""
        return self._best

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _head(self) -> str:
        counts = self.counts()
        finished = len(self._status)
        elapsed = self._clock() - self.started
        eta = "?"
        if finished:
            remaining = max(0, self.total - finished)
            eta = f"{remaining * elapsed / finished:.0f} s"
        # one line under 80 columns, so it does not wrap in a narrow terminal
        return (
            f"{self.title} {finished}/{self.total} | {counts['running']} running, "
            f"{counts['completed']} ok, {counts['pruned']} pruned, {counts['failed']} failed "
            f"| {elapsed:.0f} s, ETA {eta}"
        )

    def _render(self, with_best: bool = True) -> Group:
        head = Text(self._head())
        best = self._best
        if best is None or not self.show_best or not with_best:
            return Group(head)
        table = Table(title=f"best so far: {self.metric} = {_fmt(best[f'final.{self.metric}'])}")
        table.add_column("parameter", no_wrap=True)
        table.add_column("value", justify="right", no_wrap=True)
        params = [k for k in best if "." in k and not k.startswith(("final.", "best.", "raw."))]
        for key in params:
            table.add_row(key, _fmt(best[key]))
        return Group(head, table)
