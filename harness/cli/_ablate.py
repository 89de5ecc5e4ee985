"""The ``harness ablate`` command's options (registered by ``harness.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli._paired import api_arguments, cell_options, run_command

__all__ = ["ablate"]


@cell_options
def ablate(
    ctx: typer.Context,
    drop: Annotated[
        list[str] | None,
        typer.Option(
            help="Component to remove (repeatable; 'each' = leave-one-out of every component; "
            "'a+b' drops both in one variant): focal_tversky, boundary, weighted_ce, soft_dice, "
            "region, affinity, query, attention (blocks = 0), aux_heads (region+affinity+query)."
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(help="A variant whose loss is this single term (repeatable)."),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(
            help="Full configuration: auto (stage1pp with a GPU, cpu_demo without), stage1pp, "
            "cpu_demo, a YAML path, or runs/X (the best trial of an experiment). With --path: "
            "default the experiment's own base recipe."
        ),
    ] = None,
    seeds: Annotated[
        int,
        typer.Option(
            help="Seeds per variant. Seed k is the same in every variant (initialisation, data "
            "order, augmentation; one shared split), so results are paired."
        ),
    ] = 5,
    renormalize: Annotated[
        bool,
        typer.Option(
            help="Rescale the remaining loss weights to the original total (--no-renormalize "
            "keeps them as they are)."
        ),
    ] = True,
    epochs: Annotated[int | None, typer.Option(help="Training epochs of every cell.")] = None,
    metric: Annotated[
        str | None, typer.Option(help="Main metric (default: the recipe's optim.monitor).")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="max or min: the main metric's direction (needed for a metric the "
            "harness does not know; default: the metric's)."
        ),
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level of the verdicts.")] = 0.05,
    path: Annotated[
        Path | None,
        typer.Option(
            help="Ablation path (Fawcett & Hoos 2016) from the base to the best configuration "
            "of this experiment: each step flips the parameter that helps most (real runs, "
            "--seeds per candidate)."
        ),
    ] = None,
    surrogate: Annotated[
        bool,
        typer.Option(
            help="With --path: predict the steps with a random forest fitted on the "
            "experiment's trials (Biedenkapp et al. 2017) instead of running them."
        ),
    ] = False,
    **cells: Any,
) -> None:
    """What each component is worth: every variant with the same paired seeds, at full length.

    Prints, per variant, mean ± sd, the 95% interval, Δ against the full configuration, paired
    t-test and Wilcoxon p, Holm-adjusted p, Cohen's d_z, a verdict and the smallest effect the
    seeds could detect; writes cells.parquet, ablation.csv/.json/.md and forest.png into
    RUNS_DIR/NAME (`harness report` renders it). Example: harness ablate --drop boundary --seeds 3
    """
    run_command(ctx, "ablate", api_arguments(locals()))
