"""``harness report`` through the console script: the direction of an outcome that is not the
search's metric comes from the shared rule (hd95: lower is better)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

HARNESS = [sys.executable, "-m", "harness.cli"]


@pytest.mark.slow
@pytest.mark.ray
def test_report_on_hd95_ranks_lower_as_better(tmp_path):
    # a search that maximised score; hd95 falls as optim.lr rises, so t0039 has the lowest
    n = 40
    lr = np.linspace(0.01, 1.0, n)
    hd95 = 30.0 - 20.0 * lr
    ids = [f"t{i:04d}" for i in range(n)]
    trials = pd.DataFrame(
        {
            "trial_id": ids,
            "status": "completed",
            "optim.lr": lr,
            "data.batch_size": [2, 4] * (n // 2),
            "epochs": 2,
            "final.score": lr,
            "final.hd95": hd95,
        }
    )
    curves = pd.DataFrame(
        [
            {"trial_id": t, "epoch": e, "score": s * e / 2, "hd95": h + (5.0 if e == 1 else 0.0)}
            for t, s, h in zip(ids, lr, hd95, strict=True)
            for e in (1, 2)
        ]
    )
    run = tmp_path / "search"
    run.mkdir()
    spec = {"command": "search --space lr", "settings": {"metric": "score", "mode": "max"}}
    (run / "spec.json").write_text(json.dumps(spec))
    trials.to_parquet(run / "trials.parquet", index=False)
    curves.to_parquet(run / "curves.parquet", index=False)

    res = subprocess.run(
        [
            *HARNESS,
            "report",
            str(run),
            "--metric",
            "hd95",
            "--format",
            "md,json",
            "--bootstrap",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    md = (run / "report" / "report.md").read_text()
    assert "hd95 (min)" in md
    best = md.split("## Best trials", 1)[1]
    first = next(line for line in best.splitlines() if line.startswith("| 1 |"))
    assert first.startswith("| 1 | t0039 |")
    meta = json.loads((run / "report" / "importance.json").read_text())
    assert meta.get("mode", meta.get("meta", {}).get("mode")) == "min"


def _asha_like(tmp_path):
    """12 trials of a search that maximised x: half stopped after epoch 1, half ran 12."""
    n = 12
    ids = [f"t{i:04d}" for i in range(n)]
    lr = np.linspace(0.01, 1.0, n)
    epochs = [1, 12] * (n // 2)
    trials = pd.DataFrame(
        {
            "trial_id": ids,
            "status": ["pruned", "completed"] * (n // 2),
            "lr": lr,  # a parameter without a dot
            "epochs": epochs,
            "final.x": lr * np.array(epochs) / 12,
        }
    )
    curves = pd.DataFrame(
        [
            {"trial_id": t, "epoch": e, "x": s * e / 12}
            for t, s, last in zip(ids, lr, epochs, strict=True)
            for e in range(1, last + 1)
        ]
    )
    run = tmp_path / "asha"
    run.mkdir()
    spec = {"command": "search", "settings": {"metric": "x", "mode": "max", "max_epochs": 12}}
    (run / "spec.json").write_text(json.dumps(spec))
    trials.to_parquet(run / "trials.parquet", index=False)
    curves.to_parquet(run / "curves.parquet", index=False)
    return run


_FAST = ["--bootstrap", "0", "--format", "json"]


def test_report_refuses_final_values_of_mixed_budgets_in_one_clean_line(
    tmp_path, monkeypatch, capsys
):
    from typer.testing import CliRunner

    from harness.cli._app import app, main
    from search_spaces import ConfigError

    run = _asha_like(tmp_path)
    args = ["report", str(run), "--metric", "final.x", *_FAST]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "--mixed-budgets" in str(result.exception)

    # through the console script's entry point: one error line, no traceback
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setattr(sys, "argv", ["harness", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --metric final.x") and "Traceback" not in err
    assert "epochs 1 to 12" in err and "--mixed-budgets" in err and "--metric x" in err
    assert len(err.strip().splitlines()) == 1


def test_report_with_mixed_budgets_writes_the_ranking_under_a_banner(tmp_path):
    from typer.testing import CliRunner

    from harness.cli._app import app

    run = _asha_like(tmp_path)
    args = ["report", str(run), "--metric", "final.x", "--mixed-budgets", *_FAST]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "MIXED BUDGETS" in result.output and "once per trial, 12 of 12 trials" in result.output
    assert "parameters (inferred: every column that is not an outcome): lr" in result.output
    assert (run / "report" / "importance.json").is_file()


def test_report_params_option_is_checked(tmp_path):
    from typer.testing import CliRunner

    from harness.cli._app import app
    from search_spaces import ConfigError

    run = _asha_like(tmp_path)
    for params, words in (("lr,nope", "no column nope"), ("lr,final.x", "never parameters")):
        result = CliRunner().invoke(app, ["report", str(run), "--params", params, *_FAST])
        assert isinstance(result.exception, ConfigError) and words in str(result.exception)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["report", str(run), "--params", "lr", "--metric", "x", *_FAST]
    )
    assert result.exit_code == 0, result.output
    # every trial reached epoch 1, only 6 of 12 (< 10) epoch 12
    assert "(epoch 1 of 12, 12 of 12 trials)" in result.output
    assert "parameters (--params): lr" in result.output


def _two_epochs(tmp_path):
    """40 trials that all ran 2 epochs; score rises with optim.lr, batch size does nothing."""
    n = 40
    rng = np.random.default_rng(0)
    lr = rng.uniform(0.01, 1.0, n)
    ids = [f"t{i:04d}" for i in range(n)]
    score = lr + rng.normal(0, 0.05, n)
    trials = pd.DataFrame(
        {
            "trial_id": ids,
            "status": "completed",
            "optim.lr": lr,
            "data.batch_size": [2, 4] * (n // 2),
            "epochs": 2,
            "final.score": score,
        }
    )
    curves = pd.DataFrame(
        [
            {"trial_id": t, "epoch": e, "score": s * e / 2}
            for t, s in zip(ids, score, strict=True)
            for e in (1, 2)
        ]
    )
    run = tmp_path / "two"
    run.mkdir()
    spec = {"command": "search", "settings": {"metric": "score", "mode": "max", "max_epochs": 2}}
    (run / "spec.json").write_text(json.dumps(spec))
    trials.to_parquet(run / "trials.parquet", index=False)
    curves.to_parquet(run / "curves.parquet", index=False)
    return run


def test_report_prints_the_compact_ranking_and_writes_the_defined_columns(tmp_path):
    from typer.testing import CliRunner

    from analysis.importance import DEFINITIONS
    from harness.cli._app import app

    run = _two_epochs(tmp_path)
    args = ["report", str(run), "--bootstrap", "20", "--spline-df", "2", "--format", "md,json"]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "two: what drives score (epoch 2 of 2, 40 of 40 trials)" in out
    header = next(line for line in out.splitlines() if "ANOVA % [90% CI]" in line)
    assert header.split() == [
        "parameter", "treatment", "ANOVA", "%", "[90%", "CI]", "ANOVA", "P(rank)", "F", "p",
        "fANOVA", "%", "[90%", "CI]", "fANOVA", "P(rank)",
    ]  # fmt: skip
    lr_row = next(line for line in out.splitlines() if line.lstrip().startswith("optim.lr "))
    assert lr_row.count("[") == 2 and "(#1)" in lr_row  # both shares with their intervals
    assert "every column is defined in report.md" in out and "±" not in out

    md = (run / "report" / "report.md").read_text()
    assert "**epoch 2 of 2, 40 of 40 trials: what drives score (max)**" in md
    assert "- **model**: a spline per numeric parameter, its degrees of freedom" in md
    assert DEFINITIONS["ANOVA share"] in md and DEFINITIONS["fANOVA share"] in md
    assert "## Ranking across epochs" in md and "| 2 (reported) | 40 | optim.lr |" in md
    doc = json.loads((run / "report" / "importance.json").read_text())
    assert doc["meta"]["spline_df"] == 2 and "bins" not in doc["meta"]
    assert doc["meta"]["header"] == "epoch 2 of 2, 40 of 40 trials"
    assert [r["epoch"] for r in doc["stability"]] == [1, 2]
    assert doc["importance"][0]["parameter"] == "optim.lr" and "anova_lo" in doc["importance"][0]


def test_spline_df_is_checked_and_bins_is_gone(tmp_path):
    from typer.testing import CliRunner

    from harness.cli._app import app
    from search_spaces import ConfigError

    run = _two_epochs(tmp_path)
    result = CliRunner().invoke(app, ["report", str(run), "--spline-df", "0", *_FAST])
    assert isinstance(result.exception, ConfigError)
    assert "--spline-df must be between 1 and 20, got 0" in str(result.exception)
    result = CliRunner().invoke(app, ["report", str(run), "--bins", "4", *_FAST])
    assert result.exit_code == 2 and "No such option" in result.output
    assert not (run / "report").exists()
    help_text = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["report", "--help"]).output
    assert "--spline-df" in help_text and "generalised cross-validation" in help_text


def test_the_terminal_banner_is_yellow_and_said_once(tmp_path):
    import io

    from rich.console import Console

    from analysis import compute_importance, load_experiment
    from harness.cli._report import _print_ranking

    exp = load_experiment(_asha_like(tmp_path))
    report = compute_importance(exp, metric="final.x", mixed_budgets=True, bootstrap=0)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system="standard", width=200)
    _print_ranking(report, report.meta(), console, exp.param_source)
    text = buf.getvalue()
    banner = report.meta()["banner"]
    assert "\x1b[1;33mMIXED BUDGETS" in text  # bold yellow
    plain = Console(file=io.StringIO(), width=200)
    _print_ranking(report, report.meta(), plain, exp.param_source)
    shown = plain.file.getvalue()
    assert shown.startswith(banner[:40]) and shown.count("MIXED BUDGETS") == 1
    assert "(once per trial, 12 of 12 trials)" in shown
