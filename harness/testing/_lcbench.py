"""The LCBench surrogate (YAHPO Gym) as a ``--trainable``: real MLP learning curves, instantly.

LCBench (Zimmer, Lindauer & Hutter 2021) trained funnel-shaped MLPs on OpenML tasks for 52 epochs;
YAHPO Gym (Pfisterer et al. 2022) fits one ONNX surrogate of those curves. The surrogate needs
``yahpo-gym==1.0.2`` with ``numpy<2``, so it runs in an environment of its own (see
``benchmarks/lcbench.py``); nothing else in the harness imports this module.

The task is chosen by the environment variable ``LCBENCH_TASK`` (an OpenML task id) and the data
folder (the one that *contains* ``lcbench/``) by ``LCBENCH_DATA``; Ray's local workers inherit
both from the driver.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np

from search_spaces import ConfigError, TrialStatus

__all__ = [
    "LCBENCH_EPOCHS",
    "LCBENCH_PARAMS",
    "lcbench",
    "lcbench_curves",
    "lcbench_final",
    "lcbench_random_configs",
]

LCBENCH_EPOCHS = 52
# name: (low, high, log, integer), as YAHPO's config space declares them
LCBENCH_PARAMS: dict[str, tuple[float, float, bool, bool]] = {
    "batch_size": (16, 512, True, True),
    "learning_rate": (1e-4, 1e-1, True, False),
    "momentum": (0.1, 0.99, False, False),
    "weight_decay": (1e-5, 0.1, False, False),
    "num_layers": (1, 5, False, True),
    "max_units": (64, 1024, True, True),
    "max_dropout": (0.0, 1.0, False, False),
}
_PREFIX = "lcbench."


def _data_path() -> str:
    default = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
    return os.path.abspath(os.environ.get("LCBENCH_DATA", default))


@cache
def _benchmark(task: str) -> Any:
    try:
        from yahpo_gym import BenchmarkSet, local_config
    except ImportError as exc:
        raise ConfigError(
            f"the LCBench objective needs yahpo-gym==1.0.2 (numpy<2) in its own environment: "
            f"see benchmarks/lcbench.py ({exc})"
        ) from None
    local_config.init_config()
    local_config.set_data_path(_data_path())
    return BenchmarkSet("lcbench", instance=str(task))


def _clean(config: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (low, high, _, integer) in LCBENCH_PARAMS.items():
        value = float(np.clip(config[name], low, high))
        out[name] = round(value) if integer else value
    return out


def lcbench_curves(task: str, configs: Sequence[Mapping[str, Any]], epochs: int = 52) -> np.ndarray:
    """Validation accuracy (percent) of each configuration at epochs 1..``epochs``: (n, epochs)."""
    bench = _benchmark(str(task))
    rows = [
        {**_clean(c), "OpenML_task_id": str(task), "epoch": e}
        for c in configs
        for e in range(1, epochs + 1)
    ]
    values = [r["val_accuracy"] for r in bench.objective_function(rows)]
    return np.asarray(values, dtype=float).reshape(len(configs), epochs)


def lcbench_final(task: str, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Validation accuracy (percent) of each configuration at epoch 52 only (one row each)."""
    bench = _benchmark(str(task))
    rows = [{**_clean(c), "OpenML_task_id": str(task), "epoch": LCBENCH_EPOCHS} for c in configs]
    return np.asarray([r["val_accuracy"] for r in bench.objective_function(rows)], dtype=float)


def lcbench_random_configs(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` configurations drawn uniformly (log-uniformly where the space is log) from LCBench."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        config = {}
        for name, (low, high, log, _) in LCBENCH_PARAMS.items():
            u = rng.uniform(np.log(low), np.log(high)) if log else rng.uniform(low, high)
            config[name] = float(np.exp(u)) if log else float(u)
        out.append(_clean(config))
    return out


def lcbench(
    recipe: Any,
    report: Callable[[int, Mapping[str, float]], Any],
    *,
    params: Mapping[str, Any] | None = None,
    **_: Any,
) -> dict[str, Any]:
    """A ``--trainable``: LCBench's curve of the configuration ``params`` (``lcbench.<name>``),
    reported epoch by epoch as ``val_accuracy`` for ``recipe.optim.epochs`` epochs (at most 52)."""
    task = os.environ.get("LCBENCH_TASK")
    if not task:
        raise ConfigError("the LCBench objective needs LCBENCH_TASK (an OpenML task id)")
    config = {
        name[len(_PREFIX) :]: value
        for name, value in (params or {}).items()
        if name.startswith(_PREFIX)
    }
    missing = sorted(set(LCBENCH_PARAMS) - set(config))
    if missing:
        raise ConfigError(f"the LCBench objective needs params {[_PREFIX + m for m in missing]}")
    epochs = min(int(recipe.optim.epochs), LCBENCH_EPOCHS)
    curve = lcbench_curves(task, [config], LCBENCH_EPOCHS)[0]
    for epoch in range(1, epochs + 1):
        report(epoch, {"val_accuracy": float(curve[epoch - 1])})
    return {
        "status": TrialStatus.COMPLETED,
        "epochs": epochs,
        "final": {"val_accuracy": float(curve[epochs - 1])},
    }
