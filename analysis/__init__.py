"""Experiment directories to tables, importance (ANOVA and fANOVA) and reports.

Reads only an experiment directory; never imports ray or torch. Computation and rendering are
apart: ``compute_importance`` returns data frames and JSON-able dicts; ``write_report`` renders
them as CSV, JSON, Markdown and a self-contained HTML page.
"""

from __future__ import annotations

from analysis._anova import DEFAULT_GROUPS, AnovaResult, anova_importance, group_of
from analysis._compare import compare_rankings, write_comparison
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
    "DEFAULT_GROUPS",
    "FORMATS",
    "TABLE_COLUMNS",
    "AnovaResult",
    "Experiment",
    "FanovaResult",
    "FanovaSettings",
    "Fidelity",
    "ImportanceReport",
    "anova_importance",
    "choose_fidelity",
    "compare_rankings",
    "compute_importance",
    "default_epoch",
    "distributions_from_space",
    "fanova_importance",
    "group_of",
    "guess_mode",
    "load_experiment",
    "parameter_columns",
    "pareto_front",
    "ranking_rows",
    "report_dict",
    "resolve_metric",
    "write_comparison",
    "write_report",
]
