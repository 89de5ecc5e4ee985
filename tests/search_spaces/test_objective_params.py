"""Objective parameters: space entries outside the recipe, for a trainable that takes ``params``.

The rules of the loader (where they are legal, how they are named, what they may be), and how
they go through define-by-run sampling, the base point, the journal's effective parameters and
grids. The Ray runs are in tests/harness/tune/test_trainable_params.py.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import optuna
import pytest

from harness.searching._grid import grid_points
from harness.searching._sampling import (
    base_point,
    define_by_run,
    effective_params,
)
from harness.searching._study_params import StudyParams
from search_spaces import (
    CategoricalParam,
    ConfigError,
    FloatParam,
    IntParam,
    Space,
    flatten,
    is_objective_path,
    load_recipe,
    load_space,
    start_value,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

BASE = flatten(load_recipe("cpu_demo"))
MIXED = """\
description: two objective parameters and a recipe one
params:
  optim.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
  mlp.momentum: {type: float, low: 0.1, high: 0.99, default: 0.9}
  mlp.layers: {type: int, low: 1, high: 6}
"""


def _write(tmp_path: Path, body: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_the_rule_is_the_first_segment_of_the_path():
    assert is_objective_path("mlp.momentum") and is_objective_path("lcbench.lr")
    for path in ("optim.lr", "loss.weights.boundary", "seed", "seed.x", "data.tile_size"):
        assert not is_objective_path(path)


def test_the_default_trainable_refuses_a_path_outside_the_recipe_naming_file_entry_and_rule(
    tmp_path,
):
    path = _write(tmp_path, MIXED)
    with pytest.raises(ConfigError) as err:
        load_space(path)  # objective_params=False: trials:run_trial takes no params
    msg = str(err.value)
    assert msg.startswith(f"{path}:4: param 'mlp.momentum': ")  # the file, its line, the entry
    assert "not a parameter of the recipe" in msg
    assert "only a trainable whose function takes a `params` argument" in msg
    assert "trials:run_trial does not" in msg


def test_a_trainable_that_takes_params_may_declare_its_own(tmp_path):
    space = load_space(_write(tmp_path, MIXED), objective_params=True)
    assert space.objective_params() == ["mlp.momentum", "mlp.layers"]
    assert space.paths() == ["optim.lr", "mlp.momentum", "mlp.layers"]
    assert space.params["mlp.momentum"].default == 0.9
    # what spec.json keeps (and --resume reads back) holds them as they are
    again = Space.model_validate(space.model_dump(mode="json"))
    assert again == space and again.objective_params() == space.objective_params()
    assert "default 0.9" in {r["path"]: r["range"] for r in space.to_rows()}["mlp.momentum"]


RULES = {
    "misspelt recipe field": ("optim.lrr: {type: float, low: 0.1, high: 0.2}", "'optim.lr'"),
    "recipe field under a recipe scalar": (
        "seed.x: {type: float, low: 0.1, high: 0.2}",
        "unknown parameter path 'seed.x'",
    ),
    "misspelt section": (
        "optm.lr: {type: float, low: 0.1, high: 0.2}",
        "namespace 'optm' is too close to the recipe section 'optim'",
    ),
    "no namespace": (
        "momentum: {type: float, low: 0.1, high: 0.2}",
        "name it <namespace>.<name> (e.g. mlp.momentum)",
    ),
    "simplex": (
        "mlp.mix: {type: simplex, components: {a: [0, 1], b: [0, 1]}}",
        "an objective parameter is one of float, int, categorical",
    ),
    "fraction_of": (
        "mlp.width: {type: fraction_of, of: data.tile_size, choices: [0.5]}",
        "an objective parameter is one of float, int, categorical",
    ),
    "default out of range": (
        "mlp.momentum: {type: float, low: 0.1, high: 0.99, default: 1.5}",
        "default (1.5) must lie within [low, high] = [0.1, 0.99]",
    ),
    "default not a choice": (
        "mlp.act: {type: categorical, choices: [relu, gelu], default: tanh}",
        "default 'tanh' is not one of the choices",
    ),
    "default on a recipe field": (
        "optim.lr: {type: float, low: 1.0e-5, high: 1.0e-3, default: 1.0e-4}",
        "'default' is for objective parameters only",
    ),
    "inverted range": (
        "mlp.momentum: {type: float, low: 0.9, high: 0.1}",
        "empty or inverted range",
    ),
    "condition on an objective parameter the space lacks": (
        "mlp.momentum: {type: float, low: 0.1, high: 0.9, when: {mlp.opt: [sgd]}}",
        "objective parameter mlp.opt is not a parameter of this space",
    ),
}


@pytest.mark.parametrize("case", sorted(RULES))
def test_rules_hold_with_a_trainable_that_takes_params(tmp_path, case):
    entry, message = RULES[case]
    path = _write(tmp_path, f"params:\n  {entry}\n")
    with pytest.raises(ConfigError) as err:
        load_space(path, objective_params=True)
    assert str(err.value).startswith(f"{path}:2: param "), err.value
    assert message in str(err.value)


def test_a_condition_may_test_an_objective_parameter_sampled_in_every_trial(tmp_path):
    body = """\
    params:
      mlp.opt: {type: categorical, choices: [sgd, adam], default: adam}
      mlp.momentum: {type: float, low: 0.1, high: 0.99, when: {mlp.opt: [sgd]}}
      optim.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true, when: {mlp.opt: [adam]}}
    """
    space = load_space(_write(tmp_path, body), objective_params=True)
    assert space.depends_on("mlp.momentum") == ["mlp.opt"]
    chained = body + "  mlp.nesterov: {type: categorical, choices: [true, false], "
    chained += "when: {mlp.momentum: [0.5]}}\n"
    with pytest.raises(ConfigError, match=r"mlp\.momentum is conditional"):
        load_space(_write(tmp_path, chained, "chained.yaml"), objective_params=True)
    with pytest.raises(ConfigError, match="trials:run_trial does not"):
        load_space(_write(tmp_path, body, "strict.yaml"))


def test_an_included_space_follows_the_same_rule(tmp_path):
    _write(tmp_path, "params:\n  mlp.momentum: {type: float, low: 0.1, high: 0.9}\n", "mlp.yaml")
    top = _write(
        tmp_path,
        "include: [mlp.yaml]\nparams:\n  optim.lr: {type: float, low: 1.0e-5, high: 1.0e-3}\n",
    )
    assert load_space(top, objective_params=True).objective_params() == ["mlp.momentum"]
    with pytest.raises(ConfigError, match=r"mlp\.yaml:2: param 'mlp.momentum'"):
        load_space(top)


# ------------------------------------------------------------------------------ sampling


def _conditional(tmp_path: Path) -> Space:
    body = """\
    params:
      mlp.opt: {type: categorical, choices: [sgd, adam]}
      mlp.momentum: {type: float, low: 0.1, high: 0.99, when: {mlp.opt: [sgd]}}
      mlp.layers: {type: int, low: 1, high: 6}
      optim.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
    """
    return load_space(_write(tmp_path, body), objective_params=True)


def test_define_by_run_draws_objective_parameters_under_their_own_names(tmp_path):
    space = _conditional(tmp_path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    suggest = define_by_run(space, BASE)
    seen = set()
    for _ in range(30):
        trial = study.ask()
        values = suggest(trial)
        study.tell(trial, 0.0)
        seen.add(values["mlp.opt"])
        assert ("mlp.momentum" in values) == (values["mlp.opt"] == "sgd")
        assert 1 <= values["mlp.layers"] <= 6 and isinstance(values["mlp.layers"], int)
        assert 1e-5 <= values["optim.lr"] <= 1e-3
        assert trial.params == values  # no helper coordinates: raw and effective are the same
        assert effective_params(space, trial.params, BASE) == values
    assert seen == {"sgd", "adam"}


def test_the_base_point_starts_objective_parameters_at_their_default_else_the_midpoint(tmp_path):
    body = """\
    params:
      optim.lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
      mlp.momentum: {type: float, low: 0.1, high: 0.99, default: 0.9}
      mlp.decay: {type: float, low: 1.0e-6, high: 1.0e-2, log: true}
      mlp.dropout: {type: float, low: 0.0, high: 0.75, step: 0.25}
      mlp.layers: {type: int, low: 1, high: 6}
      mlp.act: {type: categorical, choices: [relu, gelu]}
    """
    space = load_space(_write(tmp_path, body), objective_params=True)
    point, notes = base_point(space, BASE)
    assert point == {
        "optim.lr": BASE["optim.lr"],  # a recipe parameter starts at the base recipe's value
        "mlp.momentum": 0.9,  # its default: no note
        "mlp.decay": pytest.approx(1e-4),  # geometric midpoint of a log range
        "mlp.dropout": 0.5,  # the midpoint 0.375, onto the step grid
        "mlp.layers": 4,  # round(3.5), an int
        "mlp.act": "relu",  # the first choice
    }
    noted = {n.split(":", 1)[0] for n in notes}
    assert noted == {"mlp.decay", "mlp.dropout", "mlp.layers", "mlp.act"}
    assert all("an objective parameter (no default), not in the recipe" in n for n in notes)
    # a stage that holds a value fixed (a plan's earlier best) starts there instead
    fixed_point, _ = base_point(space, BASE, fixed={"mlp.layers": 2})
    assert fixed_point["mlp.layers"] == 2
    # a default that a narrowed range leaves out is moved into it, with a note
    narrowed = space.model_copy(
        update={
            "params": {
                **space.params,
                "mlp.momentum": space.params["mlp.momentum"].model_copy(update={"high": 0.5}),
            }
        }
    )
    moved, notes = base_point(narrowed, BASE)
    assert moved["mlp.momentum"] == 0.5
    assert "mlp.momentum: an objective parameter (default 0.9), not in the recipe; " in str(notes)


def test_the_start_value_of_a_parameter_without_a_base_value():
    assert start_value(FloatParam(type="float", low=2.0, high=8.0, log=True)) == 4.0
    assert start_value(FloatParam(type="float", low=-1.0, high=1.0)) == 0.0
    assert start_value(FloatParam(type="float", low=-1.0, high=1.0, default=0.7)) == 0.7
    assert start_value(IntParam(type="int", low=1, high=8, step=7)) == 1  # 4.5 onto {1, 8}
    assert start_value(IntParam(type="int", low=2, high=4)) == 3
    assert start_value(CategoricalParam(type="categorical", choices=("a", "b"))) == "a"
    assert start_value(CategoricalParam(type="categorical", choices=("a", "b"), default="b")) == "b"


def test_the_base_point_condition_on_an_objective_parameter_uses_its_start(tmp_path):
    space = _conditional(tmp_path)  # mlp.opt starts at sgd, its first choice
    point, _ = base_point(space, BASE)
    assert point["mlp.opt"] == "sgd" and "mlp.momentum" in point
    assert effective_params(space, point, BASE) == point


def test_the_journal_shows_objective_parameters_with_their_distributions(tmp_path):
    space = _conditional(tmp_path)
    params_fn = StudyParams(space, BASE)
    raw = {"mlp.opt": "adam", "mlp.layers": 3, "optim.lr": 1e-4}
    params, dists = params_fn(raw)
    assert params == raw
    assert set(dists) == set(raw)
    assert dists["mlp.layers"] == optuna.distributions.IntDistribution(1, 6)
    assert set(params_fn.distributions) == {"mlp.opt", "mlp.momentum", "mlp.layers", "optim.lr"}


def test_grid_points_over_objective_parameters(tmp_path):
    body = """\
    params:
      mlp.act: {type: categorical, choices: [relu, gelu]}
      mlp.dropout: {type: float, low: 0.0, high: 0.4, step: 0.2}
    """
    space = load_space(_write(tmp_path, body), objective_params=True)
    points = grid_points(space, BASE)
    assert len(points) == 6
    assert {p["mlp.act"] for p in points} == {"relu", "gelu"}
    assert sorted({round(p["mlp.dropout"], 9) for p in points}) == [0.0, 0.2, 0.4]
    assert not any(math.isnan(p["mlp.dropout"]) for p in points)
