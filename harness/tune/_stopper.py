"""A stopper that ends an experiment whose trainable does not report the searched metric."""

from __future__ import annotations

from typing import Any

from ray import tune

from harness.tune._trainable import MISSING_METRIC_KEY
from search_spaces import ConfigError

__all__ = ["MissingMetricStopper"]


class MissingMetricStopper(tune.Stopper):
    """Ends the whole experiment at the first epoch report that lacks the searched metric (a
    ``--trainable`` that reports other names): every trial would run for nothing, and the
    scheduler and searcher would see only NaN.

    Args:
        metric: the metric the experiment optimises.
    """

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.reported: str | None = None

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        missing = result.get(MISSING_METRIC_KEY)
        if missing is not None and self.reported is None:
            self.reported = str(missing)
        return self.reported is not None

    def stop_all(self) -> bool:
        return self.reported is not None

    def error(self) -> ConfigError | None:
        """The error to raise once the run has ended, or ``None``."""
        if self.reported is None:
            return None
        return ConfigError(
            f"--metric {self.metric!r}: the trainable does not report it; its first report "
            f"held: {self.reported}. Give one of these with --metric (and --mode)"
        )
