"""Calibration of predicted lesion probabilities over images: ECE, Brier, temperature scaling.

The per-pixel parts live in ``trials.metrics`` (``_calibration``), shared with a trial's own
validation: every pixel is one binary prediction (probability ``p``, label ``y``), kept as
*reliability bins*, a ``(3, n_bins)`` array of the pixel count, the sum of ``p`` and the sum of
``y`` in each of ``n_bins`` equal-width bins of ``[0, 1]`` (15 by default, as in Guo et al.
2017), with bins ``edge_b < p <= edge_{b+1}`` (the first also holds 0). Bins add up over images,
so here the bootstrap over images re-pools resampled images' bins, and
:func:`reliability_curve`'s ``fraction_positive`` and ``mean_predicted`` equal scikit-learn's
``calibration_curve(strategy="uniform")`` on the non-empty bins.

- Expected calibration error (Naeini, Cooper & Hauskrecht, *Obtaining Well Calibrated
  Probabilities Using Bayesian Binning*, AAAI 2015): ``ECE = sum_b (n_b / N) |mean_y_b -
  mean_p_b|``.
- Brier score (Brier, *Monthly Weather Review* 78, 1950): ``mean (p - y)^2``, from per-image sums
  of squared errors.
- Temperature scaling (Guo, Pleiss, Sun & Weinberger, *On Calibration of Modern Neural Networks*,
  ICML 2017): one scalar ``T > 0`` divides every logit, ``p = sigmoid(z / T)``; ``T`` minimises
  the negative log-likelihood of held-out labels (:func:`fit_temperature`), found by a bounded
  scalar search over ``log T`` (``scipy.optimize.minimize_scalar``). ``T > 1`` softens an
  over-confident model; a model whose logits are ``z / T0`` of calibrated ones ``z`` is
  recovered by ``T = 1 / T0``. Thresholding at 0.5 is unchanged by ``T``, so the segmentation
  metrics are too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import optimize, special

from analysis._evaluation import bootstrap_interval
from search_spaces import ConfigError, DataError

__all__ = [
    "TEMPERATURE_BOUNDS",
    "TemperatureFit",
    "calibration_summary",
    "fit_temperature",
    "reliability_curve",
    "scale_logits",
]

TEMPERATURE_BOUNDS = (0.05, 20.0)
_COUNT, _SUM_P, _SUM_Y = 0, 1, 2


def _labels(label: object, size: int) -> np.ndarray:
    # the label check of trials.metrics.calibration_pair (analysis cannot import trials)
    y = np.asarray(label).ravel()
    if y.size != size:
        raise DataError(f"calibration: logits and labels differ in size ({size} vs {y.size})")
    if y.dtype != np.bool_ and y.size and np.any((y != 0) & (y != 1)):
        raise DataError("calibration: labels must be 0/1 or bool")
    return y.astype(np.float64)


def _ece(bins: np.ndarray) -> float:
    # trials.metrics.expected_calibration_error (analysis cannot import trials; a test keeps the
    # two equal): sum_b |sum_y_b - sum_p_b| / N
    total = float(bins[_COUNT].sum())
    return float(np.abs(bins[_SUM_Y] - bins[_SUM_P]).sum() / total) if total else math.nan


def reliability_curve(bins: np.ndarray) -> dict[str, list[float]]:
    """The reliability diagram's points: per bin, its edges, pixel count, mean ``p``, mean ``y``.

    Empty bins give ``nan`` means.
    """
    count = bins[_COUNT]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(count > 0, bins[_SUM_P] / count, np.nan)
        mean_y = np.where(count > 0, bins[_SUM_Y] / count, np.nan)
    edges = np.linspace(0.0, 1.0, bins.shape[1] + 1)
    return {
        "bin_low": edges[:-1].tolist(),
        "bin_high": edges[1:].tolist(),
        "count": count.astype(np.int64).tolist(),
        "mean_predicted": mean_p.tolist(),
        "fraction_positive": mean_y.tolist(),
    }


def _interval(statistic: Callable[[np.ndarray], float], n: int, boot: dict) -> dict[str, Any]:
    ci = bootstrap_interval(statistic, n, **boot)
    return {"ci_low": ci.low, "ci_high": ci.high, "ci_method": ci.method, "ci_note": ci.note}


def calibration_summary(
    bins: np.ndarray,
    squared_errors: np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: str = "BCa",
    seed: int = 0,
) -> dict[str, Any]:
    """ECE and Brier score pooled over the pixels of all images and per image, with intervals.

    Args:
        bins: per-image reliability bins, ``(n_images, 3, n_bins)``.
        squared_errors: per image, the sum over its pixels of ``(p - y)^2``.
        confidence, n_resamples, method, seed: the bootstrap over images
            (:func:`analysis.bootstrap_interval`), which re-pools the resampled images' bins.

    Returns:
        ``{"n_bins", "n_pixels", "ece": {"value", "ci_low", "ci_high", "ci_method", "ci_note",
        "mean_per_image"}, "brier": {...}, "per_image": {"ece": [...], "brier": [...]},
        "reliability": reliability_curve(pooled bins)}``.

    Raises:
        DataError: no image, or the shapes disagree.
    """
    bins = np.asarray(bins, dtype=np.float64)
    sq = np.asarray(squared_errors, dtype=np.float64)
    if bins.ndim != 3 or bins.shape[1] != 3 or bins.shape[0] == 0 or sq.shape != bins.shape[:1]:
        raise DataError(
            f"calibration_summary: need (n_images, 3, n_bins) bins and n_images squared-error "
            f"sums, got {bins.shape} and {sq.shape}"
        )
    boot = {"confidence": confidence, "n_resamples": n_resamples, "method": method, "seed": seed}
    count = bins[:, _COUNT].sum(axis=1)
    n = len(bins)
    per_ece = [_ece(b) for b in bins]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_brier = np.where(count > 0, sq / count, np.nan)

    def ece(idx: np.ndarray) -> float:
        return _ece(bins[idx].sum(axis=0))

    def brier(idx: np.ndarray) -> float:
        total = count[idx].sum()
        return float(sq[idx].sum() / total) if total else math.nan

    everything = np.arange(n)
    out: dict[str, Any] = {
        "n_bins": int(bins.shape[2]),
        "n_pixels": int(count.sum()),
        "ece": {"value": ece(everything), **_interval(ece, n, boot)},
        "brier": {"value": brier(everything), **_interval(brier, n, boot)},
        "per_image": {"ece": per_ece, "brier": per_brier.tolist()},
        "reliability": reliability_curve(bins.sum(axis=0)),
    }
    out["ece"]["mean_per_image"] = float(np.nanmean(per_ece)) if n else math.nan
    out["brier"]["mean_per_image"] = float(np.nanmean(per_brier)) if n else math.nan
    return out


def scale_logits(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``sigmoid(z / T)`` of logits ``z`` (float32 like the model's output)."""
    return special.expit(np.asarray(logits, dtype=np.float32) / np.float32(temperature))


@dataclass(frozen=True)
class TemperatureFit:
    """A fitted temperature.

    Attributes:
        temperature: ``T``; calibrated probabilities are ``sigmoid(z / T)``.
        nll_before: mean negative log-likelihood at ``T = 1``.
        nll_after: at the fitted ``T``.
        n_pixels: pixels it was fitted on.
        at_bound: ``T`` is at a bound of :data:`TEMPERATURE_BOUNDS` (the optimum may lie beyond).
    """

    temperature: float
    nll_before: float
    nll_after: float
    n_pixels: int
    at_bound: bool

    def as_dict(self) -> dict[str, Any]:
        """The fit as a JSON-able dict."""
        return asdict(self)


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    # -log-likelihood of Bernoulli(sigmoid(s)): log(1 + e^s) - y s, stable through logaddexp.
    s = logits / temperature
    return float(np.mean(np.logaddexp(0.0, s) - labels * s))


def fit_temperature(
    logits: object, labels: object, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
) -> TemperatureFit:
    """The temperature that minimises the NLL of ``labels`` under ``sigmoid(logits / T)``.

    Args:
        logits: held-out logits (e.g. a subsample of the validation pixels), any shape.
        labels: their 0/1 labels.
        bounds: the search interval of ``T`` (searched on ``log T``).

    Raises:
        DataError: no pixel, sizes differ, a logit is not finite, a label is not 0/1.
        ConfigError: bounds that are not ``0 < low < high``.
    """
    low, high = bounds
    if not 0.0 < low < high:
        raise ConfigError(f"temperature bounds must satisfy 0 < low < high, got {bounds}")
    z = np.asarray(logits, dtype=np.float64).ravel()
    if z.size == 0:
        raise DataError("fit_temperature: no pixel to fit the temperature on")
    if not np.isfinite(z).all():
        raise DataError("fit_temperature: the logits must be finite")
    y = _labels(labels, z.size)
    res = optimize.minimize_scalar(
        lambda log_t: _nll(z, y, math.exp(log_t)),
        bounds=(math.log(low), math.log(high)),
        method="bounded",
        options={"xatol": 1e-6},
    )
    t = math.exp(float(res.x))
    at_bound = math.isclose(t, low, rel_tol=1e-3) or math.isclose(t, high, rel_tol=1e-3)
    return TemperatureFit(t, _nll(z, y, 1.0), _nll(z, y, t), int(z.size), at_bound)
