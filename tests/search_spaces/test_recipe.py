"""The recipe model, the shipped recipes and dotted-path overrides."""

from __future__ import annotations

import importlib.resources

import pytest
from pydantic import BaseModel, ValidationError

from search_spaces import (
    ConfigError,
    LossWeights,
    Recipe,
    apply_overrides,
    flatten,
    list_recipes,
    load_recipe,
    parse_override,
)


def _walk_fields(model: type[BaseModel], prefix: str = ""):
    for name, info in model.model_fields.items():
        yield f"{prefix}{name}", info
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _walk_fields(ann, f"{prefix}{name}.")


def test_every_field_has_a_default_and_a_description():
    fields = list(_walk_fields(Recipe))
    assert len(fields) > 60
    for path, info in fields:
        assert info.description, f"{path} has no description"
        assert not info.is_required(), f"{path} has no default"


def test_shipped_recipes_found_through_importlib_resources():
    files = {p.name for p in (importlib.resources.files("search_spaces") / "recipes").iterdir()}
    assert {"stage1pp.yaml", "cpu_demo.yaml"} <= files
    assert list_recipes() == ["cpu_demo", "stage1pp"]


def test_stage1pp_is_the_reference_configuration_of_the_design():
    r = load_recipe("stage1pp")
    flat = flatten(r)
    expected = {
        "model.encoder": "efficientnet_b2",
        "model.weights": None,
        "model.pyramid_channels": 256,
        "model.attention.type": "esca",
        "model.attention.blocks": 2,
        "model.classes": 1,
        "model.num_queries": 32,
        "loss.weights.focal_tversky": 0.4,
        "loss.weights.boundary": 0.2,
        "loss.weights.weighted_ce": 0.15,
        "loss.weights.soft_dice": 0.15,
        "loss.weights.region": 0.05,
        "loss.weights.affinity": 0.05,
        "loss.weights.query": 0.1,
        "loss.focal_tversky.alpha": 0.3,
        "loss.focal_tversky.beta": 0.7,
        "loss.focal_tversky.gamma": 1.2,
        "loss.boundary.max_dist": 3.0,
        "loss.soft_dice.smooth": 1e-6,
        "optim.lr": 1e-4,
        "optim.weight_decay": 1e-4,
        "optim.grad_clip": 1.0,
        "optim.onecycle.pct_start": 0.1,
        "optim.onecycle.div_factor": 10.0,
        "optim.onecycle.final_div_factor": 50.0,
        "data.batch_size": 4,
        "optim.accumulation": 16,
        "optim.amp": True,
        "optim.channels_last": True,
        "optim.freeze_encoder_epochs": 2,
        "seed": 27,
        "data.tile_size": 512,
        "data.stride": 384,
        "data.tile_jitter": 32,
        "data.max_tiles_per_image": 1,
        "data.pos_tile_prob": 0.8,
        "data.image_size": 256,
        "data.mean": [0.485, 0.456, 0.406],
        "data.std": [0.229, 0.224, 0.225],
    }
    for path, value in expected.items():
        assert flat[path] == value, path
    # The YAML file states what the model's defaults are: they agree.
    assert r == Recipe()


def test_cpu_demo_keeps_every_component_switched_on():
    r = load_recipe("cpu_demo")
    assert all(w > 0 for w in r.loss.weights.model_dump().values())
    assert r.model.attention.type == "esca" and r.model.attention.blocks == 2
    assert r.optim.freeze_encoder_epochs >= 1
    assert r.model.encoder != "efficientnet_b2"
    assert r.data.image_size <= 64
    assert r.name == "cpu_demo"


def test_recipe_is_frozen():
    r = load_recipe("cpu_demo")
    with pytest.raises(ValidationError):
        r.optim.lr = 1.0  # type: ignore[misc]


def test_overrides_by_dotted_path_coerce_command_line_strings():
    r = load_recipe(
        "cpu_demo",
        ["optim.lr=3e-4", "loss.weights.boundary=0", "optim.amp=false", "memory.cap=2GiB"],
    )
    assert r.optim.lr == pytest.approx(3e-4)
    assert r.loss.weights.boundary == 0.0
    assert r.optim.amp is False
    assert r.memory.cap == 2 * 2**30
    assert parse_override("data.mean=[0.5, 0.5, 0.5]") == ("data.mean", [0.5, 0.5, 0.5])


def test_unknown_path_names_the_path_and_the_valid_keys():
    with pytest.raises(ConfigError) as err:
        load_recipe("cpu_demo", ["optim.lrr=1"])
    msg = str(err.value)
    assert "optim.lrr" in msg and "weight_decay" in msg and "lr," in msg


def test_wrong_type_names_path_value_and_allowed_form():
    with pytest.raises(ConfigError) as err:
        load_recipe("cpu_demo", ["optim.lr=fast"])
    msg = str(err.value)
    assert "optim.lr" in msg and "'fast'" in msg and "float" in msg and "<= 1" in msg


def test_rules_across_fields_are_enforced():
    with pytest.raises(ConfigError, match="stride"):
        load_recipe("cpu_demo", ["data.stride=1000"])
    with pytest.raises(ConfigError, match="at least one loss weight"):
        apply_overrides(Recipe(), {f"loss.weights.{k}": 0 for k in LossWeights.model_fields})
    with pytest.raises(ConfigError, match="section"):
        load_recipe("cpu_demo", ["model.attention=3"])
    with pytest.raises(ConfigError, match="path=value"):
        parse_override("optim.lr")


def test_yaml_file_errors_give_file_and_line(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("extends: cpu_demo\noptim:\n  epochs: 3\n  lr: -1\n")
    with pytest.raises(ConfigError) as err:
        load_recipe(path)
    assert f"{path}:4" in str(err.value) and "optim.lr" in str(err.value)

    path.write_text("extends: cpu_demo\nmodel:\n  encoderr: x\n")
    with pytest.raises(ConfigError) as err:
        load_recipe(path)
    assert f"{path}:3" in str(err.value) and "model.encoderr" in str(err.value)

    path.write_text("optim: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(path)


def test_extends_relative_path_and_cycles(tmp_path):
    (tmp_path / "base.yaml").write_text("extends: cpu_demo\noptim: {epochs: 5}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\noptim: {lr: 0.01}\n")
    r = load_recipe(tmp_path / "child.yaml")
    assert (r.optim.epochs, r.optim.lr, r.model.encoder) == (5, 0.01, "mobilenetv3_small_100")
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_recipe(tmp_path / "a.yaml")


def test_unknown_recipe_lists_the_built_in_ones():
    with pytest.raises(ConfigError, match="cpu_demo, stage1pp"):
        load_recipe("nope")


def test_apply_overrides_leaves_the_callers_mapping_as_it_was():
    # A Ray trainable applies each trial's overrides to one base mapping; a shallow copy let the
    # nested sections of one trial leak into the next trial the same actor ran.
    from search_spaces import apply_overrides, load_recipe

    base = load_recipe("cpu_demo").model_dump(mode="json")
    first = apply_overrides(base, {"loss.weights.boundary": 0.0}, source="trial 1")
    second = apply_overrides(base, {"seed": 99}, source="trial 2")

    assert first.loss.weights.boundary == 0.0
    assert base["loss"]["weights"]["boundary"] == 0.2
    assert second.loss.weights.boundary == 0.2
