"""Renderers: importance reports, comparisons, ablations and the bench figure as files.

Markdown, a self-contained HTML page (inline CSS, figures as ``data:`` PNGs), CSV, JSON and PNG.
They take what :mod:`analysis.importance` and :mod:`analysis.ablation` computed (data frames, a
meta dict, an :class:`~analysis.ablation.AblationResult`) and compute no statistic themselves.
Figures are drawn on bare Agg ``Figure`` objects, never through ``pyplot``.
"""

from __future__ import annotations

from analysis.render._ablation import (
    ABLATION_FILES,
    ablation_html,
    ablation_markdown,
    ablation_rows,
    forest_plot,
    mde_lines,
    write_ablation,
)
from analysis.render._bench import bench_figure, write_bench_plot
from analysis.render._comparison import write_comparison
from analysis.render._importance import (
    FORMATS,
    fidelity_sentence,
    outcome,
    ranking_rows,
    report_dict,
    write_report,
)
from analysis.render._plots import is_log_spaced, pareto_front

__all__ = [
    "ABLATION_FILES",
    "FORMATS",
    "ablation_html",
    "ablation_markdown",
    "ablation_rows",
    "bench_figure",
    "fidelity_sentence",
    "forest_plot",
    "is_log_spaced",
    "mde_lines",
    "outcome",
    "pareto_front",
    "ranking_rows",
    "report_dict",
    "write_ablation",
    "write_bench_plot",
    "write_comparison",
    "write_report",
]
