"""``harness search`` on a real two-node Ray cluster on this machine, and a node lost mid-search.

Each test starts its own cluster (``ray start --head`` and ``ray start --address``, own ports and
temporary directories, token authentication) and stops exactly that cluster at the end, failed or
not, by killing the process groups of its two ``ray start --block`` processes (``ray stop`` would
stop every Ray instance of the machine, the test session's included). The driver is a
subprocess: the test session's own Ray instance (``ray_session``) is a different one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil
import pytest

RAY = str(Path(sys.executable).with_name("ray"))
HARNESS = [sys.executable, "-m", "harness.cli"]
OBJECTIVE = [
    "--trainable",
    "harness.testing:checkpointed_bowl",
    "--metric",
    "score",
    "--mode",
    "max",
]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _cluster_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # Ray 2.60 authenticates every process of a cluster started by `ray start` with a token
    env["RAY_AUTH_MODE"] = "token"
    # the head notices a dead node within ~3 s instead of the default ~30 s
    env["RAY_health_check_period_ms"] = "1000"
    env["RAY_health_check_failure_threshold"] = "3"
    env["RAY_health_check_initial_delay_ms"] = "1000"
    env["COLUMNS"] = "200"
    return env


@dataclass
class Cluster:
    address: str
    env: dict[str, str]
    head: subprocess.Popen
    worker: subprocess.Popen
    worker_node_id: str

    def kill_worker(self) -> None:
        """SIGKILL every process of the worker node (raylet, its workers, the trials on it)."""
        _kill_group(self.worker)


def _ray_start(args: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    """A ``ray start --block`` in its own process group, and its node manager's port."""
    ports = _free_ports(6)
    proc = subprocess.Popen(
        [
            RAY,
            "start",
            *args,
            "--num-cpus",
            "1",
            "--block",
            "--node-manager-port",
            str(ports[0]),
            "--object-manager-port",
            str(ports[1]),
            "--dashboard-agent-listen-port",
            str(ports[2]),
            "--dashboard-agent-grpc-port",
            str(ports[3]),
            "--metrics-export-port",
            str(ports[4]),
            "--runtime-env-agent-port",
            str(ports[5]),
        ],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killed as one, nothing else with it
    )
    return proc, ports[0]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        members = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        members = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for child in members:  # anything that left the group
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    proc.wait(timeout=30)


def _wait_for_nodes(address: str, env: dict[str, str], n: int, timeout: float = 60) -> dict:
    """``{node manager port: node id}`` of the alive nodes, once there are ``n``."""
    probe = (
        "import json, ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
        "print(json.dumps({n['NodeManagerPort']: n['NodeID'] for n in ray.nodes() if n['Alive']}))"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = subprocess.run(
            [sys.executable, "-c", probe, address],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        lines = res.stdout.strip().splitlines()
        nodes = {int(k): v for k, v in json.loads(lines[-1]).items()} if lines else {}
        if res.returncode == 0 and len(nodes) == n:
            return nodes
        time.sleep(0.5)
    raise RuntimeError(f"the cluster at {address} did not show {n} nodes in {timeout} s")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # short paths: Ray's socket paths must fit in 107 characters
    temp = Path(tempfile.mkdtemp(prefix="hc", dir="/tmp"))
    env = _cluster_env()
    port, dashboard = _free_ports(2)
    address = f"127.0.0.1:{port}"
    head, _ = _ray_start(
        [
            "--head",
            "--port",
            str(port),
            "--include-dashboard",
            "false",
            "--dashboard-port",
            str(dashboard),
            "--temp-dir",
            str(temp / "h"),
        ],
        env,
        temp / "head.log",
    )
    worker = None
    try:
        time.sleep(3)
        worker, worker_port = _ray_start(
            ["--address", address, "--temp-dir", str(temp / "w")], env, temp / "worker.log"
        )
        nodes = _wait_for_nodes(address, env, 2)
        yield Cluster(address, env, head, worker, nodes[worker_port])
    finally:
        for proc in (worker, head):
            if proc is not None:
                _kill_group(proc)
        subprocess.run(["rm", "-rf", str(temp)], check=False)


def _search(cluster: Cluster, tmp_path: Path, name: str, *extra: str) -> list[str]:
    return [
        *HARNESS,
        "search",
        "--space",
        "lr",
        "--address",
        cluster.address,
        "--storage",
        f"file://{tmp_path / 'shared'}",
        "--name",
        name,
        "--concurrency",
        "2",
        "--seed",
        "3",
        *OBJECTIVE,
        *extra,
    ]


def _reported_on(experiment: Path, node_id: str, epoch: int) -> bool:
    """Whether a trial reported ``epoch`` from ``node_id`` (Ray's live ``result.json`` files)."""
    for path in experiment.glob("trial_*/result.json"):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if row.get("node_id") == node_id and row.get("epoch", 0) >= epoch:
                    return True
    return False


@pytest.mark.slow
@pytest.mark.ray
def test_a_search_runs_trials_on_both_nodes_of_a_two_node_cluster(cluster, tmp_path):
    args = _search(
        cluster, tmp_path, "two", "--trials", "4", "--max-epochs", "2", "--grace-period", "2"
    )
    res = subprocess.run(
        args, cwd=tmp_path, env=cluster.env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stdout + res.stderr
    experiment = tmp_path / "shared" / "two"  # --storage file://… is the experiment's home
    trials = pd.read_parquet(experiment / "trials.parquet")
    assert len(trials) == 4 and set(trials["status"]) == {"completed"}
    nodes = set(trials["node_id"])
    assert len(nodes) == 2 and cluster.worker_node_id in nodes
    assert all(isinstance(n, str) and len(n) == 56 for n in nodes)
    assert "ran on 2 nodes" in res.stdout
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.ray
def test_a_killed_worker_node_loses_no_trial_and_its_trials_resume_from_checkpoints(
    cluster, tmp_path
):
    args = _search(
        cluster, tmp_path, "lost", "--trials", "3", "--max-epochs", "5", "--grace-period", "5"
    )
    driver = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        # kill once a trial on the worker node has reported (and checkpointed) epoch 2
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _reported_on(
            tmp_path / "shared" / "lost", cluster.worker_node_id, epoch=2
        ):
            assert driver.poll() is None, driver.communicate()[0]
            time.sleep(0.2)
        assert _reported_on(tmp_path / "shared" / "lost", cluster.worker_node_id, epoch=2)
        cluster.kill_worker()
        out, _ = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    assert driver.returncode == 0, out
    experiment = tmp_path / "shared" / "lost"
    trials = pd.read_parquet(experiment / "trials.parquet")
    curves = pd.read_parquet(experiment / "curves.parquet")
    # every planned trial exactly once, every one complete, every epoch reported exactly once
    assert len(trials) == 3 and trials["trial_id"].is_unique
    assert set(trials["status"]) == {"completed"} and set(trials["epochs"]) == {5}
    assert not curves.duplicated(["trial_id", "epoch"]).any()
    assert (curves.groupby("trial_id")["epoch"].apply(sorted) == [[1, 2, 3, 4, 5]] * 3).all()
    # the killed trial went on from its last checkpoint (start_epoch > 1), not from epoch 1
    resumed = curves[curves["start_epoch"] > 1]
    assert not resumed.empty, curves[["trial_id", "epoch", "start_epoch"]]
    assert (resumed["epoch"] >= resumed["start_epoch"]).all()


def test_no_cluster_at_the_address_is_one_line_and_a_fast_exit(tmp_path):
    (port,) = _free_ports(1)
    t0 = time.monotonic()
    res = subprocess.run(
        [*HARNESS, "search", "--space", "lr", "--address", f"127.0.0.1:{port}", *OBJECTIVE],
        cwd=tmp_path,
        env=_cluster_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - t0
    assert res.returncode == 2
    lines = [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "no Ray cluster" in lines[0]
    assert elapsed < 30  # mostly the CLI importing torch on a busy machine
