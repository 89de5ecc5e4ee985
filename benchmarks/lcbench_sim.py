"""Choosing the harness's default search on LCBench quickly: the same search, simulated.

A real run (benchmarks/lcbench.py) costs Ray's per-trial and per-report overhead, about a minute
per run here. For comparing many designs over many seeds this script replays the search without
the Ray runtime, with the real parts that decide where the budget goes:

- Ray Tune's own ASHAScheduler object (its rungs, cutoffs and bracket choice), called as Ray's
  controller calls it, with ``time_attr="epoch"``;
- a real Optuna study driven by ask/tell, with the sampler under test, told as the harness's
  searcher tells it (each epoch reported; a stop before max_t is PRUNED, at max_t COMPLETE),
  or, for the ``raytpe_*`` methods, as plain Ray Tune's OptunaSearch tells it (a stopped trial
  COMPLETE with its last value);
- two workers advancing one epoch at a time in turn (equal epoch times), a new trial asked when
  one ends, everything stopped once the epoch budget is spent.

A method's name says what it is, in parts joined by ``_``: its sampler first (``tpe``: the
harness's TPE with Optuna's default good group; ``plaintpe``/``raytpe``: plain Ray Tune's TPE;
``random``; ``cb``: TPE at a common budget; ``gp``/``cbgp``: Optuna's GPSampler, plain or at a
common budget), then its scheduler (``asha`` with ``g<N>`` grace, ``rf<N>`` reduction factor,
``hb<N>`` brackets, or ``fifo``), then variants: ``gam<P>`` a good group of P% (``gam5`` is the
harness's default for LCBench's seven parameters), ``gamhyp`` Hyperopt's 0.25 sqrt(n),
``s<N>`` N random startup trials, ``mix<N>`` every N-th trial random, ``ei`` 64 EI candidates,
``pw<N>`` a prior weight of N/10, ``base`` the space's midpoint first.

Score and regret are those of benchmarks/lcbench.py. The figures that count are that script's;
this one is for choosing what to measure there.

    .venv-lcbench/bin/python benchmarks/lcbench_sim.py --methods tpe_asha cb_asha --seeds 5
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from lcbench import DEV_TASKS, optuna_space, reference_best  # noqa: E402

from harness.testing._lcbench import LCBENCH_EPOCHS, lcbench_curves  # noqa: E402
from harness.tune._mf_sampler import CommonBudgetTPESampler  # noqa: E402


@dataclass(frozen=True)
class _Trial:
    trial_id: str


class _Mixed(optuna.samplers.BaseSampler):
    """Every ``every``-th trial from ``other`` (a random hedge), the rest from ``main``."""

    def __init__(self, main, other, every):
        self.main, self.other, self.every = main, other, every

    def _pick(self, trial):
        return self.other if (trial.number + 1) % self.every == 0 else self.main

    def infer_relative_search_space(self, study, trial):
        return self._pick(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, space):
        return self._pick(trial).sample_relative(study, trial, space)

    def sample_independent(self, study, trial, name, dist):
        return self._pick(trial).sample_independent(study, trial, name, dist)

    def before_trial(self, study, trial):
        self.main.before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self.main.after_trial(study, trial, state, values)


def make_sampler(method: str, seed: int) -> optuna.samplers.BaseSampler:
    if method.startswith("random"):
        return optuna.samplers.RandomSampler(seed=seed)
    if method.startswith(("plaintpe", "raytpe")):  # Ray's OptunaSearch default
        return optuna.samplers.TPESampler(seed=seed)
    opts: dict = {}
    mix = 0
    for part in method.split("_"):
        if part.startswith("s") and part[1:].isdigit():
            opts["n_startup_trials"] = int(part[1:])
        if part.startswith("mix") and part[3:].isdigit():
            mix = int(part[3:])
        if part.startswith("gam") and part[3:].isdigit():
            g = int(part[3:]) / 100
            opts["gamma"] = lambda n, g=g: min(int(np.ceil(g * n)), 25)
        if part == "gamhyp":  # Hyperopt's rule, as Optuna provides it
            from optuna.samplers._tpe.sampler import hyperopt_default_gamma

            opts["gamma"] = hyperopt_default_gamma
        if part.startswith("pw") and part[2:].isdigit():
            opts["prior_weight"] = int(part[2:]) / 10
        if part == "ei":
            opts["n_ei_candidates"] = 64
    if method.startswith("cbgp"):
        gp = optuna.samplers.GPSampler(seed=seed, n_startup_trials=opts.get("n_startup_trials", 10))
        return CommonBudgetTPESampler(gp)
    if method.startswith("gp"):
        startup = opts.get("n_startup_trials", 10)
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
    tpe = optuna.samplers.TPESampler(
        multivariate=True, group=True, constant_liar=True, seed=seed, **opts
    )
    if mix:
        return _Mixed(tpe, optuna.samplers.RandomSampler(seed=seed + 1), mix)
    if method.startswith("cb"):
        return CommonBudgetTPESampler(tpe)
    return tpe


def make_scheduler(method: str, seed: int):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    np.random.seed(seed)  # ASHA draws each trial's bracket from numpy's global generator
    if method.endswith("fifo"):
        sched = FIFOScheduler()
    else:
        grace, brackets, rf = 1, 1, 3
        for part in method.split("_"):
            if part.startswith("rf") and part[2:].isdigit():
                rf = int(part[2:])
            if part.startswith("g") and part[1:].isdigit():
                grace = int(part[1:])
            if part.startswith("hb") and part[2:].isdigit():
                brackets = int(part[2:])
        sched = ASHAScheduler(
            time_attr="epoch",
            max_t=LCBENCH_EPOCHS,
            grace_period=grace,
            reduction_factor=rf,
            brackets=brackets,
            stop_last_trials=True,
        )
    sched.set_search_properties("acc", "max")
    return sched


def simulate(method: str, task: str, seed: int, budget: int, workers: int = 2) -> dict:
    from ray.tune.schedulers import TrialScheduler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=make_sampler(method, seed))
    sched = make_scheduler(method, seed)
    space = optuna_space()
    if "_base" in method:  # the harness evaluates the space's midpoint first
        mid = {}
        for k, d in space.items():
            v = np.sqrt(d.low * d.high) if d.log else (d.low + d.high) / 2
            mid[k] = round(v) if isinstance(d, optuna.distributions.IntDistribution) else v
        study.enqueue_trial(mid)
    full = method.endswith("fifo")
    max_trials = budget // LCBENCH_EPOCHS if full else 10**6
    spent, started, finals = 0, 0, []
    slots: list[dict | None] = [None] * workers

    def start() -> dict | None:
        nonlocal started
        if started >= max_trials:
            return None
        started += 1
        ot = study.ask(space)
        curve = lcbench_curves(task, [ot.params], LCBENCH_EPOCHS)[0]
        t = _Trial(str(ot.number))
        sched.on_trial_add(None, t)
        return {"ot": ot, "curve": curve, "epoch": 0, "t": t}

    for w in range(workers):
        slots[w] = start()
    while spent < budget and any(slots):
        for w in range(workers):
            s = slots[w]
            if s is None or spent >= budget:
                continue
            s["epoch"] += 1
            spent += 1
            value = float(s["curve"][s["epoch"] - 1])
            s["ot"].report(value, s["epoch"])
            action = sched.on_trial_result(None, s["t"], {"epoch": s["epoch"], "acc": value})
            done = s["epoch"] >= LCBENCH_EPOCHS
            if done or action == TrialScheduler.STOP:
                if done:
                    finals.append(value)
                    study.tell(s["ot"], value, state=optuna.trial.TrialState.COMPLETE)
                elif method.startswith("ray"):
                    # plain Ray Tune's OptunaSearch tells a stopped trial COMPLETE with its
                    # last (low-budget) value
                    study.tell(s["ot"], value, state=optuna.trial.TrialState.COMPLETE)
                else:
                    study.tell(s["ot"], None, state=optuna.trial.TrialState.PRUNED)
                slots[w] = start()
    return {
        "score": max(finals) if finals else float("nan"),
        "epochs": spent,
        "trials": started,
        "completed": len(finals),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(DEV_TASKS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=30 * LCBENCH_EPOCHS)
    parser.add_argument("--methods", nargs="+", default=["tpe_asha", "cb_asha"])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "lcbench")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for task in args.tasks:
        best = reference_best(task, args.out)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for method in args.methods:
                start = time.perf_counter()
                r = simulate(method, task, seed, args.budget)
                r.update(task=task, seed=seed, method=method, seconds=time.perf_counter() - start)
                r["regret"] = best - r["score"] if np.isfinite(r["score"]) else best
                rows.append(r)
                print(
                    f"{task:>7} {seed} {method:<16} regret {r['regret']:6.2f}  trials "
                    f"{r['trials']:4d} completed {r['completed']:3d}  {r['seconds']:.1f}s",
                    flush=True,
                )
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "sim.csv", index=False)
    medians = table.groupby("method")["regret"].median().sort_values()
    print(medians.round(2).to_string())
    wide = table.pivot_table(index=["task", "seed"], columns="method", values="regret")
    first = args.methods[-1]
    for other in args.methods[:-1]:
        wins = (wide[first] < wide[other]).sum() + 0.5 * (wide[first] == wide[other]).sum()
        print(f"{first} beats {other} in {wins:g} of {len(wide)}")


if __name__ == "__main__":
    main()
