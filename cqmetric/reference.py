"""Portable units: each model's own scale, measured on a small reference set that ships with cqmetric.

Bits per token mean different things on different models: a larger model finds every text less surprising. A
constant fitted in one model's bits does not carry over. The reference set gives each model its own unit: the ten
bundled example stories (`data/reference.jsonl`, written for cqmetric) and a word-shuffled version of each (a
fixed, seeded shuffle stored in the file). For a part such as surprise, a model's **location** is its mean over
the ten stories and its **unit** is the mean change a word shuffle makes (`ReferenceUnits`); a value in portable
units, (value - location) / |unit|, says "how many word-shuffles' worth of change from the reference stories",
which means the same on any model.

`evidence.gather` scores the reference set once per model, template and need (and keeps it for the process: a
backend is immutable, so its `info` fixes the numbers), and hands every text's `Evidence` the same
`ReferenceEvidence`. A text's value in portable units therefore does not depend on what it is scored with.

Examples:
    >>> texts = load_reference()
    >>> len(texts), sorted(texts[0])
    (10, ['id', 'prompt', 'story', 'word_shuffled'])
    >>> REFERENCE_NAME.startswith("bundled-v1@")
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import numpy as np

__all__ = ["load_reference", "ReferenceEvidence", "ReferenceUnits", "REFERENCE_NAME"]

_RAW = files("cqmetric").joinpath("data/reference.jsonl").read_text(encoding="utf-8")
#: The reference set's name and the first 8 hex of its file's sha256 (goes into signatures).
REFERENCE_NAME = f"bundled-v1@{hashlib.sha256(_RAW.encode()).hexdigest()[:8]}"


def load_reference() -> list[dict[str, str]]:
    """The reference records: `id`, `prompt`, `story` and its fixed `word_shuffled` version."""
    return [json.loads(line) for line in _RAW.splitlines() if line.strip()]


@dataclass(frozen=True)
class ReferenceUnits:
    """A part's location (mean over the reference stories) and unit (mean change a word shuffle makes)."""

    location: float
    unit: float

    def apply(self, value: float) -> float:
        """`value` in portable units: (value - location) / |unit|."""
        return (value - self.location) / abs(self.unit)


@dataclass(eq=False)
class ReferenceEvidence:
    """The model's evidence about the reference stories (`originals`) and their word shuffles (`shuffled`)."""

    originals: list[Any]
    shuffled: list[Any]
    _memo: dict[Any, ReferenceUnits] = field(default_factory=dict, repr=False)

    def units(self, key: Any, part: Callable[[Any], float]) -> ReferenceUnits:
        """The reference units of `part` (a function of one text's Evidence), computed once per key."""
        found = self._memo.get(key)
        if found is None:
            original = float(np.mean([part(ev) for ev in self.originals]))
            shuffled = float(np.mean([part(ev) for ev in self.shuffled]))
            found = self._memo[key] = ReferenceUnits(original, shuffled - original)
        return found
