"""The harness's Python API: every command of the ``harness`` CLI is one call here.

    import harness
    result = harness.search(space="loss_weights", trials=8, max_epochs=4)
    print(result.best)                 # the best configuration, by dotted path
    report = harness.report(result.path)

Each function checks its arguments before Ray starts, writes the same run directory
(``spec.json``, ``trials.parquet``, ``curves.parquet``, ``report/``) and returns a typed result.
Importing ``harness`` is cheap: ray, torch and the training code load only when a call needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from harness._logging import set_verbosity
from search_spaces import (
    ConfigError,
    DataError,
    DivergedError,
    HarnessError,
    MemoryCapExceeded,
)

if TYPE_CHECKING:  # the names below load lazily (see __getattr__); type checkers see them here
    from harness._evaluate_api import EvaluationResult, evaluate
    from harness._paired_api import CellOptions, PairedResult, ablate, validate
    from harness._report_api import ReportResult, report, tables
    from harness._search_api import SearchResult, search
    from harness._train_api import BenchResult, TrainResult, bench, train

#: public name -> the private module that defines it
_LAZY = {
    "search": "harness._search_api",
    "SearchResult": "harness._search_api",
    "report": "harness._report_api",
    "ReportResult": "harness._report_api",
    "tables": "harness._report_api",
    "ablate": "harness._paired_api",
    "validate": "harness._paired_api",
    "PairedResult": "harness._paired_api",
    "CellOptions": "harness._paired_api",
    "train": "harness._train_api",
    "TrainResult": "harness._train_api",
    "bench": "harness._train_api",
    "BenchResult": "harness._train_api",
    "evaluate": "harness._evaluate_api",
    "EvaluationResult": "harness._evaluate_api",
}

__all__ = [
    "BenchResult",
    "CellOptions",
    "ConfigError",
    "DataError",
    "DivergedError",
    "EvaluationResult",
    "HarnessError",
    "MemoryCapExceeded",
    "PairedResult",
    "ReportResult",
    "SearchResult",
    "TrainResult",
    "ablate",
    "bench",
    "evaluate",
    "report",
    "search",
    "set_verbosity",
    "tables",
    "train",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # loaded once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
