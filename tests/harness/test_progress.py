"""The search progress callback: counts and best kept per finished trial, throttled writes."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from harness._progress import SearchProgress
from harness._searcher import STATUS_KEY


def _trial(progress: SearchProgress, tid: str, score: float, epochs: int = 2) -> None:
    trial = SimpleNamespace(trial_id=tid, config={"optim.lr": score / 100})
    progress.on_trial_start(0, [], trial)
    for epoch in range(1, epochs + 1):
        result = {"score": score * epoch / epochs, "epoch": epoch, STATUS_KEY: "running"}
        progress.on_trial_result(0, [], trial, result)
    final = {"score": score, "epoch": epochs, STATUS_KEY: "completed"}
    progress.on_trial_result(0, [], trial, final)
    progress.on_trial_complete(0, [], trial)


def test_tables_are_written_at_most_once_per_interval_and_flushed_at_the_end(tmp_path):
    progress = SearchProgress(tmp_path, 3, "score", "max", 2, console=None, write_interval_s=3600)
    _trial(progress, "a", 0.5)
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 1  # the first end is written
    _trial(progress, "b", 0.9)
    _trial(progress, "c", 0.7)
    # within the interval: not rewritten yet, but the counts and the best already know
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 1
    assert progress.counts() == {"running": 0, "completed": 3, "pruned": 0, "failed": 0}
    assert progress._best["trial_id"] == "b" and progress._best["final.score"] == 0.9

    progress.on_step_end(0, [])  # interval not over: still pending
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 1
    progress.on_experiment_end([])
    table = pd.read_parquet(tmp_path / "trials.parquet")
    assert sorted(table["trial_id"]) == ["a", "b", "c"]
    assert table.set_index("trial_id").loc["b", "final.score"] == 0.9


def test_a_pending_end_is_flushed_at_the_next_step_after_the_interval(tmp_path):
    progress = SearchProgress(tmp_path, 2, "score", "min", 2, console=None, write_interval_s=0.0)
    _trial(progress, "a", 0.5)
    progress.write_interval_s = 3600
    _trial(progress, "b", 0.2)
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 1
    progress.write_interval_s = 0.0
    progress.on_step_end(0, [])
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 2
    assert progress._best["trial_id"] == "b"  # mode min


def test_an_epoch_reported_again_after_a_restore_is_one_row_the_last_run():
    from harness._tables import TrialRecord, build_tables

    def running(epoch, score):
        return {"score": score, "epoch": epoch, STATUS_KEY: "running"}

    # restored from the epoch-1 checkpoint after epoch 2 had been reported once
    results = [running(1, 0.1), running(2, 0.25), running(2, 0.2), running(3, 0.3)]
    results.append({"score": 0.3, "epoch": 3, STATUS_KEY: "completed"})
    trials, curves = build_tables([TrialRecord("t", {}, results)], "score", "max", 3)

    assert curves["epoch"].tolist() == [1, 2, 3]
    assert curves.set_index("epoch").loc[2, "score"] == 0.2
    row = trials.iloc[0]
    assert row["epochs"] == 3 and row["best.score"] == 0.3 and row["status"] == "completed"
