"""Signatures: one string naming every setting that changes a number (the sacrebleu contract).

One type serves every result. A score's signature (`score()`, `build_signature()`) has fixed, ordered keys with
short forms; a statistic's signature (`cqmetric.reliability`) names its own settings in the order the function
reports them (`Signature.from_settings`). In both the version comes last. Paste the signature beside every number
you report; two numbers are comparable only if their signatures match.

Examples:
    >>> sig = Signature((("model", "tiny@0123abcd"), ("dtype", "fp32"), ("version", "0.1.0")))
    >>> sig.format()
    'model:tiny@0123abcd|dtype:fp32|version:0.1.0'
    >>> sig.format(short=True)
    'm:tiny@0123abcd|dt:fp32|v:0.1.0'
    >>> Signature.parse(sig.format(short=True)) == sig
    True
    >>> Signature.from_settings({"stat": "kendall_tau_b", "n_boot": 2000}).format()[:34]
    'stat:kendall_tau_b|n_boot:2000|ver'
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
            if not key or any(c in key for c in ":|") or "|" in str(value):
                raise InputValidationError(f"Signature: keys and values may not contain '|' (keys not ':'), got "
                                           f"{key}={value!r}.")
        if all(k in KEYS for k, _ in self.fields):  # a score's signature: the fixed order
            order = [list(KEYS).index(k) for k, _ in self.fields]
            if order != sorted(order):
                raise InputValidationError("Signature: keys must follow the fixed order of signature.KEYS.")
        elif self.fields and self.fields[-1][0] != "version":
            raise InputValidationError("Signature: a statistic's signature ends with its version.")

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
    def from_settings(cls, settings: Any) -> Signature:
        """A statistic's signature: its settings in the order given (None as "none"), then the version."""
        from cqmetric.version import __version__

        return cls(tuple((str(k), "none" if v is None else str(v)) for k, v in settings.items())
                   + (("version", __version__),))

    @classmethod
    def build(cls, **settings: Any) -> Signature:
        """Build from keyword settings, putting them in the fixed order (None values are left out)."""
        unknown = sorted(set(settings) - set(KEYS))
        if unknown:
            raise InputValidationError(f"Signature.build: unknown key(s) {unknown}; allowed: {', '.join(KEYS)}.")
        return cls(tuple((k, str(settings[k])) for k in KEYS if settings.get(k) is not None))
