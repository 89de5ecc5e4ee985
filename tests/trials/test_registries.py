"""Every registry is complete after importing its package alone: a term, metric or attention
type that registers itself when its module is imported must be imported by the package."""

from __future__ import annotations

import subprocess
import sys

from search_spaces import LOSS_COMPONENTS


def test_each_registry_is_complete_in_a_fresh_interpreter():
    code = (
        "import trials.losses as L, trials.metrics as M, trials.model as A; "
        "print(sorted(L.list_losses())); print(len(M.list_metrics())); "
        "print(sorted(A.list_attention()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == str(sorted(LOSS_COMPONENTS))
    assert int(out[1]) >= 10
    assert out[2] == str(["cbam", "esca", "none", "se"])
