"""How the cells of a paired experiment run, and what they are compared on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from search_spaces import ConfigError

__all__ = ["DEFAULT_TRAINABLE", "PairedSettings"]

DEFAULT_TRAINABLE = "trials:run_trial"


@dataclass(frozen=True)
class PairedSettings:
    """How the cells run (the same for an ablation's and a validation's).

    Attributes:
        concurrency: cells running at the same time.
        cpus_per_trial, gpus_per_trial: what each cell asks Ray for.
        metric, mode: the main metric and its direction.
        trainable: ``module:function`` shaped like ``trials.run_trial``.
        max_failures: restarts of a cell whose worker or node died, from its last checkpoint.
        storage: the remote URI of Ray's state, or ``None``.
    """

    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    metric: str = "iou_lesion"
    mode: str = "max"
    trainable: str = DEFAULT_TRAINABLE
    max_failures: int = 2
    storage: str | None = None

    def __post_init__(self) -> None:
        rules = (
            ("concurrency", self.concurrency >= 1, ">= 1"),
            ("cpus_per_trial", self.cpus_per_trial > 0, "> 0"),
            ("gpus_per_trial", self.gpus_per_trial >= 0, ">= 0"),
            ("max_failures", self.max_failures >= 0, ">= 0"),
            ("mode", self.mode in ("max", "min"), "max or min"),
        )
        broken = [(name, rule) for name, ok, rule in rules if not ok]
        if broken:
            message = "; ".join(f"{n} must be {r}, got {getattr(self, n)!r}" for n, r in broken)
            raise ConfigError(message, param=broken[0][0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for spec.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PairedSettings:
        """The settings a ``spec.json`` recorded (keys this class does not know are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})
