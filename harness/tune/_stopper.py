"""The stoppers of an experiment: a trainable that does not report the searched metric, and a
compute budget that is spent (:mod:`harness.tune._budget`).

Every run of :func:`harness.tune.run_experiment` has one :class:`ExperimentStopper`. Ray pickles
it into the experiment directory with the run config (``tuner.pkl``) and ``Tuner.restore`` gives
that old copy back; a resumed run must use its own (whose budget counts what the earlier
drivers spent), so the stopper pickles as a reference to the one the running engine installed
(:func:`installed`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ray import tune
from ray.tune.stopper import NoopStopper

from harness.tune._budget import BudgetLedger
from harness.tune._rundir import param_error
from harness.tune._searcher import STATUS_KEY
from harness.tune._trainable import MISSING_METRIC_KEY
from search_spaces import ConfigError, TrialStatus

__all__ = [
    "BudgetStopper",
    "BudgetWatch",
    "ExperimentStopper",
    "MissingMetricStopper",
    "installed",
]


class MissingMetricStopper(tune.Stopper):
    """Ends the whole experiment at the first epoch report that lacks the searched metric (a
    ``--trainable`` that reports other names): every trial would run for nothing, and the
    scheduler and searcher would see only NaN.

    Args:
        metric: the metric the experiment optimises.
    """

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.reported: str | None = None

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        missing = result.get(MISSING_METRIC_KEY)
        if missing is not None and self.reported is None:
            self.reported = str(missing)
        return self.reported is not None

    def stop_all(self) -> bool:
        return self.reported is not None

    def error(self) -> ConfigError | None:
        """The error to raise once the run has ended, or ``None``."""
        if self.reported is None:
            return None
        return param_error(
            f"metric {self.metric!r}: the trainable does not report it; its first report "
            f"held: {self.reported}. Give one of these as metric (and its mode)",
            "metric",
            "mode",
        )


class BudgetStopper(tune.Stopper):
    """Counts every report into a :class:`BudgetLedger`; once the budget is spent it stops the
    trial whose report spent it and, through ``stop_all``, the whole experiment: Ray then marks
    the searcher finished (no trial is proposed any more) and stops every live trial at once,
    mid-epoch. So the budget is exceeded by at most the unfinished epoch of each trial in
    flight, and that epoch is neither reported nor counted.
    """

    def __init__(self, ledger: BudgetLedger) -> None:
        self.ledger = ledger

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return self.ledger.add(trial_id, result)

    def stop_all(self) -> bool:
        return self.ledger.exhausted


class BudgetWatch(tune.Callback):
    """Notes which trials were alive when the budget ran out (Ray's ``stop_all`` does not tell
    the searcher or the callbacks about the trials it stops, so the engine does it after the
    run from this list). Ray consults the stoppers just before the callbacks, with the trials'
    states not yet changed by the stop."""

    _LIVE = ("PENDING", "RUNNING", "PAUSED")

    def __init__(self, ledger: BudgetLedger) -> None:
        self.ledger = ledger

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        if not self.ledger.exhausted or self.ledger.stopped is not None:
            return
        finished = (
            result.get(STATUS_KEY, TrialStatus.RUNNING) != TrialStatus.RUNNING
            or int(result.get("epoch", 0)) >= self.ledger.max_epochs
        )
        self.ledger.note_stopped(
            {
                t.trial_id: (t.trial_id == trial.trial_id and finished)
                for t in trials
                if t.status in self._LIVE
            }
        )


class ExperimentStopper(tune.Stopper):
    """Several stoppers, each consulted on every report (unlike Ray's ``CombinedStopper``, which
    stops at the first that says stop: a budget must still count the report), pickled as a
    reference to the stopper :func:`installed` in this process."""

    def __init__(self, *stoppers: tune.Stopper) -> None:
        self.stoppers = stoppers

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        decisions = [stopper(trial_id, result) for stopper in self.stoppers]
        return any(decisions)

    def stop_all(self) -> bool:
        return any([stopper.stop_all() for stopper in self.stoppers])

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_installed_stopper, ())


_INSTALLED: list[tune.Stopper] = []


def _installed_stopper() -> tune.Stopper:
    """What an :class:`ExperimentStopper` unpickles to: the installed one (a run being restored)
    or, outside a run, a stopper that stops nothing."""
    return _INSTALLED[-1] if _INSTALLED else NoopStopper()


@contextlib.contextmanager
def installed(stopper: ExperimentStopper) -> Iterator[ExperimentStopper]:
    """Make ``stopper`` the one a pickled :class:`ExperimentStopper` stands for, for the time
    of a run (``Tuner.restore`` unpickles it, ``fit`` uses it)."""
    _INSTALLED.append(stopper)
    try:
        yield stopper
    finally:
        _INSTALLED.remove(stopper)
