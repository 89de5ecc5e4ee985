"""Experiment directories to tables, importance (ANOVA and fANOVA) and reports.

Reads only an experiment directory; never imports ray or torch. Computation and rendering are
apart: ``compute_importance`` returns data frames and JSON-able dicts; ``write_report`` renders
them as CSV, JSON, Markdown and a self-contained HTML page.
"""

from __future__ import annotations

from analysis._ablation_path import AblationPath, PathStep, ablation_path, surrogate_path
from analysis._ablation import (
    ABLATION_COLUMNS,
    DEFAULT_ABLATION_METRICS,
    VERDICTS,
    AblationResult,
    ablation_statistics,
    metric_direction,
)
from analysis._ablation_load import is_ablation_dir, load_ablation
from analysis._ablation_render import (
    ABLATION_FILES,
    ablation_rows,
    forest_plot,
    mde_lines,
    write_ablation,
)
from analysis._anova import DEFAULT_GROUPS, AnovaResult, anova_importance, group_of
from analysis._bench_plot import bench_figure, write_bench_plot
from analysis._compare import compare_rankings, write_comparison
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
from analysis._fanova import FanovaResult, distributions_from_space, fanova_importance
from analysis._fidelity import Fidelity, choose_fidelity, default_epoch, resolve_metric
from analysis._importance import (
    TABLE_COLUMNS,
    FanovaSettings,
    ImportanceReport,
    compute_importance,
    guess_mode,
)
from analysis._load import Experiment, load_experiment, parameter_columns
from analysis._plots import pareto_front
from analysis._render import FORMATS, ranking_rows, report_dict, write_report

__all__ = [
    "AblationPath",
    "PathStep",
    "ablation_path",
    "surrogate_path",
    "ABLATION_COLUMNS",
    "ABLATION_FILES",
    "BOOTSTRAP_METHODS",
    "COUNT_COLUMNS",
    "DEFAULT_ABLATION_METRICS",
    "DEFAULT_GROUPS",
    "FORMATS",
    "TABLE_COLUMNS",
    "VERDICTS",
    "AblationResult",
    "AnovaResult",
    "Experiment",
    "FanovaResult",
    "FanovaSettings",
    "Fidelity",
    "ImportanceReport",
    "Interval",
    "PooledFn",
    "ablation_rows",
    "ablation_statistics",
    "anova_importance",
    "bench_figure",
    "bootstrap_interval",
    "choose_fidelity",
    "compare_evaluations",
    "compare_rankings",
    "compute_importance",
    "default_epoch",
    "distributions_from_space",
    "fanova_importance",
    "forest_plot",
    "group_of",
    "guess_mode",
    "is_ablation_dir",
    "label_breakdown",
    "load_ablation",
    "load_experiment",
    "mde_lines",
    "metric_direction",
    "paired_comparison",
    "parameter_columns",
    "pareto_front",
    "ranking_rows",
    "report_dict",
    "resolve_metric",
    "summarize_evaluation",
    "write_ablation",
    "write_bench_plot",
    "write_comparison",
    "write_report",
]
