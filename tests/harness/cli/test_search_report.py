"""The end-of-search report: a failure inside the analysis keeps the finished search."""

from __future__ import annotations

import analysis
from harness.cli._search import write_search_report


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
