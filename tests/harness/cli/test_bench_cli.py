"""``harness bench`` end to end through the console script: real steps, real files, real errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
import torch

from trials.bench import BENCH_COLUMNS

HARNESS = [sys.executable, "-m", "harness.cli"]
# Tiny cpu_demo: 32 px tiles keep a CPU step well under a second.
_TINY = [
    "data.synthetic.n_images=12",
    "data.synthetic.size=64",
    "data.tile_size=32",
    "data.stride=24",
    "data.tile_jitter=4",
    "data.image_size=32",
    "data.max_tiles_per_image=2",
]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    sets = [arg for s in _TINY for arg in ("--set", s)]
    return subprocess.run(
        [*HARNESS, "bench", "--recipe", "cpu_demo", *sets, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def _args(args: list[str]) -> list[str]:
    return ["bench", "--recipe", "cpu_demo", *[a for s in _TINY for a in ("--set", s)], *args]


@pytest.mark.slow
def test_bench_writes_csv_plot_and_table(tmp_path):
    out = tmp_path / "b"
    res = _run(
        [
            "--grid",
            "data.batch_size=2,4",
            "--grid",
            "memory.cap=1MiB,64GiB",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    rows = pd.read_csv(out / "bench.csv")
    assert list(rows.columns) == ["data.batch_size", "memory.cap", *BENCH_COLUMNS]
    # 2 x 2 combinations, first axis slowest; the 1 MiB cap is a row, not a crash.
    assert list(zip(rows["data.batch_size"], rows["memory.cap"], strict=True)) == [
        (2, 2**20),
        (2, 64 * 2**30),
        (4, 2**20),
        (4, 64 * 2**30),
    ]
    assert list(rows["status"]) == ["memory_cap", "ok", "memory_cap", "ok"]
    ok = rows[rows["status"] == "ok"]
    assert list(ok["images_per_s"]) == pytest.approx(list(ok["batch_size"] / ok["step_s_median"]))
    assert (ok["mem_kind"] == "rss").all() and (ok["mem_peak_bytes"] > 2**20).all()
    assert ok["n_params"].nunique() == 1 and ok["n_params"].iloc[0] > 100_000
    assert rows.loc[rows["status"] == "memory_cap", "images_per_s"].isna().all()
    # The plot: one column per axis, two rows (figure 3.6 * 2 + 0.6 by 6.2 inches at 100 dpi).
    image = matplotlib.image.imread(out / "bench.png")
    assert image.shape[:2] == (620, 780)
    spec = json.loads((out / "spec.json").read_text())
    assert spec["grid"] == {"data.batch_size": [2, 4], "memory.cap": [2**20, 64 * 2**30]}
    assert (spec["steps"], spec["warmup"], spec["device"]) == (2, 1, "cpu")
    # The terminal: a progress line per combination and the final table.
    assert "[4/4] data.batch_size=4 memory.cap=68719476736" in res.stdout
    assert "step ms (median)" in res.stdout and res.stdout.count("memory_cap") >= 2
    assert f"wrote {out / 'bench.csv'}" in res.stdout.replace("\n", "")
    # The same folder again is refused rather than overwritten.
    again = _run(["--out", str(out)], tmp_path)
    assert again.returncode == 2 and "already holds a bench.csv" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "data.batchsize=1,2"], "--grid data.batchsize=1,2: unknown parameter path"),
        (["--grid", "optim.amp=yes,perhaps"], "--grid optim.amp=yes,perhaps"),
        (["--steps", "0"], "--steps 0: at least 1 measured step"),
        (["--device", "tpu"], "--device 'tpu': expected auto, cpu, cuda or cuda:N"),
    ],
)
def test_bad_arguments_fail_with_one_line(tmp_path, args, message, harness_cli):
    res = harness_cli(_args([*args, "--out", str(tmp_path / "b")]), tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr.replace("\n", " ")
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "b" / "bench.csv").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused(tmp_path, harness_cli):
    res = harness_cli(_args(["--device", "cuda", "--out", str(tmp_path / "b")]), tmp_path)
    assert res.returncode == 2 and "torch sees no CUDA device" in res.stderr
