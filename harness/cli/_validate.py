"""The ``harness validate`` command's options (registered by ``harness.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.cli._options import (
    AddressOpt,
    ConcurrencyOpt,
    CpusOpt,
    DataOpt,
    GpusOpt,
    MaxFailuresOpt,
    NameOpt,
    ResumeOpt,
    RunsDirOpt,
    SetOpt,
    StorageOpt,
    TrainableOpt,
)

__all__ = ["validate"]


def validate(
    run: Annotated[
        Path | None,
        typer.Argument(
            help="Search directory (runs/X) whose best configuration is validated: its best "
            "trial, or a plan's best recipe. Or give --config."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="A recipe YAML to validate instead of a search's best."),
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(
            help="The reference: stage1pp, cpu_demo, a recipe YAML, or runs/Y (the best of "
            "another experiment). Default: RUN's base recipe (with --config: stage1pp with a "
            "GPU, cpu_demo without). It reads the candidate's images."
        ),
    ] = None,
    folds: Annotated[
        int,
        typer.Option(
            help="Folds of the images outside the test split, stratified by lesion fraction; "
            "each is the validation set once while the others train (at least 2)."
        ),
    ] = 5,
    seeds: Annotated[
        int,
        typer.Option(
            help="Seeds per fold. Seed k is the same in both configurations (initialisation, "
            "data order, augmentation), so the cells pair up by (fold, seed)."
        ),
    ] = 3,
    metric: Annotated[
        str | None,
        typer.Option(help="Main metric of the verdict (default: the experiment's metric)."),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="max or min: the main metric's direction (needed for a metric the harness "
            "does not know; default: the metric's)."
        ),
    ] = None,
    data: DataOpt = None,
    set_: SetOpt = None,
    epochs: Annotated[
        int | None, typer.Option(help="Training epochs of every cell (both configurations).")
    ] = None,
    concurrency: ConcurrencyOpt = 2,
    cpus_per_trial: CpusOpt = 1.0,
    gpus_per_trial: GpusOpt = None,
    trainable: TrainableOpt = None,
    max_failures: MaxFailuresOpt = 2,
    address: AddressOpt = None,
    storage: StorageOpt = None,
    name: NameOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    resume: ResumeOpt = False,
) -> None:
    """Did the search really help: its best configuration against a reference on fresh folds.

    Retrains both on the same k folds x seeds (Ray, full length; the test split untouched) and
    prints, per metric, mean ± sd and the 95% interval of each, the paired difference with its
    interval, paired t-test and Wilcoxon p, Holm across the metrics, Cohen's d_z, and a verdict
    in words: better or worse than the reference by X [lo, hi], or not distinguishable with
    this many folds and the smallest difference they could detect. Next to it, the search's own
    best score against its cross-validated score (the winner's curse). Writes spec.json,
    fold-*/split.json, cells.parquet and validation.csv/.json/.md into RUNS_DIR/NAME
    (`harness report` renders it); --resume --name NAME runs only the missing cells.
    Example: harness validate runs/search-lr --folds 5 --seeds 3
    """
    import sys

    from harness.cli._validate_cmd import ValidateRequest, validate_command

    request = ValidateRequest(
        run=run,
        config=config,
        against=against,
        folds=folds,
        seeds=seeds,
        metric=metric,
        mode=mode,
        data=data,
        sets=tuple(set_ or ()),
        epochs=epochs,
        concurrency=concurrency,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        trainable=trainable,
        max_failures=max_failures,
        address=address,
        storage=storage,
        name=name,
        runs_dir=runs_dir,
        resume=resume,
        command="validate " + " ".join(sys.argv[2:]),
    )
    raise typer.Exit(validate_command(request, Console()))
