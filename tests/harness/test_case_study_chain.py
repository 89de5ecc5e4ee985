"""docs/case-study-soybean-rust.md in miniature: search → report → validate → train both →
evaluate, on a few real soybean-rust photos, 2 folds, 1 seed, 2 epochs, the same commands.

Search and validate run in this process on the session's Ray instance (their training is in
Ray's workers); train and evaluate, which train and infer in the calling process, run as
subprocesses, so that their memory does not stay in the test session's heap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def _few_photos(root: Path, out: Path, n: int = 10) -> Path:
    """A folder of ``n`` soybean-rust image/mask pairs (links, nothing copied)."""
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True)
    for image in sorted((root / "images").iterdir())[:n]:
        mask = root / "masks" / f"{image.stem}.png"
        (out / "images" / image.name).symlink_to(image)
        (out / "masks" / mask.name).symlink_to(mask)
    return out


def _ok(result) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _subprocess(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "harness.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_case_study_chain_runs_on_real_photos(
    ray_session, tmp_path, soybean_root, tiny_overrides, harness_cli
):
    data = _few_photos(soybean_root, tmp_path / "data")
    small = {**tiny_overrides, "data.max_image_side": 160}
    sets = [x for k, v in small.items() if k != "optim.epochs" for x in ("--set", f"{k}={v}")]
    runs = ["--runs-dir", str(tmp_path / "runs")]

    _ok(harness_cli(["search", "--space", "loss_weights", "--data", str(data), "--trials", "3",
                     "--max-epochs", "2", "--name", "search", *sets, *runs], tmp_path))  # fmt: skip
    search = tmp_path / "runs" / "search"
    report = harness_cli(["report", str(search)], tmp_path)
    _ok(report)
    ranking = json.loads((search / "report" / "importance.json").read_text())
    assert ranking["meta"]["epoch"] in (1, 2) and len(ranking["importance"]) == 7

    _ok(harness_cli(["validate", str(search), "--folds", "2", "--seeds", "1", "--epochs", "2",
                     "--data", str(data), "--name", "validate", *runs], tmp_path))  # fmt: skip
    validation = tmp_path / "runs" / "validate"
    result = json.loads((validation / "validation.json").read_text())
    assert result["verdict"]
    for name in ("candidate", "reference"):
        _ok(_subprocess(["train", "--recipe", str(validation / f"{name}.yaml"),
                         "--name", name, *runs], tmp_path))  # fmt: skip

    out = tmp_path / "eval"
    _ok(_subprocess(["evaluate", str(tmp_path / "runs" / "candidate"), "--compare",
                     str(tmp_path / "runs" / "reference"), "--calibrate", "--bootstrap", "200",
                     "--out", str(out)], tmp_path))  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["compare"] and metrics["lesion_sizes"] and metrics["calibration"]
    assert metrics["data"]["source"] == str(data)  # the recipe carried the photos
