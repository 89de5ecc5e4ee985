"""Shared fixtures: the real soybean-rust data and small recipes for fast real training."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOYBEAN = REPO.parent / "shared" / "data" / "soybean_rust"


@pytest.fixture(scope="session")
def soybean_root() -> Path:
    """The 63 real soybean-rust images; skipped with the reason only when absent."""
    if not (SOYBEAN / "images").is_dir():
        pytest.skip(f"real data not found at {SOYBEAN} (CI has it there)")
    return SOYBEAN


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module's in-process training (restored afterwards): on a
    CPU shared with Ray's workers and subprocesses, more threads oversubscribe it. A module
    asks for it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def bench_overrides() -> dict:
    """cpu_demo smaller still, for a training step: 32 px tiles keep a CPU step well under a
    second."""
    return {
        "data.synthetic.n_images": 12,
        "data.synthetic.size": 64,
        "data.tile_size": 32,
        "data.stride": 24,
        "data.tile_jitter": 4,
        "data.image_size": 32,
        "data.max_tiles_per_image": 2,
        "data.batch_size": 4,
    }


@pytest.fixture(scope="session")
def tiny_overrides() -> dict:
    """cpu_demo shrunk to seconds: a few small synthetic images, two epochs."""
    return {
        "data.synthetic.n_images": 12,
        "data.synthetic.size": 96,
        "data.max_tiles_per_image": 2,
        "data.tile_size": 64,
        "data.stride": 48,
        "data.tile_jitter": 4,
        "data.image_size": 64,
        "data.batch_size": 8,
        "optim.epochs": 2,
        "optim.freeze_encoder_epochs": 1,
    }


@dataclass(frozen=True)
class CliResult:
    """What ``harness ARGS`` did: its exit code and what it wrote (as ``subprocess.run``
    returns them)."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(args: list[str], cwd: Path | None = None) -> CliResult:
    """``harness ARGS`` in this process, through the console script's own entry point
    (``harness.cli.main``: the same parsing, error mapping and exit codes).

    For the checks that end before any work starts (a bad argument: exit code 2 and one line
    on stderr): a subprocess would pay Python's, torch's and the CLI's imports again, seconds
    each time. Commands that run Ray or training keep their subprocess, where a crash or a
    kill cannot take the test session with it.
    """
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, here = sys.argv, os.getcwd()
    library = logging.getLogger("harness")
    level = library.level  # the CLI quietens the library's logger; the session's stays as it was
    code: int | str | None = 0
    try:
        sys.argv = ["harness", *args]
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code
    finally:
        sys.argv = argv
        os.chdir(here)
        library.setLevel(level)
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return CliResult(returncode, out.getvalue(), err.getvalue())


@pytest.fixture
def harness_cli():
    """:func:`run_cli`: ``harness_cli(["search", "--trials", "0"], tmp_path)``."""
    return run_cli


#: module fixtures that train or search for seconds before their tests can start: a test that
#: needs one is slow, however quick its own body is
_TRAINING_FIXTURES = frozenset({"plan_run", "evaluated", "checkpoint"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tiers (``make test-fast`` leaves out ``slow`` and ``cluster``): a test that uses the
    session's Ray instance is ``ray``; one that needs a training fixture is ``slow``; the
    multi-node tests (``ray start``, token
    authentication) are ``cluster`` and ``slow``. Tests that start a harness command which
    starts Ray of its own carry the ``ray`` mark themselves."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "ray_session" in fixtures:
            item.add_marker(pytest.mark.ray)
        if fixtures & _TRAINING_FIXTURES:
            item.add_marker(pytest.mark.slow)
        if item.path.name == "test_cluster.py":
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.ray)
            item.add_marker(pytest.mark.slow)
