"""``harness evaluate``'s printing: the tables and lines of an evaluation's result.

The evaluation itself is ``harness.evaluate`` (inference in ``trials.evaluate``, statistics in
``analysis.evaluation``); this module prints what it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.cli._evaluate_breakdowns import fmt, metrics_table, print_breakdowns

if TYPE_CHECKING:
    from harness import EvaluationResult

__all__ = ["metrics_table", "print_evaluation"]


def _plain(console: Console, line: str) -> None:
    """A line with paths or numbers in brackets: no markup, never wrapped mid-sentence."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _print_head(result: dict[str, Any], console: Console) -> None:
    data = result["data"]
    console.print(metrics_table(result))
    notes = {m["ci_note"] for m in result["metrics"].values() if m["ci_note"]}
    for note in sorted(notes):
        console.print(f"[yellow]note:[/] {escape(note)}")
    frac = result["lesion_fraction"]
    line = (
        f"lesion fraction pooled over {data['n_images']} images: "
        f"true {fmt(frac['true'])}, predicted {fmt(frac['predicted'])}"
    )
    if "compare" in result:
        line += f" (B {fmt(result['compare']['lesion_fraction']['predicted'])})"
    _plain(console, line)
    classes = result["per_class"]
    breakdown = (
        f"per-class breakdown of {len(classes)} classes in metrics.json"
        if classes
        else "no per-class breakdown (the file names carry no class)"
    )
    console.print(
        f"{result['seconds_per_image']:.3f} s per image on {result['device']}; {breakdown}"
    )


def _print_comparison(result: dict[str, Any], console: Console) -> None:
    cmp = result["compare"]
    if cmp["recipe_differences"]:
        shown = ", ".join(cmp["recipe_differences"][:8])
        more = len(cmp["recipe_differences"]) - 8
        console.print(
            f"[yellow]note:[/] the compared recipes differ in {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    paired = Table(title=f"paired, per image: A = {result['checkpoint']}, B = {cmp['checkpoint']}")
    for col in ("metric", "A", "B", "mean A-B", "95% CI", "p (t)", "p (Wilcoxon)", "d_z"):
        paired.add_column(col, justify="left" if col == "metric" else "right")
    for name, p in cmp["paired"].items():
        paired.add_row(
            name,
            fmt(p["mean_a"]),
            fmt(p["mean_b"]),
            fmt(p["mean_diff"]),
            escape(f"[{fmt(p['diff_ci_low'])}, {fmt(p['diff_ci_high'])}]"),
            fmt(p["p_t"]),
            fmt(p["p_wilcoxon"]),
            fmt(p["d_z"]),
        )
    console.print(paired)
    console.print(f"B: {cmp['seconds_per_image']:.3f} s per image")


def print_evaluation(result: EvaluationResult, console: Console) -> None:
    """Print an evaluation: metrics, comparison, lesion sizes, calibration, files written."""
    metrics = result.metrics
    _print_head(metrics, console)
    if "compare" in metrics:
        _print_comparison(metrics, console)
    print_breakdowns(metrics, console)
    _plain(console, f"wrote metrics.json, per_image.csv, calibration.png to {metrics['out']}")
    if metrics["overlay_folder"]:
        _plain(
            console,
            f"{len(metrics['overlays'])} overlays ({metrics['overlay_legend']}, ground truth "
            f"yellow) in {metrics['overlay_folder']}",
        )
