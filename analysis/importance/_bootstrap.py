"""Bootstrap of the importance model: resample the trials, refit, percentile intervals.

The trials are resampled with ``scipy.stats.bootstrap`` (its resamples and bootstrap
distribution; percentile method), the model refitted on each resample through its weighted Gram
matrix, and the intervals bias-corrected (:func:`bias_corrected_interval`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from analysis.importance._model import fit

__all__ = ["bias_corrected_interval", "bootstrap_tables"]


def bootstrap_tables(design, x, y, forms, draws, rng, effects, inter, notes, level):
    """Resample trials and refit: the draws, and the tables with intervals and rank
    probabilities filled in."""
    n, n_main, n_pairs = len(y), len(design.main), len(design.pairs)
    width = 2 * n_main + n_pairs

    def statistic(idx: np.ndarray) -> np.ndarray:
        w = np.bincount(idx.astype(int), minlength=n).astype(float)
        result = fit(design, x, y, w, forms)
        if result is None:
            return np.full(width, np.nan)
        return np.concatenate(
            [result.anova_shares(design), result.fanova_shares(), result.pair_shares(design)]
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate-data warnings: NaN draws are handled below
        res = stats.bootstrap(
            (np.arange(n, dtype=float),), statistic, n_resamples=draws, vectorized=False,
            method="percentile", confidence_level=level, rng=rng,
        )  # fmt: skip
    dist = np.asarray(res.bootstrap_distribution).reshape(width, -1).T
    usable = np.isfinite(dist[:, :n_main]).all(axis=1)
    if usable.mean() < 0.5:
        notes.append(
            f"no bootstrap interval: {1 - usable.mean():.0%} of the resamples have too few "
            "distinct trials for the model; run more trials"
        )
        return {}, effects, inter
    dist = dist[usable]
    names = [c.name for c in design.coords]
    rows = effects.set_index("parameter")
    theta = np.concatenate(
        [
            rows.loc[names, "anova"].to_numpy(dtype=float),
            rows.loc[names, "fanova"].to_numpy(dtype=float),
            inter["share"].to_numpy(dtype=float),
        ]
    )
    lo, hi = bias_corrected_interval(dist, theta, level)
    blocks = {"anova": slice(0, n_main), "fanova": slice(n_main, 2 * n_main)}
    out = {}
    for method, cols in blocks.items():
        sub = dist[:, cols]
        if not np.isfinite(sub).any():
            continue
        rows.loc[names, f"{method}_lo"] = lo[cols]
        rows.loc[names, f"{method}_hi"] = hi[cols]
        shown = rows.loc[names, f"{method}_rank"].to_numpy(dtype=float)
        ranks = pd.DataFrame(sub).rank(axis=1, ascending=False, method="min").to_numpy()
        rows.loc[names, f"{method}_rank_prob"] = (ranks == shown[None, :]).mean(axis=0)
        out[method] = sub
    effects = rows.reset_index()[effects.columns]
    if n_pairs:
        inter = inter.copy()
        inter["share_lo"] = lo[2 * n_main :]
        inter["share_hi"] = hi[2 * n_main :]
    return out, effects, inter


def bias_corrected_interval(
    draws: np.ndarray, theta: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected percentile interval of each column (Efron 1981; Efron & Tibshirani 1993,
    §14.3, BCa without the acceleration, which would need n jackknife refits).

    The shares are biased at small n (type-II sums of squares lose variance that the sample's
    chance correlations share, and a resample, with its repeated trials, loses more), so the
    bootstrap distribution sits off the estimate; z0 = Φ⁻¹(share of draws below the estimate,
    ties counting half) moves the percentiles to correct for it. NaN draws are ignored.
    """
    lo = np.full(draws.shape[1], np.nan)
    hi = np.full(draws.shape[1], np.nan)
    z = stats.norm.ppf([(1 - level) / 2, (1 + level) / 2])
    for j in range(draws.shape[1]):
        col = draws[:, j][np.isfinite(draws[:, j])]
        if not len(col) or not np.isfinite(theta[j]):
            continue
        below = (np.mean(col < theta[j]) + 0.5 * np.mean(col == theta[j])).clip(
            0.5 / len(col), 1 - 0.5 / len(col)
        )
        z0 = stats.norm.ppf(below)
        lo[j], hi[j] = np.percentile(col, 100 * stats.norm.cdf(2 * z0 + z))
    return lo, hi
