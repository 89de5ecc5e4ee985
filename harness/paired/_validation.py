"""``validate`` on the paired core: a search's best configuration against a reference on the
same k folds × seeds, each cell reading its fold's split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness._notify import say
from harness.paired._folds import (
    CANDIDATE,
    REFERENCE,
    ValidationDesign,
    align_data,
    check_design,
    make_folds,
    resolve_candidate,
    resolve_reference,
    write_folds,
)
from harness.paired._lifecycle import PairedOptions
from harness.paired._settings import DEFAULT_TRAINABLE
from search_spaces import ConfigError, Recipe, RunSpec, flatten, recipe_to_yaml, write_spec

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ALPHA", "ValidationKind", "describe_validation"]

ALPHA = 0.05


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _differences(design: ValidationDesign) -> list[str]:
    mine, theirs = flatten(design.candidate), flatten(design.reference)
    keys = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    return [f"  {k}: {_short(theirs.get(k))} -> {_short(mine.get(k))}" for k in keys]


def describe_validation(design: ValidationDesign, spec: RunSpec) -> list[str]:
    """The design in lines: both configurations, where they differ, the folds and the metric."""
    lines = [f"candidate: {spec.extra('candidate')}", f"reference: {spec.extra('reference')}"]
    diff = _differences(design)
    if diff:
        lines += ["where the candidate differs from the reference (reference -> candidate):"]
        lines += diff
    else:
        lines.append("the candidate and the reference are the same configuration")
    if spec.extra("aligned_data"):
        aligned = ", ".join(spec.extra("aligned_data"))
        lines.append(f"the reference reads the candidate's images ({aligned})")
    if design.candidate.optim.epochs != design.reference.optim.epochs:
        lines.append(
            f"note: the candidate trains {design.candidate.optim.epochs} epochs, the "
            f"reference {design.reference.optim.epochs}; epochs N sets both"
        )
    cells = len(design.cells())
    what = f"{design.folds} folds × {design.seeds} seeds × 2 configurations = {cells} cells"
    summary = spec.extra("fold_summary") or []
    if summary:
        what += (
            f"; folds of {summary[0]['n_val']} validation images, {summary[0]['n_test']} test "
            f"images untouched ({spec.extra('test_from')})"
        )
    else:
        trainable = (spec.settings or {}).get("trainable")
        what += f"; the trainable {trainable} reads no data: folds are labels"
    lines.append(what + f"; metric {spec.metric} ({spec.mode})")
    return lines


@dataclass(frozen=True)
class ValidationKind:
    """The best configuration of ``run`` (or the recipe ``config``) against ``against``."""

    run: Path | None = None
    config: Path | None = None
    against: str | None = None
    folds: int = 5
    kind: str = "validation"
    noun: str = "a validation"

    def check(self, options: PairedOptions) -> None:
        """``folds`` and ``seeds`` in range, and a name to resume."""
        check_design(self.folds, options.seeds)
        if options.resume and options.name is None:
            raise ConfigError("resume needs name, the name of the validation", param="name")

    def new(
        self, options: PairedOptions, runs_dir: Path, console: Console | None
    ) -> tuple[Path, RunSpec]:
        """Resolve, check and write a new validation (everything before its cells run)."""
        from harness.tune import create_run_dir, environment
        from harness.tune._resources import cluster_gpus

        cand = resolve_candidate(self.run, self.config)
        candidate = options.prepare(cand.recipe, CANDIDATE)
        trainable = options.trainable or cand.settings.get("trainable") or DEFAULT_TRAINABLE
        recorded = cand.settings.get("metric")
        metric, mode = options.metric_mode(
            trainable,
            recorded or candidate.optim.monitor,
            cand.settings.get("mode") if recorded else candidate.optim.monitor_mode,
        )
        needs_gpu_count = self.against == "auto" or (self.against is None and cand.base is None)
        gpus = cluster_gpus(options.address) if needs_gpu_count else None
        reference, ref_source = resolve_reference(
            self.against, cand, has_gpu=None if gpus is None else gpus > 0
        )
        reference, aligned = align_data(candidate, options.prepare(reference, REFERENCE))
        design = ValidationDesign(candidate, reference, self.folds, options.seeds)
        plan = None
        if trainable == DEFAULT_TRAINABLE:
            from trials import check_recipe

            check_recipe(candidate)
            check_recipe(reference)
            plan = make_folds(candidate, self.folds, cand.experiment)
        if gpus is None:
            gpus = cluster_gpus(options.address)
        settings = options.settings(metric, mode, trainable, gpus)
        run_dir = create_run_dir(runs_dir, options.name, "validate")
        if plan is not None:
            write_folds(run_dir, plan, candidate.data.split.seed)
        spec = RunSpec(
            kind="validation",
            command=options.command,
            seeds=options.seeds,
            seed_values=[design.seed_value(j) for j in range(options.seeds)],
            metric=metric,
            mode=mode,
            alpha=ALPHA,
            settings=settings.to_dict(),
            environment=environment(),
            candidate=cand.source,
            reference=ref_source,
            experiment=None if cand.experiment is None else str(cand.experiment),
            candidate_recipe=candidate.model_dump(mode="json"),
            reference_recipe=reference.model_dump(mode="json"),
            folds=self.folds,
            # the search's best is a score of the search's metric: only comparable on that one
            search_best=cand.search_best if recorded == metric else None,
            aligned_data=aligned,
            data=None if plan is None else plan.source,
            test_from=None if plan is None else plan.test_from,
            fold_summary=[] if plan is None else plan.summary,
        )
        write_spec(run_dir, spec)
        # both recipes as `harness train --recipe` reads them: to train and evaluate either
        for name, recipe in ((CANDIDATE, candidate), (REFERENCE, reference)):
            (run_dir / f"{name}.yaml").write_text(recipe_to_yaml(recipe), encoding="utf-8")
        for line in describe_validation(design, spec):
            say(console, line)
        return run_dir, spec

    def design(self, spec: RunSpec) -> ValidationDesign:
        """Both configurations, the folds and the seeds a validation's ``spec.json`` records."""
        return ValidationDesign(
            Recipe.model_validate(spec.extra("candidate_recipe")),
            Recipe.model_validate(spec.extra("reference_recipe")),
            int(spec.extra("folds")),
            int(spec.seeds or 0),
        )
