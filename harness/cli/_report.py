"""``harness report``: importance rankings of one experiment, or several side by side; the
ablation table of an ablation directory (``spec.json`` with ``"kind": "ablation"``), the
validation table of a validation directory (``"kind": "validation"``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["print_report"]


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


def print_report(result: Any, console: Console) -> None:
    """Each ablation's or validation's table, each experiment's ranking and the files written,
    then the comparison's files (``result``: a :class:`harness.ReportResult`)."""
    from harness.cli._paired import print_paired

    for paired in result.paired:
        if paired.statistics is None:
            console.print(
                f"[yellow]{escape(str(paired.path))}: no finished cell of the baseline and a "
                "variant yet: no table[/]"
            )
        else:
            print_paired(paired, console)
    for exp in result.experiments:
        _print_ranking(exp.report, exp.meta, console, exp.param_source)
        console.print("wrote " + ", ".join(str(p) for p in exp.files.values()))
    if result.comparison:
        console.print("comparison: " + ", ".join(str(p) for p in result.comparison))
