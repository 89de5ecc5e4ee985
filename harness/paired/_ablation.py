"""``ablate`` on the paired core: the variants of a base configuration on paired seeds, and the
ablation path (Fawcett & Hoos 2016) from the base to an experiment's best."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness._notify import say
from harness.paired._lifecycle import PairedOptions
from harness.paired._settings import DEFAULT_TRAINABLE
from harness.paired._variants import AblationDesign, build_variants, resolve_base
from search_spaces import (
    ConfigError,
    Recipe,
    RunSpec,
    Variant,
    apply_overrides,
    get_component,
    only_term,
    read_spec,
    write_spec,
)

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["AblationKind", "PathOutcome", "run_ablation_path"]

VARIANTS = "variants.json"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def describe_ablation(design: AblationDesign, spec: RunSpec) -> list[str]:
    """The design in lines: the variants, what they change, and their notes."""
    lines = [f"ablation of {spec.extra('base')}: {design.seeds} paired seed(s) per variant"]
    for v in design.variants:
        changes = ", ".join(f"{k}={_short(x)}" for k, x in v.overrides.items()) or "-"
        lines.append(f"  {v.name}: {v.description} ({changes})")
    rescale = "rescaled to the original total" if spec.extra("renormalize") else "kept as they are"
    lines.append(f"remaining loss weights are {rescale}; metric {spec.metric}")
    lines += [f"note: {v.name}: {note}" for v in design.variants for note in v.notes]
    return lines


@dataclass(frozen=True)
class AblationKind:
    """The variants of ``base`` (``drop``, ``only``) against it, paired by seed."""

    drop: Sequence[str] = ()
    only: Sequence[str] = ()
    base: str | None = None
    renormalize: bool = True
    alpha: float = 0.05
    kind: str = "ablation"
    noun: str = "an ablation"

    def check(self, options: PairedOptions) -> None:
        """``seeds`` and ``alpha`` in range, and the components of ``drop`` and ``only`` known:
        before Ray starts (:meth:`new` asks the cluster for its GPUs first)."""
        if options.seeds < 1:
            raise ConfigError(f"seeds must be >= 1, got {options.seeds}", param="seeds")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must be between 0 and 1, got {self.alpha}", param="alpha")
        for drop in self.drop:
            for name in drop.split("+"):
                if name and name != "each":
                    get_component(name, option="drop")
        for name in self.only:
            only_term(name)

    def new(
        self, options: PairedOptions, runs_dir: Path, console: Console | None
    ) -> tuple[Path, RunSpec]:
        """Resolve the base, build and check the variants, write ``spec.json``."""
        from harness.tune import create_run_dir, environment, write_json
        from harness.tune._resources import cluster_gpus

        gpus = cluster_gpus(options.address)
        base, source = resolve_base(self.base or "auto", has_gpu=gpus > 0)
        base = options.prepare(base)
        variants = build_variants(base, self.drop, self.only, renormalize=self.renormalize)
        design = AblationDesign(base, variants, options.seeds)
        trainable = options.trainable or DEFAULT_TRAINABLE
        metric, mode = options.metric_mode(trainable, base.optim.monitor, base.optim.monitor_mode)
        settings = options.settings(metric, mode, trainable, gpus)
        if trainable == DEFAULT_TRAINABLE:
            from trials import check_recipe

            for v in variants:
                check_recipe(apply_overrides(base, v.overrides, source=f"variant {v.name}"))
        run_dir = create_run_dir(runs_dir, options.name, "ablate")
        records = [v.to_dict() for v in variants]
        spec = RunSpec(
            kind="ablation",
            command=options.command,
            recipe=base.model_dump(mode="json"),
            seeds=options.seeds,
            seed_values=[design.seed_value(k) for k in range(options.seeds)],
            metric=metric,
            mode=mode,
            alpha=self.alpha,
            settings=settings.to_dict(),
            environment=environment(),
            base=source,
            renormalize=self.renormalize,
            variants=records,
        )
        write_spec(run_dir, spec)
        write_json(run_dir / VARIANTS, records)
        for line in describe_ablation(design, spec):
            say(console, line)
        return run_dir, spec

    def design(self, spec: RunSpec) -> AblationDesign:
        """The variants and seeds an ablation's ``spec.json`` records."""
        variants = tuple(
            Variant(v["variant"], v["description"], v["overrides"], v["renormalized"])
            for v in spec.extra("variants") or []
        )
        return AblationDesign(Recipe.model_validate(spec.recipe), variants, int(spec.seeds or 0))


# ------------------------------------------------------------------------------- path


@dataclass(frozen=True)
class PathOutcome:
    """An ablation path's directory, the path (:class:`analysis.ablation.AblationPath`), its
    metric and the files written."""

    path: Path
    steps: Any
    metric: str
    written: list[Path]


def _path_base(experiment: Path, base: str | None, gpus: float | None) -> tuple[Recipe, str]:
    if base is None:
        recipe = Recipe.model_validate(read_spec(experiment, "a search").recipe)
        return recipe, f"the base recipe of {experiment}"
    return resolve_base(base, has_gpu=None if gpus is None else gpus > 0)


def _method(options: PairedOptions, surrogate: bool) -> str:
    if surrogate:
        return "random-forest surrogate (Biedenkapp et al. 2017)"
    return f"real runs, {options.seeds} seed(s) per candidate (Fawcett & Hoos 2016)"


def run_ablation_path(
    experiment: Path,
    options: PairedOptions,
    *,
    base: str | None,
    surrogate: bool,
    console: Console | None = None,
) -> PathOutcome:
    """The ablation path from ``base`` (default: the experiment's base recipe) to the best
    configuration of ``experiment``: real runs (``options.seeds`` per candidate) or, with
    ``surrogate``, a random forest's predictions from the experiment's trials.

    Raises:
        ConfigError: not an experiment directory, or a bad value (before Ray starts).
    """
    from harness.paired._path import experiment_target, run_path, surrogate_steps, write_path
    from harness.tune import create_run_dir

    if not Path(experiment).is_dir():
        raise ConfigError(f"path {experiment}: no such experiment directory", param="path")
    runs_dir = options.storage_paths()[0]
    target, exp_settings = experiment_target(experiment)
    trainable = options.trainable or exp_settings.get("trainable", DEFAULT_TRAINABLE)
    # real runs need Ray, whose cluster says whether there is a GPU; a surrogate runs nothing
    gpus = None
    if not surrogate:
        from harness.tune._resources import cluster_gpus

        gpus = cluster_gpus(options.address)
    recipe, source = _path_base(experiment, base, gpus)
    recipe = options.prepare(recipe)
    metric, mode = options.metric_mode(trainable, exp_settings["metric"], exp_settings["mode"])
    run_dir = (
        runs_dir / options.name
        if options.resume and options.name
        else create_run_dir(runs_dir, options.name, "ablate-path")
    )
    say(
        console,
        f"ablation path from {source} to the best trial of {experiment}: "
        f"{len(target)} parameter(s) differ at most; {metric} ({mode})",
    )
    if surrogate:
        steps, facts = surrogate_steps(experiment, recipe, target, metric, mode)
        say(
            console,
            f"surrogate: random forest on {facts['n_trials']} trials, out-of-bag R² "
            f"{facts['oob_r2']:.3f} ({facts['fidelity']})",
        )
    else:
        settings = options.settings(metric, mode, trainable, gpus or 0.0)
        steps = run_path(run_dir, recipe, target, options.seeds, settings, console=console)
        facts = {}
    doc = {
        "kind": "ablation_path",
        "command": options.command,
        "source": source,
        "target": f"best trial of {experiment}",
        "metric": metric,
        "seeds": None if surrogate else options.seeds,
        "surrogate": facts or None,
    }
    written = write_path(run_dir, steps, doc, _method(options, surrogate))
    return PathOutcome(run_dir, steps, metric, written)
