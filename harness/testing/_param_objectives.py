"""An objective with parameters of its own (objective parameters), for tests and as an example.

A trainable that takes ``params`` may be searched over parameters that are not recipe fields
(see :mod:`search_spaces._space`): a space names them ``<namespace>.<name>`` and the trainable
receives ``params={"toy.x": 0.12, "toy.y": -0.4}``. :func:`toy_bowl` is a bowl over two such
parameters with a known optimum; :data:`TOY_SPACE` is a space over them::

    echo "$TOY_SPACE" > toy.yaml
    harness search --space toy.yaml --trainable harness.testing:toy_bowl --metric score
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from search_spaces import TrialStatus

__all__ = ["TOY_OPTIMUM", "TOY_SPACE", "TOY_START", "toy_bowl", "toy_score"]

ReportFn = Callable[[int, Mapping[str, float]], Any]

# the maximum of toy_score (1.0 at full budget)
TOY_OPTIMUM = {"toy.x": 0.3, "toy.y": -0.4}
# where the base configuration starts (the defaults of TOY_SPACE), and what toy_bowl uses for a
# parameter it is not given
TOY_START = {"toy.x": -0.5, "toy.y": 0.5}
TOY_SPACE = """\
description: A bowl over two objective parameters (harness.testing:toy_bowl), optimum x=0.3, y=-0.4.
params:
  toy.x: {type: float, low: -1.0, high: 1.0, default: -0.5}
  toy.y: {type: float, low: -1.0, high: 1.0, default: 0.5}
"""


def toy_score(x: float, y: float, epoch: int = 0, epochs: int = 0) -> float:
    """``1 - (x - 0.3)^2 - (y + 0.4)^2``, lowered by ``0.5 / epoch`` before the last epoch
    (``epoch < epochs``) by the same amount for every point, so low budgets rank points as the
    full budget does."""
    value = 1.0 - (x - TOY_OPTIMUM["toy.x"]) ** 2 - (y - TOY_OPTIMUM["toy.y"]) ** 2
    return value - (0.5 / epoch if 0 < epoch < epochs else 0.0)


def toy_bowl(
    recipe: Any, report: ReportFn, *, params: Mapping[str, Any] | None = None, **_: Any
) -> dict[str, Any]:
    """Reports ``score`` (:func:`toy_score` of ``params["toy.x"]``, ``params["toy.y"]``) once per
    epoch for ``recipe.optim.epochs`` epochs, and returns a summary with the final ``score`` and
    ``distance`` to :data:`TOY_OPTIMUM` and the values it received (``x_received``,
    ``y_received``), so a test can tell that they reach the tables."""
    given = dict(params or {})
    x = float(given.get("toy.x", TOY_START["toy.x"]))
    y = float(given.get("toy.y", TOY_START["toy.y"]))
    epochs = recipe.optim.epochs
    score = math.nan
    for epoch in range(1, epochs + 1):
        score = toy_score(x, y, epoch, epochs)
        report(epoch, {"score": score})
    distance = math.hypot(x - TOY_OPTIMUM["toy.x"], y - TOY_OPTIMUM["toy.y"])
    return {
        "status": TrialStatus.COMPLETED,
        "epochs": epochs,
        "final": {"score": score, "distance": distance},
        "x_received": x,
        "y_received": y,
        "peak_memory_bytes": 4096,
    }
