"""Parameter importance of an experiment: ANOVA and fANOVA side by side at one stated fidelity.

:func:`compute_importance` is pure and seeded: the same directory and arguments give the same
numbers. It returns data frames and a JSON-able dict; rendering lives elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis._fidelity import Fidelity, choose_fidelity
from analysis._json import jsonable
from analysis._load import Experiment
from analysis.importance._anova import AnovaResult, anova_importance, group_of, one_blas_thread
from analysis.importance._fanova import FanovaResult, distributions_from_space, fanova_importance
from search_spaces import ConfigError

__all__ = ["TABLE_COLUMNS", "FanovaSettings", "ImportanceReport", "compute_importance"]

TABLE_COLUMNS = [
    "parameter",
    "group",
    "treatment",
    "anova_eta2",
    "anova_eta2_lo",
    "anova_eta2_hi",
    "anova_partial_eta2",
    "anova_F",
    "anova_p",
    "fanova",
    "fanova_sd",
    "rank_anova",
    "rank_fanova",
    "levels",
    "anova_df",
    "fanova_raw",
    "anova_note",
]
# the binned model "explains much less" than fANOVA's forest when both hold
_GAP, _RATIO, _FINER_GAIN = 0.15, 0.6, 0.05


@dataclass(frozen=True)
class FanovaSettings:
    """How fANOVA's forests are grown (see :func:`analysis.fanova_importance`).

    fANOVA dominates the cost of :func:`compute_importance`: on a 10,000-trial, 20-parameter
    experiment it took 10 s in all with the default (5 forests of 8 trees, depth 10, at most
    1,000 trials) and 2.3 s with :meth:`fast`, on a 2-core test machine.
    """

    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    n_trees: int = 8
    max_depth: int = 10
    max_trials: int = 1000

    def __post_init__(self) -> None:
        if not self.seeds or min(self.n_trees, self.max_depth, self.max_trials) < 1:
            raise ConfigError(
                "fANOVA settings: need at least one seed and n_trees, max_depth, max_trials "
                f">= 1; got {self}"
            )

    @classmethod
    def fast(cls) -> FanovaSettings:
        """3 forests of 4 trees on at most 500 trials: for very large experiments."""
        return cls(seeds=(0, 1, 2), n_trees=4, max_depth=10, max_trials=500)

    @classmethod
    def for_trials(cls, n_trials: int) -> FanovaSettings:
        """The default for an experiment of ``n_trials``: :meth:`fast` above 2,000 trials, where
        Optuna's pure-Python marginals would otherwise take tens of seconds."""
        return cls.fast() if n_trials > 2000 else cls()


@dataclass(frozen=True, eq=False)
class ImportanceReport:
    """Importance of every parameter for one outcome at one fidelity.

    Attributes:
        table: one row per parameter, most important first (by ANOVA, then fANOVA); columns
            :data:`TABLE_COLUMNS`. eta² columns are shares of the outcome's variance (0–1);
            ``fanova`` is the normalised main effect (parameters sum to 1); ranks start at 1.
        interactions: ``a``, ``b``, ``eta2``, ``F``, ``p``, ``df``, ``sum_sq``, largest first.
        groups: ``group``, ``anova_eta2`` (sum, with ``anova_eta2_lo``/``anova_eta2_hi``),
            ``fanova`` (sum), largest ANOVA share first.
        fidelity: the epoch and trials used, and the sentence saying why.
        notes: everything dropped, assumed or suspicious, in plain sentences.
        metric: the outcome column analysed.
        mode: ``"max"`` or ``"min"`` for that outcome.
        experiment: the experiment's name.
        binned_r2: R² of ANOVA's main-effects model.
        fanova_main_effect_share: share of the forest's variance in main effects (NaN if none).
        settings: the arguments that produced the numbers.
        anova: the full ANOVA result (sums of squares, factor treatment).
        fanova: the full fANOVA result, or ``None`` when it was not asked for.
    """

    table: pd.DataFrame
    interactions: pd.DataFrame
    groups: pd.DataFrame
    fidelity: Fidelity
    notes: list[str]
    metric: str
    mode: str
    experiment: str
    binned_r2: float
    fanova_main_effect_share: float
    settings: dict[str, Any] = field(default_factory=dict)
    anova: AnovaResult | None = None
    fanova: FanovaResult | None = None

    def meta(self) -> dict[str, Any]:
        """The header a renderer needs: experiment, metric, mode, fidelity, bins, notes."""
        fid = self.fidelity
        return {
            "experiment": self.experiment,
            "metric": self.metric,
            "mode": self.mode,
            "epoch": fid.epoch,
            "n_trials_total": fid.n_trials_total,
            "n_used": fid.n_used,
            "rule": fid.rule,
            "bins": self.settings.get("bins"),
            "notes": list(self.notes),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: NaN becomes ``None``, numpy scalars become Python numbers."""
        return jsonable(
            {
                "experiment": self.experiment,
                "metric": self.metric,
                "mode": self.mode,
                "fidelity": self.fidelity.to_dict(),
                "settings": self.settings,
                "binned_r2": self.binned_r2,
                "anova_shared": None if self.anova is None else self.anova.shared,
                "fanova_main_effect_share": self.fanova_main_effect_share,
                "parameters": self.table.to_dict("records"),
                "interactions": self.interactions.to_dict("records"),
                "groups": self.groups.to_dict("records"),
                "notes": list(self.notes),
            }
        )


def compute_importance(
    exp: Experiment,
    metric: str | None = None,
    epoch: int | None = None,
    bins: int = 4,
    interactions: int = 3,
    bootstrap: int = 200,
    seed: int = 0,
    *,
    stage: str | None = None,
    mode: str | None = None,
    groups: Mapping[str, str] | None = None,
    fanova: FanovaSettings | None = FanovaSettings(),
) -> ImportanceReport:
    """ANOVA and fANOVA importance of the experiment's parameters for one outcome.

    Args:
        exp: the loaded experiment.
        metric: any numeric outcome (default: the metric the search optimised); a per-epoch
            metric, or a per-trial one such as ``peak_memory_bytes`` or ``images_per_s``.
        epoch: the fidelity (default: see :func:`analysis.choose_fidelity`).
        bins: quantile bins of continuous parameters for ANOVA.
        interactions: two-way interactions to test.
        bootstrap: resamples for the eta² intervals.
        seed: seed of the bootstrap.
        stage: analyse one stage of a plan (default: every stage pooled).
        mode: ``"max"``/``"min"`` for the outcome (default: see
            :meth:`analysis.Experiment.direction`: the mode ``spec.json`` records for the search's
            metric, else the harness's rule :func:`search_spaces.metric_direction`).
        groups: prefix → group name overrides (see :func:`analysis.group_of`).
        fanova: forest settings, or ``None`` to skip fANOVA.

    Raises:
        ConfigError: unknown metric or stage, an epoch no trial reached, a bad ``mode``, or an
            outcome whose direction is unknown and not given by ``mode``.
    """
    with one_blas_thread():
        return _compute(exp, metric, epoch, bins, interactions, bootstrap, seed, stage, mode,
                        groups, fanova)  # fmt: skip


def _compute(
    exp: Experiment,
    metric: str | None,
    epoch: int | None,
    bins: int,
    interactions: int,
    bootstrap: int,
    seed: int,
    stage: str | None,
    mode: str | None,
    groups: Mapping[str, str] | None,
    fanova: FanovaSettings | None,
) -> ImportanceReport:
    if stage is not None:
        exp = exp.only_stage(stage)
    fid = choose_fidelity(exp, metric, epoch)
    mode = exp.direction(fid.metric, mode)
    params = fid.params
    notes = list(exp.notes)
    if exp.kind == "plan" and len(exp.stages) > 1:
        notes.append(
            f"trials of {len(exp.stages)} stages pooled ({', '.join(exp.stages)}); the stages "
            "searched different ranges: pass a stage to analyse one"
        )
    anova = anova_importance(
        fid.table, params, "value", bins, interactions, bootstrap, seed, groups
    )
    notes.extend(anova.notes)
    fan = None
    if fanova is not None:
        known = distributions_from_space(exp.space_definition) if exp.space_definition else {}
        fan = fanova_importance(
            fid.table, params, "value", mode, known, fanova.seeds, fanova.n_trees,
            fanova.max_depth, fanova.max_trials,
        )  # fmt: skip
        notes.extend(fan.notes)
    table = _table(anova, fan)
    share = fan.main_effect_share if fan is not None else float("nan")
    notes.extend(_resolution_note(fid.table, params, anova, share, bins, groups))
    notes.extend(_disagreement_note(table))
    settings = {
        "bins": bins,
        "interactions": interactions,
        "bootstrap": bootstrap,
        "seed": seed,
        "stage": stage,
        "fanova": None if fanova is None else {
            "seeds": list(fanova.seeds), "n_trees": fanova.n_trees,
            "max_depth": fanova.max_depth, "max_trials": fanova.max_trials,
        },
    }  # fmt: skip
    return ImportanceReport(
        table=table,
        interactions=anova.interactions[["a", "b", "eta2", "F", "p", "df", "sum_sq"]],
        groups=_group_table(anova, table, groups),
        fidelity=fid,
        notes=notes,
        metric=fid.metric,
        mode=mode,
        experiment=exp.name,
        binned_r2=anova.binned_r2,
        fanova_main_effect_share=share,
        settings=settings,
        anova=anova,
        fanova=fan,
    )


def _table(anova: AnovaResult, fan: FanovaResult | None) -> pd.DataFrame:
    a = anova.effects.set_index("parameter")
    out = pd.DataFrame(
        {
            "parameter": a.index,
            "group": a["group"].to_numpy(),
            "treatment": a["treatment"].to_numpy(),
            "anova_eta2": a["eta2"].to_numpy(dtype=float),
            "anova_eta2_lo": a["eta2_lo"].to_numpy(dtype=float),
            "anova_eta2_hi": a["eta2_hi"].to_numpy(dtype=float),
            "anova_partial_eta2": a["partial_eta2"].to_numpy(dtype=float),
            "anova_F": a["F"].to_numpy(dtype=float),
            "anova_p": a["p"].to_numpy(dtype=float),
        }
    )
    f = fan.importance.set_index("parameter") if fan is not None else None
    for col, src in (
        ("fanova", "fanova"),
        ("fanova_sd", "fanova_sd"),
        ("fanova_raw", "fanova_raw"),
    ):
        out[col] = f[src].reindex(a.index).to_numpy(dtype=float) if f is not None else np.nan
    out["rank_anova"] = out["anova_eta2"].rank(ascending=False, method="min").astype("Int64")
    out["rank_fanova"] = out["fanova"].rank(ascending=False, method="min").astype("Int64")
    out["levels"] = a["levels"].astype("Int64").array
    out["anova_df"] = a["df"].to_numpy(dtype=float)
    # why a share is missing, said in the table itself: the parameter was dropped, or ANOVA
    # could not be fitted at all (too few trials ...)
    missing = ~np.isfinite(out["anova_eta2"].to_numpy(dtype=float))
    dropped = out["treatment"].astype(str).str.startswith("dropped")
    reason = anova.unavailable or "n/a: not estimable"
    short = (
        out["treatment"]
        .astype(str)
        .str.split(" with ")
        .str[0]
        .str.replace("determined by the other parameters", "collinear")
    )
    out["anova_note"] = np.where(missing, np.where(dropped, short, reason), "")
    out = out.sort_values(
        ["anova_eta2", "fanova"], ascending=False, na_position="last", kind="stable"
    )
    return out[TABLE_COLUMNS].reset_index(drop=True)


def _group_table(
    anova: AnovaResult, table: pd.DataFrame, groups: Mapping[str, str] | None
) -> pd.DataFrame:
    g = anova.groups.rename(
        columns={"eta2": "anova_eta2", "eta2_lo": "anova_eta2_lo", "eta2_hi": "anova_eta2_hi"}
    )
    sums = table.assign(group=[group_of(p, groups) for p in table["parameter"]]).groupby(
        "group", sort=False
    )["fanova"]
    fan = sums.sum(min_count=1)
    g["fanova"] = g["group"].map(fan).astype(float)
    return g.reset_index(drop=True)


def _adjusted(r2: float, n: int, residual_df: float) -> float:
    if not (math.isfinite(r2) and residual_df > 0):
        return float("nan")
    return 1.0 - (1.0 - r2) * (n - 1) / residual_df


def _resolution_note(
    table: pd.DataFrame,
    params: list[str],
    anova: AnovaResult,
    share: float,
    bins: int,
    groups: Mapping[str, str] | None,
) -> list[str]:
    """Say so when the bins average away structure that a finer look sees.

    Trigger: the binned model's R² is well below the share of variance in fANOVA's main effects
    (or, without fANOVA, unconditionally), and ANOVA with twice the bins gains adjusted R²; the
    second check keeps a forest that fits noise from raising a false alarm.
    """
    binned = anova.effects["treatment"].astype(str).str.startswith("binned")
    r2 = anova.binned_r2
    if not binned.any() or not math.isfinite(r2):
        return []
    has_fanova = math.isfinite(share)
    if has_fanova and not (share - r2 >= _GAP and r2 < _RATIO * share):
        return []
    finer = anova_importance(table, params, "value", bins * 2, 0, 0, 0, groups)
    gain = _adjusted(finer.binned_r2, finer.n, finer.residual_df) - _adjusted(
        r2, anova.n, anova.residual_df
    )
    if not (math.isfinite(gain) and gain >= (_FINER_GAIN if has_fanova else 2 * _FINER_GAIN)):
        return []
    versus = f" vs fANOVA's {share:.0%} (main effects of its forest)" if has_fanova else ""
    return [
        f"binned ANOVA explains {r2:.0%} of the variance{versus}; with {bins * 2} bins it "
        f"explains {finer.binned_r2:.0%}: the {bins} bins may hide structure (e.g. a periodic "
        f"effect); try --bins {bins * 2} or more"
    ]


def _disagreement_note(table: pd.DataFrame) -> list[str]:
    both = table.dropna(subset=["anova_eta2", "fanova"])  # assessed by both methods
    if len(both) < 2:
        return []
    top_a = both.loc[both["anova_eta2"] == both["anova_eta2"].max(), "parameter"].tolist()
    top_f = both.loc[both["fanova"] == both["fanova"].max(), "parameter"].tolist()
    if not set(top_a) & set(top_f):
        return [
            f"ANOVA and fANOVA disagree on the most important parameter ({top_a[0]} vs "
            f"{top_f[0]}): ANOVA compares bin means of the trials as sampled, fANOVA the "
            "forest's marginals over the whole space"
        ]
    return []
