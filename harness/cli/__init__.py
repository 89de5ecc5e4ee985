"""The ``harness`` command line: the typer app, shared options and each command's console
rendering. Importing it loads neither torch nor ray; a command loads what it needs."""

from __future__ import annotations

from harness.cli._app import app, main

__all__ = ["app", "main"]
