"""Connecting to Ray (an existing cluster via ``--address``/``RAY_ADDRESS``, or a local instance)
and choosing where an experiment lives on it (``--storage``)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from harness.tune._rundir import param_error

__all__ = ["cluster_gpus", "connect", "resolve_storage"]


def _probe(address: str, timeout_s: float) -> None:
    """Fail fast, with one clear line, when nothing listens at ``host:port``."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise param_error(
            f"address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT", "address"
        )
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise param_error(
            f"address {address!r}: no Ray cluster answers there ({exc.strerror or exc}); "
            "start one with `ray start --head` or leave address out for a local instance",
            "address",
        ) from None


def connect(address: str | None, *, num_cpus: int | None = None, timeout_s: float = 5.0) -> Any:
    """Make sure this process is connected to Ray and return the ``ray`` module.

    Precedence: an already initialised Ray (the test session's instance, a notebook's) is used as
    it is; else ``address`` (``--address``); else ``RAY_ADDRESS``; else a local instance starts.

    Raises:
        ConfigError: nothing answers at the address.
    """
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address not in (None, "local", "auto"):
        _probe(address, timeout_s)  # before importing ray: a wrong address fails in a moment
    import ray

    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": "ERROR",
        "log_to_driver": False,
        "configure_logging": True,
    }
    if address in (None, "local"):
        ray.init(num_cpus=num_cpus, **kwargs)
        return ray
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise param_error(
            f"address {address!r}: cannot connect to a Ray cluster ({str(exc).splitlines()[0]})",
            "address",
        ) from None
    return ray


def cluster_gpus() -> float:
    """GPUs in the connected Ray cluster (all nodes), as Ray counts them: the driver may run on
    a head node without one while the workers have them, so torch on the driver cannot say."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))


def resolve_storage(storage: str | None, runs_dir: Path) -> tuple[Path, str | None]:
    """Where experiments go: ``(local folder of experiment directories, remote URI or None)``.

    * no ``--storage``: experiments are ``runs_dir/<name>``, Ray's state included;
    * a path or ``file://`` URI: experiments are ``<path>/<name>``, Ray's state, tables, spec and
      every trial's files included. On a multi-node cluster this must be a filesystem that every
      node mounts at the same path (NFS, a cluster filesystem), because trials on every node
      write their files there and read the shared ``split.json``;
    * any other URI that pyarrow's filesystems accept (``s3://bucket/runs``, ``gs://…``,
      ``hdfs://…``): Ray's state and the trials' checkpoints go to ``<URI>/<name>`` (so a trial
      whose node died resumes on another node, and ``--resume`` works from any driver that has
      the local directory); ``spec.json`` and the tables are written to ``runs_dir/<name>`` on
      the driver; files a trial writes itself (``best.pt``) stay on the node that trained it.

    Raises:
        ConfigError: a URI whose scheme pyarrow cannot open.
    """
    if storage is None:
        return Path(runs_dir), None
    if storage.startswith("file://"):
        return Path(storage[len("file://") :]), None
    if "://" not in storage:
        return Path(storage), None
    import pyarrow.fs

    try:
        pyarrow.fs.FileSystem.from_uri(storage)
    except (ValueError, OSError, pyarrow.ArrowException) as exc:
        raise param_error(
            f"storage {storage!r}: not a filesystem pyarrow can open "
            f"({str(exc).splitlines()[0]}); give a shared path or e.g. s3://bucket/runs",
            "storage",
        ) from None
    return Path(runs_dir), storage.rstrip("/")
