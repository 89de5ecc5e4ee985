"""Synthetic experiment directories in the harness's layout, and the shared Ishigami report.

The tables follow ``harness/tune/_tables.py``: trials.parquet (parameters by dotted path, ``raw.*``,
status, epochs, ``final.*``, ``best.*``, peak memory, time, images/s) and curves.parquet (one row
per trial and epoch). Fixtures return writer functions because tests cannot import conftest under
``--import-mode=importlib``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

ISHIGAMI_A, ISHIGAMI_B = 7.0, 0.1


def ishigami(x1: np.ndarray, x2: np.ndarray, x3: np.ndarray) -> np.ndarray:
    """Ishigami & Homma (1990): sin x1 + 7 sin² x2 + 0.1 x3⁴ sin x1."""
    return np.sin(x1) + ISHIGAMI_A * np.sin(x2) ** 2 + ISHIGAMI_B * x3**4 * np.sin(x1)


def make_tables(
    params: pd.DataFrame,
    values: np.ndarray,
    metric: str = "score",
    status: list[str] | None = None,
    extra_trial_columns: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """trials and curves tables of ``len(params)`` trials.

    Args:
        params: one column per parameter (dotted names), one row per trial.
        values: ``(trials, epochs)`` metric values; NaN after the epoch a trial stopped at.
        metric: the metric's name.
        status: each trial's status (default: "completed" for a full row, else "pruned").
        extra_trial_columns: more trial-level columns (peak memory, images/s …).
    """
    values = np.asarray(values, dtype=float).reshape(len(params), -1)
    n, max_epochs = values.shape
    ids = [f"t{i:04d}" for i in range(n)]
    trial_rows, curve_rows = [], []
    for i in range(n):
        reached = int(np.sum(~np.isnan(values[i])))
        row: dict[str, Any] = {
            "trial_id": ids[i],
            "status": (status[i] if status else "completed" if reached == max_epochs else "pruned"),
        }
        row.update(params.iloc[i].to_dict())
        first = params.columns[0]
        row[f"raw.{first}~u"] = 0.5  # raw Optuna parameters are not effective parameters
        row["epochs"] = reached
        row[f"final.{metric}"] = values[i, reached - 1] if reached else np.nan
        row[f"best.{metric}"] = np.nanmax(values[i]) if reached else np.nan
        row["best_epoch"] = int(np.nanargmax(values[i])) + 1 if reached else np.nan
        row["peak_memory_bytes"] = 1.0e9
        row["wall_time_s"] = 10.0 * reached
        row["images_per_s"] = 50.0
        row["node_ip"] = "127.0.0.1"
        row["error"] = None
        trial_rows.append(row)
        for e in range(reached):
            curve_rows.append(
                {
                    "trial_id": ids[i],
                    "epoch": e + 1,
                    metric: values[i, e],
                    "train_loss": 1.0 / (e + 1),
                    "memory_peak_bytes": 1.0e9,
                    "images_per_s": 50.0,
                }
            )
    trials = pd.DataFrame(trial_rows)
    for name, column in (extra_trial_columns or {}).items():
        trials[name] = column
    return trials, pd.DataFrame(curve_rows)


def _spec(metric: str, mode: str | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    settings: dict[str, Any] = {"metric": metric, "trials": 0, "max_epochs": 1}
    if mode is not None:  # None: a spec.json that records no mode
        settings["mode"] = mode
    return {"command": "search --space synthetic", "settings": settings, **(extra or {})}


def write_search_dir(
    path: Path,
    trials: pd.DataFrame,
    curves: pd.DataFrame,
    metric: str = "score",
    mode: str | None = "max",
    spec_extra: dict[str, Any] | None = None,
) -> Path:
    """A single-search directory: spec.json (``mode=None``: without settings.mode),
    trials.parquet, curves.parquet."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "spec.json").write_text(json.dumps(_spec(metric, mode, spec_extra)), encoding="utf-8")
    trials.to_parquet(path / "trials.parquet", index=False)
    curves.to_parquet(path / "curves.parquet", index=False)
    return path


def write_plan_dir(
    path: Path,
    stages: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    metric: str = "score",
    mode: str = "max",
) -> Path:
    """A plan directory: spec.json with "plan", NN-<stage>/ tables, plan_state.json."""
    path.mkdir(parents=True, exist_ok=True)
    spec = _spec(metric, mode, {"plan": "staged", "command": "search --plan staged"})
    (path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    for i, (name, (trials, curves)) in enumerate(stages.items(), start=1):
        stage_dir = path / f"{i:02d}-{name}"
        stage_dir.mkdir()
        trials.to_parquet(stage_dir / "trials.parquet", index=False)
        curves.to_parquet(stage_dir / "curves.parquet", index=False)
    state = {"finished": list(stages)}
    (path / "plan_state.json").write_text(json.dumps(state), encoding="utf-8")
    return path


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread():
    """The reference statsmodels fits in these tests run on small matrices, where BLAS threads
    only contend on a busy two-core machine; the analysis code limits itself the same way."""
    from analysis.importance import one_blas_thread

    with one_blas_thread():
        yield


@pytest.fixture(scope="session")
def tables() -> Callable[..., tuple[pd.DataFrame, pd.DataFrame]]:
    """:func:`make_tables`."""
    return make_tables


@pytest.fixture(scope="session")
def write_search() -> Callable[..., Path]:
    """:func:`write_search_dir`."""
    return write_search_dir


@pytest.fixture(scope="session")
def write_plan() -> Callable[..., Path]:
    """:func:`write_plan_dir`."""
    return write_plan_dir


@pytest.fixture(scope="session")
def ishigami_fn() -> Callable[..., np.ndarray]:
    """:func:`ishigami`."""
    return ishigami


@pytest.fixture(scope="session")
def ishigami_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 random trials of the Ishigami function on U[-π, π]³, all completed at epoch 1."""
    rng = np.random.default_rng(2024)
    x = rng.uniform(-np.pi, np.pi, size=(1000, 3))
    params = pd.DataFrame(x, columns=["p.x1", "p.x2", "p.x3"])
    trials, curves = make_tables(params, ishigami(x[:, 0], x[:, 1], x[:, 2])[:, None])
    space = {
        "name": "ishigami",
        "params": {p: {"type": "float", "low": -np.pi, "high": np.pi} for p in params},
    }
    return write_search_dir(
        tmp_path_factory.mktemp("ishigami"), trials, curves, spec_extra={"space_definition": space}
    )


@pytest.fixture(scope="session")
def ishigami_report(ishigami_dir: Path):
    """The importance report of the Ishigami experiment with the default settings."""
    from analysis import load_experiment
    from analysis.importance import compute_importance

    return compute_importance(load_experiment(ishigami_dir))
