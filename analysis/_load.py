"""An experiment directory as tidy tables: trials (one row per trial) and curves (trial × epoch).

The harness writes, for one search, ``spec.json``, ``trials.parquet`` and ``curves.parquet`` in
``runs/<name>/``; for a staged plan, ``spec.json`` (with ``"plan"``) and one folder per stage
(``01-coarse/``, ``02-focused/``, …) holding its own two tables. This module reads either layout
into one :class:`Experiment`; it imports neither ray nor torch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from search_spaces import ConfigError, metric_direction

__all__ = [
    "BOOKKEEPING",
    "Experiment",
    "is_outcome",
    "load_experiment",
    "parameter_columns",
    "space_parameters",
]

SPEC = "spec.json"
TRIALS = "trials.parquet"
CURVES = "curves.parquet"
_STAGE_DIR = re.compile(r"^\d{2,}-.+$")
# columns of trials.parquet that say how a trial ran, never what it was given
BOOKKEEPING = (
    "trial_id",
    "stage",
    "status",
    "epochs",
    "best_epoch",
    "peak_memory_bytes",
    "wall_time_s",
    "images_per_s",
    "node_ip",
    "node_id",
    "attempts",
    "error",
)
# outcomes (final.*, best.*) and the sampler's raw coordinates (raw.*): never parameters
_NOT_PARAMS = ("final.", "best.", "raw.")
PARAM_SOURCES = ("--params", "spec.json space", "inferred: every column that is not an outcome")
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
        params: parameter columns of ``trials``: the ones asked for, else the recorded space's
            (see :func:`load_experiment`).
        stages: stage folder names of a plan, in order; empty for a single search.
        kind: ``"search"`` or ``"plan"``.
        spec: the parsed ``spec.json``.
        notes: what the loader had to skip or assume (stages without tables, missing settings,
            space entries without a column).
        param_source: where ``params`` came from: ``"--params"``, ``"spec.json space"`` or
            ``"inferred: every column that is not an outcome"``.
        max_epochs: a trial's full length as ``spec.json`` records it (``settings.max_epochs``;
            for a plan the largest over the stages' own ``spec.json``), else ``None``.
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
    param_source: str = PARAM_SOURCES[2]
    max_epochs: int | None = None

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
                and no ``mode`` was given (the message names ``mode``).
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


def is_outcome(name: str, curves: pd.DataFrame | None = None, metric: str | None = None) -> bool:
    """Whether a column of ``trials.parquet`` is an outcome or bookkeeping, never a parameter.

    Outcomes: ``final.*``, ``best.*``, ``raw.*`` (the sampler's raw coordinates), the columns of
    :data:`BOOKKEEPING`, every column of ``curves`` (a metric reported per epoch) and the
    search's ``metric``. The name decides, not whether it has a dot.
    """
    return (
        name.startswith(_NOT_PARAMS)
        or name in BOOKKEEPING
        or (curves is not None and name in curves.columns)
        or (metric is not None and name == metric)
    )


def parameter_columns(
    trials: pd.DataFrame, curves: pd.DataFrame | None = None, metric: str | None = None
) -> list[str]:
    """Every column of ``trials`` that is not an outcome (:func:`is_outcome`), in table order:
    the parameters of an experiment that recorded no space (an imported one)."""
    return [c for c in trials.columns if not is_outcome(str(c), curves, metric)]


def space_parameters(definition: dict[str, Any]) -> list[str]:
    """The columns a recorded space (``spec.json`` → ``space_definition``) sets: each key of its
    ``params``, a ``simplex`` as one column per component (``<key>.<component>``).

    Raises:
        ConfigError: ``params`` is not a mapping, or a simplex names no components.
    """
    params = definition.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"space_definition.params: expected a mapping, got {params!r}")
    columns: list[str] = []
    for key, spec in params.items():
        if isinstance(spec, dict) and spec.get("type") == "simplex":
            components = spec.get("components")
            if not isinstance(components, dict | list) or not components:
                raise ConfigError(
                    f"space_definition.params.{key}: a simplex needs its components, "
                    f"got {components!r}"
                )
            columns.extend(f"{key}.{c}" for c in components)
        else:  # float, int, categorical, fraction_of (search_spaces.PARAM_TYPES): one column
            columns.append(str(key))
    return columns


def _explicit_params(
    names: Sequence[str], trials: pd.DataFrame, curves: pd.DataFrame, metric: str, root: Path
) -> list[str]:
    """``--params`` checked: each a column of ``trials.parquet`` and none an outcome."""
    chosen = list(dict.fromkeys(str(n).strip() for n in names if str(n).strip()))
    if not chosen:
        raise ConfigError(
            "params names no column: give comma-separated parameter columns", param="params"
        )
    missing = [n for n in chosen if n not in trials.columns]
    if missing:
        raise ConfigError(
            f"params: no column {', '.join(missing)} in {root / TRIALS}; its columns: "
            f"{', '.join(map(str, trials.columns))}",
            param="params",
        )
    outcomes = [n for n in chosen if is_outcome(n, curves, metric)]
    if outcomes:
        raise ConfigError(
            f"params: {', '.join(outcomes)} "
            f"{'is an outcome column' if len(outcomes) == 1 else 'are outcome columns'} (final.*, "
            "best.*, raw.*, a metric of curves.parquet, the search's metric, or bookkeeping: "
            f"{', '.join(BOOKKEEPING)}); outcome columns are never parameters",
            param="params",
        )
    return chosen


def _space_params(
    spaces: list[dict[str, Any]], trials: pd.DataFrame, where: Path
) -> tuple[list[str], list[str]]:
    """The recorded spaces' columns present in ``trials`` (union, in space order), and a note
    for every entry without a column."""
    wanted = list(dict.fromkeys(c for space in spaces for c in space_parameters(space)))
    params = [c for c in wanted if c in trials.columns]
    absent = [c for c in wanted if c not in trials.columns]
    notes = []
    if absent:
        notes.append(
            f"the space recorded in {where} sets {', '.join(absent)}, which "
            f"{'is not a column' if len(absent) == 1 else 'are not columns'} of {TRIALS}: "
            "left out of the parameters"
        )
    return params, notes


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


def load_experiment(path: str | Path, params: Sequence[str] | None = None) -> Experiment:
    """Load a search or plan directory written by ``harness search``.

    A stage folder of a plan (``runs/plan-x/01-coarse``) loads as a single search, with the
    metric of the plan's ``spec.json``.

    Which columns are parameters, first rule that applies:

    1. ``params`` (``--params a,b,c``): exactly those columns, dotted or not;
    2. the space ``spec.json`` records (``space_definition``; for a plan, the union over the
       stage folders' own ``spec.json``): its parameters that are columns of ``trials.parquet``,
       a simplex as one column per component; entries without a column get a note;
    3. no recorded space (an imported experiment): every column that is not an outcome
       (:func:`is_outcome`).

    Raises:
        ConfigError: the path does not exist, is not an experiment directory (the message lists
            the files expected), a table cannot be read, no trial was recorded, or a name in
            ``params`` is not a column (the message lists the columns) or is an outcome.
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
        trials, curves, stages, notes, stage_specs = _read_plan(root, stage_dirs)
    else:
        if not (root / TRIALS).exists():
            raise ConfigError(
                f"{root} is not an experiment directory: expected {SPEC}, {TRIALS} and {CURVES} "
                f"(a search) or stage folders such as 01-coarse/ holding them (a plan); "
                f"found {_listing(root)}"
            )
        trials, curves = _read_tables(root)
        stages, notes, stage_specs = [], [], []
    if trials.empty:
        raise ConfigError(f"{root}: {TRIALS} holds no trials (the search recorded none yet)")
    settings = spec.get("settings") or {}
    metric = str(settings.get("metric") or _DEFAULT_METRIC)
    mode, mode_notes = _mode(settings, metric, root / SPEC)
    specs = [*stage_specs] if is_plan else [spec]
    spaces = [s["space_definition"] for s in specs if isinstance(s.get("space_definition"), dict)]
    param_notes: list[str] = []
    if params is not None:
        chosen = _explicit_params(params, trials, curves, metric, root)
        source = PARAM_SOURCES[0]
    elif spaces:
        chosen, param_notes = _space_params(spaces, trials, root if is_plan else root / SPEC)
        source = PARAM_SOURCES[1]
    else:
        chosen = parameter_columns(trials, curves, metric)
        source = PARAM_SOURCES[2]
    trials = _tidy_params(trials, chosen)
    return Experiment(
        path=root,
        name=root.name,
        metric=metric,
        mode=mode,
        trials=trials,
        curves=curves,
        params=chosen,
        stages=stages,
        kind="plan" if is_plan else "search",
        spec=spec,
        notes=tuple(spec_notes + notes + mode_notes + param_notes),
        param_source=source,
        max_epochs=_max_epochs(specs),
    )


def _max_epochs(specs: list[dict[str, Any]]) -> int | None:
    """The largest ``settings.max_epochs`` the given ``spec.json`` record, else ``None``."""
    recorded = []
    for spec in specs:
        value = (spec.get("settings") or {}).get("max_epochs")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1:
            recorded.append(int(value))
    return max(recorded, default=None)


def _listing(root: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
    return shown or "an empty folder"


def _read_json(file: Path) -> dict[str, Any]:
    try:
        spec = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{file}: not readable JSON ({exc})") from exc
    if not isinstance(spec, dict):
        raise ConfigError(f"{file}: expected a JSON object, got {type(spec).__name__}")
    return spec


def _read_spec(root: Path) -> tuple[dict[str, Any], list[str]]:
    """``spec.json`` of ``root``, or of its parent when ``root`` is one stage of a plan."""
    for candidate, where in ((root / SPEC, ""), (root.parent / SPEC, " (the plan's)")):
        if candidate.is_file():
            spec = _read_json(candidate)
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
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str], list[dict[str, Any]]]:
    """Every stage's tables (with a ``stage`` column), the stages read, notes, and the stages'
    own ``spec.json`` where they have one."""
    if not stage_dirs:
        raise ConfigError(
            f"{root} is a plan directory without stage folders: expected 01-<stage>/, "
            f"02-<stage>/, … each holding {TRIALS} and {CURVES}; found {_listing(root)}"
        )
    trials, curves, stages, notes, specs = [], [], [], [], []
    for stage_dir in stage_dirs:
        if not (stage_dir / TRIALS).exists():
            notes.append(f"stage {stage_dir.name} has no {TRIALS} yet: skipped")
            continue
        if (stage_dir / SPEC).is_file():
            specs.append(_read_json(stage_dir / SPEC))
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
    return pd.concat(trials, ignore_index=True), all_curves, stages, notes, specs


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
