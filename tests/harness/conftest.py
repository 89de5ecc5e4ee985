"""One real local Ray instance for the whole test run (ray.init costs seconds)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from harness.tune import snapshot_finished_trial_ids


@pytest.fixture(scope="session")
def ray_session():
    import ray

    if ray.is_initialized():
        # an in-process call that started a local instance before this fixture ran: the
        # session's instance replaces it, with the session's resources
        ray.shutdown()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


def _wait_for_snapshot(experiment: Path, trial_ids: Iterable[str], deadline: float) -> None:
    """Return once Ray's snapshot (which ``Tuner.restore`` resumes from, rewritten about once a
    second) of ``experiment`` records every one of ``trial_ids`` as
    finished (or at ``deadline``, a ``time.monotonic()`` value): the moment a test may kill the
    driver and expect ``--resume`` to keep those trials as they were."""
    wanted = set(trial_ids)
    while time.monotonic() < deadline and not wanted <= snapshot_finished_trial_ids(experiment):
        time.sleep(0.2)


@pytest.fixture
def wait_for_snapshot():
    """:func:`_wait_for_snapshot`, for the tests that kill a driver."""
    return _wait_for_snapshot


def _interrupt_when(table: Path, rows: int, done: threading.Event) -> None:
    """Ray Tune's interrupt (SIGUSR1: Ray stops the run and saves it, like a first Ctrl-C) once
    ``table`` has ``rows`` trials."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not done.is_set():
        try:
            if len(pd.read_parquet(table)) >= rows:
                os.kill(os.getpid(), signal.SIGUSR1)
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)


@contextlib.contextmanager
def _interrupted_at(table: Path, rows: int) -> Iterator[None]:
    done = threading.Event()
    watcher = threading.Thread(target=_interrupt_when, args=(table, rows, done), daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


@pytest.fixture
def interrupted_at():
    """``with interrupted_at(run / "trials.parquet", 1): ...``: an experiment run in this
    process inside the block is interrupted (as by a first Ctrl-C) once its table holds that
    many trials."""
    return _interrupted_at
