"""The memory guard: NVML per-process GPU memory on CUDA, process RSS otherwise."""

from __future__ import annotations

from trials.memory._guard import MemoryGuard
from trials.memory._samplers import (
    NvmlSampler,
    RssSampler,
    cuda_device_uuid,
    make_sampler,
)

__all__ = [
    "MemoryGuard",
    "NvmlSampler",
    "RssSampler",
    "cuda_device_uuid",
    "make_sampler",
]
