"""How right the importance table is at the sizes people run, on functions whose answers are known.

For each number of trials n and each test function, over several data seeds, runs
`analysis.estimate_importance` (the computation behind `harness report`) and prints, for ANOVA and
fANOVA separately:

- ``order``: how often the parameters with a real effect are ranked above every parameter
  without one, and the largest true effect first;
- ``null first``: how often a parameter without effect is ranked first;
- ``err``: the mean absolute error of the shares against the analytic first-order Sobol indices;
- ``cover``: how often the 90% interval covers the analytic value (parameters x seeds).

Functions: Ishigami (a = 7, b = 0.1, 3 parameters, indices 0.314 / 0.442 / 0) with 0 or 7 extra
parameters that do nothing, plus noise of 1 (3% of the variance). The trials-per-parameter ratio
where the ranking becomes dependable is what `RELIABLE_PER_PARAM` and `FANOVA_MIN_PER_PARAM` in
analysis/importance/_estimate.py are set from. It prints; it does not assert.

    .venv/bin/python benchmarks/importance_accuracy.py [--seeds 10] [--sizes 12,24,50,100,200]
    .venv/bin/python benchmarks/importance_accuracy.py --resamples 10000  # B=50 vs B=200 at n
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from analysis.importance import estimate_importance

A, B = 7.0, 0.1
_V = A**2 / 8 + B * np.pi**4 / 5 + B**2 * np.pi**8 / 18 + 0.5


def ishigami(n: int, seed: int, extra: int, noise: float = 1.0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, (n, 3 + extra))
    y = np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])
    names = ["x1", "x2", "x3"] + [f"null{j}" for j in range(extra)]
    table = pd.DataFrame(x, columns=names)
    table["value"] = y + rng.normal(0, noise, n)
    total = _V + noise**2
    truth = {"x1": 0.5 * (1 + B * np.pi**4 / 5) ** 2 / total, "x2": A**2 / 8 / total}
    truth.update({p: 0.0 for p in names[2:]})
    space = {"params": {p: {"type": "float", "low": -np.pi, "high": np.pi} for p in names}}
    return table, names, truth, space


def one(n: int, seed: int, extra: int, bootstrap: int) -> dict[str, dict[str, float]]:
    table, names, truth, space = ishigami(n, seed, extra)
    est = estimate_importance(table, names, definition=space, seed=seed, bootstrap=bootstrap)
    rows = est.effects.set_index("parameter")
    out = {}
    for method in ("anova", "fanova"):
        shares = rows[method].astype(float)
        if shares.isna().all():
            continue
        order = list(shares.sort_values(ascending=False).index)
        lo, hi = rows[f"{method}_lo"].astype(float), rows[f"{method}_hi"].astype(float)
        true = pd.Series(truth)
        out[method] = {
            "order": float(order[:2] == ["x2", "x1"]),
            "null first": float(truth[order[0]] == 0.0),
            "err": float((shares - true).abs().mean()),
            "cover": float(((lo - 1e-12 <= true) & (true <= hi + 1e-12)).mean()),
        }
    return out


def accuracy(sizes: list[int], seeds: int, bootstrap: int) -> None:
    print(f"{'params':>6} {'n':>5} {'n/p':>5} | {'method':6} {'order':>6} {'null 1st':>8} "
          f"{'err':>6} {'cover':>6} | runs")  # fmt: skip
    for extra in (0, 7):
        for n in sizes:
            results = [one(n, s, extra, bootstrap) for s in range(seeds)]
            for method in ("anova", "fanova"):
                got = [r[method] for r in results if method in r]
                if not got:
                    print(f"{3 + extra:>6} {n:>5} {n / (3 + extra):>5.1f} | {method:6} refused")
                    continue
                mean = {k: np.mean([g[k] for g in got]) for k in got[0]}
                print(
                    f"{3 + extra:>6} {n:>5} {n / (3 + extra):>5.1f} | {method:6} "
                    f"{mean['order']:>6.2f} {mean['null first']:>8.2f} {mean['err']:>6.3f} "
                    f"{mean['cover']:>6.2f} | {len(got)}"
                )


def resample_cost(n: int) -> None:
    """Interval endpoints with the reduced resamples above 2,000 trials against 200."""
    table, names, _, space = ishigami(n, 0, 17)
    widths = {}
    for label, forced in (("default", None), ("200", 200)):
        import analysis.importance._estimate as estimate

        saved = estimate._FULL_BOOTSTRAP_N
        if forced:
            estimate._FULL_BOOTSTRAP_N = n
        start = time.perf_counter()
        est = estimate_importance(table, names, definition=space, seed=1)
        elapsed = time.perf_counter() - start
        estimate._FULL_BOOTSTRAP_N = saved
        rows = est.effects.set_index("parameter")
        widths[label] = rows
        print(f"{label:>8}: {est.bootstrap} resamples, {elapsed:.2f} s")
    a, b = widths["default"], widths["200"]
    for method in ("anova", "fanova"):
        real = ["x1", "x2", "x3"]  # the parameters with an effect (x3 through x1 · x3)
        width = (b.loc[real, f"{method}_hi"] - b.loc[real, f"{method}_lo"]).astype(float)
        shift = (
            (a.loc[real, f"{method}_lo"] - b.loc[real, f"{method}_lo"]).abs()
            + (a.loc[real, f"{method}_hi"] - b.loc[real, f"{method}_hi"]).abs()
        ).astype(float) / 2
        print(
            f"{method} (x1, x2, x3): interval widths with 200 resamples "
            f"{', '.join(f'{w:.4f}' for w in width)}; the reduced resamples move the endpoints "
            f"by {', '.join(f'{v:.4f}' for v in shift)} "
            f"(median {(shift / width.where(width > 0)).median():.0%} of the width)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sizes", default="12,24,50,100,200")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=0, help="instead: B=50 vs 200 at n")
    args = parser.parse_args()
    if args.resamples:
        resample_cost(args.resamples)
        return
    accuracy([int(s) for s in args.sizes.split(",")], args.seeds, args.bootstrap)


if __name__ == "__main__":
    main()
