"""The CLI and the orchestration on Ray Tune (the only package that imports ray).

Importing ``harness`` is cheap: ray, torch and the training code load only when a command needs
them.
"""

from __future__ import annotations

from search_spaces import (
    ConfigError,
    DataError,
    DivergedError,
    HarnessError,
    MemoryCapExceeded,
)

__all__ = ["ConfigError", "DataError", "DivergedError", "HarnessError", "MemoryCapExceeded"]
