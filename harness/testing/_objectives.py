"""Cheap objectives shaped like ``trials.run_trial``, for tests, benchmarks and ``--trainable``.

Each takes ``(recipe, report, **kwargs)``, reads its coordinates from recipe values by dotted path,
reports once per epoch and returns a summary dict. Their optimum is known analytically, so the
search machinery (TPE, ASHA, pruning, tables) can be checked without training a network:

    harness search --space lr --trainable harness.testing._objectives:log_lr_bowl --metric score
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from search_spaces import TrialStatus

__all__ = [
    "ALLOCATING_SAMPLE_BYTES",
    "HARTMANN3_ARGMAX",
    "HARTMANN3_MAX",
    "HARTMANN3_PATHS",
    "LOG_LR_OPTIMUM",
    "WEIGHTS_OPTIMUM",
    "AddedRss",
    "allocating",
    "allocating_bytes",
    "hartmann3",
    "instant",
    "log_lr_bowl",
    "log_lr_loss",
    "mf_hartmann3",
    "mf_hartmann3_hard",
    "slow_log_lr_bowl",
    "weights_bowl",
]

ReportFn = Callable[[int, Mapping[str, float]], Any]

LOG_LR_OPTIMUM = -3.7
# what ``allocating`` holds per sample at data.image_size 64
ALLOCATING_SAMPLE_BYTES = 64 * 2**20
# inside the loss_weights space's ranges and on the simplex
WEIGHTS_OPTIMUM = {
    "focal_tversky": 0.45,
    "boundary": 0.2,
    "weighted_ce": 0.12,
    "soft_dice": 0.13,
    "region": 0.03,
    "affinity": 0.03,
    "query": 0.04,
}


def _fidelity(value: float, epoch: int) -> float:
    # Lower at low budgets by the same amount for every configuration: low-fidelity rankings
    # equal full-fidelity rankings, the regime in which successive halving is sound.
    return value - 0.5 / epoch


def _run(recipe: Any, report: ReportFn, value: float) -> dict[str, Any]:
    epochs = recipe.optim.epochs
    score = math.nan
    for epoch in range(1, epochs + 1):
        score = _fidelity(value, epoch)
        report(epoch, {"score": score})
    return {"status": TrialStatus.COMPLETED, "epochs": epochs, "final": {"score": score}}


def log_lr_bowl(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """``score = 1 - (log10(optim.lr) - LOG_LR_OPTIMUM)^2`` at full budget (max 1 at lr=10^-3.7)."""
    return _run(recipe, report, 1.0 - (math.log10(recipe.optim.lr) - LOG_LR_OPTIMUM) ** 2)


def log_lr_loss(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """``train_loss = (log10(optim.lr) - LOG_LR_OPTIMUM)^2 + 0.5 / epoch``: a loss, smallest
    (0 at full budget) at lr = 10^-3.7; a search that maximised it would run to a range edge."""
    epochs = recipe.optim.epochs
    loss = math.nan
    for epoch in range(1, epochs + 1):
        loss = (math.log10(recipe.optim.lr) - LOG_LR_OPTIMUM) ** 2 + 0.5 / epoch
        report(epoch, {"train_loss": loss})
    return {"status": TrialStatus.COMPLETED, "epochs": epochs, "final": {"train_loss": loss}}


def slow_log_lr_bowl(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """:func:`log_lr_bowl` taking 0.5 s per epoch: long enough to interrupt a search."""

    def slow_report(epoch: int, metrics: Mapping[str, float]) -> None:
        time.sleep(0.5)
        report(epoch, metrics)

    return _run(recipe, slow_report, 1.0 - (math.log10(recipe.optim.lr) - LOG_LR_OPTIMUM) ** 2)


def weights_bowl(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """``score = 1 - 10 * ||w - WEIGHTS_OPTIMUM||^2`` over the seven loss weights (max 1)."""
    w = recipe.loss.weights.model_dump()
    dist = sum((w[k] - v) ** 2 for k, v in WEIGHTS_OPTIMUM.items())
    return _run(recipe, report, 1.0 - 10.0 * dist)


def instant(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """Reports one epoch at once: what a trial costs the harness, without the work."""
    report(1, {"score": 0.0})
    return {"status": TrialStatus.COMPLETED, "epochs": 1, "final": {"score": 0.0}}


class AddedRss:
    """A memory-guard sampler: this process's RSS above its level when the sampler was made."""

    kind = "rss_added"

    def __init__(self) -> None:
        from trials.memory import RssSampler

        self._rss = RssSampler()
        self._start = self._rss()

    def __call__(self) -> int:
        return max(0, self._rss() - self._start)


def allocating_bytes(recipe: Any) -> int:
    """What :func:`allocating` holds: ``data.batch_size x 64 MiB x (data.image_size / 64)^2``.

    Activations grow with the batch and with the area of the network's input, so the two
    parameters trade against each other under a cap (64 MiB per sample at cpu_demo's 64 px).
    """
    return recipe.data.batch_size * _allocating_sample_bytes(recipe)


def _allocating_sample_bytes(recipe: Any) -> int:
    # whole 8-byte floats, at least one
    return max(8, (ALLOCATING_SAMPLE_BYTES * recipe.data.image_size**2 // 64**2) // 8 * 8)


def allocating(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """Holds :func:`allocating_bytes` (one sample at a time, pages touched) under the real memory
    guard, then reports one epoch per ``optim.epochs`` with ``score = data.batch_size``.

    The guard measures the process RSS the trial added (:class:`AddedRss`), so the cap applies
    to what the trial holds, whatever the Ray worker held before it (about 1 GB here, and not the
    same on every machine). With ``memory.cap`` set, large batches of large inputs breach it and
    the trial ends with status ``memory_cap`` exactly as ``run_trial`` does; small ones complete.
    The summary carries the guard's peak (``peak_memory_bytes``) and each epoch's report the peak
    so far (``memory_peak_bytes``), as ``run_trial``'s do.
    """
    from search_spaces import MemoryCapExceeded
    from trials.memory import MemoryGuard

    held: list[Any] = []
    guard = MemoryGuard(recipe.memory, "cpu", sampler=AddedRss())
    sample = _allocating_sample_bytes(recipe)
    try:
        with guard:
            for _sample in range(recipe.data.batch_size):
                held.append(np.ones(sample // 8))  # pages touched
                guard.check()
                time.sleep(0.002)  # a step's pause: the guard's background thread samples too
            for epoch in range(1, recipe.optim.epochs + 1):
                report(
                    epoch,
                    {"score": float(recipe.data.batch_size), "memory_peak_bytes": guard.peak_bytes},
                )
        status, error = TrialStatus.COMPLETED, None
    except MemoryCapExceeded as exc:
        status, error = TrialStatus.MEMORY_CAP, str(exc)
    finally:
        held.clear()
    return {
        "status": status,
        "error": error,
        "epochs": 0 if status != TrialStatus.COMPLETED else recipe.optim.epochs,
        "peak_memory_bytes": guard.peak_bytes,
        "final": {"score": float(recipe.data.batch_size)}
        if status == TrialStatus.COMPLETED
        else {},
    }


# ------------------------------------------------------------------ multi-fidelity Hartmann 3

# Recipe values read as the coordinates x1, x2, x3 in [0, 1]: plain floats with no upper bound
# in the recipe, so any point of the unit cube is a valid configuration.
HARTMANN3_PATHS = (
    "loss.weights.focal_tversky",
    "loss.weights.boundary",
    "loss.weights.weighted_ce",
)
HARTMANN3_ARGMAX = (0.114614, 0.555649, 0.852547)
HARTMANN3_MAX = 3.86278
_H3_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)


def hartmann3(x: Sequence[float], fidelity: float = 1.0, bias: float = 0.0) -> float:
    """The Hartmann 3-D function, negated to be maximised, with a fidelity bias.

    ``sum_i alpha'_i exp(-sum_j A_ij (x_j - P_ij)^2)`` with
    ``alpha' = alpha - bias (1 - fidelity)``: at ``fidelity = 1`` it is the classical function
    (maximum :data:`HARTMANN3_MAX` at :data:`HARTMANN3_ARGMAX`); lower fidelities flatten and
    distort it. The bias follows Kandasamy et al., "Multi-fidelity Bayesian Optimisation with
    Continuous Approximations" (ICML 2017), as used by mf-prior-bench's ``MFHartmann3``.

    Args:
        x: three coordinates in [0, 1].
        fidelity: in [0, 1]; 1 is the true function.
        bias: how strongly low fidelities distort the function.
    """
    if len(x) != 3:
        raise ValueError(f"hartmann3 takes 3 coordinates, got {len(x)}: {list(x)}")
    alpha = _H3_ALPHA - bias * (1.0 - fidelity)
    inner = np.sum(_H3_A * (np.asarray(x, dtype=float) - _H3_P) ** 2, axis=1)
    return float(np.sum(alpha * np.exp(-inner)))


def _stable_normal(x: Sequence[float], epoch: int) -> float:
    # Python's hash() is salted per process; workers must agree on a configuration's noise.
    key = f"{epoch}:" + ",".join(f"{v:.9f}" for v in x)
    return float(np.random.default_rng(zlib.crc32(key.encode())).standard_normal())


def _mf_hartmann3(recipe: Any, report: ReportFn, bias: float, noise: float) -> dict[str, Any]:
    x = []
    for path in HARTMANN3_PATHS:
        value: Any = recipe
        for key in path.split("."):
            value = getattr(value, key)
        x.append(float(value))
    epochs = recipe.optim.epochs
    score = math.nan
    for epoch in range(1, epochs + 1):
        # Fidelity grows with log(epoch), reaching 1 (the true function, no noise) at the end.
        z = math.log(epoch) / math.log(epochs) if epochs > 1 else 1.0
        score = hartmann3(x, z, bias) - abs(_stable_normal(x, epoch)) * noise * (1.0 - z)
        # when each epoch ended, so that a benchmark can order epochs across parallel trials
        report(epoch, {"score": score, "reported_at": time.time()})
    return {"status": TrialStatus.COMPLETED, "epochs": epochs, "final": {"score": score}}


def mf_hartmann3(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """Multi-fidelity Hartmann 3 over :data:`HARTMANN3_PATHS`, one report per epoch (max 3.86278).

    Fidelity ``z = log(epoch) / log(optim.epochs)``; bias 1.0 and noise 0.1 (the noise is
    ``|N(0, 1)| * 0.1 * (1 - z)``, subtracted, the same for the same point and epoch in every
    process). With 9 epochs the Spearman correlation between epoch-1 and final scores over the
    unit cube is about 0.86, and 0.99 at epoch 3: low budgets rank configurations usefully, as
    successive halving assumes. The final epoch's score is exactly :func:`hartmann3`. Each
    report also carries ``reported_at`` (Unix time), which orders epochs across trials.
    """
    return _mf_hartmann3(recipe, report, bias=1.0, noise=0.1)


def mf_hartmann3_hard(recipe: Any, report: ReportFn, **_: Any) -> dict[str, Any]:
    """:func:`mf_hartmann3` with mf-prior-bench's "good" preset (bias 2.5, noise 0.1).

    Epoch-1 scores barely rank configurations (Spearman about 0.02 with the final scores over
    the unit cube at 9 epochs; 0.76 at epoch 3): a hard case for early stopping.
    """
    return _mf_hartmann3(recipe, report, bias=2.5, noise=0.1)
