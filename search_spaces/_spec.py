"""``spec.json``: what a run directory is, in one typed model, read and written here only.

Every command that makes a run directory writes one (``search``, a ``--plan``, ``ablate``,
``validate``, ``train``, ``bench``); ``--resume``, ``harness report`` and ``harness tables`` read
it back. Keys a command does not use stay ``None``. Older directories written before this model
(plain dictionaries with the same keys) read unchanged; keys this model does not know are kept
(``extra="allow"``) so that a newer run read by older code loses nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from search_spaces._errors import ConfigError

__all__ = ["SPEC_FILE", "RunKind", "RunSpec", "has_spec", "read_spec", "write_spec"]

SPEC_FILE = "spec.json"

#: what a run directory holds; ``None`` in directories written before ``kind`` was recorded
#: for searches (a search or a plan is then told apart by ``plan``)
RunKind = Literal["search", "plan", "ablation", "ablation_path", "validation", "train", "bench"]


class RunSpec(BaseModel):
    """The contents of ``spec.json``.

    Attributes:
        command: the command line that made the run, for people (``search --space lr``).
        kind: what the directory holds (see :data:`RunKind`).
        recipe: the base recipe as a JSON dictionary (searches, ablations, train).
        settings: the search settings (``SearchSettings.to_dict()``) of a search, plan or cell.
        space, space_definition: a search's space name and the space as it was searched.
        plan, budget: a plan's name and its trial multiplier (``--budget``).
        compute_budget: a compute budget's limits and what was used (``budget.json``).
        seed: the sampler's seed of a search.
        metric, mode: what the run optimises or compares.
        seeds, seed_values, alpha: a paired experiment's seeds and its significance level.
        environment: versions, host and git commit.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    command: str = "unknown"
    kind: RunKind | None = None
    recipe: dict[str, Any] | str | None = None
    settings: dict[str, Any] | None = None
    space: str | None = None
    space_definition: dict[str, Any] | None = None
    plan: str | None = None
    budget: float | None = None
    compute_budget: dict[str, Any] | None = None
    seed: int | None = None
    metric: str | None = None
    mode: str | None = None
    seeds: int | None = None
    seed_values: list[int] | None = None
    alpha: float | None = None
    environment: dict[str, Any] | None = None

    def extra(self, key: str, default: Any = None) -> Any:
        """A key this model does not type (a command-specific one), or ``default``."""
        return (self.model_extra or {}).get(key, default)

    def updated(self, **changes: Any) -> RunSpec:
        """A copy with ``changes`` (typed or extra keys) applied."""
        return RunSpec.model_validate({**self.to_json(), **changes})

    def to_json(self) -> dict[str, Any]:
        """The JSON dictionary written to ``spec.json`` (``None`` keys left out)."""
        return self.model_dump(mode="json", exclude_none=True)


def has_spec(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a ``spec.json``."""
    return (Path(run_dir) / SPEC_FILE).is_file()


def read_spec(run_dir: str | Path, what: str = "a run") -> RunSpec:
    """The spec of the run in ``run_dir``.

    Args:
        run_dir: a run directory.
        what: how the error names the directory that was expected (``"a search"``).

    Raises:
        ConfigError: no ``spec.json`` there, or it is not a JSON object of this shape.
    """
    path = Path(run_dir) / SPEC_FILE
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not {what} directory (no {SPEC_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunSpec.model_validate(data)
    except (json.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not a valid {SPEC_FILE} ({first})") from None


def write_spec(run_dir: str | Path, spec: RunSpec) -> Path:
    """Write ``spec`` to ``run_dir/spec.json`` atomically (a crash never leaves half a file)."""
    path = Path(run_dir) / SPEC_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(spec.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
