"""Experiment directories to tables, importance (ANOVA and fANOVA), ablations and reports.

Reads only experiment and ablation directories; never imports ray or torch. The layout shows the
architecture:

- ``_load``, ``_fidelity``: an experiment directory as tidy tables, and the fidelity (epoch and
  trials) an outcome is analysed at;
- :mod:`analysis.importance`: ANOVA and fANOVA importance, the importance report, comparisons;
- :mod:`analysis.ablation`: paired ablation statistics, ablation directories, ablation paths;
- :mod:`analysis.render`: Markdown, HTML, CSV, JSON and PNG writers, which compute nothing but
  the anytime curve they draw (best so far against the budget spent, :func:`compute_anytime`);
- ``_evaluation``: per-image evaluation statistics (bootstrap intervals, paired comparisons),
  used by ``harness evaluate`` and by the ablation statistics; ``_lesion_sizes`` and
  ``_calibration``: its metrics by lesion size and its calibration (ECE, Brier, temperature) from
  per-image reliability bins, which ``trials.metrics`` computes.

Which way an outcome improves and how a trial ended are the harness's shared vocabulary
(:func:`search_spaces.metric_direction`, :class:`search_spaces.TrialStatus`); ``metric_direction``
and ``guess_mode`` here are that one rule under the names this package has always exported.
"""

from __future__ import annotations

from analysis._calibration import (
    TemperatureFit,
    calibration_summary,
    fit_temperature,
    reliability_curve,
    scale_logits,
)
from analysis._evaluation import (
    BOOTSTRAP_METHODS,
    COUNT_COLUMNS,
    Interval,
    PooledFn,
    bootstrap_interval,
    compare_evaluations,
    label_breakdown,
    paired_comparison,
    summarize_evaluation,
)
from analysis._fidelity import (
    Fidelity,
    choose_fidelity,
    default_epoch,
    ranking_epochs,
    resolve_metric,
)
from analysis._lesion_sizes import lesion_column, summarize_lesion_sizes
from analysis._load import Experiment, load_experiment, parameter_columns
from analysis.ablation import (
    ABLATION_COLUMNS,
    DEFAULT_ABLATION_METRICS,
    VERDICTS,
    AblationPath,
    AblationResult,
    PathStep,
    ablation_path,
    ablation_statistics,
    is_ablation_dir,
    load_ablation,
    surrogate_path,
)
from analysis.importance import (
    DEFAULT_GROUPS,
    DEFINITIONS,
    TABLE_COLUMNS,
    Estimate,
    ImportanceReport,
    compare_rankings,
    compute_importance,
    estimate_importance,
    group_of,
)
from analysis.render import (
    ABLATION_FILES,
    FORMATS,
    AnytimeCurve,
    ablation_rows,
    bench_figure,
    budget_verdict,
    calibration_figure,
    compute_anytime,
    forest_plot,
    mde_lines,
    pareto_front,
    ranking_rows,
    report_dict,
    write_ablation,
    write_anytime,
    write_bench_plot,
    write_calibration_plot,
    write_comparison,
    write_report,
)
from search_spaces import metric_direction

#: the harness's one direction rule under its former name here
guess_mode = metric_direction

__all__ = [
    "ABLATION_COLUMNS",
    "ABLATION_FILES",
    "BOOTSTRAP_METHODS",
    "COUNT_COLUMNS",
    "DEFAULT_ABLATION_METRICS",
    "DEFAULT_GROUPS",
    "DEFINITIONS",
    "FORMATS",
    "TABLE_COLUMNS",
    "VERDICTS",
    "AblationPath",
    "AblationResult",
    "AnytimeCurve",
    "Estimate",
    "Experiment",
    "Fidelity",
    "ImportanceReport",
    "Interval",
    "PathStep",
    "PooledFn",
    "TemperatureFit",
    "ablation_path",
    "ablation_rows",
    "ablation_statistics",
    "bench_figure",
    "bootstrap_interval",
    "budget_verdict",
    "calibration_figure",
    "calibration_summary",
    "choose_fidelity",
    "compare_evaluations",
    "compare_rankings",
    "compute_anytime",
    "compute_importance",
    "default_epoch",
    "estimate_importance",
    "fit_temperature",
    "forest_plot",
    "group_of",
    "guess_mode",
    "is_ablation_dir",
    "label_breakdown",
    "lesion_column",
    "load_ablation",
    "load_experiment",
    "mde_lines",
    "metric_direction",
    "paired_comparison",
    "parameter_columns",
    "pareto_front",
    "ranking_epochs",
    "ranking_rows",
    "reliability_curve",
    "report_dict",
    "resolve_metric",
    "scale_logits",
    "summarize_evaluation",
    "summarize_lesion_sizes",
    "surrogate_path",
    "write_ablation",
    "write_anytime",
    "write_bench_plot",
    "write_calibration_plot",
    "write_comparison",
    "write_report",
]
