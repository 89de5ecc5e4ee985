"""Ablation statistics: what removing each component does to each metric, paired over seeds.

An ablation runs the full configuration (the *baseline*, ``"full"``) and each variant (e.g. "drop
boundary") with the same N seeds; seed k of every variant shares the data split, initialisation
and data order, so the comparison is paired by seed. The statistics are the paired core's
(:func:`analysis.paired.paired_statistics`, whose docstring gives the tests and their papers)
with the seed as the pairing key and Holm's adjustment across the variants, per metric: the
family of tests that asks which components matter.

It imports neither ray nor torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pandas as pd

from analysis.paired._statistics import (
    ABLATION_VERDICTS,
    PAIRED_COLUMNS,
    QUALITY_METRICS,
    PairedStatistics,
    Pairing,
    check_cell_columns,
    paired_statistics,
)

__all__ = [
    "ABLATION_COLUMNS",
    "DEFAULT_ABLATION_METRICS",
    "VERDICTS",
    "AblationResult",
    "ablation_sentences",
    "ablation_statistics",
    "check_cell_columns",
]

BASELINE = "full"
DEFAULT_ABLATION_METRICS = (*QUALITY_METRICS, "peak_memory_bytes", "wall_time_s")
HELPS, HURTS = ABLATION_VERDICTS.better, ABLATION_VERDICTS.worse
NO_EFFECT, NOT_TESTED = ABLATION_VERDICTS.same, ABLATION_VERDICTS.not_tested
BASELINE_VERDICT = ABLATION_VERDICTS.baseline
VERDICTS = ABLATION_VERDICTS.all()
ABLATION_COLUMNS = PAIRED_COLUMNS
#: an ablation's result is the paired core's, paired by seed, Holm across the variants
AblationResult = PairedStatistics
#: an ablation: the full configuration against each variant, paired by seed, Holm across the
#: variants per metric (which components matter)
ABLATION = Pairing(
    BASELINE, ("seed",), "variants", DEFAULT_ABLATION_METRICS, ABLATION_VERDICTS, "ablation"
)


def ablation_statistics(
    cells: pd.DataFrame,
    *,
    baseline: str = BASELINE,
    main_metric: str = "iou_lesion",
    metrics: Sequence[str] | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    directions: Mapping[str, str] | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
) -> PairedStatistics:
    """The ablation table: each variant against the baseline, paired by seed, metric by metric.

    Args:
        cells: one row per (variant, seed): ``variant``, ``seed``, ``status`` and one numeric
            column per metric (NaN when missing).
        baseline: the variant the others are compared with.
        main_metric: the metric the ablation is about; listed first.
        metrics: the metrics to analyse (default: the main metric, then those of
            :data:`DEFAULT_ABLATION_METRICS` that the cells have).
        alpha: level of the tests, of the verdicts and of the ``1 - alpha`` t-intervals.
        power: the power of the minimum detectable effect ``mde``.
        directions: ``{metric: "max" | "min"}`` overriding :func:`search_spaces.metric_direction`.
        bootstrap: resamples of the bootstrap interval of Δ (``delta_boot_*``).
        seed: seed of that bootstrap.

    Returns:
        The :class:`~analysis.paired.PairedStatistics` (verdicts ``helps``, ``hurts``,
        ``no detectable effect``, ``not tested``, ``baseline``).

    Raises:
        DataError: a column or the baseline is missing, a (variant, seed) is repeated, or a
            metric is not a numeric column.
        ConfigError: alpha, power or bootstrap out of range, or a metric without a direction.
    """
    options = dict(locals())
    design = replace(ABLATION, baseline=options.pop("baseline"))
    return paired_statistics(options.pop("cells"), design, **options)


def _num(v: float) -> str:
    return format(v, "+.4g") if math.isfinite(v) else "n/a"


def ablation_sentences(result: PairedStatistics) -> list[str]:
    """Per variant, the main metric's verdict in one sentence."""
    main = result.main()
    out = []
    for r in main[main["variant"] != result.baseline].to_dict("records"):
        if r["verdict"] == NOT_TESTED:
            out.append(f"{r['variant']}: {result.main_metric} not tested ({r['n']} pair(s))")
            continue
        out.append(
            f"{r['variant']}: {r['verdict']} ({result.main_metric} Δ {_num(r['delta'])} "
            f"[{_num(r['delta_ci_low'])}, {_num(r['delta_ci_high'])}] against "
            f"{result.baseline}, Holm p = {r['p_holm']:.3g}, {r['n']} paired seeds)"
        )
    return out
