"""The code's shape, kept by tests: a thin CLI and functions small enough to follow.

* no function in ``harness/cli`` over cyclomatic complexity 10, none in the packages over 20
  (radon's measure);
* no module in ``harness/cli`` imports a private (``_x``) module of another package: the CLI
  goes through the public API.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

radon_complexity = pytest.importorskip("radon.complexity")

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "trials", "analysis", "search_spaces")
CLI = REPO / "harness" / "cli"


def _over(paths: list[Path], limit: int) -> list[str]:
    found = []
    for path in paths:
        for block in radon_complexity.cc_visit(path.read_text(encoding="utf-8")):
            if block.complexity > limit:
                where = f"{path.relative_to(REPO)}:{block.lineno} {block.fullname}"
                found.append(f"{where} ({block.complexity})")
    return found


def test_no_cli_function_is_over_complexity_10() -> None:
    assert _over(sorted(CLI.rglob("*.py")), 10) == []


def test_no_package_function_is_over_complexity_20() -> None:
    paths = [p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))]
    assert _over(paths, 20) == []


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if name.split(".")[0] not in PACKAGES or name.startswith("harness.cli"):
                continue
            if any(p.startswith("_") and not p.startswith("__") for p in parts):
                found.append(f"{path.relative_to(REPO)}:{node.lineno} imports {name}")
    return found


def test_the_cli_imports_no_private_module_of_another_package() -> None:
    found = [hit for path in sorted(CLI.rglob("*.py")) for hit in _private_imports(path)]
    assert found == []
