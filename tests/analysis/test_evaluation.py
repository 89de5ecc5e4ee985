"""Statistics of an evaluation: scipy references, hand-computed values, degenerate cases."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import (
    bootstrap_interval,
    compare_evaluations,
    label_breakdown,
    paired_comparison,
    summarize_evaluation,
)
from search_spaces import ConfigError, DataError

X = np.array([0.12, 0.55, 0.31, 0.78, 0.42, 0.05, 0.66, 0.29, 0.91, 0.47, 0.38, 0.60])


def iou(c):
    den = c["tp"] + c["fp"] + c["fn"]
    return c["tp"] / den if den else 1.0


def precision(c):
    den = c["tp"] + c["fp"]
    return c["tp"] / den if den else 1.0


POOLED = {"iou_lesion": iou, "precision": precision}


def table() -> pd.DataFrame:
    counts = [(3, 1, 0, 4), (0, 0, 2, 6), (5, 0, 1, 2), (1, 3, 1, 3), (4, 1, 1, 2), (2, 2, 0, 4)]
    labels = ["rust", "rust", "blight", "blight", "blight", None]
    rows = []
    for i, ((tp, fp, fn, tn), label) in enumerate(zip(counts, labels, strict=True)):
        c = {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
        rows.append(
            {
                "image_id": f"img{i}",
                "label": label,
                **c,
                "iou_lesion": iou(c),
                "precision": precision(c),
                "hd95": [2.0, math.nan, 4.0, 6.0, 3.0, 1.0][i],
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("method", ["percentile", "BCa", "basic"])
def test_bootstrap_interval_is_scipys_over_image_resamples(method):
    ours = bootstrap_interval(
        lambda idx: float(X[idx].mean()), len(X), method=method, n_resamples=999, seed=3
    )
    ref = stats.bootstrap(
        (X,), np.mean, n_resamples=999, method=method, rng=np.random.default_rng(3)
    ).confidence_interval
    assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high), rel=1e-12)
    assert ours.method == method and ours.note is None
    assert ours.low < X.mean() < ours.high


@pytest.mark.filterwarnings("error")
def test_degenerate_bca_falls_back_to_percentile_with_a_note():
    constant = np.full(8, 0.7)
    ci = bootstrap_interval(lambda idx: float(constant[idx].mean()), 8, n_resamples=200)
    assert ci.method == "percentile" and "BCa undefined" in ci.note
    assert (ci.low, ci.high) == pytest.approx((0.7, 0.7))


def test_one_image_has_no_interval():
    ci = bootstrap_interval(lambda idx: 1.0, 1)
    assert math.isnan(ci.low) and math.isnan(ci.high) and "at least 2 images" in ci.note


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"confidence": 1.5}, "confidence must be in (0, 1), got 1.5"),
        ({"n_resamples": 0}, "n_resamples must be >= 1, got 0"),
        ({"method": "studentized"}, "choose from BCa, percentile, basic"),
    ],
)
def test_bad_bootstrap_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bootstrap_interval(lambda idx: 0.0, 5, **kwargs)


def test_summary_pools_counts_and_averages_the_rest():
    out = summarize_evaluation(table(), POOLED, ["hd95"], n_resamples=500)
    # summed counts: tp 15, fp 7, fn 5, tn 21 -> IoU 15/27, precision 15/22
    assert out["iou_lesion"]["value"] == pytest.approx(15 / 27)
    assert out["precision"]["value"] == pytest.approx(15 / 22)
    per_image_iou = [3 / 4, 0 / 2, 5 / 6, 1 / 5, 4 / 6, 2 / 4]
    assert out["iou_lesion"]["mean_per_image"] == pytest.approx(np.mean(per_image_iou))
    assert out["hd95"]["value"] == pytest.approx((2 + 4 + 6 + 3 + 1) / 5)
    assert out["hd95"]["n_nan"] == 1 and out["hd95"]["aggregation"] == "mean"
    for m in out.values():
        assert m["ci_low"] <= m["value"] <= m["ci_high"]


def test_pooled_interval_resamples_images_not_pixels():
    tab = table()
    counts = tab[["tp", "fp", "fn", "tn"]].to_numpy()

    def pooled_iou(idx):
        tp, fp, fn, _ = counts[idx].sum(axis=0)
        return tp / (tp + fp + fn)

    ref = stats.bootstrap(
        (np.arange(len(tab)),),
        pooled_iou,
        vectorized=False,
        n_resamples=400,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    out = summarize_evaluation(tab, POOLED, n_resamples=400, method="percentile")
    assert (out["iou_lesion"]["ci_low"], out["iou_lesion"]["ci_high"]) == pytest.approx(
        (ref.low, ref.high)
    )


def test_breakdown_per_label_sums_back_to_the_labelled_counts():
    tab = table()
    out = label_breakdown(tab, POOLED, ["hd95"])
    assert list(out) == ["blight", "rust"]
    assert out["rust"]["counts"] == {"tp": 3, "fp": 1, "fn": 2, "tn": 10}
    assert out["blight"]["counts"] == {"tp": 10, "fp": 4, "fn": 3, "tn": 7}
    assert out["blight"]["metrics"]["iou_lesion"] == pytest.approx(10 / 17)
    assert out["rust"]["metrics"]["hd95"] == pytest.approx(2.0)  # the nan one left out
    labelled = tab[tab["label"].notna()]
    for key in ("tp", "fp", "fn", "tn"):
        assert sum(v["counts"][key] for v in out.values()) == labelled[key].sum()
    assert label_breakdown(tab.drop(columns="label"), POOLED) == {}


def test_paired_comparison_matches_scipy_and_hand_computed_d_z():
    b = np.array([0.2, 0.4, 0.1, 0.5, 0.3])
    a = b + np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    out = paired_comparison(a, b, n_resamples=500)
    t_ref, w_ref = stats.ttest_rel(a, b), stats.wilcoxon(a - b)
    assert out["t"] == pytest.approx(t_ref.statistic) and out["p_t"] == pytest.approx(t_ref.pvalue)
    assert out["wilcoxon_w"] == w_ref.statistic and out["p_wilcoxon"] == pytest.approx(w_ref.pvalue)
    # diffs 1, 2, 3, 4, 6: mean 3.2, sd sqrt(14.8 / 4) = 1.923538
    assert out["mean_diff"] == pytest.approx(3.2)
    assert out["d_z"] == pytest.approx(3.2 / math.sqrt(3.7))
    assert out["t"] == pytest.approx(out["d_z"] * math.sqrt(5))
    assert out["diff_ci_low"] < 3.2 < out["diff_ci_high"]


@pytest.mark.filterwarnings("error")
def test_identical_values_give_zero_difference_and_p_one():
    out = paired_comparison(X, X.copy(), n_resamples=200)
    assert out["mean_diff"] == 0.0 and out["d_z"] == 0.0
    assert out["p_t"] == 1.0 and out["p_wilcoxon"] == 1.0 and out["t"] == 0.0
    assert (out["diff_ci_low"], out["diff_ci_high"]) == (0.0, 0.0)


def test_constant_nonzero_difference_is_infinitely_large():
    b = np.arange(8.0)
    out = paired_comparison(b + 2.0, b, n_resamples=100)
    assert out["d_z"] == math.inf and out["p_t"] == 0.0
    assert out["mean_diff"] == 2.0


def test_nan_pairs_are_left_out_and_lengths_must_match():
    out = paired_comparison([1.0, math.nan, 3.0, 5.0], [0.0, 1.0, math.nan, 4.0], n_resamples=50)
    assert out["n"] == 2 and out["mean_diff"] == pytest.approx(1.0)
    with pytest.raises(DataError, match="one length"):
        paired_comparison([1.0, 2.0], [1.0])


def test_compare_evaluations_matches_images_by_id():
    a = table()
    b = a.copy()
    b["tp"] = b["tp"] // 2  # b finds fewer lesion pixels: tp 15 -> 6, fn 5 -> 14
    b["fn"] = a["fn"] + (a["tp"] - b["tp"])
    b["iou_lesion"] = [iou(r) for r in b[["tp", "fp", "fn", "tn"]].to_dict("records")]
    b["precision"] = [precision(r) for r in b[["tp", "fp", "fn", "tn"]].to_dict("records")]
    shuffled = b.iloc[::-1].reset_index(drop=True)
    out = compare_evaluations(a, shuffled, POOLED, ["hd95"], n_resamples=300)
    diff = a["iou_lesion"] - b["iou_lesion"]
    assert out["iou_lesion"]["mean_diff"] == pytest.approx(diff.mean())
    assert out["iou_lesion"]["pooled_diff"] == pytest.approx(15 / 27 - 6 / 27)
    assert out["iou_lesion"]["pooled_diff_ci_low"] <= out["iou_lesion"]["pooled_diff"]
    assert out["hd95"]["p_t"] == 1.0 and "pooled_diff" not in out["hd95"]
    for row in out.values():
        assert row["p_t_holm"] >= row["p_t"]
    with pytest.raises(DataError, match="same unique images"):
        compare_evaluations(a, b.iloc[1:], POOLED)


def test_empty_table_is_refused():
    with pytest.raises(DataError, match="no image was evaluated"):
        summarize_evaluation(table().iloc[:0], POOLED)


def test_the_module_needs_no_torch():
    code = "import sys, analysis._evaluation; print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


def test_lesion_fractions_of_pooled_counts():
    from analysis.evaluation import lesion_fractions

    assert lesion_fractions({"tp": 3, "fp": 1, "fn": 2, "tn": 14}) == {
        "true": 0.25,
        "predicted": 0.2,
    }
    assert all(
        math.isnan(v) for v in lesion_fractions(dict.fromkeys(["tp", "fp", "fn", "tn"], 0)).values()
    )
