"""Ablation statistics against scipy/statsmodels on hand-made cells, verdict directions, failed
cells and the writers. The power and false-positive rate over 200 simulated ablations are
checked once, through the ablation machinery, in tests/harness/test_ablate.py."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from analysis import (
    ABLATION_COLUMNS,
    ablation_rows,
    ablation_statistics,
    mde_lines,
    metric_direction,
    write_ablation,
)
from search_spaces import ConfigError, DataError

FULL = [0.60, 0.62, 0.58, 0.65, 0.61]
DROP_A = [0.55, 0.60, 0.50, 0.62, 0.57]  # diffs -0.05 -0.02 -0.08 -0.03 -0.04
DROP_B = [0.61, 0.61, 0.59, 0.66, 0.60]  # diffs +0.01 -0.01 +0.01 +0.01 -0.01
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _cells(values: dict[str, list[float]], metric: str = "iou_lesion", **extra) -> pd.DataFrame:
    """Cells as the runner gives them: one row per (variant, seed), status and metric columns."""
    rows = []
    for variant, vals in values.items():
        for seed, v in enumerate(vals):
            row = {"variant": variant, "seed": seed, "status": "completed", metric: v}
            for name, per_variant in extra.items():
                row[name] = per_variant[variant][seed]
            rows.append(row)
    return pd.DataFrame(rows)


def _row(result, variant: str, metric: str = "iou_lesion") -> pd.Series:
    t = result.table
    return t[(t["variant"] == variant) & (t["metric"] == metric)].iloc[0]


def test_statistics_equal_scipy_and_statsmodels_on_fixed_arrays():
    result = ablation_statistics(_cells({"full": FULL, "drop a": DROP_A, "drop b": DROP_B}))
    assert list(result.table.columns) == list(ABLATION_COLUMNS)
    assert result.variants == ("full", "drop a", "drop b")
    full, a, b = np.array(FULL), np.array(DROP_A), np.array(DROP_B)

    base = _row(result, "full")
    assert base["n"] == 5 and base["verdict"] == "baseline"
    assert base["mean"] == pytest.approx(full.mean())
    assert base["sd"] == pytest.approx(full.std(ddof=1))
    lo, hi = stats.t.interval(0.95, 4, loc=full.mean(), scale=full.std(ddof=1) / math.sqrt(5))
    assert (base["ci_low"], base["ci_high"]) == pytest.approx((lo, hi))
    assert math.isnan(base["p_t"]) and math.isnan(base["delta"])

    p_a, p_b = stats.ttest_rel(a, full).pvalue, stats.ttest_rel(b, full).pvalue
    holm = multipletests([p_a, p_b], method="holm")[1]
    ra, rb = _row(result, "drop a"), _row(result, "drop b")
    assert ra["n"] == 5
    assert ra["mean"] == pytest.approx(a.mean()) and ra["sd"] == pytest.approx(a.std(ddof=1))
    assert ra["delta"] == pytest.approx(-0.044)
    assert ra["delta_rel"] == pytest.approx(-0.044 / 0.612)
    assert ra["p_t"] == pytest.approx(p_a) and rb["p_t"] == pytest.approx(p_b)
    assert (ra["p_holm"], rb["p_holm"]) == pytest.approx(tuple(holm))
    # d_z by hand: deviations from -0.044 are -.006 .024 -.036 .014 .004, squares sum 2.12e-3
    sd_diff = math.sqrt(2.12e-3 / 4)
    assert ra["sd_diff"] == pytest.approx(sd_diff)
    assert ra["d_z"] == pytest.approx(-0.044 / sd_diff)
    half = stats.t.ppf(0.975, 4) * sd_diff / math.sqrt(5)
    assert (ra["delta_ci_low"], ra["delta_ci_high"]) == pytest.approx(
        (-0.044 - half, -0.044 + half)
    )
    # five pairs: no Wilcoxon p, and a note saying why
    assert math.isnan(ra["p_wilcoxon"]) and math.isnan(rb["p_wilcoxon"])
    assert any("Wilcoxon" in n and "0.0625" in n for n in result.notes)
    d80 = TTestPower().solve_power(nobs=5, alpha=0.05, power=0.8)
    assert ra["mde"] == pytest.approx(d80 * sd_diff)
    assert holm[0] < 0.05 and ra["verdict"] == "hurts"
    assert holm[1] >= 0.05 and rb["verdict"] == "no detectable effect"
    main = result.main()
    assert list(main["variant"]) == ["full", "drop a", "drop b"]


def test_wilcoxon_from_six_seeds_equals_scipy():
    full = [*FULL, 0.63]
    drop = [*DROP_A, 0.64]
    result = ablation_statistics(_cells({"full": full, "drop a": drop}))
    r = _row(result, "drop a")
    diff = np.array(drop) - np.array(full)
    assert r["n"] == 6
    assert r["p_wilcoxon"] == pytest.approx(stats.wilcoxon(diff).pvalue)
    assert not any("Wilcoxon" in n for n in result.notes)
    # one variant: Holm leaves its p as it is
    assert r["p_holm"] == pytest.approx(stats.ttest_rel(drop, full).pvalue)


def test_mde_is_below_an_effect_of_two_sd_with_five_seeds():
    z = np.array([-1.2, -0.4, 0.1, 0.5, 1.0])
    z = (z - z.mean()) / z.std(ddof=1)  # mean 0, sd 1 exactly
    sigma = 0.01
    base = np.array(FULL)
    result = ablation_statistics(_cells({"full": base, "drop x": base - sigma * (2 + z)}))
    r = _row(result, "drop x")
    assert r["d_z"] == pytest.approx(-2.0)
    assert r["sd_diff"] == pytest.approx(sigma)
    assert r["mde"] == pytest.approx(
        TTestPower().solve_power(nobs=5, alpha=0.05, power=0.8) * sigma
    )
    assert r["mde"] < abs(r["delta"])
    (line,) = mde_lines(result)
    assert line.startswith("drop x: with 5 paired seeds") and "80% power" in line


def test_verdict_follows_the_direction_of_the_metric():
    memory = {"full": [1.0e9] * 5, "drop attention": [1.0e9 + 5e7 + i * 1e6 for i in range(5)]}
    time = {"full": [10.0, 11, 12, 13, 14], "drop attention": [8.0, 9.2, 9.9, 11.1, 12.0]}
    cells = _cells(
        {"full": FULL, "drop attention": FULL},
        peak_memory_bytes=memory,
        wall_time_s=time,
    )
    result = ablation_statistics(cells)
    assert result.metrics == ("iou_lesion", "peak_memory_bytes", "wall_time_s")
    mem, wall = (
        _row(result, "drop attention", "peak_memory_bytes"),
        _row(result, "drop attention", "wall_time_s"),
    )
    assert mem["direction"] == "min" and mem["delta"] > 0 and mem["verdict"] == "hurts"
    assert wall["direction"] == "min" and wall["delta"] < 0 and wall["verdict"] == "helps"
    # identical values: all-zero differences are no effect, not an error
    same = _row(result, "drop attention")
    assert same["p_t"] == 1.0 and same["d_z"] == 0.0 and same["verdict"] == "no detectable effect"
    flipped = ablation_statistics(cells, directions={"peak_memory_bytes": "max"})
    assert _row(flipped, "drop attention", "peak_memory_bytes")["verdict"] == "helps"
    assert metric_direction("hd95") == "min" and metric_direction("dice") == "max"
    with pytest.raises(ConfigError, match="must be 'max' or 'min', got 'up'"):
        ablation_statistics(cells, directions={"peak_memory_bytes": "up"})


def test_hd95_is_lower_is_better_and_an_unknown_metric_needs_a_direction():
    hd95 = {"full": [20.0, 22, 19, 25, 21], "drop a": [24.0, 27, 22, 30, 25]}
    cells = _cells({"full": FULL, "drop a": DROP_A}, hd95=hd95, sharpness=hd95)
    r = _row(ablation_statistics(cells, metrics=["hd95"]), "drop a", "hd95")
    assert r["direction"] == "min" and r["delta"] > 0 and r["verdict"] == "hurts"
    with pytest.raises(ConfigError, match=r"'sharpness'.*give mode max or mode min"):
        ablation_statistics(cells, metrics=["sharpness"])
    given = ablation_statistics(cells, metrics=["sharpness"], directions={"sharpness": "min"})
    assert _row(given, "drop a", "sharpness")["verdict"] == "hurts"


def test_failed_and_unpaired_cells_are_left_out_and_said():
    cells = _cells({"full": FULL, "drop a": DROP_A, "drop b": DROP_B})
    cells.loc[(cells["variant"] == "drop a") & (cells["seed"] == 2), "status"] = "oom"
    cells.loc[(cells["variant"] == "full") & (cells["seed"] == 4), "status"] = "diverged"
    cells = cells[~((cells["variant"] == "drop b") & (cells["seed"] == 0))]
    result = ablation_statistics(cells)
    ra, rb = _row(result, "drop a"), _row(result, "drop b")
    assert ra["n"] == 3 and ra["n_failed"] == 1  # seeds 0, 1, 3
    assert rb["n"] == 3 and rb["n_failed"] == 0  # seeds 1, 2, 3
    keep = [0, 1, 3]
    assert ra["p_t"] == pytest.approx(
        stats.ttest_rel(np.array(DROP_A)[keep], np.array(FULL)[keep]).pvalue
    )
    assert _row(result, "full")["n"] == 4
    assert result.failures == {"full": {"diverged": 1}, "drop a": {"oom": 1}, "drop b": {}}
    text = " | ".join(result.notes)
    assert "drop a: failed cells excluded (seed 2 oom)" in text
    assert "full: failed cells excluded (seed 4 diverged)" in text
    assert "drop b: no cell for seed(s) [0]" in text
    assert "the baseline has no completed cell" in text


def test_too_few_pairs_is_not_tested():
    cells = _cells({"full": FULL[:2], "drop a": DROP_A[:2]})
    cells.loc[cells.index[-1], "status"] = "memory_cap"
    r = _row(ablation_statistics(cells), "drop a")
    assert r["n"] == 1 and r["verdict"] == "not tested" and math.isnan(r["mde"])


def test_constant_difference_gives_infinite_d_z_and_strict_json():
    result = ablation_statistics(_cells({"full": FULL, "drop a": [v - 0.01 for v in FULL]}))
    r = _row(result, "drop a")
    assert r["d_z"] == -math.inf and r["p_t"] == 0.0 and r["verdict"] == "hurts"
    doc = result.to_dict()
    json.dumps(doc, allow_nan=False)
    row = next(x for x in doc["table"] if x["variant"] == "drop a")
    assert row["d_z"] is None and row["p_wilcoxon"] is None
    assert row["delta"] == pytest.approx(-0.01)


@pytest.mark.parametrize(
    ("cells", "kwargs", "message"),
    [
        (_cells({"drop a": DROP_A}), {}, "no baseline variant 'full'; variants: \\['drop a'\\]"),
        (
            _cells({"full": FULL}).drop(columns="status"),
            {},
            "missing the column\\(s\\) \\['status'\\]",
        ),
        (
            _cells({"full": FULL}),
            {"main_metric": "miou"},
            "metric\\(s\\) \\['miou'\\] are not numeric",
        ),
        (_cells({"full": FULL + FULL}).assign(seed=0), {}, "one row per \\(variant, seed\\)"),
        (_cells({"full": FULL}), {"alpha": 1.5}, "alpha must be in \\(0, 1\\), got 1.5"),
    ],
)
def test_bad_input_is_refused_with_the_rule(cells, kwargs, message):
    with pytest.raises((DataError, ConfigError), match=message):
        ablation_statistics(cells, **kwargs)


def test_writers_produce_every_file(tmp_path):
    extra = {"peak_memory_bytes": {"full": [2.0e9] * 5, "drop a": [1.9e9 + i for i in range(5)]}}
    result = ablation_statistics(_cells({"full": FULL, "drop a": DROP_A}, **extra))
    variants = pd.DataFrame(
        [
            {"variant": "full", "description": "full", "renormalized": False, "overrides": {}},
            {
                "variant": "drop a",
                "description": "drop boundary",
                "renormalized": True,
                "overrides": {"loss.weights.boundary": 0.0},
            },
        ]
    )
    meta = {"kind": "ablation", "base": "cpu_demo", "seeds": [0, 1, 2, 3, 4], "renormalize": True}
    paths = write_ablation(result, variants, tmp_path / "out", meta=meta)
    names = sorted(p.name for p in paths)
    assert names == ["ablation.csv", "ablation.json", "ablation.md", "forest.png"]
    csv = pd.read_csv(tmp_path / "out" / "ablation.csv")
    assert len(csv) == 4 and list(csv.columns) == list(ABLATION_COLUMNS)
    doc = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert doc["meta"]["base"] == "cpu_demo"
    assert doc["variants"][1]["overrides"] == {"loss.weights.boundary": 0.0}
    assert {r["verdict"] for r in doc["table"]} >= {"baseline", "hurts", "helps"}
    md = (tmp_path / "out" / "ablation.md").read_text()
    assert "Loss weights were renormalised after the drop in: drop a." in md
    assert "| drop a | 5 |" in md and "hurts" in md and "peak_memory_bytes" in md
    assert "−0.044" in md  # Δ of the main metric
    assert (tmp_path / "out" / "forest.png").read_bytes().startswith(PNG_SIGNATURE)
    rows = ablation_rows(result)
    assert [r["variant"] for r in rows] == ["full", "drop a"]
    assert rows[1]["Δ %"] == "−7.2%" and rows[1]["verdict"] == "hurts"
    assert rows[1]["p t"] == f"{stats.ttest_rel(DROP_A, FULL).pvalue:.3f}"


def test_every_detected_drop_of_a_higher_is_better_metric_reads_hurts():
    """The verdict agrees with the Holm p and the metric's direction on simulated ablations
    (20 draws of d_z = -2 with 5 seeds; their power is checked in tests/harness)."""
    rng = np.random.default_rng(20240527)
    sigma, detected = 0.01, 0
    for _ in range(20):
        seed_effect = rng.normal(0.60, 0.05, 5)
        drop = seed_effect + rng.normal(-2 * sigma, sigma, 5)
        result = ablation_statistics(
            _cells({"full": seed_effect, "drop x": drop}), metrics=[], bootstrap=50
        )
        r = result.main().iloc[1]
        significant = bool(r["p_holm"] < 0.05)
        detected += significant
        assert (r["verdict"] == "hurts") == significant
    assert detected > 0
