"""The experiment callbacks: the table writer (throttled writes, flushed at the end, independent
of the machine's uptime) and the progress display (counts and best kept per finished trial)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from harness.tune import STATUS_KEY, SearchProgress, TableWriter, TrialRecord, build_tables


class _Clock:
    """A monotonic clock that starts at 0, as ``time.monotonic`` does on a machine that booted
    a moment ago, and moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _trial(callbacks, tid: str, score: float, epochs: int = 2) -> None:
    trial = SimpleNamespace(trial_id=tid, config={"optim.lr": score / 100})
    for cb in callbacks:
        cb.on_trial_start(0, [], trial)
    for epoch in range(1, epochs + 1):
        result = {"score": score * epoch / epochs, "epoch": epoch, STATUS_KEY: "running"}
        for cb in callbacks:
            cb.on_trial_result(0, [], trial, result)
    final = {"score": score, "epoch": epochs, STATUS_KEY: "completed"}
    for cb in callbacks:
        cb.on_trial_result(0, [], trial, final)
        cb.on_trial_complete(0, [], trial)


def test_tables_are_written_at_most_once_per_interval_and_flushed_at_the_end(tmp_path):
    clock = _Clock()  # uptime 0 s: the first end must still be written at once
    writer = TableWriter(tmp_path, "score", "max", 2, write_interval_s=3600, clock=clock)
    progress = SearchProgress(3, "score", "max", 2, console=None)
    _trial([writer, progress], "a", 0.5)
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 1  # the first end is written
    clock.now = 10.0
    _trial([writer, progress], "b", 0.9)
    _trial([writer, progress], "c", 0.7)
    # within the interval: not rewritten yet, but the counts and the best already know
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 1
    assert progress.counts() == {"running": 0, "completed": 3, "pruned": 0, "failed": 0}
    assert progress.best["trial_id"] == "b" and progress.best["final.score"] == 0.9

    writer.on_step_end(0, [])  # interval not over: still pending
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 1
    writer.on_experiment_end([])
    table = pd.read_parquet(tmp_path / "trials.parquet")
    assert sorted(table["trial_id"]) == ["a", "b", "c"]
    assert table.set_index("trial_id").loc["b", "final.score"] == 0.9


def test_a_pending_end_is_flushed_at_the_next_step_after_the_interval(tmp_path):
    clock = _Clock()
    writer = TableWriter(tmp_path, "score", "min", 2, write_interval_s=5.0, clock=clock)
    progress = SearchProgress(2, "score", "min", 2, console=None)
    _trial([writer, progress], "a", 0.5)
    clock.now = 1.0
    _trial([writer, progress], "b", 0.2)
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 1
    writer.on_step_end(0, [])
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 1
    clock.now = 5.0
    writer.on_step_end(0, [])
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 2
    assert progress.best["trial_id"] == "b"  # mode min


def test_the_writer_survives_pickling_as_ray_does_with_callbacks(tmp_path):
    import pickle

    writer = TableWriter(tmp_path, "score", "max", 2, on_write=lambda: None, clock=_Clock())
    copy = pickle.loads(pickle.dumps(writer))
    assert copy.directory == writer.directory and copy._on_write is None


def test_a_pruned_and_a_failed_trial_are_counted_apart():
    progress = SearchProgress(2, "score", "max", 4, console=None)
    pruned = SimpleNamespace(trial_id="p", config={})
    progress.on_trial_start(0, [], pruned)
    progress.on_trial_result(0, [], pruned, {"score": 0.1, "epoch": 1, STATUS_KEY: "running"})
    progress.on_trial_complete(0, [], pruned)  # stopped by the scheduler before max_t
    failed = SimpleNamespace(trial_id="f", config={})
    progress.on_trial_start(0, [], failed)
    progress.on_trial_result(0, [], failed, {"score": 0.0, "epoch": 0, STATUS_KEY: "oom"})
    progress.on_trial_complete(0, [], failed)
    assert progress.counts() == {"running": 0, "completed": 0, "pruned": 1, "failed": 1}
    assert progress.best is None


def test_an_epoch_reported_again_after_a_restore_is_one_row_the_last_run():
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


def test_a_restored_run_keeps_the_earlier_trials_in_every_write(tmp_path):
    done = {"score": 0.4, "epoch": 2, STATUS_KEY: "completed"}
    earlier = TrialRecord("old", {"optim.lr": 0.1}, [done])
    writer = TableWriter(tmp_path, "score", "max", 2, clock=_Clock())
    writer.seed([earlier])
    _trial([writer], "new", 0.6)
    table = pd.read_parquet(tmp_path / "trials.parquet")
    assert sorted(table["trial_id"]) == ["new", "old"]
    assert set(table["status"]) == {"completed"}


def test_without_a_terminal_progress_is_one_line_every_interval(tmp_path):
    """Written to a file (``make demo > log``), progress is a line at least and at most every
    30 s while trials run, and the final counts at the end: never 14 minutes of silence."""
    import io

    from rich.console import Console

    clock = _Clock()
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=80)
    progress = SearchProgress(3, "score", "max", 2, console=console, clock=clock)
    progress.setup()
    assert progress._live is None  # no live display in a log
    progress.on_step_end(0, [])
    clock.now = 29.0
    progress.on_step_end(0, [])
    assert out.getvalue() == ""  # not yet: at most one line per 30 s
    _trial([progress], "a", 0.5)
    clock.now = 30.0
    progress.on_step_end(0, [])
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("search 1/3 | 0 running, 1 ok, 0 pruned, 0 failed | 30 s")
    assert lines[0].endswith("best score = 0.5")
    clock.now = 45.0
    progress.on_step_end(0, [])
    assert len(out.getvalue().splitlines()) == 1
    clock.now = 61.0
    progress.on_step_end(0, [])
    assert len(out.getvalue().splitlines()) == 2  # at least one line every 30 s, without events
    progress.on_experiment_end([])
    progress.stop()  # a second stop writes nothing more
    assert len(out.getvalue().splitlines()) == 3


def test_without_a_console_progress_goes_to_the_log(caplog):
    import logging

    clock = _Clock()
    progress = SearchProgress(1, "score", "max", 2, console=None, clock=clock)
    _trial([progress], "a", 0.5)
    clock.now = 31.0
    caplog.set_level(logging.INFO, logger="harness")  # whatever an earlier test left
    log = logging.getLogger("harness.tune._progress")
    log.addHandler(caplog.handler)  # the harness logger does not propagate to the root's
    try:
        progress.on_step_end(0, [])
    finally:
        log.removeHandler(caplog.handler)
    # (pytest's own capture may see the same record a second time)
    assert {r.getMessage() for r in caplog.records} == {
        "search 1/1 | 0 running, 1 ok, 0 pruned, 0 failed | 31 s, ETA 0 s | best score = 0.5"
    }
