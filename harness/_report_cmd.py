"""``harness report``: importance rankings of one experiment, or several side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from search_spaces import ConfigError

__all__ = ["report_command"]

FORMATS = ("md", "html", "csv", "json")


def _formats(spec: str) -> tuple[str, ...]:
    chosen = tuple(f.strip() for f in spec.split(",") if f.strip())
    unknown = sorted(set(chosen) - set(FORMATS))
    if unknown or not chosen:
        raise ConfigError(f"--format {spec!r}: choose from {', '.join(FORMATS)} (comma-separated)")
    return chosen


def _print_ranking(report: Any, meta: dict[str, Any], console: Console) -> None:
    from analysis import ranking_rows

    rows = ranking_rows(report.table)
    table = Table(
        title=(
            f"{meta['experiment']}: what drives {meta['metric']} "
            f"(epoch {meta['epoch']}, {meta['n_used']} of {meta['n_trials_total']} trials)"
        )
    )
    if rows:
        for key in rows[0]:
            table.add_column(key, justify="left" if key == "parameter" else "right")
        for row in rows:
            table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    console.print(meta["rule"])
    for note in meta["notes"]:
        console.print(f"[yellow]note:[/] {note}")


def report_command(
    runs: list[Path],
    *,
    metric: str | None,
    epoch: int | None,
    bins: int,
    interactions: int,
    bootstrap: int,
    seed: int,
    formats: str,
    out: Path | None,
    console: Console,
) -> int:
    """Run ``harness report``; return the exit code."""
    from analysis import (
        FanovaSettings,
        compute_importance,
        load_experiment,
        write_comparison,
        write_report,
    )

    chosen = _formats(formats)
    if bins < 2:
        raise ConfigError(f"--bins must be >= 2, got {bins}")
    if interactions < 0:
        raise ConfigError(f"--interactions must be >= 0, got {interactions}")
    experiments = [load_experiment(path) for path in runs]
    named: dict[str, Any] = {}
    metas: dict[str, dict[str, Any]] = {}
    for exp in experiments:
        fanova = FanovaSettings.for_trials(len(exp.trials))
        report = compute_importance(
            exp,
            metric=metric,
            epoch=epoch,
            bins=bins,
            interactions=interactions,
            bootstrap=bootstrap,
            seed=seed,
            fanova=fanova,
        )
        meta = report.meta()
        _print_ranking(report, meta, console)
        target = out if (out is not None and len(experiments) == 1) else exp.path / "report"
        target.mkdir(parents=True, exist_ok=True)
        files = write_report(
            target,
            report.table,
            report.interactions,
            report.groups,
            meta,
            exp.trials,
            exp.curves,
            formats=chosen,
            analysed=report.fidelity.table,
        )
        console.print("wrote " + ", ".join(str(p) for p in files.values()))
        named[exp.name] = report.table
        metas[exp.name] = meta
    if len(experiments) > 1:
        target = out or experiments[0].path.parent / (
            "compare-" + "-".join(e.name for e in experiments)
        )
        target.mkdir(parents=True, exist_ok=True)
        files = write_comparison(target, named, metas)
        console.print("comparison: " + ", ".join(str(p) for p in files.values()))
    return 0
