"""``python -m harness.cli``: the same as the ``harness`` console script."""

from __future__ import annotations

from harness.cli import main

if __name__ == "__main__":
    main()
