"""What a finished search says, in plain terms: the best configuration against the base
configuration, which parameters matter (and with what confidence), parameters that ended at a
range edge, and the next command to run.

Computed here as a JSON-able dict (``search_answer``) and its sentences (``answer_sentences``);
the command line prints them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from search_spaces import (
    SUCCESS_STATUSES,
    FloatParam,
    IntParam,
    SimplexParam,
    Space,
)

__all__ = [
    "EDGE_FRACTION",
    "answer_sentences",
    "base_trial",
    "best_configuration",
    "edge_notes",
    "important_parameters",
    "search_answer",
]

# a value within this share of its range (log-range for a log parameter) from an end is "at" it
EDGE_FRACTION = 0.02
ALPHA = 0.05


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def base_trial(trials: pd.DataFrame, space: Space, base: dict[str, Any]) -> dict[str, Any] | None:
    """The trial that evaluated the base configuration (the search enqueues it first): the
    earliest trial whose parameters equal the base recipe's values, or ``None``."""
    paths = [p for p in space.paths() if p in trials.columns]
    for _, row in trials.sort_values("trial_id").iterrows():
        same = True
        for path in paths:
            a, b = row[path], base.get(path)
            if _number(a) is not None and _number(b) is not None:
                same = math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
            else:
                same = a == b
            if not same:
                break
        if same:
            return row.to_dict()
    return None


def _edge(value: float, low: float, high: float, log: bool) -> str | None:
    if log and value > 0 and low > 0:
        value, low, high = math.log10(value), math.log10(low), math.log10(high)
    span = high - low
    if span <= 0:
        return None
    if value - low <= EDGE_FRACTION * span:
        return "lower"
    if high - value <= EDGE_FRACTION * span:
        return "upper"
    return None


def edge_notes(best: dict[str, Any], space: Space) -> list[dict[str, Any]]:
    """The best trial's parameters at an end of their range: a sign the range cuts off a
    better region (loss weights at their component bounds count too)."""
    notes = []
    for key, spec in space.params.items():
        if isinstance(spec, FloatParam | IntParam):
            items = [(key, spec.low, spec.high, spec.log)]
        elif isinstance(spec, SimplexParam):
            items = [
                (f"{key}.{c}", lo, hi, False)
                for c, lo, hi in zip(spec.components, spec.lows(), spec.highs(), strict=True)
            ]
        else:  # categorical choices and fractions have no edge to extend
            continue
        for path, low, high, log in items:
            value = _number(best.get(path))
            if value is None:
                continue
            side = _edge(value, float(low), float(high), log)
            if side is not None:
                notes.append(
                    {"parameter": path, "value": value, "edge": side, "low": low, "high": high}
                )
    return notes


def important_parameters(table: pd.DataFrame, alpha: float = ALPHA) -> list[dict[str, Any]]:
    """Parameters whose ANOVA main effect is distinguishable from noise after Holm's correction
    across all parameters (Holm 1979), largest share first."""
    from statsmodels.stats.multitest import multipletests

    if table.empty or "anova_p" not in table:
        return []
    rows = table.dropna(subset=["anova_p"])
    if rows.empty:
        return []
    reject, adjusted, _, _ = multipletests(rows["anova_p"].to_numpy(), alpha=alpha, method="holm")
    out = []
    for (_, row), keep, p_holm in zip(rows.iterrows(), reject, adjusted, strict=True):
        if keep:
            out.append(
                {
                    "parameter": row["parameter"],
                    "share": _number(row.get("anova")),
                    "lo": _number(row.get("anova_lo")),
                    "hi": _number(row.get("anova_hi")),
                    "p_holm": float(p_holm),
                }
            )
    return sorted(out, key=lambda r: -(r["share"] or 0.0))


def search_answer(
    trials: pd.DataFrame,
    space: Space,
    base: dict[str, Any],
    metric: str,
    mode: str,
    best: dict[str, Any] | None,
    importance: Any | None,
) -> dict[str, Any]:
    """The facts of the plain-language summary (JSON-able).

    Args:
        trials: the stage's trial table.
        space: the searched space.
        base: the flattened base recipe (the configuration evaluated first).
        metric, mode: what was optimised.
        best: the best trial's row.
        importance: the stage's :class:`analysis.ImportanceReport`, or ``None`` when it could
            not be computed (the reason is then in ``importance_note``).
    """
    column = f"final.{metric}"
    answer: dict[str, Any] = {"metric": metric, "mode": mode, "n_trials": len(trials)}
    if best is not None:
        answer["best"] = {
            "trial_id": best["trial_id"],
            "value": _number(best.get(column)),
            "epochs": int(best.get("epochs", 0)),
            "status": best.get("status"),
            "params": {p: best.get(p) for p in space.paths() if p in best},
        }
        answer["edges"] = edge_notes(best, space)
    reference = base_trial(trials, space, base)
    if reference is not None:
        answer["base"] = {
            "trial_id": reference["trial_id"],
            "value": _number(reference.get(column)),
            "epochs": int(reference.get("epochs", 0)),
            "status": reference.get("status"),
            "complete": reference.get("status") in SUCCESS_STATUSES,
        }
    if importance is not None:
        meta = importance.meta()
        answer["importance"] = {
            "epoch": meta["epoch"],
            "n_used": meta["n_used"],
            "n_trials": meta["n_trials_total"],
            "important": important_parameters(importance.table),
            "tested": int(importance.table["anova_p"].notna().sum())
            if "anova_p" in importance.table
            else 0,
        }
    return answer


def best_configuration(
    best: Mapping[str, Any] | None, params: Sequence[str], metric: str
) -> dict[str, Any] | None:
    """The best trial as a configuration: each parameter's value by its dotted path, then
    ``trial_id``, ``epochs``, ``status`` and ``final.<metric>`` (``None`` without a best trial).

    Search and report both give this, from the same trial table, so they agree.
    """
    if best is None:
        return None
    out = {p: _plain(best[p]) for p in params if p in best}
    for key in ("trial_id", "epochs", "status", f"final.{metric}"):
        if key in best:
            out[key] = _plain(best[key])
    return out


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (a configuration is compared and printed as such)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "ndim", 1) == 0 else value


def answer_sentences(answer: Mapping[str, Any], run_dir: Path) -> list[str]:
    """The plain-language end of a search: what was found, how sure, and what to run next."""
    lines = _best_sentences(answer, run_dir)
    lines.append(_importance_sentence(answer))
    for edge in answer.get("edges", []):
        lines.append(
            f"{edge['parameter']} = {edge['value']:.4g} is at the {edge['edge']} edge of its "
            f"range [{edge['low']:g}, {edge['high']:g}]: a wider range may hold better values."
        )
    lines.append(f"Report: {run_dir / 'report' / 'report.html'}")
    lines.append(
        f"Next: `harness report {run_dir}` for the full ranking, `harness ablate --base "
        f"{run_dir} --drop each` for what each loss component is worth."
    )
    return lines


def _best_sentences(answer: Mapping[str, Any], run_dir: Path) -> list[str]:
    """The best configuration against the base one, and how to measure seed noise."""
    metric, best, base = answer["metric"], answer.get("best"), answer.get("base")
    if best is None or best["value"] is None:
        return []
    line = f"The best configuration (trial {best['trial_id']}) reached {metric} = "
    line += f"{best['value']:.4g}"
    if base is not None and base["value"] is not None and base["trial_id"] != best["trial_id"]:
        gain = best["value"] - base["value"]
        sign = "better" if (gain > 0) == (answer["mode"] == "max") else "worse"
        line += (
            f", {abs(gain):.4g} {sign} than the base configuration (trial "
            f"{base['trial_id']}, {base['value']:.4g} at epoch {base['epochs']})"
        )
        if not base["complete"]:
            line += "; the base was stopped early, so the two are not at the same epoch"
    elif base is not None and base["trial_id"] == best["trial_id"]:
        line += "; that is the base configuration itself: no sampled one beat it"
    return [
        line + ".",
        "Seed noise is unknown for a single run of each configuration: "
        f"`harness ablate --base {run_dir} --seeds 5` measures it.",
    ]


def _importance_sentence(answer: Mapping[str, Any]) -> str:
    """Which parameters matter, with their shares and Holm-adjusted p-values."""
    imp = answer.get("importance")
    if imp is None:
        return f"Importance: not computed ({answer.get('importance_note', 'no report')})."
    where = f"At epoch {imp['epoch']} ({imp['n_used']} of {imp['n_trials']} trials), "
    if not imp["important"]:
        return (
            where + "no parameter's effect is distinguishable from noise (ANOVA, "
            "Holm-corrected, p >= 0.05 for each): more trials, or fewer parameters, would be "
            "needed."
        )
    parts = []
    for r in imp["important"]:
        share = "" if r["share"] is None else f"{100 * r['share']:.0f}% of the variance"
        if r["lo"] is not None and r["hi"] is not None:
            share += f" [{100 * r['lo']:.0f}, {100 * r['hi']:.0f}]"
        parts.append(f"{r['parameter']} ({share}, Holm p = {r['p_holm']:.2g})")
    return where + "these parameters matter: " + "; ".join(parts) + "."
