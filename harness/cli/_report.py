"""``harness report``: importance rankings of one experiment, or several side by side; the
ablation table of an ablation directory (``spec.json`` with ``"kind": "ablation"``), the
validation table of a validation directory (``"kind": "validation"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["ablation_report", "print_ablation", "print_report"]


def _print_ranking(
    report: Any, meta: dict[str, Any], console: Console, param_source: str = ""
) -> None:
    """The ranking on a terminal: the fidelity in the title, a MIXED BUDGETS banner in yellow
    above it, the columns of report.md in compact form, then the rule, parameters and notes."""
    from analysis import ranking_rows

    rows = ranking_rows(report.table, level=meta.get("level", 0.9), compact=True)
    banner = meta.get("banner")
    if banner:
        console.print(Text(banner, style="bold yellow"))
    unavailable = report.estimate.unavailable
    if unavailable:  # one line, not a table of identical "n/a" cells
        console.print(
            f"{meta['experiment']}: what drives {meta['metric']} ({meta['header']}): no ranking, "
            f"{escape(unavailable)} (see the notes; the ranking across epochs is in report.md)"
        )
        rows = []
    if rows:
        console.print(_ranking_table(rows, meta, narrow=console.width < 120))
    console.print(escape(str(meta["rule"])))
    if param_source:
        names = report.fidelity.params
        shown = ", ".join(names[:8]) + (f", … ({len(names)} in all)" if len(names) > 8 else "")
        console.print(f"parameters ({escape(param_source)}): {escape(shown) or '(none)'}")
    for note in meta["notes"]:
        if note != banner:
            console.print(f"[yellow]note:[/] {escape(str(note))}")


def _ranking_table(rows: list[dict[str, Any]], meta: dict[str, Any], narrow: bool) -> Table:
    """The ranking's rows as a table. A parameter's name and the numbers are never cut: in a
    narrow terminal the long "treatment" column (also in report.md) is left out and both
    P(rank) headings shortened."""
    from rich import box

    table = Table(
        title=f"{meta['experiment']}: what drives {meta['metric']} ({meta['header']})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    keys = [k for k in rows[0] if not (narrow and k == "treatment")]
    name_width = max(len(row["parameter"]) for row in rows) if "parameter" in keys else None
    for key in keys:
        _add_ranking_column(table, key, narrow, name_width)
    for row in rows:
        table.add_row(*(escape(str(row[k])) for k in keys))
    table.caption = (
        "% = share of the metric's variance explained by the parameter's main effect, over "
        "the trials (ANOVA) or the search space (fANOVA); every column is defined in report.md"
    )
    return table


def _add_ranking_column(table: Table, key: str, narrow: bool, name_width: int | None) -> None:
    # F and p never wrap; a share wraps before its interval, a P(rank) before its rank
    name = key == "parameter"
    table.add_column(
        "P(rank)" if narrow and key.endswith("P(rank)") else key,
        justify="left" if name else "right",
        no_wrap=key in ("parameter", "F", "p"),
        min_width=name_width if name else None,
    )


def print_ablation(result: Any, title: str, console: Console) -> None:
    """The ablation's main table, its smallest detectable effects and its notes, on a terminal."""
    from analysis import ablation_rows, mde_lines

    if not console.is_terminal and console.width < 200:
        # a log or CI: a 13-column table squeezed to 80 columns cannot be read
        console = Console(width=200, file=console.file)
    rows = ablation_rows(result)
    table = Table(title=title)
    for key in rows[0]:
        table.add_column(key, justify="left" if key in ("variant", "verdict") else "right")
    for row in rows:
        style = {"hurts": "red", "helps": "green"}.get(row["verdict"])
        table.add_row(*(escape(v) for v in row.values()), style=style)
    console.print(table)
    for line in mde_lines(result):
        console.print(f"detectable: {escape(line)}")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")


def ablation_report(
    directory: Path,
    *,
    metric: str | None,
    bootstrap: int,
    seed: int,
    out: Path | None,
    console: Console,
) -> list[Path]:
    """Print an ablation directory's statistics and write them, with ``report.html``.

    The files go to ``out`` (default ``DIRECTORY/report``); ``metric`` overrides the main metric
    of ``spec.json``; ``bootstrap`` and ``seed`` set the bootstrap interval of each Δ.

    Returns:
        The written paths.
    """
    from analysis import ablation_statistics, load_ablation, write_ablation

    cells, variants, spec = load_ablation(directory)
    main_metric = metric or str(spec.get("metric") or "iou_lesion")
    # the direction the ablation recorded for its metric wins over the shared rule
    recorded = {str(spec["metric"]): str(spec["mode"])} if spec.get("mode") else None
    result = ablation_statistics(
        cells, main_metric=main_metric, bootstrap=bootstrap, seed=seed, directions=recorded
    )
    meta = {"name": directory.name, **spec}
    print_ablation(result, f"{directory.name}: ablation of {main_metric}", console)
    files = write_ablation(result, variants, out or directory / "report", meta=meta, html_page=True)
    console.print("wrote " + ", ".join(str(p) for p in files))
    return files


def print_report(result: Any, console: Console) -> None:
    """Each experiment's ranking and the files written, then the comparison's files
    (``result``: a :class:`harness.ReportResult`; ablation and validation tables print as they
    are written)."""
    for exp in result.experiments:
        _print_ranking(exp.report, exp.meta, console, exp.param_source)
        console.print("wrote " + ", ".join(str(p) for p in exp.files.values()))
    if result.comparison:
        console.print("comparison: " + ", ".join(str(p) for p in result.comparison))
