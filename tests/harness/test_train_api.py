"""``harness.bench`` from Python: a typed result, the same files as ``harness bench``.

``harness.train`` is tested with ``harness.evaluate`` in ``test_evaluate_api.py`` (one trained
run serves both).
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

import harness
from harness import BenchResult
from search_spaces import ConfigError, read_spec
from trials.bench import BENCH_COLUMNS


def test_bench_returns_the_table_and_the_plot(tmp_path, bench_overrides):
    out = tmp_path / "b"
    result = harness.bench(
        "cpu_demo",
        grid=["data.batch_size=2"],
        steps=1,
        warmup=0,
        device="cpu",
        set=bench_overrides,
        out=out,
    )
    assert isinstance(result, BenchResult) and result.path == out and result.ok
    assert list(result.table.columns) == ["data.batch_size", *BENCH_COLUMNS]
    assert list(result.table["status"]) == ["ok"] and result.axes == ["data.batch_size"]
    on_disk = pd.read_csv(result.csv, keep_default_na=False)  # an empty error stays ""
    assert list(on_disk.columns) == list(result.table.columns)
    assert on_disk["status"].tolist() == result.table["status"].tolist()
    assert on_disk["images_per_s"].tolist() == pytest.approx(result.table["images_per_s"].tolist())
    assert result.plot == out / "bench.png" and result.plot.read_bytes()[:4] == b"\x89PNG"
    spec = read_spec(out)
    assert (spec.command, spec.kind, spec.extra("grid")) == (
        "bench",
        "bench",
        {"data.batch_size": [2]},
    )
    assert (spec.extra("steps"), spec.extra("warmup"), spec.extra("device")) == (1, 0, "cpu")
    with pytest.raises(ConfigError, match=re.escape("already holds a bench.csv")) as info:
        harness.bench("cpu_demo", out=out)
    assert info.value.param == "out"


@pytest.mark.parametrize(
    ("kwargs", "param", "message"),
    [
        ({"steps": 0}, "steps", "steps 0: at least 1 measured step"),
        ({"warmup": -1}, "warmup", "warmup -1: must be 0 or more"),
        ({"grid": ["data.batchsize=1,2"]}, "grid", "grid data.batchsize=1,2: unknown parameter"),
        ({"device": "tpu"}, "device", "device 'tpu': expected auto, cpu, cuda or cuda:N"),
    ],
)
def test_bad_arguments_name_their_parameter_before_anything_is_made(
    tmp_path, kwargs, param, message
):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        harness.bench("cpu_demo", out=tmp_path / "b", **kwargs)
    assert info.value.param == param
    assert not (tmp_path / "b").exists()
