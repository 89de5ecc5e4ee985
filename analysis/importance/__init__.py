"""Parameter importance: classical ANOVA and fANOVA side by side at one stated fidelity.

:func:`compute_importance` runs both methods on an experiment's fidelity table and returns an
:class:`ImportanceReport` (data frames and a JSON-able dict); :func:`compare_rankings` sets the
rankings of several experiments side by side. Rendering lives in :mod:`analysis.render`.
"""

from __future__ import annotations

from analysis.importance._anova import (
    DEFAULT_GROUPS,
    AnovaResult,
    anova_importance,
    group_of,
    one_blas_thread,
)
from analysis.importance._compare import compare_rankings
from analysis.importance._fanova import FanovaResult, distributions_from_space, fanova_importance
from analysis.importance._report import (
    TABLE_COLUMNS,
    FanovaSettings,
    ImportanceReport,
    compute_importance,
)

__all__ = [
    "DEFAULT_GROUPS",
    "TABLE_COLUMNS",
    "AnovaResult",
    "FanovaResult",
    "FanovaSettings",
    "ImportanceReport",
    "anova_importance",
    "compare_rankings",
    "compute_importance",
    "distributions_from_space",
    "fanova_importance",
    "group_of",
    "one_blas_thread",
]
