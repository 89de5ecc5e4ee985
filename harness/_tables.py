"""Trial and curve tables of an experiment: ``trials.parquet`` and ``curves.parquet``.

One row per trial (effective parameters by dotted path, raw Optuna parameters, status, epochs
reached, final and best metrics, peak memory, time, node) and one row per trial and epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness._searcher import STATUS_KEY, classify
from harness._trainable import RAW_MARK

__all__ = ["TrialRecord", "best_row", "build_tables", "records_from_result_grid", "write_tables"]

# Bookkeeping Ray adds to every result; not metrics of ours.
_RAY_KEYS = {
    "timestamp",
    "checkpoint_dir_name",
    "done",
    "training_iteration",
    "trial_id",
    "date",
    "time_this_iter_s",
    "time_total_s",
    "pid",
    "hostname",
    "node_ip",
    "time_since_restore",
    "iterations_since_restore",
    "config",
    "should_checkpoint",
    "error",
    "node_id",
    "attempts",
    STATUS_KEY,
}


@dataclass
class TrialRecord:
    """Everything known of one trial: its config, its reports in order, and whether it errored."""

    trial_id: str
    config: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    done: bool = True


def _is_metric(key: str, value: Any) -> bool:
    return (
        key not in _RAY_KEYS
        and key != "epoch"
        and not key.startswith("config/")
        and _is_number(value)
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _last_per_epoch(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One report per epoch, the last one, in epoch order.

    A trial restored from its checkpoint (its node died, or the driver was killed before Ray's
    snapshot recorded the newest checkpoint) runs the epochs after that checkpoint again and
    reports them a second time; the table keeps the run the trial continued from.
    """
    by_epoch: dict[int, dict[str, Any]] = {}
    for r in reports:
        by_epoch[int(r.get("epoch", 0))] = r
    return [by_epoch[e] for e in sorted(by_epoch)]


def build_tables(
    records: Iterable[TrialRecord], metric: str, mode: str, max_epochs: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trials, curves) data frames from trial records."""
    trial_rows, curve_rows = [], []
    for rec in records:
        epochs = _last_per_epoch(
            [r for r in rec.results if r.get(STATUS_KEY, "running") == "running"]
        )
        for r in epochs:
            row = {"trial_id": rec.trial_id, "epoch": int(r.get("epoch", 0))}
            row.update({k: v for k, v in r.items() if _is_metric(k, v)})
            curve_rows.append(row)
        last = rec.results[-1] if rec.results else None
        status = (
            classify(last, max_epochs, errored=rec.error is not None) if rec.done else "running"
        )
        row: dict[str, Any] = {"trial_id": rec.trial_id, "status": status}
        row.update({k: v for k, v in rec.config.items() if RAW_MARK not in k})
        row.update({f"raw.{k}": v for k, v in rec.config.items() if RAW_MARK in k})
        row["epochs"] = max((int(r.get("epoch", 0)) for r in epochs), default=0)
        values = [r.get(metric) for r in epochs if _is_number(r.get(metric))]
        values = [v for v in values if not math.isnan(v)]
        final = epochs[-1] if epochs else {}
        row[f"final.{metric}"] = final.get(metric, math.nan) if epochs else math.nan
        if values:
            best = max(values) if mode == "max" else min(values)
            row[f"best.{metric}"] = best
            row["best_epoch"] = next(int(r["epoch"]) for r in epochs if r.get(metric) == best)
        else:
            row[f"best.{metric}"], row["best_epoch"] = math.nan, math.nan
        for key, value in final.items():
            if key != metric and _is_metric(key, value):
                row[f"final.{key}"] = value
        summary = last if last is not None and last.get(STATUS_KEY, "running") != "running" else {}
        peaks = [
            r.get("memory_peak_bytes") for r in epochs if _is_number(r.get("memory_peak_bytes"))
        ]
        row["peak_memory_bytes"] = summary.get(
            "peak_memory_bytes", max(peaks) if peaks else math.nan
        )
        row["wall_time_s"] = (last or {}).get("time_total_s", math.nan)
        row["images_per_s"] = summary.get("images_per_s", final.get("images_per_s", math.nan))
        row["node_ip"] = (last or {}).get("node_ip")
        # the node of the trial's last report: where it ended after any restart elsewhere
        nodes = [r.get("node_id") for r in rec.results if isinstance(r.get("node_id"), str)]
        row["node_id"] = nodes[-1] if nodes else None
        # from the final record, or from the epochs when the scheduler stopped the trial at max_t
        # before it could send one
        counts = [summary.get("attempts")] + [r.get("attempt") for r in epochs]
        counts = [int(c) for c in counts if _is_number(c) and not math.isnan(c)]
        row["attempts"] = max(counts, default=1)
        row["error"] = rec.error or (summary.get("error") or None)
        trial_rows.append(row)
    trials = pd.DataFrame(trial_rows)
    curves = pd.DataFrame(curve_rows)
    return trials, curves


def records_from_result_grid(grid: Any) -> list[TrialRecord]:
    """Trial records from a Ray Tune ``ResultGrid`` (also after ``Tuner.restore``)."""
    # Ray's Result has no status; the trials behind the grid do (an interrupted search leaves
    # some PENDING or RUNNING, which are not failures).
    analysis = getattr(grid, "_experiment_analysis", None)
    states = {t.trial_id: t.status for t in getattr(analysis, "trials", None) or []}
    records = []
    for result in grid:
        frame = result.metrics_dataframe
        results = frame.to_dict("records") if frame is not None and not frame.empty else []
        if not results and result.metrics:
            results = [dict(result.metrics)]
        trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name
        config = dict(result.config or {})
        error = None if result.error is None else str(result.error).splitlines()[0][:500]
        done = states.get(str(trial_id), "TERMINATED") in ("TERMINATED", "ERROR")
        records.append(TrialRecord(str(trial_id), config, results, error, done))
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
    done = trials[trials["status"].isin(["completed", "early_stopped"])].dropna(subset=[column])
    pool = done if not done.empty else trials.dropna(subset=[column])
    if pool.empty:
        return None
    idx = pool[column].idxmax() if mode == "max" else pool[column].idxmin()
    return pool.loc[idx].to_dict()
