"""Rendering of a validation (``harness validate``): terminal rows, CSV, JSON and Markdown.

Takes the :class:`~analysis.validation.ValidationResult` that
:func:`analysis.validation.validation_statistics` computed; computes no statistic itself. The
rows have the ablation table's columns (:func:`analysis.render._ablation._metric_rows`), with
the reference as the baseline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from analysis._json import jsonable
from analysis.render._ablation import _metric_rows
from analysis.render._markup import md_table
from analysis.validation._statistics import ValidationResult, verdict_sentences

__all__ = ["VALIDATION_FILES", "validation_markdown", "validation_rows", "write_validation"]

VALIDATION_FILES = {"csv": "validation.csv", "json": "validation.json", "md": "validation.md"}


def validation_rows(result: ValidationResult, metric: str | None = None) -> list[dict[str, str]]:
    """One metric's rows (default: the main metric) as formatted strings, reference first.

    Keys: ``variant``, ``n`` (fold×seed pairs), ``mean ± sd``, ``95% CI``, ``Δ`` (candidate −
    reference), ``Δ 95% CI``, ``Δ %``, ``p t``, ``p Wilcoxon``, ``p Holm`` (across the metrics),
    ``d_z``, ``MDE``, ``verdict``.
    """
    return _metric_rows(result, metric or result.main_metric)  # type: ignore[arg-type]


def _settings(result: ValidationResult, meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    lines = [
        ("candidate", str(meta.get("candidate", "–"))),
        ("reference", str(meta.get("reference", "–"))),
        (
            "design",
            f"{result.folds} folds × {result.seeds} seeds, the same for both configurations "
            "(folds stratified by lesion fraction; the test split untouched)",
        ),
        (
            "tests",
            f"paired by (fold, seed), Δ = candidate − reference; paired t-test, Wilcoxon "
            f"signed-rank from 6 pairs, Holm across the {len(result.metrics)} metrics; verdict "
            f"at α = {result.alpha:g} on the Holm p; intervals {round(100 * result.confidence)}%",
        ),
    ]
    if meta.get("command"):
        lines.append(("command", str(meta["command"])))
    return lines


def _fold_rows(meta: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for f in meta.get("fold_summary") or []:
        rows.append(
            {
                "fold": str(f.get("fold")),
                "validation images": str(f.get("n_val")),
                "training images": str(f.get("n_train")),
                "lesion fraction (min / median / max)": (
                    f"{f.get('lf_min', 0):.3g} / {f.get('lf_median', 0):.3g} / "
                    f"{f.get('lf_max', 0):.3g}"
                ),
            }
        )
    return rows


def validation_markdown(result: ValidationResult, meta: Mapping[str, Any]) -> str:
    """The validation as Markdown: the verdict, the winner's curse, the tables, the notes."""
    name = meta.get("name")
    lines = [f"# Validation{': ' + str(name) if name else ''}", ""]
    lines += [f"**Verdict.** {result.verdict}.", ""]
    if result.winners_curse:
        lines += [f"**Winner's curse.** {result.winners_curse['sentence']}.", ""]
    lines += [f"- **{k}**: {v}" for k, v in _settings(result, meta)]
    lines += ["", f"## {result.main_metric}", "", md_table(validation_rows(result)), ""]
    others = [m for m in result.metrics if m != result.main_metric]
    if others:
        lines += ["## Every metric", ""]
        lines += [f"- {s}" for s in verdict_sentences(result)]
        lines.append("")
        for metric in others:
            lines += [f"### {metric}", "", md_table(validation_rows(result, metric)), ""]
    folds = _fold_rows(meta)
    if folds:
        lines += ["## Folds", "", md_table(folds), ""]
    if result.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in result.notes] + [""]
    return "\n".join(lines)


def write_validation(
    result: ValidationResult, out_dir: str | Path, *, meta: Mapping[str, Any]
) -> list[Path]:
    """Write ``validation.csv``, ``validation.json`` and ``validation.md`` into ``out_dir``.

    Args:
        result: the statistics.
        out_dir: the folder (created if missing).
        meta: the run's settings (``spec.json``: ``candidate``, ``reference``, ``command``,
            ``fold_summary``; a ``name`` titles the report).

    Returns:
        The written paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / v for k, v in VALIDATION_FILES.items()}
    result.table.to_csv(paths["csv"], index=False)
    keep = ("name", "command", "candidate", "reference", "folds", "seeds", "metric", "mode")
    doc = jsonable({"meta": {k: meta[k] for k in keep if k in meta}, **result.to_dict()})
    paths["json"].write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    paths["md"].write_text(validation_markdown(result, meta), encoding="utf-8")
    return list(paths.values())
