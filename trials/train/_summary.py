"""What one trial returns: its status, metrics and costs, JSON-able."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from search_spaces import TrialStatus

__all__ = ["STATUSES", "TrialSummary"]

# Every way run_trial can end a trial (the shared vocabulary's, less ``pruned`` and ``running``,
# which only the search around it decides). Failures of our own kinds are statuses, not
# exceptions, so a search around a failing trial goes on and the table records why it ended.
STATUSES = tuple(
    str(s)
    for s in (
        TrialStatus.COMPLETED,
        TrialStatus.EARLY_STOPPED,
        TrialStatus.MEMORY_CAP,
        TrialStatus.OOM,
        TrialStatus.DIVERGED,
        TrialStatus.DATA_ERROR,
    )
)


@dataclass
class TrialSummary:
    """The outcome of :func:`trials.run_trial`.

    Attributes:
        status: one of :data:`STATUSES` (a plain string, a :class:`TrialStatus` value).
        error: the message behind a failure status, else ``None``.
        epochs: epochs completed (validated and reported).
        best_epoch: epoch of the best monitored value (``None`` if no epoch completed).
        best: validation metrics at ``best_epoch``.
        final: validation metrics of the last completed epoch.
        peak_memory_bytes: highest memory the guard saw (what ``memory_kind`` measures).
        memory_kind: ``rss``, ``nvml`` or ``torch_reserved``.
        images_per_s: training tiles per second over the whole run (validation excluded).
        wall_time_s: seconds from start to end, data loading included.
        n_params: model parameters.
        device: the torch device used.
        attempts: recipes' batch/accumulation of each attempt (more than one after an OOM retry).
        skipped: (file, reason) of samples skipped under ``data.on_bad_sample = skip``.
        checkpoint: path of the best checkpoint when a work directory was given.
    """

    status: str = TrialStatus.COMPLETED.value
    error: str | None = None
    epochs: int = 0
    best_epoch: int | None = None
    best: dict[str, float] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    peak_memory_bytes: int = 0
    memory_kind: str = "rss"
    images_per_s: float = 0.0
    wall_time_s: float = 0.0
    n_params: int = 0
    device: str = "cpu"
    attempts: list[dict[str, int]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    checkpoint: str | None = None

    def end(self, status: TrialStatus, error: str | None = None) -> None:
        """Set how the trial ended (stored as the plain string) and the message behind it."""
        self.status, self.error = TrialStatus(status).value, error

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the status a plain ``str``)."""
        return {**asdict(self), "status": str(self.status)}
