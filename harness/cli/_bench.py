"""``harness bench``'s printing: the table of measured combinations."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from search_spaces import format_bytes

if TYPE_CHECKING:
    from harness import BenchResult

__all__ = ["print_bench", "rows_table"]


def _ms(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value * 1000:.1f}"


def _bytes(value: Any) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (format_bytes(value))
    )


def _text(value: Any) -> str:
    # a missing value comes back from the table as NaN
    return value if isinstance(value, str) else ""


def _cells(r: dict[str, Any], axes: list[str], cuda: bool) -> list[str]:
    ok = r["status"] == "ok"
    cells = [str(r[a]) for a in axes]
    cells.append(r["status"] if ok else f"[red]{r['status']}[/]")
    cells += [
        _ms(r["step_s_median"]),
        _ms(r["step_s_iqr"]),
        f"{r['images_per_s']:.2f}" if ok else "-",
        f"{_bytes(r['mem_peak_bytes'])} {_text(r['mem_kind'])}".strip(),
        "-" if math.isnan(float(r["n_params"])) else f"{int(r['n_params']):,}",
    ]
    if cuda:
        cells.append(
            f"{_bytes(r['torch_peak_allocated_bytes'])} / {_bytes(r['torch_peak_reserved_bytes'])}"
        )
    return cells


def rows_table(rows: list[dict[str, Any]], axes: list[str], title: str) -> Table:
    """The terminal table of bench rows: the axis values, then the measurements."""
    cuda = any(str(r["device"]).startswith("cuda") for r in rows)
    table = Table(title=title)
    for axis in axes:
        table.add_column(axis)
    table.add_column("status")
    for col in ("step ms (median)", "IQR ms", "images/s", "peak memory", "params"):
        table.add_column(col, justify="right")
    if cuda:
        table.add_column("torch alloc / reserved", justify="right")
    for r in rows:
        table.add_row(*_cells(r, axes, cuda))
    return table


def print_bench(result: BenchResult, console: Console) -> int:
    """Print the measured grid; return the exit code.

    0 when every combination was measured (``ok``, ``oom`` and ``memory_cap`` are all results);
    1 when one could not run (``data_error``, ``error``).
    """
    rows = result.table.to_dict("records")
    console.print(rows_table(rows, result.axes, result.title))
    console.print(f"wrote {result.csv} and {result.plot}", markup=False, highlight=False)
    return 0 if result.ok else 1
