"""Statistics of a checkpoint's evaluation: pooled metrics, bootstrap intervals, paired tests.

Input is the per-image table of an evaluation (one row per image: ``image_id``, ``label``, the
confusion counts ``tp``, ``fp``, ``fn``, ``tn`` and every metric of that image alone), as
``trials.metrics.MetricAccumulator.per_image`` gives it. Two kinds of metric are summarised:

- *pooled* metrics (IoU, Dice, precision, ...) are functions of the confusion counts summed over
  the images (micro average); the caller passes them as ``{name: fn(summed_counts)}`` so that
  this module needs neither torch nor the metric registry;
- *averaged* metrics (boundary F1, HD95) are the mean of the per-image values, ``nan`` left out.

Confidence intervals are nonparametric bootstrap intervals over images (Efron & Tibshirani,
*An Introduction to the Bootstrap*, 1993): ``scipy.stats.bootstrap`` resamples image indices and
the statistic re-pools the resampled images' counts, so the interval is the one of the pooled
metric itself, not of a per-image mean. The default method is BCa (bias-corrected and
accelerated, Efron 1987, JASA 82:171); where it is undefined (every resample gives the same
value, or the jackknife has no spread) the percentile interval is used instead and the result
says so.

The paired comparison of two checkpoints on the same images uses the paired t-test
(``scipy.stats.ttest_rel``), the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``; Wilcoxon
1945), Cohen's d_z = mean(diff) / sd(diff) (Lakens 2013, *Front. Psychol.* 4:863) and a bootstrap
interval of the mean difference; p-values of the t-tests across metrics are also given Holm-adjusted
(Holm 1979, ``statsmodels.stats.multitest.multipletests``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from search_spaces import ConfigError, DataError

__all__ = [
    "BOOTSTRAP_METHODS",
    "COUNT_COLUMNS",
    "Interval",
    "PooledFn",
    "bootstrap_interval",
    "compare_evaluations",
    "label_breakdown",
    "paired_comparison",
    "summarize_evaluation",
]

COUNT_COLUMNS = ("tp", "fp", "fn", "tn")
BOOTSTRAP_METHODS = ("BCa", "percentile", "basic")

PooledFn = Callable[[Mapping[str, int]], float]
"""A pooled metric: a function of summed confusion counts ``{"tp": .., "fp": .., ...}``."""


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval.

    Attributes:
        low: lower bound (``nan`` when undefined).
        high: upper bound.
        method: the method that gave it (``"BCa"``, ``"percentile"``, ``"basic"``).
        note: why the requested method was not used, or why there is no interval; else ``None``.
    """

    low: float
    high: float
    method: str
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The interval as a JSON-able dict."""
        return asdict(self)


def _check_settings(confidence: float, n_resamples: int, method: str) -> None:
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"bootstrap confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ConfigError(f"bootstrap n_resamples must be >= 1, got {n_resamples}")
    if method not in BOOTSTRAP_METHODS:
        raise ConfigError(
            f"bootstrap method {method!r} is unknown; choose from {', '.join(BOOTSTRAP_METHODS)}"
        )


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: str = "BCa",
    seed: int = 0,
) -> Interval:
    """Bootstrap interval of a statistic of ``n`` observations, resampling their indices.

    Args:
        statistic: maps an index array (a resample of ``range(n)``) to a number, e.g. the pooled
            IoU of the images at those indices.
        n: number of observations (images).
        confidence: two-sided confidence level.
        n_resamples: bootstrap resamples.
        method: ``"BCa"`` (default; falls back to percentile where undefined), ``"percentile"``
            or ``"basic"``.
        seed: seed of the resampling (``numpy.random.default_rng``).

    Returns:
        The interval; ``nan`` bounds with a note when ``n < 2``.

    Raises:
        ConfigError: a setting is out of range.
    """
    _check_settings(confidence, n_resamples, method)
    if n < 2:
        return Interval(math.nan, math.nan, method, f"needs at least 2 images, got {n}")

    def run(how: str) -> tuple[float, float]:
        with warnings.catch_warnings():
            # Degenerate resamples are detected from the nan bounds and handled below.
            warnings.simplefilter("ignore")
            res = stats.bootstrap(
                (np.arange(n),),
                statistic,
                n_resamples=n_resamples,
                vectorized=False,
                confidence_level=confidence,
                method=how,
                rng=np.random.default_rng(seed),
            )
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    low, high = run(method)
    if method == "BCa" and (math.isnan(low) or math.isnan(high)):
        low, high = run("percentile")
        note = "BCa undefined (degenerate resamples); percentile interval"
        return Interval(low, high, "percentile", note)
    return Interval(low, high, method)


def _counts(table: pd.DataFrame) -> np.ndarray:
    missing = [c for c in COUNT_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"the per-image table lacks the confusion-count column(s) {missing}; "
            f"it has {list(table.columns)}"
        )
    return table[list(COUNT_COLUMNS)].to_numpy(dtype=np.int64)


def _as_counts(summed: np.ndarray) -> dict[str, int]:
    return {name: int(v) for name, v in zip(COUNT_COLUMNS, summed, strict=True)}


def _metric_column(table: pd.DataFrame, name: str) -> np.ndarray:
    if name not in table.columns:
        raise DataError(f"the per-image table has no column {name!r}; it has {list(table.columns)}")
    return table[name].to_numpy(dtype=np.float64)


def _pooled_value(counts: np.ndarray, fn: PooledFn) -> float:
    return float(fn(_as_counts(counts.sum(axis=0))))


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def _check_table(table: pd.DataFrame) -> None:
    if len(table) == 0:
        raise DataError("the per-image table is empty: no image was evaluated")


def summarize_evaluation(
    table: pd.DataFrame,
    pooled: Mapping[str, PooledFn],
    averaged: Sequence[str] = (),
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: str = "BCa",
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Each metric over the data set, with its bootstrap interval and its mean per image.

    Args:
        table: one row per image with the count columns and a column per metric.
        pooled: metrics computed from the summed counts, ``{name: fn(counts)}``.
        averaged: metrics that are the mean of the per-image values (``nan`` left out).
        confidence, n_resamples, method, seed: the bootstrap (see :func:`bootstrap_interval`).

    Returns:
        ``{name: {"aggregation": "pooled" | "mean", "value", "ci_low", "ci_high", "ci_method",
        "ci_note", "mean_per_image", "n_images", "n_nan"}}``; ``value`` is the pooled metric (or
        the mean for averaged ones) of all images.

    Raises:
        DataError: the table is empty or lacks a column.
    """
    _check_table(table)
    counts = _counts(table)
    n = len(table)
    out: dict[str, dict[str, Any]] = {}
    boot = {"confidence": confidence, "n_resamples": n_resamples, "method": method, "seed": seed}
    for name, fn in pooled.items():
        per_image = _metric_column(table, name)
        ci = bootstrap_interval(lambda idx, fn=fn: _pooled_value(counts[idx], fn), n, **boot)
        out[name] = _entry("pooled", _pooled_value(counts, fn), ci, per_image)
    for name in averaged:
        per_image = _metric_column(table, name)
        finite = per_image[~np.isnan(per_image)]
        ci = bootstrap_interval(lambda idx, v=finite: float(v[idx].mean()), finite.size, **boot)
        out[name] = _entry("mean", _nanmean(per_image), ci, per_image)
    return out


def _entry(aggregation: str, value: float, ci: Interval, per_image: np.ndarray) -> dict[str, Any]:
    return {
        "aggregation": aggregation,
        "value": value,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "ci_method": ci.method,
        "ci_note": ci.note,
        "mean_per_image": _nanmean(per_image),
        "n_images": int(per_image.size),
        "n_nan": int(np.isnan(per_image).sum()),
    }


def label_breakdown(
    table: pd.DataFrame,
    pooled: Mapping[str, PooledFn],
    averaged: Sequence[str] = (),
    label_column: str = "label",
) -> dict[str, dict[str, Any]]:
    """The metrics per class label (e.g. ``apple_black_rot``), sorted by label.

    Images without a label are left out; a table without labels gives ``{}``. Each class's
    counts are the sums over its images, so the classes' counts add up to the pooled counts when
    every image has a label.

    Returns:
        ``{label: {"n_images", "counts": {"tp", "fp", "fn", "tn"}, "metrics": {name: value}}}``.
    """
    _check_table(table)
    if label_column not in table.columns:
        return {}
    labels = table[label_column]
    out: dict[str, dict[str, Any]] = {}
    for label in sorted({str(v) for v in labels if isinstance(v, str) and v}):
        part = table[labels == label]
        counts = _counts(part)
        metrics = {name: _pooled_value(counts, fn) for name, fn in pooled.items()}
        metrics.update({name: _nanmean(_metric_column(part, name)) for name in averaged})
        out[label] = {
            "n_images": len(part),
            "counts": _as_counts(counts.sum(axis=0)),
            "metrics": metrics,
        }
    return out


def paired_comparison(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: str = "BCa",
    seed: int = 0,
) -> dict[str, Any]:
    """Paired comparison of per-image values of two models on the same images (diff = a - b).

    Pairs where either value is ``nan`` are left out. Differences that are all zero give
    ``t = 0``, ``p = 1`` for both tests and ``d_z = 0`` (where scipy's t-test would give 0/0).

    Returns:
        ``{"n", "mean_a", "mean_b", "mean_diff", "sd_diff", "diff_ci_low", "diff_ci_high",
        "ci_method", "ci_note", "t", "p_t", "wilcoxon_w", "p_wilcoxon", "d_z"}``.

    Raises:
        DataError: ``a`` and ``b`` differ in length.
    """
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1:
        raise DataError(
            f"a paired comparison needs two 1-D arrays of one length, got shapes "
            f"{a_arr.shape} and {b_arr.shape}"
        )
    keep = ~(np.isnan(a_arr) | np.isnan(b_arr))
    a_arr, b_arr = a_arr[keep], b_arr[keep]
    diff = a_arr - b_arr
    n = int(diff.size)
    out: dict[str, Any] = {
        "n": n,
        "mean_a": float(a_arr.mean()) if n else math.nan,
        "mean_b": float(b_arr.mean()) if n else math.nan,
        "mean_diff": float(diff.mean()) if n else math.nan,
        "sd_diff": float(diff.std(ddof=1)) if n > 1 else math.nan,
    }
    ci = bootstrap_interval(
        lambda idx: float(diff[idx].mean()),
        n,
        confidence=confidence,
        n_resamples=n_resamples,
        method=method,
        seed=seed,
    )
    out.update(diff_ci_low=ci.low, diff_ci_high=ci.high, ci_method=ci.method, ci_note=ci.note)
    if n < 2:
        out.update(t=math.nan, p_t=math.nan, wilcoxon_w=math.nan, p_wilcoxon=math.nan)
        out["d_z"] = math.nan
        return out
    if not diff.any():
        out.update(t=0.0, p_t=1.0, wilcoxon_w=0.0, p_wilcoxon=1.0, d_z=0.0)
        return out
    with warnings.catch_warnings():
        # A constant non-zero difference makes sd = 0: t = +-inf and p = 0, which is right.
        warnings.simplefilter("ignore", RuntimeWarning)
        t_res = stats.ttest_rel(a_arr, b_arr)
        w_res = stats.wilcoxon(diff)
    sd = out["sd_diff"]
    out.update(
        t=float(t_res.statistic),
        p_t=float(t_res.pvalue),
        wilcoxon_w=float(w_res.statistic),
        p_wilcoxon=float(w_res.pvalue),
        d_z=float(out["mean_diff"] / sd) if sd > 0 else math.copysign(math.inf, out["mean_diff"]),
    )
    return out


def compare_evaluations(
    table_a: pd.DataFrame,
    table_b: pd.DataFrame,
    pooled: Mapping[str, PooledFn],
    averaged: Sequence[str] = (),
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: str = "BCa",
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Paired comparison, metric by metric, of two evaluations of the same images (a - b).

    Rows are matched by ``image_id``. Each metric gets :func:`paired_comparison` of its
    per-image values, ``p_t_holm`` (the t-test p-values Holm-adjusted across the metrics) and,
    for pooled metrics, the pooled values of both, their difference and its bootstrap interval
    (the same image resamples for both models).

    Raises:
        DataError: the tables do not hold the same image ids.
    """
    _check_table(table_a)
    ids_a, ids_b = list(table_a["image_id"]), list(table_b["image_id"])
    if sorted(ids_a) != sorted(ids_b) or len(set(ids_a)) != len(ids_a):
        only = sorted(set(ids_a) ^ set(ids_b))[:5]
        raise DataError(
            f"a paired comparison needs the same unique images in both evaluations; "
            f"{len(ids_a)} vs {len(ids_b)} rows, differing ids e.g. {only}"
        )
    b = table_b.set_index("image_id").loc[ids_a].reset_index()
    boot = {"confidence": confidence, "n_resamples": n_resamples, "method": method, "seed": seed}
    out: dict[str, dict[str, Any]] = {}
    counts_a, counts_b = _counts(table_a), _counts(b)
    for name in [*pooled, *averaged]:
        row = paired_comparison(_metric_column(table_a, name), _metric_column(b, name), **boot)
        if name in pooled:
            fn = pooled[name]
            ci = bootstrap_interval(
                lambda idx, fn=fn: (
                    _pooled_value(counts_a[idx], fn) - _pooled_value(counts_b[idx], fn)
                ),
                len(table_a),
                **boot,
            )
            pooled_a, pooled_b = _pooled_value(counts_a, fn), _pooled_value(counts_b, fn)
            row.update(
                pooled_a=pooled_a,
                pooled_b=pooled_b,
                pooled_diff=pooled_a - pooled_b,
                pooled_diff_ci_low=ci.low,
                pooled_diff_ci_high=ci.high,
            )
        out[name] = row
    names = [k for k, v in out.items() if not math.isnan(v["p_t"])]
    if names:
        adjusted = multipletests([out[k]["p_t"] for k in names], method="holm")[1]
        for k, p in zip(names, adjusted, strict=True):
            out[k]["p_t_holm"] = float(p)
    for v in out.values():
        v.setdefault("p_t_holm", math.nan)
    return out
