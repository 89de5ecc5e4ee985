"""``harness search`` through the console script: bad input, and a driver killed mid-search."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

HARNESS = [sys.executable, "-m", "harness.cli"]
FAST = [
    "--trainable",
    "harness.testing:slow_log_lr_bowl",
    "--metric",
    "score",
    "--mode",
    "max",
]


def _run(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [*HARNESS, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def _space(tmp_path: Path, body: str) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(body)
    return str(path)


BAD = {
    "unknown space": (lambda t: ["--space", "nope"], "unknown space 'nope'"),
    "malformed yaml": (
        lambda t: ["--space", _space(t, "params: [unclosed\n")],
        "not valid YAML",
    ),
    "empty range": (
        lambda t: [
            "--space",
            _space(t, "params:\n  optim.lr: {type: float, low: 0.1, high: 0.1}\n"),
        ],
        "optim.lr",
    ),
    "inverted range": (
        lambda t: [
            "--space",
            _space(t, "params:\n  optim.lr: {type: float, low: 0.2, high: 0.1}\n"),
        ],
        "optim.lr",
    ),
    "unknown path": (
        lambda t: [
            "--space",
            _space(t, "params:\n  optim.lrr: {type: float, low: 0.1, high: 0.2}\n"),
        ],
        "optim.lrr",
    ),
    "no cluster": (
        lambda t: ["--space", "lr", "--address", "127.0.0.1:9"],
        "no Ray cluster answers",
    ),
    "bad asha": (lambda t: ["--space", "lr", "--grace-period", "20"], "--grace-period"),
    "missing data folder": (
        lambda t: ["--space", "lr", "--data", str(t / "nope")],
        "no such folder",
    ),
    "bad memory cap": (
        lambda t: ["--space", "lr", "--memory-cap", "banana"],
        "--memory-cap: memory.cap = 'banana'",
    ),
    "neither": (lambda t: [], "--space NAME or --plan NAME"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_nonzero_with_one_clear_line(tmp_path, case):
    make_args, message = BAD[case]
    started = time.monotonic()
    res = _run(["search", *make_args(tmp_path), *FAST], tmp_path, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert res.stderr.startswith("error: ")
    assert time.monotonic() - started < 60
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_unknown_space_lists_the_known_ones(tmp_path):
    res = _run(["search", "--space", "nope"], tmp_path, timeout=120)
    for name in ("loss_weights", "lr", "onecycle", "tiling", "full"):
        assert name in res.stderr


def _finished(table: Path) -> pd.DataFrame:
    try:
        trials = pd.read_parquet(table)
    except (OSError, ValueError):
        return pd.DataFrame()
    return trials[trials["status"].isin(["completed", "pruned"])] if not trials.empty else trials


@pytest.mark.slow
@pytest.mark.ray
def test_sigkill_of_the_driver_then_resume_loses_and_repeats_nothing(tmp_path, wait_for_snapshot):
    args = [
        "search",
        "--space",
        "lr",
        "--trials",
        "10",
        "--max-epochs",
        "4",
        "--grace-period",
        "1",
        "--reduction-factor",
        "2",
        "--concurrency",
        "2",
        "--seed",
        "5",
        "--name",
        "killed",
        *FAST,
    ]
    env = {**os.environ, "COLUMNS": "160"}
    proc = subprocess.Popen(
        [*HARNESS, *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    table = tmp_path / "runs" / "killed" / "trials.parquet"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and len(_finished(table)) < 3:
            time.sleep(0.2)
            assert proc.poll() is None, "the search ended before it could be killed"
        before = _finished(table)
        # the kill lands once Ray's own snapshot (what --resume restores) has these trials
        wait_for_snapshot(table.parent, before["trial_id"], deadline)
        assert 3 <= len(before) < 10
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    res = _run(["search", "--resume", "--name", "killed"], tmp_path, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    final = pd.read_parquet(table)
    assert len(final) == 10 and final["trial_id"].is_unique
    assert set(final["status"]) <= {"completed", "pruned"}
    merged = before.merge(final, on="trial_id", suffixes=("_before", "_after"))
    assert len(merged) == len(before)  # every trial finished before the kill is kept...
    assert (merged["final.score_before"] == merged["final.score_after"]).all()  # ...as it was
    curves = pd.read_parquet(tmp_path / "runs" / "killed" / "curves.parquet")
    assert not curves.duplicated(["trial_id", "epoch"]).any()  # and none ran twice


def test_a_wrong_address_exits_2_at_once_without_importing_torch(tmp_path):
    code = (
        "import sys, time\n"
        "from harness.cli import main\n"
        "sys.argv = ['harness', 'search', '--space', 'lr', '--address', '127.0.0.1:9']\n"
        "t = time.monotonic()\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, 'torch' in sys.modules, f'{time.monotonic() - t:.2f}')\n"
    )
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    wall = time.monotonic() - started
    code_, torch_loaded, in_main = res.stdout.split()
    assert code_ == "2" and torch_loaded == "False", res.stdout + res.stderr
    assert "no Ray cluster answers" in res.stderr
    # the command itself (parsing, validation, the probe) under 3 s; the interpreter's start
    # adds about 0.4 s on a quiet machine, more on a loaded one
    assert float(in_main) < 3.0, f"main() took {in_main} s"
    assert wall < 10.0, f"the whole process took {wall:.1f} s"


def test_an_unknown_metric_without_mode_is_refused_naming_mode(tmp_path):
    started = time.monotonic()
    res = _run(
        [
            "search",
            "--space",
            "lr",
            "--trainable",
            "harness.testing:log_lr_bowl",
            "--metric",
            "my_objective",
        ],
        tmp_path,
        timeout=60,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert "--mode max or --mode min" in res.stderr and "my_objective" in res.stderr
    assert time.monotonic() - started < 10  # refused before Ray or torch start
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.ray
def test_a_loss_metric_is_minimised_without_mode(tmp_path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    args = ["search", "--space", "lr", "--trainable", "harness.testing:log_lr_loss"]
    args += ["--metric", "train_loss", "--trials", "8", "--max-epochs", "2"]
    args += ["--grace-period", "2", "--name", "loss", "--seed", "3"]
    res = _run(args, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    run = tmp_path / "runs" / "loss"
    spec = __import__("json").loads((run / "spec.json").read_text())
    assert spec["settings"]["mode"] == "min"
    trials = pd.read_parquet(run / "trials.parquet")
    assert len(trials) == 8
    storage = JournalStorage(JournalFileBackend(str(run / "optuna.journal")))
    study = optuna.load_study(study_name="loss", storage=storage)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    # the best trial Optuna knows is the one with the smallest loss in the table
    assert study.best_value == pytest.approx(trials["final.train_loss"].min())
    assert f"train_loss = {trials['final.train_loss'].min():.4g}" in res.stdout


@pytest.mark.slow
@pytest.mark.ray
def test_a_trainable_without_the_metric_stops_the_search_with_what_it_reports(tmp_path):
    args = ["search", "--space", "lr", "--trainable", "harness.testing:log_lr_bowl"]
    args += ["--metric", "accuracy", "--trials", "6", "--max-epochs", "3", "--name", "m"]
    started = time.monotonic()
    res = _run(args, tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "--metric 'accuracy': the trainable does not report it" in res.stderr
    assert "held: score" in res.stderr
    trials = pd.read_parquet(tmp_path / "runs" / "m" / "trials.parquet")
    assert len(trials) < 6  # stopped, not run to the end
    assert time.monotonic() - started < 120


@pytest.mark.slow
@pytest.mark.ray
def test_at_80_columns_in_a_pipe_every_value_and_path_is_whole(tmp_path):
    """The search's end: best configuration listed vertically, ranking by epoch reached, the
    plain-language answer, and report/ written; nothing cut with an ellipsis."""
    tiny = ["data.synthetic.n_images=12", "data.synthetic.size=96", "data.max_tiles_per_image=2"]
    tiny += ["data.tile_size=64", "data.stride=48", "data.tile_jitter=4", "data.image_size=64"]
    args = ["search", "--space", "loss_weights", "--recipe", "cpu_demo", "--trials", "3"]
    args += ["--max-epochs", "2", "--grace-period", "1", "--set", "optim.epochs=2"]
    args += [x for s in tiny for x in ("--set", s)] + ["--name", "narrow"]
    env = {**os.environ, "COLUMNS": "80"}
    res = subprocess.run(
        [*HARNESS, *args], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "…" not in out, out
    # in a pipe a sentence stays on one line (never broken mid-sentence); the tables fit
    tables = [line for line in out.splitlines() if set(line) & set("│┃━─┏┗┡└")]
    assert tables and max(len(line) for line in tables) <= 80
    assert any(line.startswith("Next: `harness report") for line in out.splitlines())
    for c in ("focal_tversky", "boundary", "weighted_ce", "soft_dice", "region", "affinity"):
        assert f"loss.weights.{c}" in out
    assert "ranking: iou_lesion at the epoch reached" in out
    assert "Next: `harness report" in out
    run = tmp_path / "runs" / "narrow"
    assert (run / "report" / "report.md").is_file() and (run / "report" / "answer.json").is_file()
    trials = pd.read_parquet(run / "trials.parquet")
    for value in trials["final.iou_lesion"].dropna():
        assert f"{value:.4g}" in out  # every trial's score, whole


@pytest.mark.slow
@pytest.mark.ray
def test_mlflow_logs_every_trial_to_a_local_file_store(tmp_path):
    mlflow = pytest.importorskip("mlflow", reason="the [mlflow] extra (part of [dev])")
    store = tmp_path / "mlruns"
    args = ["search", "--space", "lr", "--trainable", "harness.testing:log_lr_bowl"]
    args += ["--metric", "score", "--trials", "4", "--max-epochs", "2", "--grace-period", "2"]
    args += ["--name", "mlf", "--mlflow", f"file://{store}"]
    res = _run(args, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(f"file://{store}")
    runs = mlflow.search_runs(experiment_names=["mlf"])
    trials = pd.read_parquet(tmp_path / "runs" / "mlf" / "trials.parquet")
    assert len(runs) == len(trials) == 4
    assert set(runs["params.optim.lr"].astype(float).round(12)) == set(
        trials["optim.lr"].astype(float).round(12)
    )
    assert runs["metrics.score"].notna().all()
