"""One real local Ray instance for the whole test run (ray.init costs seconds)."""

from __future__ import annotations

import json
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


@pytest.fixture
def ray_terminated():
    """:func:`_ray_terminated`: wait for Ray's snapshot before killing a driver in a test."""
    return _ray_terminated
