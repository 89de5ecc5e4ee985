"""``harness validate``: a search's best configuration against a reference on the same k folds ×
seeds, with the ablation's paired statistics, a verdict in words and the winner's curse."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.ablate import AblationSettings
from harness.cli._train import cluster_gpus
from harness.tune._rundir import create_run_dir, environment, write_json
from harness.validate import (
    CANDIDATE,
    CELLS,
    REFERENCE,
    ValidationDesign,
    align_data,
    make_folds,
    resolve_candidate,
    resolve_reference,
    run_validation,
    write_cells,
    write_folds,
)
from search_spaces import (
    ConfigError,
    Recipe,
    TrialStatus,
    apply_overrides,
    check_recipe_metric,
    flatten,
    metric_direction,
    parse_override,
)

__all__ = ["ValidateRequest", "print_validation", "validate_command", "validation_report"]

SPEC = "spec.json"
DEFAULT_TRAINABLE = "trials:run_trial"
ALPHA = 0.05


@dataclass(frozen=True)
class ValidateRequest:
    """Everything ``harness validate`` was asked, as parsed by the CLI."""

    run: Path | None = None
    config: Path | None = None
    against: str | None = None
    folds: int = 5
    seeds: int = 3
    metric: str | None = None
    mode: str | None = None
    data: Path | None = None
    sets: tuple[str, ...] = ()
    epochs: int | None = None
    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None
    trainable: str | None = None
    max_failures: int = 2
    address: str | None = None
    storage: str | None = None
    name: str | None = None
    runs_dir: Path = Path("runs")
    resume: bool = False
    command: str = "validate"


def _check_request(req: ValidateRequest) -> None:
    if req.folds < 2:
        raise ConfigError(
            f"--folds must be >= 2 (each fold is validated on while the others train), "
            f"got {req.folds}"
        )
    if req.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {req.seeds}")
    if req.resume and req.name is None:
        raise ConfigError("--resume needs --name NAME of the validation to continue")


def _prepare(recipe: Recipe, req: ValidateRequest, what: str) -> Recipe:
    overrides: dict[str, Any] = {}
    if req.data is not None:
        overrides["data.root"] = str(req.data.resolve())
    if req.epochs is not None:
        overrides["optim.epochs"] = req.epochs
    overrides.update(dict(parse_override(s) for s in req.sets))
    if not overrides:
        return recipe
    return apply_overrides(recipe, overrides, source=f"--set/--data/--epochs ({what})")


def _metric(
    req: ValidateRequest, search: dict[str, Any], recipe: Recipe, trainable: str
) -> tuple[str, str]:
    if req.metric is not None:
        if trainable == DEFAULT_TRAINABLE:
            check_recipe_metric(req.metric)
        return req.metric, metric_direction(req.metric, req.mode)
    metric = search.get("metric") or recipe.optim.monitor
    recorded = search.get("mode") if search.get("metric") else recipe.optim.monitor_mode
    return metric, metric_direction(metric, req.mode or recorded)


def _settings(
    req: ValidateRequest, metric: str, mode: str, trainable: str, gpus: float
) -> AblationSettings:
    from harness.tune._cluster import resolve_storage

    share = req.gpus_per_trial
    if share is None:
        share = 1.0 / req.concurrency if gpus > 0 else 0.0
    return AblationSettings(
        concurrency=req.concurrency,
        cpus_per_trial=req.cpus_per_trial,
        gpus_per_trial=share,
        metric=metric,
        mode=mode,
        trainable=trainable,
        max_failures=req.max_failures,
        storage=resolve_storage(req.storage, req.runs_dir)[1],
    )


def _new(req: ValidateRequest, console: Console) -> tuple[Path, dict[str, Any]]:
    """Resolve, check and write a new validation (everything before its cells run)."""
    cand = resolve_candidate(req.run, req.config)
    candidate = _prepare(cand.recipe, req, CANDIDATE)
    trainable = req.trainable or cand.settings.get("trainable") or DEFAULT_TRAINABLE
    metric, mode = _metric(req, cand.settings, candidate, trainable)
    needs_gpu_count = req.against == "auto" or (req.against is None and cand.base is None)
    gpus = cluster_gpus(req.address) if needs_gpu_count else None
    reference, ref_source = resolve_reference(
        req.against, cand, has_gpu=None if gpus is None else gpus > 0
    )
    reference, aligned = align_data(candidate, _prepare(reference, req, REFERENCE))
    design = ValidationDesign(candidate, reference, req.folds, req.seeds)
    plan = None
    if trainable == DEFAULT_TRAINABLE:
        from trials import check_recipe

        check_recipe(candidate)
        check_recipe(reference)
        plan = make_folds(candidate, req.folds, cand.experiment)
    if gpus is None:
        gpus = cluster_gpus(req.address)
    settings = _settings(req, metric, mode, trainable, gpus)
    run_dir = create_run_dir(req.runs_dir, req.name, "validate")
    if plan is not None:
        write_folds(run_dir, plan, candidate.data.split.seed)
    search_metric = cand.settings.get("metric")
    spec = {
        "kind": "validation",
        "command": req.command,
        "candidate": cand.source,
        "reference": ref_source,
        "experiment": None if cand.experiment is None else str(cand.experiment),
        "candidate_recipe": candidate.model_dump(mode="json"),
        "reference_recipe": reference.model_dump(mode="json"),
        "folds": req.folds,
        "seeds": req.seeds,
        "seed_values": [design.seed_value(j) for j in range(req.seeds)],
        "metric": metric,
        "mode": mode,
        "alpha": ALPHA,
        # the search's best is a score of the search's metric: only comparable on that one
        "search_best": cand.search_best if search_metric == metric else None,
        "aligned_data": aligned,
        "data": None if plan is None else plan.source,
        "test_from": None if plan is None else plan.test_from,
        "fold_summary": [] if plan is None else plan.summary,
        "settings": settings.to_dict(),
        "environment": environment(),
    }
    write_json(run_dir / SPEC, spec)
    _print_design(design, spec, console)
    return run_dir, spec


def _read_spec(run_dir: Path) -> dict[str, Any]:
    from harness.cli._search import read_spec

    spec = read_spec(run_dir, "a validation")
    if spec.get("kind") != "validation":
        raise ConfigError(
            f"--resume: {run_dir} holds a {spec.get('kind', 'search')}, not a validation"
        )
    return spec


def _design(spec: dict[str, Any]) -> ValidationDesign:
    return ValidationDesign(
        Recipe.model_validate(spec["candidate_recipe"]),
        Recipe.model_validate(spec["reference_recipe"]),
        int(spec["folds"]),
        int(spec["seeds"]),
    )


def validate_command(req: ValidateRequest, console: Console) -> int:
    """Run ``harness validate``; return the exit code (0 done, 1 interrupted or no table)."""
    _check_request(req)
    if req.storage is not None:
        from harness.tune._cluster import resolve_storage

        req = replace(req, runs_dir=resolve_storage(req.storage, req.runs_dir)[0])
    if req.resume:
        run_dir = req.runs_dir / str(req.name)
        spec = _read_spec(run_dir)
        console.print(f"resuming [bold]{run_dir}[/] ({escape(spec['command'])})")
    else:
        run_dir, spec = _new(req, console)
    design = _design(spec)
    settings = AblationSettings(**spec["settings"])
    from harness.tune._cluster import connect

    connect(req.address, num_cpus=None)  # connected already unless resuming
    cells, interrupted, to_run = run_validation(
        run_dir, design, settings, console=console, resume=req.resume
    )
    if to_run == 0:
        console.print(f"all {len(design.cells())} cells had finished: nothing to run")
    code = _summarise(run_dir, cells, spec, console, run_dir, None)
    if interrupted:
        finished = int((cells["status"] == TrialStatus.COMPLETED).sum())
        console.print(
            f"[yellow]interrupted:[/] {finished} of {len(design.cells())} cells finished; "
            f"continue with `harness validate --resume --name {run_dir.name} "
            f"--runs-dir {req.runs_dir}`"
        )
        return 1
    return code


def _differences(design: ValidationDesign) -> list[tuple[str, str, str]]:
    mine, theirs = flatten(design.candidate), flatten(design.reference)
    keys = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    return [(k, _short(theirs.get(k)), _short(mine.get(k))) for k in keys]


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_design(design: ValidationDesign, spec: dict[str, Any], console: Console) -> None:
    console.print(f"candidate: {escape(spec['candidate'])}")
    console.print(f"reference: {escape(spec['reference'])}")
    diff = _differences(design)
    if diff:
        table = Table(title="where the candidate differs from the reference")
        for col in ("parameter", "reference", "candidate"):
            table.add_column(col)
        for row in diff:
            table.add_row(*(escape(x) for x in row))
        console.print(table)
    else:
        console.print("[yellow]the candidate and the reference are the same configuration[/]")
    if spec["aligned_data"]:
        console.print(
            f"the reference reads the candidate's images ({', '.join(spec['aligned_data'])})"
        )
    if design.candidate.optim.epochs != design.reference.optim.epochs:
        console.print(
            f"[yellow]note:[/] the candidate trains {design.candidate.optim.epochs} epochs, the "
            f"reference {design.reference.optim.epochs}; --epochs N sets both"
        )
    cells = len(design.cells())
    what = f"{design.folds} folds × {design.seeds} seeds × 2 configurations = {cells} cells"
    if spec["fold_summary"]:
        f0 = spec["fold_summary"][0]
        what += (
            f"; folds of {f0['n_val']} validation images, {f0['n_test']} test images untouched "
            f"({escape(str(spec['test_from']))})"
        )
    else:
        what += f"; --trainable {spec['settings']['trainable']} reads no data: folds are labels"
    console.print(what + f"; metric {spec['metric']} ({spec['mode']})")


def print_validation(result: Any, title: str, console: Console) -> None:
    """The main metric's table, the verdict, the winner's curse and the notes, on a terminal."""
    from analysis.validation import validation_rows

    if not console.is_terminal and console.width < 200:
        console = Console(width=200, file=console.file)  # a log: keep the table readable
    rows = validation_rows(result)
    table = Table(title=title)
    for key in rows[0]:
        table.add_column(key, justify="left" if key in ("variant", "verdict") else "right")
    for row in rows:
        style = {"worse": "red", "better": "green"}.get(row["verdict"])
        table.add_row(*(escape(v) for v in row.values()), style=style)
    console.print(table)
    console.print(f"[bold]verdict:[/] {escape(result.verdict)}")
    if result.winners_curse:
        console.print("[bold]winner's curse:[/] " + escape(result.winners_curse["sentence"]))
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")


def _statistics(cells: pd.DataFrame, spec: dict[str, Any], metric: str | None = None) -> Any:
    from analysis.validation import validation_statistics

    main = metric or spec["metric"]
    return validation_statistics(
        cells,
        main_metric=main,
        folds=int(spec["folds"]),
        seeds=int(spec["seeds"]),
        alpha=float(spec.get("alpha", ALPHA)),
        directions={spec["metric"]: spec["mode"]},
        search_best=spec.get("search_best") if main == spec["metric"] else None,
    )


def _ready(cells: pd.DataFrame) -> bool:
    done = cells[cells["status"] == TrialStatus.COMPLETED] if not cells.empty else cells
    return not done.empty and {CANDIDATE, REFERENCE} <= set(done["variant"])


def _summarise(
    run_dir: Path,
    cells: pd.DataFrame,
    spec: dict[str, Any],
    console: Console,
    out: Path,
    metric: str | None,
) -> int:
    from analysis.validation import write_validation

    if not _ready(cells):
        console.print("[yellow]no finished cell of both configurations yet: no table[/]")
        return 1
    result = _statistics(cells, spec, metric)
    title = f"{run_dir.name}: {result.main_metric}, candidate against reference over folds × seeds"
    print_validation(result, title, console)
    written = write_validation(result, out, meta={"name": run_dir.name, **spec})
    console.print("wrote " + ", ".join(p.name for p in written) + f" in {out}")
    return 0


def validation_report(
    directory: Path, *, metric: str | None, out: Path | None, console: Console
) -> int:
    """``harness report`` on a validation directory: print it and write its files to ``out``
    (default ``DIRECTORY/report``); ``metric`` overrides the main metric."""
    from analysis.validation import load_validation

    if not (directory / CELLS).is_file() and (directory / "trials.parquet").is_file():
        write_cells(directory)
    cells, spec = load_validation(directory)
    return _summarise(directory, cells, spec, console, out or directory / "report", metric)
