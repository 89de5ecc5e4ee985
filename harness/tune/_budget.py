"""A compute budget a user thinks in: epochs, or trial-hours, counted from the trials' reports.

The cost of a search is what its trials train, and ASHA decides how long each trains; so a budget
in trials says little, one in epochs or hours says what a user pays. :class:`Budget` is such a
limit; :class:`BudgetLedger` counts what an experiment has spent, as the tables count it:

- one epoch per epoch a trial reports, by the rule the tables use
  (:meth:`harness.tune.TrialRecord.epochs`): the final status record the trainable sends after
  the function returns repeats the last epoch (or carries it, held back) and is not counted
  twice, nor is an epoch a restarted trial reports a second time (``curves.parquet`` has one
  row per trial and epoch: the epochs spent are its rows);
- a trial's run time as Ray measures it (``time_total_s``: the sum of its ``time_this_iter_s``,
  the trial's own time, not the driver's wall clock); the trials table's ``wall_time_s`` is the
  same number.

Ray-free: the command line checks a budget before Ray starts. The stopper that enforces one is
:class:`harness.tune._stopper.BudgetStopper`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.tune._rundir import param_error

__all__ = ["BUDGET_FILE", "Budget", "BudgetLedger", "spent_in_tables"]

#: the budget record of an experiment directory (limits, what was spent, what was stopped)
BUDGET_FILE = "budget.json"


def _epochs(trial_id: str, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The epoch reports among ``results``, one per epoch, as the tables count them."""
    from harness.tune._tables import TrialRecord  # imports ray: only the engine counts

    return TrialRecord(trial_id, {}, results).epochs()


def _is_report(result: Mapping[str, Any]) -> bool:
    """Whether ``result`` is a report of the harness's trainable (each carries the trial's
    status), not the empty result Ray keeps for a trial stopped before it reported."""
    from harness.tune._searcher import STATUS_KEY

    return STATUS_KEY in result


@dataclass(frozen=True)
class Budget:
    """A limit on what an experiment's trials may train, in epochs and/or trial-hours.

    Attributes:
        epochs: epochs of all trials together (``--budget-epochs``), or ``None``.
        hours: the trials' own run time together, in hours (``--budget-hours``), or ``None``.

    Raises:
        ConfigError: a limit that is not positive (epochs: a whole number >= 1).
    """

    epochs: int | None = None
    hours: float | None = None

    def __post_init__(self) -> None:
        problems, params = [], []
        e, h = self.epochs, self.hours
        if e is not None and (isinstance(e, bool) or not isinstance(e, int) or e < 1):
            problems.append(f"budget_epochs must be a whole number of epochs >= 1, got {e!r}")
            params.append("budget_epochs")
        if h is not None and (
            isinstance(h, bool) or not isinstance(h, int | float) or not math.isfinite(h) or h <= 0
        ):
            problems.append(f"budget_hours must be a positive number of hours, got {h!r}")
            params.append("budget_hours")
        if problems:
            raise param_error("; ".join(problems), *params)

    @classmethod
    def of(cls, epochs: int | None, hours: float | None) -> Budget | None:
        """The budget of these limits, or ``None`` when neither is given."""
        return None if epochs is None and hours is None else cls(epochs, hours)

    def to_dict(self) -> dict[str, Any]:
        """The limits, for ``spec.json`` and ``budget.json``."""
        return {"epochs": self.epochs, "hours": self.hours}

    def describe(self) -> str:
        """``"40 epochs"``, ``"2 trial-hours"`` or both."""
        parts = []
        if self.epochs is not None:
            parts.append(f"{self.epochs} epochs")
        if self.hours is not None:
            parts.append(f"{self.hours:g} trial-hours")
        return " and ".join(parts)


def spent_in_tables(trials: Any, curves: Any) -> tuple[int, float]:
    """``(epochs, hours)`` an experiment spent, from its tables: the rows of ``curves.parquet``
    and the sum of the trials' ``wall_time_s`` (for stages a plan finished earlier)."""
    epochs = 0 if curves is None or curves.empty else len(curves)
    seconds = 0.0
    if trials is not None and not trials.empty and "wall_time_s" in trials:
        seconds = float(trials["wall_time_s"].fillna(0.0).sum())
    return epochs, seconds / 3600.0


class BudgetLedger:
    """What an experiment has spent of its :class:`Budget`, kept up to date from each report.

    Args:
        budget: the limit.
        max_epochs: a trial's full length (a trial that reported it was not stopped early).
    """

    def __init__(self, budget: Budget, max_epochs: int) -> None:
        self.budget = budget
        self.max_epochs = max_epochs
        self._results: dict[str, list[dict[str, Any]]] = {}
        self._epochs: dict[str, list[int]] = {}  # trial id -> the epochs it reported
        self._seconds: dict[str, float] = {}
        # set when the budget runs out during the run: the trial whose report spent the last of
        # it, and the trials still running then (trial id -> the last epoch each reported)
        self.exhausted_by: str | None = None
        self.stopped: dict[str, int] | None = None
        self.ran_out = False  # the budget was spent at some point (it stays spent)
        self.stopped_before: dict[str, int] = {}  # what earlier drivers' budget.json listed

    # ------------------------------------------------------------------------------ counting

    def add(self, trial_id: str, result: Mapping[str, Any]) -> bool:
        """Count one report of ``trial_id``; return whether the budget is spent."""
        if not _is_report(result):
            return self.exhausted
        results = self._results.setdefault(trial_id, [])
        results.append(dict(result))
        self._epochs[trial_id] = [int(r.get("epoch", 0)) for r in _epochs(trial_id, results)]
        total = result.get("time_total_s")
        if isinstance(total, int | float) and math.isfinite(total):
            self._seconds[trial_id] = max(self._seconds.get(trial_id, 0.0), float(total))
        spent = self.exhausted
        if spent and not self.ran_out:
            self.ran_out, self.exhausted_by = True, trial_id
        return spent

    def seed(self, records: Iterable[Any], earlier: Mapping[str, Any] | None = None) -> None:
        """Count what earlier drivers spent (a resumed run): every report of ``records``
        (:class:`harness.tune.TrialRecord`); ``earlier`` is their budget record, whose list of
        stopped trials is kept."""
        self.stopped_before = dict((earlier or {}).get("stopped_trials") or {})
        for rec in records:
            for result in rec.results:
                self.add(rec.trial_id, result)
        self.exhausted_by = None  # spent before this run: no trial of this run spent it

    def reset(self, records: Iterable[Any]) -> None:
        """Count anew from ``records`` alone (the final ones the tables are written from), so
        the record says what the tables say; whether the budget ran out is kept."""
        self._results.clear()
        self._epochs.clear()
        self._seconds.clear()
        ran_out, by = self.ran_out, self.exhausted_by
        for rec in records:
            for result in rec.results:
                self.add(rec.trial_id, result)
        self.ran_out, self.exhausted_by = ran_out or self.ran_out, by

    def note_stopped(self, in_flight: Mapping[str, bool]) -> None:
        """Record the trials the budget stopped: ``{trial id: whether it had finished}`` of
        the trials alive when it ran out (the first call counts)."""
        if self.stopped is None:
            self.stopped = {
                tid: self.epochs_of(tid) for tid, finished in in_flight.items() if not finished
            }

    def epochs_of(self, trial_id: str) -> int:
        """The last epoch ``trial_id`` reported (0: none)."""
        return max(self._epochs.get(trial_id, ()), default=0)

    # ------------------------------------------------------------------------------- state

    @property
    def epochs_used(self) -> int:
        """Epochs reported, one per trial and epoch."""
        return sum(len(e) for e in self._epochs.values())

    @property
    def hours_used(self) -> float:
        """The trials' own run time so far, in hours."""
        return sum(self._seconds.values()) / 3600.0

    @property
    def exhausted(self) -> bool:
        """Whether either limit is reached now (see also ``ran_out``)."""
        b = self.budget
        return (b.epochs is not None and self.epochs_used >= b.epochs) or (
            b.hours is not None and self.hours_used >= b.hours
        )

    def record(self) -> dict[str, Any]:
        """The JSON-able budget record: limits, what was used, whether it ran out, and the
        trials it stopped (trial id -> the last epoch each finished)."""
        return {
            **self.budget.to_dict(),
            "epochs_used": self.epochs_used,
            "hours_used": round(self.hours_used, 6),
            "exhausted": self.ran_out or self.exhausted,
            "stopped_trials": dict(sorted({**self.stopped_before, **(self.stopped or {})}.items())),
        }
