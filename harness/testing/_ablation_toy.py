"""A cheap trainable with known component effects, for testing ``harness ablate``.

:func:`component_effects` reads the recipe's loss weights and seed and reports ``iou_lesion``:

    iou = 0.7 + BOUNDARY_GAIN * w_boundary + SEED_SD * z(seed) + CELL_SD * e(seed, weights)

``z`` depends on the seed only (shared by every variant of seed ``k``: the pairing) and ``e`` on the
seed and the configuration (independent noise). Only the boundary term has an effect; every other
term, attention included, has none. Removing boundary from the ``cpu_demo`` weights (0.2 of 1.1,
the rest rescaled) changes iou by ``-BOUNDARY_GAIN * 0.2`` while the paired difference has the
standard deviation ``CELL_SD * sqrt(2)``: an effect of ``d_z = 2`` with the constants below.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from search_spaces import TrialStatus

__all__ = ["BOUNDARY_GAIN", "CELL_SD", "SEED_SD", "component_effects", "slow_component_effects"]

CELL_SD = 0.01
SEED_SD = 0.05
BOUNDARY_GAIN = 2.0 * CELL_SD * math.sqrt(2.0) / 0.2


def component_effects(
    recipe: Any, report: Callable[[int, Mapping[str, float]], Any], **_: Any
) -> dict[str, Any]:
    """Report ``iou_lesion`` (and a constant ``precision``) each epoch; see the module text."""
    weights = recipe.loss.weights.model_dump()
    config_key = repr(sorted((k, round(v, 12)) for k, v in weights.items()))
    config_key += f"|blocks={recipe.model.attention.blocks}"
    z = np.random.default_rng([recipe.seed, 7]).standard_normal()
    e = np.random.default_rng([recipe.seed, zlib.crc32(config_key.encode())]).standard_normal()
    final = 0.7 + BOUNDARY_GAIN * weights["boundary"] + SEED_SD * z + CELL_SD * e
    epochs = recipe.optim.epochs
    for epoch in range(1, epochs + 1):
        # lower early on; the last epoch reports the final value
        report(epoch, {"iou_lesion": final - 0.1 * (1 / epoch - 1 / epochs), "precision": 0.5})
    return {
        "status": TrialStatus.COMPLETED,
        "epochs": epochs,
        "final": {"iou_lesion": final, "precision": 0.5},
        "peak_memory_bytes": 1000,
        "wall_time_s": 0.0,
    }


def slow_component_effects(
    recipe: Any, report: Callable[[int, Mapping[str, float]], Any], **_: Any
) -> dict[str, Any]:
    """:func:`component_effects`, 0.4 s per epoch: long enough to kill a driver mid-run."""
    import time

    def slow_report(epoch: int, metrics: Mapping[str, float]) -> None:
        time.sleep(0.4)
        report(epoch, metrics)

    return component_effects(recipe, slow_report)
