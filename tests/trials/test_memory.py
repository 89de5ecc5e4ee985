"""The memory guard: a real RSS cap on this machine, the NVML path through a fake module."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from search_spaces import MemoryCapExceeded, MemoryConfig
from trials.memory import MemoryGuard, NvmlSampler, RssSampler


@pytest.mark.slow
def test_rss_cap_ends_the_work_cleanly_and_records_the_peak():
    base = RssSampler()()
    cap = base + 96 * 2**20
    messages: list[str] = []
    held = []
    guard = MemoryGuard(MemoryConfig(cap=cap, poll_interval_s=0.05), "cpu", log=messages.append)
    with pytest.raises(MemoryCapExceeded) as err, guard:
        for _ in range(64):  # up to 1 GiB, in touched 16 MiB chunks
            held.append(np.ones(2 * 2**20))
            guard.check()
    held.clear()
    assert err.value.peak_bytes > cap and err.value.cap_bytes == cap
    assert err.value.kind == "rss" and guard.peak_bytes >= err.value.peak_bytes
    assert len(messages) == 1 and "memory warning" in messages[0]
    # The guard stopped its thread and the process goes on.
    assert guard._thread is not None and not guard._thread.is_alive()


def test_no_cap_still_records_a_peak():
    with MemoryGuard(MemoryConfig(), "cpu") as guard:
        guard.check()
    assert guard.peak_bytes > 50 * 2**20  # python + torch are resident


class _Proc:
    def __init__(self, pid: int, used: int | None) -> None:
        self.pid, self.usedGpuMemory = pid, used


def _fake_nvml(devices: dict[str, list[_Proc]]) -> types.ModuleType:
    """A stand-in for pynvml at the import boundary: devices by UUID with their processes."""
    mod = types.ModuleType("pynvml")
    mod.nvmlInit = lambda: None
    mod.nvmlDeviceGetHandleByUUID = lambda uuid: (
        uuid
        if uuid in devices
        else (_ for _ in ()).throw(RuntimeError(f"NVML_ERROR_NOT_FOUND {uuid}"))
    )
    mod.nvmlDeviceGetComputeRunningProcesses = lambda h: devices[h]
    mod.nvmlDeviceGetGraphicsRunningProcesses = lambda h: []
    mod.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=80 * 2**30)
    return mod


def test_nvml_sampler_matches_device_by_uuid_and_process_by_pid():
    nvml = _fake_nvml(
        {
            "GPU-aaaa": [_Proc(111, 5 * 2**30)],
            "GPU-bbbb": [_Proc(222, 7 * 2**30), _Proc(111, 3 * 2**30)],
        }
    )
    # torch reports the UUID without the prefix; index order is irrelevant.
    assert NvmlSampler("bbbb", pid=111, nvml=nvml)() == 3 * 2**30
    assert NvmlSampler("GPU-aaaa", pid=111, nvml=nvml)() == 5 * 2**30
    assert NvmlSampler("GPU-aaaa", pid=111, nvml=nvml).total_bytes() == 80 * 2**30
    with pytest.raises(LookupError, match="does not list process 333"):
        NvmlSampler("bbbb", pid=333, nvml=nvml)
    # Containers: NVML may list the process without usage; that is a fallback case too.
    with pytest.raises(LookupError):
        NvmlSampler("GPU-cccc", pid=1, nvml=_fake_nvml({"GPU-cccc": [_Proc(1, None)]}))


def test_guard_on_nvml_numbers_reaches_the_cap():
    state = {"used": 1 * 2**30}
    nvml = _fake_nvml({"GPU-x": [_Proc(7, 0)]})
    nvml.nvmlDeviceGetComputeRunningProcesses = lambda h: [_Proc(7, state["used"])]
    sampler = NvmlSampler("x", pid=7, nvml=nvml)
    guard = MemoryGuard(MemoryConfig(cap="2GiB"), "cpu", sampler=sampler)
    assert guard.kind == "nvml"
    with guard:
        guard.check()
        state["used"] = 3 * 2**30
        with pytest.raises(MemoryCapExceeded, match=r"nvml reached 3\.00 GiB"):
            guard.check()


def test_make_sampler_imports_the_real_pynvml_module(monkeypatch):
    # The real binding is installed (nvidia-ml-py); the fake replaces only the import.
    import pynvml

    assert hasattr(pynvml, "nvmlDeviceGetComputeRunningProcesses")
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml({"GPU-z": [_Proc(5, 10)]}))
    assert NvmlSampler("z", pid=5)() == 10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (exercised on one)")
def test_real_nvml_sees_this_process_allocation():
    from trials.memory import cuda_device_uuid, make_sampler

    dev = torch.device("cuda:0")
    x = torch.empty(512 * 2**20, dtype=torch.uint8, device=dev)
    sampler = make_sampler(dev)
    used = sampler()
    assert sampler.kind in ("nvml", "torch_reserved")
    assert used >= 512 * 2**20
    assert cuda_device_uuid(dev).startswith(("GPU-", "MIG-"))
    del x


def test_cuda_index_of_a_device_with_an_index_needs_no_gpu():
    from trials.memory._guard import _cuda_index

    assert _cuda_index(torch.device("cuda:1")) == 1
    assert _cuda_index("cuda:0") == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (exercised on one)")
def test_cap_on_a_bare_cuda_device_breaches_and_the_first_sampler_is_nvml():
    """Both failed on the first GPU run (an H200): torch's memory fraction refused the bare
    ``cuda`` device every trial has, and a process's first sampler fell back to torch's reserve
    because it had no CUDA context yet."""
    from trials.memory import make_sampler

    dev = torch.device("cuda")
    assert make_sampler(dev).kind == "nvml"
    before = make_sampler(dev)()
    guard = MemoryGuard(MemoryConfig(cap=before + 256 * 2**20, poll_interval_s=0.05), dev)
    held = []
    with pytest.raises((MemoryCapExceeded, torch.OutOfMemoryError)), guard:
        for _ in range(16):
            held.append(torch.ones(64 * 2**20, dtype=torch.uint8, device=dev))
            guard.check()
    held.clear()
    assert guard.peak_bytes > before
