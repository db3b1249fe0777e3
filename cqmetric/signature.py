"""Signatures: one string naming every setting that changes a number (the sacrebleu contract).

Keys are fixed and ordered, the version comes last, and a short form abbreviates the keys. Paste the signature
beside every number you report; two numbers are comparable only if their signatures match.

Examples:
    >>> sig = Signature((("model", "tiny@0123abcd"), ("dtype", "fp32"), ("version", "0.1.0")))
    >>> sig.format()
    'model:tiny@0123abcd|dtype:fp32|version:0.1.0'
    >>> sig.format(short=True)
    'm:tiny@0123abcd|dt:fp32|v:0.1.0'
    >>> Signature.parse(sig.format(short=True)) == sig
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cqmetric.errors import InputValidationError

# Long key -> short key, in the order keys appear.
KEYS: dict[str, str] = {
    "model": "m",
    "dtype": "dt",
    "start": "st",
    "window": "win",
    "template": "tpl",
    "estimator": "est",
    "units": "u",
    "norm": "nrm",
    "agg": "agg",
    "scorers": "sc",
    "bootstrap": "bs",
    "seed": "rs",
    "version": "v",
}
_SHORT_TO_LONG = {v: k for k, v in KEYS.items()}


@dataclass(frozen=True)
class Signature:
    """An ordered tuple of (key, value) settings."""

    fields: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        for key, value in self.fields:
            if key not in KEYS:
                raise InputValidationError(f"Signature: unknown key {key!r}; allowed: {', '.join(KEYS)}.")
            if "|" in str(value):
                raise InputValidationError(f"Signature: a value may not contain '|', got {key}={value!r}.")
        order = [list(KEYS).index(k) for k, _ in self.fields]
        if order != sorted(order):
            raise InputValidationError("Signature: keys must follow the fixed order of signature.KEYS.")

    def format(self, *, short: bool = False) -> str:
        """`key:value|key:value|...`, with abbreviated keys when `short`."""
        return "|".join(f"{KEYS[k] if short else k}:{v}" for k, v in self.fields)

    def to_dict(self) -> dict[str, str]:
        return dict(self.fields)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __str__(self) -> str:
        return self.format()

    def __getitem__(self, key: str) -> str:
        return self.to_dict()[key]

    @classmethod
    def parse(cls, text: str) -> Signature:
        """Read a long or short signature string back."""
        fields = []
        for part in text.split("|"):
            key, sep, value = part.partition(":")
            if not sep:
                raise InputValidationError(f"Signature.parse: expected 'key:value' parts, got {part!r}.")
            fields.append((_SHORT_TO_LONG.get(key, key), value))
        return cls(tuple(fields))

    @classmethod
    def build(cls, **settings: Any) -> Signature:
        """Build from keyword settings, putting them in the fixed order (None values are left out)."""
        unknown = sorted(set(settings) - set(KEYS))
        if unknown:
            raise InputValidationError(f"Signature.build: unknown key(s) {unknown}; allowed: {', '.join(KEYS)}.")
        return cls(tuple((k, str(settings[k])) for k in KEYS if settings.get(k) is not None))
