"""An experiment directory as tidy tables: trials (one row per trial) and curves (trial × epoch).

The harness writes, for one search, ``spec.json``, ``trials.parquet`` and ``curves.parquet`` in
``runs/<name>/``; for a staged plan, ``spec.json`` (with ``"plan"``) and one folder per stage
(``01-coarse/``, ``02-focused/``, …) holding its own two tables. This module reads either layout
into one :class:`Experiment`; it imports neither ray nor torch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from search_spaces import ConfigError, metric_direction

__all__ = ["Experiment", "load_experiment", "parameter_columns"]

SPEC = "spec.json"
TRIALS = "trials.parquet"
CURVES = "curves.parquet"
_STAGE_DIR = re.compile(r"^\d{2,}-.+$")
# columns of trials.parquet that hold outcomes or bookkeeping, never parameters
_NOT_PARAMS = ("final.", "best.", "raw.")
_DEFAULT_METRIC = "iou_lesion"
_OUTCOME_PREFIXES = ("final.", "best.")


@dataclass(frozen=True, eq=False)
class Experiment:
    """One experiment directory, loaded.

    Attributes:
        path: the directory.
        name: its folder name.
        metric: the metric the search optimised (``spec.json`` → ``settings.metric``).
        mode: ``"max"`` or ``"min"`` for that metric: ``settings.mode`` of ``spec.json``, else
            :func:`search_spaces.metric_direction` of the metric; ``None`` when neither knows
            (then :meth:`direction` needs an explicit mode for it).
        trials: one row per trial (for a plan, every stage, with a ``stage`` column).
        curves: one row per trial and epoch (``trial_id``, ``epoch``, metric columns; ``stage``
            for a plan).
        params: parameter columns of ``trials``, by dotted recipe path, in table order.
        stages: stage folder names of a plan, in order; empty for a single search.
        kind: ``"search"`` or ``"plan"``.
        spec: the parsed ``spec.json``.
        notes: what the loader had to skip or assume (stages without tables, missing settings).
    """

    path: Path
    name: str
    metric: str
    mode: str | None
    trials: pd.DataFrame
    curves: pd.DataFrame
    params: list[str]
    stages: list[str]
    kind: str
    spec: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def keys(self) -> list[str]:
        """Columns identifying a trial: ``["stage", "trial_id"]`` (plan) or ``["trial_id"]``."""
        return ["stage", "trial_id"] if self.kind == "plan" else ["trial_id"]

    @property
    def space_definition(self) -> dict[str, Any] | None:
        """The searched space as recorded in ``spec.json`` (single searches only), else ``None``."""
        definition = self.spec.get("space_definition")
        return definition if isinstance(definition, dict) else None

    def direction(self, outcome: str, mode: str | None = None) -> str:
        """``"max"`` or ``"min"`` for one outcome of this experiment.

        An explicit ``mode`` wins; else, for the search's metric (also as ``final.``/``best.``
        columns), the mode ``spec.json`` records; else the harness's one rule,
        :func:`search_spaces.metric_direction`.

        Raises:
            ConfigError: ``mode`` is neither max nor min, or the outcome's direction is unknown
                and no ``mode`` was given (the message names ``--mode``).
        """
        base = outcome.split(".", 1)[1] if outcome.startswith(_OUTCOME_PREFIXES) else outcome
        if mode is None and base == self.metric:
            mode = self.mode
        return metric_direction(outcome, mode)

    def only_stage(self, stage: str) -> Experiment:
        """The same experiment restricted to one stage of a plan.

        Raises:
            ConfigError: this is not a plan, or it has no stage of that name.
        """
        if self.kind != "plan":
            raise ConfigError(f"stage {stage!r}: {self.path} is a single search, not a plan")
        matches = [s for s in self.stages if s == stage or s.split("-", 1)[-1] == stage]
        if not matches:
            raise ConfigError(f"stage {stage!r}: {self.path} has stages {', '.join(self.stages)}")
        chosen = matches[0]
        trials = self.trials[self.trials["stage"] == chosen].reset_index(drop=True)
        curves = self.curves[self.curves["stage"] == chosen].reset_index(drop=True)
        params = [p for p in self.params if trials[p].notna().any()]
        return replace(self, trials=trials, curves=curves, params=params, stages=[chosen])


def parameter_columns(trials: pd.DataFrame) -> list[str]:
    """Dotted parameter columns: names with a ``.`` except ``final.*``, ``best.*``, ``raw.*``."""
    return [c for c in trials.columns if "." in c and not c.startswith(_NOT_PARAMS)]


def _mode(settings: dict[str, Any], metric: str, spec: Path) -> tuple[str | None, list[str]]:
    """The recorded mode of the search's metric (validated), else the harness's rule for it."""
    recorded = settings.get("mode") or None
    if recorded is not None:
        return metric_direction(metric, str(recorded), option=f"{spec}: settings.mode"), []
    try:
        return metric_direction(metric), []
    except ConfigError:
        return None, [
            f"{spec} records no settings.mode and the direction of {metric} is unknown: "
            "give --mode where a direction is needed"
        ]


def load_experiment(path: str | Path) -> Experiment:
    """Load a search or plan directory written by ``harness search``.

    A stage folder of a plan (``runs/plan-x/01-coarse``) loads as a single search, with the
    metric of the plan's ``spec.json``.

    Raises:
        ConfigError: the path does not exist, is not an experiment directory (the message lists
            the files expected), a table cannot be read, or no trial was recorded.
    """
    root = Path(path)
    if not root.exists():
        raise ConfigError(f"experiment directory {root} does not exist")
    if not root.is_dir():
        raise ConfigError(f"{root} is a file; give the experiment directory that holds {SPEC}")
    spec, spec_notes = _read_spec(root)
    stage_dirs = sorted(p for p in root.iterdir() if p.is_dir() and _STAGE_DIR.match(p.name))
    is_plan = "plan" in spec or (not (root / TRIALS).exists() and bool(stage_dirs))
    if is_plan:
        trials, curves, stages, notes = _read_plan(root, stage_dirs)
    else:
        if not (root / TRIALS).exists():
            raise ConfigError(
                f"{root} is not an experiment directory: expected {SPEC}, {TRIALS} and {CURVES} "
                f"(a search) or stage folders such as 01-coarse/ holding them (a plan); "
                f"found {_listing(root)}"
            )
        trials, curves = _read_tables(root)
        stages, notes = [], []
    if trials.empty:
        raise ConfigError(f"{root}: {TRIALS} holds no trials (the search recorded none yet)")
    settings = spec.get("settings") or {}
    metric = str(settings.get("metric") or _DEFAULT_METRIC)
    mode, mode_notes = _mode(settings, metric, root / SPEC)
    params = parameter_columns(trials)
    trials = _tidy_params(trials, params)
    return Experiment(
        path=root,
        name=root.name,
        metric=metric,
        mode=mode,
        trials=trials,
        curves=curves,
        params=params,
        stages=stages,
        kind="plan" if is_plan else "search",
        spec=spec,
        notes=tuple(spec_notes + notes + mode_notes),
    )


def _listing(root: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
    return shown or "an empty folder"


def _read_spec(root: Path) -> tuple[dict[str, Any], list[str]]:
    """``spec.json`` of ``root``, or of its parent when ``root`` is one stage of a plan."""
    for candidate, where in ((root / SPEC, ""), (root.parent / SPEC, " (the plan's)")):
        if candidate.is_file():
            try:
                spec = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ConfigError(f"{candidate}: not readable JSON ({exc})") from exc
            if not isinstance(spec, dict):
                raise ConfigError(f"{candidate}: expected a JSON object, got {type(spec).__name__}")
            notes = []
            if where:
                spec = {k: v for k, v in spec.items() if k != "plan"}
                notes.append(f"settings taken from {candidate}{where}")
            if not (spec.get("settings") or {}).get("metric"):
                notes.append(
                    f"{candidate} names no settings.metric: assuming {_DEFAULT_METRIC} "
                    f"({metric_direction(_DEFAULT_METRIC)})"
                )
            return spec, notes
    default = f"{_DEFAULT_METRIC} ({metric_direction(_DEFAULT_METRIC)})"
    return {}, [f"no {SPEC} found: assuming metric {default}"]


def _read_tables(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = []
    for name in (TRIALS, CURVES):
        file = directory / name
        if not file.exists():
            if name == CURVES:
                frames.append(pd.DataFrame(columns=["trial_id", "epoch"]))
                continue
            raise ConfigError(f"{directory}: {name} is missing")
        try:
            frames.append(pd.read_parquet(file))
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise ConfigError(f"{file}: not a readable parquet table ({exc})") from exc
    trials, curves = frames
    if "trial_id" not in trials.columns:
        raise ConfigError(f"{directory / TRIALS}: no trial_id column (columns: {list(trials)})")
    trials = trials.copy()
    trials["trial_id"] = trials["trial_id"].astype(str)
    if curves.columns.empty or "trial_id" not in curves.columns:
        curves = pd.DataFrame(columns=["trial_id", "epoch"])
    curves = curves.copy()
    curves["trial_id"] = curves["trial_id"].astype(str)
    if "epoch" in curves.columns:
        curves["epoch"] = pd.to_numeric(curves["epoch"], errors="coerce")
        curves = curves.dropna(subset=["epoch"]).astype({"epoch": int})
    else:
        raise ConfigError(f"{directory / CURVES}: no epoch column (columns: {list(curves)})")
    return trials, curves


def _read_plan(
    root: Path, stage_dirs: list[Path]
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    if not stage_dirs:
        raise ConfigError(
            f"{root} is a plan directory without stage folders: expected 01-<stage>/, "
            f"02-<stage>/, … each holding {TRIALS} and {CURVES}; found {_listing(root)}"
        )
    trials, curves, stages, notes = [], [], [], []
    for stage_dir in stage_dirs:
        if not (stage_dir / TRIALS).exists():
            notes.append(f"stage {stage_dir.name} has no {TRIALS} yet: skipped")
            continue
        t, c = _read_tables(stage_dir)
        t.insert(0, "stage", stage_dir.name)
        c.insert(0, "stage", stage_dir.name)
        trials.append(t)
        curves.append(c)
        stages.append(stage_dir.name)
    if not stages:
        raise ConfigError(
            f"{root}: none of the stage folders ({', '.join(p.name for p in stage_dirs)}) "
            f"holds {TRIALS} yet"
        )
    non_empty = [c for c in curves if not c.empty]
    all_curves = pd.concat(non_empty, ignore_index=True) if non_empty else curves[0]
    return pd.concat(trials, ignore_index=True), all_curves, stages, notes


def _tidy_params(trials: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """Numeric parameters as numbers; every other parameter as strings (missing stays missing)."""
    trials = trials.copy()
    for col in params:
        series = trials[col]
        if pd.api.types.is_bool_dtype(series):
            trials[col] = series.map(str).astype(object)
        elif pd.api.types.is_numeric_dtype(series):
            continue
        else:
            present = series.notna()
            if series[present].map(_is_number).all():  # ints and None stored as objects
                trials[col] = pd.to_numeric(series, errors="coerce")
            else:
                trials[col] = series.map(lambda v: None if _missing(v) else str(v)).astype(object)
    return trials


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
