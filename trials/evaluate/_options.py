"""The options of an evaluation that shape its statistics, checked before anything loads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from search_spaces import ConfigError
from trials.metrics import (
    DEFAULT_SIZE_THRESHOLDS,
    SizeStratum,
    bin_edges,
    check_detect_fraction,
    size_strata,
)

__all__ = ["check_options", "parse_size_thresholds"]


def parse_size_thresholds(value: str | Sequence[int] | None) -> tuple[int, ...]:
    """``size_thresholds``: comma-separated areas in pixels (``"64,1024"``) or a sequence.

    ``None`` gives :data:`trials.metrics.DEFAULT_SIZE_THRESHOLDS`.

    Raises:
        ConfigError: a part is not a whole number, or the values are not positive and increasing
            (``param="size_thresholds"``).
    """
    if value is None:
        return tuple(DEFAULT_SIZE_THRESHOLDS)
    parts: list[Any] = list(value) if not isinstance(value, str) else value.split(",")
    numbers = []
    for part in parts:
        try:
            numbers.append(int(str(part).strip()))
        except ValueError:
            raise ConfigError(
                f"size_thresholds {value!r}: {str(part).strip()!r} is not a whole number of "
                f"pixels; give increasing areas separated by commas, e.g. 64,1024",
                param="size_thresholds",
            ) from None
    _strata(numbers, f"size_thresholds {value!r}")
    return tuple(numbers)


def _strata(numbers: Sequence[int], where: str) -> tuple[SizeStratum, ...]:
    try:
        return size_strata(numbers, where)
    except ConfigError as exc:
        raise ConfigError(str(exc), param="size_thresholds") from None


def check_options(
    size_thresholds: str | Sequence[int] | None, detect_fraction: float, n_bins: int
) -> tuple[tuple[SizeStratum, ...], float]:
    """The size strata and the detect fraction of an evaluation, checked.

    Raises:
        ConfigError: bad ``size_thresholds``, ``detect_fraction`` or bin count (the error's
            ``param`` names the argument).
    """
    strata = _strata(parse_size_thresholds(size_thresholds), "size_thresholds")
    try:
        fraction = check_detect_fraction(detect_fraction, "detect_fraction")
    except ConfigError as exc:
        raise ConfigError(str(exc), param="detect_fraction") from None
    bin_edges(n_bins)
    return strata, fraction
