"""The words every package shares: how a trial ended, and which way a metric improves.

They live in the lowest, torch-free package so that ``trials`` (which produces statuses),
``harness`` (which tells Optuna and draws progress) and ``analysis`` (which ranks trials) cannot
disagree. A status string or a "higher is better" rule written anywhere else is a bug.
"""

from __future__ import annotations

from enum import StrEnum

from search_spaces._errors import ConfigError

__all__ = [
    "BREAKDOWN_METRICS",
    "FAILURE_STATUSES",
    "FINISHED_STATUSES",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "RECIPE_METRICS",
    "SUCCESS_STATUSES",
    "TrialStatus",
    "check_recipe_metric",
    "metric_direction",
]


class TrialStatus(StrEnum):
    """How a trial ended (or that it has not yet).

    ``completed`` ran its whole length; ``early_stopped`` ended by the recipe's own early
    stopping (a success: its score is final); ``pruned`` was stopped early by the scheduler (ASHA);
    the failure statuses say why a trial could not go on; ``running`` marks a trial an
    interruption left unfinished.
    """

    COMPLETED = "completed"
    EARLY_STOPPED = "early_stopped"
    PRUNED = "pruned"
    MEMORY_CAP = "memory_cap"
    OOM = "oom"
    DIVERGED = "diverged"
    DATA_ERROR = "data_error"
    ERROR = "error"
    RUNNING = "running"


#: trials whose score is final and comparable (Optuna's COMPLETE)
SUCCESS_STATUSES = frozenset({TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED})
#: trials that could not go on (Optuna's FAIL, except memory_cap: told PRUNED with its peak
#: memory against the cap as a constraint, so TPE learns the infeasible region); the tables
#: keep which one
FAILURE_STATUSES = frozenset(
    {
        TrialStatus.MEMORY_CAP,
        TrialStatus.OOM,
        TrialStatus.DIVERGED,
        TrialStatus.DATA_ERROR,
        TrialStatus.ERROR,
    }
)
#: every status a trial can end with
FINISHED_STATUSES = SUCCESS_STATUSES | FAILURE_STATUSES | {TrialStatus.PRUNED}

#: metrics (and outcomes the tables record) where larger is better; the segmentation metrics
#: are those of ``trials.metrics`` (a test keeps the two in step), ``score`` is the analytic
#: objectives' value
HIGHER_IS_BETTER = frozenset(
    {
        "iou_lesion",
        "iou_background",
        "miou",
        "dice",
        "precision",
        "recall",
        "f1",
        "pixel_accuracy",
        "boundary_f1",
        "lesion_recall_small",
        "lesion_recall_medium",
        "lesion_recall_large",
        "images_per_s",
        "score",
        "accuracy",
    }
)
#: metrics where smaller is better
LOWER_IS_BETTER = frozenset(
    {
        "hd95",
        "fp_components_per_image",
        "ece",
        "brier",
        "train_loss",
        "val_loss",
        "loss",
        "peak_memory_bytes",
        "wall_time_s",
        "n_params",
    }
)
#: the validation metrics beyond the pixel ones, in one place for the trials that compute them
#: (``trials.metrics.BreakdownAccumulator``) and the statistics that compare them
#: (``analysis.paired``): lesion recall by lesion size (the strata of ``trials.metrics``),
#: false-positive components per image, expected calibration error and Brier score
BREAKDOWN_METRICS = (
    "lesion_recall_small",
    "lesion_recall_medium",
    "lesion_recall_large",
    "fp_components_per_image",
    "ece",
    "brier",
)
#: what ``trials.run_trial`` reports each epoch that a search can optimise: the validation
#: metrics of ``trials.metrics`` (its registry and ``BREAKDOWN_METRICS``, the lesion-size and
#: calibration metrics; a test keeps them in step) and the training loss; each loss term is
#: reported too, as ``loss_<term>``
RECIPE_METRICS = frozenset(
    {
        "iou_lesion",
        "iou_background",
        "miou",
        "dice",
        "precision",
        "recall",
        "f1",
        "pixel_accuracy",
        "boundary_f1",
        "hd95",
        *BREAKDOWN_METRICS,
        "train_loss",
    }
)
# suffixes and prefixes of lower-is-better names: losses, memory in bytes, durations in seconds
_LOWER_SUFFIXES = ("_loss", "_bytes", "_time_s")
_LOWER_PREFIXES = ("loss_",)
# table prefixes that do not change a metric's direction
_PREFIXES = ("final.", "best.", "val.", "mean.")


def check_recipe_metric(metric: str, option: str = "metric") -> str:
    """``metric`` if ``trials.run_trial`` reports it (a validation metric, the training loss or a
    ``loss_<term>``), else a ConfigError that lists the valid ones.

    ``option``: the parameter the metric was given as, named in the error (its ``param`` when it
    is a Python name)."""
    if metric in RECIPE_METRICS or metric.startswith("loss_"):
        return metric
    raise ConfigError(
        f"{option} {metric!r}: the recipe does not report it; valid: "
        f"{', '.join(sorted(RECIPE_METRICS))}, or loss_<term> for one loss term",
        params=_named(option),
    )


def _named(option: str, times: int = 1) -> tuple[str, ...]:
    """``option`` as the parameters of an error that names it ``times`` times (each mention
    becomes the flag on the command line), when it is a parameter's name; else none (a
    description such as ``spec.json: settings.mode``)."""
    return (option,) * times if option.isidentifier() else ()


def metric_direction(name: str, mode: str | None = None, *, option: str = "mode") -> str:
    """``"max"`` if larger values of ``name`` are better, ``"min"`` if smaller ones are.

    An explicit ``mode`` wins. Otherwise the metric must be one the harness knows (the
    segmentation metrics, losses, memory, time, images/s, ``score``); table prefixes such as
    ``final.`` and ``best.`` are ignored. An unknown name is an error rather than a silent
    ``"max"``: a search that guessed wrong would optimise the opposite of what was meant.

    Args:
        name: the metric, as a trial reports it or as a table column names it.
        mode: ``"max"``/``"min"`` given by the user, or ``None``.
        option: the parameter the user sets the direction with, named in the error (its
            ``param`` when it is a Python name).

    Raises:
        ConfigError: ``mode`` is neither ``"max"`` nor ``"min"``, or ``name`` is unknown and no
            ``mode`` was given.
    """
    if mode is not None:
        if mode not in ("max", "min"):
            raise ConfigError(
                f"{option} must be 'max' or 'min', got {mode!r}", params=_named(option)
            )
        return mode
    base = name
    for prefix in _PREFIXES:
        if base.startswith(prefix):
            base = base[len(prefix) :]
    if base in HIGHER_IS_BETTER:
        return "max"
    if (
        base in LOWER_IS_BETTER
        or base.endswith(_LOWER_SUFFIXES)
        or base.startswith(_LOWER_PREFIXES)
    ):
        return "min"
    known = ", ".join(sorted(HIGHER_IS_BETTER | LOWER_IS_BETTER))
    raise ConfigError(
        f"metric {name!r}: the harness does not know whether larger or smaller is better; "
        f"give {option} max or {option} min (known metrics: {known})",
        params=_named(option, times=2),
    )
