"""Importance rankings of several experiments side by side (``harness report runs/A runs/B``).

One row per parameter of any experiment (the union); per experiment its ANOVA share of variance
(%), its rank and its fANOVA share (%). A parameter an experiment did not vary is blank there,
not zero: "not searched" and "does not matter" are different findings. The writers are
:func:`analysis.render.write_comparison`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from search_spaces import ConfigError

__all__ = ["compare_rankings"]

_NEEDED = ("parameter", "anova", "fanova")


def _rank(df: pd.DataFrame) -> pd.Series:
    if "anova_rank" in df.columns and df["anova_rank"].notna().any():
        return df["anova_rank"].astype(float)
    return df["anova"].rank(ascending=False, method="min", na_option="keep")


def compare_rankings(named: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Side-by-side rankings of several experiments.

    Args:
        named: experiment name to its importance frame (columns ``parameter``, ``anova``,
            ``fanova``, optionally ``anova_rank`` and ``group``).

    Returns:
        One row per parameter of the union, ordered by mean rank over the experiments that have
        it (then name), with ``parameter``, ``group`` and per experiment ``X`` the columns
        ``anova_pct[X]``, ``rank[X]``, ``fanova_pct[X]`` (NaN where ``X`` lacks the parameter).

    Raises:
        ConfigError: no experiment, or a frame without the needed columns.
    """
    if not named:
        raise ConfigError("comparing rankings needs at least one experiment, got none")
    parts, groups = [], {}
    for name, df in named.items():
        missing = [c for c in _NEEDED if c not in df.columns]
        if missing:
            raise ConfigError(f"importance of experiment {name!r} lacks columns {missing}")
        if df["parameter"].duplicated().any():
            dup = sorted(df.loc[df["parameter"].duplicated(), "parameter"].unique())
            raise ConfigError(f"importance of experiment {name!r} repeats parameters {dup}")
        part = pd.DataFrame(
            {
                f"anova_pct[{name}]": 100 * df["anova"].astype(float).to_numpy(),
                f"rank[{name}]": _rank(df).to_numpy(),
                f"fanova_pct[{name}]": 100 * df["fanova"].astype(float).to_numpy(),
            },
            index=pd.Index(df["parameter"].astype(str), name="parameter"),
        )
        parts.append(part)
        if "group" in df.columns:
            for p, g in zip(df["parameter"], df["group"], strict=True):
                groups.setdefault(str(p), g)
    table = pd.concat(parts, axis=1, join="outer")
    ranks = table[[f"rank[{n}]" for n in named]]
    order = pd.DataFrame({"mean": ranks.mean(axis=1), "name": table.index}, index=table.index)
    table = table.loc[order.sort_values(["mean", "name"], na_position="last").index]
    table.insert(0, "group", [groups.get(p, np.nan) for p in table.index])
    return table.reset_index()
