"""One JSON policy for every result cqmetric writes: plain JSON types, NaN and infinities as null.

`ScoreResult`, the reliability results and the command line's JSONL rows all go through `jsonable`, so a number
that is undefined (NaN) is written as `null` everywhere and `json.loads` reads back exactly what was written.

Examples:
    >>> import numpy as np
    >>> jsonable({"a": np.float32(0.5), "b": [np.nan, 1], "c": np.array([1, 2])})
    {'a': 0.5, 'b': [None, 1], 'c': [1, 2]}
    >>> dumps({"x": float("inf")})
    '{"x": null}'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["jsonable", "dumps"]


def jsonable(obj: Any) -> Any:
    """`obj` as plain JSON types: numpy scalars and arrays as Python ones, NaN and +-inf as None, results (objects
    with `to_dict()`) as their dicts; anything else unknown as its string."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return jsonable(obj.to_dict())
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple, Sequence)):
        return [jsonable(v) for v in obj]
    return str(obj)


def dumps(obj: Any, **kwargs: Any) -> str:
    """`json.dumps` of `jsonable(obj)` (never NaN in the text; `ensure_ascii=False` unless given)."""
    kwargs.setdefault("ensure_ascii", False)
    return json.dumps(jsonable(obj), allow_nan=False, **kwargs)
