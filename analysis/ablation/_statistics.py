"""Ablation statistics: what removing each component does to each metric, paired over seeds.

An ablation runs the full configuration (the *baseline*, ``"full"``) and each variant (e.g. "drop
boundary") with the same N seeds; seed k of every variant shares the data split, initialisation
and data order, so the comparison is paired by seed. Per variant and metric this module gives the
variant's mean, sd and t-interval, the mean paired difference Δ = variant − baseline with its
t-interval, the paired t-test (Student 1908, ``scipy.stats.ttest_rel``), the Wilcoxon signed-rank
test (Wilcoxon 1945, ``scipy.stats.wilcoxon``; only from 6 pairs, since with 5 pairs its smallest
two-sided p is 2/32 = 0.0625 and it could never reject at 0.05), Holm's step-down adjustment of
the t-test p-values across the variants (Holm 1979, *Scand. J. Statist.* 6:65;
``statsmodels.stats.multitest.multipletests``), Cohen's d_z = mean(diff) / sd(diff) (Lakens 2013,
*Front. Psychol.* 4:863), a verdict at level α, and the minimum detectable effect: the smallest
|Δ| the paired t-test finds with the requested power at the observed sd of the differences
(Cohen 1988, *Statistical Power Analysis*, ch. 2; ``statsmodels.stats.power.TTestPower``).

The t-test, Wilcoxon test and d_z come from :func:`analysis.paired_comparison`. Its bootstrap
interval of Δ is kept as ``delta_boot_low``/``delta_boot_high``, but with a handful of seeds a
bootstrap interval is too narrow (it ignores that the sd is itself estimated), so the t-interval,
which agrees with the t-test, is the one reported and plotted.

It imports neither ray nor torch.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from analysis._evaluation import paired_comparison
from analysis._json import jsonable
from search_spaces import SUCCESS_STATUSES, ConfigError, DataError, metric_direction

__all__ = [
    "ABLATION_COLUMNS",
    "DEFAULT_ABLATION_METRICS",
    "VERDICTS",
    "AblationResult",
    "ablation_statistics",
    "check_cell_columns",
]

BASELINE = "full"
# fmt: off
DEFAULT_ABLATION_METRICS = (
    "iou_lesion", "precision", "recall", "f1", "dice", "pixel_accuracy", "peak_memory_bytes",
    "wall_time_s",
)
HURTS, HELPS, NO_EFFECT, NOT_TESTED = "hurts", "helps", "no detectable effect", "not tested"
BASELINE_VERDICT = "baseline"
VERDICTS = (HURTS, NO_EFFECT, HELPS, NOT_TESTED, BASELINE_VERDICT)
ABLATION_COLUMNS = (
    "variant", "metric", "direction", "n", "mean", "sd", "ci_low", "ci_high", "delta",
    "delta_ci_low", "delta_ci_high", "delta_rel", "sd_diff", "p_t", "p_wilcoxon", "p_holm", "d_z",
    "mde", "verdict", "delta_boot_low", "delta_boot_high", "n_failed",
)
# fmt: on
# The Wilcoxon signed-rank test is reported from this many pairs on (see the module docstring).
WILCOXON_MIN_N = 6
_REQUIRED = ("variant", "seed", "status")


@dataclass(frozen=True)
class AblationResult:
    """The ablation table and what it was computed with.

    Attributes:
        table: one row per variant × metric with :data:`ABLATION_COLUMNS`; the baseline's rows
            hold n, mean, sd and interval and blank tests (verdict ``"baseline"``).
        baseline: the baseline variant's name.
        main_metric: the metric the ablation is about (listed first).
        metrics: the metrics analysed, in table order.
        variants: the variant names, baseline first.
        alpha: level of the tests and of the verdicts (Holm-adjusted p < alpha).
        power: the power the minimum detectable effect is computed for.
        failures: per variant, ``{status: count}`` of its cells that did not complete.
        notes: what was left out or could not be computed, one sentence each.
    """

    table: pd.DataFrame
    baseline: str
    main_metric: str
    metrics: tuple[str, ...]
    variants: tuple[str, ...]
    alpha: float
    power: float
    failures: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def confidence(self) -> float:
        """Level of the t-intervals (``1 - alpha``), so an interval excludes 0 iff p_t < alpha."""
        return 1.0 - self.alpha

    def main(self) -> pd.DataFrame:
        """The rows of the main metric, baseline first."""
        return self.table[self.table["metric"] == self.main_metric].reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """Settings, notes and the table as one strict-JSON-able dict (NaN and ±inf → None)."""
        return jsonable(
            {
                "baseline": self.baseline,
                "main_metric": self.main_metric,
                "metrics": list(self.metrics),
                "variants": list(self.variants),
                "alpha": self.alpha,
                "power": self.power,
                "confidence": self.confidence,
                "failures": self.failures,
                "notes": list(self.notes),
                "table": self.table.astype(object).to_dict("records"),
            }
        )


def check_cell_columns(cells: pd.DataFrame, where: str) -> None:
    """Raise :class:`DataError` unless ``cells`` has ``variant``, ``seed`` and ``status``."""
    missing = [c for c in _REQUIRED if c not in cells.columns]
    if missing:
        raise DataError(f"{where}: missing the column(s) {missing}; present: {list(cells.columns)}")


def _check_cells(cells: pd.DataFrame, baseline: str) -> None:
    check_cell_columns(cells, "the ablation cells")
    if baseline not in set(cells["variant"]):
        raise DataError(
            f"the ablation cells hold no baseline variant {baseline!r}; "
            f"variants: {sorted(set(map(str, cells['variant'])))}"
        )
    dup = cells.duplicated(["variant", "seed"], keep=False)
    if dup.any():
        pairs = sorted({(str(v), int(s)) for v, s in cells.loc[dup, ["variant", "seed"]].values})
        raise DataError(
            f"the ablation cells must hold one row per (variant, seed); repeated: {pairs[:5]}"
        )


def _choose_metrics(
    cells: pd.DataFrame, main_metric: str, metrics: Sequence[str] | None
) -> tuple[str, ...]:
    numeric = [c for c in cells.columns if pd.api.types.is_numeric_dtype(cells[c])]
    numeric = [c for c in numeric if c not in ("seed",)]
    wanted = [main_metric, *(metrics if metrics is not None else DEFAULT_ABLATION_METRICS)]
    chosen = tuple(dict.fromkeys(wanted))
    if metrics is None:
        chosen = tuple(m for m in chosen if m == main_metric or m in numeric)
    absent = [m for m in chosen if m not in numeric]
    if absent:
        raise DataError(
            f"metric(s) {absent} are not numeric columns of the ablation cells; "
            f"numeric columns: {numeric}"
        )
    return chosen


def _t_interval(mean: float, sd: float, n: int, confidence: float) -> tuple[float, float]:
    """Student-t interval of a mean from n values with sample sd (the point where sd = 0)."""
    if n < 2 or not (math.isfinite(mean) and math.isfinite(sd)):
        return math.nan, math.nan
    if sd == 0:
        return mean, mean
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sd / math.sqrt(n))
    return float(low), float(high)


@dataclass(frozen=True)
class _Cells:
    """The cells as plain arrays: the statistics loop indexes them thousands of times in tests."""

    variant: np.ndarray
    seed: np.ndarray
    done: np.ndarray

    @classmethod
    def of(cls, cells: pd.DataFrame) -> _Cells:
        return cls(
            variant=cells["variant"].astype(str).to_numpy(),
            seed=cells["seed"].to_numpy(),
            done=cells["status"].isin(SUCCESS_STATUSES).to_numpy(),
        )

    def values(self, column: pd.Series, variant: str) -> dict[Any, float]:
        """``{seed: value}`` of one variant's successful cells with a finite value."""
        v = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        keep = (self.variant == variant) & self.done & np.isfinite(v)
        return dict(zip(self.seed[keep].tolist(), v[keep].tolist(), strict=True))


def _summary(values: np.ndarray, confidence: float) -> dict[str, float]:
    n = int(values.size)
    mean = float(values.mean()) if n else math.nan
    sd = float(values.std(ddof=1)) if n > 1 else math.nan
    low, high = _t_interval(mean, sd, n, confidence)
    return {"n": n, "mean": mean, "sd": sd, "ci_low": low, "ci_high": high}


@functools.lru_cache(maxsize=256)
def _detectable_d(n: int, alpha: float, power: float) -> float:
    """Smallest standardised effect d_z the two-sided paired t-test detects with this power."""
    effect = TTestPower().solve_power(nobs=n, alpha=alpha, power=power, alternative="two-sided")
    return float(effect)


def _mde(n: int, sd_diff: float, alpha: float, power: float) -> float:
    if n < 2 or not math.isfinite(sd_diff):
        return math.nan
    return _detectable_d(n, alpha, power) * sd_diff


def _paired_row(
    variant: dict[Any, float],
    base: dict[Any, float],
    alpha: float,
    power: float,
    bootstrap: dict[str, Any],
) -> dict[str, Any]:
    seeds = sorted(variant.keys() & base.keys())
    a = np.array([variant[s] for s in seeds], dtype=float)
    b = np.array([base[s] for s in seeds], dtype=float)
    row: dict[str, Any] = _summary(a, 1.0 - alpha)
    cmp = paired_comparison(a, b, **bootstrap)
    n, delta, sd_diff = cmp["n"], cmp["mean_diff"], cmp["sd_diff"]
    low, high = _t_interval(delta, sd_diff, n, 1.0 - alpha)
    row.update(
        delta=delta,
        delta_ci_low=low,
        delta_ci_high=high,
        delta_rel=delta / cmp["mean_b"] if n and cmp["mean_b"] != 0 else math.nan,
        sd_diff=sd_diff,
        p_t=cmp["p_t"],
        p_wilcoxon=cmp["p_wilcoxon"] if n >= WILCOXON_MIN_N else math.nan,
        p_holm=math.nan,
        d_z=cmp["d_z"],
        mde=_mde(n, sd_diff, alpha, power),
        delta_boot_low=cmp["diff_ci_low"],
        delta_boot_high=cmp["diff_ci_high"],
    )
    return row


def _verdict(p_holm: float, delta: float, direction: str, alpha: float) -> str:
    if not math.isfinite(p_holm):
        return NOT_TESTED
    if p_holm >= alpha or delta == 0:
        return NO_EFFECT
    better = delta > 0 if direction == "max" else delta < 0
    return HELPS if better else HURTS


def _check_settings(alpha: float, power: float, bootstrap: int) -> None:
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"the ablation's alpha must be in (0, 1), got {alpha}")
    if not 0.0 < power < 1.0:
        raise ConfigError(f"the ablation's power must be in (0, 1), got {power}")
    if bootstrap < 1:
        raise ConfigError(f"the ablation's bootstrap resamples must be >= 1, got {bootstrap}")


def _cell_notes(
    arrays: _Cells, status: np.ndarray, names: Sequence[str], baseline: str
) -> list[str]:
    notes = []
    all_seeds = set(arrays.seed.tolist())
    base_seeds = set(arrays.seed[(arrays.variant == baseline) & arrays.done].tolist())
    for name in names:
        mine = arrays.variant == name
        absent = sorted(all_seeds - set(arrays.seed[mine].tolist()))
        if absent:
            notes.append(f"{name}: no cell for seed(s) {absent}")
        failed = mine & ~arrays.done
        if failed.any():
            what = ", ".join(
                f"seed {s} {st}" for s, st in zip(arrays.seed[failed], status[failed], strict=True)
            )
            notes.append(f"{name}: failed cells excluded ({what})")
        if name != baseline:
            unpaired = sorted(set(arrays.seed[mine & arrays.done].tolist()) - base_seeds)
            if unpaired:
                notes.append(
                    f"{name}: seed(s) {unpaired} left out, the baseline has no completed cell "
                    "for them"
                )
    return notes


def _holm(rows: list[dict[str, Any]], alpha: float) -> None:
    """Holm-adjust the t-test p-values of one metric's variant rows, in place; set verdicts."""
    tested = [r for r in rows if math.isfinite(r["p_t"])]
    p = np.array([r["p_t"] for r in tested], dtype=float)
    # Holm's adjustment of a single test is the test itself; statsmodels' Holm branch runs a
    # full gc.collect() (about 0.2 s), which one-variant ablations need not pay.
    adjusted = multipletests(p, alpha=alpha, method="holm")[1] if p.size > 1 else p
    for r, q in zip(tested, adjusted, strict=True):
        r["p_holm"] = float(q)
    for r in rows:
        r["verdict"] = _verdict(r["p_holm"], r["delta"], r["direction"], alpha)


def _direction(metric: str, directions: Mapping[str, str] | None) -> str:
    """The harness's one rule (:func:`search_spaces.metric_direction`), ``directions`` first."""
    if directions and metric in directions:
        return metric_direction(metric, directions[metric], option=f"the direction of {metric}")
    return metric_direction(metric)


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
) -> AblationResult:
    """The ablation table: each variant against the baseline, paired by seed, metric by metric.

    Only successful cells count (:data:`search_spaces.SUCCESS_STATUSES`); a variant's seed is
    used for a metric when both it and the baseline's cell of that seed succeeded with a finite
    value (``n`` counts these pairs). The variant's ``mean``/``sd``/interval are over those
    seeds; the baseline's over all of its own.

    Args:
        cells: one row per (variant, seed): ``variant``, ``seed``, ``status`` (a
            :class:`search_spaces.TrialStatus`: ``completed`` or a failure status) and one
            numeric column per metric (NaN when missing).
        baseline: the variant the others are compared with.
        main_metric: the metric the ablation is about; listed first.
        metrics: the metrics to analyse (default: the main metric, then those of
            :data:`DEFAULT_ABLATION_METRICS` that the cells have).
        alpha: level of the tests, of the verdicts and of the ``1 - alpha`` t-intervals.
        power: the power of the minimum detectable effect ``mde``.
        directions: ``{metric: "max" | "min"}`` overriding :func:`search_spaces.metric_direction`,
            which decides every other metric (an unknown one is an error).
        bootstrap: resamples of the bootstrap interval of Δ (``delta_boot_*``).
        seed: seed of that bootstrap.

    Returns:
        The :class:`AblationResult`.

    Raises:
        DataError: a column or the baseline is missing, a (variant, seed) is repeated, or a
            metric is not a numeric column.
        ConfigError: alpha, power or bootstrap out of range, a bad direction, or a metric
            whose direction neither ``directions`` nor the harness's vocabulary gives.
    """
    _check_settings(alpha, power, bootstrap)
    _check_cells(cells, baseline)
    chosen = _choose_metrics(cells, main_metric, metrics)
    names = [baseline, *dict.fromkeys(v for v in map(str, cells["variant"]) if v != baseline)]
    arrays = _Cells.of(cells)
    status = cells["status"].astype(str).to_numpy()
    boot = {"n_resamples": bootstrap, "method": "BCa", "seed": seed}
    failures = {
        name: dict(Counter(status[(arrays.variant == name) & ~arrays.done].tolist()))
        for name in names
    }
    notes = _cell_notes(arrays, status, names, baseline)
    rows: list[dict[str, Any]] = []
    wilcoxon_short = 0
    for metric in chosen:
        direction = _direction(metric, directions)
        base = arrays.values(cells[metric], baseline)
        if not base:
            notes.append(f"{metric}: the baseline has no completed cell with a value")
        head = {"variant": baseline, "metric": metric, "direction": direction}
        rows.append(
            {
                **head,
                **_summary(np.array(list(base.values()), dtype=float), 1.0 - alpha),
                "verdict": BASELINE_VERDICT,
                "n_failed": sum(failures[baseline].values()),
            }
        )
        others = [
            {
                "variant": name,
                "metric": metric,
                "direction": direction,
                **_paired_row(arrays.values(cells[metric], name), base, alpha, power, boot),
                "n_failed": sum(failures[name].values()),
            }
            for name in names[1:]
        ]
        _holm(others, alpha)
        rows += others
        tested = [r for r in others if r["n"] >= 2]
        notes += [
            f"{r['variant']}: {metric} not tested, only {r['n']} paired seed(s)"
            for r in others
            if r["n"] < 2
        ]
        small = max((r["n"] for r in tested if r["n"] < WILCOXON_MIN_N), default=0)
        wilcoxon_short = max(wilcoxon_short, small)
    if wilcoxon_short:
        notes.append(
            f"Wilcoxon signed-rank p given only from {WILCOXON_MIN_N} paired seeds (here at most "
            f"{wilcoxon_short}): with 5 pairs its smallest two-sided p is 0.0625 > 0.05"
        )
    table = pd.DataFrame(rows, columns=list(ABLATION_COLUMNS))
    return AblationResult(
        table=table,
        baseline=baseline,
        main_metric=main_metric,
        metrics=chosen,
        variants=tuple(names),
        alpha=alpha,
        power=power,
        failures=failures,
        notes=tuple(notes),
    )
