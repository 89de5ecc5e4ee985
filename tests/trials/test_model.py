"""The model: smp FPN + timm encoder, attention registry, heads built only when needed."""

from __future__ import annotations

import pytest
import timm
import torch

from search_spaces import ConfigError, load_recipe
from trials import check_recipe
from trials.model import ESCA, build_model, create_attention, list_attention

ALL_OUTPUTS = {"mask", "region", "affinity", "query_masks", "query_logits"}


def test_full_stage1pp_model_forward_and_backward_at_256_on_cpu():
    recipe = load_recipe("stage1pp")
    torch.manual_seed(0)
    model = build_model(recipe.model, ALL_OUTPUTS)
    assert model.fpn.encoder.model.__class__.__name__.startswith("EfficientNet")
    assert len(model.attention) == 2 and all(isinstance(b, ESCA) for b in model.attention)
    x = torch.randn(2, 3, 256, 256)
    out = model(x)
    assert out["mask"].shape == (2, 1, 256, 256)
    assert out["affinity"].shape == (2, 2, 256, 256)
    assert out["region"].shape == (2, 1)
    assert out["query_masks"].shape == (2, 32, 64, 64)
    assert out["query_logits"].shape == (2, 32)
    loss = sum(v.float().square().mean() for v in out.values())
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_heads_are_built_only_for_required_outputs():
    cfg = load_recipe("cpu_demo").model
    assert set(build_model(cfg, {"mask"}).heads) == set()
    assert set(build_model(cfg, {"mask", "region"}).heads) == {"region"}
    assert set(build_model(cfg, ALL_OUTPUTS).heads) == {"region", "affinity", "query"}
    with pytest.raises(ConfigError, match="no head produces"):
        build_model(cfg, {"mask", "depth"})


def test_predict_mask_equals_the_mask_output_in_eval_mode():
    model = build_model(load_recipe("cpu_demo").model, ALL_OUTPUTS).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.predict_mask(x), model(x)["mask"])


@pytest.mark.parametrize("kind", ["esca", "cbam", "se", "none"])
@pytest.mark.parametrize("blocks", [0, 1, 3])
def test_attention_types_and_block_counts(kind, blocks):
    recipe = load_recipe(
        "cpu_demo", {"model.attention.type": kind, "model.attention.blocks": blocks}
    )
    model = build_model(recipe.model)
    assert len(model.attention) == (0 if kind == "none" else blocks)
    assert model(torch.randn(1, 3, 64, 64))["mask"].shape == (1, 1, 64, 64)


def test_attention_registry_rejects_unknown_names_with_the_valid_list():
    assert list_attention() == ["cbam", "esca", "none", "se"]
    with pytest.raises(ConfigError, match="cbam, esca, none, se"):
        create_attention("transformer", 32)


def test_esca_is_spatial_then_channel_attention_plus_identity():
    torch.manual_seed(0)
    block = ESCA(16).eval()
    x = torch.randn(2, 16, 8, 8)
    expected = x + block.channel(block.spatial(x))
    assert torch.allclose(block(x), expected)
    # gates are sigmoids, so the attended part never exceeds |x| elementwise
    attended = block(x) - x
    assert (attended.abs() <= x.abs() + 1e-6).all()


def test_local_weights_file_is_loaded_into_the_encoder(tmp_path):
    torch.manual_seed(1)
    source = timm.create_model("mobilenetv3_small_100", pretrained=False)
    path = tmp_path / "enc.pth"
    torch.save(source.state_dict(), path)
    recipe = load_recipe("cpu_demo", {"model.weights": str(path)})
    encoder = build_model(recipe.model).encoder.model.state_dict()
    shared = [k for k in encoder if k in source.state_dict()]
    assert len(shared) == len(encoder)
    assert all(torch.equal(encoder[k], source.state_dict()[k]) for k in shared)


def test_bad_weights_files_fail_with_the_path(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        build_model(load_recipe("cpu_demo", {"model.weights": str(tmp_path / "x.pth")}).model)
    other = tmp_path / "other.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), other)
    with pytest.raises(ConfigError, match="cannot be loaded"):
        build_model(load_recipe("cpu_demo", {"model.weights": str(other)}).model)


def test_check_recipe_catches_names_only_the_registries_know(tmp_path):
    cases = {
        "model.encoder": ("efficientnet_b22", "not a timm model"),
        "model.attention.type": ("transformer", "valid: cbam, esca, none, se"),
        "optim.monitor": ("accuracy", "unknown metric"),
        "data.root": (str(tmp_path / "missing"), "no such folder"),
        "data.image_size": (48, "multiple of 32"),
    }
    for path, (value, message) in cases.items():
        with pytest.raises(ConfigError, match=message):
            check_recipe(load_recipe("cpu_demo", {path: value}))
    with pytest.raises(ConfigError, match="use 'min'"):
        check_recipe(load_recipe("cpu_demo", {"optim.monitor": "hd95"}))
    check_recipe(load_recipe("cpu_demo", {"optim.monitor": "hd95", "optim.monitor_mode": "min"}))
