"""fANOVA importance: Optuna's evaluator on a study rebuilt from the trial table.

fANOVA (Hutter, Hoos & Leyton-Brown, "An Efficient Approach for Assessing Hyperparameter
Importance", ICML 2014) fits a random forest to (parameters → outcome) and decomposes each tree's
function over the WHOLE search space, integrated uniformly (a functional ANOVA, Sobol 1993): a
parameter's importance is the variance of its marginal (the tree averaged over every other
parameter) as a fraction of the tree's total variance, averaged over trees. Main effects of all
parameters sum to at most 1; the rest is interactions. It sees structure inside any bin (a
periodic effect) that binned ANOVA averages away, but it describes the forest, not the data: with
few trials, or a sharp function, the forest's steps leak main-effect variance into interactions;
regions the search rarely sampled weigh as much as crowded ones; and for simplex-constrained
weights it integrates over combinations that violate the constraint.

Optuna's evaluator (``optuna.importance.FanovaImportanceEvaluator``) fits a scikit-learn forest,
so scikit-learn must be installed; its marginals are computed in Python, with a cost that grows
with the square of the number of leaves, so the forest's depth and the trials given to it are
capped (``max_depth``, ``max_trials``). Several seeds are averaged and their spread reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from search_spaces import ConfigError

__all__ = ["FanovaResult", "distributions_from_space", "fanova_importance"]

# numeric parameters with at most this many values are inferred as categorical (a grid)
GRID_LEVELS = 8
_COLUMNS = ["parameter", "fanova", "fanova_sd", "fanova_raw", "fanova_raw_sd"]


@dataclass(frozen=True, eq=False)
class FanovaResult:
    """fANOVA importance of every parameter.

    Attributes:
        importance: one row per parameter (in the order given): ``fanova`` (normalised main
            effect: the parameters' main effects sum to 1), ``fanova_sd`` (spread over seeds),
            ``fanova_raw`` (un-normalised: share of the forest's variance) and its spread; NaN
            for a parameter fANOVA could not assess (the notes say why).
        main_effect_share: the sum of the un-normalised main effects, averaged over seeds: the
            share of the forest's variance that main effects explain (NaN if not computed).
        n: trials given to the forest.
        seeds: forest seeds averaged.
        notes: parameters left out, subsampling, missing scikit-learn.
    """

    importance: pd.DataFrame
    main_effect_share: float
    n: int
    seeds: tuple[int, ...]
    notes: list[str] = field(default_factory=list)


def distributions_from_space(definition: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """Optuna distributions of the effective parameters of a ``spec.json`` space definition.

    Float and int ranges keep their bounds (fANOVA integrates over them), categorical choices
    their values (as text unless they are all numbers, as the loader stores them), and each
    simplex component its own ``[low, high]``. ``fraction_of`` parameters, whose effective
    values are computed, are left to inference. Malformed entries are skipped.
    """
    out: dict[str, BaseDistribution] = {}
    for key, spec in (definition.get("params") or {}).items():
        if not isinstance(spec, Mapping):
            continue
        kind = spec.get("type")
        try:
            if kind == "float":
                out[key] = FloatDistribution(
                    float(spec["low"]), float(spec["high"]), log=bool(spec.get("log"))
                )
            elif kind == "int":
                out[key] = IntDistribution(
                    int(spec["low"]), int(spec["high"]), log=bool(spec.get("log"))
                )
            elif kind == "categorical":
                choices = [c for c in spec["choices"] if c is not None]
                numeric = all(
                    isinstance(c, int | float) and not isinstance(c, bool) for c in choices
                )
                out[key] = CategoricalDistribution(
                    tuple(choices) if numeric else tuple(str(c) for c in choices)
                )
            elif kind == "simplex":
                for name, (low, high) in spec["components"].items():
                    out[f"{key}.{name}"] = FloatDistribution(float(low), float(high))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _infer(values: pd.Series) -> BaseDistribution:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        distinct = np.unique(values.to_numpy(dtype=float))
        if len(distinct) <= GRID_LEVELS:
            # a grid (batch 1, 2, 4, 8): each value weighs the same, as when it was sampled; a
            # range [1, 8] would weigh 4 → 8 six times more than 1 → 2 in fANOVA's integral
            native = [int(v) if v == round(v) else float(v) for v in distinct]
            return CategoricalDistribution(tuple(native))
        x = values.to_numpy(dtype=float)
        low, high = float(x.min()), float(x.max())
        if np.all(x == np.round(x)):
            return IntDistribution(int(low), int(high))
        return FloatDistribution(low, high, log=bool(low > 0 and high / low > 100))
    return CategoricalDistribution(tuple(sorted({str(v) for v in values})))


def _fits(dist: BaseDistribution, values: pd.Series) -> BaseDistribution | None:
    """``dist`` widened to the values seen if it is a range; ``None`` if it cannot hold them."""
    if isinstance(dist, CategoricalDistribution):
        return dist if all(_native(v) in dist.choices for v in values.unique()) else None
    if not pd.api.types.is_numeric_dtype(values):
        return None
    low, high = float(values.min()), float(values.max())
    if isinstance(dist, IntDistribution):
        if not np.all(values.to_numpy(dtype=float) % 1 == 0):
            return None
        return IntDistribution(min(dist.low, int(low)), max(dist.high, int(high)), log=dist.log)
    if isinstance(dist, FloatDistribution):
        lo, hi = min(dist.low, low), max(dist.high, high)
        return FloatDistribution(lo, hi, log=dist.log and lo > 0)
    return None


def _convert(value: Any, dist: BaseDistribution) -> Any:
    if isinstance(dist, IntDistribution):
        return round(float(value))
    if isinstance(dist, FloatDistribution):
        return float(value)
    value = _native(value)
    if value in dist.choices:
        return dist.choices[dist.choices.index(value)]  # 4.0 read from parquet is the choice 4
    return str(value)


def fanova_importance(
    table: pd.DataFrame,
    params: Sequence[str],
    value: str = "value",
    mode: str = "max",
    distributions: Mapping[str, BaseDistribution] | None = None,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_trees: int = 8,
    max_depth: int = 10,
    max_trials: int = 1000,
) -> FanovaResult:
    """fANOVA main effects of the parameters on ``value``, averaged over forest seeds.

    Args:
        table: one row per trial.
        params: parameter columns.
        value: outcome column.
        mode: ``"max"`` or ``"min"`` (the study's direction; importance does not depend on it).
        distributions: known distributions by parameter (see :func:`distributions_from_space`);
            others are inferred: at most 8 numeric values or text → ``CategoricalDistribution``
            of the values seen; else float → ``FloatDistribution(min, max)`` (log when all > 0
            and max/min > 100), integral → ``IntDistribution(min, max)``.
        seeds: one forest per seed; mean and standard deviation over them.
        n_trees: trees per forest.
        max_depth: depth cap of each tree (the marginals cost grows with the square of the leaves).
        max_trials: above this many trials, a seeded random subset of this size is used.

    Returns:
        The result; what cannot be assessed is NaN with a note, never an exception.
    """
    if mode not in ("max", "min"):
        raise ConfigError(f"mode must be max or min, got {mode!r}")
    if not seeds:
        raise ConfigError("fANOVA seeds must name at least one seed")
    params = list(params)
    out = pd.DataFrame(np.nan, index=params, columns=_COLUMNS)
    out["parameter"] = params
    notes: list[str] = []
    y = pd.to_numeric(table[value], errors="coerce").to_numpy(dtype=float)
    frame = table.loc[np.isfinite(y)].reset_index(drop=True)
    if len(frame) > max_trials:
        pick = np.sort(np.random.default_rng(seeds[0]).choice(len(frame), max_trials, False))
        notes.append(
            f"fANOVA on a random {max_trials} of the {len(frame)} trials (its forest's cost "
            "grows quickly with the number of trials)"
        )
        frame = frame.iloc[pick].reset_index(drop=True)
    dists = _distributions(frame, params, distributions or {}, notes)

    def result(share: float = float("nan")) -> FanovaResult:
        return FanovaResult(out.reset_index(drop=True), share, len(frame), tuple(seeds), notes)

    if len(frame) < 2 or not dists:
        notes.append(f"fANOVA needs 2 trials and a varying parameter; got {len(frame)} trials")
        return result()
    if float(np.var(frame[value].to_numpy(dtype=float))) == 0:
        notes.append("fANOVA: the outcome is the same in every trial: no variance to explain")
        return result()
    try:
        raw = _evaluate(frame, value, mode, dists, seeds, n_trees, max_depth)
    except ImportError as exc:
        notes.append(
            "fANOVA not computed: Optuna's evaluator fits a scikit-learn random forest and "
            f"scikit-learn is not installed (pip install scikit-learn): {exc}"
        )
        return result()
    except RuntimeError as exc:  # optuna: "Encountered zero total variance in all trees."
        notes.append(f"fANOVA not computed: {exc}")
        return result()
    names = list(dists)
    totals = raw.sum(axis=1, keepdims=True)
    normalised = np.divide(raw, totals, out=np.full_like(raw, np.nan), where=totals > 0)
    ddof = 1 if len(seeds) > 1 else 0
    out.loc[names, "fanova"] = normalised.mean(axis=0)
    out.loc[names, "fanova_sd"] = normalised.std(axis=0, ddof=ddof)
    out.loc[names, "fanova_raw"] = raw.mean(axis=0)
    out.loc[names, "fanova_raw_sd"] = raw.std(axis=0, ddof=ddof)
    return result(float(totals.mean()))


def _distributions(
    frame: pd.DataFrame,
    params: list[str],
    known: Mapping[str, BaseDistribution],
    notes: list[str],
) -> dict[str, BaseDistribution]:
    """A distribution for every parameter fANOVA can assess; notes for the others."""
    out: dict[str, BaseDistribution] = {}
    conditional = []
    for p in params:
        if p not in frame.columns:
            continue
        values = frame[p]
        if values.isna().any():
            if values.notna().any():
                conditional.append(p)
            continue
        if values.nunique() < 2:
            continue  # constant: nothing to attribute (the ANOVA notes say so)
        dist = _fits(known[p], values) if p in known else None
        if p in known and dist is None:
            notes.append(f"{p}: values outside its recorded distribution; inferred from the data")
        out[p] = dist or _infer(values)
    if conditional:
        notes.append(
            "fANOVA (Optuna) assesses only parameters set in every trial; not set in some: "
            + ", ".join(conditional)
            + " (the ANOVA column treats 'not set' as a level)"
        )
    return out


def _evaluate(
    frame: pd.DataFrame,
    value: str,
    mode: str,
    dists: dict[str, BaseDistribution],
    seeds: Sequence[int],
    n_trees: int,
    max_depth: int,
) -> np.ndarray:
    """Un-normalised main effects, one row per seed, columns in ``dists`` order."""
    names = list(dists)
    columns = {p: [_convert(v, dists[p]) for v in frame[p]] for p in names}
    values = frame[value].to_numpy(dtype=float)
    trials = [
        optuna.trial.create_trial(
            params={p: columns[p][i] for p in names},
            distributions=dists,
            value=float(values[i]),
        )
        for i in range(len(frame))
    ]
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory…"
    try:
        study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials(trials)
    rows = []
    for seed in seeds:
        evaluator = optuna.importance.FanovaImportanceEvaluator(
            n_trees=n_trees, max_depth=max_depth, seed=int(seed)
        )
        # evaluate() directly: the un-normalised fractions, one forest per seed
        raw = evaluator.evaluate(study, params=names)
        rows.append([float(raw[p]) for p in names])
    return np.asarray(rows)
