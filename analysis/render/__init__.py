"""Renderers: importance reports, comparisons, ablations, the bench figure and the anytime curve.

Markdown, a self-contained HTML page (inline CSS, figures as ``data:`` PNGs), CSV, JSON and PNG.
They take what :mod:`analysis.importance` and :mod:`analysis.ablation` computed (data frames, a
meta dict, an :class:`~analysis.ablation.AblationResult`) and compute no statistic themselves.
Figures are drawn on bare Agg ``Figure`` objects, never through ``pyplot``.
"""

from __future__ import annotations

from analysis.render._ablation import (
    ABLATION_FILES,
    ablation_rows,
    forest_plot,
    mde_lines,
    write_ablation,
)
from analysis.render._anytime import (
    ANYTIME_COLUMNS,
    AnytimeCurve,
    anytime_caption,
    anytime_figure,
    anytime_table,
    budget_verdict,
    compute_anytime,
    write_anytime,
)
from analysis.render._bench import bench_figure, write_bench_plot
from analysis.render._calibration import calibration_figure, write_calibration_plot
from analysis.render._comparison import write_comparison
from analysis.render._importance import FORMATS, outcome, report_dict, write_report
from analysis.render._plots import is_log_spaced, pareto_front
from analysis.render._ranking import column_definitions, ranking_rows

__all__ = [
    "ABLATION_FILES",
    "ANYTIME_COLUMNS",
    "FORMATS",
    "AnytimeCurve",
    "ablation_rows",
    "anytime_caption",
    "anytime_figure",
    "anytime_table",
    "bench_figure",
    "budget_verdict",
    "calibration_figure",
    "column_definitions",
    "compute_anytime",
    "forest_plot",
    "is_log_spaced",
    "mde_lines",
    "outcome",
    "pareto_front",
    "ranking_rows",
    "report_dict",
    "write_ablation",
    "write_anytime",
    "write_bench_plot",
    "write_calibration_plot",
    "write_comparison",
    "write_report",
]
