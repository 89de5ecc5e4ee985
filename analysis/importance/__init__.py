"""Parameter importance: ANOVA and fANOVA shares of the metric's variance at one stated fidelity.

:func:`compute_importance` fits one model of every parameter's main effect (splines for numbers,
levels for choices) and the largest pairs' interactions, and reports for each parameter the share
of the metric's variance its main effect explains, over the trials (ANOVA) and over the search
space (fANOVA), with bootstrap intervals and rank probabilities (:class:`ImportanceReport`);
:func:`estimate_importance` is the same on any table; :func:`compare_rankings` sets the rankings
of several experiments side by side. Rendering lives in :mod:`analysis.render`.
"""

from __future__ import annotations

from analysis.importance._compare import compare_rankings
from analysis.importance._estimate import (
    RELIABLE_PER_PARAM,
    Estimate,
    estimate_importance,
    one_blas_thread,
)
from analysis.importance._report import (
    DEFAULT_GROUPS,
    DEFINITIONS,
    GROUP_COLUMNS,
    INTERACTION_COLUMNS,
    STABILITY_COLUMNS,
    TABLE_COLUMNS,
    ImportanceReport,
    compute_importance,
    group_of,
)

__all__ = [
    "DEFAULT_GROUPS",
    "DEFINITIONS",
    "GROUP_COLUMNS",
    "INTERACTION_COLUMNS",
    "RELIABLE_PER_PARAM",
    "STABILITY_COLUMNS",
    "TABLE_COLUMNS",
    "Estimate",
    "ImportanceReport",
    "compare_rankings",
    "compute_importance",
    "estimate_importance",
    "group_of",
    "one_blas_thread",
]
