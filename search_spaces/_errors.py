"""The harness's exception tree.

It lives in the lowest package (``search_spaces`` needs only pydantic and yaml) so that
``trials``, ``harness`` and ``analysis`` can all raise and catch the same classes; each of
those packages re-exports it.

Every message states the rule that was broken, the value received and where it came from.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DivergedError",
    "HarnessError",
    "MemoryCapExceeded",
]


class HarnessError(Exception):
    """Base of every error the harness raises on purpose (as opposed to a bug).

    Library code names the Python parameter at fault (``grace_period must be >= 1, got 0``) and
    passes it as ``param``; the command line maps that name to its own flag
    (``--grace-period must be >= 1, got 0``), so neither layer speaks the other's language.

    Args:
        message: the rule that was broken, the value received and where it came from.
        param: the keyword argument of the public API the message is about, when there is one.
        params: every parameter the message names, the one at fault first (``budget_epochs 2
            is smaller than grace_period 3``); ``param`` is then the first of them.
    """

    def __init__(
        self, message: str = "", *, param: str | None = None, params: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.params: tuple[str, ...] = tuple(params) or ((param,) if param else ())
        self.param = self.params[0] if self.params else None


class ConfigError(HarnessError, ValueError):
    """A recipe, space, plan or command-line value breaks a rule."""


class DataError(HarnessError):
    """A data set, image or mask cannot be used; the message names the file and the problem."""


class MemoryCapExceeded(HarnessError):
    """A trial's memory went past its cap.

    Attributes:
        peak_bytes: highest memory seen by the guard.
        cap_bytes: the cap in force.
        kind: what was measured (``"rss"``, ``"nvml"`` or ``"torch_reserved"``).
    """

    def __init__(self, peak_bytes: int, cap_bytes: int, kind: str) -> None:
        self.peak_bytes = int(peak_bytes)
        self.cap_bytes = int(cap_bytes)
        self.kind = kind
        super().__init__(
            f"memory cap exceeded: {kind} reached {format_bytes(peak_bytes)}, "
            f"cap is {format_bytes(cap_bytes)} (memory.cap)"
        )


class DivergedError(HarnessError):
    """The training loss became NaN or infinite."""


def format_bytes(n: float) -> str:
    """Human-readable binary size: ``format_bytes(3 * 2**30) == '3.00 GiB'``."""
    value = float(n)
    if abs(value) < 1024:
        return f"{value:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if abs(value) < 1024:
            return f"{value:.2f} {unit}"
    return f"{value / 1024:.2f} TiB"
