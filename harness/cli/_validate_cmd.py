"""Transitional: ``harness report``'s validation table through the paired core, for the caller
that still imports it from here (``harness/_report_api.py``). New code calls
``harness._paired_api.paired_report`` and prints with :func:`harness.cli._paired.print_paired`.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from harness.cli._paired import print_paired

__all__ = ["validation_report"]


def validation_report(
    directory: Path, *, metric: str | None, out: Path | None, console: Console
) -> int:
    """Print a validation directory's table and write its files to ``out`` (default
    ``DIRECTORY/report``); ``metric`` overrides the main metric."""
    from analysis.paired import CELLS, paired_report
    from harness.paired import write_cells

    if not (directory / CELLS).is_file() and (directory / "trials.parquet").is_file():
        write_cells(directory, ("fold", "seed"))
    done = paired_report(directory, metric=metric, out=out)
    if done.statistics is None:
        console.print("[yellow]no finished cell of both configurations yet: no table[/]")
        return 1
    return print_paired(done, console)
