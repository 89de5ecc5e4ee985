"""The importance report's tables as formatted rows, and what their columns mean.

Shared by the Markdown and HTML pages and the terminal (``harness report``). The numbers come from
:func:`analysis.compute_importance` (columns :data:`analysis.importance.TABLE_COLUMNS` and the
interaction, group and stability tables); here they only become strings: shares (0–1) as
"% of variance" with their interval in brackets, a missing share as the table's ``note`` saying
why, and every column shown paired with its definition from the report's meta.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from analysis.importance import DEFINITIONS
from analysis.render._markup import finite, num, p_value, pct

__all__ = [
    "column_definitions",
    "fidelity_sentence",
    "group_rows",
    "header_text",
    "interaction_rows",
    "ordered",
    "ranking_rows",
    "share_heading",
    "stability_rows",
]

DEFAULT_LEVEL = 0.9
_MISSING = (
    "text in place of a number says why the value is missing: a dropped parameter, too few "
    "trials, or fANOVA not computed"
)


def _level(level: Any) -> str:
    return f"{float(level):.0%}" if finite(level) else f"{DEFAULT_LEVEL:.0%}"


# what each column's share is a share of
_OVER = {"ANOVA": "over the trials as searched", "fANOVA": "over the search space"}


def share_heading(method: str, level: Any = DEFAULT_LEVEL, compact: bool = False) -> str:
    """The heading of a share column, saying what it is a share of: ``"ANOVA % of variance
    over the trials as searched [90% CI]"`` (``"ANOVA % [90% CI]"`` when ``compact``)."""
    what = "%" if compact else f"% of variance {_OVER.get(method, '')}".rstrip()
    return f"{method} {what} [{_level(level)} CI]"


def ordered(importance: pd.DataFrame) -> pd.DataFrame:
    """Largest ANOVA share first; fANOVA orders what ANOVA could not estimate."""
    return importance.sort_values(
        ["anova", "fanova", "parameter"],
        ascending=[False, False, True],
        na_position="last",
        kind="stable",
    )


def _text(v: Any) -> str:
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def _share(r: Any, method: str) -> str:
    """The share with its interval, or the row's note saying why it is missing."""
    v = getattr(r, method)
    if finite(v):
        return pct(v, getattr(r, f"{method}_lo", None), getattr(r, f"{method}_hi", None))
    return _text(getattr(r, "note", "")) or "–"


def _rank_prob(r: Any, method: str) -> str:
    """``"0.90 (#1)"``: the probability of the rank shown, and the rank."""
    rank, prob = getattr(r, f"{method}_rank", None), getattr(r, f"{method}_rank_prob", None)
    if not finite(rank):
        return "–"
    return f"{float(prob):.2f} (#{int(rank)})" if finite(prob) else f"#{int(rank)}"


def ranking_rows(
    importance: pd.DataFrame,
    top: int | None = None,
    *,
    level: Any = DEFAULT_LEVEL,
    compact: bool = False,
) -> list[dict[str, str]]:
    """The ranking as formatted strings, largest ANOVA share first (then fANOVA).

    Keys: ``parameter``, ``group``, ``treatment``, ``ANOVA % of variance over the trials as
    searched [90% CI]``, ``ANOVA P(rank)``, ``F``, ``p``, ``fANOVA % of variance over the search
    space [90% CI]``, ``fANOVA P(rank)``, and
    ``reliability`` only when some row is unreliable. A share cell reads ``"55.0 [48.0, 61.0]"``;
    a missing share shows the row's ``note``; a P(rank) cell reads ``"0.90 (#1)"``. ``compact``
    (a terminal): no ``group``, shorter share headings, ``"unreliable"`` without its reason.
    """
    df = ordered(importance).head(top)
    unreliable = "reliability" in df.columns and df["reliability"].map(_text).ne("").any()
    anova, fanova = (share_heading(m, level, compact) for m in ("ANOVA", "fANOVA"))
    rows = []
    for r in df.itertuples(index=False):
        row = {"parameter": str(r.parameter)}
        if not compact:
            row["group"] = _text(getattr(r, "group", ""))
        row["treatment"] = _text(getattr(r, "treatment", ""))
        row[anova] = _share(r, "anova")
        row["ANOVA P(rank)"] = _rank_prob(r, "anova")
        row["F"] = num(getattr(r, "anova_F", None), ".2f")
        row["p"] = p_value(getattr(r, "anova_p", None))
        row[fanova] = _share(r, "fanova")
        row["fANOVA P(rank)"] = _rank_prob(r, "fanova")
        if unreliable:
            text = _text(r.reliability)
            row["reliability"] = text.split(":", 1)[0] if compact else text
        rows.append(row)
    return rows


def column_definitions(
    columns: Iterable[str], definitions: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(term, definition) for every column of :func:`ranking_rows` shown, in their order.

    ``definitions`` is the report's ``meta["definitions"]`` (default
    :data:`analysis.importance.DEFINITIONS`); F and p share one entry.
    """
    d = {**DEFINITIONS, **(definitions or {})}
    out: dict[str, str] = {}
    for col in columns:
        if col == "parameter":
            out[col] = "the searched parameter, by its dotted path in the recipe"
        elif col == "group":
            out[col] = "the group whose total (Group totals) the parameter's share counts in"
        elif col in ("treatment", "reliability"):
            out[col] = d[col]
        elif col in ("F", "p"):
            out["F, p"] = d["F, p"]
        elif col.endswith("P(rank)"):
            method = col.split()[0]
            out[col] = f"{d['P(rank)']}; (#k) is the rank by the {method} share (#1: largest)"
        elif "%" in col:
            method = col.split()[0]
            out[col] = f"in percent, {d[method + ' share']}. In brackets, {d['interval']}"
    out["text instead of a number"] = _MISSING
    return list(out.items())


def interaction_rows(
    interactions: pd.DataFrame | None, level: Any = DEFAULT_LEVEL, top: int = 10
) -> list[dict[str, str]]:
    """The tested pairs, largest share first: ``interaction``, the share (a lower bound) with its
    interval, ``F``, ``p`` and ``p Holm``."""
    if interactions is None or interactions.empty:
        return []
    df = interactions.sort_values("share", ascending=False, na_position="last").head(top)
    heading = f"share % [{_level(level)} CI]"
    return [
        {
            "interaction": f"{r.a} × {r.b}",
            heading: pct(r.share, r.share_lo, r.share_hi),
            "F": num(r.F, ".2f"),
            "p": p_value(r.p),
            "p Holm": p_value(r.p_holm),
        }
        for r in df.itertuples(index=False)
    ]


def group_rows(groups: pd.DataFrame | None, level: Any = DEFAULT_LEVEL) -> list[dict[str, str]]:
    """Shares summed over each group, with the interval of each sum."""
    if groups is None or groups.empty:
        return []
    df = groups.sort_values(["anova", "fanova"], ascending=False, na_position="last")
    return [
        {
            "group": str(r.group),
            share_heading("ANOVA", level): pct(r.anova, r.anova_lo, r.anova_hi),
            share_heading("fANOVA", level): pct(r.fanova, r.fanova_lo, r.fanova_hi),
        }
        for r in df.itertuples(index=False)
    ]


def stability_rows(stability: pd.DataFrame | None, epoch: Any = None) -> list[dict[str, str]]:
    """The ANOVA ranking's top parameter and Kendall τ at each epoch; the reported one marked."""
    if stability is None or stability.empty:
        return []
    rows = []
    for r in stability.sort_values("epoch").itertuples(index=False):
        mark = " (reported)" if epoch is not None and finite(epoch) and r.epoch == epoch else ""
        rows.append(
            {
                "epoch": f"{num(r.epoch, '.0f')}{mark}",
                "trials": num(r.n_used, ".0f"),
                "top parameter": _text(r.top) or "–",
                "τ": num(r.tau, ".2f"),
            }
        )
    return rows


def header_text(meta: Mapping) -> str:
    """The fidelity in a few words, ``"epoch 2 of 12, 14 of 24 trials"`` (``meta["header"]``,
    else built from the epoch and trial counts)."""
    if meta.get("header"):
        return str(meta["header"])
    used = f"{meta.get('n_used')} of {meta.get('n_trials_total')} trials"
    epoch, last = meta.get("epoch"), meta.get("max_epoch")
    if epoch is None:
        return f"once per trial, {used}"
    return f"epoch {epoch} of {last}, {used}" if last is not None else f"epoch {epoch}, {used}"


def fidelity_sentence(meta: Mapping) -> str:
    """One sentence saying which outcome, epoch and trials the importance used."""
    return f"Importance of {meta.get('metric')}: {header_text(meta)}."
