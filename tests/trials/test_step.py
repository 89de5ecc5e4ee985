"""The one training step shared by ``run_trial`` and ``harness bench``."""

from __future__ import annotations

import contextlib

import pytest
import torch

from search_spaces import DivergedError, load_recipe
from trials.bench import bench_recipe
from trials.train import Precision, TrainStep, run_trial


class _Scale(torch.nn.Module):
    """``{"mask": w * x}``: the gradient of its summed output is the summed input."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"mask": self.w * x}


def _sum_loss(outputs: dict, targets: dict) -> tuple[torch.Tensor, dict[str, float]]:
    loss = outputs["mask"].sum()
    return loss, {"sum": loss.item()}


def _step(accumulation: int, **kw) -> tuple[_Scale, TrainStep]:
    model = _Scale()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    precision = Precision.of(load_recipe("cpu_demo"), torch.device("cpu"))
    step = TrainStep(
        model,
        _sum_loss,
        optimizer,
        precision,
        torch.device("cpu"),
        grad_clip=None,
        accumulation=accumulation,
        **kw,
    )
    return model, step


def test_precision_is_off_on_cpu_whatever_the_recipe_asks():
    recipe = load_recipe("cpu_demo")
    assert recipe.optim.amp and recipe.optim.channels_last
    p = Precision.of(recipe, torch.device("cpu"))
    assert (p.amp, p.channels_last, p.grad_scaling, p.dtype_name) == (
        False,
        False,
        False,
        "float32",
    )
    assert isinstance(p.autocast(torch.device("cpu")), contextlib.nullcontext)
    x = torch.ones(1, 3, 4, 4)
    assert p.format_input(x) is x


def test_only_float16_needs_loss_scaling():
    assert Precision(torch.float16, True).grad_scaling
    assert Precision(torch.float16, True).dtype_name == "float16"
    assert not Precision(torch.bfloat16, True).grad_scaling
    assert Precision(torch.bfloat16, False).dtype_name == "bfloat16"


def test_accumulation_steps_on_the_mean_gradient_of_each_group():
    # 7 micro-batches in groups of 3: steps after the 3rd, 6th and 7th (a short last group).
    model, step = _step(3)
    xs = [float(i + 1) for i in range(7)]
    stepped, w = [], []
    step.zero_grad()
    for i, x in enumerate(xs):
        result = step(torch.tensor([x]), torch.zeros(1), i, len(xs))
        stepped.append(result.stepped)
        w.append(model.w.item())
        assert result.n_images == 1 and set(result.terms) == {"sum"}
    assert stepped == [False, False, True, False, False, True, True]
    # SGD at lr 1 moves w by minus the mean input of the group
    assert w[2] == pytest.approx(-(1 + 2 + 3) / 3)
    assert w[5] == pytest.approx(w[2] - (4 + 5 + 6) / 3)
    assert w[6] == pytest.approx(w[5] - 7)


def test_an_endless_stream_steps_every_accumulation_micro_batches():
    calls = []
    _, step = _step(2)
    step.scheduler = type("S", (), {"step": lambda self: calls.append(1)})()
    for i in range(5):
        step(torch.ones(1), torch.zeros(1), i)
    assert len(calls) == 2  # after micro-batches 2 and 4; the 5th waits for its partner


def test_a_non_finite_loss_raises_with_where_it_happened():
    model, step = _step(1)
    with pytest.raises(DivergedError, match=r"loss is nan at epoch 3, step 2 \(terms: "):
        step(torch.tensor([float("nan")]), torch.zeros(1), 1, 4, where="epoch 3, step 2")
    assert model.w.grad is None  # no backward of a NaN


def test_training_and_bench_run_the_same_step(monkeypatch, bench_overrides):
    recipe = load_recipe(
        "cpu_demo", {**bench_overrides, "optim.epochs": 1, "optim.accumulation": 2}
    )
    calls: list[tuple[int, int | None]] = []
    real = TrainStep.__call__

    def counted(self, images, masks, index, n_batches=None, where=""):
        calls.append((index, n_batches))
        return real(self, images, masks, index, n_batches, where)

    monkeypatch.setattr(TrainStep, "__call__", counted)
    summary = run_trial(recipe)
    assert summary.status == "completed" and calls
    n_batches = calls[0][1]
    assert calls == [(i, n_batches) for i in range(n_batches)]
    calls.clear()
    row = bench_recipe(recipe, steps=2, warmup=1, device="cpu")
    assert row["status"] == "ok"
    assert calls == [(0, None), (1, None), (2, None)]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_diverging_bench_step_is_a_row():
    # A std below float32's smallest normal overflows the normalised tiles to inf; BatchNorm in
    # training mode (the bench trains the encoder) turns that into NaN, as training would meet.
    recipe = load_recipe(
        "cpu_demo",
        {
            "data.synthetic.n_images": 12,
            "data.synthetic.size": 64,
            "data.tile_size": 32,
            "data.stride": 24,
            "data.image_size": 32,
            "data.batch_size": 4,
            "data.std": [1e-40, 1e-40, 1e-40],
        },
    )
    row = bench_recipe(recipe, steps=1, warmup=0, device="cpu")
    assert row["status"] == "diverged" and "loss is nan at bench step 1" in row["error"]
    assert type(row["status"]) is str
