"""``harness.objectives``: the analytic objectives, kept importable under their first name
(``--trainable harness.objectives:log_lr_bowl``); they live in :mod:`harness.testing`."""

from __future__ import annotations

from harness.testing._objectives import *  # noqa: F403
from harness.testing._objectives import __all__  # noqa: F401
