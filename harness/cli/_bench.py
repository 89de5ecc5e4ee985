"""``harness bench``: step time, throughput and peak memory of the recipe over a grid of settings.

The measuring is :func:`trials.bench.bench_grid`; this module is the command's edge: it validates
the grid and the device before anything runs, prints one progress line per combination, keeps
``bench.csv`` up to date after every row (an interrupted bench keeps what it measured), and at the
end prints the table and writes ``bench.png``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from harness.tune._rundir import create_run_dir, environment, write_json
from search_spaces import ConfigError, Recipe, format_bytes, recipe_to_yaml

__all__ = ["bench_command", "check_device", "rows_table"]

CSV_NAME = "bench.csv"
PLOT_NAME = "bench.png"
_CUDA_ONLY = ("optim.amp", "optim.channels_last")


def check_device(device: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``, checked against what this machine has.

    Raises:
        ConfigError: another value, or CUDA asked for where torch sees no CUDA device.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise ConfigError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"--device {device!r}: torch sees no CUDA device on this machine")
        if index and int(index) >= count:
            raise ConfigError(
                f"--device {device!r}: torch sees {count} CUDA device(s), indices 0..{count - 1}"
            )
    return device


def _out_dir(out: Path | None) -> Path:
    if out is None:
        return create_run_dir(Path("runs"), None, "bench")
    if (out / CSV_NAME).exists():
        raise ConfigError(f"--out {out}: already holds a {CSV_NAME}; choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _ms(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value * 1000:.1f}"


def _bytes(value: Any) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (format_bytes(value))
    )


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
        ok = r["status"] == "ok"
        cells = [str(r[a]) for a in axes]
        cells.append(r["status"] if ok else f"[red]{r['status']}[/]")
        cells += [
            _ms(r["step_s_median"]),
            _ms(r["step_s_iqr"]),
            f"{r['images_per_s']:.2f}" if ok else "-",
            f"{_bytes(r['mem_peak_bytes'])} {r['mem_kind']}".strip(),
            "-" if math.isnan(float(r["n_params"])) else f"{int(r['n_params']):,}",
        ]
        if cuda:
            cells.append(
                f"{_bytes(r['torch_peak_allocated_bytes'])} / "
                f"{_bytes(r['torch_peak_reserved_bytes'])}"
            )
        table.add_row(*cells)
    return table


def bench_command(
    recipe: Recipe,
    grid: list[str],
    steps: int,
    warmup: int,
    device: str,
    out: Path | None,
    console: Console,
) -> int:
    """Run ``harness bench``; return the process exit code.

    0 when every combination was measured (``ok``, ``oom`` and ``memory_cap`` are all results);
    1 when one could not run (``data_error``, ``error``).
    """
    from analysis import write_bench_plot
    from trials import check_recipe
    from trials.bench import BENCH_COLUMNS, bench_grid, describe_row, expand_grid, parse_grid

    if steps < 1:
        raise ConfigError(f"--steps {steps}: at least 1 measured step is needed")
    if warmup < 0:
        raise ConfigError(f"--warmup {warmup}: must be 0 or more")
    check_recipe(recipe)
    dev = check_device(device)
    axes = parse_grid(grid, recipe)
    paths = [a.path for a in axes]
    n_combos = len(expand_grid(recipe, axes))  # every combination validated before any work
    out_dir = _out_dir(out)
    (out_dir / "recipe.yaml").write_text(recipe_to_yaml(recipe), encoding="utf-8")
    write_json(
        out_dir / "spec.json",
        {
            "command": "bench",
            "recipe": recipe.name,
            "grid": {a.path: list(a.values) for a in axes},
            "steps": steps,
            "warmup": warmup,
            "device": dev,
            "environment": environment(),
        },
    )
    console.print(
        f"[bold]harness bench[/] recipe [cyan]{recipe.name}[/] on {dev}: {n_combos} "
        f"combination(s) x ({warmup} warm-up + {steps} measured) steps -> {out_dir}"
    )
    console.print(
        f"real training tiles of {recipe.data.root or 'the synthetic data'}; one step = one "
        "micro-batch: forward, loss, backward, AdamW step (optim.accumulation ignored)"
    )
    if dev == "cpu" and any(p in _CUDA_ONLY for p in paths):
        console.print(
            "[yellow]note: optim.amp and optim.channels_last take effect on CUDA only (as in "
            "training); on CPU their values measure the same step[/]"
        )

    rows: list[dict[str, Any]] = []
    columns = [*paths, *BENCH_COLUMNS]

    def on_start(index: int, total: int, values: dict[str, Any]) -> None:
        label = " ".join(f"{k}={v}" for k, v in values.items()) or "base recipe"
        console.print(f"[{index}/{total}] {label} ...")

    def on_row(row: dict[str, Any]) -> None:
        rows.append(row)
        console.print(f"        {describe_row(row)}", highlight=False)
        # Rewritten whole after each row: an interrupted bench keeps every finished row.
        pd.DataFrame(rows, columns=columns).to_csv(out_dir / CSV_NAME, index=False)

    try:
        bench_grid(
            recipe,
            axes,
            steps=steps,
            warmup=warmup,
            device=dev,
            on_start=on_start,
            on_row=on_row,
            log=lambda msg: console.print(f"[yellow]{msg}[/]"),
        )
    except KeyboardInterrupt:
        console.print(f"[red]interrupted[/]: {len(rows)} row(s) kept in {out_dir / CSV_NAME}")
        return 130
    title = f"harness bench: {recipe.name} on {dev}, median of {steps} steps"
    console.print(rows_table(rows, paths, title))
    frame = pd.DataFrame(rows, columns=columns)
    write_bench_plot(frame, paths, out_dir / PLOT_NAME, title=title)
    console.print(f"wrote {out_dir / CSV_NAME} and {out_dir / PLOT_NAME}")
    return 1 if any(r["status"] in ("data_error", "error") for r in rows) else 0
