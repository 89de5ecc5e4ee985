"""The CLI's one rich console (stdout)."""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["console"]

# Written to a file or a pipe (CI logs, nohup, a scheduler), a sentence stays on one line:
# rich would otherwise break it at 80 columns, mid-sentence. Tables keep their width.
console = Console(soft_wrap=not sys.stdout.isatty())
