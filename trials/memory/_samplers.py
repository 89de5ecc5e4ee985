"""What the memory guard measures: process RSS, NVML per-process GPU memory, torch's reserve.

A sampler is a callable returning bytes, with a ``kind`` naming what it measures (that name is
recorded with the peak, so a table never mixes RSS and GPU numbers without saying so).
"""

from __future__ import annotations

import os
from typing import Any

import psutil

__all__ = [
    "NvmlSampler",
    "RssSampler",
    "TorchReservedSampler",
    "cuda_device_uuid",
    "make_sampler",
]


class RssSampler:
    """Resident set size of this process (psutil)."""

    kind = "rss"

    def __init__(self) -> None:
        self._proc = psutil.Process(os.getpid())

    def __call__(self) -> int:
        return int(self._proc.memory_info().rss)


class TorchReservedSampler:
    """Bytes reserved by torch's CUDA caching allocator on one device.

    The fallback where NVML cannot see this process (PID namespaces in containers): it misses
    the CUDA context and other libraries' allocations, so it under-reports by a few hundred MiB.
    """

    kind = "torch_reserved"

    def __init__(self, device: Any) -> None:
        import torch

        self._torch = torch
        self._device = device

    def __call__(self) -> int:
        return int(self._torch.cuda.memory_reserved(self._device))


class NvmlSampler:
    """GPU memory used by one process on one device, as NVML reports it.

    The device is found by UUID, not by index: NVML enumerates all GPUs of the machine and
    ignores ``CUDA_VISIBLE_DEVICES``, so torch's ``cuda:0`` may be NVML's device 3.

    Args:
        uuid: the device UUID as torch reports it (with or without the ``GPU-`` prefix).
        pid: the process to measure (default: this one).
        nvml: the ``pynvml`` module (injected so the path can be tested without a GPU).

    Raises:
        LookupError: NVML does not list ``pid`` on the device (the caller falls back).
    """

    kind = "nvml"

    def __init__(self, uuid: str, pid: int | None = None, nvml: Any = None) -> None:
        if nvml is None:
            import pynvml as nvml
        self._nvml = nvml
        self._pid = os.getpid() if pid is None else pid
        nvml.nvmlInit()
        wanted = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
        self._handle = nvml.nvmlDeviceGetHandleByUUID(wanted)
        if self._used() is None:
            raise LookupError(f"NVML does not list process {self._pid} on device {wanted}")

    def _used(self) -> int | None:
        procs = list(self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle))
        procs += list(self._nvml.nvmlDeviceGetGraphicsRunningProcesses(self._handle))
        mine = [p.usedGpuMemory for p in procs if p.pid == self._pid]
        if not mine or any(m is None for m in mine):
            return None
        return int(sum(mine))

    def __call__(self) -> int:
        used = self._used()
        # The process may briefly vanish from the list between kernels; report 0 rather
        # than crash, the peak keeps the highest value seen.
        return 0 if used is None else used

    def total_bytes(self) -> int:
        """Total memory of the device."""
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).total)


def cuda_device_uuid(device: Any) -> str:
    """UUID of a torch CUDA device, in NVML's ``GPU-...`` form."""
    import torch

    uuid = str(torch.cuda.get_device_properties(device).uuid)
    return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"


def make_sampler(device: Any) -> RssSampler | NvmlSampler | TorchReservedSampler:
    """The best sampler for ``device``: RSS on CPU; NVML on CUDA, torch's reserve if NVML fails."""
    if getattr(device, "type", str(device)) != "cuda":
        return RssSampler()
    import torch

    # NVML only lists a process once it has a CUDA context, which torch creates lazily, at the
    # first allocation (torch.cuda.init() alone does not): without this the first trial of a
    # process fell back to torch's reserve (seen on an H200).
    torch.zeros(1, device=device)
    try:
        return NvmlSampler(cuda_device_uuid(device))
    except Exception:
        return TorchReservedSampler(device)
