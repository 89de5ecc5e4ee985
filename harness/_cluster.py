"""Connecting to Ray: an existing cluster (``--address``, ``RAY_ADDRESS``) or a local instance."""

from __future__ import annotations

import os
import socket
from typing import Any

from search_spaces import ConfigError

__all__ = ["connect"]


def _probe(address: str, timeout_s: float) -> None:
    """Fail fast, with one clear line, when nothing listens at ``host:port``."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(
            f"--address {address!r}: no Ray cluster answers there ({exc.strerror or exc}); "
            "start one with `ray start --head` or leave --address out for a local instance"
        ) from None


def connect(address: str | None, *, num_cpus: int | None = None, timeout_s: float = 5.0) -> Any:
    """Make sure this process is connected to Ray and return the ``ray`` module.

    Precedence: an already initialised Ray (the test session's instance, a notebook's) is used as
    it is; else ``address`` (``--address``); else ``RAY_ADDRESS``; else a local instance starts.

    Raises:
        ConfigError: nothing answers at the address.
    """
    import ray

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": "ERROR",
        "log_to_driver": False,
        "configure_logging": True,
    }
    if address in (None, "local"):
        ray.init(num_cpus=num_cpus, **kwargs)
        return ray
    if address != "auto":
        _probe(address, timeout_s)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"--address {address!r}: cannot connect to a Ray cluster ({str(exc).splitlines()[0]})"
        ) from None
    return ray
