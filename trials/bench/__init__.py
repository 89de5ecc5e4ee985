"""Speed and memory of the recipe's training step over a grid of settings (``harness bench``).

``bench_recipe(recipe, steps=, warmup=, device=)`` times real training steps of one configuration
(real tiles of the recipe's data and the training loop's own step: the full model, the composite
loss and AdamW) and records its peak memory; ``parse_grid`` / ``expand_grid`` / ``bench_grid``
run it over the Cartesian product of ``--grid path=v1,v2`` axes. No Ray here.
"""

from __future__ import annotations

from trials.bench._bench import (
    BENCH_COLUMNS,
    BENCH_OK,
    bench_grid,
    bench_recipe,
    describe_row,
)
from trials.bench._grid import expand_grid, parse_grid

__all__ = [
    "BENCH_COLUMNS",
    "BENCH_OK",
    "bench_grid",
    "bench_recipe",
    "describe_row",
    "expand_grid",
    "parse_grid",
]
