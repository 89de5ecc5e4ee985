"""Where a library call's progress goes: a rich console's bars, or ``logging``.

The API functions take ``console``: the command line passes its own (live bars, coloured
lines); ``None`` (a notebook, a script) sends the same news to ``logging.getLogger(...)`` at
INFO, a progress line at most every :data:`LOG_EVERY_S` seconds per task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["LOG_EVERY_S", "Reporter"]

LOG_EVERY_S = 30.0


@dataclass
class _LoggedTask:
    description: str
    total: float | None
    completed: float = 0.0
    last: float = field(default_factory=time.monotonic)


class _LoggedBars:
    """The interface of ``rich.progress.Progress`` that the API uses, written to a logger."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._tasks: list[_LoggedTask] = []

    def add_task(self, description: str, total: float | None = None) -> int:
        self._tasks.append(_LoggedTask(description.strip(), total))
        return len(self._tasks) - 1

    def update(
        self,
        task_id: int,
        *,
        completed: float | None = None,
        total: float | None = None,
        advance: float | None = None,
        description: str | None = None,
    ) -> None:
        task = self._tasks[task_id]
        if description is not None:
            task.description = description.strip()
        if total is not None:
            task.total = total
        if advance is not None:
            task.completed += advance
        if completed is not None:
            task.completed = completed
        done = task.total is not None and task.completed >= task.total
        now = time.monotonic()
        if done or now - task.last >= LOG_EVERY_S:
            task.last = now
            of = f"/{task.total:g}" if task.total is not None else ""
            self._logger.info("%s: %g%s", task.description, task.completed, of)

    def stop(self) -> None:
        """Nothing to stop (``rich.progress.Progress.stop``'s counterpart)."""


class Reporter:
    """Lines and progress bars of one API call, on ``console`` or through ``logger``.

    Args:
        console: a ``rich.console.Console``; ``None`` for ``logging`` only.
        logger: the calling module's logger.
    """

    def __init__(self, console: Console | None, logger: logging.Logger) -> None:
        self.console = console
        self.logger = logger

    def info(self, message: str, markup: str = "") -> None:
        """A line of news: ``markup`` (rich markup of the same text) on a console, else INFO."""
        if self.console is not None:
            self.console.print(markup or message, markup=bool(markup), highlight=False)
        else:
            self.logger.info("%s", message)

    def warn(self, message: str) -> None:
        """A warning: yellow on a console, else WARNING."""
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text(message, style="yellow"))
        else:
            self.logger.warning("%s", message)

    @contextmanager
    def bars(self, *, transient: bool = False, times: bool = True) -> Iterator[Any]:
        """A ``rich.progress.Progress`` on the console, or its logging stand-in."""
        if self.console is None:
            yield _LoggedBars(self.logger)
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        columns.append(TimeElapsedColumn())
        if times:
            columns += [TextColumn("ETA"), TimeRemainingColumn()]
        with Progress(*columns, console=self.console, transient=transient) as progress:
            yield progress
