"""``harness.ablate`` and ``harness.validate``: what their commands do, from Python.

    import harness
    result = harness.ablate("boundary", seeds=3, epochs=2)
    result.main            # the main metric's rows: Δ, intervals, Holm p, verdicts
    result.sentences       # the verdicts in words
    harness.ablate(name=result.path.name, resume=True)   # continue an interrupted ablation

    check = harness.validate("runs/search-lr", folds=5, seeds=3)
    check.sentences[0]     # "iou_lesion: better than the reference by 0.031 [0.012, 0.05] …"

Both are paired experiments on one core (:mod:`harness.paired`): the checks come first (before
Ray starts), then the run directory with its ``spec.json``, the GPU share, the cells on Ray (or
only the unfinished ones, with ``resume``), then the statistics, their files and sentences.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import pandas as pd

from harness.paired._lifecycle import PairedOptions, PairedOutcome, run_paired
from harness.tune._rundir import param_error
from search_spaces import RunSpec, TrialStatus

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["CellOptions", "PairedResult", "ablate", "paired_report", "validate"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairedResult:
    """What an ablation, an ablation path or a validation produced.

    Attributes:
        path: the run directory (``spec.json``, ``cells.parquet``, the report's files).
        kind: ``"ablation"``, ``"ablation_path"`` or ``"validation"``.
        cells: one row per cell (variant, seed, for a validation fold, status, metrics, costs);
            empty for a surrogate path.
        table: the statistics, one row per variant × metric (Δ, intervals, p, Holm p, d_z,
            MDE, verdict); a path's steps for an ablation path; empty while no table can be
            made.
        sentences: the verdicts in words, the main metric's first.
        interrupted: cells are missing or unfinished (``resume=True`` runs only those).
        statistics: the analysis result (:class:`analysis.paired.PairedStatistics`, or an
            :class:`analysis.ablation.AblationPath`), or ``None`` without a table.
        spec: the run's ``spec.json``, or ``None`` for a path.
        expected: how many cells the design has.
        written: the files written.
        title: a title for the main table.
        metric: the main metric.
    """

    path: Path
    kind: str
    cells: pd.DataFrame
    table: pd.DataFrame
    sentences: list[str]
    interrupted: bool = False
    statistics: Any = None
    spec: RunSpec | None = None
    expected: int = 0
    written: list[Path] = field(default_factory=list)
    title: str = ""
    metric: str = ""

    @property
    def main(self) -> pd.DataFrame:
        """The main metric's rows of the statistics (the whole table for a path)."""
        if self.table.empty or "metric" not in self.table:
            return self.table
        return self.table[self.table["metric"] == self.metric].reset_index(drop=True)

    @property
    def finished(self) -> int:
        """How many cells finished."""
        if self.cells.empty or "status" not in self.cells:
            return 0
        return int((self.cells["status"] == TrialStatus.COMPLETED).sum())


class CellOptions(TypedDict, total=False):
    """The keyword arguments :func:`ablate` and :func:`validate` share: what every cell trains
    on, its resources and where the run lives (the shared options of the two commands).

    Attributes:
        data: a data folder (default: the recipe's).
        set: recipe overrides, ``["optim.lr=1e-3", ...]``.
        epochs: training epochs of every cell.
        concurrency: cells at once (default 2).
        cpus_per_trial: CPUs of a cell (default 1).
        gpus_per_trial: GPUs of a cell (default: an equal share of one GPU when the cluster
            has one, else 0).
        trainable: ``module:function`` shaped like ``trials.run_trial`` (default: the recipe's
            real training).
        max_failures: restarts of a cell whose worker or node died (default 2).
        address: the Ray cluster (``auto``, ``HOST:PORT``; default ``RAY_ADDRESS`` or local).
        storage: a shared path or URI for the run directories and Ray's state.
        name: the run's name (``runs_dir/name``).
        runs_dir: the folder of run directories (default ``runs``).
        resume: continue the run ``name``: only its unfinished cells run.
    """

    data: str | Path | None
    set: Sequence[str] | None
    epochs: int | None
    concurrency: int
    cpus_per_trial: float
    gpus_per_trial: float | None
    trainable: str | None
    max_failures: int
    address: str | None
    storage: str | None
    name: str | None
    runs_dir: str | Path
    resume: bool


def _arguments(given: dict[str, Any], function: str) -> dict[str, Any]:
    """A call's arguments, its shared :class:`CellOptions` among them (checked: an unknown
    keyword is a ``TypeError``, as for any function, never silently dropped)."""
    options = dict(given.pop("options", {}))
    unknown = sorted(set(options) - set(CellOptions.__annotations__))
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument {unknown[0]!r}")
    return {**given, **options}


def _command(name: str, arguments: dict[str, Any], defaults: dict[str, Any]) -> str:
    """The call as a command line, for people (``spec.json``'s ``command``)."""
    words = [name]
    for key, value in arguments.items():
        if value == defaults.get(key) or value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else f"--no-{key.replace('_', '-')}")
        elif isinstance(value, list | tuple):
            words += [f"{flag} {v}" for v in value]
        else:
            words.append(f"{flag} {value}")
    return " ".join(words)


def _options(name: str, arguments: dict[str, Any], defaults: dict[str, Any]) -> PairedOptions:
    """The options both kinds share, and the call as a command line (``spec.json``)."""
    arguments = {k: v for k, v in arguments.items() if k != "console"}
    known = set(PairedOptions.__dataclass_fields__) - {"sets", "command"}
    chosen = {k: v for k, v in arguments.items() if k in known}
    chosen["runs_dir"] = Path(chosen.get("runs_dir", "runs"))
    sets = tuple(arguments.get("set") or ())
    return PairedOptions(**chosen, sets=sets, command=_command(name, arguments, defaults))


def _result(
    path: Path, report: Any, *, interrupted: bool = False, expected: int = 0
) -> PairedResult:
    """The result of a paired experiment's report (:class:`analysis.paired.PairedReport`)."""
    statistics = report.statistics
    return PairedResult(
        path=path,
        kind=report.kind,
        cells=report.cells,
        table=pd.DataFrame() if statistics is None else statistics.table,
        sentences=list(report.sentences),
        interrupted=interrupted,
        statistics=statistics,
        spec=report.spec,
        expected=expected,
        written=list(report.written),
        title=report.title,
        metric=report.metric,
    )


def _outcome(outcome: PairedOutcome) -> PairedResult:
    return _result(
        outcome.path,
        outcome.report,
        interrupted=outcome.run.interrupted,
        expected=len(outcome.design.cells()),
    )


def _listed(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def ablate(
    drop: str | Sequence[str] | None = None,
    *,
    only: str | Sequence[str] | None = None,
    base: str | None = None,
    seeds: int = 5,
    renormalize: bool = True,
    metric: str | None = None,
    mode: str | None = None,
    alpha: float = 0.05,
    path: str | Path | None = None,
    surrogate: bool = False,
    console: Console | None = None,
    **options: Unpack[CellOptions],
) -> PairedResult:
    """What each component is worth: every variant with the same paired seeds, at full length
    (what ``harness ablate`` does).

    Args:
        drop: components to remove, one variant each (``"each"``: leave-one-out of every
            component; ``"a+b"`` drops both in one variant): focal_tversky, boundary,
            weighted_ce, soft_dice, region, affinity, query, attention, aux_heads.
        only: variants whose loss is this single term.
        base: the full configuration: ``auto`` (stage1pp with a GPU, cpu_demo without),
            stage1pp, cpu_demo, a YAML path, or ``runs/X`` (the best trial of an experiment).
            With ``path``: default the experiment's own base recipe.
        seeds: seeds per variant; seed k is the same in every variant, so results pair up.
        renormalize: rescale the remaining loss weights to the original total.
        metric, mode: the main metric (default: the recipe's ``optim.monitor``) and its
            direction (default: the metric's).
        alpha: significance level of the verdicts.
        path: an experiment directory: walk the ablation path (Fawcett & Hoos 2016) from the
            base to its best configuration instead.
        surrogate: with ``path``, predict the steps with a random forest (Biedenkapp et al.
            2017) instead of running them.
        console: a rich console for live progress; ``None`` logs through :mod:`logging`.
        **options: what every cell trains on, its resources and the run directory
            (:class:`CellOptions`: ``data``, ``set``, ``epochs``, ``concurrency``,
            ``cpus_per_trial``, ``gpus_per_trial``, ``trainable``, ``max_failures``,
            ``address``, ``storage``, ``name``, ``runs_dir``, ``resume``: continue the
            ablation ``name``, only its unfinished cells run).

    Returns:
        The :class:`PairedResult` (``kind`` ``"ablation"`` or ``"ablation_path"``).

    Raises:
        ConfigError: a bad value, an unknown component, a recipe the variants break (before
            Ray starts), or a ``resume`` of a directory that is not an ablation.
    """
    arguments = {**_arguments(locals(), "ablate"), "drop": _listed(drop), "only": _listed(only)}
    chosen = _options("ablate", arguments, _ABLATE_DEFAULTS)
    if surrogate and path is None:
        # one name: "path" is also a word of the message
        raise param_error(
            "surrogate predicts an ablation path: give path runs/X with it", "surrogate"
        )
    if path is not None:
        if arguments["drop"] or arguments["only"]:
            raise param_error(
                "path walks to an experiment's best; it does not take drop or only",
                "path",
                "drop",
                "only",
            )
        return _path(Path(path), chosen, base, surrogate, console)
    from harness.paired._ablation import AblationKind

    kind = AblationKind(_listed(drop), _listed(only), base, renormalize, alpha)
    return _outcome(run_paired(kind, chosen, console))


_ABLATE_DEFAULTS = {
    "drop": (),
    "only": (),
    "seeds": 5,
    "renormalize": True,
    "alpha": 0.05,
    "concurrency": 2,
    "cpus_per_trial": 1.0,
    "max_failures": 2,
    "surrogate": False,
    "runs_dir": "runs",
    "resume": False,
}


def _path(
    experiment: Path,
    options: PairedOptions,
    base: str | None,
    surrogate: bool,
    console: Console | None,
) -> PairedResult:
    from harness.paired._ablation import run_ablation_path

    if options.seeds < 1:
        raise param_error(f"seeds must be >= 1, got {options.seeds}", "seeds")
    outcome = run_ablation_path(
        experiment, options, base=base, surrogate=surrogate, console=console
    )
    steps = outcome.steps
    sentences = [
        f"step {s.step}: {s.parameter} {s.source_value!r} -> {s.target_value!r}: "
        f"{outcome.metric} {s.value:.4g} (gain {s.gain:+.4g})"
        for s in steps.steps
    ]
    return PairedResult(
        path=outcome.path,
        kind="ablation_path",
        cells=pd.DataFrame(),
        table=steps.table(),
        sentences=sentences,
        statistics=steps,
        written=outcome.written,
        title=f"ablation path ({steps.method}): start {outcome.metric} "
        f"{steps.source_value:.4g}, total gain {steps.total_gain:+.4g}",
        metric=outcome.metric,
    )


def validate(
    run: str | Path | None = None,
    *,
    config: str | Path | None = None,
    against: str | None = None,
    folds: int = 5,
    seeds: int = 3,
    metric: str | None = None,
    mode: str | None = None,
    console: Console | None = None,
    **options: Unpack[CellOptions],
) -> PairedResult:
    """Did the search really help: its best configuration against a reference on fresh folds
    (what ``harness validate`` does).

    Both configurations retrain on the same ``folds`` × ``seeds`` (the test split untouched);
    the cells pair up by (fold, seed) and Holm's adjustment spans the metrics.

    Args:
        run: a search directory (``runs/X``) whose best configuration is validated.
        config: a recipe YAML to validate instead of a search's best.
        against: the reference: stage1pp, cpu_demo, a recipe YAML, or ``runs/Y`` (another
            experiment's best). Default: the search's base recipe (with ``config``: stage1pp
            with a GPU, cpu_demo without). It reads the candidate's images.
        folds: folds of the images outside the test split (at least 2).
        seeds: seeds per fold, the same in both configurations.
        metric, mode: the main metric of the verdict (default: the experiment's) and its
            direction.
        console: a rich console for live progress; ``None`` logs through :mod:`logging`.
        **options: what both configurations train on, the resources and the run directory,
            as for :func:`ablate` (:class:`CellOptions`; ``resume`` continues the validation
            ``name``).

    Returns:
        The :class:`PairedResult` (``kind`` ``"validation"``; the verdict is
        ``sentences[0]``, the winner's curse the last sentence when the search had a score).

    Raises:
        ConfigError: a bad value, neither or both of ``run`` and ``config``, not a search
            directory, more folds than images (before Ray starts).
    """
    chosen = _options("validate", _arguments(locals(), "validate"), _VALIDATE_DEFAULTS)
    from harness.paired._validation import ValidationKind

    kind = ValidationKind(
        None if run is None else Path(run),
        None if config is None else Path(config),
        against,
        folds,
    )
    return _outcome(run_paired(kind, chosen, console))


_VALIDATE_DEFAULTS = {**_ABLATE_DEFAULTS, "folds": 5, "seeds": 3}


def paired_report(
    directory: str | Path,
    *,
    metric: str | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
    out: str | Path | None = None,
) -> PairedResult:
    """``harness report`` on an ablation or a validation directory: the statistics, their
    files in ``out`` (default ``DIRECTORY/report``; an ablation's with ``report.html``) and the
    sentences. A validation whose ``cells.parquet`` was lost has it derived again from
    ``trials.parquet``.

    Raises:
        DataError: not an ablation or validation directory, or a file is missing.
    """
    from analysis.paired import CELLS, PAIRED_KINDS, paired_kind
    from analysis.paired import paired_report as report
    from harness.paired import write_cells

    path = Path(directory)
    kind = paired_kind(path)
    if kind is not None and not (path / CELLS).is_file() and (path / "trials.parquet").is_file():
        write_cells(path, PAIRED_KINDS[kind])
    done = report(path, metric=metric, bootstrap=bootstrap, seed=seed, out=out)
    return _result(path, done, expected=len(done.cells))
