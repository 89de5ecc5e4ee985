"""The ``harness validate`` command's options (registered by ``harness.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli._paired import api_arguments, cell_options, run_command

__all__ = ["validate"]


@cell_options
def validate(
    ctx: typer.Context,
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
    epochs: Annotated[
        int | None, typer.Option(help="Training epochs of every cell (both configurations).")
    ] = None,
    **cells: Any,
) -> None:
    """Did the search really help: its best configuration against a reference on fresh folds.

    Retrains both on the same k folds x seeds (Ray, full length; the test split untouched) and
    prints, per metric, mean ± sd and the 95% interval of each, the paired difference with its
    interval, paired t-test and Wilcoxon p, Holm across the metrics, Cohen's d_z, and a verdict
    in words: better or worse than the reference by X [lo, hi], or not distinguishable with
    this many folds and the smallest difference they could detect. Next to it, the search's own
    best score against its cross-validated score (the winner's curse). Writes spec.json,
    fold-*/split.json, cells.parquet, validation.csv/.json/.md and the two recipes
    (candidate.yaml, reference.yaml: for `harness train --recipe`, then `harness evaluate`)
    into RUNS_DIR/NAME (`harness report` renders it); --resume --name NAME runs only the
    missing cells.
    Example: harness validate runs/search-lr --folds 5 --seeds 3
    """
    run_command(ctx, "validate", api_arguments(locals()))
