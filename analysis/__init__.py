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
    calibration_summary,
    fit_temperature,
    reliability_curve,
    scale_logits,
)
from analysis._evaluation import (
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
from analysis._load import load_experiment
from analysis.ablation import (
    ABLATION_COLUMNS,
    ablation_path,
    ablation_statistics,
    surrogate_path,
)
from analysis.importance import (
    ImportanceReport,
    compute_importance,
    estimate_importance,
)
from analysis.render import (
    ablation_rows,
    budget_verdict,
    compute_anytime,
    mde_lines,
    ranking_rows,
    write_ablation,
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
    "Fidelity",
    "ImportanceReport",
    "ablation_path",
    "ablation_rows",
    "ablation_statistics",
    "bootstrap_interval",
    "budget_verdict",
    "calibration_summary",
    "choose_fidelity",
    "compare_evaluations",
    "compute_anytime",
    "compute_importance",
    "default_epoch",
    "estimate_importance",
    "fit_temperature",
    "label_breakdown",
    "lesion_column",
    "load_experiment",
    "mde_lines",
    "metric_direction",
    "paired_comparison",
    "ranking_epochs",
    "ranking_rows",
    "reliability_curve",
    "resolve_metric",
    "scale_logits",
    "summarize_evaluation",
    "summarize_lesion_sizes",
    "surrogate_path",
    "write_ablation",
    "write_bench_plot",
    "write_calibration_plot",
    "write_comparison",
    "write_report",
]
