"""What ``harness ablate``, ``harness validate`` and ``harness report`` print of a paired
experiment (a :class:`harness.PairedResult`), and the options both commands share.

Printing only: the experiment ran in :func:`harness.ablate` / :func:`harness.validate`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.cli._console import console as cli_console
from harness.cli._options import (
    AddressOpt,
    ConcurrencyOpt,
    CpusOpt,
    DataOpt,
    GpusOpt,
    MaxFailuresOpt,
    NameOpt,
    ResumeOpt,
    RunsDirOpt,
    SetOpt,
    StorageOpt,
    TrainableOpt,
)
from harness.cli._params import in_flags

__all__ = ["api_arguments", "cell_options", "print_interrupted", "print_paired", "run_command"]

#: the options of the cells' run, the same in both commands: name, type, default
CELL_OPTIONS = (
    ("data", DataOpt, None),
    ("set_", SetOpt, None),
    ("concurrency", ConcurrencyOpt, 2),
    ("cpus_per_trial", CpusOpt, 1.0),
    ("gpus_per_trial", GpusOpt, None),
    ("trainable", TrainableOpt, None),
    ("max_failures", MaxFailuresOpt, 2),
    ("address", AddressOpt, None),
    ("storage", StorageOpt, None),
    ("name", NameOpt, None),
    ("runs_dir", RunsDirOpt, Path("runs")),
    ("resume", ResumeOpt, False),
)
# verdict -> row style
_STYLES = {"hurts": "red", "helps": "green", "worse": "red", "better": "green"}


def cell_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` (whose last parameter is ``**cells``) the options of :data:`CELL_OPTIONS`
    in place of ``**cells``: typer reads the signature, the command gets them in ``cells``."""
    own = inspect.signature(command, eval_str=True).parameters.values()
    kept = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, kind, default in CELL_OPTIONS
    ]
    command.__signature__ = inspect.Signature([*kept, *added])  # type: ignore[attr-defined]
    command.__annotations__ = {
        **{p.name: p.annotation for p in kept},
        **{name: kind for name, kind, _ in CELL_OPTIONS},
    }
    return command


def api_arguments(local: dict[str, Any]) -> dict[str, Any]:
    """A command's parameters as the API's keyword arguments (``set_`` -> ``set``; the cell
    options out of ``cells``)."""
    merged = {k: v for k, v in local.items() if k not in ("ctx", "cells")}
    merged.update(local.get("cells") or {})
    return {key.rstrip("_"): value for key, value in merged.items()}


def _wide(console: Console) -> Console:
    if not console.is_terminal and console.width < 200:
        # a log or CI: a 13-column table squeezed to 80 columns cannot be read
        return Console(width=200, file=console.file)
    return console


def _table(title: str, rows: list[dict[str, str]]) -> Table:
    table = Table(title=escape(title))
    for key in rows[0]:
        table.add_column(key, justify="left" if key in ("variant", "verdict") else "right")
    for row in rows:
        table.add_row(*(escape(v) for v in row.values()), style=_STYLES.get(row["verdict"]))
    return table


def _print_ablation(result: Any, console: Console) -> None:
    """The main table, the smallest detectable effects and the notes."""
    from analysis import ablation_rows, mde_lines

    stats = result.statistics
    _wide(console).print(_table(result.title, ablation_rows(stats)))
    for line in mde_lines(stats):
        console.print(f"detectable: {escape(line)}")
    for note in stats.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")


def _print_validation(result: Any, console: Console) -> None:
    """The main metric's table, the verdict, the winner's curse and the notes."""
    from analysis.validation import validation_rows

    stats = result.statistics
    _wide(console).print(_table(result.title, validation_rows(stats)))
    console.print(f"[bold]verdict:[/] {escape(stats.verdict)}")
    if stats.winners_curse:
        console.print("[bold]winner's curse:[/] " + escape(stats.winners_curse["sentence"]))
    for note in stats.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_path(result: Any, console: Console) -> None:
    """One row per step of the ablation path."""
    table = Table(title=escape(result.title))
    for col in ("step", "parameter", "from", "to", result.metric, "gain", "share"):
        table.add_column(col, justify="left" if col == "parameter" else "right")
    for r in result.table.itertuples(index=False):
        share = "" if math.isnan(r.share) else f"{100 * r.share:.0f}%"
        cells = (r.step, r.parameter, _short(r[2]), _short(r[3]), f"{r.value:.4g}")
        table.add_row(*(escape(str(c)) for c in cells), f"{r.gain:+.4g}", share)
    console.print(table)


_PRINTERS = {
    "ablation": _print_ablation,
    "validation": _print_validation,
    "ablation_path": _print_path,
}


def print_paired(result: Any, console: Console) -> int:
    """Print a :class:`harness.PairedResult`'s table and the files written; the exit code:
    0 with a table, 1 without one (no finished cell of the baseline and a variant yet)."""
    if result.statistics is None:
        return 1
    _PRINTERS[result.kind](result, console)
    if result.written:
        where = result.written[0].parent
        names = ", ".join(p.name for p in result.written)
        console.print(f"wrote {escape(names)} in {escape(str(where))}")
    return 0


def print_interrupted(result: Any, command: str, runs_dir: Path, console: Console) -> int:
    """After an interrupted run, how far it got and the command that continues it; 1."""
    console.print(
        f"[yellow]interrupted:[/] {result.finished} of {result.expected} cells finished; "
        f"continue with `harness {command} --resume --name {escape(result.path.name)} "
        f"--runs-dir {escape(str(runs_dir))}`"
    )
    return 1


def run_command(ctx: typer.Context, command: str, arguments: dict[str, Any]) -> None:
    """Call ``harness.<command>(**arguments)`` (``ablate`` or ``validate``) with the CLI's
    console, print its result and exit with its code (0 done, 1 interrupted or no table)."""
    import harness

    with in_flags(ctx.command):
        result = getattr(harness, command)(**arguments, console=cli_console)
    code = print_paired(result, cli_console)
    if result.interrupted:
        code = print_interrupted(result, command, arguments["runs_dir"], cli_console)
    raise typer.Exit(code)
