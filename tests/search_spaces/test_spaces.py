"""Named search spaces and staged plans: the shipped files and every validation rule."""

from __future__ import annotations

import importlib.resources
import textwrap
from pathlib import Path

import pytest

from search_spaces import (
    CategoricalParam,
    ConfigError,
    FloatParam,
    FractionOfParam,
    SimplexParam,
    list_plans,
    list_spaces,
    load_plan,
    load_space,
)

PARTS = ["lr", "onecycle", "loss_weights", "tiling", "attention", "architecture", "training"]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _error(loader, path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        loader(path)
    return str(info.value)


# --------------------------------------------------------------------------- shipped spaces


def test_shipped_spaces_are_found_through_importlib_resources():
    files = {p.name for p in (importlib.resources.files("search_spaces") / "spaces").iterdir()}
    assert {f"{n}.yaml" for n in [*PARTS, "full"]} <= files
    assert list_spaces() == sorted([*PARTS, "full"])
    for name in list_spaces():
        space = load_space(name)
        assert space.name == name and space.description
        assert space.source == f"spaces/{name}.yaml"


def test_shipped_spaces_hold_the_reference_grids():
    lr = load_space("lr").params["optim.lr"]
    assert isinstance(lr, FloatParam) and (lr.low, lr.high, lr.log) == (1e-5, 1e-3, True)
    one = load_space("onecycle").params
    assert one["optim.onecycle.pct_start"].choices == (0.05, 0.1, 0.15, 0.2)
    assert one["optim.onecycle.div_factor"].choices == (5, 10, 25, 50)
    assert one["optim.onecycle.final_div_factor"].choices == (10, 50, 100, 1000)
    weights = load_space("loss_weights").params["loss.weights"]
    assert isinstance(weights, SimplexParam) and weights.total == 1.0
    assert weights.components == {
        "focal_tversky": (0.3, 0.6),
        "boundary": (0.1, 0.3),
        "weighted_ce": (0.1, 0.2),
        "soft_dice": (0.1, 0.2),
        "region": (0.0, 0.4),
        "affinity": (0.0, 0.4),
        "query": (0.0, 0.4),
    }
    tiling = load_space("tiling").params
    assert tiling["data.tile_size"].choices == (256, 384, 512)
    stride = tiling["data.stride"]
    assert isinstance(stride, FractionOfParam)
    assert (stride.of, stride.choices) == ("data.tile_size", (0.5, 0.75, 1.0))
    assert tiling["data.max_tiles_per_image"].choices == (1, 3, 6, 12, 24)
    pos = tiling["data.pos_tile_prob"]
    assert (pos.low, pos.high, pos.log) == (0.6, 0.9, False)
    att = load_space("attention").params
    assert att["model.attention.type"].choices == ("esca", "cbam", "se", "none")
    blocks = att["model.attention.blocks"]
    assert blocks.choices == (1, 2, 3)
    assert blocks.when == {"model.attention.type": ("esca", "cbam", "se")}
    arch = load_space("architecture").params
    assert arch["optim.freeze_encoder_epochs"].choices == (0, 1, 2, 3)
    assert arch["model.pyramid_channels"].choices == (128, 256, 512)
    assert arch["model.num_queries"].choices == (16, 32, 64)
    train = load_space("training").params
    assert train["data.batch_size"].choices == (1, 2, 4, 8)
    assert train["optim.accumulation"].choices == (4, 8, 16, 32)
    wd = train["optim.weight_decay"]
    assert (wd.low, wd.high, wd.log) == (1e-5, 1e-3, True)
    assert train["optim.grad_clip"].choices == (0.5, 1.0, 2.0)


def test_choices_take_the_type_of_the_recipe_field():
    # div_factor is a float field: the YAML integers become floats, as the recipe holds them.
    choices = load_space("onecycle").params["optim.onecycle.div_factor"].choices
    assert all(type(c) is float for c in choices)
    assert all(type(c) is int for c in load_space("tiling").params["data.tile_size"].choices)


def test_full_is_the_union_of_the_other_spaces_without_duplicates():
    full = load_space("full")
    expected = [p for name in PARTS for p in load_space(name).paths()]
    assert full.paths() == expected
    assert len(set(full.paths())) == len(full.paths()) == 24
    assert full.includes == tuple(PARTS)


def test_paths_rows_and_sampling_order():
    weights = load_space("loss_weights")
    assert weights.paths() == [
        "loss.weights.focal_tversky",
        "loss.weights.boundary",
        "loss.weights.weighted_ce",
        "loss.weights.soft_dice",
        "loss.weights.region",
        "loss.weights.affinity",
        "loss.weights.query",
    ]
    rows = load_space("attention").to_rows()
    assert rows == [
        {
            "path": "model.attention.type",
            "type": "categorical",
            "range": "{esca, cbam, se, none}",
            "log": False,
            "condition": "",
        },
        {
            "path": "model.attention.blocks",
            "type": "categorical",
            "range": "{1, 2, 3}",
            "log": False,
            "condition": "model.attention.type in {esca, cbam, se}",
        },
    ]
    assert load_space("lr").to_rows()[0]["range"] == "[1e-05, 0.001]"
    assert load_space("lr").to_rows()[0]["log"] is True


def test_dependencies_are_sampled_first_whatever_the_file_order(tmp_path):
    path = _write(
        tmp_path,
        "reordered.yaml",
        """
        description: conditions and fractions before their targets in the file
        params:
          model.attention.blocks:
            {type: categorical, choices: [1, 3], when: {model.attention.type: [se]}}
          data.stride: {type: fraction_of, of: data.tile_size, choices: [0.5]}
          model.attention.type: {type: categorical, choices: [se, none]}
          data.tile_size: {type: categorical, choices: [256, 512]}
        """,
    )
    order = load_space(path).sampling_order()
    assert order.index("model.attention.type") < order.index("model.attention.blocks")
    assert order.index("data.tile_size") < order.index("data.stride")


# ------------------------------------------------------------------------------ space rules


def _space_error(tmp_path: Path, body: str) -> tuple[str, Path]:
    path = _write(tmp_path, "bad.yaml", body)
    return _error(load_space, path), path


def test_malformed_yaml_names_file_and_line(tmp_path):
    msg, path = _space_error(
        tmp_path,
        """
        description: broken
        params:
          optim.lr: {type: float, low: 1.0e-5
          optim.weight_decay: {type: float, low: 1.0e-5, high: 1.0e-3}
        """,
    )
    assert msg.startswith(f"{path}:4: not valid YAML")


def test_unknown_type(tmp_path):
    msg, path = _space_error(
        tmp_path,
        """
        description: x
        params:
          optim.lr: {type: floatt, low: 1.0e-5, high: 1.0e-3}
        """,
    )
    assert msg.startswith(f"{path}:3: param 'optim.lr', field 'type': unknown type 'floatt'")
    assert "float, int, categorical, fraction_of, simplex" in msg


@pytest.mark.parametrize(("low", "high"), [(0.5, 0.5), (0.9, 0.6)])
def test_empty_and_inverted_ranges(tmp_path, low, high):
    msg, path = _space_error(
        tmp_path,
        f"""
        description: x
        params:
          optim.weight_decay: {{type: float, low: 1.0e-5, high: 1.0e-3}}
          data.pos_tile_prob:
            type: float
            low: {low}
            high: {high}
        """,
    )
    assert msg.startswith(f"{path}:4: param 'data.pos_tile_prob'")
    assert f"empty or inverted range: low ({low}) must be below high ({high})" in msg


def test_unknown_parameter_path_suggests_close_matches(tmp_path):
    msg, path = _space_error(
        tmp_path,
        """
        description: x
        params:
          optim.lr: {type: float, low: 1.0e-5, high: 1.0e-3}
          optim.weight_decy: {type: float, low: 1.0e-5, high: 1.0e-3}
        """,
    )
    assert msg.startswith(f"{path}:4: param 'optim.weight_decy': unknown parameter path")
    assert "did you mean 'optim.weight_decay'" in msg


def test_a_choice_the_recipe_rejects(tmp_path):
    msg, path = _space_error(
        tmp_path,
        """
        description: x
        params:
          model.attention.blocks:
            type: categorical
            choices: [1, 2, 4]
        """,
    )
    assert msg.startswith(f"{path}:5: param 'model.attention.blocks', field 'choices'")
    assert "value 4 is rejected by the recipe field model.attention.blocks" in msg
    assert "less than or equal to 3" in msg


def test_log_range_needs_positive_low(tmp_path):
    msg, path = _space_error(
        tmp_path,
        """
        description: x
        params:
          optim.weight_decay: {type: float, low: 0.0, high: 1.0e-3, log: true}
        """,
    )
    assert msg.startswith(f"{path}:3: param 'optim.weight_decay'")
    assert "a log range needs low > 0, got low = 0.0" in msg


@pytest.mark.parametrize(
    ("spec", "line", "rule"),
    [
        ("{type: categorical, choices: [256, 256]}", 3, "duplicate choice 256"),
        ("{type: categorical, choices: []}", 3, "choices must not be empty"),
        (
            "{type: float, low: 256, high: 512}",
            3,
            "is an integer field: use type: int",
        ),
        ("{type: int, low: 256, high: 512, step: 100}", 3, "must be a multiple of step (100)"),
        ("{type: int, low: 8, high: 512}", 3, "greater than or equal to 16"),
        ("{type: categorical, choices: [256], sample: true}", 3, "Extra inputs are not permitted"),
        ("[256, 512]", 3, "must be a mapping with a 'type'"),
    ],
)
def test_parameter_rules(tmp_path, spec, line, rule):
    msg, path = _space_error(tmp_path, f"description: x\nparams:\n  data.tile_size: {spec}\n")
    assert msg.startswith(f"{path}:{line}: param 'data.tile_size'")
    assert rule in msg


def test_condition_rules(tmp_path):
    msg, path = _space_error(
        tmp_path,
        """
        description: x
        params:
          model.attention.type: {type: categorical, choices: [esca, none]}
          model.attention.blocks:
            type: categorical
            choices: [1, 2]
            when: {model.attention.typ: [esca]}
        """,
    )
    assert msg.startswith(f"{path}:7: param 'model.attention.blocks', field 'when.")
    assert "did you mean 'model.attention.type'" in msg
    msg, path = _space_error(
        tmp_path,
        """
        description: x
        params:
          model.attention.type: {type: categorical, choices: [esca, none]}
          model.attention.blocks:
            type: categorical
            choices: [1, 2]
            when: {model.attention.type: [ecsa]}
        """,
    )
    assert msg.startswith(f"{path}:7:")
    assert (
        "values ['ecsa'] never occur: model.attention.type is searched over ['esca', 'none']" in msg
    )


def test_simplex_rules(tmp_path):
    msg, path = _space_error(
        tmp_path,
        """
        description: x
        params:
          loss.weights:
            type: simplex
            components: {focal_tversky: [0.3, 0.6], boundry: [0.1, 0.5]}
        """,
    )
    assert msg.startswith(f"{path}:5: param 'loss.weights', field 'components.boundry'")
    assert "did you mean 'boundary'" in msg
    msg, path = _space_error(
        tmp_path,
        """
        description: x
        params:
          loss.weights:
            type: simplex
            components: {focal_tversky: [0.6, 0.7], boundary: [0.5, 0.6]}
        """,
    )
    assert msg.startswith(f"{path}:3: param 'loss.weights'")
    assert "infeasible simplex: need sum(low) (1.1) <= total (1) <= sum(high) (1.3)" in msg


def test_fraction_of_rules(tmp_path):
    msg, path = _space_error(
        tmp_path,
        """
        description: x
        params:
          data.stride: {type: fraction_of, of: data.tile_size, choices: [0.01, 0.5]}
        """,
    )
    # 0.01 x 512 (the recipe's tile) = 5 px, below the recipe's minimum stride of 8.
    assert msg.startswith(f"{path}:3: param 'data.stride', field 'choices'")
    assert "fraction 0.01 of data.tile_size = 512 gives data.stride = 5" in msg
    msg, _ = _space_error(
        tmp_path,
        "description: x\nparams:\n  data.stride: {type: fraction_of, of: data.tile, "
        "choices: [1]}\n",
    )
    assert "unknown 'of' path 'data.tile'" in msg
    assert "did you mean" in msg and "'data.tile_size'" in msg
    msg, _ = _space_error(
        tmp_path,
        "description: x\nparams:\n  data.stride: {type: fraction_of, of: data.tile_size, "
        "choices: [0, 0.5]}\n",
    )
    assert "fractions must lie in (0, 1], got [0.0]" in msg


def test_include_rules(tmp_path):
    _write(tmp_path, "a.yaml", "description: a\ninclude: [b.yaml]\n")
    _write(tmp_path, "b.yaml", "description: b\ninclude: [a.yaml]\n")
    msg = _error(load_space, tmp_path / "a.yaml")
    assert "'include' forms a cycle" in msg
    assert f"{tmp_path / 'a.yaml'} -> {tmp_path / 'b.yaml'} -> {tmp_path / 'a.yaml'}" in msg

    msg, path = _space_error(tmp_path, "description: x\ninclude: [lr, nosuch]\n")
    assert msg.startswith(f"{path}:2: include: unknown space 'nosuch'; known spaces: ")
    assert "loss_weights" in msg

    msg, path = _space_error(
        tmp_path,
        """
        description: x
        include: [lr, training]
        params:
          optim.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
        """,
    )
    assert msg.startswith(f"{path}:4: param 'optim.lr'")
    assert "'optim.lr' is set by both spaces/lr.yaml and" in msg

    msg, path = _space_error(
        tmp_path,
        """
        description: x
        include: [loss_weights]
        params:
          loss.weights.boundary: {type: float, low: 0.1, high: 0.2}
        """,
    )
    assert "'loss.weights.boundary' is set by both spaces/loss_weights.yaml" in msg


def test_a_path_given_twice(tmp_path):
    msg, path = _space_error(
        tmp_path,
        """
        description: x
        params:
          optim.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
          optim.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
        """,
    )
    assert msg == f"{path}:4: param 'optim.lr': given twice in params"


def test_conditions_that_form_a_cycle(tmp_path):
    msg, path = _space_error(
        tmp_path,
        """
        description: x
        params:
          model.attention.type:
            {type: categorical, choices: [se, none], when: {model.attention.blocks: [1]}}
          model.attention.blocks:
            {type: categorical, choices: [1, 2], when: {model.attention.type: [se]}}
        """,
    )
    assert msg.startswith(f"{path}: the conditions ('when') and 'of' references of")
    assert "form a cycle" in msg


def test_unknown_space_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match=r"unknown space 'nosuch'.*attention, full"):
        load_space("nosuch")


# ------------------------------------------------------------------------------------ plans


def test_shipped_plans():
    assert list_plans() == ["groupwise", "staged"]
    staged = load_plan("staged")
    assert [s.name for s in staged.stages] == ["coarse", "focused", "fine", "final"]
    assert [s.max_epochs for s in staged.stages] == [5, 10, 15, None]
    assert [s.trials for s in staged.stages] == [40, 20, 10, None]
    assert [s.space for s in staged.stages[:3]] == ["full"] * 3
    assert staged.stages[0].narrow is None and staged.stages[0].inherit is None
    assert staged.stages[1].narrow.top_fraction == 0.1
    final = staged.stages[3]
    assert final.is_validation and final.seeds == 3 and final.inherits_best
    groupwise = load_plan("groupwise")
    assert [s.space for s in groupwise.stages] == [
        "lr",
        "onecycle",
        "loss_weights",
        "tiling",
        "attention",
    ]
    assert [s.inherit for s in groupwise.stages] == [None] + ["best"] * 4
    for plan in (staged, groupwise):
        for stage in plan.stages:
            if stage.space is not None:
                load_space(stage.space)
            if not stage.is_validation:
                assert 1 <= stage.grace_period <= stage.max_epochs
    assert staged.to_rows()[3]["kind"] == "validation"
    assert staged.to_rows()[3]["max_epochs"] == "recipe"


def test_plan_scaled():
    staged = load_plan("staged")
    assert [s.trials for s in staged.scaled(0.5).stages] == [20, 10, 5, None]
    # 40 x 1.26 = 50.4, 20 x 1.26 = 25.2, 10 x 1.26 = 12.6.
    assert [s.trials for s in staged.scaled(1.26).stages] == [50, 25, 13, None]
    # At least 2 trials per search stage, the validation stage's seeds untouched.
    tiny = staged.scaled(0.01)
    assert [s.trials for s in tiny.stages] == [2, 2, 2, None]
    assert tiny.stages[3].seeds == 3
    assert staged.stages[0].trials == 40  # the original is unchanged
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match=r"^budget must be a positive number") as err:
            staged.scaled(bad)
        assert err.value.param == "budget"


_GOOD_STAGE = "  - {name: coarse, space: lr, trials: 8, max_epochs: 4}\n"


@pytest.mark.parametrize(
    ("stages", "line", "field", "rule"),
    [
        (
            _GOOD_STAGE + "  - {name: next, space: fulll, trials: 8, max_epochs: 4}\n",
            4,
            "stages[1] (next).space",
            "unknown space 'fulll'; known spaces: architecture, attention",
        ),
        (
            "  - name: coarse\n    space: lr\n    trials: 8\n    max_epochs: 4\n"
            "    narrow: {top_fraction: 0.2}\n",
            7,
            "stages[0] (coarse).narrow",
            "the first stage cannot narrow",
        ),
        (
            "  - {name: coarse, space: lr, trials: 8, max_epochs: 4, grace_period: 5}\n",
            3,
            "stages[0] (coarse)",
            "grace_period (5) must not exceed max_epochs (4)",
        ),
        (
            "  - {name: coarse, space: lr, trials: 8, max_epochs: 4, reduction_factor: 1}\n",
            3,
            "stages[0] (coarse).reduction_factor",
            "greater than or equal to 2",
        ),
        (
            "  - {name: coarse, space: lr, trials: 0, max_epochs: 4}\n",
            3,
            "stages[0] (coarse).trials",
            "greater than 0",
        ),
        (
            "  - {name: coarse, space: lr, max_epochs: 4}\n",
            3,
            "stages[0] (coarse)",
            "a search stage needs ['trials']",
        ),
        (
            _GOOD_STAGE + "  - {name: final, seeds: 3, space: lr}\n",
            4,
            "stages[1] (final)",
            "a validation stage (seeds: 3) searches nothing: remove ['space']",
        ),
        (
            _GOOD_STAGE + "  - {name: b, space: lr, trials: 8, max_epochs: 4, inherit: best,\n"
            "     narrow: {top_fraction: 0.5}}\n",
            4,
            "stages[1] (b)",
            "give at most one of narrow and inherit: best",
        ),
        (
            _GOOD_STAGE + "  - {name: coarse, space: lr, trials: 8, max_epochs: 4}\n",
            4,
            "stages[1] (coarse).name",
            "duplicate stage name 'coarse'",
        ),
        (
            "  - {name: final, seeds: 3}\n",
            3,
            "stages[0] (final).seeds",
            "the first stage cannot start from a best configuration",
        ),
    ],
)
def test_plan_rules(tmp_path, stages, line, field, rule):
    path = _write(tmp_path, "plan.yaml", "description: test\nstages:\n" + stages)
    msg = _error(load_plan, path)
    assert msg.startswith(f"{path}:{line}: {field}"), msg
    assert rule in msg


def test_plan_file_errors(tmp_path):
    path = _write(tmp_path, "plan.yaml", "description: x\nstages:\n  - {name: a, space: lr\n")
    assert _error(load_plan, path).startswith(f"{path}:4: not valid YAML")
    path = _write(tmp_path, "plan.yaml", "description: x\nstage: []\n")
    assert _error(load_plan, path).startswith(f"{path}:2: stage: unknown key")
    with pytest.raises(ConfigError, match=r"unknown plan 'nosuch'.*groupwise, staged"):
        load_plan("nosuch")


def test_plan_space_given_as_a_path_next_to_the_plan(tmp_path):
    _write(tmp_path, "mine.yaml", "description: mine\ninclude: [lr]\n")
    path = _write(
        tmp_path,
        "plan.yaml",
        "description: x\nstages:\n  - {name: a, space: mine.yaml, trials: 4, max_epochs: 2}\n",
    )
    plan = load_plan(path)
    assert plan.stages[0].space == str(tmp_path / "mine.yaml")
    assert load_space(plan.stages[0].space).paths() == ["optim.lr"]


def test_programmatic_models_keep_their_own_rules():
    with pytest.raises(ValueError, match="empty or inverted range"):
        FloatParam(type="float", low=1.0, high=1.0)
    with pytest.raises(ValueError, match="duplicate choice"):
        CategoricalParam(type="categorical", choices=("a", "a"))
