"""``harness.report`` and ``harness.tables``: what ``harness report`` and ``harness tables`` do.

import harness
result = harness.report("runs/search-lr")
result.importance["search-lr"]      # the ranking, one row per parameter
result.best                         # the best configuration the directory holds
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness._notify import say
from harness.tune._rundir import param_error
from search_spaces import ConfigError, HarnessError, RunSpec, has_spec, read_spec

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "ExperimentReport",
    "RebuiltTables",
    "ReportResult",
    "needs_tables",
    "rebuild_experiment",
    "report",
    "tables",
    "write_search_report",
]

_log = logging.getLogger(__name__)

FORMATS = ("md", "html", "csv", "json")
TRIALS = "trials.parquet"

RunPaths = str | Path | Sequence[str | Path]


@dataclass(frozen=True)
class RebuiltTables:
    """The tables of one directory, rebuilt from Ray's state."""

    directory: Path
    trials: pd.DataFrame
    curves: pd.DataFrame


@dataclass(frozen=True)
class ExperimentReport:
    """The importance report of one search or plan directory.

    Attributes:
        name: the directory's name.
        path: the directory.
        report: the :class:`analysis.ImportanceReport` (table, interactions, groups, fidelity).
        meta: its header: fidelity, metric, mode, rule and notes.
        param_source: where the ranked parameters came from (see
            :func:`analysis.load_experiment`).
        files: what was written, by kind (``md``, ``html``, ``csv``, ``json``, plots).
        best: the best configuration of the directory (see :func:`best_in`).
    """

    name: str
    path: Path
    report: Any
    meta: dict[str, Any]
    param_source: str
    files: dict[str, Path]
    best: dict[str, Any] | None


@dataclass(frozen=True)
class ReportResult:
    """What :func:`report` computed and wrote.

    Attributes:
        paths: every file written, in order.
        importance: each experiment's importance table, by directory name.
        meta: each experiment's report header (fidelity, metric, mode, rule, notes), by name.
        best: the best configuration of the first search or plan directory: each parameter's
            value by dotted path, ``trial_id``, ``epochs``, ``status`` and ``final.<metric>``
            (what :func:`harness.search` returns as ``best``); ``None`` without one.
        notes: what the report had to assume or refuse, each experiment's notes included.
        experiments: each search or plan directory's report, in order.
        comparison: the side-by-side comparison's files (several experiments only).
        paired: the statistics of the ablation and validation directories among the runs
            (:class:`harness.PairedResult` each), their files written.
    """

    paths: list[Path]
    importance: dict[str, pd.DataFrame]
    meta: dict[str, dict[str, Any]]
    best: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    experiments: list[ExperimentReport] = field(default_factory=list)
    comparison: list[Path] = field(default_factory=list)
    paired: list[Any] = field(default_factory=list)


# ---------------------------------------------------------------------------------- tables


def _stage_dirs(run: Path) -> list[Path]:
    return sorted(p for p in run.iterdir() if p.is_dir() and p.name[:2].isdigit() and "-" in p.name)


def needs_tables(run: str | Path) -> bool:
    """A run directory (search, plan stage or ablation) with a spec but without its tables."""
    run = Path(run)
    if not has_spec(run):
        return False
    try:
        spec = read_spec(run)
    except ConfigError:
        return False  # the report says what is wrong with it
    if spec.kind == "ablation":  # an ablation's report reads its cells
        return not (run / "cells.parquet").is_file()
    stages = _stage_dirs(run)
    if stages:
        return any(not (s / TRIALS).is_file() for s in stages)
    return not (run / TRIALS).is_file()


def _rebuild_one(directory: Path, settings: dict[str, Any], storage: str | None, epochs: int):
    from harness.tune import rebuild_tables

    return rebuild_tables(
        directory, settings["metric"], settings["mode"], epochs or 1, storage=storage
    )


def _rebuild_plan(run: Path, spec: RunSpec, settings: dict[str, Any]) -> list[Any]:
    from search_spaces import load_plan

    if spec.plan is None:
        raise ConfigError(f"{run / 'spec.json'}: a plan's directory records no plan name")
    plan = load_plan(spec.plan).scaled(spec.budget if spec.budget is not None else 1.0)
    default = int(_recipe_epochs(spec))
    storage = settings.get("storage")
    stage_storage = None if storage is None else f"{storage}/{run.name}"
    targets = []
    for stage in _stage_dirs(run):
        index = int(stage.name.split("-", 1)[0]) - 1
        epochs = plan.stages[index].max_epochs or default if index < len(plan.stages) else 0
        try:
            result = _rebuild_one(stage, settings, stage_storage, epochs or default)
        except ConfigError:
            continue  # a stage the plan never started
        targets.append((stage, result))
    return targets


def _recipe_epochs(spec: RunSpec) -> int:
    recipe = spec.recipe if isinstance(spec.recipe, dict) else {}
    return int(recipe["optim"]["epochs"])


def rebuild_experiment(run: str | Path, console: Console | None = None) -> list[RebuiltTables]:
    """Rebuild the tables of one run directory (a search, every stage of a plan, or an
    ablation, whose ``cells.parquet`` is derived again too) from Ray's own state.

    Args:
        run: the run directory.
        console: a rich console for the one line per rebuilt directory (``None``: logged).

    Raises:
        ConfigError: not a run directory, or no Ray state to rebuild from.
    """
    run = Path(run)
    if not has_spec(run):
        raise ConfigError(f"{run} is not a run directory of the harness (no spec.json)")
    spec = read_spec(run)
    settings = spec.settings or {}
    if "metric" not in settings or "mode" not in settings:
        raise ConfigError(f"{run / 'spec.json'}: records no settings.metric and settings.mode")
    storage = settings.get("storage")
    if spec.kind == "ablation":
        from harness.paired import write_cells

        result = _rebuild_one(run, settings, storage, _recipe_epochs(spec))
        write_cells(run, ("seed",))
        targets = [(run, result)]
    elif _stage_dirs(run):
        targets = _rebuild_plan(run, spec, settings)
    else:
        targets = [(run, _rebuild_one(run, settings, storage, settings["max_epochs"]))]
    out = []
    for directory, result in targets:
        counts = result.trials["status"].value_counts().to_dict() if not result.trials.empty else {}
        what = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no trial"
        say(
            console,
            f"rebuilt {directory / TRIALS} ({len(result.trials)} trials: {what}) and "
            f"curves.parquet ({len(result.curves)} rows) from Ray's state",
            _log,
        )
        out.append(RebuiltTables(directory, result.trials, result.curves))
    return out


def _run_list(runs: RunPaths) -> list[Path]:
    if isinstance(runs, str | Path):
        return [Path(runs)]
    return [Path(r) for r in runs]


def tables(runs: RunPaths, console: Console | None = None) -> list[RebuiltTables]:
    """Rebuild ``trials.parquet`` and ``curves.parquet`` of each run directory from Ray's state
    (what ``harness tables`` does).

    Args:
        runs: a run directory or several: searches, plans or ablations.
        console: a rich console for one line per rebuilt directory (``None``: logged).

    Raises:
        ConfigError: a directory that is not a run of the harness, or holds no Ray state.
    """
    return [rebuilt for run in _run_list(runs) for rebuilt in rebuild_experiment(run, console)]


# ---------------------------------------------------------------------------------- report


def _formats(spec: str | Sequence[str]) -> tuple[str, ...]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    chosen = tuple(f.strip() for f in items if f.strip())
    unknown = sorted(set(chosen) - set(FORMATS))
    if unknown or not chosen:
        raise param_error(
            f"format {spec!r}: choose from {', '.join(FORMATS)} (comma-separated)", "format"
        )
    return chosen


def _check(spline_df: int | None, interactions: int) -> None:
    if spline_df is not None and not 1 <= spline_df <= 20:
        raise param_error(f"spline_df must be between 1 and 20, got {spline_df}", "spline_df")
    if interactions < 0:
        raise param_error(f"interactions must be >= 0, got {interactions}", "interactions")


def _rebuild_missing(runs: list[Path], console: Console | None) -> None:
    for path in runs:
        if needs_tables(path):  # lost tables: Ray's own state may still hold what ran
            try:
                rebuild_experiment(path, console)
            except ConfigError:
                pass  # nothing to rebuild from: loading the directory says what is missing
            else:
                say(
                    console, f"{path}: the tables were missing; rebuilt them from Ray's state", _log
                )


def best_in(exp: Any) -> dict[str, Any] | None:
    """The best configuration of a loaded experiment (:func:`analysis.load_experiment`), by its
    search metric and mode: the trial :func:`harness.search` calls best."""
    from harness.searching._answer import best_configuration
    from harness.tune import best_row

    trials = exp.trials
    if exp.kind == "plan" and "stage" in trials:
        # the last stage that searched (a validation stage reruns one configuration)
        params = [p for p in exp.params if p in trials]
        searched = [
            s for s in exp.stages if trials.loc[trials["stage"] == s, params].notna().any().any()
        ]
        if searched:
            trials = trials[trials["stage"] == searched[-1]]
    row = best_row(trials, exp.metric, exp.mode or "max")
    return best_configuration(row, exp.params, exp.metric)


@dataclass(frozen=True)
class _Options:
    metric: str | None
    epoch: int | None
    spline_df: int | None
    interactions: int
    bootstrap: int
    seed: int
    formats: tuple[str, ...]
    mixed_budgets: bool


def _experiment_report(exp: Any, opts: _Options, target: Path) -> ExperimentReport:
    from analysis import compute_importance, write_report

    report = compute_importance(
        exp,
        metric=opts.metric,
        epoch=opts.epoch,
        interactions=opts.interactions,
        bootstrap=opts.bootstrap,
        seed=opts.seed,
        mixed_budgets=opts.mixed_budgets,
        spline_df=opts.spline_df,
    )
    meta = report.meta()
    target.mkdir(parents=True, exist_ok=True)
    files = write_report(
        target,
        report.table,
        report.interactions,
        report.groups,
        meta,
        exp.trials,
        exp.curves,
        formats=opts.formats,
        analysed=report.fidelity.table,
        stability=report.stability,
    )
    return ExperimentReport(
        exp.name, exp.path, report, meta, exp.param_source, dict(files), best_in(exp)
    )


def report(
    runs: RunPaths,
    *,
    metric: str | None = None,
    epoch: int | None = None,
    spline_df: int | None = None,
    interactions: int = 3,
    bootstrap: int = 200,
    seed: int = 0,
    format: str | Sequence[str] = "md,html,csv,json",
    out: str | Path | None = None,
    params: str | Sequence[str] | None = None,
    mixed_budgets: bool = False,
    console: Console | None = None,
) -> ReportResult:
    """Which parameters drive the outcome: ANOVA and fANOVA importance, written as a report
    (what ``harness report`` does).

    Writes ``importance.csv``, ``importance.json``, ``report.md`` and a self-contained
    ``report.html`` to ``RUN/report``; with several runs, also a side-by-side comparison. An
    ablation or validation directory gets its own table instead. Lost tables are rebuilt from
    Ray's state first.

    Args:
        runs: a search or plan directory, or several (compared side by side), or ablation /
            validation directories.
        metric: the outcome to explain (default: the search metric); any numeric column.
        epoch: the fidelity: compare trials at this epoch (default: the highest epoch that
            15 trials per parameter reached, what a reliable ranking needs; without one, the
            highest epoch that 90% of the trials reached).
        spline_df: degrees of freedom (1-20) of each numeric parameter's spline (default:
            chosen by generalised cross-validation).
        interactions: two-way interactions to test.
        bootstrap: bootstrap resamples for the 90% intervals and P(rank).
        seed: seed of the bootstrap and fANOVA.
        format: ``md``, ``html``, ``csv``, ``json``: comma-separated, or a list.
        out: output folder (default: ``RUN/report``; with several runs, the comparison's).
        params: the parameter columns to rank (comma-separated or a list; default: the
            recorded space's).
        mixed_budgets: allow ``final.*``/``best.*`` outcomes of trials of different lengths.
        console: a rich console for the notes printed while it runs (``None``: logged).

    Raises:
        ConfigError: a parameter that breaks its rule, or a directory that is not a run.
    """
    paths = _run_list(runs)
    out_dir = None if out is None else Path(out)
    opts = _Options(
        metric, epoch, spline_df, interactions, bootstrap, seed, _formats(format), mixed_budgets
    )
    _rebuild_missing(paths, console)
    _check(spline_df, interactions)
    paired = _paired_reports(paths, opts, out_dir if len(paths) == 1 else None)
    done = {r.path for r in paired}
    reports = _experiment_reports([p for p in paths if p not in done], params, opts, out_dir)
    comparison = _comparison(reports, out_dir)
    return ReportResult(
        paths=[p for r in reports for p in r.files.values()] + comparison,
        importance={r.name: r.report.table for r in reports},
        meta={r.name: r.meta for r in reports},
        best=reports[0].best if reports else None,
        notes=[str(n) for r in reports for n in r.meta.get("notes", [])],
        experiments=reports,
        comparison=comparison,
        paired=paired,
    )


def _paired_reports(paths: list[Path], opts: _Options, out: Path | None) -> list[Any]:
    """The statistics of the ablation and validation directories among ``paths``, their files
    written (:class:`harness.PairedResult` each)."""
    from analysis.paired import paired_kind
    from harness._paired_api import paired_report

    paired = []
    for path in paths:
        if paired_kind(path) is not None:
            paired.append(
                paired_report(path, metric=opts.metric, bootstrap=opts.bootstrap, seed=opts.seed,
                              out=out)
            )  # fmt: skip
    return paired


def _experiment_reports(
    paths: list[Path], params: str | Sequence[str] | None, opts: _Options, out: Path | None
) -> list[ExperimentReport]:
    """The importance report of each search or plan directory (``out``: the folder of a single
    one's report, else each goes to ``RUN/report``)."""
    from analysis import load_experiment

    if isinstance(params, str):
        params = [p.strip() for p in params.split(",")]
    chosen = None if params is None else list(params)
    experiments = [load_experiment(path, params=chosen) for path in paths]
    reports = []
    for exp in experiments:
        target = out if (out is not None and len(experiments) == 1) else exp.path / "report"
        reports.append(_experiment_report(exp, opts, target))
    return reports


def _comparison(reports: list[ExperimentReport], out: Path | None) -> list[Path]:
    """Several experiments side by side (``out``, default ``compare-<names>`` beside them)."""
    from analysis import write_comparison

    if len(reports) < 2:
        return []
    target = out or reports[0].path.parent / ("compare-" + "-".join(r.name for r in reports))
    target.mkdir(parents=True, exist_ok=True)
    files = write_comparison(
        target, {r.name: r.report.table for r in reports}, {r.name: r.meta for r in reports}
    )
    return list(files.values())


def write_search_report(run_dir: Path, metric: str, mode: str) -> tuple[Any, str | None]:
    """Write ``report/`` for a finished search (what ``harness report`` writes); return the
    importance report, or ``None`` and the reason it could not be computed."""
    from analysis import compute_importance, load_experiment, write_report

    target = run_dir / "report"
    target.mkdir(parents=True, exist_ok=True)
    try:
        exp = load_experiment(run_dir)
        result = compute_importance(exp, metric=metric, mode=mode)
        write_report(
            target,
            result.table,
            result.interactions,
            result.groups,
            result.meta(),
            exp.trials,
            exp.curves,
            analysed=result.fidelity.table,
            stability=result.stability,
        )
    except HarnessError as exc:
        return None, str(exc)
    except Exception as exc:
        # A bug in the analysis must not turn a finished search into a failed one: the trials
        # and tables are on disk already. The traceback is kept for the bug report.
        import traceback

        (target / "importance_error.txt").write_text(traceback.format_exc())
        _log.warning("the importance analysis failed: %s: %s", type(exc).__name__, exc)
        return None, (
            f"the importance analysis failed ({type(exc).__name__}: {exc}); the trials are "
            f"saved; traceback in {target / 'importance_error.txt'}"
        )
    return result, None
