"""The layout's import rules, over the whole tree (see docs/architecture.md's layout table).

* ``search_spaces`` (the base vocabulary) imports none of the other packages, nor torch or ray;
* ``trials`` never imports ray (nor harness or analysis);
* ``analysis`` never imports ray or torch (nor harness or trials);
* in ``harness``, only ``harness/tune`` imports ray.

Every ``import`` statement counts, also those inside functions: a lazy import of ray elsewhere
would still put ray in that package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "search_spaces": {"torch", "ray", "trials", "harness", "analysis"},
    "trials": {"ray", "harness", "analysis"},
    "analysis": {"ray", "torch", "harness", "trials"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _violations(package: str, forbidden: set[str], allowed_dir: Path | None = None) -> list[str]:
    out = []
    for path in sorted((REPO / package).rglob("*.py")):
        if allowed_dir is not None and allowed_dir in path.parents:
            continue
        for line, module in _imports(path):
            if module.split(".")[0] in forbidden:
                out.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_follow_the_layout(package: str) -> None:
    assert _violations(package, FORBIDDEN[package]) == []


def test_only_harness_tune_imports_ray() -> None:
    assert _violations("harness", {"ray"}, allowed_dir=REPO / "harness" / "tune") == []


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    # the checker itself: a lazy import inside a function is found
    bad = tmp_path / "mod.py"
    bad.write_text("def f():\n    import ray.tune\n    from torch import nn\n")
    assert [m for _, m in _imports(bad)] == ["ray.tune", "torch"]


def test_importing_the_cli_loads_neither_torch_nor_ray() -> None:
    code = (
        "import sys, harness.cli, harness.searching, harness.paired, harness.tune, analysis; "
        "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]"
