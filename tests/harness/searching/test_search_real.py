"""A search that really trains: run_trial through Ray Tune on a shrunken cpu_demo."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.searching import SearchSettings, run_stage
from search_spaces import load_recipe, load_space


@pytest.mark.slow
@pytest.mark.ray
def test_loss_weights_search_trains_real_trials(ray_session, tmp_path, tiny_overrides):
    base = load_recipe("cpu_demo", tiny_overrides)
    settings = SearchSettings(trials=4, max_epochs=2, grace_period=1, reduction_factor=2, seed=1)
    result = run_stage(tmp_path / "lw", load_space("loss_weights"), base, settings, console=None)
    trials = result.trials
    assert len(trials) == 4 and set(trials["status"]) <= {"completed", "pruned"}
    weights = [c for c in trials.columns if c.startswith("loss.weights.")]
    assert len(weights) == 7
    assert (trials[weights].sum(axis=1) - 1).abs().max() < 1e-9
    # the reference weights (rescaled onto the simplex) are the first configuration
    reference = pd.Series(base.loss.weights.model_dump()) / 1.1
    first = trials.iloc[0][weights].rename(lambda c: c.split(".")[-1])
    assert first.sort_index().to_numpy() == pytest.approx(reference.sort_index().to_numpy())
    assert trials["final.iou_lesion"].between(0, 1).all()
    assert (trials["peak_memory_bytes"] > 0).all()
    curves = result.curves
    assert {"iou_lesion", "train_loss", "loss_boundary", "memory_peak_bytes"} <= set(curves.columns)
    # one split for every trial, written once by the driver
    assert (result.directory / "split.json").is_file()
    assert len(list(result.directory.glob("trial_*/best.pt"))) == 4


def _browser():
    """The headless-Chromium helpers of the analysis tests (one implementation for both)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "analysis" / "test_html_browser.py"
    spec = importlib.util.spec_from_file_location("_browser_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.ray
def test_report_of_a_real_search_renders_in_headless_chromium(
    ray_session, tmp_path, tiny_overrides
):
    import harness

    base = load_recipe("cpu_demo", tiny_overrides)
    settings = SearchSettings(trials=6, max_epochs=2, grace_period=1, reduction_factor=2, seed=4)
    result = run_stage(tmp_path / "lw", load_space("loss_weights"), base, settings, console=None)
    (result.directory / "spec.json").write_text(
        '{"settings": {"metric": "iou_lesion", "mode": "max"}, "space": "loss_weights"}'
    )
    written = harness.report(
        [result.directory],
        metric=None,
        epoch=None,
        interactions=1,
        bootstrap=20,
        seed=0,
        format="md,html,csv,json",
        out=None,
    )
    report = result.directory / "report"
    assert written.paths and all(p.is_file() for p in written.paths)
    names = {p.name for p in report.iterdir()}
    assert {"importance.csv", "importance.json", "report.md", "report.html"} <= names
    browser = _browser()
    if not browser.CHROMIUM.exists():
        pytest.skip("headless Chromium not installed at /usr/bin/chromium")
    run = browser._screenshot(report / "report.html", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "shot.png").stat().st_size > 20_000
    assert browser._problems(run.stderr) == []
