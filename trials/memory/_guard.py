"""The memory guard: watches a trial's memory and ends the trial cleanly at its cap."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

from search_spaces import MemoryCapExceeded, MemoryConfig, format_bytes
from trials.memory._samplers import make_sampler

__all__ = ["MemoryGuard"]


class MemoryGuard:
    """Samples memory in a background thread and at every :meth:`check`; enforces the cap.

    Thresholds are shares of ``memory.cap``: at ``warn_fraction`` one warning is logged, at
    ``critical_fraction`` the next :meth:`check` frees caches (``gc.collect`` and, on CUDA,
    ``torch.cuda.empty_cache``), and past the cap :meth:`check` raises
    :class:`MemoryCapExceeded` in the training thread, so the trial ends between steps with its
    state intact and the process survives. On CUDA, ``torch.cuda.set_per_process_memory_fraction``
    is the hard backstop for allocations that would overshoot between two checks (they become a
    CUDA OOM, which the training loop reports as status ``oom``).

    Without a cap the guard still records the peak, so every trial has one.

    Args:
        cfg: the recipe's ``memory`` section.
        device: the torch device of the trial.
        log: where warnings go.
        sampler: what to measure (default: chosen for ``device``; injectable for tests).
    """

    def __init__(
        self,
        cfg: MemoryConfig,
        device: Any = "cpu",
        log: Callable[[str], None] | None = None,
        sampler: Callable[[], int] | None = None,
    ) -> None:
        self.cfg = cfg
        self.device = device
        self._log = log or (lambda msg: None)
        self._sampler = sampler if sampler is not None else make_sampler(device)
        self.kind: str = getattr(self._sampler, "kind", "custom")
        self.cap: int | None = int(cfg.cap) if cfg.cap is not None else None
        self.peak_bytes = 0
        self._breach: int | None = None
        self._warned = False
        self._critical = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ sampling

    def sample(self) -> int:
        """Measure now, update the peak and the threshold flags; return the bytes in use."""
        used = int(self._sampler())
        with self._lock:
            self.peak_bytes = max(self.peak_bytes, used)
            if self.cap is not None:
                if used > self.cap and self._breach is None:
                    self._breach = used
                elif used >= self.cfg.critical_fraction * self.cap:
                    self._critical = True
                if used >= self.cfg.warn_fraction * self.cap and not self._warned:
                    self._warned = True
                    self._log(
                        f"memory warning: {self.kind} at {format_bytes(used)}, "
                        f"{used / self.cap:.0%} of the cap {format_bytes(self.cap)}"
                    )
        return used

    def check(self) -> None:
        """Called by the training loop between steps.

        Raises:
            MemoryCapExceeded: the cap was passed (now or at a background sample).
        """
        self.sample()
        if self._breach is not None:
            raise MemoryCapExceeded(self.peak_bytes, self.cap or 0, self.kind)
        if self._critical:
            self._critical = False
            self._free_caches()

    def _free_caches(self) -> None:
        gc.collect()
        if getattr(self.device, "type", str(self.device)) == "cuda":
            import torch

            torch.cuda.empty_cache()

    def _run(self) -> None:
        while not self._stop.wait(self.cfg.poll_interval_s):
            try:
                self.sample()
            except Exception:
                continue

    # ---------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> MemoryGuard:
        if self.cap is not None and getattr(self.device, "type", str(self.device)) == "cuda":
            import torch

            index = _cuda_index(self.device)
            total = torch.cuda.get_device_properties(index).total_memory
            torch.cuda.set_per_process_memory_fraction(min(1.0, self.cap / total), index)
        self.sample()
        self._thread = threading.Thread(target=self._run, name="memory-guard", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.cap is not None and getattr(self.device, "type", str(self.device)) == "cuda":
            import torch

            torch.cuda.set_per_process_memory_fraction(1.0, _cuda_index(self.device))


def _cuda_index(device: Any) -> int:
    """The index of a CUDA device: ``set_per_process_memory_fraction`` refuses a bare ``cuda``."""
    import torch

    index = torch.device(device).index
    return torch.cuda.current_device() if index is None else int(index)
