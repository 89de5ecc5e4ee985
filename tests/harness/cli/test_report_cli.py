"""``harness report`` through the console script: the direction of an outcome that is not the
search's metric comes from the shared rule (hd95: lower is better)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd

HARNESS = [sys.executable, "-m", "harness.cli"]


def test_report_on_hd95_ranks_lower_as_better(tmp_path):
    # a search that maximised score; hd95 falls as optim.lr rises, so t0039 has the lowest
    n = 40
    lr = np.linspace(0.01, 1.0, n)
    hd95 = 30.0 - 20.0 * lr
    ids = [f"t{i:04d}" for i in range(n)]
    trials = pd.DataFrame(
        {
            "trial_id": ids,
            "status": "completed",
            "optim.lr": lr,
            "data.batch_size": [2, 4] * (n // 2),
            "epochs": 2,
            "final.score": lr,
            "final.hd95": hd95,
        }
    )
    curves = pd.DataFrame(
        [
            {"trial_id": t, "epoch": e, "score": s * e / 2, "hd95": h + (5.0 if e == 1 else 0.0)}
            for t, s, h in zip(ids, lr, hd95, strict=True)
            for e in (1, 2)
        ]
    )
    run = tmp_path / "search"
    run.mkdir()
    spec = {"command": "search --space lr", "settings": {"metric": "score", "mode": "max"}}
    (run / "spec.json").write_text(json.dumps(spec))
    trials.to_parquet(run / "trials.parquet", index=False)
    curves.to_parquet(run / "curves.parquet", index=False)

    res = subprocess.run(
        [
            *HARNESS,
            "report",
            str(run),
            "--metric",
            "hd95",
            "--format",
            "md,json",
            "--bootstrap",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    md = (run / "report" / "report.md").read_text()
    assert "hd95 (min)" in md
    best = md.split("## Best trials", 1)[1]
    first = next(line for line in best.splitlines() if line.startswith("| 1 |"))
    assert first.startswith("| 1 | t0039 |")
    meta = json.loads((run / "report" / "importance.json").read_text())
    assert meta.get("mode", meta.get("meta", {}).get("mode")) == "min"
