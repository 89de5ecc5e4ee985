"""The device a command runs on: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, checked here."""

from __future__ import annotations

import torch

from search_spaces import ConfigError

__all__ = ["check_device"]


def check_device(device: str) -> str:
    """``device`` checked against what this machine has; ``auto`` becomes ``cuda`` or ``cpu``.

    Raises:
        ConfigError: another value, or CUDA asked for where torch sees no CUDA device.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise ConfigError(f"device {device!r}: expected auto, cpu, cuda or cuda:N", param="device")
    if kind == "cuda":
        # no ``param`` below: the messages use the word "device" for the GPU too
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {device!r}: torch sees no CUDA device on this machine")
        if index and int(index) >= count:
            raise ConfigError(
                f"device {device!r}: torch sees {count} CUDA device(s), indices 0..{count - 1}"
            )
    return device
