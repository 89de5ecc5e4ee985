"""Paired experiments: variants against a baseline on the same units (seeds, folds × seeds).

One result (:class:`PairedStatistics`) parameterised by its pairing keys and its Holm family;
:func:`analysis.ablation_statistics` (paired by seed, Holm across the variants) and
:func:`analysis.validation.validation_statistics` (paired by fold and seed, Holm across the
metrics) are its two configurations. :func:`paired_report` reads an ablation or a validation
directory and writes its report; :func:`summarise` does the same for cells in hand.
"""

from __future__ import annotations

from analysis.paired._load import CELLS, PAIRED_KINDS, paired_kind
from analysis.paired._report import PairedReport, paired_report, summarise
from analysis.paired._statistics import (
    PairedStatistics,
    paired_statistics,
)

__all__ = [
    "CELLS",
    "PAIRED_KINDS",
    "PairedReport",
    "PairedStatistics",
    "paired_kind",
    "paired_report",
    "paired_statistics",
    "summarise",
]
