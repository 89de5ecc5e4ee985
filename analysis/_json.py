"""Strict-JSON conversion shared by the computations' ``to_dict`` and the writers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["jsonable"]


def jsonable(obj: Any) -> Any:
    """``obj`` made strict-JSON-able: NaN, infinities and NA become None, numpy scalars Python."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    return str(obj)
