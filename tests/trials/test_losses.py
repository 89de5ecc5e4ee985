"""Tests of trials.losses: every term against hand-computed values, gradchecks, the registry and
the composite loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from sklearn.utils.class_weight import compute_class_weight

from search_spaces import ConfigError, LossConfig, LossWeights
from trials.losses import (
    CompositeLoss,
    LossTerm,
    boundary_weight_map,
    create_loss,
    lesion_components,
    list_losses,
)

LN2, LN3 = math.log(2.0), math.log(3.0)


def bce(z: float, t: float) -> float:
    """Binary cross-entropy of one logit, written out: -t log s(z) - (1 - t) log(1 - s(z))."""
    s = 1.0 / (1.0 + math.exp(-z))
    return -t * math.log(s) - (1.0 - t) * math.log(1.0 - s)


def sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def t64(rows: list) -> torch.Tensor:
    """A (1, 1, H, W) float64 tensor from a nested list."""
    return torch.tensor(rows, dtype=torch.float64)[None, None]


# Shared 2 x 2 example: sigmoid of the logits is [[0.5, 0.75], [0.25, 0.5]].
LOGITS_2x2 = [[0.0, LN3], [-LN3, 0.0]]
TARGET_2x2 = [[1.0, 1.0], [1.0, 0.0]]
# TP = 0.5 + 0.75 + 0.25 = 1.5, FP = 0.5 (pixel (1,1)), FN = 0.5 + 0.25 + 0.75 = 1.5
TP, FP, FN = 1.5, 0.5, 1.5


def term(name: str, **params: object) -> LossTerm:
    cfg = LossConfig.model_validate(params) if params else LossConfig()
    return create_loss(name, cfg)


# ----------------------------------------------------------------------------------- registry


def test_registry_names_are_the_recipe_loss_weights() -> None:
    assert set(list_losses()) == set(LossWeights.model_fields)
    assert list_losses("*dice*") == ["soft_dice"]


def test_unknown_loss_name_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        create_loss("tversky", LossConfig())
    message = str(err.value)
    assert "'tversky'" in message
    for name in LossWeights.model_fields:
        assert name in message


def test_requires_declares_the_model_outputs() -> None:
    assert term("focal_tversky").requires == ("mask",)
    assert term("region").requires == ("region",)
    assert term("affinity").requires == ("affinity",)
    assert term("query").requires == ("query_masks", "query_logits")


# ------------------------------------------------------------------------- hand-computed values


def test_focal_tversky_hand_value() -> None:
    loss = term("focal_tversky", focal_tversky={"alpha": 0.3, "beta": 0.7, "gamma": 1.2})
    value = loss({"mask": t64(LOGITS_2x2)}, {"mask": t64(TARGET_2x2)})
    ti = TP / (TP + 0.3 * FP + 0.7 * FN)  # 1.5 / 2.7 = 5/9
    assert value.item() == pytest.approx((1.0 - ti) ** 1.2, rel=1e-9)


def test_focal_tversky_is_one_index_over_the_batch_and_zero_on_an_empty_batch() -> None:
    loss = term("focal_tversky", focal_tversky={"alpha": 0.3, "beta": 0.7, "gamma": 2.0})
    # Second image: empty target, all probabilities 0.75 -> FP += 4 * 0.75.
    logits = torch.cat([t64(LOGITS_2x2), torch.full((1, 1, 2, 2), LN3, dtype=torch.float64)])
    target = torch.cat([t64(TARGET_2x2), torch.zeros(1, 1, 2, 2, dtype=torch.float64)])
    ti = TP / (TP + 0.3 * (FP + 3.0) + 0.7 * FN)
    value = loss({"mask": logits}, {"mask": target})
    assert value.item() == pytest.approx((1.0 - ti) ** 2.0, rel=1e-9)
    empty = torch.zeros_like(target)
    assert loss({"mask": logits}, {"mask": empty}).item() == 0.0


def test_focal_tversky_gamma_below_one_keeps_gradients_finite_on_an_empty_batch() -> None:
    loss = term("focal_tversky", focal_tversky={"gamma": 0.5})
    logits = torch.randn(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    value = loss({"mask": logits}, {"mask": torch.zeros(2, 1, 4, 4, dtype=torch.float64)})
    value.backward()
    assert value.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_soft_dice_hand_value_and_empty_batch() -> None:
    s = 0.25
    loss = term("soft_dice", soft_dice={"smooth": s})
    value = loss({"mask": t64(LOGITS_2x2)}, {"mask": t64(TARGET_2x2)})
    dice = (TP + s) / (TP + 0.5 * FP + 0.5 * FN + s)  # smp's smoothing: (2TP+2s)/(|P|+|T|+2s)
    assert value.item() == pytest.approx(1.0 - dice, rel=1e-9)
    empty = {"mask": torch.zeros(1, 1, 2, 2, dtype=torch.float64)}
    assert loss({"mask": t64(LOGITS_2x2)}, empty).item() == 0.0


def test_weighted_ce_hand_value_matches_sklearn_balanced_weights() -> None:
    target = [[1.0, 0.0], [0.0, 0.0]]
    # N = 4, n_pos = 1, n_neg = 3: w_pos = 4 / (2 * 1) = 2, w_neg = 4 / (2 * 3) = 2/3.
    w_pos, w_neg = 2.0, 2.0 / 3.0
    sk = compute_class_weight("balanced", classes=np.array([0, 1]), y=np.array([1, 0, 0, 0]))
    assert sk.tolist() == pytest.approx([w_neg, w_pos])
    expected = (
        w_pos * bce(0.0, 1)  # log 2
        + w_neg * bce(LN3, 0)  # log 4
        + w_neg * bce(-LN3, 0)  # log 4/3
        + w_neg * bce(0.0, 0)  # log 2
    ) / 4
    assert expected == pytest.approx(
        (2 * LN2 + (2 / 3) * (math.log(4) + math.log(4 / 3) + LN2)) / 4
    )
    value = term("weighted_ce")({"mask": t64(LOGITS_2x2)}, {"mask": t64(target)})
    assert value.item() == pytest.approx(expected, rel=1e-9)


def test_weighted_ce_single_class_batch_is_plain_bce() -> None:
    logits = t64(LOGITS_2x2)
    expected = (bce(0.0, 0) + bce(LN3, 0) + bce(-LN3, 0) + bce(0.0, 0)) / 4
    value = term("weighted_ce")({"mask": logits}, {"mask": torch.zeros_like(logits)})
    assert value.item() == pytest.approx(expected, rel=1e-9)


def test_weighted_ce_weights_are_per_batch() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((3, 1, 5, 6)) < 0.2).astype(np.float64)
    z = rng.normal(size=y.shape)
    classes = np.array([0.0, 1.0])
    w_neg, w_pos = compute_class_weight("balanced", classes=classes, y=y.ravel())
    per_pixel = np.where(y > 0, w_pos, w_neg) * np.logaddexp(0.0, -np.where(y > 0, z, -z))
    value = term("weighted_ce")({"mask": torch.from_numpy(z)}, {"mask": torch.from_numpy(y)})
    assert value.item() == pytest.approx(per_pixel.mean(), rel=1e-9)


def test_boundary_weight_map_hand_drawn() -> None:
    row = np.array([[1, 1, 1, 1, 0, 0, 0, 0]])
    # distances to the other class: [4, 3, 2, 1 | 1, 2, 3, 4]; min(d, 3) = [3, 3, 2, 1, 1, 2, 3, 3]
    assert boundary_weight_map(row, 3.0).tolist() == [[1, 1, 2, 3, 3, 2, 1, 1]]
    dot = np.zeros((3, 3), dtype=bool)
    dot[1, 1] = True
    r2 = math.sqrt(2.0)
    expected = [[4 - r2, 3, 4 - r2], [3, 3, 3], [4 - r2, 3, 4 - r2]]
    np.testing.assert_allclose(boundary_weight_map(dot, 3.0), expected, rtol=1e-12)
    assert boundary_weight_map(np.zeros((3, 4)), 3.0).tolist() == np.ones((3, 4)).tolist()
    assert boundary_weight_map(np.ones((3, 4)), 3.0).tolist() == np.ones((3, 4)).tolist()


def test_boundary_weight_map_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    mask = ndimage.binary_opening(rng.random((24, 20)) < 0.45)
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    d = inside + outside  # exactly one of the two is nonzero at every pixel
    for max_dist in (0.5, 2.0, 3.0, 7.5):
        expected = 1.0 + max_dist - np.minimum(d, max_dist)
        np.testing.assert_allclose(boundary_weight_map(mask, max_dist), expected, rtol=1e-12)


def test_boundary_weight_map_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="max_dist > 0"):
        boundary_weight_map(np.zeros((2, 2)), 0.0)
    with pytest.raises(ValueError, match="H x W"):
        boundary_weight_map(np.zeros((1, 2, 2)), 3.0)


def test_boundary_loss_hand_value() -> None:
    # Target [[1, 0], [0, 0]] with max_dist 3: d = [[1, 1], [1, sqrt2]], w = [[3, 3], [3, 4-sqrt2]].
    r2 = math.sqrt(2.0)
    w = [3.0, 3.0, 3.0, 4.0 - r2]
    b = [bce(0.0, 1), bce(LN3, 0), bce(-LN3, 0), bce(0.0, 0)]
    expected = sum(wi * bi for wi, bi in zip(w, b, strict=True)) / sum(w)
    loss = term("boundary", boundary={"max_dist": 3.0})
    value = loss({"mask": t64(LOGITS_2x2)}, {"mask": t64([[1.0, 0.0], [0.0, 0.0]])})
    assert value.item() == pytest.approx(expected, rel=1e-9)
    # Empty target: all weights 1, plain mean BCE.
    value = loss({"mask": t64(LOGITS_2x2)}, {"mask": torch.zeros(1, 1, 2, 2, dtype=torch.float64)})
    assert value.item() == pytest.approx((bce(0, 0) + bce(LN3, 0) + bce(-LN3, 0) + bce(0, 0)) / 4)


def test_region_hand_value() -> None:
    target = torch.zeros(2, 1, 3, 3, dtype=torch.float64)
    target[0, 0, 2, 1] = 1.0  # one lesion pixel in image 0, image 1 empty
    logits = torch.tensor([[0.5], [-1.0]], dtype=torch.float64)
    expected = (math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(-1.0))) / 2
    value = term("region")({"region": logits}, {"mask": target})
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_affinity_hand_value_excludes_the_last_column_and_row() -> None:
    # mask [[1, 0], [1, 1]]: right-neighbour same label: row 0 no (1 vs 0), row 1 yes;
    # lower-neighbour same label: column 0 yes (1 vs 1), column 1 no (0 vs 1).
    junk = 50.0  # positions without a neighbour; a wrong inclusion would add ~50 to the loss
    aff = torch.tensor(
        [[[[0.3, junk], [-0.7, junk]], [[1.1, 0.2], [junk, junk]]]], dtype=torch.float64
    )
    expected = (bce(0.3, 0) + bce(-0.7, 1) + bce(1.1, 1) + bce(0.2, 0)) / 4
    value = term("affinity")({"affinity": aff}, {"mask": t64([[1.0, 0.0], [1.0, 1.0]])})
    assert value.item() == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------------- query


def test_lesion_components_pool_connectivity_and_largest_first() -> None:
    m = np.zeros((5, 6), dtype=bool)
    m[0, 0] = m[1, 1] = True  # diagonal pair: one component with 8-connectivity
    m[3:5, 3:6] = True  # 6 pixels
    m[0, 5] = True  # single pixel
    comps = lesion_components(m, max_components=2)
    assert comps.shape == (2, 5, 6)
    assert comps[0].sum() == 6 and comps[0][3:5, 3:6].all()
    assert comps[1].sum() == 2 and comps[1][0, 0] and comps[1][1, 1]
    _, k = ndimage.label(m, structure=np.ones((3, 3)))
    assert k == 3 and len(lesion_components(m, 10)) == 3
    assert lesion_components(np.zeros((4, 4)), 5).shape == (0, 4, 4)


def _query_inputs(obj: list[float]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    # Two queries on a 2 x 2 grid: q0 has p = 0.5 everywhere, q1 has p = [[.75, .75], [.25, .25]].
    masks = torch.tensor(
        [[[[0.0, 0.0], [0.0, 0.0]], [[LN3, LN3], [-LN3, -LN3]]]], dtype=torch.float64
    )
    outputs = {"query_masks": masks, "query_logits": torch.tensor([obj], dtype=torch.float64)}
    return outputs, {"mask": t64([[1.0, 1.0], [0.0, 0.0]])}  # K = 1 component (top row)


def test_query_hand_value_matching_by_dice() -> None:
    # Dice with smoothing 1: q0 (2*1 + 1)/(2 + 2 + 1) = 0.6, q1 (2*1.5 + 1)/(2 + 2 + 1) = 0.8.
    # Equal objectness (0.5) -> costs q0: 0.4 - 0.5, q1: 0.2 - 0.5 -> q1 is matched.
    outputs, targets = _query_inputs([0.0, 0.0])
    objectness = (bce(0.0, 0) + bce(0.0, 1)) / 2
    mask_bce = (bce(LN3, 1) + bce(LN3, 1) + bce(-LN3, 0) + bce(-LN3, 0)) / 4  # = log(4/3)
    expected = objectness + (1 - 0.8) + mask_bce
    assert term("query")(outputs, targets).item() == pytest.approx(expected, rel=1e-12)


def test_query_hand_value_matching_uses_objectness() -> None:
    # Costs: q0 0.4 - s(1.0) = -0.331, q1 0.2 - s(-0.5) = -0.178 -> q0 is matched now.
    assert 0.4 - sig(1.0) < 0.2 - sig(-0.5)
    outputs, targets = _query_inputs([1.0, -0.5])
    objectness = (bce(1.0, 1) + bce(-0.5, 0)) / 2
    expected = objectness + (1 - 0.6) + LN2  # q0's mask BCE is log 2 at every pixel
    assert term("query")(outputs, targets).item() == pytest.approx(expected, rel=1e-12)


def test_query_without_lesion_is_objectness_only_and_batch_is_averaged() -> None:
    outputs, targets = _query_inputs([1.0, -0.5])
    empty = {"mask": torch.zeros(1, 1, 2, 2, dtype=torch.float64)}
    only_obj = (bce(1.0, 0) + bce(-0.5, 0)) / 2
    assert term("query")(outputs, empty).item() == pytest.approx(only_obj, rel=1e-12)
    batch_out = {k: torch.cat([v, v]) for k, v in outputs.items()}
    batch_tgt = {"mask": torch.cat([targets["mask"], empty["mask"]])}
    expected = ((bce(1.0, 1) + bce(-0.5, 0)) / 2 + 0.4 + LN2 + only_obj) / 2
    assert term("query")(batch_out, batch_tgt).item() == pytest.approx(expected, rel=1e-12)


def test_query_target_is_max_pooled_so_tiny_lesions_survive() -> None:
    # A single lesion pixel in an 8 x 8 target lands in cell (1, 0) of the 2 x 2 query grid.
    target = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    target[0, 0, 5, 2] = 1.0
    masks = torch.full((1, 1, 2, 2), -LN3, dtype=torch.float64)  # p = 0.25 everywhere
    masks[0, 0, 1, 0] = LN3  # p = 0.75 on the lesion cell
    outputs = {"query_masks": masks, "query_logits": torch.zeros(1, 1, dtype=torch.float64)}
    dice = (2 * 0.75 + 1) / (0.75 + 0.75 + 1 + 1)
    expected = bce(0.0, 1) + (1 - dice) + (3 * bce(-LN3, 0) + bce(LN3, 1)) / 4
    value = term("query")(outputs, {"mask": target})
    assert value.item() == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------------- gradients


def _grad_target() -> torch.Tensor:
    y = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    y[0, 0, 1:3, 1:4] = 1.0
    y[1, 0, 3, 0:2] = 1.0
    y[1, 0, 0, 3] = 1.0
    return y


@pytest.mark.parametrize(
    ("name", "key", "channels"),
    [
        ("focal_tversky", "mask", 1),
        ("soft_dice", "mask", 1),
        ("weighted_ce", "mask", 1),
        ("boundary", "mask", 1),
        ("affinity", "affinity", 2),
    ],
)
def test_gradcheck_dense_terms(name: str, key: str, channels: int) -> None:
    target = _grad_target()
    loss = term(name)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, channels, 4, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: loss({key: z}, {"mask": target}), (x,))


def test_gradcheck_region() -> None:
    x = torch.tensor([[0.3], [-1.2]], dtype=torch.float64, requires_grad=True)
    loss = term("region")
    assert torch.autograd.gradcheck(lambda z: loss({"region": z}, {"mask": _grad_target()}), (x,))


def test_gradcheck_query() -> None:
    # Image 0: two components on the 3 x 3 query grid (4 cells and 1 cell); image 1: none.
    target = torch.zeros(2, 1, 6, 6, dtype=torch.float64)
    target[0, 0, 0:3, 0:4] = 1.0
    target[0, 0, 5, 5] = 1.0
    gen = torch.Generator().manual_seed(5)
    masks = torch.randn(2, 3, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    logits = torch.randn(2, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    loss = term("query")

    def f(m: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        n = m.shape[0]
        return loss({"query_masks": m, "query_logits": o}, {"mask": target[:n]})

    # Full Jacobian on the image with components (the matched path); the whole batch, with the
    # empty image, in gradcheck's fast mode (random projections) to keep the test quick.
    first = (masks[:1].detach().requires_grad_(), logits[:1].detach().requires_grad_())
    assert torch.autograd.gradcheck(f, first)
    assert torch.autograd.gradcheck(f, (masks, logits), fast_mode=True)


def test_float32_matches_float64() -> None:
    target = _grad_target()
    gen = torch.Generator().manual_seed(7)
    outputs64 = {
        "mask": torch.randn(2, 1, 4, 4, dtype=torch.float64, generator=gen),
        "region": torch.randn(2, 1, dtype=torch.float64, generator=gen),
        "affinity": torch.randn(2, 2, 4, 4, dtype=torch.float64, generator=gen),
        "query_masks": torch.randn(2, 3, 3, 3, dtype=torch.float64, generator=gen),
        "query_logits": torch.randn(2, 3, dtype=torch.float64, generator=gen),
    }
    outputs32 = {k: v.float() for k, v in outputs64.items()}
    for name in list_losses():
        v64 = term(name)(outputs64, {"mask": target})
        v32 = term(name)(outputs32, {"mask": target.float()})
        assert v64.dtype == torch.float64 and v32.dtype == torch.float32, name
        assert v32.item() == pytest.approx(v64.item(), rel=1e-5), name


# ----------------------------------------------------------------------------------- composite


def _all_outputs(requires_grad: bool = False) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    shapes = {
        "mask": (2, 1, 8, 8),
        "region": (2, 1),
        "affinity": (2, 2, 8, 8),
        "query_masks": (2, 4, 2, 2),
        "query_logits": (2, 4),
    }
    return {
        k: torch.randn(s, dtype=torch.float64, generator=gen).requires_grad_(requires_grad)
        for k, s in shapes.items()
    }


def _composite_target() -> dict[str, torch.Tensor]:
    y = torch.zeros(2, 1, 8, 8, dtype=torch.float64)
    y[0, 0, 2:6, 1:4] = 1.0
    y[0, 0, 7, 7] = 1.0
    return {"mask": y}


def test_composite_total_is_the_weighted_sum_of_the_terms() -> None:
    cfg = LossConfig()
    outputs, targets = _all_outputs(requires_grad=True), _composite_target()
    total, values = CompositeLoss(cfg)(outputs, targets)
    weights = cfg.weights.model_dump()
    assert set(values) == set(weights)
    expected = 0.0
    for name, w in weights.items():
        alone = create_loss(name, cfg)(outputs, targets).item()
        assert values[name] == pytest.approx(alone, rel=1e-12)
        assert isinstance(values[name], float)
        expected += w * alone
    assert total.item() == pytest.approx(expected, rel=1e-12)
    total.backward()
    assert all(torch.isfinite(v.grad).all() for v in outputs.values())


def test_zero_weight_terms_are_neither_built_nor_computed() -> None:
    full = CompositeLoss(LossConfig())
    assert full.required_outputs == {
        "mask",
        "region",
        "affinity",
        "query_masks",
        "query_logits",
    }
    weights = {"query": 0.0, "affinity": 0.0, "boundary": 0.0}
    loss = CompositeLoss(LossConfig(weights=weights))
    assert set(loss.terms) == {"focal_tversky", "weighted_ce", "soft_dice", "region"}
    assert not any(isinstance(m, type(full.terms["query"])) for m in loss.modules())
    assert loss.required_outputs == {"mask", "region"}
    # The missing heads are not needed: the loss runs on outputs without them.
    outputs = {k: v for k, v in _all_outputs().items() if k in {"mask", "region"}}
    total, values = loss(outputs, _composite_target())
    assert set(values) == {"focal_tversky", "weighted_ce", "soft_dice", "region"}
    expected = sum(LossConfig().weights.model_dump()[k] * v for k, v in values.items())
    assert total.item() == pytest.approx(expected, rel=1e-12)
    only_mask = CompositeLoss(LossConfig(weights={"region": 0.0, **weights}))
    assert only_mask.required_outputs == {"mask"}


def test_missing_required_output_names_term_and_key() -> None:
    outputs = {k: v for k, v in _all_outputs().items() if k != "query_logits"}
    with pytest.raises(ConfigError, match=r"'query'.*'query_logits'"):
        CompositeLoss(LossConfig())(outputs, _composite_target())


def test_shape_mismatch_is_reported() -> None:
    with pytest.raises(ValueError, match=r"outputs\['affinity'\] must have shape \(2, 2, 8, 8\)"):
        term("affinity")({"affinity": torch.zeros(2, 1, 8, 8)}, _composite_target())


def test_half_precision_outputs_are_computed_in_float32() -> None:
    outputs64, targets = _all_outputs(), _composite_target()
    outputs16 = {k: v.to(torch.bfloat16) for k, v in outputs64.items()}
    # Reference: the same bfloat16-rounded logits, computed in float64.
    rounded = {k: v.double() for k, v in outputs16.items()}
    expected, _ = CompositeLoss(LossConfig())(rounded, targets)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        total, _ = CompositeLoss(LossConfig())(outputs16, targets)
    assert total.dtype == torch.float32
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
