"""``trials.bench``: real timed training steps of a tiny recipe, the grid and its errors."""

from __future__ import annotations

import math

import pytest
import torch

from search_spaces import ConfigError, load_recipe
from trials.bench import BENCH_COLUMNS, bench_grid, bench_recipe, expand_grid, parse_grid
from trials.data import load_splits
from trials.losses import CompositeLoss
from trials.model import build_model


@pytest.fixture(scope="module")
def tiny(bench_overrides):
    return load_recipe("cpu_demo", bench_overrides)


def test_one_combination_on_cpu(tiny):
    row = bench_recipe(tiny, steps=3, warmup=1, device="cpu")
    assert set(row) == set(BENCH_COLUMNS)
    assert row["status"] == "ok" and row["error"] == ""
    assert row["device"] == "cpu" and (row["steps"], row["warmup"]) == (3, 1)
    # The parameter count is that of the model the recipe builds (all heads its loss needs).
    model = build_model(tiny.model, CompositeLoss(tiny.loss).required_outputs)
    assert row["n_params"] == sum(p.numel() for p in model.parameters())
    # Throughput is the batch over the median step; the spread brackets the median.
    assert row["images_per_s"] == pytest.approx(4 / row["step_s_median"], rel=1e-12)
    assert row["step_s_min"] <= row["step_s_median"] <= row["step_s_max"]
    assert 0 <= row["step_s_iqr"] <= row["step_s_max"] - row["step_s_min"]
    assert 0 <= row["data_s_median"] <= row["step_s_max"]
    # Tiles per epoch: training images x max_tiles_per_image; the epoch estimate follows.
    n_train = len(load_splits(tiny.data).train)
    assert row["tiles_per_epoch"] == n_train * 2
    assert row["epoch_s_est"] == pytest.approx(
        math.ceil(n_train * 2 / 4) * row["step_s_median"], rel=1e-12
    )
    # RSS on CPU: python + torch are resident, and the peak is at least the starting point.
    assert row["mem_kind"] == "rss"
    assert row["mem_peak_bytes"] >= row["mem_baseline_bytes"] > 50 * 2**20
    assert math.isnan(row["torch_peak_allocated_bytes"])
    # cpu_demo asks for AMP and channels_last; like training, they do not act on CPU.
    assert tiny.optim.amp and tiny.optim.channels_last
    assert row["amp_active"] is False and row["channels_last_active"] is False
    assert row["amp_dtype"] == "float32"


def test_memory_cap_is_a_row_not_a_crash(tiny, bench_overrides):
    capped = load_recipe("cpu_demo", {**bench_overrides, "memory.cap": "1MiB"})
    row = bench_recipe(capped, steps=2, warmup=0, device="cpu")
    assert row["status"] == "memory_cap"
    assert "memory.cap" in row["error"] and "cap is 1.00 MiB" in row["error"]
    assert row["mem_peak_bytes"] > 2**20
    assert math.isnan(row["step_s_median"]) and math.isnan(row["images_per_s"])


def test_fewer_tiles_than_a_batch_is_a_data_error_row(tiny, bench_overrides):
    big = load_recipe("cpu_demo", {**bench_overrides, "data.batch_size": 1000})
    row = bench_recipe(big, steps=1, warmup=0, device="cpu")
    assert row["status"] == "data_error"
    assert "fewer than data.batch_size = 1000" in row["error"]


@pytest.mark.slow
def test_grid_rows_are_the_cartesian_product(tiny):
    axes = parse_grid(["data.batch_size=2,3,4", "data.max_tiles_per_image=1,3"], tiny)
    seen = []
    rows = bench_grid(
        tiny, axes, steps=1, warmup=0, device="cpu", on_start=lambda i, n, v: seen.append((i, n))
    )
    assert len(rows) == 3 * 2 and seen == [(i, 6) for i in range(1, 7)]
    assert [(r["data.batch_size"], r["data.max_tiles_per_image"]) for r in rows] == [
        (2, 1),
        (2, 3),
        (3, 1),
        (3, 3),
        (4, 1),
        (4, 3),
    ]
    assert all(r["status"] == "ok" for r in rows)
    assert [r["batch_size"] for r in rows] == [2, 2, 3, 3, 4, 4]
    # max_tiles_per_image sets the epoch length exactly, whatever the batch.
    n_train = len(load_splits(tiny.data).train)
    assert [r["tiles_per_epoch"] for r in rows] == [n_train, 3 * n_train] * 3
    # The model does not depend on batching.
    assert len({r["n_params"] for r in rows}) == 1


def test_a_step_the_model_refuses_is_an_error_row(tiny, bench_overrides):
    # 32 px leaves a 1x1 deepest feature map: BatchNorm cannot train on a batch of one of those.
    row = bench_recipe(
        load_recipe("cpu_demo", {**bench_overrides, "data.batch_size": 1}), device="cpu"
    )
    assert row["status"] == "error"
    assert "Expected more than 1 value per channel when training" in row["error"]
    assert math.isnan(row["images_per_s"]) and row["n_params"] > 0


def test_grid_values_take_the_recipe_types(tiny):
    axes = parse_grid(["optim.amp=true,false", "memory.cap=1MiB,2GiB", "optim.lr=3e-4"], tiny)
    assert [a.values for a in axes] == [(True, False), (2**20, 2 * 2**30), (3e-4,)]
    assert [a.path for a in axes] == ["optim.amp", "memory.cap", "optim.lr"]
    combos = expand_grid(tiny, axes)
    assert len(combos) == 4
    values, recipe = combos[1]
    assert values == {"optim.amp": True, "memory.cap": 2 * 2**30, "optim.lr": 3e-4}
    assert recipe.optim.amp is True and int(recipe.memory.cap) == 2 * 2**30
    assert expand_grid(tiny, []) == [({}, tiny)]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["data.batchsize=1,2"], "--grid data.batchsize=1,2: unknown parameter path"),
        (["optim.amp=true,maybe"], "--grid optim.amp=true,maybe"),
        (["data.batch_size=0,1"], "data.batch_size = 0"),
        (["data.batch_size"], "expected the form path=v1,v2"),
        (["data.batch_size=1,,2"], "every value must be non-empty"),
        (["=1,2"], "the path before '=' is empty"),
        (["data.batch_size=1", "data.batch_size=2"], "already an axis"),
        (["data.batch_size=2,2"], "values repeat"),
        (["data=1"], "is a section, not a value"),
    ],
)
def test_bad_grid_arguments_name_the_argument(tiny, items, message):
    with pytest.raises(ConfigError) as err:
        parse_grid(items, tiny)
    # the library names the parameter, ``grid``; the command line prints it as --grid
    assert message.replace("--grid", "grid") in str(err.value) and err.value.param == "grid"


def test_a_combination_breaking_a_cross_field_rule_is_named(tiny):
    axes = parse_grid(["data.tile_size=32,64", "data.stride=48"], tiny)
    with pytest.raises(ConfigError) as err:
        expand_grid(tiny, axes)
    text = str(err.value)
    assert err.value.param == "grid"
    assert "data.tile_size=32 data.stride=48" in text and "must not exceed tile_size" in text


def test_steps_must_be_positive(tiny):
    with pytest.raises(ConfigError, match="steps must be at least 1, got 0"):
        bench_recipe(tiny, steps=0, device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_stage1pp_reference_settings_on_gpu():
    from trials.memory import NvmlSampler, cuda_device_uuid

    recipe = load_recipe(
        "stage1pp",
        {
            "data.synthetic.n_images": 12,
            "data.image_size": 256,
            "data.batch_size": 4,
            "data.max_tiles_per_image": 1,
            "optim.amp": True,
            "optim.channels_last": True,
        },
    )
    row = bench_recipe(recipe, steps=5, warmup=3, device="cuda")
    assert row["status"] == "ok", row["error"]
    assert row["amp_active"] and row["channels_last_active"]
    assert row["amp_dtype"] in ("bfloat16", "float16")
    assert 0 < row["torch_peak_allocated_bytes"] <= row["torch_peak_reserved_bytes"]
    assert row["images_per_s"] == pytest.approx(4 / row["step_s_median"], rel=1e-12)
    try:  # NVML cannot see processes in some containers; the guard then falls back.
        NvmlSampler(cuda_device_uuid(torch.device("cuda")))
    except LookupError:
        assert row["mem_kind"] == "torch_reserved"
    else:
        assert row["mem_kind"] == "nvml"
    assert row["mem_peak_bytes"] > 0
    # NVML counts the CUDA context too, so it is at least torch's own reserve.
    if row["mem_kind"] == "nvml":
        assert row["mem_peak_bytes"] >= row["torch_peak_reserved_bytes"]
