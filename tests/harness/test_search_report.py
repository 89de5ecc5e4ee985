"""The end-of-search report: a failure inside the analysis keeps the finished search."""

from __future__ import annotations

import pytest

import analysis
from harness._report_api import write_search_report


def test_a_bug_in_the_analysis_is_reported_with_its_traceback_not_raised(tmp_path, monkeypatch):
    def broken(run_dir):
        raise FloatingPointError("injected fault in the analysis")

    monkeypatch.setattr(analysis, "load_experiment", broken)
    report, note = write_search_report(tmp_path, "val_iou", "max")
    assert report is None
    assert "FloatingPointError: injected fault in the analysis" in note
    assert "the trials are saved" in note
    saved = (tmp_path / "report" / "importance_error.txt").read_text()
    assert "injected fault in the analysis" in saved and "Traceback" in saved


@pytest.mark.slow
@pytest.mark.ray
def test_the_end_of_search_report_carries_the_ranking_across_epochs(tmp_path):
    import json

    import numpy as np
    import pandas as pd

    n = 30
    rng = np.random.default_rng(1)
    lr = rng.uniform(0, 1, n)
    ids = [f"t{i:04d}" for i in range(n)]
    score = lr + rng.normal(0, 0.05, n)
    width = rng.choice([8, 16], n)
    trials = pd.DataFrame(
        {"trial_id": ids, "status": "completed", "optim.lr": lr, "model.width": width,
         "epochs": 3, "final.val_iou": score}
    )  # fmt: skip
    rows = [(t, e, s * e / 3) for t, s in zip(ids, score, strict=True) for e in (1, 2, 3)]
    curves = pd.DataFrame(rows, columns=["trial_id", "epoch", "val_iou"])
    spec = {"command": "search", "settings": {"metric": "val_iou", "mode": "max", "max_epochs": 3}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    trials.to_parquet(tmp_path / "trials.parquet", index=False)
    curves.to_parquet(tmp_path / "curves.parquet", index=False)

    report, note = write_search_report(tmp_path, "val_iou", "max")
    assert note is None and report.table["parameter"].iloc[0] == "optim.lr"
    assert report.stability["epoch"].tolist() == [1, 2, 3]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "**epoch 3 of 3, 30 of 30 trials: what drives val_iou (max)**" in md
    assert "## Ranking across epochs" in md and "| 3 (reported) | 30 | optim.lr |" in md
    doc = json.loads((tmp_path / "report" / "importance.json").read_text())
    assert [r["epoch"] for r in doc["stability"]] == [1, 2, 3]
