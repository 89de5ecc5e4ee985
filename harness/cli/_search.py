"""How ``harness search`` prints: status counts, the best configuration, the ranking by epoch
reached, the plan's summary, the budget line and the plain-language answer."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.tune import BUDGET_FILE
from search_spaces import ConfigError, TrialStatus

__all__ = [
    "budget_line",
    "print_answer",
    "print_plan_summary",
    "print_search",
    "print_stage_result",
    "ranking_table",
    "read_spec",
    "status_counts",
]

# the order statuses are counted in at the end of a search: the enum's
STATUS_ORDER = tuple(str(s) for s in TrialStatus)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def print_stage_result(result: Any, console: Console, top: int = 10) -> None:
    """Status counts, the best configuration (its parameters listed vertically, so no value is
    cut at 80 columns) and a compact ranking that keeps trials apart by the epoch they reached:
    a pruned trial's score at epoch 2 is not comparable with a completed one's at epoch 12.

    ``result``: a :class:`harness.SearchResult` of one space."""
    trials, metric = result.trials, result.metric
    if trials.empty:
        console.print("[red]no trial finished[/]")
        return
    console.print(status_counts(trials))
    if result.best is not None:
        _print_best(trials, result, console)
    console.print(ranking_table(trials, metric, result.mode, top))
    console.print(f"experiment directory: [bold]{result.path}[/]")


def _print_best(trials: Any, result: Any, console: Console) -> None:
    metric_col = f"final.{result.metric}"
    best = trials[trials["trial_id"] == result.best["trial_id"]].iloc[0]
    params = [
        c for c in trials.columns if "." in c and not c.startswith(("final.", "best.", "raw."))
    ]
    console.print(
        f"best: trial {best['trial_id']}, {result.metric} = {_fmt(best[metric_col])} "
        f"({best['status']}, epoch {int(best['epochs'])} of {result.settings.max_epochs})"
    )
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2))
    table.add_column("parameter", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    for col in params:
        table.add_row(col, _fmt(best[col]))
    console.print(table)


def ranking_table(trials: Any, metric: str, mode: str, top: int = 10) -> Table:
    """The best ``top`` trials, grouped by the epoch they reached (longest first), each group
    ranked by the metric at that epoch."""
    column = f"final.{metric}"
    ranked = trials.assign(_e=trials["epochs"].fillna(0).astype(int)).sort_values(
        ["_e", column], ascending=[False, mode == "min"], na_position="last"
    )
    table = Table(title=f"ranking: {metric} at the epoch reached", title_justify="left")
    table.add_column("epoch", justify="right", no_wrap=True)
    table.add_column("trial", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column(metric, justify="right", no_wrap=True)
    shown, previous = 0, None
    for epoch, group in ranked.groupby("_e", sort=False):
        if previous is not None:
            table.add_section()
        for i, (_, row) in enumerate(group.head(max(1, top - shown)).iterrows()):
            label = str(epoch) if i == 0 else ""
            table.add_row(label, str(row["trial_id"]), str(row["status"]), _fmt(row[column]))
            shown += 1
        previous = epoch
        if shown >= top:
            break
    left = len(trials) - shown
    if left > 0:
        table.caption = f"{left} more in trials.parquet"
    return table


def print_answer(sentences: list[str], console: Console) -> None:
    """The plain-language end of a search (:attr:`harness.SearchResult.sentences`)."""
    console.print()
    for line in sentences:
        console.print(line, markup=False, highlight=False)


def print_plan_summary(summary: dict[str, Any], console: Console) -> None:
    """A plan's stages (trials, epochs, best and mean) and how the ranges narrowed."""
    table = Table(title="plan summary")
    columns = ("stage", "space", "trials", "epochs", "best", "mean")
    for col in columns:
        table.add_column(col)
    for row in summary.get("stages", []):
        table.add_row(
            *(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns)
        )
    console.print(table)
    narrowing = summary.get("narrowing", [])
    if narrowing:
        ranges = Table(title="how the ranges narrowed")
        for col in ("stage", "parameter", "before", "after"):
            ranges.add_column(col)
        for row in narrowing:
            ranges.add_row(row["stage"], row["path"], str(row["old"]), str(row["new"]))
        console.print(ranges)


def print_search(result: Any, console: Console) -> int:
    """Print the end of a search or a plan (``result``: a :class:`harness.SearchResult`);
    return the exit code (130 when it was interrupted)."""
    if result.kind == "plan":
        if not result.interrupted:
            print_plan_summary(result.plan_summary, console)
            console.print(f"experiment directory: [bold]{result.path}[/]")
    else:
        print_stage_result(result, console)
    if result.budget is not None:
        console.print(budget_line(result.budget), markup=False, highlight=False)
    if result.interrupted:
        if result.kind != "plan":
            console.print(
                f"[yellow]interrupted[/]: {len(result.trials)} of {result.settings.trials} "
                f"trials recorded; continue with: harness search --resume --name "
                f"{result.path.name}"
            )
        return 130
    if result.sentences:
        print_answer(result.sentences, console)
    return 0


def status_counts(trials: Any) -> str:
    """One line counting the trials of each status (and OOM retries and nodes, when any)."""
    counts = trials["status"].value_counts().to_dict()
    order = [s for s in STATUS_ORDER if s in counts] + sorted(set(counts) - set(STATUS_ORDER))
    line = "trials: " + ", ".join(f"{s} {counts[s]}" for s in order) + f" (of {len(trials)})"
    if "attempts" in trials:
        retried = int((trials["attempts"].fillna(1) > 1).sum())
        if retried:
            line += f"; {retried} retried after an OOM at half batch size"
    if "node_id" in trials:
        nodes = trials["node_id"].dropna().nunique()
        if nodes > 1:
            line += f"; ran on {nodes} nodes"
    return line


def budget_line(record: dict[str, Any]) -> str:
    """The one line that says what a compute budget allowed and what was spent."""
    parts = [
        f"{record['epochs_used']} of {record['epochs']} epochs"
        if record.get("epochs") is not None
        else f"{record['epochs_used']} epochs",
        f"{record['hours_used']:.4g} of {record['hours']:g} trial-hours"
        if record.get("hours") is not None
        else f"{record['hours_used']:.4g} trial-hours",
    ]
    line = "budget: " + ", ".join(parts) + " used"
    if record.get("exhausted"):
        line += "; spent, so the search stopped proposing trials"
        stopped = len(record.get("stopped_trials") or {})
        if stopped:
            line += f" and stopped {stopped} running trial(s) at once (see {BUDGET_FILE})"
    return line


def read_spec(run_dir: Path, what: str = "a search") -> dict[str, Any]:
    """The ``spec.json`` of an earlier run as a dictionary (for the ablation and validation
    commands' ``--resume``); ``what`` names the run in the error."""
    import search_spaces

    try:
        return search_spaces.read_spec(run_dir, what).to_json()
    except ConfigError as exc:
        raise ConfigError(f"--resume: {exc}") from None
