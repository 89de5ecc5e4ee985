"""Command-line options shared by several ``harness`` commands, defined once.

Each is an ``Annotated`` type for a typer parameter; a command picks its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "AddressOpt",
    "BudgetEpochsOpt",
    "BudgetHoursOpt",
    "CalibrateOpt",
    "CompareOpt",
    "ConcurrencyOpt",
    "CpusOpt",
    "DataOpt",
    "DetectFractionOpt",
    "EvalDataOpt",
    "EvalSplitOpt",
    "GpusOpt",
    "MaxEpochsOpt",
    "MaxFailuresOpt",
    "NameOpt",
    "OverlaysOpt",
    "PlanScaleOpt",
    "ResumeOpt",
    "RunsDirOpt",
    "SetOpt",
    "SizeThresholdsOpt",
    "StorageOpt",
    "TrainableOpt",
    "TrialsOpt",
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
        "there, tables in RUNS_DIR). See docs/cluster.md."
    ),
]
NameOpt = Annotated[str | None, typer.Option(help="Run name: RUNS_DIR/NAME.")]
RunsDirOpt = Annotated[Path, typer.Option(help="Where run directories are made.")]
ResumeOpt = Annotated[
    bool, typer.Option(help="Continue the interrupted run --name NAME (what is missing only).")
]
BudgetEpochsOpt = Annotated[
    int | None,
    typer.Option(
        help="Compute budget: stop once the trials have trained N epochs in all (one per epoch "
        "a trial reports; curves.parquet has one row per trial and epoch). Then no trial is "
        "proposed any more and the trials still running are stopped at once, mid-epoch: each "
        "is recorded (status pruned) at the last epoch it finished, so no more than one "
        "unfinished epoch per running trial is spent beyond N. --trials becomes an upper "
        "bound. With --plan, split across the stages in proportion to trials x max_epochs, "
        "what a stage leaves unused going to the next. --resume counts what was spent before. "
        "Budget and use are written to budget.json and spec.json (compute_budget)."
    ),
]
BudgetHoursOpt = Annotated[
    float | None,
    typer.Option(
        help="Compute budget in trial-hours: stop once the trials' own run time together (the "
        "sum of their epoch times as Ray measures them, time_this_iter_s; not this command's "
        "wall clock) reaches X hours. The same stop as --budget-epochs: running trials are "
        "stopped at once, no new trial starts. Both budgets may be given; the first spent ends "
        "the search."
    ),
]
TrialsOpt = Annotated[
    int | None,
    typer.Option(
        help="Trials of the search (default 24). With --budget-epochs or --budget-hours an "
        "upper bound, by default as many as the budget can pay for: budget-epochs / grace "
        "period + concurrency (every trial trains at least its grace period), or 10000 under "
        "--budget-hours alone."
    ),
]
MaxEpochsOpt = Annotated[
    int | None,
    typer.Option(
        help="ASHA max_t: the longest a trial trains (epochs; every trial's optim.epochs). "
        "Default 12, or N when --set optim.epochs=N is given (both, with different values, is "
        "an error). Not for --plan: its stages set their own."
    ),
]
PlanScaleOpt = Annotated[
    float,
    typer.Option(
        help="Plans: multiply every stage's trials (--budget-epochs / --budget-hours limit what "
        "they may spend)."
    ),
]

# ---------------------------------------------------------------------------- harness evaluate
EvalDataOpt = Annotated[
    Path | None,
    typer.Option(
        help="Folder of images and masks to evaluate on. Default: the checkpoint recipe's own "
        "data (synthetic when it was synthetic), split as in its run's split.json."
    ),
]
EvalSplitOpt = Annotated[
    str,
    typer.Option(
        help="test, val, train or all: split folders when the data has them, else the "
        "recipe's seeded split (data.split)."
    ),
]
CompareOpt = Annotated[
    Path | None,
    typer.Option(
        help="A second checkpoint: paired per-image comparison (t-test, Wilcoxon, d_z, "
        "bootstrap interval of the difference A - B)."
    ),
]
OverlaysOpt = Annotated[
    int,
    typer.Option(
        help="Write K PNG panels (image, ground truth, prediction; with --compare also B and "
        "the difference): the K worst images, or the K largest differences."
    ),
]
SizeThresholdsOpt = Annotated[
    str | None,
    typer.Option(
        help="Lesion-size strata: increasing areas in pixels of the evaluated (full-size) masks, "
        "comma-separated. Default 64,1024: small < 64, medium < 1024, large >= 1024 px. Lesions "
        "are 8-connected components of the ground truth."
    ),
]
DetectFractionOpt = Annotated[
    float,
    typer.Option(
        help="A lesion counts as detected when the prediction covers at least this fraction of "
        "its pixels, in (0, 1]."
    ),
]
CalibrateOpt = Annotated[
    bool,
    typer.Option(
        help="Fit temperature scaling (one T, p = sigmoid(logit / T), minimum NLL) on the val "
        "split and report ECE and Brier before and after on the evaluated split."
    ),
]
