"""Objectives for tests and benchmarks, as Optuna keeps ``optuna/testing``: analytic functions
whose optimum is known, fault objectives (checkpointed, failing), and a seeded toy ablation
trainable with a known component effect, and objectives with parameters of their own
(:func:`toy_bowl`, searched over objective parameters ``toy.x``, ``toy.y``; :func:`lcbench`, real
MLP learning curves from the LCBench surrogate, which needs an environment of its own). Each is
``run_trial``-shaped, so any of them can be searched with ``--trainable harness.testing:NAME``."""

from __future__ import annotations

from harness.testing._ablation_toy import (
    BOUNDARY_GAIN,
    CELL_SD,
    component_effects,
    slow_component_effects,
)
from harness.testing._faults import checkpointed_bowl, failing_after_one_epoch
from harness.testing._lcbench import lcbench
from harness.testing._objectives import (
    HARTMANN3_ARGMAX,
    HARTMANN3_MAX,
    HARTMANN3_PATHS,
    LOG_LR_OPTIMUM,
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
from harness.testing._param_objectives import (
    TOY_OPTIMUM,
    TOY_SPACE,
    TOY_START,
    toy_bowl,
    toy_score,
)

__all__ = [
    "BOUNDARY_GAIN",
    "CELL_SD",
    "HARTMANN3_ARGMAX",
    "HARTMANN3_MAX",
    "HARTMANN3_PATHS",
    "LOG_LR_OPTIMUM",
    "TOY_OPTIMUM",
    "TOY_SPACE",
    "TOY_START",
    "allocating",
    "checkpointed_bowl",
    "component_effects",
    "failing_after_one_epoch",
    "hartmann3",
    "instant",
    "lcbench",
    "log_lr_bowl",
    "log_lr_loss",
    "mf_hartmann3",
    "mf_hartmann3_hard",
    "slow_component_effects",
    "slow_log_lr_bowl",
    "toy_bowl",
    "toy_score",
    "weights_bowl",
]
