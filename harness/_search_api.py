"""``harness.search``: what ``harness search`` does, from Python.

    import harness
    result = harness.search("lr", trials=8, max_epochs=4)
    result.best            # {"optim.lr": ..., "trial_id": ..., "final.iou_lesion": ...}
    result.sentences       # the plain-language answer
    harness.search(name=result.path.name, resume=True)   # continue an interrupted search

The checks come first (before Ray starts), then the run directory with its ``spec.json``, the
GPU share, the search (one space, or a staged plan), and for a space the report and the answer.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness._notify import say
from harness.searching._answer import answer_sentences, best_configuration, search_answer
from harness.searching._setup import SearchRequest, override_list, prepare_search
from harness.searching._stage import DEFAULT_TRAINABLE, SearchSettings, run_stage, stage_recipe
from harness.tune._budget import BUDGET_FILE
from harness.tune._rundir import create_run_dir, environment, param_error, write_json
from search_spaces import (
    HarnessError,
    Recipe,
    RunSpec,
    Space,
    flatten,
    read_spec,
    write_spec,
)

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["SearchResult", "search"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchResult:
    """What a search (one space, or a staged plan) produced.

    Attributes:
        path: the run directory (``spec.json``, the tables, ``report/``).
        best: the best configuration: each parameter's value by dotted path, then
            ``trial_id``, ``epochs``, ``status`` and ``final.<metric>`` (what
            ``harness.report(path).best`` finds too); ``None`` when no trial finished. For a
            plan, the best trial of its last stage that searched.
        trials: one row per trial (for a plan, every stage's, with a ``stage`` column).
        curves: one row per trial and epoch.
        importance: the :class:`analysis.ImportanceReport` of the end-of-search report, or
            ``None`` (a plan, an interrupted search, or too few trials: see ``answer``).
        answer: the facts of the plain-language summary (``report/answer.json``); empty for a
            plan or an interrupted search.
        sentences: the answer in plain language, one sentence a line.
        interrupted: the search stopped before its end (``resume=True`` continues it).
        budget: the compute budget's limits and what was used, or ``None`` without one.
        metric, mode: what was optimised.
        settings: the search settings (trials, ASHA, resources, sampler).
        kind: ``"search"`` (one space) or ``"plan"``.
        space: the searched space's name (a search), or ``None``.
        plan_summary: a plan's stages and how their ranges narrowed (``plan_summary.json``).
    """

    path: Path
    best: dict[str, Any] | None
    trials: pd.DataFrame
    curves: pd.DataFrame
    importance: Any | None
    answer: dict[str, Any]
    sentences: list[str]
    interrupted: bool
    budget: dict[str, Any] | None
    metric: str
    mode: str
    settings: SearchSettings
    kind: str = "search"
    space: str | None = None
    plan_summary: dict[str, Any] = field(default_factory=dict)


def _record_budget(run_dir: Path) -> dict[str, Any] | None:
    """Copy the run's ``budget.json`` (limits, what was used) into ``spec.json``; return it."""
    import json

    path = run_dir / BUDGET_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    spec = read_spec(run_dir, "a search")
    compute = {k: v for k, v in record.items() if k not in ("stages", "split")}
    write_spec(run_dir, spec.updated(compute_budget=compute))
    return record


def _new_spec(**fields: Any) -> RunSpec:
    return RunSpec.model_validate({**fields, "environment": environment()})


@dataclass
class _Run:
    """One search being run: what a new search or a resume hands the space or plan runner."""

    run_dir: Path | None
    recipe: Recipe
    settings: SearchSettings
    space_name: str | None
    plan_name: str | None
    budget: float
    resume: bool
    address: str | None = None
    space: Space | None = None


def _resumed(
    runs_dir: Path, name: str | None, address: str | None, console: Console | None
) -> _Run:
    """The search to continue in ``runs_dir/name``, as its ``spec.json`` recorded it."""
    if name is None:
        raise param_error("resume needs name NAME of the search to continue", "name", "resume")
    run_dir = Path(runs_dir) / name
    try:
        spec = read_spec(run_dir, "a search")
    except HarnessError as exc:
        raise param_error(f"resume: {exc}", "resume") from None
    if spec.recipe is None or spec.settings is None:
        raise param_error(
            f"resume: {run_dir / 'spec.json'} records no recipe or settings", "resume"
        )
    space = None
    if spec.space_definition:
        # the space as it was searched, even if its file changed since
        space = Space.model_validate(spec.space_definition)
    say(console, f"resuming {run_dir} ({spec.command})", _log)
    return _Run(
        run_dir,
        Recipe.model_validate(spec.recipe),
        SearchSettings(**spec.settings),
        spec.space,
        spec.plan,
        spec.budget if spec.budget is not None else 1.0,
        True,
        address,
        space,
    )


def _run_plan(run: _Run, runs_dir: Path, name: str | None, console: Console | None) -> SearchResult:
    from harness.searching._plan import run_plan
    from harness.searching._plan_budget import BudgetSplit
    from harness.tune import connect
    from search_spaces import load_plan

    plan_name, settings, recipe = str(run.plan_name), run.settings, run.recipe
    plan = load_plan(plan_name).scaled(run.budget)
    limits = None if settings.budget is None else settings.budget.to_dict()
    if settings.budget is not None and not run.resume:
        BudgetSplit(plan, recipe, settings.budget).check(plan_name)
    connect(run.address, num_cpus=None)
    run_dir = run.run_dir
    if run_dir is None:
        run_dir = create_run_dir(runs_dir, name, f"plan-{plan_name}")
        write_spec(
            run_dir,
            _new_spec(
                command=f"search --plan {plan_name}",
                kind="plan",
                plan=plan_name,
                budget=run.budget,
                compute_budget=limits,
                recipe=recipe.model_dump(mode="json"),
                settings=settings.to_dict(),
            ),
        )
    result = run_plan(run_dir, plan, recipe, settings, console=console, resume=run.resume)
    budget = _record_budget(run_dir)
    best, trials, curves = _plan_tables(run_dir, result.stages)
    return SearchResult(
        path=run_dir,
        best=best,
        trials=trials,
        curves=curves,
        importance=None,
        answer={},
        sentences=[],
        interrupted=result.interrupted,
        budget=budget,
        metric=settings.metric,
        mode=settings.mode,
        settings=settings,
        kind="plan",
        plan_summary={"stages": result.summary, "narrowing": result.narrowing},
    )


def _plan_tables(
    run_dir: Path, stages: list[Any]
) -> tuple[dict[str, Any] | None, pd.DataFrame, pd.DataFrame]:
    """A plan's best configuration and its tables, as ``harness report`` reads the directory
    (every stage, with a ``stage`` column; the best of the last stage that searched)."""
    from analysis import load_experiment
    from harness._report_api import best_in

    try:
        exp = load_experiment(run_dir)
    except HarnessError:  # no stage recorded a trial yet
        frames = [s.trials.assign(stage=s.directory.name) for s in stages]
        curves = [s.curves.assign(stage=s.directory.name) for s in stages]
        if not frames:
            return None, pd.DataFrame(), pd.DataFrame()
        return None, pd.concat(frames, ignore_index=True), pd.concat(curves, ignore_index=True)
    return best_in(exp), exp.trials, exp.curves


def _base_values(space: Space, recipe: Recipe, settings: SearchSettings) -> dict[str, Any]:
    """The values the base configuration was evaluated with: the recipe's own, moved into the
    space where they were outside it (and rescaled weights), as the search enqueued them."""
    from harness.searching._sampling import base_point, effective_params

    base = flatten(stage_recipe(recipe, settings))
    point, _ = base_point(space, base)
    return {**base, **effective_params(space, point, base)}


def _header(space: Space, recipe: Recipe, settings: SearchSettings, run_dir: Path) -> str:
    trials = f"{settings.trials} trials"
    if settings.budget is not None:
        trials = f"budget {settings.budget.describe()} (at most {settings.trials} trials)"
    return (
        f"harness search space {space.name} on recipe {recipe.name}: {trials}, ASHA max "
        f"{settings.max_epochs} epochs (grace {settings.grace_period}, factor "
        f"{settings.reduction_factor}), concurrency {settings.concurrency}, sampler "
        f"{settings.sampler}, metric {settings.metric} ({settings.mode}) -> {run_dir}"
    )


def _run_space(
    run: _Run, runs_dir: Path, name: str | None, console: Console | None
) -> SearchResult:
    from harness._report_api import write_search_report
    from harness.tune import connect
    from search_spaces import load_space

    settings = run.settings
    if run.space_name is None and run.space is None:
        raise param_error("give space NAME or plan NAME (see `harness spaces`)", "space", "plan")
    space = run.space
    if space is None:
        from harness._trainables import objective_params

        space = load_space(
            str(run.space_name), objective_params=objective_params(settings.trainable)
        )
    if not run.resume:
        settings.check_budget()
    connect(run.address, num_cpus=None)
    # what runs: every trial's optim.epochs is the scheduler's max_t (spec.json says so)
    recipe = stage_recipe(run.recipe, settings)
    run_dir = run.run_dir
    if run_dir is None:
        run_dir = create_run_dir(runs_dir, name, f"search-{space.name}")
        write_spec(
            run_dir,
            _new_spec(
                command=f"search --space {run.space_name}",
                kind="search",
                space=run.space_name,
                space_definition=space.model_dump(mode="json"),
                recipe=recipe.model_dump(mode="json"),
                settings=settings.to_dict(),
                seed=settings.seed,
                compute_budget=None if settings.budget is None else settings.budget.to_dict(),
            ),
        )
    say(console, _header(space, recipe, settings, run_dir), _log)
    try:
        result = run_stage(
            run_dir, space, recipe, settings, console=console, resume=run.resume, title=space.name
        )
    except HarnessError:
        if not run.resume and not (run_dir / "trials.parquet").exists():
            # refused before any trial ran (bad data, a bad trainable): leave no run behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    budget = _record_budget(run_dir)
    best = best_configuration(result.best, space.paths(), settings.metric)
    common = dict(
        path=run_dir,
        best=best,
        trials=result.trials,
        curves=result.curves,
        budget=budget,
        metric=settings.metric,
        mode=settings.mode,
        settings=settings,
        space=space.name,
    )
    if result.interrupted:
        return SearchResult(**common, importance=None, answer={}, sentences=[], interrupted=True)
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
    sentences = answer_sentences(answer, run_dir)
    return SearchResult(
        **common, importance=importance, answer=answer, sentences=sentences, interrupted=False
    )


def search(
    space: str | None = None,
    *,
    plan: str | None = None,
    recipe: str = "auto",
    data: str | Path | None = None,
    set: Sequence[str] | Mapping[str, Any] | None = None,
    trials: int | None = None,
    max_epochs: int | None = None,
    grace_period: int | None = None,
    reduction_factor: int = 3,
    concurrency: int = 2,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float | None = None,
    memory_cap: str | None = None,
    sampler: str = "tpe",
    seed: int = 0,
    metric: str | None = None,
    mode: str | None = None,
    trainable: str | None = None,
    budget: float = 1.0,
    budget_epochs: int | None = None,
    budget_hours: float | None = None,
    mlflow: str | None = None,
    address: str | None = None,
    storage: str | None = None,
    max_failures: int = 2,
    name: str | None = None,
    runs_dir: str | Path = "runs",
    resume: bool = False,
    console: Console | None = None,
) -> SearchResult:
    """Search hyperparameters with Ray Tune, Optuna TPE and ASHA early stopping (what
    ``harness search`` does).

    Every trial trains the base recipe with the sampled values; the base recipe's own values are
    evaluated first. Results go to ``runs_dir/name``: Ray's state, ``spec.json``,
    ``trials.parquet``, ``curves.parquet`` and, for one space, ``report/`` with the answer.

    Args:
        space: a named search space (see ``harness spaces``) or a YAML path.
        plan: a staged plan instead of one space: ``staged``, ``groupwise`` or a YAML path.
        recipe: the base recipe: ``cpu_demo``, ``stage1pp``, a YAML path, or ``auto`` (stage1pp
            where the cluster has a GPU).
        data: a data folder (default: the recipe's, e.g. the synthetic generator).
        set: recipe overrides: ``["optim.lr=1e-3", ...]`` or ``{"optim.lr": 1e-3}``.
        trials: trials to run (default 24, or what a budget can pay for).
        max_epochs: ASHA's ``max_t``, every trial's length (default 12, or ``optim.epochs`` of
            ``set``).
        grace_period: epochs before a trial can be stopped (default: max_epochs / factor²).
        reduction_factor: ASHA's reduction factor.
        concurrency: trials at once.
        cpus_per_trial, gpus_per_trial: Ray resources of a trial (GPUs default to an equal
            share of one GPU when the cluster has one).
        memory_cap: a memory cap per trial, e.g. ``"12GiB"``.
        sampler: ``tpe``, ``tpe-budget``, ``random`` or ``grid``.
        seed: the sampler's seed.
        metric, mode: what to optimise (default: the recipe's ``optim.monitor``; the mode by
            the metric's name).
        trainable: ``module:function`` run as a trial (default: the recipe's training).
        budget: a plan's trial multiplier.
        budget_epochs, budget_hours: a compute budget that ends the search once spent.
        mlflow: an MLflow tracking URI to log every trial to.
        address: a Ray cluster (``auto``, ``HOST:PORT``; default ``RAY_ADDRESS`` or a local
            instance).
        storage: where Ray's state goes (a shared path or a URI such as ``s3://bucket/runs``).
        max_failures: restarts of a trial whose worker or node died.
        name: the run's folder name (default ``search-<space>-<time>``); required to resume.
        runs_dir: the folder of run directories.
        resume: continue the interrupted search ``runs_dir/name`` (every other argument but
            ``address``, ``storage`` and ``console`` is read from its ``spec.json``).
        console: a rich console to draw the live progress on (``None``: progress lines go to
            the ``harness`` logger).

    Raises:
        ConfigError: an argument that breaks its rule (naming the parameter), before Ray starts.
    """
    from harness.tune import resolve_storage

    runs_root, storage_uri = resolve_storage(storage, Path(runs_dir))
    if resume:
        run = _resumed(runs_root, name, address, console)
    else:
        request = SearchRequest(
            space=space,
            plan=plan,
            recipe=recipe,
            data=data,
            sets=tuple(override_list(set)),
            trials=trials,
            max_epochs=max_epochs,
            grace_period=grace_period,
            reduction_factor=reduction_factor,
            concurrency=concurrency,
            cpus_per_trial=cpus_per_trial,
            gpus_per_trial=gpus_per_trial,
            memory_cap=memory_cap,
            sampler=sampler,
            seed=seed,
            metric=metric,
            mode=mode,
            trainable=trainable,
            max_failures=max_failures,
            mlflow=mlflow,
            budget_epochs=budget_epochs,
            budget_hours=budget_hours,
            address=address,
        )
        settings, resolved = prepare_search(request)
        settings = replace(settings, storage=storage_uri)
        run = _Run(None, resolved, settings, space, plan, budget, False, address)
    if run.settings.trainable == DEFAULT_TRAINABLE:
        from trials import check_recipe

        check_recipe(run.recipe)
    if run.plan_name is not None:
        return _run_plan(run, runs_root, name, console)
    return _run_space(run, runs_root, name, console)
