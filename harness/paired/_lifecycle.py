"""The life of a paired experiment: new (resolve, check, write ``spec.json``) or resume, run the
cells, summarise. ``harness ablate`` and ``harness validate`` are two kinds of it
(:class:`PairedKind`): they differ in what they resolve and in their design, not in how they run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness._notify import say
from harness.paired._cells import CellsRun, run_cells
from harness.paired._design import PairedDesign
from harness.paired._settings import DEFAULT_TRAINABLE, PairedSettings
from search_spaces import (
    ConfigError,
    Recipe,
    RunSpec,
    apply_overrides,
    check_recipe_metric,
    metric_direction,
    parse_override,
    read_spec,
)

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["PairedKind", "PairedOptions", "PairedOutcome", "run_paired"]


@dataclass(frozen=True)
class PairedOptions:
    """What both ``ablate`` and ``validate`` take: the cells' recipe changes, the metric, the
    resources, the run directory and resume (the API's keyword arguments of the same names)."""

    seeds: int = 5
    metric: str | None = None
    mode: str | None = None
    data: Path | None = None
    sets: Sequence[str] = ()
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
    command: str = "python"

    def prepare(self, recipe: Recipe, what: str = "") -> Recipe:
        """``recipe`` with ``data``, ``epochs`` and the ``sets`` overrides applied."""
        overrides: dict[str, Any] = {}
        if self.data is not None:
            overrides["data.root"] = str(Path(self.data).resolve())
        if self.epochs is not None:
            overrides["optim.epochs"] = self.epochs
        overrides.update(dict(parse_override(s) for s in self.sets))
        if not overrides:
            return recipe
        source = "set/data/epochs" + (f" ({what})" if what else "")
        return apply_overrides(recipe, overrides, source=source)

    def metric_mode(
        self, trainable: str, recorded: str, recorded_mode: str | None
    ) -> tuple[str, str]:
        """The main metric and its direction: ``metric``/``mode`` when given (a metric the
        recipe does not report is an error for the default trainable), else the recorded ones.
        """
        if self.metric is None:
            return recorded, _direction(recorded, self.mode or recorded_mode)
        if trainable == DEFAULT_TRAINABLE:
            check_recipe_metric(self.metric, option="metric")  # names its parameter itself
        return self.metric, _direction(self.metric, self.mode)

    def settings(
        self, metric: str, mode: str, trainable: str, gpus_in_cluster: float
    ) -> PairedSettings:
        """How the cells run; the GPU share follows the cluster's GPUs (the one rule)."""
        from harness.tune._resources import gpu_share

        return PairedSettings(
            concurrency=self.concurrency,
            cpus_per_trial=self.cpus_per_trial,
            gpus_per_trial=gpu_share(self.gpus_per_trial, self.concurrency, gpus_in_cluster),
            metric=metric,
            mode=mode,
            trainable=trainable,
            max_failures=self.max_failures,
            storage=self.storage_paths()[1],
        )

    def storage_paths(self) -> tuple[Path, str | None]:
        """The folder of run directories (a shared ``storage`` path holds them) and the remote
        URI of Ray's state, or ``None``."""
        from harness.tune import resolve_storage

        return resolve_storage(self.storage, Path(self.runs_dir))


def _direction(metric: str, mode: str | None) -> str:
    return metric_direction(metric, mode, option="mode")  # names its parameter itself


class PairedKind(Protocol):
    """One kind of paired experiment: what it resolves, checks and records, and its design."""

    @property
    def kind(self) -> str:
        """``spec.json``'s kind: ``"ablation"`` or ``"validation"``."""
        ...

    @property
    def noun(self) -> str:
        """The kind with its article, for messages: ``"an ablation"``."""
        ...

    def check(self, options: PairedOptions) -> None:
        """Raise :class:`ConfigError` on a value no run could use (before Ray starts)."""
        ...

    def new(
        self, options: PairedOptions, runs_dir: Path, console: Console | None
    ) -> tuple[Path, RunSpec]:
        """Resolve and check everything, create the run directory, write ``spec.json``."""
        ...

    def design(self, spec: RunSpec) -> PairedDesign:
        """The design a ``spec.json`` of this kind records."""
        ...


@dataclass(frozen=True)
class PairedOutcome:
    """What :func:`run_paired` did: the directory, its spec, the design, the cells' run and the
    report (:class:`analysis.paired.PairedReport`; without statistics while no table can be
    made)."""

    path: Path
    spec: RunSpec
    design: PairedDesign
    run: CellsRun
    report: Any


def _resumed(
    kind: PairedKind, options: PairedOptions, runs_dir: Path, console: Console | None
) -> Path:
    if options.name is None:
        raise ConfigError(f"resume needs name, the name of {kind.noun} to continue", param="name")
    run_dir = runs_dir / options.name
    spec = read_spec(run_dir, kind.noun)
    if spec.kind != kind.kind:
        raise ConfigError(
            f"resume: {run_dir} holds a {spec.kind or 'search'}, not {kind.noun}", param="resume"
        )
    say(console, f"resuming {run_dir} ({spec.command})")
    return run_dir


def run_paired(
    kind: PairedKind, options: PairedOptions, console: Console | None = None
) -> PairedOutcome:
    """Check, then start or resume, run the cells and summarise one paired experiment.

    Args:
        kind: the kind (an ablation, a validation).
        options: what was asked.
        console: a rich console for live progress, or ``None`` (progress through logging).

    Returns:
        The :class:`PairedOutcome`.

    Raises:
        ConfigError: a bad value, before Ray starts; a ``resume`` of a directory that is not
            this kind's.
    """
    from analysis.paired import summarise
    from harness.tune import connect

    kind.check(options)
    runs_dir = options.storage_paths()[0]
    if options.resume:
        run_dir = _resumed(kind, options, runs_dir, console)
    else:
        run_dir, _ = kind.new(options, runs_dir, console)
    spec = read_spec(run_dir, kind.noun)
    design = kind.design(spec)
    settings = PairedSettings.from_dict(spec.settings)
    connect(options.address, num_cpus=None)  # connected already unless resuming
    run = run_cells(run_dir, design, settings, console=console, resume=options.resume)
    if run.ran == 0:
        say(console, f"all {len(design.cells())} cells had finished: nothing to run")
    report = summarise(run_dir, run.cells, spec)
    if report.statistics is None:
        say(
            console,
            "no finished cell of the baseline and another variant yet: no table",
            warning=True,
        )
    return PairedOutcome(run_dir, spec, design, run, report)
