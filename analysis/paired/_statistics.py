"""Paired statistics of an experiment of cells: each variant against a baseline, paired by unit.

A paired experiment runs a *baseline* configuration and one or more variants on the same units:
an ablation pairs its cells by seed (seed k of every variant shares the data split,
initialisation and data order with the baseline's), a validation by (fold, seed). Per variant and
metric this module gives the variant's mean, sd and t-interval, the mean paired difference
Δ = variant − baseline with its t-interval, the paired t-test (Student 1908,
``scipy.stats.ttest_rel``), the Wilcoxon signed-rank test (Wilcoxon 1945,
``scipy.stats.wilcoxon``; only from 6 pairs, since with 5 pairs its smallest two-sided p is
2/32 = 0.0625 and it could never reject at 0.05), Holm's step-down adjustment of the t-test
p-values across a family of tests (Holm 1979, *Scand. J. Statist.* 6:65;
``statsmodels.stats.multitest.multipletests``), Cohen's d_z = mean(diff) / sd(diff) (Lakens 2013,
*Front. Psychol.* 4:863), a verdict at level α, and the minimum detectable effect: the smallest
|Δ| the paired t-test finds with the requested power at the observed sd of the differences
(Cohen 1988, *Statistical Power Analysis*, ch. 2; ``statsmodels.stats.power.TTestPower``).

Two things tell the experiments apart, and they are the parameters of
:func:`paired_statistics`: the *pairing keys* (the columns whose values make a pair) and the
*Holm family* (``"variants"``: per metric across the variants, an ablation's question "which
components matter"; ``"metrics"``: per variant across the metrics, a validation's question "is
this configuration better").

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
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from analysis._evaluation import paired_comparison
from analysis._json import jsonable
from analysis.paired._cells import _cell_notes, _Cells, _unit_words
from search_spaces import (
    BREAKDOWN_METRICS,
    ConfigError,
    DataError,
    metric_direction,
)

__all__ = [
    "ABLATION_VERDICTS",
    "BREAKDOWN_METRICS",
    "OPTIONS",
    "PAIRED_COLUMNS",
    "QUALITY_METRICS",
    "WILCOXON_MIN_N",
    "HolmFamily",
    "PairedStatistics",
    "Pairing",
    "Verdicts",
    "check_cell_columns",
    "paired_statistics",
]

# fmt: off
#: the quality metrics a paired experiment analyses by default (those the cells have)
QUALITY_METRICS = ("iou_lesion", "precision", "recall", "f1", "dice", "pixel_accuracy")
PAIRED_COLUMNS = (
    "variant", "metric", "direction", "n", "mean", "sd", "ci_low", "ci_high", "delta",
    "delta_ci_low", "delta_ci_high", "delta_rel", "sd_diff", "p_t", "p_wilcoxon", "p_holm", "d_z",
    "mde", "verdict", "delta_boot_low", "delta_boot_high", "n_failed",
)
# fmt: on
#: the Wilcoxon signed-rank test is reported from this many pairs on (see the module docstring)
WILCOXON_MIN_N = 6
#: which tests one Holm adjustment spans
HolmFamily = Literal["variants", "metrics"]


@dataclass(frozen=True)
class Verdicts:
    """The words of the verdicts: a variant better than the baseline, worse, neither, untested,
    and the baseline's own row."""

    better: str
    worse: str
    same: str
    not_tested: str
    baseline: str

    def all(self) -> tuple[str, ...]:
        """Every word, in the order worse, same, better, not tested, baseline."""
        return (self.worse, self.same, self.better, self.not_tested, self.baseline)


ABLATION_VERDICTS = Verdicts("helps", "hurts", "no detectable effect", "not tested", "baseline")
#: the keyword arguments of :func:`paired_statistics` that are not part of the :class:`Pairing`
OPTIONS = ("main_metric", "metrics", "alpha", "power", "directions", "bootstrap", "seed")


@dataclass(frozen=True)
class Pairing:
    """What makes one kind of paired experiment.

    Attributes:
        baseline: the variant the others are compared with.
        keys: the columns whose values pair two cells (``("seed",)``, ``("fold", "seed")``).
        holm: Holm's family: ``"variants"`` (per metric) or ``"metrics"`` (per variant).
        default_metrics: the metrics analysed by default (those the cells have).
        words: the verdicts' words.
        what: how messages name the experiment (``"ablation"``).
    """

    baseline: str
    keys: tuple[str, ...]
    holm: HolmFamily
    default_metrics: tuple[str, ...]
    words: Verdicts
    what: str


@dataclass(frozen=True)
class PairedStatistics:
    """The table of a paired experiment and what it was computed with.

    Attributes:
        table: one row per variant × metric; the baseline's rows hold n, mean, sd and interval
            and blank tests (its verdict is the baseline word).
        baseline: the baseline variant's name.
        main_metric: the metric the experiment is about (listed first).
        metrics: the metrics analysed, in table order.
        variants: the variant names, baseline first.
        alpha: level of the tests and of the verdicts (Holm-adjusted p < alpha).
        power: the power the minimum detectable effect is computed for.
        pairing: the columns whose values pair a variant's cell with the baseline's.
        holm: Holm's family (``"variants"`` per metric, ``"metrics"`` per variant).
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
    pairing: tuple[str, ...] = ("seed",)
    holm: HolmFamily = "variants"

    @property
    def confidence(self) -> float:
        """Level of the t-intervals (``1 - alpha``), so an interval excludes 0 iff p_t < alpha."""
        return 1.0 - self.alpha

    def main(self) -> pd.DataFrame:
        """The rows of the main metric, baseline first."""
        return self.table[self.table["metric"] == self.main_metric].reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """Settings, notes and the table as one strict-JSON-able dict (NaN and ±inf → None)."""
        doc = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "table"}
        doc["confidence"] = self.confidence
        doc["table"] = self.table.astype(object).to_dict("records")
        return jsonable(doc)


def check_cell_columns(cells: pd.DataFrame, where: str, pairing: Sequence[str] = ("seed",)) -> None:
    """Raise :class:`DataError` unless ``cells`` has ``variant``, the pairing keys and
    ``status``."""
    missing = [c for c in ("variant", *pairing, "status") if c not in cells.columns]
    if missing:
        raise DataError(f"{where}: missing the column(s) {missing}; present: {list(cells.columns)}")


def _check_cells(cells: pd.DataFrame, baseline: str, pairing: Sequence[str], what: str) -> None:
    check_cell_columns(cells, f"the {what} cells", pairing)
    if baseline not in set(cells["variant"]):
        raise DataError(
            f"the {what} cells hold no baseline variant {baseline!r}; "
            f"variants: {sorted(set(map(str, cells['variant'])))}"
        )
    key = ["variant", *pairing]
    dup = cells.duplicated(key, keep=False)
    if dup.any():
        pairs = sorted({tuple(map(str, r)) for r in cells.loc[dup, key].values})
        raise DataError(
            f"the {what} cells must hold one row per ({', '.join(key)}); repeated: {pairs[:5]}"
        )


def _choose_metrics(
    cells: pd.DataFrame,
    main_metric: str,
    metrics: Sequence[str] | None,
    defaults: Sequence[str],
    pairing: Sequence[str],
) -> tuple[str, ...]:
    numeric = [c for c in cells.columns if pd.api.types.is_numeric_dtype(cells[c])]
    numeric = [c for c in numeric if c not in pairing]
    wanted = [main_metric, *(metrics if metrics is not None else defaults)]
    chosen = tuple(dict.fromkeys(wanted))
    if metrics is None:
        chosen = tuple(m for m in chosen if m == main_metric or m in numeric)
    absent = [m for m in chosen if m not in numeric]
    if absent:
        raise DataError(
            f"metric(s) {absent} are not numeric columns of the cells; numeric columns: {numeric}"
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
    units = sorted(variant.keys() & base.keys())
    a = np.array([variant[s] for s in units], dtype=float)
    b = np.array([base[s] for s in units], dtype=float)
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


def _verdict(row: Mapping[str, Any], alpha: float, words: Verdicts) -> str:
    p_holm, delta = row["p_holm"], row["delta"]
    if not math.isfinite(p_holm):
        return words.not_tested
    if p_holm >= alpha or delta == 0:
        return words.same
    better = delta > 0 if row["direction"] == "max" else delta < 0
    return words.better if better else words.worse


def _check_settings(alpha: float, power: float, bootstrap: int, what: str) -> None:
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"the {what}'s alpha must be in (0, 1), got {alpha}", param="alpha")
    if not 0.0 < power < 1.0:
        raise ConfigError(f"the {what}'s power must be in (0, 1), got {power}", param="power")
    if bootstrap < 1:
        raise ConfigError(
            f"the {what}'s bootstrap resamples must be >= 1, got {bootstrap}", param="bootstrap"
        )


def _holm(rows: list[dict[str, Any]], alpha: float, words: Verdicts) -> None:
    """Holm-adjust the t-test p-values of one family of rows, in place; set their verdicts."""
    tested = [r for r in rows if math.isfinite(r["p_t"])]
    p = np.array([r["p_t"] for r in tested], dtype=float)
    # Holm's adjustment of a single test is the test itself; statsmodels' Holm branch runs a
    # full gc.collect() (about 0.2 s), which one-test families need not pay.
    adjusted = multipletests(p, alpha=alpha, method="holm")[1] if p.size > 1 else p
    for r, q in zip(tested, adjusted, strict=True):
        r["p_holm"] = float(q)
    for r in rows:
        r["verdict"] = _verdict(r, alpha, words)


def _direction(metric: str, directions: Mapping[str, str] | None) -> str:
    """The harness's one rule (:func:`search_spaces.metric_direction`), ``directions`` first."""
    if directions and metric in directions:
        return metric_direction(metric, directions[metric], option=f"the direction of {metric}")
    return metric_direction(metric)


def _families(rows: list[dict[str, Any]], holm: HolmFamily) -> list[list[dict[str, Any]]]:
    key = "metric" if holm == "variants" else "variant"
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r[key], []).append(r)
    return list(groups.values())


def _untested_notes(rows: list[dict[str, Any]], pairing: Sequence[str]) -> tuple[list[str], int]:
    """The notes of the rows with fewer than 2 pairs, and the most pairs of a row tested
    without the Wilcoxon test."""
    _, several, _ = _unit_words(pairing)
    notes = [
        f"{r['variant']}: {r['metric']} not tested, only {r['n']} paired {several}"
        for r in rows
        if r["n"] < 2
    ]
    short = max((r["n"] for r in rows if 2 <= r["n"] < WILCOXON_MIN_N), default=0)
    return notes, short


def paired_statistics(
    cells: pd.DataFrame,
    design: Pairing,
    *,
    main_metric: str = "iou_lesion",
    metrics: Sequence[str] | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    directions: Mapping[str, str] | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
) -> PairedStatistics:
    """Each variant against the baseline, paired by the design's keys, metric by metric.

    Only successful cells count (:data:`search_spaces.SUCCESS_STATUSES`); a variant's unit is
    used for a metric when both it and the baseline's cell of that unit succeeded with a finite
    value (``n`` counts these pairs). The variant's ``mean``/``sd``/interval are over those
    units; the baseline's over all of its own.

    Args:
        cells: one row per (variant, *keys): ``variant``, the pairing keys, ``status`` (a
            :class:`search_spaces.TrialStatus`) and one numeric column per metric.
        design: the baseline, the pairing keys, Holm's family, the default metrics, the
            verdicts' words.
        main_metric: the metric the experiment is about; listed first.
        metrics: the metrics to analyse (default: the main metric, then those of the design's
            ``default_metrics`` that the cells have).
        alpha: level of the tests, of the verdicts and of the ``1 - alpha`` t-intervals.
        power: the power of the minimum detectable effect ``mde``.
        directions: ``{metric: "max" | "min"}`` overriding :func:`search_spaces.metric_direction`,
            which decides every other metric (an unknown one is an error).
        bootstrap: resamples of the bootstrap interval of Δ (``delta_boot_*``).
        seed: seed of that bootstrap.

    Returns:
        The :class:`PairedStatistics`.

    Raises:
        DataError: a column or the baseline is missing, a cell is repeated, or a metric is not
            a numeric column.
        ConfigError: alpha, power or bootstrap out of range, a bad direction, or a metric
            whose direction neither ``directions`` nor the harness's vocabulary gives.
    """
    baseline, pairing, words = design.baseline, design.keys, design.words
    _check_settings(alpha, power, bootstrap, design.what)
    _check_cells(cells, baseline, pairing, design.what)
    chosen = _choose_metrics(cells, main_metric, metrics, design.default_metrics, pairing)
    names = [baseline, *dict.fromkeys(v for v in map(str, cells["variant"]) if v != baseline)]
    arrays = _Cells.of(cells, pairing)
    status = cells["status"].astype(str).to_numpy()
    boot = {"n_resamples": bootstrap, "method": "BCa", "seed": seed}
    failures = {
        name: dict(Counter(status[(arrays.variant == name) & ~arrays.done].tolist()))
        for name in names
    }
    notes = _cell_notes(arrays, status, names, baseline, pairing)
    base_rows, rows = [], []
    for metric in chosen:
        direction = _direction(metric, directions)
        base = arrays.values(cells[metric], baseline)
        if not base:
            notes.append(f"{metric}: the baseline has no completed cell with a value")
        head = {"variant": baseline, "metric": metric, "direction": direction}
        summary = _summary(np.array(list(base.values()), dtype=float), 1.0 - alpha)
        base_rows.append(
            {
                **head,
                **summary,
                "verdict": words.baseline,
                "n_failed": sum(failures[baseline].values()),
            }
        )
        rows += [
            {
                **head,
                "variant": name,
                **_paired_row(arrays.values(cells[metric], name), base, alpha, power, boot),
                "n_failed": sum(failures[name].values()),
            }
            for name in names[1:]
        ]
    for family in _families(rows, design.holm):
        _holm(family, alpha, words)
    untested, wilcoxon_short = _untested_notes(rows, pairing)
    notes += untested
    if wilcoxon_short:
        notes.append(
            f"Wilcoxon signed-rank p given only from {WILCOXON_MIN_N} {_unit_words(pairing)[2]} "
            f"(here at most "
            f"{wilcoxon_short}): with 5 pairs its smallest two-sided p is 0.0625 > 0.05"
        )
    # per metric: the baseline's row, then the variants'
    ordered = [r for b in base_rows for r in (b, *(x for x in rows if x["metric"] == b["metric"]))]
    return PairedStatistics(
        table=pd.DataFrame(ordered, columns=list(PAIRED_COLUMNS)),
        baseline=baseline,
        main_metric=main_metric,
        metrics=chosen,
        variants=tuple(names),
        alpha=alpha,
        power=power,
        failures=failures,
        notes=tuple(notes),
        pairing=pairing,
        holm=design.holm,
    )
