"""``harness.ablate`` and ``harness.validate`` from Python, on the toy trainable: what their
commands do (spec.json, cells, statistics, sentences, resume), and the parameter-named errors."""

from __future__ import annotations

import json

import pytest

import harness
from search_spaces import ConfigError, apply_overrides, load_recipe, recipe_to_yaml

TOY = "harness.testing:component_effects"


@pytest.mark.slow
@pytest.mark.ray
def test_ablate_from_python_writes_the_run_and_resumes(ray_session, tmp_path):
    result = harness.ablate(
        "boundary", seeds=2, epochs=1, trainable=TOY, runs_dir=tmp_path, name="abl"
    )

    assert result.kind == "ablation" and result.path == tmp_path / "abl"
    assert not result.interrupted and result.finished == result.expected == 4
    assert set(result.cells["variant"]) == {"full", "drop_boundary"}
    assert set(result.main["variant"]) == {"full", "drop_boundary"}
    assert result.sentences and result.sentences[0].startswith("drop_boundary: ")
    spec = json.loads((result.path / "spec.json").read_text())
    assert spec["kind"] == "ablation" and spec["command"].startswith("ablate --drop boundary")
    assert spec["settings"]["gpus_per_trial"] == 0.0  # the GPU share of a cluster without GPU
    for name in ("cells.parquet", "ablation.csv", "ablation.md", "forest.png"):
        assert (result.path / name).is_file(), name

    again = harness.ablate(name="abl", runs_dir=tmp_path, resume=True)
    assert again.cells.equals(result.cells)  # every cell had finished: none ran again


@pytest.mark.slow
@pytest.mark.ray
def test_validate_from_python_pairs_by_fold_and_seed(ray_session, tmp_path):
    candidate = apply_overrides(load_recipe("cpu_demo"), {"loss.weights.boundary": 0.0}, source="t")
    path = tmp_path / "candidate.yaml"
    path.write_text(recipe_to_yaml(candidate))

    result = harness.validate(
        config=path, against="cpu_demo", folds=2, seeds=2, epochs=1, trainable=TOY,
        runs_dir=tmp_path, name="val",
    )  # fmt: skip

    assert result.kind == "validation" and not result.interrupted
    assert len(result.cells) == 8 and {"fold", "seed"} <= set(result.cells)
    assert result.sentences[0].startswith("iou_lesion: ")
    assert result.statistics.holm == "metrics" and result.statistics.pairing == ("fold", "seed")
    assert (result.path / "validation.md").is_file()


def test_errors_name_the_python_parameters(tmp_path):
    with pytest.raises(ConfigError, match="seeds must be >= 1, got 0") as err:
        harness.ablate("boundary", seeds=0, runs_dir=tmp_path)
    assert err.value.param == "seeds"
    with pytest.raises(ConfigError, match="surrogate predicts an ablation path") as err:
        harness.ablate("boundary", surrogate=True, runs_dir=tmp_path)
    assert err.value.param == "surrogate"
    with pytest.raises(ConfigError, match="folds must be >= 2") as err:
        harness.validate(config=tmp_path / "x.yaml", folds=1, runs_dir=tmp_path)
    assert err.value.param == "folds"
    assert not any(tmp_path.iterdir())  # nothing was made


def test_an_unknown_component_is_refused_before_ray_starts(tmp_path, monkeypatch):
    import ray

    def no_cluster(*args, **kwargs):
        raise AssertionError(
            "the cluster was asked for its GPUs before the components were checked"
        )

    monkeypatch.setattr("harness.tune._resources.cluster_gpus", no_cluster)
    was_up = ray.is_initialized()
    with pytest.raises(ConfigError, match=r"^drop 'nope': unknown component") as err:
        harness.ablate("nope", runs_dir=tmp_path)
    assert err.value.param == "drop"
    with pytest.raises(ConfigError, match=r"^drop 'nope': unknown component") as err:
        harness.ablate(["boundary+nope"], runs_dir=tmp_path)
    assert err.value.param == "drop"
    with pytest.raises(ConfigError, match=r"^only 'nope': unknown component") as err:
        harness.ablate(only="nope", runs_dir=tmp_path)
    assert err.value.param == "only"
    with pytest.raises(ConfigError, match=r"^only 'attention': not a single loss term") as err:
        harness.ablate(only="attention", runs_dir=tmp_path)
    assert err.value.param == "only"
    assert ray.is_initialized() is was_up  # False, unless an earlier test left Ray running
    assert not any(tmp_path.iterdir())  # nothing was made
