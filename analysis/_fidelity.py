"""The fidelity at which importance is computed: which epoch, which trials, which value.

ASHA (Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020) stops most
trials after a few epochs. Comparing a stopped trial's last value with a finished trial's value
would rank "was stopped early" as a bad parameter setting; comparing every trial at its own last
epoch mixes budgets. So importance is computed at ONE epoch, using each trial's metric at that
epoch, among the trials that reached it; trials stopped before it are left out, not counted as bad.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis._load import Experiment
from search_spaces import ConfigError, TrialStatus

__all__ = [
    "RELIABLE_PER_PARAM",
    "Fidelity",
    "choose_fidelity",
    "default_epoch",
    "ranking_epochs",
    "resolve_metric",
]

MIN_TRIALS = 10
MIN_SHARE = 0.2
# measured with benchmarks/importance_accuracy.py on Ishigami with 0 and 7 extra no-effect
# parameters: ANOVA ordered the real effects right in 4-7 of 10 runs at 5-10 trials per parameter
# and in 10 of 10 at 17-20; below this the report calls a ranking unreliable, and the default
# epoch is the highest one that this many trials per parameter reached
RELIABLE_PER_PARAM = 15
# without an epoch that a reliable number of trials reached, the highest epoch that this share
# of the trials reached: ASHA's first rung, where every trial is compared (a few that a budget
# or a failure cut short are left out rather than pulling the epoch down to 1)
MOST_SHARE = 0.9
# outcomes measured once per trial; analysed from trials.parquet even when curves have them too
_TRIAL_LEVEL = ("peak_memory_bytes", "wall_time_s", "images_per_s", "epochs", "best_epoch")
_CURVE_KEYS = ("trial_id", "epoch", "stage")


@dataclass(frozen=True, eq=False)
class Fidelity:
    """The chosen fidelity and the table importance is computed on.

    Attributes:
        metric: the outcome analysed (a column of ``curves`` or of ``trials``).
        source: ``"curves"`` (a value per epoch) or ``"trials"`` (one value per trial).
        epoch: the epoch the values come from; ``None`` for a trial-level outcome without
            ``epoch``.
        n_trials_total: trials in the experiment.
        n_used: trials in ``table``.
        rule: one or two sentences saying how the epoch and the trials were chosen.
        table: one row per used trial: key columns (``trial_id``, and ``stage`` for a plan),
            ``status``, ``epochs`` (the epochs the trial ran), the parameters, the sampler's raw
            coordinates (``raw.*``) where recorded, and ``value``.
        params: the parameter columns of ``table``.
        max_epoch: M, a trial's full length: ``spec.json``'s ``settings.max_epochs`` (for a
            plan, the largest over its stages), never less than an epoch a trial reached; else
            the largest epoch in ``curves.parquet`` (or ``epochs`` of ``trials.parquet``); else
            ``None``.
        banner: with ``mixed_budgets``, the one-sentence warning that trials of different
            lengths are compared; ``None`` otherwise.
        reason: when the default epoch could not be ranked and a lower one was, why, in a few
            words (shown in :attr:`header`); else ``None`` (:attr:`rule` says why this epoch).
    """

    metric: str
    source: str
    epoch: int | None
    n_trials_total: int
    n_used: int
    rule: str
    table: pd.DataFrame
    params: list[str]
    max_epoch: int | None = None
    banner: str | None = None
    reason: str | None = None

    @property
    def header(self) -> str:
        """The fidelity in a few words: ``"epoch 2 of 12, 14 of 24 trials"``; ``"once per
        trial, 14 of 24 trials"`` for a trial-level outcome without an epoch; ``"epoch 2, 14 of
        24 trials"`` when M is unknown; a fallback's reason follows in parentheses."""
        used = f"{self.n_used} of {self.n_trials_total} trials"
        if self.epoch is None:
            text = f"once per trial, {used}"
        elif self.max_epoch is None:
            text = f"epoch {self.epoch}, {used}"
        else:
            text = f"epoch {self.epoch} of {self.max_epoch}, {used}"
        return f"{text} ({self.reason})" if self.reason else text

    def to_dict(self) -> dict[str, object]:
        """JSON-able summary (without the table)."""
        return {
            "metric": self.metric,
            "source": self.source,
            "epoch": self.epoch,
            "max_epoch": self.max_epoch,
            "n_trials_total": self.n_trials_total,
            "n_used": self.n_used,
            "rule": self.rule,
            "header": self.header,
            "banner": self.banner,
            "reason": self.reason,
        }


def resolve_metric(exp: Experiment, metric: str | None = None) -> tuple[str, str]:
    """Where an outcome lives: ``("curves", column)`` or ``("trials", column)``.

    Order: ``final.*``/``best.*`` and per-trial outcomes (peak memory, wall time, images/s) from
    ``trials.parquet``; any other name per epoch from ``curves.parquet``; failing that, its
    ``final.<name>`` column.

    Raises:
        ConfigError: the name is in neither table; the message lists what is available.
    """
    name = metric or exp.metric
    trials, curves = exp.trials, exp.curves
    per_trial = _once_per_trial(name) or name not in curves
    if per_trial and name not in exp.params and _numeric_column(trials, name):
        return "trials", name
    if name not in _CURVE_KEYS and _numeric_column(curves, name):
        return "curves", name
    if _numeric_column(trials, f"final.{name}"):
        return "trials", f"final.{name}"
    raise ConfigError(_no_such_outcome(exp, name), param="metric")


def _once_per_trial(name: str) -> bool:
    """Whether ``name`` is an outcome measured once per trial (``final.*``, ``best.*``, ...)."""
    return name.startswith(("final.", "best.")) or name in _TRIAL_LEVEL


def _numeric_column(table: pd.DataFrame, name: str) -> bool:
    return name in table.columns and _numeric(table[name])


def _no_such_outcome(exp: Experiment, name: str) -> str:
    """The error for an unknown outcome, listing the outcomes ``exp`` does record."""
    trials, curves = exp.trials, exp.curves
    per_epoch = [c for c in curves.columns if c not in _CURVE_KEYS and _numeric(curves[c])]
    per_trial = [c for c in trials.columns if _once_per_trial(c) and _numeric(trials[c])]
    return (
        f"metric {name!r}: {exp.path} records no such outcome; per epoch: "
        f"{', '.join(per_epoch) or '(none)'}; per trial: {', '.join(per_trial) or '(none)'}"
    )


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def choose_fidelity(
    exp: Experiment,
    metric: str | None = None,
    epoch: int | None = None,
    *,
    mixed_budgets: bool = False,
) -> Fidelity:
    """Pick the epoch and the trials to compute importance on.

    Default epoch: the highest epoch that at least ``max(10, 20%)`` of the trials with a value
    reached (all of them when fewer than 10 have one). ``epoch`` overrides it. Outcomes recorded
    once per trial (peak memory, wall time, images/s, ``final.*``) use the trial-level column;
    with ``epoch``, only trials that ran at least that many epochs.

    A ``final.*`` or ``best.*`` value of trials that ended at different epochs (ASHA stopped
    some) compares budgets, not parameters: it is refused unless ``mixed_budgets``, and then
    :attr:`Fidelity.banner` says so.

    Raises:
        ConfigError: unknown metric, no trial with a value, no trial reached ``epoch``, or a
            ``final.*``/``best.*`` outcome of trials of different lengths without
            ``mixed_budgets`` (the message names the ways out).
    """
    source, column = resolve_metric(exp, metric)
    if epoch is not None and (isinstance(epoch, bool) or int(epoch) != epoch or epoch < 1):
        raise ConfigError(f"epoch must be a whole number >= 1, got {epoch!r}", param="epoch")
    if source == "curves":
        return _from_curves(exp, column, epoch)
    return _from_trials(exp, column, epoch, metric or exp.metric, mixed_budgets)


def _need(n: int) -> int:
    """Trials an epoch needs to be ranked at: ``max(min(10, n), ceil(20% of n))``."""
    return max(min(MIN_TRIALS, n), math.ceil(MIN_SHARE * n))


def default_epoch(reached: pd.Series, params: int | None = None) -> int:
    """The default epoch of ``n`` trials (``reached``: each trial's last epoch with a value).

    Without ``params``: the highest epoch that at least ``max(min(10, n), ceil(20% of n))``
    reached (what a plan narrows on: where the best trials are compared at the longest budget).

    With ``params`` (the report's rule for ranking that many parameters): the highest epoch that
    :data:`RELIABLE_PER_PARAM` trials per parameter reached, what a reliable ranking needs;
    failing that, the highest epoch that 90% of the trials reached (ASHA's first rung), where
    the most trials are compared. On LCBench searches the highest epoch of the first rule
    ranked the parameters worse than this one (benchmarks/importance_search.py): its trials
    are the few a TPE search crowded into the good region.

    Trials ASHA stopped before the epoch are left out rather than compared at a budget they
    never had.
    """
    epochs = sorted(reached.unique(), reverse=True)
    if params:
        need = RELIABLE_PER_PARAM * params
        enough = [int(e) for e in epochs if (reached >= e).sum() >= need]
        if enough:
            return enough[0]
        most = math.ceil(MOST_SHARE * len(reached))
        return next(int(e) for e in epochs if (reached >= e).sum() >= most)
    need = _need(len(reached))
    return next(int(e) for e in epochs if (reached >= e).sum() >= need)


def ranking_epochs(exp: Experiment, metric: str | None = None) -> list[int]:
    """Every epoch (ascending) with enough trials to rank parameters at: at least
    ``max(min(10, n), ceil(20% of n))`` of the ``n`` trials with a value of ``metric`` reached
    it (the rule of :func:`default_epoch`, whose answer is the last of these).

    Returns:
        The epochs; ``[]`` for an outcome recorded once per trial.

    Raises:
        ConfigError: unknown metric, or no trial has a finite value of it.
    """
    source, column = resolve_metric(exp, metric)
    if source != "curves":
        return []
    curves = _valued(exp, column)
    reached = curves.groupby(exp.keys)["epoch"].max()
    need = _need(len(reached))
    return [int(e) for e in sorted(curves["epoch"].unique()) if (reached >= e).sum() >= need]


def _valued(exp: Experiment, metric: str) -> pd.DataFrame:
    """Rows of ``curves`` with a finite value of ``metric``, one per trial and epoch."""
    keys = exp.keys
    curves = exp.curves[[*keys, "epoch", metric]]
    curves = curves[_finite(curves[metric])]
    # a restored trial may report an epoch twice: its last report stands
    curves = curves.drop_duplicates([*keys, "epoch"], keep="last")
    if curves.empty:
        raise ConfigError(
            f"metric {metric}: no trial of {exp.path} has a finite value of it", param="metric"
        )
    return curves


def _max_epoch(exp: Experiment) -> int | None:
    """M: the recorded full length, never below an epoch a trial reached; else the largest
    epoch seen (curves, else the trials' ``epochs``); else ``None``."""
    seen = []
    if not exp.curves.empty:
        seen.append(int(exp.curves["epoch"].max()))
    if "epochs" in exp.trials.columns:
        epochs = pd.to_numeric(exp.trials["epochs"], errors="coerce").dropna()
        if not epochs.empty:
            seen.append(int(epochs.max()))
    candidates = [*seen, *([exp.max_epochs] if exp.max_epochs is not None else [])]
    return max(candidates, default=None)


def _base(exp: Experiment) -> pd.DataFrame:
    raw = [c for c in exp.trials.columns if str(c).startswith("raw.")]
    cols = list(dict.fromkeys([*exp.keys, "status", "epochs", *exp.params, *raw]))
    return exp.trials[[c for c in cols if c in exp.trials.columns]]


def _finite(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    return numbers.notna() & np.isfinite(numbers.to_numpy(na_value=np.nan))


def _from_curves(exp: Experiment, metric: str, epoch: int | None) -> Fidelity:
    keys = exp.keys
    total = len(exp.trials)
    curves = _valued(exp, metric)
    reached = curves.groupby(keys)["epoch"].max()
    n_valued = len(reached)
    if epoch is None:
        chosen = default_epoch(reached, len(exp.params))
        why = _default_why(reached, len(exp.params))
    else:
        chosen = int(epoch)
        if not (curves["epoch"] == chosen).any():
            raise ConfigError(
                f"epoch {chosen}: no trial of {exp.path} has a value of {metric} at epoch "
                f"{chosen}; epochs with values: {int(curves['epoch'].min())} to "
                f"{int(curves['epoch'].max())}",
                param="epoch",
            )
        why = "as asked (--epoch)"
    at = curves[curves["epoch"] == chosen][[*keys, metric]].rename(columns={metric: "value"})
    table = _base(exp).merge(at, on=keys, how="inner").reset_index(drop=True)
    stopped = int((reached < chosen).sum())
    parts = [f"{metric} at epoch {chosen}, {why}: {len(table)} of {total} trials used"]
    if stopped:
        parts.append(f"{stopped} stopped before epoch {chosen} are left out, not counted as bad")
    if total > n_valued:
        parts.append(f"{total - n_valued} without any value of {metric} are left out")
    return Fidelity(
        metric=metric,
        source="curves",
        epoch=chosen,
        n_trials_total=total,
        n_used=len(table),
        rule="; ".join(parts) + ".",
        table=table,
        params=list(exp.params),
        max_epoch=_max_epoch(exp),
    )


def _default_why(reached: pd.Series, params: int) -> str:
    """Why :func:`default_epoch` chose its epoch, a clause for the rule."""
    need = RELIABLE_PER_PARAM * params
    n = len(reached)
    if not params:
        return f"the highest epoch that max({MIN_TRIALS}, {MIN_SHARE:.0%}) of the trials reached"
    if n >= need:  # every trial reached the lowest epoch: some epoch holds enough
        return (
            f"the highest epoch that {need} of the {n} trials with a value reached "
            f"({RELIABLE_PER_PARAM} per parameter, what a reliable ranking of {params} needs)"
        )
    most = math.ceil(MOST_SHARE * n)
    return (
        f"the highest epoch that {most} of the {n} trials with a value reached "
        f"({MOST_SHARE:.0%}): no epoch holds the {need} trials a reliable ranking of {params} "
        f"parameters needs ({RELIABLE_PER_PARAM} each), so the epoch with the most trials"
    )


def _from_trials(
    exp: Experiment, column: str, epoch: int | None, asked: str, mixed_budgets: bool
) -> Fidelity:
    trials = exp.trials
    total = len(trials)
    keep = _finite(trials[column])
    if "status" in trials.columns:
        keep &= trials["status"] != TrialStatus.RUNNING
    parts = [f"{column} is recorded once per trial (trials.parquet), not per epoch"]
    if epoch is not None:
        chosen = int(epoch)
        keep &= pd.to_numeric(trials.get("epochs"), errors="coerce").fillna(0) >= chosen
        parts.append(f"trials that ran at least {chosen} epochs (--epoch)")
    else:
        chosen = None
    if column == "wall_time_s" or column.endswith(".wall_time_s"):
        parts.append("wall time grows with the epochs a trial ran, so early stops lower it")
    table = _base(exp).loc[keep].copy()
    table["value"] = pd.to_numeric(trials.loc[keep, column], errors="coerce").astype(float)
    table = table.reset_index(drop=True)
    if table.empty:
        raise ConfigError(
            f"metric {column}: no finished trial of {exp.path} has a finite value"
            + (f" after {chosen} epochs" if chosen is not None else ""),
            param="metric",
        )
    banner = None
    if column.startswith(("final.", "best.")):
        ended = _ended(exp, keep)
        if ended is not None and ended.nunique() > 1:
            if not mixed_budgets:
                message, params = _mixed_message(exp, asked, column, ended)
                raise ConfigError(message, params=params)
            first, last = int(ended.min()), int(ended.max())
            banner = (
                f"MIXED BUDGETS: {column} is {_per_run(column)}, and the {len(ended)} trials "
                f"ended at epochs {first} to {last}; a parameter that decided when a trial was "
                "stopped looks important."
            )
            parts.append(f"mixed budgets allowed (--mixed-budgets): epochs {first} to {last}")
    parts.append(f"{len(table)} of {total} trials have a value and are used")
    return Fidelity(
        metric=column,
        source="trials",
        epoch=chosen,
        n_trials_total=total,
        n_used=len(table),
        rule="; ".join(parts) + ".",
        table=table,
        params=list(exp.params),
        max_epoch=_max_epoch(exp),
        banner=banner,
    )


def _ended(exp: Experiment, keep: pd.Series) -> pd.Series | None:
    """The last epoch of each used trial: the ``epochs`` column, else the last epoch of its
    curve; ``None`` when neither tells."""
    trials = exp.trials.loc[keep]
    if "epochs" in trials.columns:
        epochs = pd.to_numeric(trials["epochs"], errors="coerce").dropna()
        if not epochs.empty:
            return epochs.astype(int)
    if exp.curves.empty:
        return None
    last = exp.curves.groupby(exp.keys)["epoch"].max().rename("last").reset_index()
    ended = trials[exp.keys].merge(last, on=exp.keys, how="inner")["last"]
    return ended.astype(int) if not ended.empty else None


def _per_run(column: str) -> str:
    if column.startswith("best."):
        return "each trial's best value over its own run"
    return "each trial's value at the end of its own run"


def _mixed_message(
    exp: Experiment, asked: str, column: str, ended: pd.Series
) -> tuple[str, tuple[str, ...]]:
    """The refusal of mixed budgets and the parameters it names, in order (``metric`` twice
    when it suggests another metric: each mention becomes the flag on the command line)."""
    first, last = int(ended.min()), int(ended.max())
    stopped = int((ended < last).sum())
    what = f"metric {asked}"
    if asked != column:
        what += f" (no values per epoch in {exp.path.name}/curves.parquet, so {column})"
    base = column.split(".", 1)[1]
    per_epoch = [
        c
        for c in exp.curves.columns
        if c not in _CURVE_KEYS
        and c not in ("timestamp", "time_total_s")
        and _numeric(exp.curves[c])
    ]
    example = base if base in per_epoch else (per_epoch[0] if per_epoch else None)
    # "an outcome recorded per epoch", not "a per-epoch metric": the word metric is kept for
    # the parameter, whose every mention the command line turns into its flag
    way = (
        f"an outcome recorded per epoch (e.g. metric {example}), analysed at one epoch that "
        "enough trials reached"
        if example
        else "an outcome recorded per epoch, analysed at one epoch (this experiment's "
        "curves.parquet has none)"
    )
    message = (
        f"{what}: {_per_run(column)}, but the {len(ended)} trials "
        f"ended at epochs {first} to {last} (ASHA stopped {stopped} of {len(ended)} trials "
        f'before epoch {last}); comparing them ranks "was stopped early" as a parameter '
        f"effect. Use {way}, or pass mixed_budgets to compare them anyway, with a warning"
    )
    metrics = ("metric", "metric") if example else ("metric",)
    return message, (*metrics, "mixed_budgets")
