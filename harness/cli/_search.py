"""``harness search``: one named space, or a staged plan, on Ray Tune."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.search._answer import search_answer
from harness.search._stage import (
    DEFAULT_TRAINABLE,
    SearchSettings,
    StageResult,
    budget_trial_cap,
    run_stage,
    stage_recipe,
)
from harness.tune._budget import BUDGET_FILE
from harness.tune._rundir import create_run_dir, environment, write_json
from search_spaces import (
    ConfigError,
    HarnessError,
    Recipe,
    TrialStatus,
    apply_overrides,
    flatten,
    load_recipe,
    parse_override,
)

__all__ = [
    "DEFAULT_MAX_EPOCHS",
    "DEFAULT_TRIALS",
    "budget_line",
    "print_stage_result",
    "search_command",
    "search_max_epochs",
    "search_trials",
]

SPEC = "spec.json"
#: the spec.json key of the compute budget (limits and what was used); "budget" is the plans'
#: trial multiplier (--budget), read by `harness tables`
BUDGET_KEY = "compute_budget"
DEFAULT_TRIALS = 24
DEFAULT_MAX_EPOCHS = 12
# the order statuses are counted in at the end of a search: the enum's
STATUS_ORDER = tuple(str(s) for s in TrialStatus)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def print_stage_result(
    result: StageResult, settings: SearchSettings, console: Console, top: int = 10
) -> None:
    """Status counts, the best configuration (its parameters listed vertically, so no value is
    cut at 80 columns) and a compact ranking that keeps trials apart by the epoch they reached:
    a pruned trial's score at epoch 2 is not comparable with a completed one's at epoch 12."""
    trials = result.trials
    metric_col = f"final.{settings.metric}"
    if trials.empty:
        console.print("[red]no trial finished[/]")
        return
    console.print(status_counts(trials))
    params = [
        c for c in trials.columns if "." in c and not c.startswith(("final.", "best.", "raw."))
    ]
    if result.best is not None:
        best = result.best
        console.print(
            f"best: trial {best['trial_id']}, {settings.metric} = {_fmt(best[metric_col])} "
            f"({best['status']}, epoch {int(best['epochs'])} of {settings.max_epochs})"
        )
        table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2))
        table.add_column("parameter", no_wrap=True)
        table.add_column("value", justify="right", no_wrap=True)
        for col in params:
            table.add_row(col, _fmt(best[col]))
        console.print(table)
    console.print(ranking_table(trials, settings.metric, settings.mode, top))
    console.print(f"experiment directory: [bold]{result.directory}[/]")


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


def print_answer(answer: dict[str, Any], run_dir: Path, console: Console) -> None:
    """The plain-language end of a search: what was found, how sure, and what to run next."""
    metric, lines = answer["metric"], []
    best, base = answer.get("best"), answer.get("base")
    if best is not None and best["value"] is not None:
        line = f"The best configuration (trial {best['trial_id']}) reached {metric} = "
        line += f"{best['value']:.4g}"
        if base is not None and base["value"] is not None and base["trial_id"] != best["trial_id"]:
            gain = best["value"] - base["value"]
            sign = "better" if (gain > 0) == (answer["mode"] == "max") else "worse"
            line += (
                f", {abs(gain):.4g} {sign} than the base configuration (trial "
                f"{base['trial_id']}, {base['value']:.4g} at epoch {base['epochs']})"
            )
            if not base["complete"]:
                line += "; the base was stopped early, so the two are not at the same epoch"
        elif base is not None and base["trial_id"] == best["trial_id"]:
            line += "; that is the base configuration itself: no sampled one beat it"
        lines.append(line + ".")
        lines.append(
            "Seed noise is unknown for a single run of each configuration: "
            f"`harness ablate --base {run_dir} --seeds 5` measures it."
        )
    imp = answer.get("importance")
    if imp is None:
        lines.append(f"Importance: not computed ({answer.get('importance_note', 'no report')}).")
    elif imp["important"]:
        parts = []
        for r in imp["important"]:
            share = "" if r["share"] is None else f"{100 * r['share']:.0f}% of the variance"
            if r["lo"] is not None and r["hi"] is not None:
                share += f" [{100 * r['lo']:.0f}, {100 * r['hi']:.0f}]"
            parts.append(f"{r['parameter']} ({share}, Holm p = {r['p_holm']:.2g})")
        lines.append(
            f"At epoch {imp['epoch']} ({imp['n_used']} of {imp['n_trials']} trials), "
            "these parameters matter: " + "; ".join(parts) + "."
        )
    else:
        lines.append(
            f"At epoch {imp['epoch']} ({imp['n_used']} of {imp['n_trials']} trials), no "
            "parameter's effect is distinguishable from noise (ANOVA, Holm-corrected, "
            "p >= 0.05 for each): more trials, or fewer parameters, would be needed."
        )
    for edge in answer.get("edges", []):
        lines.append(
            f"{edge['parameter']} = {edge['value']:.4g} is at the {edge['edge']} edge of its "
            f"range [{edge['low']:g}, {edge['high']:g}]: a wider range may hold better values."
        )
    lines.append(f"Report: {run_dir / 'report' / 'report.html'}")
    lines.append(
        f"Next: `harness report {run_dir}` for the full ranking, `harness ablate --base "
        f"{run_dir} --drop each` for what each loss component is worth."
    )
    console.print()
    for line in lines:
        console.print(line, markup=False, highlight=False)


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


def search_max_epochs(max_epochs: int | None, sets: list[str], plan: bool) -> int:
    """The epochs a trial of ``harness search`` trains: ``--max-epochs`` (ASHA's ``max_t``, to
    which every trial's ``optim.epochs`` is set), or ``--set optim.epochs=N`` when that alone is
    given, or :data:`DEFAULT_MAX_EPOCHS`.

    Raises:
        ConfigError: both given with different values; ``--max-epochs`` with ``--plan`` (each
            stage sets its own, and a validation stage without one runs ``optim.epochs``).
    """
    epochs = None
    for item in sets:
        path, value = parse_override(item)
        if path == "optim.epochs":
            # the recipe's own rule for the value (a whole number >= 1), named as given
            epochs = apply_overrides(load_recipe("cpu_demo"), {path: value}, f"--set {item}")
            epochs = epochs.optim.epochs
    if plan:
        if max_epochs is not None:
            raise ConfigError(
                f"--max-epochs {max_epochs} does not apply to --plan: each stage sets its own "
                "max_epochs, and a validation stage without one trains the recipe's "
                "optim.epochs (--set optim.epochs=N)"
            )
        return DEFAULT_MAX_EPOCHS
    if epochs is not None and max_epochs is not None and epochs != max_epochs:
        raise ConfigError(
            f"--set optim.epochs={epochs} and --max-epochs {max_epochs} disagree: a trial "
            "trains --max-epochs epochs (ASHA's max_t; each trial's optim.epochs is set to "
            "it), so give one of them, or the same value"
        )
    return max_epochs or epochs or DEFAULT_MAX_EPOCHS


def search_trials(
    trials: int | None,
    budget_epochs: int | None,
    budget_hours: float | None,
    grace_period: int,
    concurrency: int,
) -> int:
    """``--trials``, or its default: :data:`DEFAULT_TRIALS`, or under a budget as many trials
    as it can pay for (:func:`harness.search._stage.budget_trial_cap`)."""
    if trials is not None:
        return trials
    if budget_epochs is None and budget_hours is None:
        return DEFAULT_TRIALS
    return budget_trial_cap(budget_epochs, grace_period, concurrency)


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


def _record_budget(run_dir: Path, console: Console) -> None:
    """Copy the run's ``budget.json`` (limits, what was used) into ``spec.json`` and print it."""
    path = run_dir / BUDGET_FILE
    if not path.is_file():
        return
    record = json.loads(path.read_text(encoding="utf-8"))
    spec = read_spec(run_dir)
    spec[BUDGET_KEY] = {k: v for k, v in record.items() if k not in ("stages", "split")}
    write_json(run_dir / SPEC, spec)
    console.print(budget_line(record), markup=False, highlight=False)


def _write_spec(run_dir: Path, payload: dict[str, Any]) -> None:
    write_json(run_dir / SPEC, {**payload, "environment": environment()})


def read_spec(run_dir: Path, what: str = "a search") -> dict[str, Any]:
    """The spec of an earlier run (for ``--resume``); ``what`` names the run in the error."""
    path = run_dir / SPEC
    if not path.is_file():
        raise ConfigError(f"--resume: {run_dir} is not {what} directory (no {SPEC})")
    return json.loads(path.read_text(encoding="utf-8"))


def search_command(
    *,
    space_name: str | None,
    plan_name: str | None,
    recipe: Recipe | None,
    settings: SearchSettings | None,
    budget: float,
    name: str | None,
    runs_dir: Path,
    address: str | None,
    resume: bool,
    console: Console,
    storage: str | None = None,
) -> int:
    """Run ``harness search``; return the exit code."""
    from harness.tune._cluster import connect, resolve_storage
    from search_spaces import Space, load_space

    space = None
    runs_dir, storage_uri = resolve_storage(storage, runs_dir)
    if settings is not None and not resume:
        settings = replace(settings, storage=storage_uri)
    if resume:
        if name is None:
            raise ConfigError("--resume needs --name NAME of the search to continue")
        run_dir = Path(runs_dir) / name
        spec = read_spec(run_dir)
        recipe = Recipe.model_validate(spec["recipe"])
        settings = SearchSettings(**spec["settings"])
        space_name, plan_name, budget = spec.get("space"), spec.get("plan"), spec.get("budget", 1.0)
        if spec.get("space_definition"):
            # the space as it was searched, even if its file changed since
            space = Space.model_validate(spec["space_definition"])
        console.print(f"resuming [bold]{run_dir}[/] ({spec['command']})")
    if recipe is None or settings is None:
        raise ConfigError("internal: recipe and settings are required")
    limits = None if settings.budget is None else settings.budget.to_dict()
    if settings.trainable == DEFAULT_TRAINABLE:
        from trials import check_recipe

        check_recipe(recipe)
    if plan_name is not None:
        from harness.search._plan import BudgetSplit, run_plan
        from search_spaces import load_plan

        plan = load_plan(plan_name).scaled(budget)
        if settings.budget is not None and not resume:
            BudgetSplit(plan, recipe, settings.budget).check(plan_name)
        connect(address, num_cpus=None)
        if not resume:
            run_dir = create_run_dir(runs_dir, name, f"plan-{plan_name}")
            _write_spec(
                run_dir,
                {
                    "command": f"search --plan {plan_name}",
                    "plan": plan_name,
                    "budget": budget,
                    BUDGET_KEY: limits,
                    "recipe": recipe.model_dump(mode="json"),
                    "settings": settings.to_dict(),
                },
            )
        code = run_plan(run_dir, plan, recipe, settings, console=console, resume=resume)
        _record_budget(run_dir, console)
        return code

    if space_name is None:
        raise ConfigError("give --space NAME or --plan NAME (see `harness spaces`)")
    if space is None:
        from harness._trainables import objective_params

        space = load_space(space_name, objective_params=objective_params(settings.trainable))
    if not resume:
        settings.check_budget()
    connect(address, num_cpus=None)
    # what runs: every trial's optim.epochs is the scheduler's max_t (spec.json says so)
    recipe = stage_recipe(recipe, settings)
    if not resume:
        run_dir = create_run_dir(runs_dir, name, f"search-{space.name}")
        _write_spec(
            run_dir,
            {
                "command": f"search --space {space_name}",
                "space": space_name,
                "space_definition": space.model_dump(mode="json"),
                "recipe": recipe.model_dump(mode="json"),
                "settings": settings.to_dict(),
                "seed": settings.seed,
                BUDGET_KEY: limits,
            },
        )
    trials = f"{settings.trials} trials"
    if settings.budget is not None:
        trials = f"budget {settings.budget.describe()} (at most {settings.trials} trials)"
    console.print(
        f"[bold]harness search[/] space [cyan]{space.name}[/] on recipe [cyan]{recipe.name}[/]: "
        f"{trials}, ASHA max {settings.max_epochs} epochs (grace "
        f"{settings.grace_period}, factor {settings.reduction_factor}), concurrency "
        f"{settings.concurrency}, sampler {settings.sampler}, metric {settings.metric} "
        f"({settings.mode}) -> {run_dir}"
    )
    try:
        result = run_stage(
            run_dir, space, recipe, settings, console=console, resume=resume, title=space.name
        )
    except HarnessError:
        if not resume and not (run_dir / "trials.parquet").exists():
            # refused before any trial ran (bad data, a bad trainable): leave no run behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    print_stage_result(result, settings, console)
    _record_budget(run_dir, console)
    if result.interrupted:
        console.print(
            f"[yellow]interrupted[/]: {len(result.trials)} of {settings.trials} trials recorded; "
            f"continue with: harness search --resume --name {run_dir.name}"
        )
        return 130
    importance, note = write_search_report(run_dir, settings.metric, settings.mode)
    answer = search_answer(
        result.trials,
        space,
        _base_values(space, recipe, settings),
        settings.metric,
        settings.mode,
        result.best,
        importance,
    )
    if note:
        answer["importance_note"] = note
    write_json(run_dir / "report" / "answer.json", answer)
    print_answer(answer, run_dir, console)
    return 0


def _base_values(space: Any, recipe: Recipe, settings: SearchSettings) -> dict[str, Any]:
    """The values the base configuration was evaluated with: the recipe's own, moved into the
    space where they were outside it (and rescaled weights), as the search enqueued them."""
    from harness.search._sampling import base_point, effective_params

    base = flatten(stage_recipe(recipe, settings))
    point, _ = base_point(space, base)
    return {**base, **effective_params(space, point, base)}


def write_search_report(run_dir: Path, metric: str, mode: str) -> tuple[Any, str | None]:
    """Write ``report/`` for a finished search (what ``harness report`` writes); return the
    importance report, or ``None`` and the reason it could not be computed."""
    from analysis import compute_importance, load_experiment, write_report

    target = run_dir / "report"
    target.mkdir(parents=True, exist_ok=True)
    try:
        exp = load_experiment(run_dir)
        report = compute_importance(exp, metric=metric, mode=mode)
        write_report(
            target,
            report.table,
            report.interactions,
            report.groups,
            report.meta(),
            exp.trials,
            exp.curves,
            analysed=report.fidelity.table,
            stability=report.stability,
        )
    except HarnessError as exc:
        return None, str(exc)
    except Exception as exc:
        # A bug in the analysis must not turn a finished search into a failed one: the trials
        # and tables are on disk already. The traceback is kept for the bug report.
        import traceback

        (target / "importance_error.txt").write_text(traceback.format_exc())
        return None, (
            f"the importance analysis failed ({type(exc).__name__}: {exc}); the trials are "
            f"saved; traceback in {target / 'importance_error.txt'}"
        )
    return report, None
