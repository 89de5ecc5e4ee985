"""The docs stay true: every CLI option is in docs/reference.md, and the README's example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

import harness.cli._app

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference.md"
README = ROOT / "README.md"


# duck-typed: recent typer vendors its own click, whose classes are not click's
def _commands(command: Any, path: str = "harness") -> list[tuple[str, Any]]:
    """Every command of the app by its full name, groups' sub-commands included."""
    found = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _commands(sub, f"{path} {name}")
    return found


def _long_flags(command: Any) -> list[str]:
    flags = []
    for param in command.params:
        if param.param_type_name != "option" or getattr(param, "hidden", False):
            continue
        names = [*param.opts, *param.secondary_opts]
        flags += [name for name in names if name.startswith("--")]
    return flags


def test_every_option_of_every_command_is_in_the_reference():
    text = REFERENCE.read_text()
    app = typer.main.get_command(harness.cli._app.app)
    commands = _commands(app)
    # the walk reaches every command, the spaces group's sub-commands too
    names = {name for name, _ in commands}
    assert {"harness search", "harness report", "harness spaces show"} <= names
    missing = []
    for name, command in commands:
        for flag in _long_flags(command):
            # a flag counts when it stands alone, not as the start of a longer one
            if not re.search(re.escape(flag) + r"(?![\w-])", text):
                missing.append(f"{name} {flag}")
        if name != "harness" and f"`{name}" not in text:
            missing.append(f"{name} (the command itself)")
    assert not missing, "missing from docs/reference.md: " + ", ".join(missing)


def _readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1, f"README.md should hold one python block, found {len(blocks)}"
    return blocks[0]


def test_the_readme_example_is_short():
    lines = [line for line in _readme_example().splitlines() if line.strip()]
    assert len(lines) <= 10, f"the README's example has {len(lines)} lines (at most 10)"


@pytest.mark.ray
@pytest.mark.slow
def test_the_readme_example_runs(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(_readme_example())
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    runs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    assert (runs[0] / "trials.parquet").is_file()
    assert (runs[0] / "report" / "report.html").is_file()
