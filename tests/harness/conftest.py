"""One real local Ray instance for the whole test run (ray.init costs seconds)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_session():
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


def _ray_terminated(experiment: Path) -> set[str]:
    """Trial ids that Ray's own snapshot of ``experiment`` records as finished.

    Ray writes this snapshot (which ``Tuner.restore`` resumes from) about once a second, so for
    a moment after a trial ends the harness's tables know it and the snapshot does not yet; a
    driver killed in that moment has the trial run again on ``--resume``.
    """
    done: set[str] = set()
    for path in sorted(experiment.glob("experiment_state-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):  # being rewritten
            continue
        for state, _ in data.get("trial_data", []):
            trial = json.loads(state) if isinstance(state, str) else state
            if trial.get("status") in ("TERMINATED", "ERROR"):
                done.add(str(trial.get("trial_id")))
    return done


def _wait_for_snapshot(experiment: Path, trial_ids: Iterable[str], deadline: float) -> None:
    """Return once Ray's snapshot of ``experiment`` records every one of ``trial_ids`` as
    finished (or at ``deadline``, a ``time.monotonic()`` value): the moment a test may kill the
    driver and expect ``--resume`` to keep those trials as they were."""
    wanted = set(trial_ids)
    while time.monotonic() < deadline and not wanted <= _ray_terminated(experiment):
        time.sleep(0.2)


@pytest.fixture
def wait_for_snapshot():
    """:func:`_wait_for_snapshot`, for the tests that kill a driver."""
    return _wait_for_snapshot
