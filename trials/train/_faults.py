"""Fault injection for tests: the ``HARNESS_FAULT_INJECT`` environment variable, off by default.

Some failures cannot be caused for real on every machine (a CUDA out-of-memory error needs a
GPU). The tests of the search around such failures switch one on with::

    HARNESS_FAULT_INJECT="oom@epoch=1"                       # every trial, first attempt
    HARNESS_FAULT_INJECT="oom@epoch=2,memory.cap=8589934592"  # only trials with that value

``KIND@epoch=N`` raises the fault at the first training step of epoch ``N`` of a trial's first
attempt (so an OOM retry, being the second attempt, runs clean); every other ``path=value`` after
the comma is a condition on the trial's recipe (dotted path, YAML value). Kinds: ``oom`` (a
``torch.cuda.OutOfMemoryError``, handled as a real one).

The variable is read from the environment of the process that starts the search (the harness
carries it to the trial workers): a search-space parameter cannot set it, since spaces name
recipe paths only and the recipe has no such field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from search_spaces import ConfigError, TrialStatus

__all__ = ["FAULT_ENV", "Fault", "parse_fault"]

FAULT_ENV = "HARNESS_FAULT_INJECT"
# a fault is named by the status the failure it imitates ends a trial with
KINDS = (TrialStatus.OOM.value,)


@dataclass(frozen=True)
class Fault:
    """One injected fault: its kind, the epoch it strikes at and the trials it applies to."""

    kind: str
    epoch: int
    when: dict[str, Any] = field(default_factory=dict)

    def applies(self, flat_recipe: Mapping[str, Any]) -> bool:
        """Whether a trial with these recipe values (by dotted path) is hit."""
        return all(flat_recipe.get(path) == value for path, value in self.when.items())

    def raise_now(self) -> None:
        """Raise the fault as the real failure would."""
        if self.kind == TrialStatus.OOM:
            import torch

            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory (injected by {FAULT_ENV}={os.environ.get(FAULT_ENV, '')!r})"
            )


def parse_fault(text: str | None = None) -> Fault | None:
    """The fault of ``text`` (default: the ``HARNESS_FAULT_INJECT`` variable); ``None`` if unset.

    Raises:
        ConfigError: malformed text or an unknown kind.
    """
    text = os.environ.get(FAULT_ENV, "") if text is None else text
    text = text.strip()
    if not text:
        return None
    kind, sep, rest = text.partition("@")
    if kind not in KINDS or not sep:
        raise ConfigError(
            f"{FAULT_ENV}={text!r}: expected KIND@epoch=N[,path=value...] with KIND one of {KINDS}"
        )
    epoch, when = None, {}
    for item in rest.split(","):
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"{FAULT_ENV}={text!r}: {item!r} is not key=value")
        if key.strip() == "epoch":
            if not value.strip().isdigit() or int(value) < 1:
                raise ConfigError(f"{FAULT_ENV}={text!r}: epoch must be an integer >= 1")
            epoch = int(value)
        else:
            when[key.strip()] = yaml.safe_load(value)
    if epoch is None:
        raise ConfigError(f"{FAULT_ENV}={text!r}: epoch=N is required")
    return Fault(kind, epoch, when)
