"""Cross-validated comparison of a configuration with a reference (``harness validate``).

Both configurations run on the same ``k`` folds × ``s`` seeds; the cell of fold ``f`` and seed
``j`` of one is paired with the other's. The statistics are the paired core's
(:func:`analysis.paired.paired_statistics`, with the reference as the baseline and (fold, seed)
as the pairing keys): per configuration and metric the mean, sd and t-interval over the
pairs; the mean paired difference Δ = candidate − reference with its t-interval, the paired
t-test, the Wilcoxon signed-rank test (from 6 pairs), Cohen's d_z and the minimum detectable
effect. Holm's step-down adjustment (Holm 1979) is taken across the metrics, the family of
tests a validation makes; a metric's verdict is decided on its Holm-adjusted p. By default the
family is :data:`DEFAULT_VALIDATION_METRICS`: the ablation's quality metrics and the lesion-size
and calibration metrics each trial's validation reports (detection recall per lesion size,
false-positive components per image, ECE, Brier), those the cells have. A recall is ``nan``
where a fold's validation images hold no lesion of that size; such pairs are left out of it.

The pairs are not independent: the training sets of different folds overlap, so the
fold-to-fold variation understates the variation over fresh data sets and the tests are somewhat
liberal (Nadeau & Bengio 2003, *Machine Learning* 52:239; Bouckaert & Frank 2004). The report
says so.

The winner's curse: the search picked its best trial as the maximum of many noisy scores on one
validation split, so that score is biased upward (Cawley & Talbot 2010, *JMLR* 11:2079); the
same configuration's cross-validated mean is shown next to it.

It imports neither ray nor torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.paired._statistics import (
    OPTIONS,
    QUALITY_METRICS,
    PairedStatistics,
    Pairing,
    Verdicts,
    check_cell_columns,
    paired_statistics,
)
from search_spaces import BREAKDOWN_METRICS, ConfigError, DataError

__all__ = [
    "CANDIDATE",
    "DEFAULT_VALIDATION_METRICS",
    "REFERENCE",
    "VALIDATION_COLUMNS",
    "ValidationResult",
    "validation_statistics",
    "verdict_sentences",
]

CANDIDATE, REFERENCE = "candidate", "reference"
#: a candidate's cell is paired with the reference's of the same fold and seed
PAIRING = ("fold", "seed")
VALIDATION_VERDICTS = Verdicts("better", "worse", "not distinguishable", "not tested", REFERENCE)
BETTER, WORSE = VALIDATION_VERDICTS.better, VALIDATION_VERDICTS.worse
SAME, NOT_TESTED = VALIDATION_VERDICTS.same, VALIDATION_VERDICTS.not_tested
# the paired core's columns but the bootstrap interval (the t-interval is the one reported)
VALIDATION_COLUMNS = (
    "variant", "metric", "direction", "n", "mean", "sd", "ci_low", "ci_high", "delta",
    "delta_ci_low", "delta_ci_high", "delta_rel", "sd_diff", "p_t", "p_wilcoxon", "p_holm", "d_z",
    "mde", "verdict", "n_failed",
)  # fmt: skip
#: the default family of a validation: the quality metrics, then the breakdowns (costs are not
#: quality: they stay out of the table and out of Holm's family)
DEFAULT_VALIDATION_METRICS = (*QUALITY_METRICS, *BREAKDOWN_METRICS)
#: a validation: the reference against the candidate, paired by (fold, seed), Holm across the
#: metrics (the family of tests that asks whether the candidate is better)
VALIDATION = Pairing(
    REFERENCE, PAIRING, "metrics", DEFAULT_VALIDATION_METRICS, VALIDATION_VERDICTS, "validation"
)


@dataclass(frozen=True, kw_only=True)
class ValidationResult(PairedStatistics):
    """The paired core's result of a validation, with the verdict and the winner's curse.

    Attributes:
        folds, seeds: the design (``n`` pairs at most ``folds × seeds``).
        verdict: the main metric's verdict in one sentence.
        winners_curse: ``{"metric", "search_best", "cv_mean", "cv_ci_low", "cv_ci_high",
            "optimism", "sentence"}`` (optimism > 0: the search's score was too good), or
            ``None`` without a search score.
        direction: the main metric's direction.
    """

    folds: int
    seeds: int
    verdict: str
    winners_curse: dict[str, Any] | None = None
    direction: str = "max"


def _fmt(v: float) -> str:
    return format(v, ".4g") if math.isfinite(v) else "n/a"


def _sentence(row: Mapping[str, Any], folds: int, seeds: int, alpha: float) -> str:
    """The verdict of one metric in words."""
    n, metric = int(row["n"]), row["metric"]
    level = f"{100 * (1 - alpha):g}%"
    if row["verdict"] == NOT_TESTED:
        return f"{metric}: not tested, only {n} paired cell(s) finished"
    sign = 1.0 if row["direction"] == "max" else -1.0
    # the gain (positive = better) and its interval, in the metric's own units
    gain = sign * row["delta"]
    lo, hi = sorted((sign * row["delta_ci_low"], sign * row["delta_ci_high"]))
    if row["verdict"] in (BETTER, WORSE):
        size = gain if row["verdict"] == BETTER else -gain
        lo, hi = (lo, hi) if row["verdict"] == BETTER else (-hi, -lo)
        return (
            f"{metric}: {row['verdict']} than the reference by {_fmt(size)} "
            f"[{_fmt(lo)}, {_fmt(hi)}] ({level} interval, Holm p = {row['p_holm']:.3g}, "
            f"{n} fold×seed pairs)"
        )
    if row["sd_diff"] == 0 and row["delta"] == 0:
        return (
            f"{metric}: not distinguishable from the reference: the two gave identical values "
            f"in all {n} fold×seed pairs"
        )
    return (
        f"{metric}: not distinguishable from the reference with {folds} folds × {seeds} seeds "
        f"({n} pairs; Δ {row['delta']:+.4g} [{_fmt(row['delta_ci_low'])}, "
        f"{_fmt(row['delta_ci_high'])}], Holm p = {row['p_holm']:.3g}); smallest detectable "
        f"difference {_fmt(row['mde'])}"
    )


def _winners_curse(
    search_best: float | None, row: Mapping[str, Any], direction: str
) -> dict[str, Any] | None:
    if search_best is None or not math.isfinite(float(search_best)):
        return None
    best, mean = float(search_best), float(row["mean"])
    sign = 1.0 if direction == "max" else -1.0
    optimism = sign * (best - mean)
    inside = row["ci_low"] <= best <= row["ci_high"]
    where = "inside" if inside else "outside"
    sentence = (
        f"the search's own best {row['metric']} was {_fmt(best)} (the maximum "
        f"of its trials on one validation split); cross-validated, the same configuration "
        f"scores {_fmt(mean)} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}], so the search's "
        f"score was {_fmt(abs(optimism))} {'optimistic' if optimism >= 0 else 'pessimistic'} "
        f"({where} the interval)"
    )
    return {
        "metric": row["metric"],
        "search_best": best,
        "cv_mean": mean,
        "cv_ci_low": row["ci_low"],
        "cv_ci_high": row["ci_high"],
        "optimism": optimism,
        "sentence": sentence,
    }


def validation_statistics(
    cells: pd.DataFrame,
    *,
    main_metric: str = "iou_lesion",
    metrics: Sequence[str] | None = None,
    folds: int | None = None,
    seeds: int | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    directions: Mapping[str, str] | None = None,
    search_best: float | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
) -> ValidationResult:
    """Candidate against reference over the folds × seeds, metric by metric (module docstring).

    Args:
        cells: one row per (variant, fold, seed): ``variant`` (``"candidate"`` or
            ``"reference"``), ``fold``, ``seed`` (the seed's index), ``status`` and one numeric
            column per metric.
        main_metric: the metric of the verdict and the winner's curse.
        metrics: Holm's family (default: the main metric and those of
            :data:`DEFAULT_VALIDATION_METRICS`, the ablation's quality metrics and the
            lesion-size and calibration metrics, that the cells have).
        folds, seeds: the design (default: as many as the cells show).
        alpha: level of the tests and verdicts; the intervals are ``1 - alpha``.
        power: the power of the minimum detectable effect.
        directions: ``{metric: "max" | "min"}`` overriding the harness's rule.
        search_best: the search's own best score of ``main_metric`` (winner's curse).
        bootstrap, seed: the bootstrap interval that :func:`analysis.ablation_statistics` keeps.

    Returns:
        The :class:`ValidationResult`.

    Raises:
        DataError: a column or a variant is missing, or a metric is not numeric.
        ConfigError: alpha or power out of range, or a metric without a direction.
    """
    check_cell_columns(cells, "the validation cells", PAIRING)
    present = set(map(str, cells["variant"]))
    if not {CANDIDATE, REFERENCE} <= present:
        raise DataError(
            f"the validation cells need both a {CANDIDATE!r} and a {REFERENCE!r} variant; "
            f"present: {sorted(present)}"
        )
    options = {k: v for k, v in locals().items() if k in OPTIONS}
    result = paired_statistics(cells, VALIDATION, **options)
    folds = int(cells["fold"].max()) + 1 if folds is None else folds
    seeds = int(cells["seed"].max()) + 1 if seeds is None else seeds
    if folds < 1 or seeds < 1:
        raise ConfigError(f"folds and seeds must be >= 1, got {folds} and {seeds}", param="folds")
    table = result.table[result.table["variant"].isin([REFERENCE, CANDIDATE])]
    table = table[list(VALIDATION_COLUMNS)].reset_index(drop=True)
    cand = table["variant"] == CANDIDATE
    main = table[(table["metric"] == main_metric) & cand].iloc[0].to_dict()
    ref_main = table[(table["metric"] == main_metric) & ~cand].iloc[0].to_dict()
    direction = str(main["direction"])
    notes = [
        *result.notes,
        "the fold×seed pairs are not independent (the folds' training sets overlap), so the "
        "p-values and intervals are somewhat optimistic (Nadeau & Bengio 2003)",
    ]
    if search_best is not None:
        notes.append(
            f"the reference scores {_fmt(float(ref_main['mean']))} {main_metric} "
            "cross-validated on the same folds"
        )
    return ValidationResult(
        table=table,
        baseline=REFERENCE,
        main_metric=main_metric,
        metrics=result.metrics,
        variants=(REFERENCE, CANDIDATE),
        alpha=alpha,
        power=power,
        pairing=result.pairing,
        holm=result.holm,
        folds=folds,
        seeds=seeds,
        verdict=_sentence(main, folds, seeds, alpha),
        winners_curse=_winners_curse(search_best, main, direction),
        notes=tuple(notes),
        direction=direction,
        failures=result.failures,
    )


def verdict_sentences(result: ValidationResult) -> list[str]:
    """One sentence per metric, the main metric first."""
    rows = result.table[result.table["variant"] == CANDIDATE].to_dict("records")
    return [_sentence(r, result.folds, result.seeds, result.alpha) for r in rows]
