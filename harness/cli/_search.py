"""``harness search``: one named space, or a staged plan, on Ray Tune."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.search._stage import DEFAULT_TRAINABLE, SearchSettings, StageResult, run_stage
from harness.tune._rundir import create_run_dir, environment, write_json
from search_spaces import ConfigError, Recipe, TrialStatus

__all__ = ["print_stage_result", "search_command"]

SPEC = "spec.json"
# the order statuses are counted in at the end of a search: the enum's
STATUS_ORDER = tuple(str(s) for s in TrialStatus)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def print_stage_result(
    result: StageResult, settings: SearchSettings, console: Console, top: int = 8
) -> None:
    """Top trials, status counts and the best configuration of a finished stage."""
    trials = result.trials
    metric_col = f"final.{settings.metric}"
    if trials.empty:
        console.print("[red]no trial finished[/]")
        return
    console.print(status_counts(trials))
    params = [
        c for c in trials.columns if "." in c and not c.startswith(("final.", "best.", "raw."))
    ]
    prefix = _common_prefix(params)
    short = {c: c[len(prefix) :] for c in params}
    ranked = trials.sort_values(metric_col, ascending=settings.mode == "min", na_position="last")
    title = f"top trials by {settings.metric} (final epoch)"
    table = Table(title=title + (f"; parameters under {prefix}" if prefix else ""))
    for col in ("trial_id", "status", "epochs", metric_col, *params):
        left = col in ("trial_id", "status")
        table.add_column(short.get(col, col), justify="left" if left else "right")
    for _, row in ranked.head(top).iterrows():
        table.add_row(
            *(_fmt(row[c]) for c in ("trial_id", "status", "epochs", metric_col, *params))
        )
    console.print(table)
    if result.best is not None:
        best = Table(
            title=f"best configuration ({settings.metric} = {_fmt(result.best[metric_col])})"
        )
        best.add_column("parameter")
        best.add_column("value", justify="right")
        for col in params:
            best.add_row(col, _fmt(result.best[col]))
        console.print(best)
    console.print(f"experiment directory: [bold]{result.directory}[/]")


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


def _common_prefix(paths: list[str]) -> str:
    """``loss.weights.`` for the seven loss weights; empty when the paths share no section."""
    if len(paths) < 2:
        return ""
    parts = [p.split(".")[:-1] for p in paths]
    common: list[str] = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return ".".join(common) + "." if common else ""


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
    if settings.trainable == DEFAULT_TRAINABLE:
        from trials import check_recipe

        check_recipe(recipe)
    if plan_name is not None:
        from harness.search._plan import run_plan
        from search_spaces import load_plan

        plan = load_plan(plan_name).scaled(budget)
        connect(address, num_cpus=None)
        if not resume:
            run_dir = create_run_dir(runs_dir, name, f"plan-{plan_name}")
            _write_spec(
                run_dir,
                {
                    "command": f"search --plan {plan_name}",
                    "plan": plan_name,
                    "budget": budget,
                    "recipe": recipe.model_dump(mode="json"),
                    "settings": settings.to_dict(),
                },
            )
        return run_plan(run_dir, plan, recipe, settings, console=console, resume=resume)

    if space_name is None:
        raise ConfigError("give --space NAME or --plan NAME (see `harness spaces`)")
    space = space or load_space(space_name)
    connect(address, num_cpus=None)
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
            },
        )
    console.print(
        f"[bold]harness search[/] space [cyan]{space.name}[/] on recipe [cyan]{recipe.name}[/]: "
        f"{settings.trials} trials, ASHA max {settings.max_epochs} epochs (grace "
        f"{settings.grace_period}, factor {settings.reduction_factor}), concurrency "
        f"{settings.concurrency}, sampler {settings.sampler}, metric {settings.metric} "
        f"({settings.mode}) -> {run_dir}"
    )
    result = run_stage(
        run_dir, space, recipe, settings, console=console, resume=resume, title=space.name
    )
    print_stage_result(result, settings, console)
    if result.interrupted:
        console.print(
            f"[yellow]interrupted[/]: {len(result.trials)} of {settings.trials} trials recorded; "
            f"continue with: harness search --resume --name {run_dir.name}"
        )
        return 130
    return 0
