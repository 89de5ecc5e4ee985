"""Ablation paths between two configurations, by real runs or through a surrogate.

Fawcett & Hoos (2016), "Analysing differences between algorithm configurations through
ablation", J. Heuristics 22(4): starting at the source configuration, every parameter on which the
target differs is a candidate; each step flips the candidate whose flip gives the best value, until
the target is reached. The order says which differences matter, and each step's gain how much.

Biedenkapp, Lindauer, Eggensperger, Hutter, Fawcett & Hoos (2017), "Efficient parameter
importance analysis via ablation with surrogates", AAAI: the same walk with the values predicted
by a random forest fitted on the configurations already evaluated (here: an experiment's trials),
so a path costs seconds instead of ``k (k + 1) / 2`` training runs.

:func:`ablation_path` is the walk itself, given any ``evaluate`` function; :func:`surrogate_path`
fits the forest (scikit-learn) and walks with its predictions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from search_spaces import ConfigError

__all__ = ["AblationPath", "PathStep", "ablation_path", "differing", "surrogate_path"]

Evaluate = Callable[[Sequence[Mapping[str, Any]]], Sequence[float]]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def differing(source: Mapping[str, Any], target: Mapping[str, Any]) -> list[str]:
    """The parameters (keys of ``target``) whose value differs in ``source``, in target order."""
    return [p for p, v in target.items() if not _same(source.get(p), v)]


@dataclass(frozen=True)
class PathStep:
    """One flip of the path.

    Attributes:
        step: 1-based position.
        parameter: the flipped parameter (dotted path).
        source_value, target_value: its value before and after.
        value: the outcome after the flip.
        gain: ``value`` minus the previous step's value, signed so that positive is better.
        candidates: every candidate's outcome at this step (parameter -> value).
    """

    step: int
    parameter: str
    source_value: Any
    target_value: Any
    value: float
    gain: float
    candidates: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AblationPath:
    """The whole walk: the source's value, the steps in order, the mode and how it was valued."""

    source_value: float
    steps: tuple[PathStep, ...]
    mode: str
    method: str

    @property
    def total_gain(self) -> float:
        """Gain from the source to the target (positive is better)."""
        return float(sum(s.gain for s in self.steps))

    def table(self) -> pd.DataFrame:
        """One row per step: step, parameter, from, to, value, gain, share of the total gain."""
        total = self.total_gain
        rows = [
            {
                "step": s.step,
                "parameter": s.parameter,
                "from": s.source_value,
                "to": s.target_value,
                "value": s.value,
                "gain": s.gain,
                "share": s.gain / total if total else math.nan,
            }
            for s in self.steps
        ]
        return pd.DataFrame(
            rows, columns=["step", "parameter", "from", "to", "value", "gain", "share"]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "method": self.method,
            "mode": self.mode,
            "source_value": self.source_value,
            "total_gain": self.total_gain,
            "steps": [
                {
                    "step": s.step,
                    "parameter": s.parameter,
                    "from": s.source_value,
                    "to": s.target_value,
                    "value": s.value,
                    "gain": s.gain,
                    "candidates": s.candidates,
                }
                for s in self.steps
            ],
        }


def ablation_path(
    source: Mapping[str, Any],
    target: Mapping[str, Any],
    evaluate: Evaluate,
    *,
    mode: str = "max",
    method: str = "runs",
    source_value: float | None = None,
    on_step: Callable[[PathStep], None] | None = None,
) -> AblationPath:
    """Greedy ablation from ``source`` to ``target`` (Fawcett & Hoos 2016).

    Args:
        source: the starting configuration (dotted path -> value).
        target: the configuration to reach; only its keys are candidates.
        evaluate: values of a batch of configurations (each a full ``{**source, ...}`` mapping),
            in order; called once per step with every remaining candidate, so they can run in
            parallel.
        mode: ``max`` or ``min``: which direction is better.
        method: how values are obtained, for the record (``runs`` or ``surrogate``).
        source_value: the source's value if already known (else it is evaluated first).
        on_step: called after each step (progress).

    Raises:
        ConfigError: ``mode`` is not max or min, or ``evaluate`` returns the wrong number of
            values.
    """
    if mode not in ("max", "min"):
        raise ConfigError(f"ablation path: mode must be max or min, got {mode!r}")
    sign = 1.0 if mode == "max" else -1.0

    def values(batch: list[dict[str, Any]]) -> list[float]:
        out = [float(v) for v in evaluate(batch)]
        if len(out) != len(batch):
            raise ConfigError(
                f"ablation path: evaluate returned {len(out)} values for {len(batch)} "
                "configurations"
            )
        return out

    current = dict(source)
    start = values([current])[0] if source_value is None else float(source_value)
    previous = start
    remaining = differing(source, target)
    steps: list[PathStep] = []
    while remaining:
        batch = [{**current, p: target[p]} for p in remaining]
        scores = values(batch)
        # NaN (a failed run) never wins a step while another candidate has a value
        keyed = [(-math.inf if math.isnan(s) else sign * s, -i) for i, s in enumerate(scores)]
        best = max(range(len(remaining)), key=lambda i: keyed[i])
        param = remaining[best]
        step = PathStep(
            step=len(steps) + 1,
            parameter=param,
            source_value=current.get(param),
            target_value=target[param],
            value=scores[best],
            gain=sign * (scores[best] - previous),
            candidates=dict(zip(remaining, scores, strict=True)),
        )
        steps.append(step)
        if on_step is not None:
            on_step(step)
        current[param] = target[param]
        previous = scores[best]
        remaining.pop(best)
    return AblationPath(start, tuple(steps), mode, method)


def _encode(
    frame: pd.DataFrame, columns: Sequence[str], categories: dict[str, list[Any]]
) -> np.ndarray:
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        values = frame[col] if col in frame else pd.Series([None] * len(frame))
        if col in categories:
            index = {c: i for i, c in enumerate(categories[col])}
            out[:, j] = [index.get(v, -1) for v in values]
        else:
            # a conditional parameter that is absent: a value below every real one (trees split
            # on ranks, so only the order matters)
            numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            out[:, j] = np.where(np.isnan(numeric), -1e300, numeric)
    return out


def surrogate_path(
    trials: pd.DataFrame,
    value: str,
    source: Mapping[str, Any],
    target: Mapping[str, Any],
    *,
    mode: str = "max",
    n_trees: int = 100,
    seed: int = 0,
) -> tuple[AblationPath, dict[str, Any]]:
    """The ablation path predicted by a random forest fitted on ``trials`` (Biedenkapp et al.
    2017).

    Args:
        trials: one row per evaluated configuration: the parameters of ``target`` as columns and
            the outcome in ``value``.
        value: the outcome column.
        source, target: the configurations to walk between (dotted path -> value).
        mode: ``max`` or ``min``.
        n_trees, seed: the forest (``sklearn.ensemble.RandomForestRegressor``).

    Returns:
        The path (values are predictions) and the fit's facts: trials used, parameters, the
        out-of-bag R² (how far to trust the predictions).

    Raises:
        ConfigError: fewer than 10 trials with a value, or no parameter in common.
    """
    from sklearn.ensemble import RandomForestRegressor

    columns = [p for p in target if p in trials.columns]
    if not columns:
        raise ConfigError(
            "surrogate ablation path: none of the target's parameters is a column of the "
            f"experiment's trials ({', '.join(target)})"
        )
    frame = trials.dropna(subset=[value])
    if len(frame) < 10:
        raise ConfigError(
            f"surrogate ablation path: {len(frame)} trials have a value of {value!r}; a forest "
            "needs at least 10 (run real steps instead: leave out --surrogate)"
        )
    categories = {
        c: sorted({v for v in frame[c].dropna()} | {source.get(c), target[c]} - {None}, key=str)
        for c in columns
        if not pd.api.types.is_numeric_dtype(frame[c])
    }
    forest = RandomForestRegressor(
        n_estimators=n_trees, min_samples_leaf=2, oob_score=True, random_state=seed
    )
    forest.fit(_encode(frame, columns, categories), frame[value].to_numpy(dtype=np.float64))

    def evaluate(batch: Sequence[Mapping[str, Any]]) -> list[float]:
        rows = pd.DataFrame([{c: cfg.get(c) for c in columns} for cfg in batch])
        return [float(v) for v in forest.predict(_encode(rows, columns, categories))]

    path = ablation_path(
        {c: source.get(c) for c in columns},
        {c: target[c] for c in columns},
        evaluate,
        mode=mode,
        method="surrogate",
    )
    facts = {
        "n_trials": len(frame),
        "parameters": columns,
        "oob_r2": float(forest.oob_score_),
        "n_trees": n_trees,
        "seed": seed,
    }
    return path, facts
