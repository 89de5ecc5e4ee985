"""The run directory ``runs/<name>/``: creation, the spec of what was run, atomic writes."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from search_spaces import ConfigError

__all__ = ["create_run_dir", "environment", "param_error", "write_json"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PACKAGES = (
    "torch",
    "timm",
    "segmentation-models-pytorch",
    "albumentations",
    "ray",
    "optuna",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
)


def param_error(message: str, *params: str) -> ConfigError:
    """A :class:`ConfigError` about the API parameters ``params`` (the first is the one at fault).

    The message names the parameters as the Python API does (``grace_period``); the command line
    replaces each name with its flag (``--grace-period``) before printing it.
    """
    return ConfigError(message, params=params)


def create_run_dir(runs_dir: str | Path, name: str | None, prefix: str) -> Path:
    """Create ``runs_dir/name`` (default name: ``<prefix>-<timestamp>``); refuse to reuse one.

    Raises:
        ConfigError: the name has characters other than letters, digits, ``._-``, or the
            directory already holds a run.
    """
    if name is None:
        name = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    if not _NAME.match(name):
        raise param_error(
            f"name {name!r}: use letters, digits, '.', '_' and '-' only (it becomes a folder name)",
            "name",
        )
    path = Path(runs_dir) / name
    if path.exists() and any(path.iterdir()):
        raise param_error(f"name {name!r}: {path} already holds a run; choose another name", "name")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment() -> dict[str, Any]:
    """Versions, host and git commit: what a run needs to be reproduced."""
    versions = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "versions": versions,
        "git_commit": _git_commit(),
        "argv": sys.argv,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file + rename), so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
