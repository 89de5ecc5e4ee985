"""``harness report`` on an ablation directory, through the console entry point: the files, the
terminal table and a self-contained HTML page with the table and the forest plot embedded."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

HARNESS = [sys.executable, "-m", "harness.cli"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FULL = [0.60, 0.62, 0.58, 0.65, 0.61]
DROP = [0.55, 0.60, 0.50, 0.62, 0.57]
QUERY = [0.61, 0.61, 0.59, 0.66, 0.60]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*HARNESS, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def _write_ablation(directory: Path) -> None:
    """An ablation directory in the shape ``harness ablate`` writes."""
    directory.mkdir(parents=True)
    rows = []
    for variant, values in (("full", FULL), ("drop boundary", DROP), ("drop query", QUERY)):
        for seed, v in enumerate(values):
            rows.append(
                {
                    "trial_id": f"{variant.replace(' ', '_')}-s{seed}",
                    "variant": variant,
                    "seed": seed,
                    "status": "completed",
                    "iou_lesion": v,
                    "dice": v + 0.05,
                    "peak_memory_bytes": 1.2e9 + seed * 1e6,
                    "wall_time_s": 30.0 + seed,
                }
            )
    cells = pd.DataFrame(rows)
    broken = (cells["variant"] == "drop query") & (cells["seed"] == 4)
    cells.loc[broken, "status"] = "oom"
    cells.loc[broken, ["iou_lesion", "dice"]] = float("nan")
    cells.to_parquet(directory / "cells.parquet")
    variants = [
        {"variant": "full", "description": "full configuration", "renormalized": False},
        {"variant": "drop boundary", "description": "drop boundary", "renormalized": True},
        {"variant": "drop query", "description": "drop query", "renormalized": True},
    ]
    for v in variants:
        name = v["variant"].removeprefix("drop ")
        v["overrides"] = {} if v["variant"] == "full" else {f"loss.weights.{name}": 0.0}
    (directory / "variants.json").write_text(json.dumps(variants))
    spec = {
        "kind": "ablation",
        "base": "cpu_demo",
        "seeds": 5,
        "metric": "iou_lesion",
        "renormalize": True,
        "command": "harness ablate --drop boundary,query --seeds 5",
    }
    (directory / "spec.json").write_text(json.dumps(spec))


@pytest.mark.slow
@pytest.mark.ray
def test_report_on_an_ablation_directory_writes_the_table_and_html(tmp_path):
    run = tmp_path / "runs" / "abl"
    _write_ablation(run)
    res = _run(["report", str(run)], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    report = run / "report"
    assert {p.name for p in report.iterdir()} == {
        "ablation.csv",
        "ablation.json",
        "ablation.md",
        "forest.png",
        "report.html",
    }
    # terminal: the main table, the smallest detectable effects and the failed cell
    assert "abl: ablation of iou_lesion" in res.stdout
    assert "drop boundary" in res.stdout and "hurts" in res.stdout
    assert "detectable: drop boundary: with 5 paired seeds" in res.stdout
    assert "drop query: failed cells excluded (seed 4 oom)" in res.stdout

    table = pd.read_csv(report / "ablation.csv")
    main = table[table["metric"] == "iou_lesion"].set_index("variant")
    assert main.loc["drop boundary", "p_t"] == pytest.approx(stats.ttest_rel(DROP, FULL).pvalue)
    assert main.loc["drop query", "n"] == 4
    assert set(table["metric"]) == {"iou_lesion", "dice", "peak_memory_bytes", "wall_time_s"}
    doc = json.loads((report / "ablation.json").read_text())
    assert doc["meta"]["command"].startswith("harness ablate")
    assert [v["variant"] for v in doc["variants"]] == ["full", "drop boundary", "drop query"]
    assert (report / "forest.png").read_bytes().startswith(PNG_SIGNATURE)

    page = (report / "report.html").read_text()
    assert "<table>" in page and "drop boundary" in page and "hurts" in page
    assert "Loss weights were renormalised" in page
    assert "Smallest detectable effects" in page
    # self-contained: the forest plot is embedded, nothing is fetched
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 1
    assert base64.b64decode(images[0]) == (report / "forest.png").read_bytes()
    assert not re.search(r'(src|href)="(http|//|[^d"][^"]*\.png)', page)


def test_report_on_a_broken_ablation_directory_is_one_clear_error(tmp_path):
    run = tmp_path / "abl"
    _write_ablation(run)
    (run / "cells.parquet").unlink()
    res = _run(["report", str(run)], tmp_path)
    assert res.returncode == 2
    assert "is not an ablation directory: it has no cells.parquet" in res.stderr
    assert "Traceback" not in res.stderr
