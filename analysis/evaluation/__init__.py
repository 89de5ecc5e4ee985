"""The statistics of ``harness evaluate``: pooled metrics with bootstrap intervals, per-class
breakdowns, paired comparisons, metrics by lesion size and calibration, over per-image tables.

One import for the whole evaluation; the computations live in ``analysis._evaluation``,
``analysis._lesion_sizes``, ``analysis._calibration`` and ``_breakdowns`` here.
"""

from __future__ import annotations

from analysis._calibration import fit_temperature
from analysis._evaluation import compare_evaluations, label_breakdown, summarize_evaluation
from analysis._lesion_sizes import lesion_column
from analysis.evaluation._breakdowns import (
    lesion_fractions,
    summarize_breakdowns,
)

__all__ = [
    "compare_evaluations",
    "fit_temperature",
    "label_breakdown",
    "lesion_column",
    "lesion_fractions",
    "summarize_breakdowns",
    "summarize_evaluation",
]
