"""Spaces as Optuna define-by-run functions, simplex sampling, base points, grids, narrowing."""

from __future__ import annotations

import math
import textwrap
import warnings

import numpy as np
import optuna
import pandas as pd
import pytest
from scipy import stats

from harness.searching import narrow_space
from harness.searching._grid import grid_points, grid_search_space
from harness.searching._sampling import (
    base_point,
    define_by_run,
    effective_params,
    simplex_uniforms,
    simplex_weights,
)
from search_spaces import (
    CategoricalParam,
    ConfigError,
    FloatParam,
    IntParam,
    SimplexParam,
    Space,
    flatten,
    load_recipe,
    load_space,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

STAGE1PP = flatten(load_recipe("stage1pp"))
CPU_DEMO = flatten(load_recipe("cpu_demo"))
WEIGHTS = ["focal_tversky", "boundary", "weighted_ce", "soft_dice", "region", "affinity", "query"]
LOWS = [0.3, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0]
HIGHS = [0.6, 0.3, 0.2, 0.2, 0.4, 0.4, 0.4]


def _sample(space: Space, sampler: optuna.samplers.BaseSampler, n: int, objective=None):
    """Ask ``n`` trials of a real study; tell each the objective of its effective values."""
    study = optuna.create_study(sampler=sampler, direction="maximize")
    suggest = define_by_run(space, STAGE1PP)
    out = []
    for _ in range(n):
        trial = study.ask()
        values = suggest(trial)
        study.tell(trial, objective(values) if objective else 0.0)
        out.append((dict(trial.params), values))
    return out


def _assert_feasible(values: dict) -> None:
    w = np.array([values[f"loss.weights.{c}"] for c in WEIGHTS])
    assert abs(w.sum() - 1.0) <= 1e-9
    assert np.all(w >= np.array(LOWS)) and np.all(w <= np.array(HIGHS))


# -------------------------------------------------------------------------------- simplex


def test_random_sampler_1000_loss_weights_sum_to_one_within_ranges():
    space = load_space("loss_weights")
    samples = _sample(space, optuna.samplers.RandomSampler(seed=0), 1000)
    for raw, values in samples:
        assert sorted(raw) == sorted(f"loss.weights.{c}~u" for c in WEIGHTS)
        assert sorted(values) == sorted(f"loss.weights.{c}" for c in WEIGHTS)
        _assert_feasible(values)
        assert effective_params(space, raw, STAGE1PP) == values
    # Upper bounds bind sometimes (the aux heads share 0.4 of slack): the clipping path ran.
    top = max(v["loss.weights.focal_tversky"] for _, v in samples)
    assert top > 0.55


def test_tpe_pushed_against_the_bounds_keeps_the_weights_feasible():
    space = load_space("loss_weights")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=1, multivariate=True, group=True, constant_liar=True, n_startup_trials=10
        )
    # Rewarding the query head drives TPE to the corner where query (0.4) and the lows bind.
    samples = _sample(space, sampler, 300, objective=lambda v: v["loss.weights.query"])
    for _, values in samples:
        _assert_feasible(values)
    assert max(v["loss.weights.query"] for _, v in samples) > 0.3


def test_simplex_weights_hand_computed():
    # Equal uniforms: p = 1/7 each; w = low + (1 - 0.6) / 7, no bound binds.
    w = simplex_weights([0.5] * 7, LOWS, HIGHS, 1.0)
    np.testing.assert_allclose(w, np.array(LOWS) + 0.4 / 7, atol=1e-15)
    # p = (0.7, 0.2, 0.1) from u = exp(-p): 0.7 > 0.5 is clipped and its 0.2 excess is shared
    # 2:1 by the others -> (0.5, 0.2 + 0.2 * 2/3, 0.1 + 0.2 / 3).
    us = np.exp(-np.array([0.7, 0.2, 0.1]))
    np.testing.assert_allclose(
        simplex_weights(us, [0, 0, 0], [0.5, 0.5, 1.0], 1.0), [0.5, 1 / 3, 1 / 6], atol=1e-12
    )
    # A second round: 1/3 > 0.3 is clipped too and its excess goes to the last component.
    np.testing.assert_allclose(
        simplex_weights(us, [0, 0, 0], [0.5, 0.3, 1.0], 1.0), [0.5, 0.3, 0.2], atol=1e-12
    )


def test_simplex_weights_on_adversarial_uniforms():
    rng = np.random.default_rng(0)
    draws = rng.uniform(size=(3000, 7))
    draws[::3] = rng.choice([0.0, 1.0, 1e-300, 0.5], size=(1000, 7))
    draws[1] = 1.0  # every u at 1: all -log(u) equal
    draws[2] = 0.0
    for us in draws:
        w = simplex_weights(us, LOWS, HIGHS, 1.0)
        assert abs(w.sum() - 1.0) <= 1e-9
        assert np.all(w >= LOWS) and np.all(w <= HIGHS)
    with pytest.raises(ConfigError, match="infeasible"):
        simplex_weights([0.5, 0.5], [0.6, 0.6], [1.0, 1.0], 1.0)


def test_simplex_uniforms_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(200):
        w = simplex_weights(rng.uniform(size=7), LOWS, HIGHS, 1.0)
        us = simplex_uniforms(w, LOWS, HIGHS, 1.0)
        assert np.all((us > 0) & (us < 1))
        np.testing.assert_allclose(simplex_weights(us, LOWS, HIGHS, 1.0), w, atol=1e-12)
    rescaled = np.array([0.4, 0.2, 0.15, 0.15, 0.05, 0.05, 0.1]) / 1.1
    us = simplex_uniforms(rescaled, LOWS, HIGHS, 1.0)
    np.testing.assert_allclose(simplex_weights(us, LOWS, HIGHS, 1.0), rescaled, atol=1e-12)
    with pytest.raises(ConfigError, match=r"sum to 1\.1"):
        simplex_uniforms(rescaled * 1.1, LOWS, HIGHS, 1.0)


def test_unbounded_simplex_is_the_flat_dirichlet():
    k = 7
    rng = np.random.default_rng(2)
    w = np.array(
        [simplex_weights(u, [0.0] * k, [1.0] * k, 1.0) for u in rng.uniform(size=(20000, k))]
    )
    # Dirichlet(1, ..., 1): each marginal is Beta(1, K - 1), mean 1/K, variance (K-1)/(K^2 (K+1)).
    np.testing.assert_allclose(w.mean(axis=0), 1 / k, atol=0.005)
    np.testing.assert_allclose(w.var(axis=0), (k - 1) / (k**2 * (k + 1)), rtol=0.05)
    assert stats.kstest(w[:, 0], stats.beta(1, k - 1).cdf).pvalue > 0.001


# ------------------------------------------------------------------ conditions and fractions


def test_attention_blocks_only_sampled_when_there_is_attention():
    samples = _sample(load_space("attention"), optuna.samplers.RandomSampler(seed=3), 200)
    kinds = {v["model.attention.type"] for _, v in samples}
    assert kinds == {"esca", "cbam", "se", "none"}
    for raw, values in samples:
        if values["model.attention.type"] == "none":
            assert "model.attention.blocks" not in raw and "model.attention.blocks" not in values
        else:
            assert values["model.attention.blocks"] in (1, 2, 3)


def test_fraction_of_gives_the_rounded_stride():
    space = load_space("tiling")
    samples = _sample(space, optuna.samplers.RandomSampler(seed=4), 100)
    for raw, values in samples:
        expected = round(raw["data.stride~fraction"] * values["data.tile_size"])
        assert values["data.stride"] == expected
    raw = {
        "data.tile_size": 384,
        "data.stride~fraction": 0.75,
        "data.max_tiles_per_image": 6,
        "data.pos_tile_prob": 0.7,
    }
    assert effective_params(space, raw, STAGE1PP)["data.stride"] == 288
    # 'of' outside the space: the base recipe's tile (cpu_demo: 64) -> 0.75 x 64 = 48.
    only_stride = Space(name="s", params={"data.stride": space.params["data.stride"]})
    assert effective_params(only_stride, {"data.stride~fraction": 0.75}, CPU_DEMO) == {
        "data.stride": 48
    }
    # fixed wins over base for values the space does not draw.
    fixed = {"data.tile_size": 100}
    eff = effective_params(only_stride, {"data.stride~fraction": 0.5}, CPU_DEMO, fixed)
    assert eff == {"data.stride": 50}


# ------------------------------------------------------------------------------ base points


def test_base_point_reproduces_stage1pp():
    space = load_space("full")
    point, notes = base_point(space, STAGE1PP)
    assert notes == ["loss.weights: the base weights sum to 1.1, not 1; rescaled by 1/1.1"]
    values = effective_params(space, point, STAGE1PP)
    stage1pp_weights = [0.4, 0.2, 0.15, 0.15, 0.05, 0.05, 0.1]
    for name, weight in zip(WEIGHTS, stage1pp_weights, strict=True):
        assert values.pop(f"loss.weights.{name}") == pytest.approx(weight / 1.1, abs=1e-12)
    assert values == {path: STAGE1PP[path] for path in values}
    assert len(values) == len(space.paths()) - len(WEIGHTS)
    # The same point enqueued in a real study comes back out of the define-by-run function.
    study = optuna.create_study()
    study.enqueue_trial(point)
    trial = study.ask()
    assert define_by_run(space, STAGE1PP)(trial) == effective_params(space, point, STAGE1PP)


def test_base_point_adjusts_values_outside_the_space():
    tiling = load_space("tiling")
    point, notes = base_point(tiling, CPU_DEMO)
    # cpu_demo tiles are 64 px: the nearest choice is 256; stride 48/64 = 0.75 of the new tile.
    assert point["data.tile_size"] == 256 and point["data.stride~fraction"] == 0.75
    assert point["data.max_tiles_per_image"] == 3  # 4 tiles: nearest of {1, 3, 6, 12, 24}
    assert effective_params(tiling, point, CPU_DEMO)["data.stride"] == 192
    assert any(n.startswith("data.tile_size: base value 64") for n in notes)
    assert "data.stride: base value 48 becomes 0.75 x data.tile_size (256) = 192" in notes
    assert any(n.startswith("data.max_tiles_per_image: base value 4") for n in notes)
    point, notes = base_point(load_space("lr"), CPU_DEMO)  # cpu_demo's lr 3e-3 > 1e-3
    assert point == {"optim.lr": 1e-3}
    assert notes == ["optim.lr: base value 0.003 is outside the space; starting at 0.001"]
    # No attention: blocks is not part of the starting point.
    point, _ = base_point(load_space("attention"), {**STAGE1PP, "model.attention.type": "none"})
    assert point == {"model.attention.type": "none"}


def test_base_point_fits_weights_that_leave_their_ranges():
    base = {**STAGE1PP, "loss.weights.focal_tversky": 0.9, "loss.weights.boundary": 0.0}
    point, notes = base_point(load_space("loss_weights"), base)
    assert len(notes) == 2 and "leave the component ranges" in notes[1]
    _assert_feasible(effective_params(load_space("loss_weights"), point, base))


# ------------------------------------------------------------------------------------- grids


def test_grid_points():
    attention = grid_points(load_space("attention"))
    assert len(attention) == 3 * 3 + 1
    assert {"model.attention.type": "none"} in attention
    assert len(grid_points(load_space("onecycle"))) == 4**3
    tiling = Space(
        name="t",
        params={
            "data.tile_size": CategoricalParam(type="categorical", choices=(256, 512)),
            "data.pos_tile_prob": FloatParam(type="float", low=0.6, high=0.9, step=0.1),
            "data.batch_size": IntParam(type="int", low=2, high=8, step=3),
        },
    )
    grid = grid_search_space(tiling)
    np.testing.assert_allclose(grid["data.pos_tile_prob"], [0.6, 0.7, 0.8, 0.9])
    assert grid["data.batch_size"] == [2, 5, 8]
    assert len(grid_points(tiling)) == 2 * 4 * 3
    with pytest.raises(ConfigError, match="grid sampling does not support simplex spaces"):
        grid_points(load_space("loss_weights"))
    with pytest.raises(ConfigError, match=r"needs a step for float parameter optim\.lr"):
        grid_points(load_space("lr"))


def test_grid_sampler_walks_the_attention_grid():
    space = load_space("attention")
    sampler = optuna.samplers.GridSampler(grid_search_space(space), seed=0)
    study = optuna.create_study(sampler=sampler)
    suggest = define_by_run(space, STAGE1PP)
    # GridSampler stops the study once every grid point was asked: optimize() handles that.
    study.optimize(lambda trial: float(len(suggest(trial))), n_trials=20)
    assert len(study.trials) == 12
    seen = [t.params for t in study.trials]
    distinct = {tuple(sorted(p.items())) for p in seen}
    assert distinct == {tuple(sorted(p.items())) for p in grid_points(space)}


# ----------------------------------------------------------------------------------- narrowing

_NARROW_SPACE = """
description: synthetic space for narrowing
params:
  data.pos_tile_prob: {type: float, low: 0.0, high: 1.0}
  optim.lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
  optim.accumulation: {type: int, low: 1, high: 32}
  model.attention.type: {type: categorical, choices: [esca, cbam, se, none]}
  data.tile_size: {type: categorical, choices: [256, 384, 512]}
  data.stride: {type: fraction_of, of: data.tile_size, choices: [0.5, 0.75, 1.0]}
  loss.weights:
    type: simplex
    components: {focal_tversky: [0.3, 0.6], boundary: [0.1, 0.3], weighted_ce: [0.1, 0.2],
                 soft_dice: [0.1, 0.2], region: [0, 0.4], affinity: [0, 0.4], query: [0, 0.4]}
"""


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("narrow") / "synthetic.yaml"
    path.write_text(textwrap.dedent(_NARROW_SPACE), encoding="utf-8")
    space = load_space(path)
    samples = _sample(space, optuna.samplers.RandomSampler(seed=5), 400)
    table = pd.DataFrame([values for _, values in samples])
    # Best at pos_tile_prob = 0.3; esca and se earn a bonus larger than any quadratic loss.
    bonus = table["model.attention.type"].isin(["esca", "se"]).astype(float)
    table["score"] = -((table["data.pos_tile_prob"] - 0.3) ** 2) + bonus
    table.loc[:4, "score"] = np.nan  # unfinished trials are ignored
    return space, table


def test_narrow_space_shrinks_to_the_envelope_of_the_best(synthetic):
    space, table = synthetic
    new, rows = narrow_space(space, table, "score", "max", top_fraction=0.1)
    kept = math.ceil(0.1 * 395)
    assert new.name == "synthetic@narrowed"
    assert {r["kept"] for r in rows} == {kept}
    p = new.params["data.pos_tile_prob"]
    assert p.low <= 0.3 <= p.high and p.high - p.low < 0.25
    assert new.params["model.attention.type"].choices == ("esca", "se")
    lr = new.params["optim.lr"]
    assert lr.log and 1e-5 <= lr.low < lr.high <= 1e-2
    acc = new.params["optim.accumulation"]
    assert isinstance(acc, IntParam) and 1 <= acc.low < acc.high <= 32
    assert set(new.params["data.stride"].choices) <= {0.5, 0.75, 1.0}
    weights = new.params["loss.weights"]
    assert isinstance(weights, SimplexParam)
    assert sum(weights.lows()) <= 1.0 <= sum(weights.highs())
    for (lo, hi), old_lo, old_hi in zip(weights.components.values(), LOWS, HIGHS, strict=True):
        assert old_lo <= lo <= hi <= old_hi
    by_path = {r["path"]: r for r in rows}
    assert by_path["model.attention.type"]["old"] == "{esca, cbam, se, none}"
    assert by_path["model.attention.type"]["new"] == "{esca, se}"
    assert by_path["model.attention.type"]["changed"] is True
    # The narrowed space still samples feasible weights.
    for _, values in _sample(new, optuna.samplers.RandomSampler(seed=6), 100):
        _assert_feasible(values)


def test_narrow_space_for_minimisation_and_min_trials(synthetic):
    space, table = synthetic
    # The worst trials have no bonus: cbam and none only.
    new, rows = narrow_space(space, table, "score", "min", top_fraction=0.001, min_trials=3)
    assert rows[0]["kept"] == 3
    assert set(new.params["model.attention.type"].choices) <= {"cbam", "none"}


def test_a_single_kept_value_becomes_a_fixed_choice():
    space = Space(
        name="acc",
        params={
            "optim.accumulation": IntParam(type="int", low=1, high=32),
            "data.pos_tile_prob": FloatParam(type="float", low=0.0, high=1.0),
        },
    )
    table = pd.DataFrame(
        {
            "optim.accumulation": [16, 16, 16, 4, 8],
            "data.pos_tile_prob": [0.5, 0.5, 0.5, 0.1, 0.9],
            "score": [1.0, 0.9, 0.8, 0.1, 0.0],
        }
    )
    new, rows = narrow_space(space, table, "score", "max", top_fraction=0.5)
    assert new.params["optim.accumulation"] == CategoricalParam(type="categorical", choices=(16,))
    assert new.params["data.pos_tile_prob"].choices == (0.5,)
    assert rows[0]["old"] == "[1, 32]" and rows[0]["new"] == "{16}"
    with pytest.raises(ConfigError, match="no column 'iou'"):
        narrow_space(space, table, "iou", "max", top_fraction=0.5)
    with pytest.raises(ConfigError, match="no trial of the previous stage has a value"):
        narrow_space(space, table.assign(score=np.nan), "score", "max", top_fraction=0.5)
