"""Parameter importance of an experiment at one stated fidelity, and how stable it is over epochs.

:func:`compute_importance` is pure and seeded: the same directory and arguments give the same
numbers. It returns data frames and a JSON-able dict; rendering lives elsewhere. Both columns are
on one scale, the share of the metric's variance explained by each parameter's main effect
(:mod:`analysis.importance._model` says how each is computed and how they differ), with 90%
bootstrap intervals and the probability that each parameter ranks where it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis._fidelity import Fidelity, choose_fidelity, ranking_epochs
from analysis._json import jsonable
from analysis._load import Experiment
from analysis.importance._estimate import (
    EFFECT_COLUMNS,
    FANOVA_MIN_PER_PARAM,
    LEVEL,
    PAIR_COLUMNS,
    RELIABLE_PER_PARAM,
    Estimate,
    bias_corrected_interval,
    estimate_importance,
)

__all__ = [
    "DEFAULT_GROUPS",
    "DEFINITIONS",
    "GROUP_COLUMNS",
    "INTERACTION_COLUMNS",
    "STABILITY_COLUMNS",
    "TABLE_COLUMNS",
    "ImportanceReport",
    "compute_importance",
    "group_of",
]

# prefixes whose parameters are reported together; any other parameter by its first section
DEFAULT_GROUPS: dict[str, str] = {"loss.weights": "loss weights", "optim.onecycle": "onecycle"}

# the estimate's columns with the parameter's group, and why a row is flagged or missing
TABLE_COLUMNS = ["parameter", "group", *EFFECT_COLUMNS[1:], "reliability", "note"]
INTERACTION_COLUMNS = PAIR_COLUMNS
GROUP_COLUMNS = ["group", "anova", "anova_lo", "anova_hi", "fanova", "fanova_lo", "fanova_hi"]
STABILITY_COLUMNS = ["epoch", "n_used", "top", "tau"]
# above 2,000 trials, the epochs re-ranked for the stability table (the highest ones)
_STABILITY_EPOCHS = 8
_UNSTABLE_TAU = 0.5

_PCT = f"{LEVEL:.0%}"
DEFINITIONS: dict[str, str] = {
    "ANOVA share": (
        "the share of the metric's variance, over the trials analysed, that the parameter's "
        "main effect explains: its type-II sum of squares in a model of every parameter's main "
        "effect (a spline for numbers, a level per choice), less what the same number of "
        "columns would explain by chance (df × residual mean square), over the total sum of "
        "squares; 0 for a parameter with no effect, on average"
    ),
    "fANOVA share": (
        "the same share over the whole search space instead of the trials: the variance of the "
        "parameter's main effect (the fitted model, with its interaction terms, averaged over "
        "every other parameter drawn uniformly from its range or choices) over the variance of "
        "the metric there; it differs from the ANOVA share when the search crowded some regions"
    ),
    "interval": (
        f"a {_PCT} bootstrap interval (bias-corrected percentile): the trials are resampled and "
        "the model refitted; it covers the share in the population the trials came from"
    ),
    "P(rank)": (
        "the probability, over the resamples, that the parameter ranks exactly where it is shown"
    ),
    "F, p": (
        "the type-II F test of the main effect (its df columns against the residual); p is not "
        "adjusted for the number of parameters"
    ),
    "treatment": (
        "how the parameter enters the model: spline(df) of its value (log10 for a log range), "
        "grid(k) or levels(k) with one coefficient per value, a simplex draw (the uniform the "
        "sampler drew for a loss weight), +not set for a conditional parameter"
    ),
    "reliability": (
        f"'unreliable' below {RELIABLE_PER_PARAM} trials per parameter, where rankings of "
        "functions with known answers are often wrong (benchmarks/importance_accuracy.py); "
        f"fANOVA is not computed below {FANOVA_MIN_PER_PARAM} trials per parameter"
    ),
    "interaction share": (
        "what a smooth two-way term adds beyond every main effect, less its chance level, over "
        "the total sum of squares: a lower bound of the pair's interaction (the term is coarse, "
        "and variance the pair shares with main effects is credited to them); p_holm is Holm-"
        "adjusted over the pairs tested"
    ),
    "stability": (
        "the ANOVA ranking recomputed at each epoch that enough trials reached; τ is Kendall's "
        "rank correlation of its shares with the reported epoch's: low τ means early stopping, "
        "not the parameters, drives the answer at early epochs"
    ),
}


def group_of(param: str, groups: Mapping[str, str] | None = None) -> str:
    """The group a parameter is reported in: the longest matching prefix, else its first section.

    ``groups`` maps a dotted prefix (or a full parameter name) to a group name and takes
    precedence over :data:`DEFAULT_GROUPS`.
    """
    for mapping in (groups or {}, DEFAULT_GROUPS):
        hits = [k for k in mapping if param == k or param.startswith(k.rstrip(".") + ".")]
        if hits:
            return mapping[max(hits, key=len)]
    return param.split(".", 1)[0]


@dataclass(frozen=True, eq=False)
class ImportanceReport:
    """Importance of every parameter for one outcome at one fidelity.

    Attributes:
        table: one row per parameter, most important first (ANOVA share, then fANOVA);
            columns :data:`TABLE_COLUMNS`; shares are fractions of the metric's variance (0–1),
            ``*_lo``/``*_hi`` their 90% intervals, ranks start at 1, ``*_rank_prob`` is the
            probability of that rank; :data:`DEFINITIONS` says what each means.
        interactions: :data:`INTERACTION_COLUMNS`, largest share first.
        groups: :data:`GROUP_COLUMNS`: shares summed over each group's parameters.
        stability: :data:`STABILITY_COLUMNS`: the ranking at each epoch enough trials reached.
        fidelity: the epoch and trials used, and the sentence saying why.
        notes: everything dropped, assumed or suspicious, in plain sentences.
        metric: the outcome analysed.
        mode: ``"max"`` or ``"min"`` for that outcome.
        experiment: the experiment's name.
        param_source: where the parameter list came from.
        estimate: the full estimate (draws, spline df, R²).
        settings: the arguments that produced the numbers.
    """

    table: pd.DataFrame
    interactions: pd.DataFrame
    groups: pd.DataFrame
    stability: pd.DataFrame
    fidelity: Fidelity
    notes: list[str]
    metric: str
    mode: str
    experiment: str
    param_source: str
    estimate: Estimate
    settings: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        """The header a renderer needs (see :data:`DEFINITIONS` for the columns)."""
        fid = self.fidelity
        return {
            "experiment": self.experiment,
            "metric": self.metric,
            "mode": self.mode,
            "header": fid.header,
            "banner": fid.banner,
            "param_source": self.param_source,
            "epoch": fid.epoch,
            "max_epoch": fid.max_epoch,
            "n_trials_total": fid.n_trials_total,
            "n_used": fid.n_used,
            "rule": fid.rule,
            "spline_df": self.estimate.spline_df,
            "unavailable": self.estimate.unavailable,
            "bootstrap": self.estimate.bootstrap,
            "level": LEVEL,
            "reliable": self.estimate.reliable,
            "r2": self.estimate.r2,
            "definitions": dict(DEFINITIONS),
            "notes": list(self.notes),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: NaN becomes ``None``, numpy scalars become Python numbers."""
        return jsonable(
            {
                **self.meta(),
                "fidelity": self.fidelity.to_dict(),
                "settings": self.settings,
                "parameters": self.table.to_dict("records"),
                "interactions": self.interactions.to_dict("records"),
                "groups": self.groups.to_dict("records"),
                "stability": self.stability.to_dict("records"),
            }
        )


def compute_importance(
    exp: Experiment,
    metric: str | None = None,
    epoch: int | None = None,
    interactions: int = 3,
    bootstrap: int = 200,
    seed: int = 0,
    *,
    stage: str | None = None,
    mode: str | None = None,
    groups: Mapping[str, str] | None = None,
    fanova: bool = True,
    mixed_budgets: bool = False,
    spline_df: int | None = None,
    stability: bool = True,
) -> ImportanceReport:
    """ANOVA and fANOVA importance of the experiment's parameters for one outcome.

    Args:
        exp: the loaded experiment.
        metric: any numeric outcome (default: the metric the search optimised).
        epoch: the fidelity (default: see :func:`analysis.choose_fidelity`).
        interactions: two-way interactions to test.
        bootstrap: resamples for the intervals and rank probabilities (0: none).
        seed: seed of the resampling.
        stage: analyse one stage of a plan (default: every stage pooled).
        mode: ``"max"``/``"min"`` for the outcome (default: the recorded or the harness's rule).
        groups: prefix → group name overrides (see :func:`group_of`).
        fanova: compute the functional ANOVA over the search space too.
        mixed_budgets: allow ``final.*``/``best.*`` of trials that ran different epochs.
        spline_df: the splines' degrees of freedom (default: chosen by GCV).
        stability: re-rank at every epoch that enough trials reached.

    Raises:
        ConfigError: unknown metric or stage, an epoch no trial reached, a bad ``mode``, mixed
            budgets without ``mixed_budgets``, or an outcome whose direction is unknown.
    """
    if stage is not None:
        exp = exp.only_stage(stage)
    fid = choose_fidelity(exp, metric, epoch, mixed_budgets=mixed_budgets)
    mode = exp.direction(fid.metric, mode)
    notes = list(exp.notes)
    if fid.banner:
        notes.insert(0, fid.banner)
    if exp.kind == "plan" and len(exp.stages) > 1:
        notes.append(
            f"trials of {len(exp.stages)} stages pooled ({', '.join(exp.stages)}); the stages "
            "searched different ranges: pass a stage to analyse one"
        )
    definition = exp.space_definition
    options = {
        "definition": definition, "interactions": interactions, "bootstrap": bootstrap,
        "seed": seed, "fanova": fanova, "spline_df": spline_df,
    }  # fmt: skip
    est = estimate_importance(fid.table, fid.params, "value", **options)
    if est.unavailable and epoch is None and fid.source == "curves":
        fid, est = _fittable_epoch(exp, fid, est, options)
    notes.extend(est.notes)
    notes.extend(_trials_needed(exp, fid, est))
    table = _table(est, groups)
    stable = pd.DataFrame(columns=STABILITY_COLUMNS)
    if stability and fid.source == "curves":
        stable = _stability(exp, fid, est, definition)
        notes.extend(_stability_note(stable, fid))
    settings = {
        "interactions": interactions, "bootstrap": bootstrap, "seed": seed, "stage": stage,
        "fanova": fanova, "spline_df": spline_df, "mixed_budgets": mixed_budgets,
    }  # fmt: skip
    return ImportanceReport(
        table=table,
        interactions=est.interactions[INTERACTION_COLUMNS].reset_index(drop=True),
        groups=_group_table(est, table, groups),
        stability=stable,
        fidelity=fid,
        notes=notes,
        metric=fid.metric,
        mode=mode,
        experiment=exp.name,
        param_source=exp.param_source,
        estimate=est,
        settings=settings,
    )


def _fittable_epoch(
    exp: Experiment, fid: Fidelity, est: Estimate, options: Mapping[str, Any]
) -> tuple[Fidelity, Estimate]:
    """When the default epoch holds too few trials for the model, the highest lower epoch
    where it can be fitted, with a rule and a header saying so; else ``fid`` and ``est``."""
    curves = exp.curves
    epochs = pd.to_numeric(curves.loc[curves[fid.metric].notna(), "epoch"], errors="coerce")
    lower = sorted({int(e) for e in epochs.dropna() if e < (fid.epoch or 0)}, reverse=True)
    for e in lower:
        at = choose_fidelity(exp, fid.metric, e)
        quick = estimate_importance(
            at.table, at.params, "value", definition=options["definition"], interactions=0,
            bootstrap=0, fanova=False, spline_df=options["spline_df"],
        )  # fmt: skip
        if quick.unavailable:
            continue
        reason = est.unavailable.removeprefix("n/a: ")
        rule = (
            f"{fid.metric} at epoch {e}, the highest epoch where the model can be fitted: at "
            f"the default epoch {fid.epoch} ({fid.n_used} trials) it cannot ({reason}); "
            f"{at.n_used} of {at.n_trials_total} trials used at epoch {e}"
        )
        why = f"epoch {fid.epoch}, the default, cannot be ranked: {reason}"
        full = estimate_importance(at.table, at.params, "value", **options)
        return replace(at, rule=rule + ".", reason=why), full
    return fid, est


def _trials_needed(exp: Experiment, fid: Fidelity, est: Estimate) -> list[str]:
    """How many trials, at which epoch, a reliable ranking of this many parameters needs (a
    note, when the ranking is not reliable)."""
    if est.reliable or not fid.params:
        return []
    analysed = len(fid.params) - len(est.dropped)
    need = RELIABLE_PER_PARAM * max(analysed, 1)
    where = f"epoch {fid.epoch}" if fid.epoch is not None else "the outcome"
    text = (
        f"a reliable ranking of {analysed} parameters needs {need} trials at one epoch "
        f"({RELIABLE_PER_PARAM} per parameter); {where} holds {fid.n_used}"
    )
    if fid.epoch is not None and fid.max_epoch and fid.n_used and fid.n_trials_total:
        reach = fid.n_used / fid.n_trials_total
        searched = int(np.ceil(need / reach))
        text += (
            f"; {reach:.0%} of this search's trials reached epoch {fid.epoch}, so a search like "
            f"it needs about {searched} trials to rank there"
        )
    return [text]


def _table(est: Estimate, groups: Mapping[str, str] | None) -> pd.DataFrame:
    out = est.effects.copy()
    out.insert(1, "group", [group_of(p, groups) for p in out["parameter"]])
    notes = []
    for r in out.itertuples():
        if str(r.treatment).startswith("dropped"):
            notes.append(str(r.treatment))
        elif est.unavailable:
            notes.append(est.unavailable)
        elif est.fanova_refused and est.fanova_refused != "not asked":
            notes.append(f"fANOVA {est.fanova_refused}")
        else:
            notes.append("")
    out["note"] = notes
    analysed = int((~out["treatment"].astype(str).str.startswith("dropped")).sum())
    out["reliability"] = (
        ""
        if est.reliable
        else f"unreliable: {est.n} trials for {analysed} parameters "
        f"(< {RELIABLE_PER_PARAM} per parameter)"
    )
    for col in ("anova_rank", "fanova_rank"):
        out[col] = out[col].astype("Int64")
    out = out.sort_values(["anova", "fanova"], ascending=False, na_position="last", kind="stable")
    return out[TABLE_COLUMNS].reset_index(drop=True)


def _group_table(
    est: Estimate, table: pd.DataFrame, groups: Mapping[str, str] | None
) -> pd.DataFrame:
    """Shares summed over each group, with a bias-corrected interval of the sum."""
    analysed = [
        p for p in est.effects["parameter"] if not str(_treatment(est, p)).startswith("dropped")
    ]
    rows = []
    for name, members in table.groupby("group", sort=False):
        row: list[Any] = [name]
        for method in ("anova", "fanova"):
            values = members[method].astype(float)
            total = float(values.sum()) if values.notna().any() else np.nan
            lo = hi = np.nan
            draws = est.draws.get(method)
            idx = [analysed.index(p) for p in members["parameter"] if p in analysed]
            if draws is not None and idx and np.isfinite(total):
                sums = np.nansum(draws[:, idx], axis=1)[:, None]
                (lo,), (hi,) = bias_corrected_interval(sums, np.array([total]), LEVEL)
            row += [total, lo, hi]
        rows.append(row)
    out = pd.DataFrame(rows, columns=GROUP_COLUMNS)
    return out.sort_values("anova", ascending=False, kind="stable").reset_index(drop=True)


def _treatment(est: Estimate, param: str) -> str:
    return str(est.effects.set_index("parameter").loc[param, "treatment"])


def _stability(
    exp: Experiment, fid: Fidelity, est: Estimate, definition: Mapping[str, Any] | None
) -> pd.DataFrame:
    """The ANOVA ranking at each epoch enough trials reached (same spline df); above 2,000
    trials, at the highest :data:`_STABILITY_EPOCHS` of them."""
    epochs = ranking_epochs(exp, fid.metric)
    if fid.epoch is not None and fid.epoch not in epochs:
        epochs = sorted({*epochs, fid.epoch})
    if len(epochs) < 2:
        return pd.DataFrame(columns=STABILITY_COLUMNS)
    # every such epoch; on a large experiment (each refit costs) the highest few
    shown = sorted(epochs) if fid.n_trials_total <= 2000 else sorted(epochs)[-_STABILITY_EPOCHS:]
    if fid.epoch is not None and fid.epoch not in shown:
        shown = sorted({*shown[1:], fid.epoch})
    reference = est.effects.set_index("parameter")["anova"].astype(float)
    rows = []
    for e in shown:
        at = fid if e == fid.epoch else choose_fidelity(exp, fid.metric, e)
        other = est
        if e != fid.epoch:
            other = estimate_importance(
                at.table, at.params, "value", definition=definition, interactions=0,
                bootstrap=0, fanova=False, spline_df=est.spline_df or None,
            )  # fmt: skip
        shares = other.effects.set_index("parameter")["anova"].astype(float)
        both = reference.dropna().index.intersection(shares.dropna().index)
        tau = float("nan")
        if len(both) >= 2:
            tau = float(stats.kendalltau(reference[both], shares[both]).statistic)
        top = shares.idxmax() if shares.notna().any() else ""
        rows.append([e, at.n_used, top, tau])
    return pd.DataFrame(rows, columns=STABILITY_COLUMNS)


def _stability_note(stable: pd.DataFrame, fid: Fidelity) -> list[str]:
    if stable.empty:
        return []
    low = stable[(stable["tau"] < _UNSTABLE_TAU) & (stable["epoch"] != fid.epoch)]
    if low.empty:
        return []
    epochs = ", ".join(str(int(e)) for e in low["epoch"])
    return [
        f"the ranking is not stable across epochs: at epoch(s) {epochs} it agrees poorly with "
        f"epoch {fid.epoch} (Kendall τ < {_UNSTABLE_TAU}); when the low epochs disagree, early "
        "stopping rather than the parameters may drive which trials are compared"
    ]
