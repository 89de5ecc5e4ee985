"""The ``search``, ``report`` and ``tables`` commands: parse, call the API, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli._console import console
from harness.cli._options import (
    AddressOpt,
    BudgetEpochsOpt,
    BudgetHoursOpt,
    ConcurrencyOpt,
    CpusOpt,
    DataOpt,
    GpusOpt,
    MaxEpochsOpt,
    MaxFailuresOpt,
    NameOpt,
    PlanScaleOpt,
    ResumeOpt,
    RunsDirOpt,
    SetOpt,
    StorageOpt,
    TrainableOpt,
    TrialsOpt,
)
from harness.cli._params import in_flags

__all__ = ["report", "search", "tables"]

SpaceOpt = Annotated[
    str | None, typer.Option(help="Named search space (see `harness spaces`) or a YAML path.")
]
PlanOpt = Annotated[
    str | None,
    typer.Option(help="Staged plan instead of one space: staged, groupwise or a YAML path."),
]
RecipeOpt = Annotated[
    str, typer.Option(help="Base recipe: cpu_demo, stage1pp, a YAML path, or auto.")
]
GraceOpt = Annotated[
    int | None,
    typer.Option(
        help="ASHA grace period: epochs before a trial can be stopped. Default: max epochs "
        "/ reduction factor², rounded up (2 of 12 epochs, 6 of 52): on real learning "
        "curves a 1-epoch grace stops trials that would have been best."
    ),
]
FactorOpt = Annotated[
    int, typer.Option(help="ASHA reduction factor: 1/F of the trials go on at each rung.")
]
MemoryCapOpt = Annotated[
    str | None,
    typer.Option(help="Memory cap per trial, e.g. 12GiB (GPU memory on CUDA, RSS on CPU)."),
]
SamplerOpt = Annotated[
    str,
    typer.Option(
        help="tpe (default: Optuna's multivariate TPE, its good group the best 10% of the "
        "trials up to three parameters and 35%/parameters beyond), tpe-budget (TPE ranking "
        "trials at the highest epoch enough of them reached, as BOHB does), random or grid."
    ),
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the sampler.")]
MetricOpt = Annotated[
    str | None, typer.Option(help="Metric to optimise (default: the recipe's optim.monitor).")
]
ModeOpt = Annotated[str | None, typer.Option(help="max or min (default: the metric's).")]
MlflowOpt = Annotated[
    str | None,
    typer.Option(
        help="Also log every trial to MLflow at this tracking URI (e.g. file:///abs/mlruns "
        "or http://host:5000), one MLflow run per trial in an MLflow experiment named "
        "after the run directory. Needs the optional extra: pip install '.[mlflow]'."
    ),
]


def _api_arguments(local: dict[str, Any]) -> dict[str, Any]:
    """A command's parameters as the API's keyword arguments (``set_`` -> ``set``)."""
    return {key.rstrip("_"): value for key, value in local.items() if key != "ctx"}


_RunsOpt = Annotated[
    list[Path],
    typer.Argument(
        help="Experiment directories (several: compared side by side), or ablation / "
        "validation directories written by `harness ablate` / `harness validate`."
    ),
]
_MetricOpt = Annotated[
    str | None,
    typer.Option(
        help="Outcome to explain: the search metric by default; any numeric "
        "column, e.g. peak_memory_bytes or images_per_s."
    ),
]
_EpochOpt = Annotated[
    int | None,
    typer.Option(
        help="Fidelity: compare trials at this epoch (default: the highest epoch "
        "that 15 trials per parameter reached, what a reliable ranking needs; without one, "
        "the highest epoch that 90% of the trials reached)."
    ),
]
_SplineDfOpt = Annotated[
    int | None,
    typer.Option(
        help="Degrees of freedom (1-20) of each numeric parameter's spline. Default: chosen by "
        "generalised cross-validation (1: a straight line; more bend, but need more trials).",
    ),
]
_InteractionsOpt = Annotated[
    int, typer.Option(help="Two-way interactions to test (their shares are lower bounds).")
]
_BootstrapOpt = Annotated[
    int, typer.Option(help="Bootstrap resamples for the 90% intervals and P(rank).")
]
_FormatOpt = Annotated[str, typer.Option("--format", help="Comma-separated: md, html, csv, json.")]
_ParamsOpt = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated parameter columns to rank, e.g. optim.lr,model.width. "
        "Default: the parameters of the space spec.json records, else every column of "
        "trials.parquet that is not an outcome (final.*, best.*, raw.*, per-epoch "
        "metrics, status, epochs, costs)."
    ),
]
_MixedBudgetsOpt = Annotated[
    bool,
    typer.Option(
        "--mixed-budgets",
        help="Allow final.* and best.* outcomes of trials that ran different numbers of "
        "epochs (refused by default: an early stop would look like a parameter effect); "
        "the report then carries a MIXED BUDGETS banner.",
    ),
]


def search(
    ctx: typer.Context,
    space: SpaceOpt = None,
    plan: PlanOpt = None,
    recipe: RecipeOpt = "auto",
    data: DataOpt = None,
    set_: SetOpt = None,
    trials: TrialsOpt = None,
    max_epochs: MaxEpochsOpt = None,
    grace_period: GraceOpt = None,
    reduction_factor: FactorOpt = 3,
    concurrency: ConcurrencyOpt = 2,
    cpus_per_trial: CpusOpt = 1.0,
    gpus_per_trial: GpusOpt = None,
    memory_cap: MemoryCapOpt = None,
    sampler: SamplerOpt = "tpe",
    seed: SeedOpt = 0,
    metric: MetricOpt = None,
    mode: ModeOpt = None,
    trainable: TrainableOpt = None,
    budget: PlanScaleOpt = 1.0,
    budget_epochs: BudgetEpochsOpt = None,
    budget_hours: BudgetHoursOpt = None,
    mlflow: MlflowOpt = None,
    address: AddressOpt = None,
    storage: StorageOpt = None,
    max_failures: MaxFailuresOpt = 2,
    name: NameOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    resume: ResumeOpt = False,
) -> None:
    """Search hyperparameters with Ray Tune, Optuna TPE and ASHA early stopping.

    Every trial trains the base recipe with the sampled values; the base recipe's own values are
    evaluated first. Results go to RUNS_DIR/NAME: Ray's state, spec.json, trials.parquet (one row
    per trial) and curves.parquet (one row per trial and epoch).

    A compute budget (--budget-epochs N, --budget-hours H) ends the search once the trials have
    spent it: no trial is proposed any more and the trials still running are stopped at once.
    """
    arguments = _api_arguments(locals())
    import harness
    from harness.cli._search import print_search

    with in_flags(ctx.command):
        result = harness.search(**arguments, console=console)
    raise typer.Exit(print_search(result, console))


def report(
    ctx: typer.Context,
    runs: _RunsOpt,
    metric: _MetricOpt = None,
    epoch: _EpochOpt = None,
    spline_df: _SplineDfOpt = None,
    interactions: _InteractionsOpt = 3,
    bootstrap: _BootstrapOpt = 200,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and fANOVA.")] = 0,
    format_: _FormatOpt = "md,html,csv,json",
    out: Annotated[Path | None, typer.Option(help="Output folder (default: RUN/report).")] = None,
    params: _ParamsOpt = None,
    mixed_budgets: _MixedBudgetsOpt = False,
) -> None:
    """Which parameters drive the outcome: ANOVA and fANOVA importance, with a report.

    Writes importance.csv, importance.json, report.md and a self-contained report.html (plots
    embedded) to RUN/report; with several RUNs, also a side-by-side comparison. For an ablation
    directory, writes its table instead (ablation.csv, ablation.json, ablation.md, forest.png and
    report.html; --metric picks the main metric, --bootstrap and --seed the interval of each Δ).
    """
    arguments = _api_arguments(locals())
    import harness
    from harness.cli._report import print_report

    with in_flags(ctx.command):
        result = harness.report(**arguments, console=console)
    print_report(result, console)
    raise typer.Exit(0)


def tables(
    ctx: typer.Context,
    runs: Annotated[
        list[Path],
        typer.Argument(help="Run directories: searches, plans or ablations."),
    ],
) -> None:
    """Rebuild trials.parquet and curves.parquet from Ray's own state.

    The tables are written as trials end; if they were lost (deleted, or a crash at the wrong
    moment), Ray's experiment snapshot and every trial's results still hold what ran, and this
    writes them anew. `harness report` does the same by itself when the tables are missing.
    """
    import harness

    with in_flags(ctx.command):
        harness.tables(runs, console=console)
    raise typer.Exit(0)
