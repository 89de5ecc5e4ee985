"""``harness ablate``: what each component is worth (paired seeds, statistics), or the ablation
path from the base configuration to an experiment's best."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from harness.ablate import (
    BASELINE,
    AblationDesign,
    AblationSettings,
    build_variants,
    resolve_base,
    run_cells,
)
from harness.cli._train import cluster_gpus
from harness.tune._rundir import create_run_dir, environment, write_json
from search_spaces import (
    ConfigError,
    Recipe,
    TrialStatus,
    Variant,
    apply_overrides,
    check_recipe_metric,
    metric_direction,
    parse_override,
)

__all__ = ["AblateRequest", "ablate_command"]

SPEC = "spec.json"
VARIANTS = "variants.json"


@dataclass(frozen=True)
class AblateRequest:
    """Everything ``harness ablate`` was asked, as parsed by the CLI."""

    drops: tuple[str, ...] = ()
    onlys: tuple[str, ...] = ()
    base: str | None = None
    seeds: int = 5
    renormalize: bool = True
    data: Path | None = None
    sets: tuple[str, ...] = ()
    epochs: int | None = None
    metric: str | None = None
    mode: str | None = None
    alpha: float = 0.05
    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None
    trainable: str | None = None
    max_failures: int = 2
    storage: str | None = None
    path: Path | None = None
    surrogate: bool = False
    name: str | None = None
    runs_dir: Path = Path("runs")
    address: str | None = None
    resume: bool = False
    command: str = "ablate"


def _prepare(base: Recipe, req: AblateRequest) -> Recipe:
    overrides: dict[str, Any] = {}
    if req.data is not None:
        overrides["data.root"] = str(req.data.resolve())
    if req.epochs is not None:
        overrides["optim.epochs"] = req.epochs
    overrides.update(dict(parse_override(s) for s in req.sets))
    return apply_overrides(base, overrides, source="--set/--data/--epochs") if overrides else base


def _settings(
    base: Recipe, req: AblateRequest, default_trainable: str, gpus_in_cluster: float
) -> AblationSettings:
    metric = req.metric or base.optim.monitor
    if req.metric is not None and (req.trainable or default_trainable) == "trials:run_trial":
        check_recipe_metric(req.metric)
    if req.metric is None:
        mode = metric_direction(metric, req.mode or base.optim.monitor_mode)
    else:
        mode = metric_direction(metric, req.mode)
    gpus = req.gpus_per_trial
    if gpus is None:
        gpus = 1.0 / req.concurrency if gpus_in_cluster > 0 else 0.0
    return AblationSettings(
        concurrency=req.concurrency,
        cpus_per_trial=req.cpus_per_trial,
        gpus_per_trial=gpus,
        metric=metric,
        mode=mode,
        trainable=req.trainable or default_trainable,
        max_failures=req.max_failures,
        storage=storage_uri(req),
    )


def storage_uri(req: AblateRequest) -> str | None:
    """The remote URI of ``--storage`` (None for none or a shared path)."""
    from harness.tune._cluster import resolve_storage

    return resolve_storage(req.storage, req.runs_dir)[1]


def _check_request(req: AblateRequest) -> None:
    if req.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {req.seeds}")
    if not 0 < req.alpha < 1:
        raise ConfigError(f"--alpha must be between 0 and 1, got {req.alpha}")
    if req.surrogate and req.path is None:
        raise ConfigError("--surrogate predicts an ablation path: give --path runs/X with it")
    if req.path is not None and (req.drops or req.onlys):
        raise ConfigError("--path walks to an experiment's best; it does not take --drop/--only")


def ablate_command(req: AblateRequest, console: Console) -> int:
    """Run ``harness ablate``; return the exit code (0 done, 1 interrupted)."""
    _check_request(req)
    if req.storage is not None:
        from harness.tune._cluster import resolve_storage

        # a shared path: the ablation directory itself lives there
        req = replace(req, runs_dir=resolve_storage(req.storage, req.runs_dir)[0])
    if req.path is not None:
        return _path_command(req, console)
    if req.resume:
        if req.name is None:
            raise ConfigError("--resume needs --name NAME of the ablation to continue")
        run_dir = req.runs_dir / req.name
        spec = _read_spec(run_dir)
        base = Recipe.model_validate(spec["recipe"])
        variants = tuple(
            Variant(v["variant"], v["description"], v["overrides"], v["renormalized"])
            for v in spec["variants"]
        )
        design = AblationDesign(base, variants, int(spec["seeds"]))
        settings = AblationSettings(**spec["settings"])
        console.print(f"resuming [bold]{run_dir}[/] ({spec['command']})")
    else:
        gpus = cluster_gpus(req.address)
        base, source = resolve_base(req.base or "auto", has_gpu=gpus > 0)
        base = _prepare(base, req)
        variants = build_variants(base, req.drops, req.onlys, renormalize=req.renormalize)
        design = AblationDesign(base, variants, req.seeds)
        settings = _settings(base, req, "trials:run_trial", gpus)
        if settings.trainable == "trials:run_trial":
            from trials import check_recipe

            for v in variants:
                check_recipe(apply_overrides(base, v.overrides, source=f"variant {v.name}"))
        run_dir = create_run_dir(req.runs_dir, req.name, "ablate")
        spec = {
            "kind": "ablation",
            "command": req.command,
            "base": source,
            "recipe": base.model_dump(mode="json"),
            "seeds": req.seeds,
            "seed_values": [design.seed_value(k) for k in range(req.seeds)],
            "metric": settings.metric,
            "mode": settings.mode,
            "alpha": req.alpha,
            "renormalize": req.renormalize,
            "variants": [v.to_dict() for v in variants],
            "settings": settings.to_dict(),
            "environment": environment(),
        }
        write_json(run_dir / SPEC, spec)
        write_json(run_dir / VARIANTS, [v.to_dict() for v in variants])
        _print_design(design, spec, console)
    from harness.tune._cluster import connect

    connect(req.address, num_cpus=None)  # connected already unless resuming
    cells, interrupted = run_cells(run_dir, design, settings, console=console, resume=req.resume)
    code = _summarise(run_dir, cells, spec, console)
    if interrupted:
        console.print(
            f"[yellow]interrupted:[/] {int((cells['status'] == TrialStatus.COMPLETED).sum())} of "
            f"{len(design.cells())} cells finished; continue with "
            f"`harness ablate --resume --name {run_dir.name} --runs-dir {req.runs_dir}`"
        )
        return 1
    return code


def _read_spec(run_dir: Path) -> dict[str, Any]:
    from harness.cli._search import read_spec

    spec = read_spec(run_dir, "an ablation")
    if spec.get("kind") != "ablation":
        raise ConfigError(
            f"--resume: {run_dir} holds a {spec.get('kind', 'search')}, not an ablation"
        )
    return spec


def _print_design(design: AblationDesign, spec: dict[str, Any], console: Console) -> None:
    table = Table(title=f"ablation of {spec['base']}: {design.seeds} paired seed(s) per variant")
    for col in ("variant", "what", "changes"):
        table.add_column(col)
    for v in design.variants:
        changes = ", ".join(f"{k}={_short(x)}" for k, x in v.overrides.items()) or "-"
        table.add_row(v.name, v.description, changes)
    console.print(table)
    rescale = "rescaled to the original total" if spec["renormalize"] else "kept as they are"
    console.print(f"remaining loss weights are {rescale}; metric {spec['metric']}")
    for v in design.variants:
        for note in v.notes:
            console.print(f"[yellow]{v.name}:[/] {note}")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _summarise(run_dir: Path, cells: pd.DataFrame, spec: dict[str, Any], console: Console) -> int:
    from analysis import ablation_statistics, write_ablation
    from harness.cli._report import print_ablation

    if cells.empty or BASELINE not in set(cells["variant"]):
        console.print("[yellow]no cell of the full configuration finished: no table yet[/]")
        return 1
    result = ablation_statistics(
        cells,
        baseline=BASELINE,
        main_metric=spec["metric"],
        alpha=spec["alpha"],
        directions={spec["metric"]: spec["mode"]},
    )
    title = f"ablation: {spec['metric']} (Δ = variant - full, paired by seed)"
    print_ablation(result, title, console)
    variants = pd.DataFrame(spec["variants"])
    written = write_ablation(result, variants, run_dir, meta=_meta(spec, run_dir))
    console.print("wrote " + ", ".join(p.name for p in written) + f" in {run_dir}")
    return 0


def _meta(spec: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    keep = ("command", "base", "seeds", "metric", "renormalize", "alpha", "mode")
    return {"name": run_dir.name, **{k: spec[k] for k in keep if k in spec}}


# ------------------------------------------------------------------------------- --path


def _path_command(req: AblateRequest, console: Console) -> int:
    from harness.ablate._path import experiment_target, run_path, surrogate_steps

    experiment = req.path
    if experiment is None or not experiment.is_dir():
        raise ConfigError(f"--path {experiment}: no such experiment directory")
    target, exp_settings = experiment_target(experiment)
    # real runs need Ray, whose cluster says whether there is a GPU; a surrogate runs nothing
    gpus = 0.0 if req.surrogate else cluster_gpus(req.address)
    if req.base is None:
        exp_spec = json.loads((experiment / "spec.json").read_text())
        base, source = Recipe.model_validate(exp_spec["recipe"]), f"the base recipe of {experiment}"
    else:
        base, source = resolve_base(req.base, has_gpu=None if req.surrogate else gpus > 0)
    base = _prepare(base, req)
    metric = req.metric or exp_settings["metric"]
    mode = metric_direction(
        metric, req.mode or (exp_settings["mode"] if req.metric is None else None)
    )
    run_dir = (
        req.runs_dir / req.name
        if req.resume and req.name
        else create_run_dir(req.runs_dir, req.name, "ablate-path")
    )
    console.print(
        f"ablation path from {source} to the best trial of {experiment}: "
        f"{len(target)} parameter(s) differ at most; {metric} ({mode})"
    )
    if req.surrogate:
        path, facts = surrogate_steps(experiment, base, target, metric, mode)
        console.print(
            f"surrogate: random forest on {facts['n_trials']} trials, out-of-bag R² "
            f"{facts['oob_r2']:.3f} ({facts['fidelity']})"
        )
    else:
        trainable = exp_settings.get("trainable", "trials:run_trial")
        settings = _settings(base, replace(req, metric=metric), trainable, gpus)
        settings = replace(settings, mode=mode)
        path, facts = run_path(run_dir, base, target, req.seeds, settings, console=console), {}
    _write_path(run_dir, path, facts, source, experiment, metric, req)
    _print_path(path, metric, console)
    console.print(f"wrote path.csv, path.json, path.md in {run_dir}")
    return 0


def _print_path(path: Any, metric: str, console: Console) -> None:
    table = Table(
        title=f"ablation path ({path.method}): start {metric} {path.source_value:.4g}, "
        f"total gain {path.total_gain:+.4g}"
    )
    for col in ("step", "parameter", "from", "to", metric, "gain", "share"):
        table.add_column(col, justify="left" if col == "parameter" else "right")
    for r in path.table().itertuples(index=False):
        share = "" if math.isnan(r.share) else f"{100 * r.share:.0f}%"
        table.add_row(
            str(r.step),
            r.parameter,
            _short(r[2]),
            _short(r[3]),
            f"{r.value:.4g}",
            f"{r.gain:+.4g}",
            share,
        )
    console.print(table)


def _write_path(
    run_dir: Path,
    path: Any,
    facts: dict[str, Any],
    source: str,
    experiment: Path,
    metric: str,
    req: AblateRequest,
) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    frame = path.table()
    frame.to_csv(run_dir / "path.csv", index=False)
    doc = {
        "kind": "ablation_path",
        "command": req.command,
        "source": source,
        "target": f"best trial of {experiment}",
        "metric": metric,
        "seeds": None if req.surrogate else req.seeds,
        "surrogate": facts or None,
        **path.to_dict(),
    }
    write_json(run_dir / "path.json", doc)
    method = (
        "random-forest surrogate (Biedenkapp et al. 2017)"
        if req.surrogate
        else f"real runs, {req.seeds} seed(s) per candidate (Fawcett & Hoos 2016)"
    )
    lines = [
        f"# Ablation path: {source} -> best of {experiment}",
        "",
        f"Method: {method}; {metric} at the start {path.source_value:.4g}, "
        f"total gain {path.total_gain:+.4g}.",
        "",
        f"| step | parameter | from | to | {metric} | gain | share |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in frame.itertuples(index=False):
        share = "" if math.isnan(r.share) else f"{100 * r.share:.0f}%"
        lines.append(
            f"| {r.step} | {r.parameter} | {_short(r[2])} | {_short(r[3])} | {r.value:.4g} "
            f"| {r.gain:+.4g} | {share} |"
        )
    (run_dir / "path.md").write_text("\n".join(lines) + "\n")
