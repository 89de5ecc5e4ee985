"""How long `harness report` takes on a large experiment: goal under 10 s for 10,000 trials x 20
parameters on this machine, computation and rendering together.

Builds a synthetic experiment directory (spec.json, trials.parquet, curves.parquet in the shape
`harness search` writes, with ASHA-like early stops at epochs 1 and 3 of 9) in a temporary folder,
then times loading, the importance computation and the report writers separately, and prints
each time, the total and its ratio to the goal. It prints; it does not assert.

    .venv/bin/python benchmarks/report_speed.py [--trials 10000] [--params 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from search_spaces import TrialStatus

GOAL_S = 10.0
METRIC = "iou_lesion"


def _space(n_params: int) -> dict[str, dict]:
    """A mix like the real spaces: log and linear floats, numeric grids and string choices."""
    space: dict[str, dict] = {}
    kinds = ["log", "float", "float", "grid", "float", "choice", "log", "float", "float", "grid"]
    for i in range(n_params):
        kind = kinds[i % len(kinds)]
        name = f"p{i:02d}.{kind}"
        if kind == "log":
            space[name] = {"type": "float", "low": 1e-5, "high": 1e-2, "log": True}
        elif kind == "float":
            space[name] = {"type": "float", "low": 0.0, "high": 1.0, "log": False}
        elif kind == "grid":
            space[name] = {"type": "categorical", "choices": [1, 2, 4, 8]}
        else:
            space[name] = {"type": "categorical", "choices": ["esca", "se", "none"]}
    return space


def build_experiment(root: Path, n_trials: int, n_params: int, seed: int = 0) -> Path:
    """Write spec.json, trials.parquet and curves.parquet of a synthetic search into ``root``."""
    rng = np.random.default_rng(seed)
    space = _space(n_params)
    cols: dict[str, np.ndarray] = {}
    for name, p in space.items():
        if p["type"] == "float" and p["log"]:
            cols[name] = 10 ** rng.uniform(np.log10(p["low"]), np.log10(p["high"]), n_trials)
        elif p["type"] == "float":
            cols[name] = rng.uniform(p["low"], p["high"], n_trials)
        else:
            cols[name] = rng.choice(np.array(p["choices"]), n_trials)
    names = list(space)
    # Known structure: a few parameters matter, one pair interacts, the rest is noise.
    quality = 0.55 + 0.04 * np.log10(cols[names[0]]) + 0.08 * cols[names[1]]
    quality += 0.05 * (cols[names[5]] == "esca") + 0.03 * cols[names[2]] * cols[names[4]]
    quality += rng.normal(0, 0.02, n_trials)
    # ASHA with grace 1, reduction 3, max 9: two thirds stop at 1, two ninths at 3.
    u = rng.uniform(size=n_trials)
    epochs = np.where(u < 2 / 3, 1, np.where(u < 8 / 9, 3, 9))
    status = np.where(epochs == 9, TrialStatus.COMPLETED, TrialStatus.PRUNED).astype(object)
    status[rng.choice(n_trials, n_trials // 100, replace=False)] = TrialStatus.MEMORY_CAP
    ids = np.array([f"{i:08x}" for i in range(n_trials)])
    memory = (1.0 + 0.5 * (cols[names[3]] / 8) + rng.uniform(0, 0.2, n_trials)) * 2**30
    trials = pd.DataFrame({"trial_id": ids, "status": status, **cols})
    for name in names[:3]:
        trials[f"raw.{name}~u"] = rng.uniform(size=n_trials)
    final = quality * (1 - 0.5 / epochs)
    trials["epochs"] = epochs
    trials[f"final.{METRIC}"] = final
    trials[f"best.{METRIC}"] = final
    trials["final.dice"] = np.sqrt(np.clip(final, 0, 1))
    trials["peak_memory_bytes"] = memory
    trials["wall_time_s"] = 6.0 * epochs
    trials["images_per_s"] = 40 + rng.normal(0, 2, n_trials)
    rep = np.repeat(np.arange(n_trials), epochs)
    ep = np.concatenate([np.arange(1, e + 1) for e in epochs])
    curves = pd.DataFrame(
        {
            "trial_id": ids[rep],
            "epoch": ep,
            METRIC: quality[rep] * (1 - 0.5 / ep),
            "dice": np.sqrt(np.clip(quality[rep] * (1 - 0.5 / ep), 0, 1)),
            "train_loss": 1.0 / ep,
        }
    )
    root.mkdir(parents=True, exist_ok=True)
    trials.to_parquet(root / "trials.parquet", index=False)
    curves.to_parquet(root / "curves.parquet", index=False)
    spec = {
        "command": "search --space synthetic",
        "space": "synthetic",
        "space_definition": {"name": "synthetic", "params": space},
        "settings": {
            "trials": n_trials,
            "max_epochs": 9,
            "grace_period": 1,
            "reduction_factor": 3,
            "metric": METRIC,
            "mode": "max",
        },
        "seed": seed,
    }
    (root / "spec.json").write_text(json.dumps(spec, indent=2))
    return root


def main(argv: list[str] | None = None) -> None:
    """Build the experiment, time each stage, print the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--params", type=int, default=20)
    ap.add_argument("--keep", type=Path, default=None, help="write the experiment here and keep it")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        exp = args.keep or Path(tmp) / "synthetic"
        t0 = time.perf_counter()
        build_experiment(exp, args.trials, args.params)
        print(
            f"built {args.trials} trials x {args.params} params in {time.perf_counter() - t0:.2f} s"
        )
        times = run(exp)
    total = sum(times.values())
    for stage, seconds in times.items():
        print(f"{stage:<22s}{seconds:8.2f} s")
    print(f"{'total':<22s}{total:8.2f} s   ({total / GOAL_S:.2f} x the {GOAL_S:.0f} s goal)")


def run(exp: Path) -> dict[str, float]:
    """Time loading, computation and rendering of one experiment directory."""
    times: dict[str, float] = {}
    t = time.perf_counter()
    from analysis.render import write_report

    try:
        from analysis import load_experiment
        from analysis.importance import compute_importance
    except ImportError as exc:
        print(f"computation not importable ({exc}): timing the rendering only")
        return {"import analysis": time.perf_counter() - t, **_render_only(exp)}
    times["import analysis"] = time.perf_counter() - t
    t = time.perf_counter()
    experiment = load_experiment(exp)
    times["load_experiment"] = time.perf_counter() - t
    t = time.perf_counter()
    # the settings `harness report` uses
    report = compute_importance(experiment, metric=METRIC)
    times["compute_importance"] = time.perf_counter() - t
    t = time.perf_counter()
    fid = report.fidelity
    meta = report.meta()
    write_report(
        exp / "report",
        report.table,
        report.interactions,
        report.groups,
        meta,
        experiment.trials,
        experiment.curves,
        analysed=fid.table,
        stability=report.stability,
    )
    times["write_report"] = time.perf_counter() - t
    print(f"fidelity: epoch {fid.epoch}, {fid.n_used} of {fid.n_trials_total} trials used")
    print("top 3 by ANOVA:", ", ".join(report.table["parameter"].head(3)))
    return times


def _render_only(exp: Path) -> dict[str, float]:
    """The writers alone, fed contract-shaped placeholder tables (numbers are not importances)."""
    from analysis.render import write_report

    times: dict[str, float] = {}
    t = time.perf_counter()
    trials = pd.read_parquet(exp / "trials.parquet")
    curves = pd.read_parquet(exp / "curves.parquet")
    times["read parquet"] = time.perf_counter() - t
    params = list(json.loads((exp / "spec.json").read_text())["space_definition"]["params"])
    from analysis.importance import (
        DEFINITIONS,
        GROUP_COLUMNS,
        INTERACTION_COLUMNS,
        STABILITY_COLUMNS,
        TABLE_COLUMNS,
    )

    rng = np.random.default_rng(0)
    share = np.sort(rng.dirichlet(np.ones(len(params))))[::-1] * 0.8
    fan = share[::-1] * 0.8
    rank = np.arange(1, len(params) + 1)
    importance = pd.DataFrame(
        {
            "parameter": params,
            "group": [p.split(".")[0] for p in params],
            "treatment": "spline(df=3)",
            "df": 3.0,
            "anova": share,
            "anova_lo": share * 0.8,
            "anova_hi": share * 1.2,
            "anova_F": share * 1000,
            "anova_p": np.exp(-share * 100),
            "anova_rank": rank,
            "anova_rank_prob": 0.5,
            "fanova": fan,
            "fanova_lo": fan * 0.8,
            "fanova_hi": fan * 1.2,
            "fanova_rank": rank[::-1],
            "fanova_rank_prob": 0.5,
            "reliability": "",
            "note": "",
        }
    )[TABLE_COLUMNS]
    pairs = [(params[i], params[j]) for i in range(4) for j in range(i + 1, 4)]
    interactions = pd.DataFrame(
        {
            "a": [a for a, _ in pairs],
            "b": [b for _, b in pairs],
            "df": 9.0,
            "share": 0.01,
            "share_lo": 0.005,
            "share_hi": 0.02,
            "F": 5.0,
            "p": 0.01,
            "p_holm": 0.06,
        }
    )[INTERACTION_COLUMNS]
    sums = ["anova", "anova_lo", "anova_hi", "fanova", "fanova_lo", "fanova_hi"]
    groups = importance.groupby("group", as_index=False)[sums].sum()[GROUP_COLUMNS]
    n_used = int((trials["epochs"] >= 3).sum())
    stability = pd.DataFrame(
        [[1, len(trials), params[0], 0.8], [3, n_used, params[0], 1.0]], columns=STABILITY_COLUMNS
    )
    meta = {
        "experiment": exp.name,
        "metric": METRIC,
        "mode": "max",
        "header": f"epoch 3 of 9, {n_used} of {len(trials)} trials",
        "banner": None,
        "param_source": "spec.json's space_definition",
        "epoch": 3,
        "max_epoch": 9,
        "n_trials_total": len(trials),
        "n_used": n_used,
        "rule": "placeholder (render-only timing)",
        "spline_df": 3,
        "bootstrap": 200,
        "level": 0.9,
        "reliable": True,
        "r2": 0.5,
        "definitions": dict(DEFINITIONS),
        "notes": ["placeholder importance: only the rendering is timed"],
    }
    t = time.perf_counter()
    write_report(
        exp / "report", importance, interactions, groups, meta, trials, curves, stability=stability
    )
    times["write_report"] = time.perf_counter() - t
    return times


if __name__ == "__main__":
    sys.exit(main())
