"""The ``harness ablate`` command's options (registered by ``harness.cli``)."""

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

__all__ = ["ablate"]


def ablate(
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
    data: DataOpt = None,
    set_: SetOpt = None,
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
    concurrency: ConcurrencyOpt = 2,
    cpus_per_trial: CpusOpt = 1.0,
    gpus_per_trial: GpusOpt = None,
    trainable: TrainableOpt = None,
    max_failures: MaxFailuresOpt = 2,
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
    address: AddressOpt = None,
    storage: StorageOpt = None,
    name: NameOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    resume: ResumeOpt = False,
) -> None:
    """What each component is worth: every variant with the same paired seeds, at full length.

    Prints, per variant, mean ± sd, the 95% interval, Δ against the full configuration, paired
    t-test and Wilcoxon p, Holm-adjusted p, Cohen's d_z, a verdict and the smallest effect the
    seeds could detect; writes cells.parquet, ablation.csv/.json/.md and forest.png into
    RUNS_DIR/NAME (`harness report` renders it). Example: harness ablate --drop boundary --seeds 3
    """
    import sys

    from harness.cli._ablate_cmd import AblateRequest, ablate_command

    request = AblateRequest(
        drops=tuple(drop or ()),
        onlys=tuple(only or ()),
        base=base,
        seeds=seeds,
        renormalize=renormalize,
        data=data,
        sets=tuple(set_ or ()),
        epochs=epochs,
        metric=metric,
        mode=mode,
        alpha=alpha,
        concurrency=concurrency,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        trainable=trainable,
        max_failures=max_failures,
        path=path,
        surrogate=surrogate,
        name=name,
        runs_dir=runs_dir,
        address=address,
        storage=storage,
        resume=resume,
        command="ablate " + " ".join(sys.argv[2:]),
    )
    raise typer.Exit(ablate_command(request, Console()))
