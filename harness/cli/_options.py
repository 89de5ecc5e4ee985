"""Command-line options shared by several ``harness`` commands, defined once.

Each is an ``Annotated`` type for a typer parameter; a command picks its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "AddressOpt",
    "ConcurrencyOpt",
    "CpusOpt",
    "DataOpt",
    "GpusOpt",
    "MaxFailuresOpt",
    "NameOpt",
    "ResumeOpt",
    "RunsDirOpt",
    "SetOpt",
    "StorageOpt",
    "TrainableOpt",
]

DataOpt = Annotated[
    Path | None, typer.Option(help="Folder of images and masks (default: synthetic data).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a base-recipe value by dotted path (repeatable)."),
]
ConcurrencyOpt = Annotated[int, typer.Option(help="Trials running at the same time.")]
CpusOpt = Annotated[float, typer.Option(help="CPUs reserved per trial.")]
GpusOpt = Annotated[
    float | None,
    typer.Option(
        help="GPUs per trial (fractions share a GPU). Default: 1/concurrency with a GPU, 0 without."
    ),
]
TrainableOpt = Annotated[
    str | None,
    typer.Option(
        help="module:function shaped like trials.run_trial(recipe, report) (default: "
        "trials:run_trial)."
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(help="Ray cluster: auto or HOST:PORT (default: RAY_ADDRESS, else local)."),
]
MaxFailuresOpt = Annotated[
    int,
    typer.Option(
        help="Restarts of a trial whose worker or node died, from its last epoch checkpoint."
    ),
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        help="Where experiments go instead of RUNS_DIR: a path every node mounts (multi-node "
        "runs need one) or a pyarrow URI such as s3://bucket/runs (Ray state and checkpoints "
        "there, tables in RUNS_DIR). See README, Running on a cluster."
    ),
]
NameOpt = Annotated[str | None, typer.Option(help="Run name: RUNS_DIR/NAME.")]
RunsDirOpt = Annotated[Path, typer.Option(help="Where run directories are made.")]
ResumeOpt = Annotated[
    bool, typer.Option(help="Continue the interrupted run --name NAME (what is missing only).")
]
