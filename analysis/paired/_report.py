"""A paired experiment's report: its statistics, its sentences and its files, for either kind.

:func:`summarise` is what ``harness ablate`` and ``harness validate`` do once their cells ran and
what ``harness report`` does on their directories: the kind's statistics (paired by its keys,
Holm across its family), the verdicts in words, and the kind's files (``ablation.*`` and
``forest.png``, or ``validation.*``). It prints nothing: the command line prints the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.paired._load import load_cells, paired_kind
from analysis.paired._statistics import PairedStatistics
from search_spaces import DataError, RunSpec, TrialStatus

__all__ = ["PairedReport", "paired_report", "summarise"]

# what an ablation's files record of its spec.json
_ABLATION_META = ("command", "base", "seeds", "metric", "renormalize", "alpha", "mode")


@dataclass(frozen=True)
class PairedReport:
    """What :func:`summarise` computed and wrote.

    Attributes:
        kind: ``"ablation"`` or ``"validation"``.
        cells: the cells the statistics were computed from.
        spec: the experiment's ``spec.json``.
        statistics: the paired statistics (an ablation's or a validation's result), or
            ``None`` while the baseline and another variant have no finished cell each.
        title: a title for the main table (``"abl: ablation of iou_lesion …"``).
        sentences: the verdicts in words, the main metric's first.
        written: the files written.
        metric: the main metric.
    """

    kind: str
    cells: pd.DataFrame
    spec: RunSpec
    statistics: PairedStatistics | None = None
    title: str = ""
    sentences: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    metric: str = ""


def _ablation(
    cells: pd.DataFrame, spec: RunSpec, name: str, metric: str | None, boot: Mapping[str, int]
) -> tuple[PairedStatistics, str, list[str]]:
    from analysis.ablation import ablation_sentences, ablation_statistics

    main = metric or spec.metric or "iou_lesion"
    # the direction the ablation recorded for its metric wins over the shared rule
    recorded = {spec.metric: spec.mode} if spec.metric and spec.mode else None
    result = ablation_statistics(
        cells, main_metric=main, alpha=spec.alpha or 0.05, directions=recorded, **boot
    )
    title = f"{name}: ablation of {main} (Δ = variant − {result.baseline}, paired by seed)"
    return result, title, ablation_sentences(result)


def _validation(
    cells: pd.DataFrame, spec: RunSpec, name: str, metric: str | None, boot: Mapping[str, int]
) -> tuple[PairedStatistics, str, list[str]]:
    from analysis.validation import validation_statistics, verdict_sentences

    main = metric or spec.metric or "iou_lesion"
    result = validation_statistics(
        cells,
        main_metric=main,
        folds=spec.extra("folds"),
        seeds=spec.seeds,
        alpha=spec.alpha or 0.05,
        directions={spec.metric: spec.mode} if spec.metric and spec.mode else None,
        search_best=spec.extra("search_best") if main == spec.metric else None,
        **boot,
    )
    title = f"{name}: {main}, candidate against reference over folds × seeds"
    sentences = verdict_sentences(result)
    if result.winners_curse:
        sentences.append(result.winners_curse["sentence"])
    return result, title, sentences


def _write(
    kind: str, result: Any, spec: RunSpec, directory: Path, out: Path, html_page: bool
) -> list[Path]:
    from analysis.render import write_ablation
    from analysis.validation import write_validation

    doc = spec.to_json()
    if kind == "validation":
        return write_validation(result, out, meta={"name": directory.name, **doc})
    variants_file = directory / "variants.json"
    records = (
        json.loads(variants_file.read_text(encoding="utf-8"))
        if variants_file.is_file()
        else spec.extra("variants") or []
    )
    meta = {"name": directory.name, **{k: doc[k] for k in _ABLATION_META if k in doc}}
    return write_ablation(result, pd.DataFrame(records), out, meta=meta, html_page=html_page)


_STATISTICS: dict[str, Callable[..., tuple[PairedStatistics, str, list[str]]]] = {
    "ablation": _ablation,
    "validation": _validation,
}


def ready(cells: pd.DataFrame, baseline: str) -> bool:
    """Whether the baseline and at least one other variant have a finished cell each."""
    if cells.empty:
        return False
    done = set(cells.loc[cells["status"] == TrialStatus.COMPLETED, "variant"].astype(str))
    return baseline in done and len(done) > 1


def summarise(
    directory: str | Path,
    cells: pd.DataFrame,
    spec: RunSpec,
    *,
    out: str | Path | None = None,
    metric: str | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
    html_page: bool = False,
) -> PairedReport:
    """The statistics, sentences and files of a paired experiment (none while the baseline and
    another variant have no finished cell each: no table yet).

    Args:
        directory: the experiment's directory (its name titles the report).
        cells: its cells.
        spec: its ``spec.json`` (``kind``, ``metric``, ``mode``, ``alpha``, …).
        out: where the files go (default: ``directory``).
        metric: the main metric instead of the recorded one.
        bootstrap, seed: the bootstrap interval of each Δ.
        html_page: an ablation also writes ``report.html``.

    Raises:
        DataError: ``spec`` is not a paired experiment's.
    """
    kind = str(spec.kind)
    if kind not in _STATISTICS:
        raise DataError(f"{directory}: spec.json records kind {kind!r}, not a paired experiment")
    directory = Path(directory)
    baseline = "reference" if kind == "validation" else "full"
    main = metric or spec.metric or "iou_lesion"
    if not ready(cells, baseline):
        return PairedReport(kind, cells, spec, metric=main)
    boot = {"bootstrap": bootstrap, "seed": seed}
    result, title, sentences = _STATISTICS[kind](cells, spec, directory.name, metric, boot)
    written = _write(kind, result, spec, directory, Path(out or directory), html_page)
    return PairedReport(kind, cells, spec, result, title, sentences, written, main)


def paired_report(
    directory: str | Path,
    *,
    metric: str | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
    out: str | Path | None = None,
) -> PairedReport:
    """``harness report`` on an ablation or validation directory: its statistics and files
    (an ablation's with ``report.html``) in ``out`` (default ``DIRECTORY/report``).

    Raises:
        DataError: not an ablation or validation directory, or a file is missing.
    """
    path = Path(directory)
    kind = paired_kind(path)
    if kind is None:
        raise DataError(f"{path} is not an ablation or validation directory")
    extra = ("variants.json",) if kind == "ablation" else ()
    cells, spec = load_cells(path, kind, extra)
    return summarise(
        path,
        cells,
        spec,
        out=out or path / "report",
        metric=metric,
        bootstrap=bootstrap,
        seed=seed,
        html_page=kind == "ablation",
    )
