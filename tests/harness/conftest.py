"""One real local Ray instance for the whole test run (ray.init costs seconds)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

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
