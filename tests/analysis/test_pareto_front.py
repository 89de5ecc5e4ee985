"""The Pareto front of quality against peak memory (the report's trade-off plot), on hand-made
points and against a brute-force check. Moved from test_render.py to keep that file short."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.render import pareto_front


def test_pareto_front_hand_made():
    #            A    B    C    D    E    F    G(=B)  H(nan)
    quality = [0.5, 0.7, 0.6, 0.9, 0.8, 0.2, 0.7, np.nan]
    memory = [1.0, 2.0, 3.0, 4.0, 4.0, 0.5, 2.0, 0.1]
    # C is dominated by B (less memory, better); E by D (same memory, better); G ties B.
    assert pareto_front(quality, memory, "max").tolist() == [
        True, True, False, True, False, True, True, False,
    ]  # fmt: skip
    # For "min" (lower is better): F (0.2 at 0.5) dominates all but H (nan) and itself.
    assert pareto_front(quality, memory, "min").tolist() == [
        False, False, False, False, False, True, False, False,
    ]  # fmt: skip
    assert pareto_front([], [], "max").tolist() == []
    with pytest.raises(ValueError, match="mode must be"):
        pareto_front([1.0], [1.0], "best")


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(3)
    q = rng.integers(0, 6, 200).astype(float)  # many ties on purpose
    m = rng.integers(0, 6, 200).astype(float)
    got = pareto_front(q, m, "max")
    dominated = [
        any(q[j] >= q[i] and m[j] <= m[i] and (q[j] > q[i] or m[j] < m[i]) for j in range(200))
        for i in range(200)
    ]
    assert got.tolist() == [not d for d in dominated]
