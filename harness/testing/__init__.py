"""Objectives for tests and benchmarks, as Optuna keeps ``optuna/testing``: analytic functions
whose optimum is known, fault objectives (checkpointed, failing), and a seeded toy ablation
trainable with a known component effect. Each is ``run_trial``-shaped, so any of them can be
searched with ``--trainable harness.testing:NAME``."""

from __future__ import annotations

from harness.testing._ablation_toy import (
    BOUNDARY_GAIN,
    CELL_SD,
    SEED_SD,
    component_effects,
    slow_component_effects,
)
from harness.testing._faults import EPOCH_SECONDS, checkpointed_bowl, failing_after_one_epoch
from harness.testing._objectives import (
    HARTMANN3_ARGMAX,
    HARTMANN3_MAX,
    HARTMANN3_PATHS,
    LOG_LR_OPTIMUM,
    WEIGHTS_OPTIMUM,
    allocating,
    hartmann3,
    instant,
    log_lr_bowl,
    log_lr_loss,
    mf_hartmann3,
    mf_hartmann3_hard,
    slow_log_lr_bowl,
    weights_bowl,
)

__all__ = [
    "BOUNDARY_GAIN",
    "CELL_SD",
    "EPOCH_SECONDS",
    "HARTMANN3_ARGMAX",
    "HARTMANN3_MAX",
    "HARTMANN3_PATHS",
    "LOG_LR_OPTIMUM",
    "SEED_SD",
    "WEIGHTS_OPTIMUM",
    "allocating",
    "checkpointed_bowl",
    "component_effects",
    "failing_after_one_epoch",
    "hartmann3",
    "instant",
    "log_lr_bowl",
    "log_lr_loss",
    "mf_hartmann3",
    "mf_hartmann3_hard",
    "slow_component_effects",
    "slow_log_lr_bowl",
    "weights_bowl",
]
