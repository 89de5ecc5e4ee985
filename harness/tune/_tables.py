"""Trial and curve tables of an experiment: ``trials.parquet`` and ``curves.parquet``.

One row per trial (effective parameters by dotted path, objective parameters by their names,
raw Optuna parameters, status, epochs reached, final and best metrics, peak memory, time, node,
and what the trainable's returned summary adds) and one row per trial and epoch (its metrics,
``timestamp``: the Unix time in seconds at which the epoch was reported, and ``time_total_s``:
the seconds the trial had run by then, Ray's count).

The summary a trainable returns reaches the trial's row (see :mod:`harness.tune._trainable`): its
final metrics fill the ``final.<metric>`` columns the last epoch does not have (the last epoch's
own values win: they are what the scheduler and the searcher saw), and its other scalar fields
become columns of their own name (``n_params``, ``device``, anything a trainable returns) unless
the table already has that column; ``peak_memory_bytes`` and ``images_per_s`` are the summary's
when it gives them. Nested values other than ``final`` and lists are left out.

A :class:`TrialRecord` is everything known of one trial; :func:`build_tables` is the one place
that turns records into rows. Records come from Ray's callback events while a run goes on
(:class:`harness.tune.TableWriter`) and from Ray's ``ResultGrid`` when it ends
(:func:`records_from_result_grid`); both word a trial's error with :func:`error_line`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ray.tune.result import AUTO_RESULT_KEYS, DONE, SHOULD_CHECKPOINT, TRIAL_ID

from harness.tune._ray_compat import result_grid_trial_states
from harness.tune._searcher import STATUS_KEY, classify
from harness.tune._trainable import (
    HELD_EPOCH_KEY,
    MISSING_METRIC_KEY,
    RAW_MARK,
    REPORT_TIME_KEY,
    SUMMARY_PREFIX,
)
from search_spaces import SUCCESS_STATUSES, TrialStatus

__all__ = [
    "TrialRecord",
    "best_row",
    "build_tables",
    "error_line",
    "record_of",
    "records_from_result_grid",
    "write_tables",
]

# Keys of a report that are bookkeeping, not metrics: what Ray adds to every result, and the
# status, error text, node and attempt count the harness's trainable adds to its final record.
_NOT_METRICS = frozenset(
    {
        *AUTO_RESULT_KEYS,
        DONE,
        TRIAL_ID,
        SHOULD_CHECKPOINT,
        "checkpoint_dir_name",
        "error",
        "node_id",
        "attempts",
        STATUS_KEY,
        REPORT_TIME_KEY,
        HELD_EPOCH_KEY,
        MISSING_METRIC_KEY,
    }
)
_COSTS = ("peak_memory_bytes", "wall_time_s", "images_per_s")
# Ray's bookkeeping that curves.parquet keeps per epoch, so that epochs of parallel trials can be
# ordered (analysis/render/_anytime.py reads them)
TIMESTAMP, TIME_TOTAL = "timestamp", "time_total_s"


def _held(record: Mapping[str, Any]) -> bool:
    """Whether a final record carries the last epoch's report too (a NaN in a table is not)."""
    value = record.get(HELD_EPOCH_KEY)
    return isinstance(value, bool | np.bool_) and bool(value)


def _summary_get(summary: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """A summary field from a final record: sent under :data:`SUMMARY_PREFIX`, or at the top
    level (records written before the prefix, the ablation's inline runner)."""
    return summary.get(f"{SUMMARY_PREFIX}{key}", summary.get(key, default))


@dataclass
class TrialRecord:
    """Everything known of one trial.

    Attributes:
        trial_id: Ray's id.
        config: the trial's config (effective recipe values by dotted path, raw parameters).
        results: its reports in order: one per epoch (status ``running``), then the final
            record its trainable sends with how it ended (which carries the last epoch's report
            too when the trial reached its last epoch: ``HELD_EPOCH_KEY``).
        error: one line saying why the trial errored (:func:`error_line`), else ``None``.
        done: ``False`` while the trial runs or when an interruption left it unfinished.
    """

    trial_id: str
    config: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    done: bool = True

    def epochs(self) -> list[dict[str, Any]]:
        """One report per epoch, the last one, in epoch order.

        A trial restored from its checkpoint (its node died, or the driver was killed before
        Ray's snapshot recorded the newest checkpoint) runs the epochs after that checkpoint
        again and reports them a second time; the table keeps the run the trial continued from.
        """
        by_epoch: dict[int, dict[str, Any]] = {}
        for r in self.results:
            if r.get(STATUS_KEY, TrialStatus.RUNNING) == TrialStatus.RUNNING or _held(r):
                by_epoch[int(r.get("epoch", 0))] = r
        return [by_epoch[e] for e in sorted(by_epoch)]

    def summary(self) -> dict[str, Any]:
        """The trainable's final record (empty when the trial sent none)."""
        last = self.results[-1] if self.results else {}
        final = last.get(STATUS_KEY, TrialStatus.RUNNING) != TrialStatus.RUNNING or _held(last)
        return last if final else {}

    def status(self, max_epochs: int) -> TrialStatus:
        """How the trial ended (:func:`harness.tune.classify`; for a trial whose last epoch came
        with its summary, the status the trainable returned), or ``running``."""
        if not self.done:
            return TrialStatus.RUNNING
        last = self.results[-1] if self.results else None
        if last is not None and _held(last) and self.error is None:
            returned = last.get(f"{SUMMARY_PREFIX}status")
            if returned in {str(s) for s in TrialStatus}:
                return TrialStatus(returned)
        return classify(last, max_epochs, errored=self.error is not None)


def record_of(records: dict[str, TrialRecord], trial: Any) -> TrialRecord:
    """The record of a Ray ``Trial`` in ``records``, made (unfinished) on first sight."""
    rec = records.get(trial.trial_id)
    if rec is None:
        rec = TrialRecord(trial.trial_id, dict(trial.config), done=False)
        records[trial.trial_id] = rec
    return rec


def error_line(error: Any) -> str:
    """The first line of an error, at most 500 characters: how the tables word every error."""
    return str(error).strip().splitlines()[0][:500] if str(error).strip() else "error"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_metric(key: str, value: Any) -> bool:
    return (
        key not in _NOT_METRICS
        and key != "epoch"
        and not key.startswith(("config/", SUMMARY_PREFIX))
        and _is_number(value)
    )


def _number_or_nan(value: Any) -> float:
    return float(value) if _is_number(value) else math.nan


def _curve_rows(rec: TrialRecord, epochs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in epochs:
        row = {"trial_id": rec.trial_id, "epoch": int(r.get("epoch", 0))}
        row.update({k: v for k, v in r.items() if _is_metric(k, v)})
        # the trainable's own report time (sub-second), else Ray's (whole seconds)
        reported = _number_or_nan(r.get(REPORT_TIME_KEY))
        row[TIMESTAMP] = reported if not math.isnan(reported) else _number_or_nan(r.get(TIMESTAMP))
        row[TIME_TOTAL] = _number_or_nan(r.get(TIME_TOTAL))
        rows.append(row)
    return rows


def _metric_columns(epochs: list[dict[str, Any]], metric: str, mode: str) -> dict[str, Any]:
    """``final.<metric>``, ``best.<metric>``, ``best_epoch`` and every other final metric."""
    final = epochs[-1] if epochs else {}
    row: dict[str, Any] = {f"final.{metric}": final.get(metric, math.nan)}
    values = [r.get(metric) for r in epochs if _is_number(r.get(metric))]
    values = [v for v in values if not math.isnan(v)]
    if values:
        best = max(values) if mode == "max" else min(values)
        row[f"best.{metric}"] = best
        row["best_epoch"] = next(int(r["epoch"]) for r in epochs if r.get(metric) == best)
    else:
        row[f"best.{metric}"], row["best_epoch"] = math.nan, math.nan
    for key, value in final.items():
        if key != metric and _is_metric(key, value):
            row[f"final.{key}"] = value
    return row


def _cost_columns(rec: TrialRecord, epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak memory, time, images/s, node and attempts."""
    summary = rec.summary()
    last = rec.results[-1] if rec.results else {}
    final = epochs[-1] if epochs else {}
    peaks = [r.get("memory_peak_bytes") for r in epochs if _is_number(r.get("memory_peak_bytes"))]
    # the node of the trial's last report: where it ended after any restart elsewhere
    nodes = [r.get("node_id") for r in rec.results if isinstance(r.get("node_id"), str)]
    # from the final record, or from the epochs when the scheduler stopped the trial at max_t
    # before it could send one
    counts = [summary.get("attempts")] + [r.get("attempt") for r in epochs]
    counts = [int(c) for c in counts if _is_number(c) and not math.isnan(c)]
    return {
        "peak_memory_bytes": _summary_get(
            summary, "peak_memory_bytes", max(peaks) if peaks else math.nan
        ),
        "wall_time_s": last.get("time_total_s", math.nan),
        "images_per_s": _summary_get(summary, "images_per_s", final.get("images_per_s", math.nan)),
        "node_ip": last.get("node_ip"),
        "node_id": nodes[-1] if nodes else None,
        "attempts": max(counts, default=1),
        "error": rec.error or (summary.get("error") or None),
    }


def _trial_row(rec: TrialRecord, metric: str, mode: str, max_epochs: int) -> dict[str, Any]:
    epochs = rec.epochs()
    row: dict[str, Any] = {"trial_id": rec.trial_id, "status": str(rec.status(max_epochs))}
    row.update({k: v for k, v in rec.config.items() if RAW_MARK not in k})
    row.update({f"raw.{k}": v for k, v in rec.config.items() if RAW_MARK in k})
    row["epochs"] = max((int(r.get("epoch", 0)) for r in epochs), default=0)
    row.update(_metric_columns(epochs, metric, mode))
    row.update(_cost_columns(rec, epochs))
    for key, value in _summary_columns(rec.summary()).items():
        row.setdefault(key, value)  # the table's own columns win
    return row


def _summary_columns(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The columns the trainable's returned summary adds (module docstring)."""
    out = {}
    for key, value in summary.items():
        if not isinstance(key, str) or not key.startswith(SUMMARY_PREFIX):
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue  # a field this trial's summary did not have (a NaN of Ray's table)
        out[key[len(SUMMARY_PREFIX) :]] = value
    return out


def build_tables(
    records: Iterable[TrialRecord], metric: str, mode: str, max_epochs: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trials, curves) data frames from trial records: the one place that makes rows."""
    trial_rows, curve_rows = [], []
    for rec in records:
        trial_rows.append(_trial_row(rec, metric, mode, max_epochs))
        curve_rows.extend(_curve_rows(rec, rec.epochs()))
    return pd.DataFrame(trial_rows), pd.DataFrame(curve_rows)


def records_from_result_grid(grid: Any) -> list[TrialRecord]:
    """Trial records from a Ray Tune ``ResultGrid`` (also after ``Tuner.restore``)."""
    states = result_grid_trial_states(grid)
    records = []
    for result in grid:
        frame = result.metrics_dataframe
        results = frame.to_dict("records") if frame is not None and not frame.empty else []
        if not results and result.metrics:
            results = [dict(result.metrics)]
        trial_id = str((result.metrics or {}).get(TRIAL_ID) or Path(result.path).name)
        error = None if result.error is None else error_line(result.error)
        done = states.get(trial_id, "TERMINATED") in ("TERMINATED", "ERROR")
        records.append(TrialRecord(trial_id, dict(result.config or {}), results, error, done))
    return records


def write_tables(directory: Path, trials: pd.DataFrame, curves: pd.DataFrame) -> None:
    """Write both tables atomically (temporary file, then rename)."""
    for name, frame in (("trials.parquet", trials), ("curves.parquet", curves)):
        tmp = directory / f".{name}.tmp"
        frame.to_parquet(tmp, index=False)
        tmp.replace(directory / name)


def best_row(trials: pd.DataFrame, metric: str, mode: str) -> Mapping[str, Any] | None:
    """The best trial that ran to completion (or, failing that, any trial with a value)."""
    column = f"final.{metric}"
    if trials.empty or column not in trials:
        return None
    done = trials[trials["status"].isin(SUCCESS_STATUSES)].dropna(subset=[column])
    pool = done if not done.empty else trials.dropna(subset=[column])
    if pool.empty:
        return None
    idx = pool[column].idxmax() if mode == "max" else pool[column].idxmin()
    return pool.loc[idx].to_dict()
