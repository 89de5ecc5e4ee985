"""The importance report of a *searched* study against the truth, on LCBench's real curves.

`benchmarks/importance_accuracy.py` checks the importance table on uniform samples of functions
whose answer is known. The trials a user has come from a search instead: TPE crowds the good
region and ASHA stops most trials early. This script measures what the report of such a search
is worth:

1. **The truth.** For each development task, the first-order and total Sobol indices of LCBench's
   validation accuracy at epoch 52 over the search space (`benchmarks/lcbench_space.yaml`:
   uniform, log-uniform where the range is log, integers rounded), from a Saltelli design with
   Jansen's estimators (`scipy.stats.sobol_indices`), with bootstrap 90% intervals of its own.
2. **The searches.** `harness search --trainable harness.testing:lcbench` with its default
   search (TPE + ASHA, concurrency 2) at each budget in epochs, 5 seeds per task; the same call
   as the CLI, through the Python API (`harness.search`), one Ray instance per task.
3. **The report.** `harness report`'s importance (`harness.report`), compared with the truth:
   whether its first parameter is the true first, Kendall τ of its ranking against the
   first-order indices, the absolute error of each fANOVA share against the first-order index,
   and how often the 90% intervals cover it (a row the report marks "unreliable" counts as
   covered-or-flagged).

The surrogate needs yahpo-gym==1.0.2 with numpy<2, so it runs in the environment of
`make lcbench-env`:

    .venv-lcbench/bin/python benchmarks/importance_search.py                 # everything
    .venv-lcbench/bin/python benchmarks/importance_search.py --truth-only    # the truth table

Runs go to `--out` (default `runs/importance-search`) and are reused: an interrupted benchmark
picks up where it stopped. Only the development tasks of `benchmarks/lcbench.py` are used; the
other LCBench tasks are kept to check the result independently.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.lcbench import DEV_TASKS, METRIC, SPACE  # noqa: E402
from harness.testing._lcbench import LCBENCH_EPOCHS, LCBENCH_PARAMS, lcbench_final  # noqa: E402

BUDGETS = (1560, 3120, 5200)
PREFIX = "lcbench."
LEVEL = 0.90


# ---------------------------------------------------------------- the truth


def unit_to_configs(unit: np.ndarray) -> list[dict[str, float]]:
    """Points of the unit cube (d, n) as LCBench configurations: each coordinate uniform on its
    range, log-uniform where the range is log, integers rounded (as the search samples them)."""
    configs: list[dict[str, float]] = [{} for _ in range(unit.shape[1])]
    for row, (name, (low, high, log, integer)) in zip(unit, LCBENCH_PARAMS.items(), strict=True):
        if log:
            values = np.exp(np.log(low) + row * (np.log(high) - np.log(low)))
        else:
            values = low + row * (high - low)
        if integer:
            values = np.clip(np.round(values), low, high)
        for config, value in zip(configs, values, strict=True):
            config[name] = float(value)
    return configs


def compute_truth(task: str, log2_n: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """First-order and total Sobol indices of epoch-52 accuracy on ``task`` over the space,
    with bootstrap 90% intervals: ``{param: {first, first_lo, first_hi, total, ...}}``."""
    from scipy import stats

    def func(x: np.ndarray) -> np.ndarray:  # in chunks: the surrogate's frames are large
        chunks = [
            lcbench_final(task, unit_to_configs(x[:, i : i + 8192]))
            for i in range(0, x.shape[1], 8192)
        ]
        return np.concatenate(chunks)[None, :]

    result = stats.sobol_indices(
        func=func,
        n=2**log2_n,
        dists=[stats.uniform(0, 1)] * len(LCBENCH_PARAMS),
        rng=np.random.default_rng(seed),
    )
    boot = result.bootstrap(confidence_level=LEVEL, n_resamples=200)
    flat = {
        "first": result.first_order,
        "first_lo": boot.first_order.confidence_interval.low,
        "first_hi": boot.first_order.confidence_interval.high,
        "total": result.total_order,
        "total_lo": boot.total_order.confidence_interval.low,
        "total_hi": boot.total_order.confidence_interval.high,
    }
    flat = {key: np.reshape(values, -1) for key, values in flat.items()}
    out = {}
    for i, name in enumerate(LCBENCH_PARAMS):
        out[PREFIX + name] = {key: float(values[i]) for key, values in flat.items()}
    return out


def truth(task: str, out: Path, log2_n: int) -> dict[str, dict[str, float]]:
    """The cached truth of ``task`` (computed on first use; about n · 9 surrogate calls)."""
    cache = out / "truth.json"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    key = f"{task}@2^{log2_n}"
    if key not in known:
        start = time.perf_counter()
        known[key] = compute_truth(task, log2_n)
        print(f"truth of task {task}: {time.perf_counter() - start:.0f} s", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known, indent=1))
    return known[key]


# ---------------------------------------------------------------- the searches


def run_name(budget: int, task: str, seed: int) -> str:
    return f"b{budget}-{task}-s{seed}"


def finished(directory: Path) -> bool:
    """Whether a run spent its whole budget (an interrupted one has its tables too)."""
    spec = directory / "spec.json"
    if not (directory / "trials.parquet").exists() or not spec.exists():
        return False
    return bool(json.loads(spec.read_text()).get("compute_budget", {}).get("exhausted"))


def search_worker(task: str, budgets: list[int], seeds: list[int], out: Path) -> None:
    """Every search of one task, in one process and one Ray instance (``LCBENCH_TASK`` is read
    by Ray's workers, which inherit it from this process)."""
    import harness

    harness.set_verbosity("WARNING")
    for budget in budgets:
        for seed in seeds:
            name = run_name(budget, task, seed)
            if finished(out / "runs" / name):
                continue
            start = time.perf_counter()
            result = harness.search(
                str(SPACE),
                trainable="harness.testing:lcbench",
                metric=METRIC,
                mode="max",
                max_epochs=LCBENCH_EPOCHS,
                budget_epochs=budget,
                concurrency=2,
                seed=seed,
                runs_dir=out / "runs",
                name=name,
                resume=(out / "runs" / name / "spec.json").exists(),  # an interrupted run
            )
            took = time.perf_counter() - start
            print(f"{name}: {len(result.trials)} trials in {took:.0f} s", flush=True)


def run_searches(tasks: list[str], budgets: list[int], seeds: list[int], out: Path) -> None:
    """One worker process per budget and seed and task (each starts its own Ray), the smallest
    budget first and, within a budget, one seed of every task before the next seed: an
    interrupted benchmark leaves every task with runs."""
    for budget in budgets:
        for seed in seeds:
            for task in tasks:
                if finished(out / "runs" / run_name(budget, task, seed)):
                    continue
                command = [sys.executable, __file__, "--worker", task, "--out", str(out)]
                command += ["--budgets", str(budget), "--seeds-list", str(seed)]
                env = {**os.environ, "LCBENCH_TASK": task, "RAY_ADDRESS": ""}
                subprocess.run(command, env=env, cwd=REPO, check=True)


# ---------------------------------------------------------------- the comparison


def score_run(directory: Path, truth_of: dict[str, dict[str, float]]) -> dict[str, object]:
    """What ``harness report`` says of one run, against the truth (first-order indices), and
    what Optuna's own fANOVA evaluator says of the same trials (a peer, paired)."""
    from scipy import stats

    import harness

    result = harness.report(directory, format="json", out=directory / "report-benchmark")
    report = result.experiments[0].report
    table = report.table.set_index("parameter")
    names = list(truth_of)
    first = pd.Series({p: truth_of[p]["first"] for p in names})
    lo = pd.Series({p: truth_of[p]["first_lo"] for p in names})
    hi = pd.Series({p: truth_of[p]["first_hi"] for p in names})
    shown = report.table["parameter"].tolist()  # the report's ranking: its table's order
    row: dict[str, object] = {
        "top_first": bool(shown) and shown[0] == first.idxmax(),
        "top": shown[0] if shown else "",
        "top_rank_prob": float(report.table["anova_rank_prob"].iloc[0]) if shown else np.nan,
        "flagged": float(
            report.table["reliability"].astype(str).str.startswith("unreliable").mean()
        ),
        "epoch": report.fidelity.epoch,
        "n_used": report.fidelity.n_used,
        "n_trials": report.fidelity.n_trials_total,
    }
    for method in ("anova", "fanova"):
        share = table[method].astype(float).reindex(names)
        ok = bool(share.notna().all())
        s_lo = table[f"{method}_lo"].astype(float).reindex(names)
        s_hi = table[f"{method}_hi"].astype(float).reindex(names)
        covered = (s_lo <= hi) & (lo <= s_hi)  # the interval meets the truth's own
        row[f"{method}_tau"] = float(stats.kendalltau(share, first).statistic) if ok else np.nan
        row[f"{method}_error"] = float((share - first).abs().median()) if ok else np.nan
        row[f"{method}_coverage"] = float(covered.mean()) if ok else np.nan
    row["tau"] = row["anova_tau"]
    peer = optuna_fanova(directory, report.fidelity.table, names)
    row["optuna_top_first"] = peer.idxmax() == first.idxmax()
    row["optuna_tau"] = float(stats.kendalltau(peer.reindex(names), first).statistic)
    return row


def optuna_fanova(directory: Path, table: pd.DataFrame, names: list[str]) -> pd.Series:
    """Optuna's ``FanovaImportanceEvaluator`` (a random forest's functional ANOVA, Hutter et
    al. 2014) on the same trials at the same epoch as the report."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    spec = json.loads((directory / "spec.json").read_text())
    definition = spec["space_definition"]["params"]
    dists = {}
    for name in names:
        d = definition[name]
        kind = (
            optuna.distributions.IntDistribution
            if d["type"] == "int"
            else (optuna.distributions.FloatDistribution)
        )
        dists[name] = kind(d["low"], d["high"], log=bool(d["log"]))
    study = optuna.create_study(direction="maximize")
    for _, r in table.iterrows():
        params = {
            n: int(np.rint(r[n])) if d["type"] == "int" else float(r[n])
            for n, d in ((n, definition[n]) for n in names)
        }
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=dists, value=float(r["value"]))
        )
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    values = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=False)
    return pd.Series(values, dtype=float)


def score(tasks, budgets, seeds, out: Path, truths) -> pd.DataFrame:
    rows = []
    for budget in budgets:
        for task in tasks:
            for seed in seeds:
                directory = out / "runs" / run_name(budget, task, seed)
                if not finished(directory):
                    continue
                row = score_run(directory, truths[task])
                rows.append({"budget": budget, "task": task, "seed": seed, **row})
    return pd.DataFrame(rows)


def summary(scores: pd.DataFrame) -> str:
    """Per budget: the issue's four figures, what they rest on, and the peer's two."""
    lines = [
        "budget (epochs) | runs | true first ranked first | median τ | median share error: "
        "ANOVA / fANOVA | 90% coverage: ANOVA / fANOVA | flagged unreliable | mean P(rank 1) "
        "of the top | epoch, trials used (median) | Optuna fANOVA: first, median τ",
        "---|---|---|---|---|---|---|---|---|---",
    ]
    for budget, s in scores.groupby("budget"):
        fanova = s["fanova_error"].notna().mean()
        lines.append(
            f"{budget} | {len(s)} | {s['top_first'].mean():.2f} | {s['tau'].median():.2f} | "
            f"{s['anova_error'].median():.3f} / {_or_na(s['fanova_error'].median(), '.3f')} | "
            f"{s['anova_coverage'].mean():.2f} / {_or_na(s['fanova_coverage'].mean(), '.2f')} "
            f"(fANOVA in {fanova:.0%} of runs) | {s['flagged'].mean():.2f} | "
            f"{s['top_rank_prob'].mean():.2f} | {s['epoch'].median():.0f}, "
            f"{s['n_used'].median():.0f} of {s['n_trials'].median():.0f} | "
            f"{s['optuna_top_first'].mean():.2f}, {s['optuna_tau'].median():.2f}"
        )
    per_task = scores.pivot_table(index="task", columns="budget", values="top_first")
    lines += ["", "true first ranked first, per task:", per_task.round(2).to_string()]
    return "\n".join(lines)


def uniform_reference(truths, n: int, seeds: list[int]) -> str:
    """The same ranking model on ``n`` uniformly drawn configurations at full length (``n`` x 52
    epochs, no search, no early stop): what it achieves where the trials cover the space."""
    from scipy import stats

    from analysis.importance import estimate_importance
    from harness.testing._lcbench import lcbench_curves

    definition = {
        "params": {
            PREFIX + name: {
                "type": "int" if integer else "float",
                "low": lo,
                "high": hi,
                "log": log,
            }
            for name, (lo, hi, log, integer) in LCBENCH_PARAMS.items()
        }
    }
    rows = []
    for task, truth_of in truths.items():
        first = pd.Series({p: t["first"] for p, t in truth_of.items()})
        for seed in seeds:
            configs = unit_to_configs(np.random.default_rng(seed).random((len(first), n)))
            table = pd.DataFrame({PREFIX + k: [c[k] for c in configs] for k in configs[0]})
            table["value"] = lcbench_curves(task, configs, LCBENCH_EPOCHS)[:, -1]
            est = estimate_importance(
                table, list(first.index), definition=definition, bootstrap=0, fanova=False
            )
            share = est.effects.set_index("parameter")["anova"].astype(float).reindex(first.index)
            rows.append(
                {
                    "top_first": share.idxmax() == first.idxmax(),
                    "tau": stats.kendalltau(share, first).statistic,
                }
            )
    df = pd.DataFrame(rows)
    return (
        f"reference: {n} uniform trials at epoch {LCBENCH_EPOCHS} ({n * LCBENCH_EPOCHS:,} epochs), "
        f"{len(df)} runs: true first ranked first {df['top_first'].mean():.2f}, median τ "
        f"{df['tau'].median():.2f}"
    )


def _or_na(value: float, fmt: str) -> str:
    return format(value, fmt) if np.isfinite(value) else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(DEV_TASKS))
    parser.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per task and budget")
    parser.add_argument("--seeds-list", nargs="+", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--truth-log2n", type=int, default=14, help="Saltelli base size 2^N")
    parser.add_argument("--truth-only", action="store_true")
    parser.add_argument("--score-only", action="store_true", help="score the runs there are")
    parser.add_argument(
        "--uniform",
        nargs="*",
        type=int,
        help="reference: the same model on N uniform trials at full length, per N (default: "
        "each budget's worth, budget / 52)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "importance-search")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seeds = args.seeds_list or list(range(args.seeds))
    if args.worker:
        search_worker(args.worker, args.budgets, seeds, args.out)
        return
    truths = {task: truth(task, args.out, args.truth_log2n) for task in args.tasks}
    print(truth_table(truths))
    if args.truth_only:
        return
    if not args.score_only:
        run_searches(args.tasks, args.budgets, seeds, args.out)
    scores = score(args.tasks, args.budgets, seeds, args.out, truths)
    scores.to_csv(args.out / "scores.csv", index=False)
    print(summary(scores))
    uniform = (
        args.uniform if args.uniform is not None else [b // LCBENCH_EPOCHS for b in args.budgets]
    )
    for n in uniform:
        print(uniform_reference(truths, n, seeds))


def truth_table(truths: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["task | parameter | first-order [90%] | total [90%]", "---|---|---|---"]
    for task, by_param in truths.items():
        ranked = sorted(by_param.items(), key=lambda kv: -kv[1]["first"])
        for name, t in ranked:
            first = f"{t['first']:.3f} [{t['first_lo']:.3f}, {t['first_hi']:.3f}]"
            total = f"{t['total']:.3f} [{t['total_lo']:.3f}, {t['total_hi']:.3f}]"
            lines.append(f"{task} | {name[len(PREFIX) :]} | {first} | {total}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
